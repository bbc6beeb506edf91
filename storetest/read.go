package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/internal/stress"
)

func testReadStream(t *testing.T, newStore Factory) {
	s := newStore(t)
	mustAppend(t, s, "other-1", chronicle.NoStream, events("O", 2)...)
	mustAppend(t, s, "s-1", chronicle.NoStream, events("E", 5)...)
	mustAppend(t, s, "other-1", chronicle.Any, events("O", 1)...)
	mustAppend(t, s, "s-1", chronicle.Exact(4), events("E", 5)...)

	tests := []struct {
		name string
		opts chronicle.ReadStreamOptions
		want []uint64
	}{
		{"Forwards", chronicle.ReadStreamOptions{}, seq(0, 10, 1)},
		{"ForwardsFrom", chronicle.ReadStreamOptions{From: 7}, []uint64{7, 8, 9}},
		{"ForwardsLimit", chronicle.ReadStreamOptions{From: 2, Limit: 3}, []uint64{2, 3, 4}},
		{"ForwardsPastEnd", chronicle.ReadStreamOptions{From: 10}, nil},
		// End is past the end of every stream in a forward read too,
		// where no store may take it for a negative number.
		{"ForwardsFromEnd", chronicle.ReadStreamOptions{From: chronicle.End}, nil},
		{"ForwardsFromOver63Bits", chronicle.ReadStreamOptions{From: 1 << 63, Limit: 1}, nil},
		{"Backwards", chronicle.ReadStreamOptions{Backwards: true, From: chronicle.End}, seq(9, 10, -1)},
		{"BackwardsFrom", chronicle.ReadStreamOptions{Backwards: true, From: 2}, []uint64{2, 1, 0}},
		{"BackwardsFromZero", chronicle.ReadStreamOptions{Backwards: true}, []uint64{0}},
		{"BackwardsLimit", chronicle.ReadStreamOptions{Backwards: true, From: chronicle.End, Limit: 2}, []uint64{9, 8}},
		{"BackwardsPastEnd", chronicle.ReadStreamOptions{Backwards: true, From: 50, Limit: 1}, []uint64{9}},
		// A limit below zero is no limit, as zero is, either way.
		{"NegativeLimit", chronicle.ReadStreamOptions{Limit: -1}, seq(0, 10, 1)},
		{"BackwardsNegativeLimit", chronicle.ReadStreamOptions{Backwards: true, From: chronicle.End, Limit: -1}, seq(9, 10, -1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := readStream(t, s, "s-1", tt.opts)
			if !slices.Equal(revisions(got), tt.want) {
				t.Fatalf("revisions = %v, want %v", revisions(got), tt.want)
			}
			for _, e := range got {
				if e.Stream != "s-1" {
					t.Fatalf("event of stream %q in a read of s-1", e.Stream)
				}
			}
		})
	}
	t.Run("PositionsOfInterleavedStream", func(t *testing.T) {
		got := readStream(t, s, "s-1", chronicle.ReadStreamOptions{})
		want := append(seq(3, 5, 1), seq(9, 5, 1)...)
		if !slices.Equal(positions(got), want) {
			t.Fatalf("positions = %v, want %v", positions(got), want)
		}
	})
	t.Run("NotFound", func(t *testing.T) {
		wantNotFound(t, s, "missing-1")
		_, err := stress.Collect(s.ReadStream(context.Background(), "missing-1", chronicle.ReadStreamOptions{Backwards: true, From: chronicle.End}))
		wantErr(t, "backwards ReadStream of a missing stream", err, chronicle.ErrStreamNotFound)
	})
	t.Run("WhileCreated", func(t *testing.T) {
		// A read racing the append that creates its stream finds the
		// stream missing or finds its events: never a stream that
		// exists with no events, which it never was.
		ctx := context.Background()
		for i := range 200 {
			stream := fmt.Sprintf("created-%d", i)
			appended := make(chan error, 1)
			go func() {
				_, err := s.Append(ctx, stream, chronicle.NoStream, event("E", i))
				appended <- err
			}()
			for range 4 {
				evs, err := stress.Collect(s.ReadStream(ctx, stream, chronicle.ReadStreamOptions{}))
				switch {
				case err != nil && !errors.Is(err, chronicle.ErrStreamNotFound):
					t.Fatalf("%s: %v", stream, err)
				case err == nil && len(evs) != 1:
					t.Fatalf("%s: %d events and no error, want its one event or ErrStreamNotFound", stream, len(evs))
				}
			}
			if err := <-appended; err != nil {
				t.Fatal(err)
			}
		}
	})

	t.Run("LongStream", func(t *testing.T) {
		// Longer than a few pages of any store, with another stream's
		// events between its appends: each event once, in order, however
		// the read is cut into pages and wherever it stops.
		s := newStore(t)
		const n = 1300
		for i := 0; i < n; i += 100 {
			mustAppend(t, s, "long", chronicle.Any, events("E", 100)...)
			mustAppend(t, s, "other", chronicle.Any, events("O", 3)...)
		}
		for _, tt := range []struct {
			name string
			opts chronicle.ReadStreamOptions
			want []uint64
		}{
			{"Forwards", chronicle.ReadStreamOptions{}, seq(0, n, 1)},
			{"ForwardsFromLimit", chronicle.ReadStreamOptions{From: 100, Limit: 900}, seq(100, 900, 1)},
			{"Backwards", chronicle.ReadStreamOptions{Backwards: true, From: chronicle.End}, seq(n-1, n, -1)},
			{"BackwardsFromLimit", chronicle.ReadStreamOptions{Backwards: true, From: 1200, Limit: 700}, seq(1200, 700, -1)},
		} {
			t.Run(tt.name, func(t *testing.T) {
				if got := revisions(readStream(t, s, "long", tt.opts)); !slices.Equal(got, tt.want) {
					t.Fatalf("read %d revisions, from %v, want %d from %v", len(got), got[:min(3, len(got))], len(tt.want), tt.want[:3])
				}
			})
		}
		t.Run("StopMidway", func(t *testing.T) {
			for range 20 {
				read := 0
				for e, err := range s.ReadStream(context.Background(), "long", chronicle.ReadStreamOptions{}) {
					if err != nil {
						t.Fatal(err)
					}
					if e.Revision != uint64(read) {
						t.Fatalf("revision %d read as event %d", e.Revision, read)
					}
					if read++; read == 700 {
						break
					}
				}
			}
			if got := readStream(t, s, "long", chronicle.ReadStreamOptions{From: n - 5}); len(got) != 5 {
				t.Fatalf("read %d events after stopping midway, want 5", len(got))
			}
		})
	})
	t.Run("EarlyBreak", func(t *testing.T) {
		s := newStore(t)
		mustAppend(t, s, "long", chronicle.NoStream, events("E", 2000)...)
		// A read abandoned early must free what it holds: were it to keep a
		// connection or a lock, these loops would exhaust or block the store.
		for i := range 100 {
			for e, err := range s.ReadStream(context.Background(), "long", chronicle.ReadStreamOptions{From: uint64(i)}) {
				if err != nil {
					t.Fatal(err)
				}
				if e.Revision != uint64(i) {
					t.Fatalf("first revision read = %d, want %d", e.Revision, i)
				}
				break
			}
			for _, err := range s.ReadAll(context.Background(), chronicle.ReadAllOptions{}) {
				if err != nil {
					t.Fatal(err)
				}
				break
			}
		}
		mustAppend(t, s, "long", chronicle.Exact(1999), event("E", 0))
		if got := readStream(t, s, "long", chronicle.ReadStreamOptions{From: 1990}); len(got) != 11 {
			t.Fatalf("read %d events after early breaks, want 11", len(got))
		}
	})
	t.Run("CanceledContext", func(t *testing.T) {
		s := newStore(t)
		mustAppend(t, s, "long", chronicle.NoStream, events("E", 3000)...)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		n := 0
		var last error
		for _, err := range s.ReadStream(ctx, "long", chronicle.ReadStreamOptions{}) {
			if err != nil {
				last = err
				break
			}
			n++
			if n == 10 {
				cancel()
			}
		}
		if !errors.Is(last, context.Canceled) {
			t.Fatalf("read after cancel ended with %v, want context.Canceled", last)
		}
		if n >= 3000 {
			t.Fatalf("read all %d events after cancel", n)
		}
	})
}

func testReadAll(t *testing.T, newStore Factory) {
	s := newStore(t)
	// Positions 1..12: game-1 (1-3), game-2 (4-6), chat-1 (7-9), game-1 (10-12).
	mustAppend(t, s, "game-1", chronicle.NoStream, event("Started", 0), event("Moved", 1), event("Moved", 2))
	mustAppend(t, s, "game-2", chronicle.NoStream, event("Started", 0), event("Moved", 1), event("Finished", 2))
	said := events("Said", 3)
	said[1].Metadata = chronicle.Metadata{}.WithCorrelationID("c-1")
	mustAppend(t, s, "chat-1", chronicle.NoStream, said...)
	mustAppend(t, s, "game-1", chronicle.Exact(2), event("Moved", 3), event("Moved", 4), event("Finished", 5))

	tests := []struct {
		name string
		opts chronicle.ReadAllOptions
		want []uint64
	}{
		{"Forwards", chronicle.ReadAllOptions{}, seq(1, 12, 1)},
		{"From", chronicle.ReadAllOptions{From: 10}, []uint64{10, 11, 12}},
		{"FromOne", chronicle.ReadAllOptions{From: 1, Limit: 2}, []uint64{1, 2}},
		{"Limit", chronicle.ReadAllOptions{From: 4, Limit: 3}, []uint64{4, 5, 6}},
		{"PastEnd", chronicle.ReadAllOptions{From: 13}, nil},
		{"FromEnd", chronicle.ReadAllOptions{From: chronicle.End}, nil},
		{"FromOver63Bits", chronicle.ReadAllOptions{From: 1 << 63, Limit: 1}, nil},
		{"FilterFromEnd", chronicle.ReadAllOptions{From: chronicle.End, Filter: chronicle.Filter{Types: []string{"Moved"}}}, nil},
		{"BackwardsFromOver63Bits", chronicle.ReadAllOptions{Backwards: true, From: 1 << 63, Limit: 1}, []uint64{12}},
		{"Backwards", chronicle.ReadAllOptions{Backwards: true, From: chronicle.End}, seq(12, 12, -1)},
		{"BackwardsFrom", chronicle.ReadAllOptions{Backwards: true, From: 3}, []uint64{3, 2, 1}},
		{"BackwardsFromOne", chronicle.ReadAllOptions{Backwards: true, From: 1}, []uint64{1}},
		{"BackwardsFromZero", chronicle.ReadAllOptions{Backwards: true}, nil},
		{"BackwardsLimit", chronicle.ReadAllOptions{Backwards: true, From: chronicle.End, Limit: 2}, []uint64{12, 11}},
		// A limit below zero is no limit, as zero is, either way.
		{"NegativeLimit", chronicle.ReadAllOptions{Limit: -1}, seq(1, 12, 1)},
		{"BackwardsNegativeLimit", chronicle.ReadAllOptions{Backwards: true, From: chronicle.End, Limit: -1}, seq(12, 12, -1)},
		{"FilterBackwardsNegativeLimit", chronicle.ReadAllOptions{Backwards: true, From: chronicle.End, Limit: -1,
			Filter: chronicle.Filter{Types: []string{"Started"}}}, []uint64{4, 1}},
		{"Category", chronicle.ReadAllOptions{Filter: chronicle.Filter{Categories: []string{"chat"}}}, []uint64{7, 8, 9}},
		{"Categories", chronicle.ReadAllOptions{Filter: chronicle.Filter{Categories: []string{"chat", "game"}}}, seq(1, 12, 1)},
		{"StreamPrefix", chronicle.ReadAllOptions{Filter: chronicle.Filter{StreamPrefix: "game-2"}}, []uint64{4, 5, 6}},
		{"Types", chronicle.ReadAllOptions{Filter: chronicle.Filter{Types: []string{"Finished", "Said"}}}, []uint64{6, 7, 8, 9, 12}},
		{"CategoryAndType", chronicle.ReadAllOptions{Filter: chronicle.Filter{Categories: []string{"game"}, Types: []string{"Started"}}}, []uint64{1, 4}},
		{"FilterLimit", chronicle.ReadAllOptions{From: 2, Limit: 2, Filter: chronicle.Filter{Types: []string{"Moved"}}}, []uint64{2, 3}},
		{"FilterBackwards", chronicle.ReadAllOptions{Backwards: true, From: chronicle.End, Filter: chronicle.Filter{Types: []string{"Started"}}}, []uint64{4, 1}},
		// A limit counts the events that the filter keeps, not those it
		// passes over: Moved is at 2, 3, 5, 10 and 11.
		{"FilterLimitPastOthers", chronicle.ReadAllOptions{From: 4, Limit: 2, Filter: chronicle.Filter{Types: []string{"Moved"}}}, []uint64{5, 10}},
		{"FilterBackwardsLimit", chronicle.ReadAllOptions{Backwards: true, From: 9, Limit: 2, Filter: chronicle.Filter{Types: []string{"Moved"}}}, []uint64{5, 3}},
		{"FilterBackwardsLimitOne", chronicle.ReadAllOptions{Backwards: true, From: chronicle.End, Limit: 1, Filter: chronicle.Filter{Types: []string{"Started"}}}, []uint64{4}},
		// Every condition holds before the limit counts: a store may apply
		// some of them in one place and the rest in another.
		{"CategoryTypeLimit", chronicle.ReadAllOptions{From: 3, Limit: 2, Filter: chronicle.Filter{Categories: []string{"game"}, Types: []string{"Moved"}}}, []uint64{3, 5}},
		{"CategoryTypeBackwardsLimit", chronicle.ReadAllOptions{Backwards: true, From: chronicle.End, Limit: 1,
			Filter: chronicle.Filter{Categories: []string{"game"}, Types: []string{"Started"}}}, []uint64{4}},
		{"FilterNoMatch", chronicle.ReadAllOptions{Filter: chronicle.Filter{Categories: []string{"gam"}}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := readAll(t, s, tt.opts)
			if !slices.Equal(positions(got), tt.want) {
				t.Fatalf("positions = %v, want %v", positions(got), tt.want)
			}
		})
	}
	t.Run("EventsMatchStreams", func(t *testing.T) {
		// Each direction of the log yields each event as its stream does,
		// with its recorded time in UTC, as RecordedEvent says.
		for _, opts := range []chronicle.ReadAllOptions{{}, {Backwards: true, From: chronicle.End}} {
			for _, e := range readAll(t, s, opts) {
				in := readStream(t, s, e.Stream, chronicle.ReadStreamOptions{From: e.Revision, Limit: 1})
				if len(in) != 1 {
					t.Fatalf("global log (backwards %v) has %s@%d at %d, stream read has %+v", opts.Backwards, e.Stream, e.Revision, e.Position, in)
				}
				if d := eventDiff(e, in[0]); d != "" {
					t.Fatalf("global log (backwards %v) at %d: %s, as its stream has it", opts.Backwards, e.Position, d)
				}
				if d := eventDiff(in[0], e); d != "" {
					t.Fatalf("stream read of %s@%d: %s, as the global log has it", e.Stream, e.Revision, d)
				}
			}
		}
	})
	t.Run("ManyPages", func(t *testing.T) {
		// Longer than a store's page (512 events for SQLite, which reads
		// several pages at once): every event once, in order, from any
		// starting point, either way, also while appends go on.
		s := newStore(t)
		for i := range 5 {
			mustAppend(t, s, fmt.Sprintf("long-%d", i), chronicle.NoStream, events("E", 601)...)
		}
		for _, from := range []uint64{0, 1, 512, 513, 1025, 3004, 3005, 3006} {
			got := positions(readAll(t, s, chronicle.ReadAllOptions{From: from}))
			if want := seq(max(from, 1), 3005-int(max(from, 1))+1, 1); !slices.Equal(got, want) {
				t.Fatalf("from %d: read %d events (%v...), want %d", from, len(got), got[:min(3, len(got))], len(want))
			}
		}
		for _, from := range []uint64{chronicle.End, 3005, 3004, 2494, 2493, 1025, 513, 512, 1} {
			got := positions(readAll(t, s, chronicle.ReadAllOptions{Backwards: true, From: from}))
			top := min(from, 3005)
			if want := seq(top, int(top), -1); !slices.Equal(got, want) {
				t.Fatalf("backwards from %d: read %d events (%v...), want %d", from, len(got), got[:min(3, len(got))], len(want))
			}
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := make(chan error, 1)
		go func() {
			for i := 0; ctx.Err() == nil; i++ {
				if _, err := s.Append(ctx, fmt.Sprintf("more-%d", i%7), chronicle.Any, events("E", 1+i%40)...); err != nil && ctx.Err() == nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
		for range 5 {
			got := positions(readAll(t, s, chronicle.ReadAllOptions{}))
			if len(got) < 3005 || !slices.Equal(got, seq(1, len(got), 1)) {
				t.Fatalf("while appending, a read gave %d events out of order or with a gap", len(got))
			}
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
	t.Run("LimitPastAPage", func(t *testing.T) {
		// A limit larger than a store's page, with and without a filter
		// that passes over other events between those it keeps: the read
		// goes on past the first page, and stops at the limit. Signal
		// events are at 201-400, 601-800, 1001-1200 and 1401-1600.
		s := newStore(t)
		var signals []uint64
		for i := range 4 {
			mustAppend(t, s, fmt.Sprintf("noise-%d", i), chronicle.NoStream, events("Noise", 200)...)
			res := mustAppend(t, s, "signal-1", chronicle.Any, events("Signal", 200)...)
			signals = append(signals, seq(res.FirstPosition, 200, 1)...)
		}
		signal := chronicle.Filter{Categories: []string{"signal"}}
		back := slices.Clone(signals)
		slices.Reverse(back)
		for _, tt := range []struct {
			name string
			opts chronicle.ReadAllOptions
			want []uint64
		}{
			{"Forwards", chronicle.ReadAllOptions{Limit: 700}, seq(1, 700, 1)},
			{"ForwardsFrom", chronicle.ReadAllOptions{From: 300, Limit: 1000}, seq(300, 1000, 1)},
			{"Backwards", chronicle.ReadAllOptions{Backwards: true, From: chronicle.End, Limit: 700}, seq(1600, 700, -1)},
			{"Filter", chronicle.ReadAllOptions{Limit: 700, Filter: signal}, signals[:700]},
			{"FilterFrom", chronicle.ReadAllOptions{From: 251, Limit: 600, Filter: signal}, signals[50:650]},
			{"FilterBackwards", chronicle.ReadAllOptions{Backwards: true, From: chronicle.End, Limit: 700, Filter: signal}, back[:700]},
		} {
			t.Run(tt.name, func(t *testing.T) {
				got := positions(readAll(t, s, tt.opts))
				if !slices.Equal(got, tt.want) {
					t.Fatalf("read %d events (%v...), want %d (%v...)", len(got), got[:min(3, len(got))], len(tt.want), tt.want[:3])
				}
			})
		}
	})
	t.Run("LongFilteredScan", func(t *testing.T) {
		// Many events the filter rejects between the ones it keeps: a read
		// must page past them rather than stop early or repeat itself.
		s := newStore(t)
		for i := range 3 {
			mustAppend(t, s, fmt.Sprintf("noise-%d", i), chronicle.NoStream, events("Noise", 1500)...)
			mustAppend(t, s, "signal-1", chronicle.Any, event("Signal", i))
		}
		got := readAll(t, s, chronicle.ReadAllOptions{Filter: chronicle.Filter{Categories: []string{"signal"}}})
		if want := []uint64{1501, 3002, 4503}; !slices.Equal(positions(got), want) {
			t.Fatalf("positions = %v, want %v", positions(got), want)
		}
	})
}
