package shred_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/memory"
	"github.com/chronicle-es/chronicle/shred"
	"github.com/chronicle-es/chronicle/sqlite"
	"github.com/chronicle-es/chronicle/storetest"
	"github.com/google/uuid"
)

// A guest book, whose state holds the personal values of its events: the
// names of those who signed it.
type (
	sign   struct{ Name string }
	signed struct {
		Name string `json:"name" chronicle:"personal"`
	}
	book struct{ Names []string }
)

func bookSchema(t testing.TB) *shred.Schema {
	t.Helper()
	s, err := shred.NewSchema(shred.Of[signed]("Signed"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func guestBook(store chronicle.Store) *chronicle.Repository[book, sign, signed] {
	d := chronicle.Decider[book, sign, signed]{
		Decide: func(_ book, c sign) ([]signed, error) { return []signed{{Name: c.Name}}, nil },
		Evolve: func(b book, e signed) book { return book{Names: append(b.Names[:len(b.Names):len(b.Names)], e.Name)} },
	}
	return chronicle.NewRepository(store, chronicle.MustCodec[signed](chronicle.JSON[signed]("Signed")), d, nil)
}

// plainStore hides every ability of its store but chronicle.Store.
type plainStore struct{ chronicle.Store }

// TestHandleOnceAfterDelete: a command delivered again after its stream
// was soft-deleted is found among the hidden events, through the
// shredding store as through the store beneath, and not run again.
func TestHandleOnceAfterDelete(t *testing.T) {
	ctx := context.Background()
	inner := memory.New(nil)
	repo := guestBook(shred.New(inner, shred.NewMemoryKeys(), bookSchema(t)))
	id := uuid.MustParse("0190a3e4-0000-7000-8000-0000000000d1")
	if _, err := repo.HandleOnce(ctx, "book-1", sign{Name: "Ann"}, id); err != nil {
		t.Fatal(err)
	}
	if err := inner.Delete(ctx, "book-1", chronicle.Any); err != nil {
		t.Fatal(err)
	}
	out, err := repo.HandleOnce(ctx, "book-1", sign{Name: "Ann"}, id)
	if err != nil || !out.Duplicate {
		t.Errorf("HandleOnce again after a delete = %+v, %v; want a duplicate", out, err)
	}
}

// TestAbilitiesOfTheStoreBeneath: a shredding store has the optional
// abilities of the store it wraps, which do what they do there, and over
// a store without them, each call fails with errors.ErrUnsupported.
func TestAbilitiesOfTheStoreBeneath(t *testing.T) {
	ctx := context.Background()
	inner := memory.New(nil)
	s := shred.New(inner, shred.NewMemoryKeys(), bookSchema(t))
	var store chronicle.Store = s
	res, err := s.Append(ctx, "book-1", chronicle.NoStream, jsonEvent(t, "Signed", signed{Name: "Ann"}))
	if err != nil {
		t.Fatal(err)
	}
	var id uuid.UUID
	for e, err := range inner.ReadStream(ctx, "book-1", chronicle.ReadStreamOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		id = e.ID
	}
	f, ok := store.(chronicle.EventFinder)
	if !ok {
		t.Fatal("not an EventFinder")
	}
	if found, err := f.HasEvent(ctx, "book-1", id); !found || err != nil {
		t.Errorf("HasEvent = %v, %v", found, err)
	}
	r, ok := store.(chronicle.Retention)
	if !ok {
		t.Fatal("not a Retention")
	}
	if err := r.SetStreamMetadata(ctx, "book-1", chronicle.StreamMetadata{MaxCount: 5}); err != nil {
		t.Fatal(err)
	}
	if m, err := inner.StreamMetadata(ctx, "book-1"); m.MaxCount != 5 || err != nil {
		t.Errorf("metadata beneath = %+v, %v", m, err)
	}
	if m, err := r.StreamMetadata(ctx, "book-1"); m.MaxCount != 5 || err != nil {
		t.Errorf("StreamMetadata = %+v, %v", m, err)
	}
	l, ok := store.(chronicle.StreamLister)
	if !ok {
		t.Fatal("not a StreamLister")
	}
	if infos, err := l.ListStreams(ctx, chronicle.ListStreamsOptions{}); len(infos) != 1 || infos[0].LastPosition != res.LastPosition || err != nil {
		t.Errorf("ListStreams = %+v, %v", infos, err)
	}
	if streams, events, err := l.CountStreams(ctx); streams != 1 || events != 1 || err != nil {
		t.Errorf("CountStreams = %d, %d, %v", streams, events, err)
	}
	d, ok := store.(chronicle.Deleter)
	if !ok {
		t.Fatal("not a Deleter")
	}
	if err := d.Delete(ctx, "book-1", chronicle.Exact(0)); err != nil {
		t.Fatal(err)
	}
	if err := d.Tombstone(ctx, "book-1", chronicle.Any); err != nil {
		t.Fatal(err)
	}
	if _, err := inner.Append(ctx, "book-1", chronicle.Any, chronicle.EventData{Type: "E"}); !errors.Is(err, chronicle.ErrStreamDeleted) {
		t.Errorf("append beneath after a tombstone = %v", err)
	}
	sc, ok := store.(chronicle.Scavenger)
	if !ok {
		t.Fatal("not a Scavenger")
	}
	if p, err := sc.Scavenge(ctx, nil); p.Removed != 1 || err != nil {
		t.Errorf("Scavenge = %+v, %v; want the event removed", p, err)
	}

	// Over a store without them.
	var plain chronicle.Store = shred.New(plainStore{memory.New(nil)}, shred.NewMemoryKeys(), bookSchema(t))
	for name, call := range map[string]func() error{
		"HasEvent": func() error { _, err := plain.(chronicle.EventFinder).HasEvent(ctx, "book-1", id); return err },
		"SetStreamMetadata": func() error {
			return plain.(chronicle.Retention).SetStreamMetadata(ctx, "book-1", chronicle.StreamMetadata{})
		},
		"StreamMetadata": func() error { _, err := plain.(chronicle.Retention).StreamMetadata(ctx, "book-1"); return err },
		"Delete":         func() error { return plain.(chronicle.Deleter).Delete(ctx, "book-1", chronicle.Any) },
		"Tombstone":      func() error { return plain.(chronicle.Deleter).Tombstone(ctx, "book-1", chronicle.Any) },
		"Scavenge":       func() error { _, err := plain.(chronicle.Scavenger).Scavenge(ctx, nil); return err },
		"ListStreams": func() error {
			_, err := plain.(chronicle.StreamLister).ListStreams(ctx, chronicle.ListStreamsOptions{})
			return err
		},
		"CountStreams": func() error { _, _, err := plain.(chronicle.StreamLister).CountStreams(ctx); return err },
		"SaveSnapshot": func() error {
			return plain.(chronicle.SnapshotStore).SaveSnapshot(ctx, chronicle.Snapshot{Stream: "book-1"})
		},
		"LoadSnapshot": func() error { _, _, err := plain.(chronicle.SnapshotStore).LoadSnapshot(ctx, "book-1"); return err },
	} {
		if err := call(); !errors.Is(err, errors.ErrUnsupported) {
			t.Errorf("%s over a store without it = %v, want errors.ErrUnsupported", name, err)
		}
	}
}

// TestConformance runs the stores' conformance suite over a shredding
// store, on the memory store and on the embedded one, and on a store
// without optional abilities, whose tests the suite skips. The suite's
// events hold no personal fields, and its schema names none: with one
// that does, SaveSnapshot refuses the snapshots, which the suite saves,
// of streams whose reads hide events (see TestSnapshotAfterHiddenEvents).
func TestConformance(t *testing.T) {
	t.Run("plain", func(t *testing.T) {
		storetest.Run(t, func(tb testing.TB) chronicle.Store {
			return shred.New(plainStore{memory.New(nil)}, shred.NewMemoryKeys(), noSchema(tb))
		})
	})
	t.Run("memory", func(t *testing.T) {
		storetest.Run(t, func(tb testing.TB) chronicle.Store {
			return shred.New(memory.New(nil), shred.NewMemoryKeys(), noSchema(tb))
		})
	})
	t.Run("sqlite", func(t *testing.T) {
		storetest.Run(t, func(tb testing.TB) chronicle.Store {
			s, err := sqlite.Open(context.Background(), filepath.Join(tb.TempDir(), "events.db"), &sqlite.Options{Durability: sqlite.Relaxed})
			if err != nil {
				tb.Fatal(err)
			}
			tb.Cleanup(func() { s.Close() })
			return shred.New(s, shred.NewSQLKeys(s), noSchema(tb))
		})
	})
}

// noSchema returns a schema that names no personal field.
func noSchema(t testing.TB) *shred.Schema {
	t.Helper()
	s, err := shred.NewSchema()
	if err != nil {
		t.Fatal(err)
	}
	return s
}
