package storetest

import (
	"context"
	"fmt"
	"iter"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chronicle-es/chronicle"
)

// notNameText are strings that no stream name or event type can hold,
// wholly or in part (see chronicle.ValidateStreamName): stores refuse a
// prefix, category or type to select by that holds one, whatever their
// database makes of such bytes.
var notNameText = []struct{ name, text string }{
	{"NUL", "a\x00"},
	{"HalfACharacter", "\xc3"}, // the first byte of "é"
	{"BadUTF8", "a\xff"},
	{"Control", "a\nb"},
	{"ZeroWidthSpace", "a\u200b"},
	{"LineSeparator", "\u2028"},
}

// appendSelectionStreams appends the streams that the selection tests
// select from: "éa" (type "E"), "é-1" (type "É") and "a-1" (type "E"), at
// positions 1, 2 and 3. "é" is "\xc3\xa9": a half character that is
// taken for bytes would match both of the first two.
func appendSelectionStreams(t *testing.T, s chronicle.Store) {
	t.Helper()
	mustAppend(t, s, "éa", chronicle.NoStream, event("E", 0))
	mustAppend(t, s, "é-1", chronicle.NoStream, event("É", 0))
	mustAppend(t, s, "a-1", chronicle.NoStream, event("E", 0))
}

// wantRefused fails unless err matches target and names the option and
// its value, as %q shows it.
func wantRefused(tb testing.TB, what string, err, target error, option, value string) {
	tb.Helper()
	wantErr(tb, what, err, target)
	if msg := err.Error(); !strings.Contains(msg, option) || !strings.Contains(msg, fmt.Sprintf("%q", value)) {
		tb.Fatalf("%s: error %q does not name %s and its value %q", what, msg, option, value)
	}
}

// testStreamListerSelection: ListStreams refuses a prefix or category
// that holds what no stream name can hold, with an error matching
// chronicle.ErrInvalidStreamName, rather than fail in the database or
// take it for bytes; a prefix or category of valid characters lists the
// streams whose names start with those characters.
func testStreamListerSelection(t *testing.T, newStore Factory) {
	ctx := context.Background()
	s := newStore(t)
	l, ok := has[chronicle.StreamLister](s)
	if !ok {
		t.Skip("the store does not implement chronicle.StreamLister")
	}
	appendSelectionStreams(t, s)
	for _, bad := range notNameText {
		t.Run(bad.name, func(t *testing.T) {
			for _, c := range []struct {
				option string
				opts   chronicle.ListStreamsOptions
			}{
				{"Prefix", chronicle.ListStreamsOptions{Prefix: bad.text}},
				{"Category", chronicle.ListStreamsOptions{Category: bad.text}},
				{"Category", chronicle.ListStreamsOptions{Prefix: "a", Category: bad.text}},
				{"Prefix", chronicle.ListStreamsOptions{Prefix: bad.text, Category: "a"}},
			} {
				infos, err := l.ListStreams(ctx, c.opts)
				what := fmt.Sprintf("ListStreams(Prefix %q, Category %q)", c.opts.Prefix, c.opts.Category)
				if len(infos) != 0 {
					t.Errorf("%s = %+v, want nothing", what, infos)
				}
				wantRefused(t, what, err, chronicle.ErrInvalidStreamName, c.option, bad.text)
			}
		})
	}
	for _, tt := range []struct {
		name string
		opts chronicle.ListStreamsOptions
		want []string
	}{
		{"UnicodePrefix", chronicle.ListStreamsOptions{Prefix: "é"}, []string{"é-1", "éa"}},
		{"UnicodeCategory", chronicle.ListStreamsOptions{Category: "é"}, []string{"é-1"}},
		// Valid characters that no stream name starts with: nothing.
		{"LongerThanAnyName", chronicle.ListStreamsOptions{Prefix: strings.Repeat("a", chronicle.MaxNameLength+1)}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			infos, err := l.ListStreams(ctx, tt.opts)
			if err != nil {
				t.Fatalf("ListStreams(%+v): %v", tt.opts, err)
			}
			var got []string
			for _, in := range infos {
				got = append(got, in.Stream)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("ListStreams(%+v) = %q, want %q", tt.opts, got, tt.want)
			}
		})
	}
}

// testFilterSelection: ReadAll, both ways, and Subscribe refuse a filter
// whose stream prefix or categories hold what no stream name can hold,
// with an error matching chronicle.ErrInvalidStreamName, or whose types
// hold what no event type can hold, with one matching
// chronicle.ErrInvalidEvent: the sequence yields that error alone. A
// filter of valid characters selects by them.
func testFilterSelection(t *testing.T, newStore Factory) {
	s := newStore(t)
	appendSelectionStreams(t, s)
	type call struct {
		what   string
		target error
		option string
		value  string
		seq    iter.Seq2[chronicle.RecordedEvent, error]
	}
	// A subscription that took the filter would wait for events for good:
	// each has a deadline, and they run at once.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var calls []call
	for _, bad := range notNameText {
		for _, c := range []struct {
			option string
			target error
			f      chronicle.Filter
		}{
			{"StreamPrefix", chronicle.ErrInvalidStreamName, chronicle.Filter{StreamPrefix: bad.text}},
			{"Categories[1]", chronicle.ErrInvalidStreamName, chronicle.Filter{Categories: []string{"é", bad.text}}},
			{"Types[1]", chronicle.ErrInvalidEvent, chronicle.Filter{StreamPrefix: "a", Types: []string{"E", bad.text}}},
		} {
			name := bad.name + "/" + c.option
			calls = append(calls,
				call{"ReadAll " + name, c.target, c.option, bad.text, s.ReadAll(ctx, chronicle.ReadAllOptions{Filter: c.f})},
				call{"ReadAll backwards " + name, c.target, c.option, bad.text,
					s.ReadAll(ctx, chronicle.ReadAllOptions{Backwards: true, From: chronicle.End, Filter: c.f})},
				call{"Subscribe " + name, c.target, c.option, bad.text, s.Subscribe(ctx, chronicle.SubscribeOptions{Filter: c.f})})
		}
	}
	errs := make([]chan error, len(calls))
	for i, c := range calls {
		errs[i] = make(chan error, 1)
		go func() {
			var got []string
			var first error
			for e, err := range c.seq {
				if err == nil || !reflect.DeepEqual(e, chronicle.RecordedEvent{}) {
					got = append(got, fmt.Sprintf("event %s@%d, error %v", e.Stream, e.Revision, err))
				} else {
					got = append(got, fmt.Sprintf("error %v", err))
					if first == nil {
						first = err
					}
				}
			}
			if len(got) != 1 || first == nil {
				errs[i] <- fmt.Errorf("yielded %q; want one error alone, with a zero event", got)
				return
			}
			errs[i] <- first
		}()
	}
	for i, c := range calls {
		t.Run(strings.ReplaceAll(c.what, " ", "_"), func(t *testing.T) {
			wantRefused(t, c.what, <-errs[i], c.target, c.option, c.value)
		})
	}
	for _, tt := range []struct {
		name string
		f    chronicle.Filter
		want []uint64
	}{
		{"UnicodePrefix", chronicle.Filter{StreamPrefix: "é"}, []uint64{1, 2}},
		{"UnicodeCategory", chronicle.Filter{Categories: []string{"é"}}, []uint64{2}},
		// A stream without a '-' is a category of its own.
		{"CategoryWithoutDash", chronicle.Filter{Categories: []string{"éa"}}, []uint64{1}},
		{"UnicodeType", chronicle.Filter{Types: []string{"É"}}, []uint64{2}},
		// Valid characters that no stream name starts with: nothing.
		{"LongerThanAnyName", chronicle.Filter{StreamPrefix: strings.Repeat("a", chronicle.MaxNameLength+1)}, nil},
		// "éa" has the prefix but neither the category nor the type: a
		// read with a limit of 1 must pass over it, as the limit counts
		// what every condition keeps.
		{"PrefixAndCategory", chronicle.Filter{StreamPrefix: "é", Categories: []string{"é"}}, []uint64{2}},
		{"PrefixAndType", chronicle.Filter{StreamPrefix: "é", Types: []string{"É"}}, []uint64{2}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := positions(readAll(t, s, chronicle.ReadAllOptions{Limit: 1, Filter: tt.f})); !slices.Equal(got, tt.want[:min(1, len(tt.want))]) {
				t.Errorf("ReadAll filtered by %+v, limit 1: positions %v, want %v", tt.f, got, tt.want[:min(1, len(tt.want))])
			}
			if got := positions(readAll(t, s, chronicle.ReadAllOptions{Filter: tt.f})); !slices.Equal(got, tt.want) {
				t.Errorf("ReadAll filtered by %+v: positions %v, want %v", tt.f, got, tt.want)
			}
			back := positions(readAll(t, s, chronicle.ReadAllOptions{Backwards: true, From: chronicle.End, Filter: tt.f}))
			slices.Reverse(back)
			if !slices.Equal(back, tt.want) {
				t.Errorf("ReadAll backwards filtered by %+v: positions %v, want them reversed from %v", tt.f, back, tt.want)
			}
		})
	}
}
