package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/chronicle-es/chronicle"
	"github.com/google/uuid"
)

// testSnapshots runs when the store keeps snapshots.
func testSnapshots(t *testing.T, newStore Factory) {
	ctx := context.Background()
	// open returns a store whose streams s-1 and s have 21 events each:
	// a store keeps only the snapshot of an event that a read returns.
	open := func(t *testing.T) chronicle.SnapshotStore {
		s := newStore(t)
		ss, ok := has[chronicle.SnapshotStore](s)
		if !ok {
			t.Skip("the store does not implement chronicle.SnapshotStore")
		}
		for _, stream := range []string{"s-1", "s"} {
			mustAppend(t, s, stream, chronicle.NoStream, events("E", 21)...)
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
		// A loaded snapshot is the caller's too: a repository that
		// decodes into its bytes, or changes them, must not change what
		// the next load gets.
		got.Data[0] = 'y'
		if again, _, _ := ss.LoadSnapshot(ctx, "s"); string(again.Data) != "abc" {
			t.Fatalf("changing a loaded snapshot's data changed the stored snapshot: %q", again.Data)
		}
	})
	t.Run("InvalidStream", func(t *testing.T) {
		ss := open(t)
		err := ss.SaveSnapshot(ctx, chronicle.Snapshot{Stream: "", Type: "T"})
		wantErr(t, "SaveSnapshot with an empty stream", err, chronicle.ErrInvalidStreamName)
	})
	t.Run("HiddenRevision", func(t *testing.T) { testSnapshotOfHidden(t, newStore) })
	t.Run("RacingDelete", func(t *testing.T) { testSnapshotRacingDelete(t, newStore) })
}

// snapshotDeleterStore is a store that keeps snapshots, and whose
// streams can be deleted and have metadata.
type snapshotDeleterStore interface {
	deleterRetentionStore
	chronicle.SnapshotStore
}

const snapshotDeleterAbilities = "chronicle.SnapshotStore, chronicle.Deleter and chronicle.Retention"

// testSnapshotRacingDelete: a snapshot saved as a soft delete of its
// stream commits is either refused or dropped by the delete, never kept
// after it. On a SQL store, a delete that does not see a snapshot
// inserted but not yet committed would leave it.
func testSnapshotRacingDelete(t *testing.T, newStore Factory) {
	ctx := context.Background()
	s := openAs[snapshotDeleterStore](t, newStore, snapshotDeleterAbilities)
	outlived := 0
	for i := range 100 {
		stream := fmt.Sprintf("race-%d", i)
		mustAppend(t, s, stream, chronicle.NoStream, events("E", 2)...)
		var wg sync.WaitGroup
		var saveErr, deleteErr error
		wg.Go(func() {
			saveErr = s.SaveSnapshot(ctx, chronicle.Snapshot{Stream: stream, Revision: 1, Type: "T", Version: 1, Data: []byte("x")})
		})
		wg.Go(func() { deleteErr = s.Delete(ctx, stream, chronicle.Any) })
		wg.Wait()
		if deleteErr != nil {
			t.Fatal(deleteErr)
		}
		if saveErr != nil && !errors.Is(saveErr, chronicle.ErrStreamNotFound) {
			t.Fatalf("SaveSnapshot racing a delete: %v", saveErr)
		}
		if _, ok, err := s.LoadSnapshot(ctx, stream); err != nil {
			t.Fatal(err)
		} else if ok {
			outlived++
		}
	}
	if outlived > 0 {
		t.Fatalf("of 100 snapshots saved as their stream was deleted, %d outlived the delete", outlived)
	}
}

// testSnapshotOfHidden: a store keeps no snapshot of an event that a read
// does not return, as the SnapshotStore godoc says. Saved after a
// concurrent delete, such a snapshot would bring the deleted events back
// to the loads that start from it once the stream is written again.
func testSnapshotOfHidden(t *testing.T, newStore Factory) {
	ctx := context.Background()
	s := openAs[snapshotDeleterStore](t, newStore, snapshotDeleterAbilities)
	save := func(stream string, rev uint64) error {
		return s.SaveSnapshot(ctx, chronicle.Snapshot{Stream: stream, Revision: rev, Type: "T", Version: 1, Data: []byte{byte(rev)}})
	}
	// refused fails unless saving a snapshot of stream at rev is refused
	// with an error matching target that says so, and the stream's
	// snapshot is still the one at want (none if negative).
	refused := func(stream string, rev uint64, target error, want int, why string) {
		t.Helper()
		err := save(stream, rev)
		var notSaved *chronicle.SnapshotNotSavedError
		if !errors.Is(err, target) || !errors.As(err, &notSaved) || notSaved.Stream != stream || notSaved.Revision != rev ||
			!strings.Contains(err.Error(), "not saved") {
			t.Errorf("SaveSnapshot of %q at %d, %s: error = %v; want a SnapshotNotSavedError matching %v", stream, rev, why, err, target)
		}
		got, ok, err := s.LoadSnapshot(ctx, stream)
		switch {
		case err != nil:
			t.Errorf("LoadSnapshot(%q): %v", stream, err)
		case want < 0 && ok:
			t.Errorf("after a refused SaveSnapshot of %q at %d, %s, LoadSnapshot found one at %d; want none", stream, rev, why, got.Revision)
		case want >= 0 && (!ok || got.Revision != uint64(want) || got.Data[0] != byte(want)):
			t.Errorf("after a refused SaveSnapshot of %q at %d, %s, LoadSnapshot = %+v, %v; want the one at %d", stream, rev, why, got, ok, want)
		}
	}
	saved := func(stream string, rev uint64, why string) {
		t.Helper()
		if err := save(stream, rev); err != nil {
			t.Errorf("SaveSnapshot of %q at %d, %s: %v", stream, rev, why, err)
		}
	}
	setMeta := func(stream string, m chronicle.StreamMetadata) {
		t.Helper()
		if err := s.SetStreamMetadata(ctx, stream, m); err != nil {
			t.Fatal(err)
		}
	}

	refused("never", 0, chronicle.ErrStreamNotFound, -1, "a stream without events")
	mustAppend(t, s, "short", chronicle.NoStream, events("E", 2)...)
	refused("short", 2, chronicle.ErrStreamNotFound, -1, "past the stream's end")

	// Soft-deleted: the delete hides revisions 0-2, and drops the
	// snapshot; written again, the stream shows revision 3 on.
	mustAppend(t, s, "deleted", chronicle.NoStream, events("E", 3)...)
	saved("deleted", 1, "before the delete")
	if err := s.Delete(ctx, "deleted", chronicle.Any); err != nil {
		t.Fatal(err)
	}
	refused("deleted", 2, chronicle.ErrStreamNotFound, -1, "after a soft delete")
	mustAppend(t, s, "deleted", chronicle.Any, event("E", 3))
	refused("deleted", 2, chronicle.ErrStreamNotFound, -1, "hidden by a soft delete, with the stream written again")
	saved("deleted", 3, "written after the soft delete")

	// Pruned: a snapshot, then the events up to it hidden. The snapshot
	// stays; one of a hidden event is refused, one of a visible one kept.
	mustAppend(t, s, "truncated", chronicle.NoStream, events("E", 5)...)
	saved("truncated", 1, "before the truncation")
	setMeta("truncated", chronicle.StreamMetadata{TruncateBefore: 3})
	refused("truncated", 2, chronicle.ErrStreamNotFound, 1, "hidden by TruncateBefore")
	saved("truncated", 3, "at TruncateBefore")

	mustAppend(t, s, "capped", chronicle.NoStream, events("E", 5)...)
	setMeta("capped", chronicle.StreamMetadata{MaxCount: 2})
	refused("capped", 2, chronicle.ErrStreamNotFound, -1, "hidden by MaxCount")
	saved("capped", 4, "the stream's last event, under MaxCount")

	mustAppend(t, s, "tombstoned", chronicle.NoStream, events("E", 2)...)
	if err := s.Tombstone(ctx, "tombstoned", chronicle.Any); err != nil {
		t.Fatal(err)
	}
	refused("tombstoned", 1, chronicle.ErrStreamDeleted, -1, "after a tombstone")
}

// testEventFinder runs when the store can look events up by ID.
func testEventFinder(t *testing.T, newStore Factory) {
	s := newStore(t)
	f, ok := has[chronicle.EventFinder](s)
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
	f, isFinder := has[chronicle.EventFinder](s)
	r, hasRetention := has[chronicle.Retention](s)
	if !isFinder || !hasRetention {
		t.Skip("the store does not implement chronicle.EventFinder and Retention")
	}
	// A store without Deleter is checked on the truncated stream alone.
	d, canDelete := has[chronicle.Deleter](s)
	truncated, deleted := uuid.Must(uuid.NewV7()), uuid.Must(uuid.NewV7())
	mustAppend(t, s, "truncated", chronicle.NoStream, chronicle.EventData{ID: truncated, Type: "E"}, event("E", 1))
	if err := r.SetStreamMetadata(ctx, "truncated", chronicle.StreamMetadata{TruncateBefore: 1}); err != nil {
		t.Fatal(err)
	}
	if canDelete {
		mustAppend(t, s, "deleted", chronicle.NoStream, chronicle.EventData{ID: deleted, Type: "E"})
		if err := d.Delete(ctx, "deleted", chronicle.Any); err != nil {
			t.Fatal(err)
		}
	}
	find := func(stream string, id uuid.UUID, want bool, when string) {
		t.Helper()
		if stream == "deleted" && !canDelete {
			return
		}
		if got, err := f.HasEvent(ctx, stream, id); err != nil || got != want {
			t.Errorf("%s, HasEvent(%q) = %v, %v; want %v", when, stream, got, err, want)
		}
	}
	find("truncated", truncated, true, "with the event hidden by TruncateBefore")
	find("deleted", deleted, true, "with the event hidden by a soft delete")
	sc, ok := has[chronicle.Scavenger](s)
	if !ok {
		return
	}
	if _, err := sc.Scavenge(ctx, nil); err != nil {
		t.Fatal(err)
	}
	find("truncated", truncated, false, "after a scavenge")
	find("deleted", deleted, false, "after a scavenge")
}
