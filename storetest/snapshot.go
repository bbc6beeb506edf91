package storetest

import (
	"context"
	"testing"

	"github.com/chronicle-es/chronicle"
	"github.com/google/uuid"
)

// testSnapshots runs when the store keeps snapshots.
func testSnapshots(t *testing.T, newStore Factory) {
	ctx := context.Background()
	open := func(t *testing.T) chronicle.SnapshotStore {
		ss, ok := newStore(t).(chronicle.SnapshotStore)
		if !ok {
			t.Skip("the store does not implement chronicle.SnapshotStore")
		}
		return ss
	}
	t.Run("SaveLoad", func(t *testing.T) {
		ss := open(t)
		if _, ok, err := ss.LoadSnapshot(ctx, "s-1"); ok || err != nil {
			t.Fatalf("LoadSnapshot of a stream without one = %v, %v; want false, nil", ok, err)
		}
		want := chronicle.Snapshot{Stream: "s-1", Revision: 9, Type: "T", Version: 2, Data: []byte(`{"n":9}`)}
		if err := ss.SaveSnapshot(ctx, want); err != nil {
			t.Fatal(err)
		}
		got, ok, err := ss.LoadSnapshot(ctx, "s-1")
		if err != nil || !ok || got.Stream != want.Stream || got.Revision != 9 || got.Type != "T" || got.Version != 2 || string(got.Data) != `{"n":9}` {
			t.Fatalf("LoadSnapshot = %+v, %v, %v; want %+v", got, ok, err, want)
		}
	})
	t.Run("NewestWins", func(t *testing.T) {
		ss := open(t)
		for _, rev := range []uint64{5, 20, 10} {
			if err := ss.SaveSnapshot(ctx, chronicle.Snapshot{Stream: "s", Revision: rev, Type: "T", Version: 1, Data: []byte{byte(rev)}}); err != nil {
				t.Fatal(err)
			}
		}
		got, _, _ := ss.LoadSnapshot(ctx, "s")
		if got.Revision != 20 || got.Data[0] != 20 {
			t.Fatalf("after saving revisions 5, 20 and 10, the snapshot is at %d, want 20", got.Revision)
		}
		// A new version at the same revision replaces the old one.
		if err := ss.SaveSnapshot(ctx, chronicle.Snapshot{Stream: "s", Revision: 20, Type: "T", Version: 2, Data: []byte{1}}); err != nil {
			t.Fatal(err)
		}
		if got, _, _ := ss.LoadSnapshot(ctx, "s"); got.Version != 2 {
			t.Fatalf("snapshot version = %d after saving version 2 at the same revision", got.Version)
		}
	})
	t.Run("DataIsCopied", func(t *testing.T) {
		ss := open(t)
		data := []byte("abc")
		if err := ss.SaveSnapshot(ctx, chronicle.Snapshot{Stream: "s", Type: "T", Data: data}); err != nil {
			t.Fatal(err)
		}
		data[0] = 'x'
		got, _, _ := ss.LoadSnapshot(ctx, "s")
		if string(got.Data) != "abc" {
			t.Fatalf("changing the saved slice changed the snapshot: %q", got.Data)
		}
	})
	t.Run("InvalidStream", func(t *testing.T) {
		ss := open(t)
		err := ss.SaveSnapshot(ctx, chronicle.Snapshot{Stream: "", Type: "T"})
		wantErr(t, "SaveSnapshot with an empty stream", err, chronicle.ErrInvalidStreamName)
	})
}

// testEventFinder runs when the store can look events up by ID.
func testEventFinder(t *testing.T, newStore Factory) {
	s := newStore(t)
	f, ok := s.(chronicle.EventFinder)
	if !ok {
		t.Skip("the store does not implement chronicle.EventFinder")
	}
	id := uuid.Must(uuid.NewV7())
	mustAppend(t, s, "a", chronicle.NoStream, event("E", 0), chronicle.EventData{ID: id, Type: "E"})
	for _, tt := range []struct {
		stream string
		id     uuid.UUID
		want   bool
	}{{"a", id, true}, {"b", id, false}, {"a", uuid.Must(uuid.NewV7()), false}} {
		got, err := f.HasEvent(context.Background(), tt.stream, tt.id)
		if err != nil || got != tt.want {
			t.Fatalf("HasEvent(%q, %s) = %v, %v; want %v", tt.stream, tt.id, got, err, tt.want)
		}
	}
	t.Run("Hidden", func(t *testing.T) { testEventFinderHidden(t, newStore) })
}

// testEventFinderHidden: HasEvent finds the events that metadata or a
// soft delete hides from reads, until a scavenge removes them, as the
// EventFinder godoc says: Repository.HandleOnce relies on it to tell a
// command it has handled from a new one.
func testEventFinderHidden(t *testing.T, newStore Factory) {
	ctx := context.Background()
	s := newStore(t)
	f, isFinder := s.(chronicle.EventFinder)
	r, hasRetention := s.(chronicle.Retention)
	d, canDelete := s.(chronicle.Deleter)
	if !isFinder || !hasRetention || !canDelete {
		t.Skip("the store does not implement chronicle.EventFinder, Retention and Deleter")
	}
	truncated, deleted := uuid.Must(uuid.NewV7()), uuid.Must(uuid.NewV7())
	mustAppend(t, s, "truncated", chronicle.NoStream, chronicle.EventData{ID: truncated, Type: "E"}, event("E", 1))
	mustAppend(t, s, "deleted", chronicle.NoStream, chronicle.EventData{ID: deleted, Type: "E"})
	if err := r.SetStreamMetadata(ctx, "truncated", chronicle.StreamMetadata{TruncateBefore: 1}); err != nil {
		t.Fatal(err)
	}
	if err := d.Delete(ctx, "deleted", chronicle.Any); err != nil {
		t.Fatal(err)
	}
	find := func(stream string, id uuid.UUID, want bool, when string) {
		t.Helper()
		if got, err := f.HasEvent(ctx, stream, id); err != nil || got != want {
			t.Errorf("%s, HasEvent(%q) = %v, %v; want %v", when, stream, got, err, want)
		}
	}
	find("truncated", truncated, true, "with the event hidden by TruncateBefore")
	find("deleted", deleted, true, "with the event hidden by a soft delete")
	sc, ok := s.(chronicle.Scavenger)
	if !ok {
		return
	}
	if _, err := sc.Scavenge(ctx, nil); err != nil {
		t.Fatal(err)
	}
	find("truncated", truncated, false, "after a scavenge")
	find("deleted", deleted, false, "after a scavenge")
}
