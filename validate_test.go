package chronicle_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/chronicle-es/chronicle"
	"github.com/google/uuid"
)

func TestValidateStreamName(t *testing.T) {
	for _, tc := range []struct {
		name   string
		stream string
		ok     bool
	}{
		{"OK", "game-42", true},
		{"OKSingleByte", "a", true},
		{"OKUnicode", "partie-é-日本", true},
		{"OKDollarInside", "price-$5", true},
		{"OKSpaces", "order 42", true},
		{"OKMaxLength", strings.Repeat("a", chronicle.MaxNameLength), true},
		{"OKMaxLengthMultibyte", strings.Repeat("a", chronicle.MaxNameLength-2) + "é", true},
		{"ErrEmpty", "", false},
		{"ErrTooLong", strings.Repeat("a", chronicle.MaxNameLength+1), false},
		{"ErrTooLongMultibyte", strings.Repeat("a", chronicle.MaxNameLength-1) + "é", false},
		{"ErrNewline", "game\n42", false},
		{"ErrNUL", "game\x0042", false},
		{"ErrTab", "\tgame", false},
		{"ErrDEL", "game\x7f", false},
		{"ErrC1Control", "game\u0085", false},
		{"ErrDollar", "$all", false},
		{"ErrDollarOnly", "$", false},
		{"ErrBadUTF8", "game-\xff", false},
		{"ErrTruncatedUTF8", "game-\xc3", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := chronicle.ValidateStreamName(tc.stream)
			if tc.ok {
				if err != nil {
					t.Fatalf("ValidateStreamName(%q) = %v, want nil", tc.stream, err)
				}
				return
			}
			if !errors.Is(err, chronicle.ErrInvalidStreamName) {
				t.Fatalf("ValidateStreamName(%q) = %v, want ErrInvalidStreamName", tc.stream, err)
			}
		})
	}
}

// Every byte, and every rune of the Basic Multilingual Plane, is judged by
// the rule that the documentation states, whichever path the check takes
// (printable ASCII names take a shorter one).
func TestValidateStreamNameEveryCharacter(t *testing.T) {
	rule := func(name string) bool {
		if !utf8.ValidString(name) {
			return false
		}
		for _, r := range name {
			if unicode.IsControl(r) || unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp) {
				return false
			}
		}
		return true
	}
	check := func(name string) {
		t.Helper()
		err := chronicle.ValidateStreamName(name)
		if want := rule(name); (err == nil) != want {
			t.Fatalf("ValidateStreamName(%q) = %v, want valid %v", name, err, want)
		}
	}
	for b := range 256 {
		check("game-" + string([]byte{byte(b)}))
		check(string([]byte{'g', byte(b), 'x'}))
	}
	for r := rune(0); r <= 0xffff; r++ {
		if utf8.ValidRune(r) {
			check("game-" + string(r))
		}
	}
}

// The messages say what is wrong, without printing a huge name whole.
func TestValidateStreamNameMessages(t *testing.T) {
	for _, tc := range []struct {
		stream string
		want   string
	}{
		{"", "empty"},
		{strings.Repeat("x", 1000), "1000 bytes long"},
		{"a\nb", "control character (U+000A) at byte 1"},
		{"game-42\u200b", "invisible or control character (U+200B)"},
		{"$all", "reserved"},
		{"\xff", "UTF-8"},
	} {
		err := chronicle.ValidateStreamName(tc.stream)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ValidateStreamName(%.30q) = %v, want a message containing %q", tc.stream, err, tc.want)
		}
		if err != nil && len(err.Error()) > 200 {
			t.Errorf("ValidateStreamName(%.30q): message is %d bytes long", tc.stream, len(err.Error()))
		}
	}
}

func TestPrepareAppendRefuses(t *testing.T) {
	ok := chronicle.EventData{Type: "Happened", Data: []byte(`{}`)}
	id := uuid.MustParse("0190a3e4-0000-7000-8000-000000000001")
	for _, tc := range []struct {
		name    string
		stream  string
		events  []chronicle.EventData
		max     int
		wantErr error
	}{
		{"EmptyStream", "", []chronicle.EventData{ok}, 0, chronicle.ErrInvalidStreamName},
		{"LongStream", strings.Repeat("s", 256), []chronicle.EventData{ok}, 0, chronicle.ErrInvalidStreamName},
		{"ControlCharStream", "s\x01", []chronicle.EventData{ok}, 0, chronicle.ErrInvalidStreamName},
		{"ReservedStream", "$stats", []chronicle.EventData{ok}, 0, chronicle.ErrInvalidStreamName},
		{"BadUTF8Stream", "s\xfe", []chronicle.EventData{ok}, 0, chronicle.ErrInvalidStreamName},
		{"NilEvents", "s", nil, 0, chronicle.ErrNoEvents},
		{"NoEvents", "s", []chronicle.EventData{}, 0, chronicle.ErrNoEvents},
		{"EmptyType", "s", []chronicle.EventData{ok, {Data: []byte(`{}`)}}, 0, chronicle.ErrInvalidEvent},
		{"LongType", "s", []chronicle.EventData{{Type: strings.Repeat("T", 256)}}, 0, chronicle.ErrInvalidEvent},
		{"ControlCharType", "s", []chronicle.EventData{{Type: "Hap\npened"}}, 0, chronicle.ErrInvalidEvent},
		{"BadUTF8Type", "s", []chronicle.EventData{{Type: "Hap\xffpened"}}, 0, chronicle.ErrInvalidEvent},
		{"TooLargeData", "s", []chronicle.EventData{{Type: "T", Data: make([]byte, 11)}}, 10, chronicle.ErrEventTooLarge},
		{"TooLargeWithMetadata", "s", []chronicle.EventData{{Type: "T", Data: make([]byte, 6),
			Metadata: chronicle.Metadata{"ab": "cde"}}}, 10, chronicle.ErrEventTooLarge},
		{"TooLargeMetadataOnly", "s", []chronicle.EventData{{Type: "T",
			Metadata: chronicle.Metadata{"k": strings.Repeat("v", 10)}}}, 10, chronicle.ErrEventTooLarge},
		{"TooLargeSecond", "s", []chronicle.EventData{ok, {Type: "T", Data: make([]byte, 11)}}, 10, chronicle.ErrEventTooLarge},
		{"TooLargeDefault", "s", []chronicle.EventData{{Type: "T", Data: make([]byte, chronicle.DefaultMaxEventSize+1)}}, 0, chronicle.ErrEventTooLarge},
		{"TooLargeNegativeMeansDefault", "s", []chronicle.EventData{{Type: "T", Data: make([]byte, chronicle.DefaultMaxEventSize+1)}}, -1, chronicle.ErrEventTooLarge},
		{"DuplicateIDs", "s", []chronicle.EventData{{ID: id, Type: "A"}, {Type: "B"}, {ID: id, Type: "C"}}, 0, chronicle.ErrInvalidEvent},
		{"BadUTF8MetadataValue", "s", []chronicle.EventData{ok, {Type: "T", Metadata: chronicle.Metadata{"token": "\xff\xfe raw"}}}, 0, chronicle.ErrInvalidEvent},
		{"BadUTF8MetadataKey", "s", []chronicle.EventData{{Type: "T", Metadata: chronicle.Metadata{"k\xc3": "v"}}}, 0, chronicle.ErrInvalidEvent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := chronicle.PrepareAppend(tc.stream, tc.events, tc.max)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("PrepareAppend: %v, want %v", err, tc.wantErr)
			}
			if out != nil {
				t.Errorf("PrepareAppend returned %d events with its error", len(out))
			}
		})
	}
}

func TestPrepareAppendMessages(t *testing.T) {
	id := uuid.MustParse("0190a3e4-0000-7000-8000-000000000001")
	for _, tc := range []struct {
		name   string
		events []chronicle.EventData
		want   []string
	}{
		{"EmptyType", []chronicle.EventData{{Type: "A"}, {}}, []string{`"s"`, "event 1", "type"}},
		{"TooLarge", []chronicle.EventData{{Type: "Big", Data: make([]byte, 20)}}, []string{"Big", "20 bytes", "limit 10"}},
		{"DuplicateIDs", []chronicle.EventData{{ID: id, Type: "A"}, {ID: id, Type: "B"}}, []string{"events 0 and 1", id.String()}},
		{"BadUTF8Metadata", []chronicle.EventData{{Type: "A"}, {Type: "B", Metadata: chronicle.Metadata{"token": "\xff"}}}, []string{"event 1", `the value of metadata "token" is not valid UTF-8`}},
		{"BadUTF8MetadataKey", []chronicle.EventData{{Type: "A", Metadata: chronicle.Metadata{"to\xffken": "x"}}}, []string{"event 0", `metadata key "to\xffken" is not valid UTF-8`}},
	} {
		_, err := chronicle.PrepareAppend("s", tc.events, 10)
		for _, w := range tc.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %v lacks %q", tc.name, err, w)
			}
		}
	}
}

func TestPrepareAppendLimitIsInclusive(t *testing.T) {
	events := []chronicle.EventData{{Type: "T", Data: make([]byte, 6), Metadata: chronicle.Metadata{"ab": "cd"}}}
	if _, err := chronicle.PrepareAppend("s", events, 10); err != nil {
		t.Fatalf("an event of exactly the limit: %v", err)
	}
	if _, err := chronicle.PrepareAppend("s", []chronicle.EventData{{Type: "T", Data: make([]byte, chronicle.DefaultMaxEventSize)}}, 0); err != nil {
		t.Fatalf("an event of exactly the default limit: %v", err)
	}
	if _, err := chronicle.PrepareAppend("s", []chronicle.EventData{{Type: strings.Repeat("T", chronicle.MaxNameLength)}}, 0); err != nil {
		t.Fatalf("a type of the longest length: %v", err)
	}
}

func TestPrepareAppendAssignsUUIDv7(t *testing.T) {
	given := uuid.MustParse("6ba7b810-9dad-11d1-80b4-00c04fd430c8") // a v1 ID, kept as it is
	in := []chronicle.EventData{
		{Type: "A", Data: []byte(`{"n":1}`)},
		{ID: given, Type: "B"},
		{Type: "C", Metadata: chronicle.Metadata{"k": "v"}},
	}
	before := slices.Clone(in)

	out, err := chronicle.PrepareAppend("s", in, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != len(in) {
		t.Fatalf("got %d events, want %d", len(out), len(in))
	}
	for _, i := range []int{0, 2} {
		if v := out[i].ID.Version(); v != 7 {
			t.Errorf("event %d: ID %s has version %d, want 7", i, out[i].ID, v)
		}
		if out[i].ID.Variant() != uuid.RFC4122 {
			t.Errorf("event %d: ID %s has variant %v", i, out[i].ID, out[i].ID.Variant())
		}
	}
	if out[0].ID == out[2].ID {
		t.Errorf("two events got the same ID %s", out[0].ID)
	}
	if out[1].ID != given {
		t.Errorf("a given ID was replaced: %s, want %s", out[1].ID, given)
	}
	for i := range in {
		if out[i].Type != in[i].Type || string(out[i].Data) != string(in[i].Data) || len(out[i].Metadata) != len(in[i].Metadata) {
			t.Errorf("event %d changed: %+v, was %+v", i, out[i], in[i])
		}
	}

	// The caller's slice is left as it was: the zero IDs are still zero,
	// and changing the result does not change it.
	for i := range in {
		if in[i].ID != before[i].ID || in[i].Type != before[i].Type {
			t.Errorf("input event %d changed: %+v, was %+v", i, in[i], before[i])
		}
	}
	out[0].Type = "Changed"
	if in[0].Type != "A" {
		t.Error("the result shares its backing array with the input")
	}

	// Each append gets new IDs.
	again, err := chronicle.PrepareAppend("s", in, 0)
	if err != nil {
		t.Fatal(err)
	}
	if again[0].ID == out[0].ID {
		t.Errorf("two appends of the same zero-ID event got the same ID %s", again[0].ID)
	}
	// UUIDv7 IDs made in order sort in order.
	if again[0].ID.String() <= out[2].ID.String() {
		t.Errorf("IDs do not increase: %s then %s", out[2].ID, again[0].ID)
	}
}

// Every read and append validates its stream's name.
func BenchmarkValidateStreamName(b *testing.B) {
	for _, name := range []string{"game-0b0e7f5e-6c53-4f2a-9a3c-3b0b7f6f1e2d", "partie-é-日本-0b0e7f5e-6c53-4f2a-9a3c"} {
		b.Run(name[:6], func(b *testing.B) {
			for b.Loop() {
				if err := chronicle.ValidateStreamName(name); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// The prefixes, categories and types to select by are refused for the
// bytes and characters that ValidateStreamName refuses anywhere in a
// name, and for nothing else: not for what only a whole name must be
// (not empty, short enough, not starting with '$').
func TestSelectorsRefuseWhatNoNameHolds(t *testing.T) {
	check := func(text string) {
		t.Helper()
		want := chronicle.ValidateStreamName("g"+text+"x") == nil
		for _, c := range []struct {
			what     string
			err      error
			sentinel error
		}{
			{"ListStreamsOptions.Prefix", chronicle.ListStreamsOptions{Prefix: text}.Validate(), chronicle.ErrInvalidStreamName},
			{"ListStreamsOptions.Category", chronicle.ListStreamsOptions{Category: text}.Validate(), chronicle.ErrInvalidStreamName},
			{"Filter.StreamPrefix", chronicle.Filter{StreamPrefix: text}.Validate(), chronicle.ErrInvalidStreamName},
			{"Filter.Categories[1]", chronicle.Filter{Categories: []string{"a", text}}.Validate(), chronicle.ErrInvalidStreamName},
			{"Filter.Types[0]", chronicle.Filter{Types: []string{text}}.Validate(), chronicle.ErrInvalidEvent},
		} {
			if (c.err == nil) != want {
				t.Fatalf("%s %q: error %v, want valid %v", c.what, text, c.err, want)
			}
			if c.err != nil && (!errors.Is(c.err, c.sentinel) || !strings.Contains(c.err.Error(), c.what)) {
				t.Fatalf("%s %q: error %v, want one matching %v that names %s", c.what, text, c.err, c.sentinel, c.what)
			}
		}
	}
	for b := range 256 {
		check(string([]byte{byte(b)}))
		check("é" + string([]byte{byte(b)}))
	}
	for r := rune(0); r <= 0xffff; r++ {
		if utf8.ValidRune(r) {
			check(string(r))
		}
	}
	for _, ok := range []string{"", "$", "$all", "order-1", strings.Repeat("a", 1000)} {
		if err := (chronicle.ListStreamsOptions{Prefix: ok, Category: ok}).Validate(); err != nil {
			t.Errorf("ListStreamsOptions %q: %v", ok, err)
		}
		if err := (chronicle.Filter{StreamPrefix: ok, Categories: []string{ok}, Types: []string{ok}}).Validate(); err != nil {
			t.Errorf("Filter %q: %v", ok, err)
		}
	}
	// The message names the field and shows the value, cut short when
	// it is longer than any name.
	err := chronicle.Filter{Types: []string{"E", "a\x00"}}.Validate()
	if want := `chronicle: invalid event: Filter.Types[1] "a\x00" has an invisible or control character (U+0000) at byte 1, which no event type can hold`; err == nil || err.Error() != want {
		t.Errorf("message %q, want %q", err, want)
	}
	long := strings.Repeat("a", 10000) + "\n"
	if err := (chronicle.ListStreamsOptions{Prefix: long}).Validate(); err == nil || len(err.Error()) > 500 || !strings.Contains(err.Error(), "at byte 10000") {
		t.Errorf("a long prefix: %.600v", err)
	}
}
