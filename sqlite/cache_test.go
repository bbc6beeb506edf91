package sqlite_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/sqlite"
)

// The stream cache (see "Streams in memory" in the package doc) must
// return exactly what the file holds. These tests compare a store's reads
// of the streams it created with those of a second store on the same
// file, which created none and so reads the file.

// readStream reads all of a stream, or the error that ends the read.
func readStream(s chronicle.Store, stream string, opts chronicle.ReadStreamOptions) ([]chronicle.RecordedEvent, error) {
	var out []chronicle.RecordedEvent
	for e, err := range s.ReadStream(context.Background(), stream, opts) {
		if err != nil {
			return out, err
		}
		out = append(out, e)
	}
	return out, nil
}

// sameAsFile fails unless s reads stream with opts as file does.
func sameAsFile(t *testing.T, s, file chronicle.Store, stream string, opts chronicle.ReadStreamOptions) {
	t.Helper()
	got, gotErr := readStream(s, stream, opts)
	want, wantErr := readStream(file, stream, opts)
	if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
		t.Fatalf("read %s %+v: error %v, the file says %v", stream, opts, gotErr, wantErr)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("read %s %+v:\n got %v\nfile %v", stream, opts, got, want)
	}
}

// twoStores opens two stores on one new file: the one under test, and one
// that reads the file.
func twoStores(t *testing.T) (s, file *sqlite.Store) {
	path := filepath.Join(t.TempDir(), "events.db")
	return mustOpenPath(t, path), mustOpenPath(t, path)
}

func TestStreamCacheReads(t *testing.T) {
	ctx := context.Background()
	s, file := twoStores(t)
	for i := range 5 {
		evs := make([]chronicle.EventData, i+1)
		for j := range evs {
			evs[j] = chronicle.EventData{Type: "E", Data: fmt.Appendf(nil, `{"n":%d}`, j)}
			if j%2 == 1 {
				evs[j].Metadata = chronicle.Metadata{"k": fmt.Sprint(j)}
			}
			if j == 2 {
				evs[j].Data = nil
			}
		}
		if _, err := s.Append(ctx, "a", chronicle.Any, evs...); err != nil {
			t.Fatal(err)
		}
	}
	for _, opts := range []chronicle.ReadStreamOptions{
		{}, {From: 3}, {From: 14}, {From: 15}, {From: 100}, {Limit: 1}, {From: 4, Limit: 5}, {From: 10, Limit: 100},
		{Backwards: true, From: chronicle.End}, {Backwards: true, From: 14}, {Backwards: true, From: 0},
		{Backwards: true, From: 7, Limit: 3}, {Backwards: true, From: chronicle.End, Limit: 1},
	} {
		sameAsFile(t, s, file, "a", opts)
	}

	// Each read gets its own copy.
	evs, err := readStream(s, "a", chronicle.ReadStreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	evs[0].Data[0] = 'X'
	for _, e := range evs {
		if e.Metadata != nil {
			e.Metadata["k"] = "changed"
		}
	}
	sameAsFile(t, s, file, "a", chronicle.ReadStreamOptions{})
	// The events of one read share a buffer: appending to one event's
	// data leaves the next event's alone.
	next := string(evs[1].Data)
	_ = append(evs[0].Data, "overflow"...)
	if string(evs[1].Data) != next {
		t.Errorf("appending to the first event's data changed the second's: %q, want %q", evs[1].Data, next)
	}
}

// TestStreamCacheReadKeepsLittle: the events of a read from memory share
// one allocation only when their data is small, so that a caller that
// keeps one event of a large read does not keep the others' data.
func TestStreamCacheReadKeepsLittle(t *testing.T) {
	ctx := context.Background()
	s, file := twoStores(t)
	for _, c := range []struct {
		stream string
		size   int  // of each event's data: not a size class, so that separate allocations are not adjacent
		shared bool // whether the read's events may share one allocation
	}{{"small", 100, true}, {"large", 1000, false}} {
		evs := make([]chronicle.EventData, 10)
		for i := range evs {
			evs[i] = chronicle.EventData{Type: "E", Data: bytes.Repeat([]byte{'a' + byte(i)}, c.size)}
		}
		if _, err := s.Append(ctx, c.stream, chronicle.NoStream, evs...); err != nil {
			t.Fatal(err)
		}
		sameAsFile(t, s, file, c.stream, chronicle.ReadStreamOptions{})
		got, err := readStream(s, c.stream, chronicle.ReadStreamOptions{})
		if err != nil {
			t.Fatal(err)
		}
		adjacent := 0
		for i := 1; i < len(got); i++ {
			prev := got[i-1].Data
			if uintptr(unsafe.Pointer(unsafe.SliceData(prev)))+uintptr(len(prev)) == uintptr(unsafe.Pointer(unsafe.SliceData(got[i].Data))) {
				adjacent++
			}
		}
		if !c.shared && adjacent > 0 {
			t.Errorf("%s: %d events' data share an allocation with the one before, want none", c.stream, adjacent)
		}
		if c.shared && adjacent != len(got)-1 {
			t.Errorf("%s: %d of %d events' data follow the one before in one allocation, want all", c.stream, adjacent, len(got)-1)
		}
	}
}

// TestStreamCacheOtherWriters: what another process (or another store in
// this one, or SQL of the application's) commits is seen by the next
// read, whatever the stream cache held.
func TestStreamCacheOtherWriters(t *testing.T) {
	ctx := context.Background()
	s, file := twoStores(t)
	appendN(t, s, "a", 3)
	appendN(t, s, "b", 3)
	sameAsFile(t, s, file, "a", chronicle.ReadStreamOptions{})

	// Another store appends.
	if _, err := file.Append(ctx, "a", chronicle.Exact(2), chronicle.EventData{Type: "Elsewhere"}); err != nil {
		t.Fatal(err)
	}
	sameAsFile(t, s, file, "a", chronicle.ReadStreamOptions{})
	// This store appends again; its reads still match the file.
	appendN(t, s, "a", 1)
	appendN(t, s, "b", 1)
	sameAsFile(t, s, file, "a", chronicle.ReadStreamOptions{})
	sameAsFile(t, s, file, "b", chronicle.ReadStreamOptions{})

	// A stream created elsewhere and appended to here.
	appendN(t, file, "c", 2)
	appendN(t, s, "c", 2)
	sameAsFile(t, s, file, "c", chronicle.ReadStreamOptions{})

	// The application's own SQL, in this store's Update.
	appendN(t, s, "d", 3)
	sameAsFile(t, s, file, "d", chronicle.ReadStreamOptions{})
	if err := s.Update(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec("UPDATE events SET data = '{\"changed\":true}' WHERE stream = 'd' AND revision = 1")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	sameAsFile(t, s, file, "d", chronicle.ReadStreamOptions{})
	if got, _ := readStream(s, "d", chronicle.ReadStreamOptions{From: 1, Limit: 1}); len(got) != 1 || string(got[0].Data) != `{"changed":true}` {
		t.Fatalf("after an Update, read %v", got)
	}
}

// TestStreamCacheRetention: metadata and deletion hide events at once.
func TestStreamCacheRetention(t *testing.T) {
	ctx := context.Background()
	s, file := twoStores(t)
	all := chronicle.ReadStreamOptions{}
	for _, tt := range []struct {
		name   string
		change func(stream string) error
	}{
		{"max count", func(stream string) error {
			return s.SetStreamMetadata(ctx, stream, chronicle.StreamMetadata{MaxCount: 2})
		}},
		{"truncate", func(stream string) error {
			return s.SetStreamMetadata(ctx, stream, chronicle.StreamMetadata{TruncateBefore: 3})
		}},
		{"delete", func(stream string) error { return s.Delete(ctx, stream, chronicle.Any) }},
		{"tombstone", func(stream string) error { return s.Tombstone(ctx, stream, chronicle.Any) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			stream := "r-" + tt.name
			appendN(t, s, stream, 5)
			sameAsFile(t, s, file, stream, all)
			if err := tt.change(stream); err != nil {
				t.Fatal(err)
			}
			sameAsFile(t, s, file, stream, all)
			if _, err := s.Append(ctx, stream, chronicle.Any, chronicle.EventData{Type: "After"}); err != nil && !errors.Is(err, chronicle.ErrStreamDeleted) {
				t.Fatal(err)
			}
			sameAsFile(t, s, file, stream, all)
			sameAsFile(t, s, file, stream, chronicle.ReadStreamOptions{Backwards: true, From: chronicle.End})
		})
	}

	// Metadata set before the stream's first event.
	for _, m := range []chronicle.StreamMetadata{{MaxCount: 1}, {TruncateBefore: 2}, {MaxAge: time.Microsecond}} {
		stream := fmt.Sprintf("pre-%+v", m)
		if err := s.SetStreamMetadata(ctx, stream, m); err != nil {
			t.Fatal(err)
		}
		appendN(t, s, stream, 3)
		time.Sleep(time.Millisecond) // older than the max age
		sameAsFile(t, s, file, stream, all)
	}
}

// TestStreamCacheReadYourWrites: a read through this store, started after
// an append through another store on the same file returned, sees it,
// while this store's own appends and reads of the same streams go on.
// Each goroutine works on streams that this store creates, so that they
// are in its cache until the other store writes to them.
func TestStreamCacheReadYourWrites(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "events.db")
	opts := &sqlite.Options{Durability: sqlite.Relaxed}
	s, err := sqlite.Open(ctx, path, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	other, err := sqlite.Open(ctx, path, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()

	const workers, streams, rounds = 8, 6, 12
	var wg sync.WaitGroup
	var failed atomic.Value
	fail := func(err error) { failed.CompareAndSwap(nil, err) }
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for k := range streams {
				stream := fmt.Sprintf("w%d-%d", w, k)
				n := 0 // events appended that returned
				for r := range rounds {
					by := s
					if r > 0 && rng.IntN(4) == 0 {
						by = other
					}
					expected := chronicle.NoStream
					if n > 0 {
						expected = chronicle.Exact(uint64(n - 1))
					}
					if _, err := by.Append(ctx, stream, expected, chronicle.EventData{Type: "E"}); err != nil {
						fail(fmt.Errorf("%s round %d: %w", stream, r, err))
						return
					}
					n++
					got, err := readStream(s, stream, chronicle.ReadStreamOptions{})
					if err != nil {
						fail(err)
						return
					}
					if len(got) != n {
						fail(fmt.Errorf("%s: after %d appends (the last by the other store: %v), a read found %d events", stream, n, by == other, len(got)))
						return
					}
				}
			}
		})
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		t.Fatal(err)
	}
}
