package archive_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"iter"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/archive"
	"github.com/chronicle-es/chronicle/memory"
	"github.com/chronicle-es/chronicle/sqlite"
	"github.com/google/uuid"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// store is what the tests need of a store: all of Chronicle's abilities.
type store interface {
	chronicle.Store
	chronicle.Deleter
	chronicle.Retention
}

func newMemory(t *testing.T) store { return memory.New(nil) }

func newSQLite(t *testing.T) store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "events.db"), &sqlite.Options{Durability: sqlite.Relaxed})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// binary holds every byte value: data that is not JSON.
var binary = func() []byte {
	b := make([]byte, 256)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}()

// payloads are event data of every kind the format must carry exactly.
var payloads = [][]byte{
	[]byte(`{"amount":5,"note":"<b>&</b>"}`), // JSON with HTML characters
	binary,
	[]byte(`{"a": 1,` + "\n" + `"b": [1, 2]}`), // JSON with spaces: base64
	nil,
	[]byte("\"line\u2028sep\""), // a raw U+2028, which JavaScript takes for a line end
	[]byte(`null`),
	[]byte("plain text, not JSON"),
	[]byte(`[1,2,{"x":"y z"}]`), // spaces only inside a string
	[]byte("\xff\xfe not UTF-8"),
	[]byte(` {"lead":"space"}`),
}

// seed appends n events to streams interleaved in runs of three, with
// data from payloads and metadata on some, and returns the log's IDs in
// order.
func seed(t *testing.T, s chronicle.Store, streams []string, n int) []uuid.UUID {
	t.Helper()
	ctx := context.Background()
	var ids []uuid.UUID
	for i := 0; i < n; i += 3 {
		var evs []chronicle.EventData
		for j := i; j < min(i+3, n); j++ {
			e := chronicle.EventData{ID: uuid.New(), Type: fmt.Sprintf("Type%d", j%4), Data: payloads[j%len(payloads)]}
			if j%2 == 0 {
				e.Metadata = chronicle.Metadata{chronicle.MetadataCorrelationID: fmt.Sprint("corr-", j), "note": "é \"quoted\""}
			}
			evs = append(evs, e)
			ids = append(ids, e.ID)
		}
		if _, err := s.Append(ctx, streams[(i/3)%len(streams)], chronicle.Any, evs...); err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

func collect(t *testing.T, seq iter.Seq2[chronicle.RecordedEvent, error]) []chronicle.RecordedEvent {
	t.Helper()
	var out []chronicle.RecordedEvent
	for e, err := range seq {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

func readAll(t *testing.T, s chronicle.Store) []chronicle.RecordedEvent {
	t.Helper()
	return collect(t, s.ReadAll(context.Background(), chronicle.ReadAllOptions{}))
}

// sameEvents fails unless got and want are the same events (ID, stream,
// type, data, metadata) in the same order.
func sameEvents(t *testing.T, got, want []chronicle.RecordedEvent) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d events, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.ID != w.ID || g.Stream != w.Stream || g.Type != w.Type || !bytes.Equal(g.Data, w.Data) || !maps.Equal(g.Metadata, w.Metadata) {
			t.Fatalf("event %d:\n got %s %s %s %q %v\nwant %s %s %s %q %v", i,
				g.Stream, g.ID, g.Type, g.Data, g.Metadata, w.Stream, w.ID, w.Type, w.Data, w.Metadata)
		}
	}
}

func mustExport(t *testing.T, s chronicle.Store, opts *archive.ExportOptions) ([]byte, archive.ExportResult) {
	t.Helper()
	var buf bytes.Buffer
	res, err := archive.Export(context.Background(), s, &buf, opts)
	if err != nil {
		t.Fatalf("Export: %v", err)
	}
	return buf.Bytes(), res
}

func mustImport(t *testing.T, s chronicle.Store, file []byte, opts *archive.ImportOptions) archive.ImportResult {
	t.Helper()
	res, err := archive.Import(context.Background(), s, bytes.NewReader(file), opts)
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	return res
}

func TestRoundTrip(t *testing.T) {
	for _, tt := range []struct {
		name     string
		from, to func(*testing.T) store
	}{
		{"MemoryToSQLite", newMemory, newSQLite},
		{"SQLiteToMemory", newSQLite, newMemory},
	} {
		t.Run(tt.name, func(t *testing.T) {
			src, dst := tt.from(t), tt.to(t)
			streams := []string{"game-1", "game-2", "player-ann"}
			seed(t, src, streams, 40)
			want := readAll(t, src)

			file, eres := mustExport(t, src, nil)
			if eres != (archive.ExportResult{Events: 40, Streams: 3, LastPosition: 40}) {
				t.Fatalf("ExportResult = %+v", eres)
			}
			if n := bytes.Count(file, []byte("\n")); n != 40 {
				t.Fatalf("archive has %d lines, want 40", n)
			}
			ires := mustImport(t, dst, file, &archive.ImportOptions{BatchSize: 4})
			if ires != (archive.ImportResult{Lines: 40, Events: 40, Written: 40}) {
				t.Fatalf("ImportResult = %+v", ires)
			}
			// The global order survives, and so does each stream's.
			sameEvents(t, readAll(t, dst), want)
			for _, s := range streams {
				sameEvents(t, collect(t, dst.ReadStream(context.Background(), s, chronicle.ReadStreamOptions{})),
					collect(t, src.ReadStream(context.Background(), s, chronicle.ReadStreamOptions{})))
			}
			// Exported again, the copy gives the same file but for the
			// recorded times, which are the importing store's.
			again, _ := mustExport(t, dst, nil)
			if got, want := maskRecorded(again), maskRecorded(file); got != want {
				t.Fatalf("the copy exports differently:\n%s\nwant\n%s", got, want)
			}
		})
	}
}

func maskRecorded(b []byte) string {
	var sb strings.Builder
	for l := range strings.Lines(string(b)) {
		i := strings.Index(l, `"recorded":"`)
		sb.WriteString(l[:i+12] + "T" + l[i+12+len("2006-01-02T15:04:05.000000Z"):])
	}
	return sb.String()
}

func TestExportStreams(t *testing.T) {
	ctx := context.Background()
	s := newMemory(t)
	seed(t, s, []string{"a", "b", "c"}, 30)

	file, res := mustExport(t, s, &archive.ExportOptions{Streams: []string{"c", "a", "c"}})
	if res.Events != 21 || res.Streams != 2 {
		t.Fatalf("ExportResult = %+v, want 21 events of 2 streams", res)
	}
	dst := newMemory(t)
	mustImport(t, dst, file, nil)
	var want []chronicle.RecordedEvent
	for _, name := range []string{"c", "a"} {
		want = append(want, collect(t, s.ReadStream(ctx, name, chronicle.ReadStreamOptions{}))...)
	}
	sameEvents(t, readAll(t, dst), want)

	t.Run("Filter", func(t *testing.T) {
		_, res := mustExport(t, s, &archive.ExportOptions{Streams: []string{"a"}, Filter: chronicle.Filter{Types: []string{"Type0"}}})
		_, all := mustExport(t, s, &archive.ExportOptions{Filter: chronicle.Filter{Types: []string{"Type0"}}})
		if res.Events != 3 || all.Events != 8 {
			t.Fatalf("Type0 events: %d of stream a, %d in all; want 3 and 8", res.Events, all.Events)
		}
	})
	// A filter that no read would take is refused, as ReadAll refuses
	// it, in both modes, rather than select nothing.
	t.Run("BadFilter", func(t *testing.T) {
		for _, streams := range [][]string{nil, {"a"}} {
			var buf bytes.Buffer
			_, err := archive.Export(ctx, s, &buf, &archive.ExportOptions{Streams: streams, Filter: chronicle.Filter{Types: []string{"Type0", "\xff"}}})
			if !errors.Is(err, chronicle.ErrInvalidEvent) || !strings.Contains(err.Error(), "Filter.Types[1]") {
				t.Errorf("Streams %q, a type that is not UTF-8: %v, want ErrInvalidEvent naming Filter.Types[1]", streams, err)
			}
			if buf.Len() != 0 {
				t.Errorf("Streams %q, a type that is not UTF-8: wrote %d bytes", streams, buf.Len())
			}
		}
	})
	t.Run("From", func(t *testing.T) {
		file, res := mustExport(t, s, &archive.ExportOptions{From: 25})
		if res.Events != 6 || res.LastPosition != 30 || !bytes.HasPrefix(file, []byte(`{"stream":"c","revision":6,"position":25,`)) {
			t.Fatalf("From 25: %+v\n%s", res, file)
		}
		if _, err := archive.Export(ctx, s, &bytes.Buffer{}, &archive.ExportOptions{From: 2, Streams: []string{"a"}}); err == nil {
			t.Fatal("From with Streams succeeded")
		}
	})
	t.Run("NotFound", func(t *testing.T) {
		var buf bytes.Buffer
		_, err := archive.Export(ctx, s, &buf, &archive.ExportOptions{Streams: []string{"a", "nope"}})
		if !errors.Is(err, chronicle.ErrStreamNotFound) || !strings.Contains(err.Error(), `"nope"`) {
			t.Fatalf("export of a missing stream: %v", err)
		}
		if buf.Len() != 0 {
			t.Fatalf("export of a missing stream wrote %d bytes", buf.Len())
		}
	})
	t.Run("Tombstoned", func(t *testing.T) {
		if err := s.Tombstone(ctx, "b", chronicle.Any); err != nil {
			t.Fatal(err)
		}
		_, err := archive.Export(ctx, s, &bytes.Buffer{}, &archive.ExportOptions{Streams: []string{"b"}})
		if !errors.Is(err, chronicle.ErrStreamDeleted) || !strings.Contains(err.Error(), `"b"`) {
			t.Fatalf("export of a tombstoned stream: %v", err)
		}
		// Until a scavenge, the whole store's export still has its events:
		// that is the archive of what the scavenge will remove.
		if _, res := mustExport(t, s, nil); res.Events != 30 {
			t.Fatalf("the whole store exports %d events after a tombstone, want 30", res.Events)
		}
	})
}

func TestReimportIsANoOp(t *testing.T) {
	for name, open := range map[string]func(*testing.T) store{"Memory": newMemory, "SQLite": newSQLite} {
		t.Run(name, func(t *testing.T) {
			src, dst := newMemory(t), open(t)
			seed(t, src, []string{"x", "y"}, 25)
			file, _ := mustExport(t, src, nil)
			mustImport(t, dst, file, nil)
			before := readAll(t, dst)
			for _, size := range []int{0, 1, 7} {
				res := mustImport(t, dst, file, &archive.ImportOptions{BatchSize: size})
				if res != (archive.ImportResult{Lines: 25, Events: 25, Existing: 25}) {
					t.Fatalf("batch size %d: re-import = %+v, want all 25 existing", size, res)
				}
			}
			if n := len(readAll(t, dst)); n != len(before) {
				t.Fatalf("the store holds %d events after re-imports, %d before", n, len(before))
			}
			// A file that is the same twice over, and one that adds to an
			// earlier one, write only what is new.
			more := seed(t, src, []string{"y", "z"}, 5)
			bigger, _ := mustExport(t, src, nil)
			res := mustImport(t, dst, append(slices.Clone(file), bigger...), nil)
			if res.Written != 5 || res.Existing != 50 {
				t.Fatalf("import of the old and new files: %+v, want 5 written, 50 existing", res)
			}
			after := readAll(t, dst)
			sameEvents(t, after[:len(before)], before)
			if len(after) != 30 || after[29].ID != more[4] {
				t.Fatalf("%d events after the imports, want 30", len(after))
			}
		})
	}
}

func TestInterruptedImportResumes(t *testing.T) {
	for name, open := range map[string]func(*testing.T) store{"Memory": newMemory, "SQLite": newSQLite} {
		t.Run(name, func(t *testing.T) {
			src := newMemory(t)
			seed(t, src, []string{"a", "b", "c", "d"}, 300)
			file, _ := mustExport(t, src, nil)
			dst := open(t)
			for _, stopAfter := range []int{3, 20} {
				ctx, cancel := context.WithCancel(context.Background())
				calls := 0
				res, err := archive.Import(ctx, dst, bytes.NewReader(file), &archive.ImportOptions{
					BatchSize: 2,
					Progress: func(archive.ImportResult) {
						if calls++; calls == stopAfter {
							cancel()
						}
					},
				})
				cancel()
				var lerr *archive.LineError
				if !errors.Is(err, context.Canceled) || !errors.As(err, &lerr) {
					t.Fatalf("cancelled import: %v", err)
				}
				if lerr.Line != res.Lines+1 {
					t.Fatalf("the import stopped at line %d but reports %d lines done", lerr.Line, res.Lines)
				}
			}
			// A store may commit the append that the cancel interrupted, so
			// the log may hold more than the result says; never less.
			res := mustImport(t, dst, file, nil)
			if res.Events != 300 || res.Written+res.Existing != 300 || res.Existing < 20 {
				t.Fatalf("resumed import: %+v", res)
			}
			sameEvents(t, readAll(t, dst), readAll(t, src))
		})
	}
}

func TestImportKeepOrigin(t *testing.T) {
	src := newMemory(t)
	seed(t, src, []string{"a"}, 2)
	file, _ := mustExport(t, src, nil)
	orig := readAll(t, src)

	mid := newMemory(t)
	mustImport(t, mid, file, &archive.ImportOptions{KeepOrigin: true})
	// Archived and restored once more, an event keeps its first origin.
	time.Sleep(2 * time.Millisecond)
	again, _ := mustExport(t, mid, nil)
	dst := newMemory(t)
	mustImport(t, dst, again, &archive.ImportOptions{KeepOrigin: true})
	for i, e := range readAll(t, dst) {
		want := maps.Clone(orig[i].Metadata)
		if want == nil {
			want = chronicle.Metadata{}
		}
		want[archive.MetadataOriginalPosition] = fmt.Sprint(orig[i].Position)
		want[archive.MetadataOriginalRecorded] = orig[i].Recorded.Format(archive.RecordedFormat)
		if !maps.Equal(e.Metadata, want) {
			t.Fatalf("event %d metadata = %v, want %v", i, e.Metadata, want)
		}
	}
}

// good returns a valid line for event n of stream.
func good(stream string, rev int) string {
	return fmt.Sprintf(`{"stream":%q,"revision":%d,"position":%d,"id":"%s","type":"T","recorded":"2025-01-02T03:04:05.000001Z","data":{"n":%d}}`,
		stream, rev, rev+1, uuid.NewSHA1(uuid.NameSpaceOID, fmt.Appendf(nil, "%s/%d", stream, rev)), rev)
}

func TestImportBadInput(t *testing.T) {
	const id = "0190f0c2-7d6e-7c3a-9f00-0123456789ab"
	valid := func(fields string) string {
		return `{"stream":"s","revision":9,"position":9,"id":"` + id + `","type":"T","recorded":"2025-01-02T03:04:05.000001Z"` + fields + `}`
	}
	for _, tt := range []struct {
		name, line, want string
		opts             *archive.ImportOptions
	}{
		{"NotJSON", "hello", "not a JSON object", nil},
		{"Array", "[1,2]", "not a JSON object", nil},
		{"Truncated", `{"stream":"s","revision":1`, "the object is cut short", nil},
		{"Syntax", `{"stream":"s",}`, "not valid JSON: invalid character '}'", nil},
		{"Trailing", valid("") + ` {}`, "something follows the object", nil},
		{"MissingID", strings.Replace(valid(""), `"id":"`+id+`",`, "", 1), `field "id" is missing`, nil},
		{"MissingRevision", strings.Replace(valid(""), `"revision":9,`, "", 1), `field "revision" is missing`, nil},
		{"MissingRecorded", strings.Replace(valid(""), `,"recorded":"2025-01-02T03:04:05.000001Z"`, "", 1), `field "recorded" is missing`, nil},
		{"EmptyType", strings.Replace(valid(""), `"type":"T"`, `"type":""`, 1), `field "type" is missing or empty`, nil},
		{"WrongType", strings.Replace(valid(""), `"revision":9`, `"revision":"9"`, 1), `field "revision" is a JSON string, want a non-negative integer`, nil},
		{"NegativeRevision", strings.Replace(valid(""), `"revision":9`, `"revision":-1`, 1), `field "revision" is a JSON number -1, want a non-negative integer`, nil},
		{"MetadataNotString", valid(`,"metadata":{"k":1}`), "metadata values must be strings, but one is a JSON number", nil},
		{"UnknownField", valid(`,"dat":{}`), `unknown field "dat"`, nil},
		{"BadUUID", strings.Replace(valid(""), id, "0190f0c2-zzzz", 1), `id "0190f0c2-zzzz" is not a UUID`, nil},
		{"NilUUID", strings.Replace(valid(""), id, uuid.Nil.String(), 1), "id is the nil UUID", nil},
		{"BadBase64", valid(`,"data_base64":"%%%"`), "data_base64 is not valid standard base64", nil},
		{"BothData", valid(`,"data":1,"data_base64":"AA=="`), `both "data" and "data_base64"`, nil},
		{"BadRecorded", strings.Replace(valid(""), "2025-01-02T03:04:05.000001Z", "yesterday", 1), `recorded "yesterday" is not an RFC 3339 time`, nil},
		{"BadStreamName", strings.Replace(valid(""), `"stream":"s"`, `"stream":"$system"`, 1), "reserved for system streams", nil},
		// JSON is UTF-8: encoding/json reads other bytes in a string as
		// U+FFFD, which changed the type or metadata without a word.
		{"TypeNotUTF8", strings.Replace(valid(""), `"type":"T"`, "\"type\":\"T\xff\"", 1), "not valid UTF-8 (at byte 94)", nil},
		{"MetadataNotUTF8", valid(`,"metadata":{"k":"v` + "\xfe" + `"}`), "not valid UTF-8", nil},
		{"DataNotUTF8", valid(`,"data":"` + "\xc3" + `"`), "not valid UTF-8", nil},
		// A byte order mark, which some editors write, is invisible: the
		// line looks like the object it is not, and the error must say.
		{"ByteOrderMark", "\ufeff" + valid(""), "starts with a byte order mark (U+FEFF)", nil},
		{"UTF16", "\xff\xfe{\x00\"\x00", "starts with a UTF-16 byte order mark", nil},
		// encoding/json takes the last of keys given twice, and matches
		// keys in any case: the event lost the first data, type or
		// metadata value without a word.
		{"FieldTwice", valid(`,"data":{"keep":1},"data":{"lost":2}`), `field "data" is given twice`, nil},
		{"FieldInOtherCase", valid(`,"DATA":{}`), `unknown field "DATA"`, nil},
		{"FieldTwiceInOtherCase", valid(`,"Type":"Other"`), `unknown field "Type"`, nil},
		{"MetadataKeyTwice", valid(`,"metadata":{"k":"a","\u006b":"b"}`), `metadata key "k" is given twice`, nil},
		{"TooLong", valid(`,"data":"` + strings.Repeat("x", 2000) + `"`), "longer than the limit of 1000 bytes", &archive.ImportOptions{MaxLineSize: 1000}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newMemory(t)
			// Lines 1-3 and 5 are good; line 4 is bad, and ends the import.
			in := strings.Join([]string{good("s", 0), good("t", 0), "", tt.line, good("s", 1)}, "\n")
			res, err := archive.Import(context.Background(), s, strings.NewReader(in), tt.opts)
			var lerr *archive.LineError
			if !errors.As(err, &lerr) || lerr.Line != 4 || !strings.HasPrefix(err.Error(), "line 4: ") || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v\nwant one for line 4 that says %q", err, tt.want)
			}
			if res != (archive.ImportResult{Lines: 3, Events: 2, Written: 2}) {
				t.Fatalf("ImportResult = %+v, want the two good lines before the bad one", res)
			}
			if n := len(readAll(t, s)); n != 2 {
				t.Fatalf("the store holds %d events, want the 2 before the bad line", n)
			}
		})
	}

	t.Run("KeysInsideDataOrTwiceApart", func(t *testing.T) {
		// Data is the event's own bytes, keys given twice included; a
		// metadata key may be an escaped one, and the same as a field.
		s := newMemory(t)
		data := `{"data":{"k":1},"k":[{"k":2},{"k":3}],"data":"\"}{"}`
		in := valid(`,"metadata":{"data":"1","\u0001":"x","type":"2"},"data":`+data) + "\n"
		if _, err := archive.Import(context.Background(), s, strings.NewReader(in), nil); err != nil {
			t.Fatal(err)
		}
		got := readAll(t, s)
		if len(got) != 1 || string(got[0].Data) != data || got[0].Metadata["\x01"] != "x" || got[0].Metadata["data"] != "1" {
			t.Fatalf("imported %+v", got)
		}
	})
	t.Run("RefusedByStore", func(t *testing.T) {
		// The store's size limit is met by the third event of a batch:
		// the two before it are imported, the line is named.
		s := memory.New(&memory.Options{MaxEventSize: 100})
		in := good("s", 0) + "\n" + good("s", 1) + "\n" +
			strings.Replace(good("s", 2), `{"n":2}`, `"`+strings.Repeat("x", 200)+`"`, 1) + "\n" + good("s", 3) + "\n"
		res, err := archive.Import(context.Background(), s, strings.NewReader(in), nil)
		if !errors.Is(err, chronicle.ErrEventTooLarge) || !strings.HasPrefix(err.Error(), "line 3: ") {
			t.Fatalf("error = %v, want ErrEventTooLarge at line 3", err)
		}
		if res.Lines != 2 || len(readAll(t, s)) != 2 {
			t.Fatalf("ImportResult = %+v, store holds %d events; want the 2 lines before", res, len(readAll(t, s)))
		}
	})
	t.Run("Tombstoned", func(t *testing.T) {
		s := newMemory(t)
		if _, err := s.Append(context.Background(), "gone", chronicle.NoStream, chronicle.EventData{Type: "T"}); err != nil {
			t.Fatal(err)
		}
		if err := s.Tombstone(context.Background(), "gone", chronicle.Any); err != nil {
			t.Fatal(err)
		}
		in := good("s", 0) + "\n" + good("gone", 0) + "\n"
		_, err := archive.Import(context.Background(), s, strings.NewReader(in), nil)
		if !errors.Is(err, chronicle.ErrStreamDeleted) || !strings.HasPrefix(err.Error(), "line 2: ") {
			t.Fatalf("error = %v, want ErrStreamDeleted at line 2", err)
		}
	})
	t.Run("RepeatedLine", func(t *testing.T) {
		// Two events of one append may not share an ID; Import takes the
		// repeat for an event already imported.
		s := newMemory(t)
		in := good("s", 0) + "\n" + good("s", 1) + "\n" + good("s", 1) + "\n" + good("s", 2) + "\n"
		res := mustImport(t, s, []byte(in), nil)
		if res != (archive.ImportResult{Lines: 4, Events: 4, Written: 3, Existing: 1}) || len(readAll(t, s)) != 3 {
			t.Fatalf("ImportResult = %+v, store holds %d events; want 3", res, len(readAll(t, s)))
		}
	})
	t.Run("ReadFails", func(t *testing.T) {
		// A read that fails in the middle of a line is the reader's
		// error, not a line cut short in the file.
		s := newMemory(t)
		second := good("s", 1)
		failed := errors.New("the disk is gone")
		in := io.MultiReader(strings.NewReader(good("s", 0)+"\n"+second[:len(second)/2]), iotest.ErrReader(failed))
		res, err := archive.Import(context.Background(), s, in, nil)
		var lerr *archive.LineError
		if !errors.Is(err, failed) || errors.As(err, &lerr) || !strings.Contains(err.Error(), "read line 2") {
			t.Fatalf("error = %v, want the read's error, at line 2, and no LineError", err)
		}
		if res != (archive.ImportResult{Lines: 1, Events: 1, Written: 1}) {
			t.Fatalf("ImportResult = %+v, want the line before the failed read", res)
		}
	})
	t.Run("CRLFAndBlankLines", func(t *testing.T) {
		s := newMemory(t)
		in := "\r\n" + good("s", 0) + "\r\n  \r\n" + good("s", 1) + "\r\n\r\n"
		res := mustImport(t, s, []byte(in), nil)
		if res != (archive.ImportResult{Lines: 5, Events: 2, Written: 2}) {
			t.Fatalf("ImportResult = %+v", res)
		}
	})
}

// fixedStore serves a fixed log, so that the golden file does not depend
// on the clock. Its other methods are not used.
type fixedStore struct {
	chronicle.Store
	log []chronicle.RecordedEvent
}

func (s fixedStore) ReadAll(context.Context, chronicle.ReadAllOptions) iter.Seq2[chronicle.RecordedEvent, error] {
	return func(yield func(chronicle.RecordedEvent, error) bool) {
		for _, e := range s.log {
			if !yield(e, nil) {
				return
			}
		}
	}
}

func TestGoldenFormat(t *testing.T) {
	at := time.Date(2025, 1, 2, 3, 4, 5, 123456000, time.FixedZone("CET", 3600))
	ev := func(stream string, rev, pos uint64, typ string, data []byte, meta chronicle.Metadata) chronicle.RecordedEvent {
		return chronicle.RecordedEvent{Stream: stream, Revision: rev, Position: pos, Type: typ, Data: data, Metadata: meta,
			ID: uuid.NewSHA1(uuid.NameSpaceURL, fmt.Appendf(nil, "%s/%d", stream, rev)), Recorded: at.Add(time.Duration(pos) * time.Second)}
	}
	log := []chronicle.RecordedEvent{
		ev("game-1", 0, 1, "GameStarted", []byte(`{"players":["ann","bob"],"html":"<b>&amp;</b>"}`),
			chronicle.Metadata{"$correlationId": "c-1", "b": "2", "a": "\"1\""}),
		ev("game-2", 0, 2, "Blob", []byte{0, 1, 2, 0xff}, nil),
		ev("game-1", 1, 3, "DiscDropped", []byte(`{"col": 3}`), chronicle.Metadata{}),
		ev("game-1", 2, 4, "Empty", nil, nil),
		ev("game-2", 1, 5, "Number", []byte(`42`), nil),
		ev("game-2", 2, 6, "Text", []byte("not json\n"), nil),
	}
	log[0].Recorded = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC) // zero fraction still has six digits
	got, _ := mustExport(t, fixedStore{log: log}, nil)
	golden := filepath.Join("testdata", "export.jsonl")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("export differs from %s (rerun with -update if the change is meant):\n%s", golden, got)
	}
	// And the golden file imports as the same events.
	s := newMemory(t)
	mustImport(t, s, want, nil)
	sameEvents(t, readAll(t, s), log)
}

// TestExportRefusesMetadataNotUTF8 checks that an event whose metadata is
// not valid UTF-8, which a store may hold from before appends refused it,
// stops the export with an error: encoding/json wrote U+FFFD in place of
// the other bytes, and the archive restored other metadata.
func TestExportRefusesMetadataNotUTF8(t *testing.T) {
	ev := func(rev uint64, meta chronicle.Metadata) chronicle.RecordedEvent {
		return chronicle.RecordedEvent{Stream: "s", Revision: rev, Position: rev + 1, ID: uuid.New(), Type: "T", Data: []byte(`{}`), Metadata: meta}
	}
	for name, meta := range map[string]chronicle.Metadata{
		"Value": {"token": "\xff\xfe raw bytes"},
		"Key":   {"k\xc3": "v"},
	} {
		t.Run(name, func(t *testing.T) {
			store := fixedStore{log: []chronicle.RecordedEvent{ev(0, nil), ev(1, meta)}}
			res, err := archive.Export(context.Background(), store, io.Discard, nil)
			if !errors.Is(err, chronicle.ErrInvalidEvent) || !strings.Contains(err.Error(), "UTF-8") {
				t.Fatalf("Export: %v, want an error matching ErrInvalidEvent that says UTF-8", err)
			}
			if res.Events != 1 {
				t.Fatalf("Export wrote %d events, want the 1 before the refused one", res.Events)
			}
		})
	}
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// TestImportWhereOnlyNewerEventsAre imports runs of events whose first
// ones the store does not hold but whose later ones it does: the store
// the archive came from, after a scavenge removed a stream's oldest
// events, and a store that got an archive of a stream's newest events
// before one of all of them. The runs were appended whole, as their first
// event was new, and the events the store held were written twice.
func TestImportWhereOnlyNewerEventsAre(t *testing.T) {
	ctx := context.Background()
	for name, open := range map[string]func(*testing.T) store{"Memory": newMemory, "SQLite": newSQLite} {
		t.Run(name, func(t *testing.T) {
			check := func(t *testing.T, s store, res archive.ImportResult) {
				t.Helper()
				seen := map[uuid.UUID]bool{}
				for _, e := range readAll(t, s) {
					if seen[e.ID] {
						t.Errorf("event %s is in the store twice (revision %d of %q)", e.ID, e.Revision, e.Stream)
					}
					seen[e.ID] = true
				}
				if res != (archive.ImportResult{Lines: 10, Events: 10, Written: 5, Existing: 5}) {
					t.Errorf("ImportResult = %+v, want 5 written and 5 existing", res)
				}
			}
			t.Run("RestoredAfterScavenge", func(t *testing.T) {
				s := open(t)
				seed(t, s, []string{"a"}, 10)
				file, _ := mustExport(t, s, nil)
				if err := s.SetStreamMetadata(ctx, "a", chronicle.StreamMetadata{TruncateBefore: 5}); err != nil {
					t.Fatal(err)
				}
				if _, err := s.(chronicle.Scavenger).Scavenge(ctx, nil); err != nil {
					t.Fatal(err)
				}
				check(t, s, mustImport(t, s, file, nil))
			})
			t.Run("NewestFirst", func(t *testing.T) {
				src, dst := newMemory(t), open(t)
				seed(t, src, []string{"a"}, 10)
				all, _ := mustExport(t, src, nil)
				newest, _ := mustExport(t, src, &archive.ExportOptions{From: 6})
				mustImport(t, dst, newest, nil)
				check(t, dst, mustImport(t, dst, all, nil))
			})
		})
	}
}

// TestMaxLineSizeIsTheLongestLine checks that a line of exactly
// MaxLineSize bytes, whatever ends it, is imported, and one byte more is
// refused: the limit took the line's end into account, and refused a
// line of MaxLineSize bytes as "longer than the limit".
func TestMaxLineSizeIsTheLongestLine(t *testing.T) {
	l := good("s", 0)
	for _, end := range []string{"", "\n", "\r\n"} {
		for _, limit := range []int{len(l), len(l) - 1} {
			res, err := archive.Import(context.Background(), newMemory(t), strings.NewReader(l+end), &archive.ImportOptions{MaxLineSize: limit})
			var lerr *archive.LineError
			switch {
			case limit == len(l) && (err != nil || res.Events != 1):
				t.Errorf("a line of %d bytes ending %q, limit %d: %+v, %v; want it imported", len(l), end, limit, res, err)
			case limit < len(l) && (!errors.As(err, &lerr) || lerr.Line != 1 || !strings.Contains(err.Error(), "longer than the limit")):
				t.Errorf("a line of %d bytes ending %q, limit %d: %v; want it refused as too long", len(l), end, limit, err)
			}
		}
	}
}

// TestExportStreamHiddenByRetention: a named stream whose events
// retention hides, every one, exports no line and no error, as its read
// shows it; an unwritten one is refused (TestExportStreams).
func TestExportStreamHiddenByRetention(t *testing.T) {
	ctx := context.Background()
	s := memory.New(nil)
	if _, err := s.Append(ctx, "a", chronicle.NoStream, chronicle.EventData{Type: "x", Data: []byte("{}")},
		chronicle.EventData{Type: "x", Data: []byte("{}")}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetStreamMetadata(ctx, "a", chronicle.StreamMetadata{TruncateBefore: 5}); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	res, err := archive.Export(ctx, s, &buf, &archive.ExportOptions{Streams: []string{"a"}})
	if err != nil || res.Events != 0 || buf.Len() != 0 {
		t.Errorf("Export of a stream whose events are all hidden = %+v, %v, %q; want no event, no error", res, err, buf.String())
	}
}
