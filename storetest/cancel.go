package storetest

import (
	"context"
	"errors"
	"iter"
	"slices"
	"testing"

	"github.com/chronicle-es/chronicle"
	"github.com/google/uuid"
)

// testCanceledContext: a call of an optional ability made with a context
// that has ended fails with an error matching the context's, and changes
// nothing, as an append does (Append/CanceledContext): a program that
// gives up on a delete must not find the stream deleted all the same.
func testCanceledContext(t *testing.T, newStore Factory) {
	ctx := context.Background()
	s := newStore(t)
	id := uuid.Must(uuid.NewV7())
	mustAppend(t, s, "s", chronicle.NoStream, chronicle.EventData{ID: id, Type: "E"}, event("E", 1), event("E", 2))
	ended, cancel := context.WithCancel(ctx)
	cancel()
	check := func(call string, err error) {
		t.Helper()
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s with an ended context: error = %v, want one matching context.Canceled", call, err)
		}
	}
	// A read with an ended context fails as such, whether or not its
	// stream exists: "not found" would tell a caller that gave up that
	// the stream has no events.
	first := func(seq iter.Seq2[chronicle.RecordedEvent, error]) error {
		for _, err := range seq {
			return err
		}
		return nil
	}
	check("ReadStream of an existing stream", first(s.ReadStream(ended, "s", chronicle.ReadStreamOptions{})))
	check("ReadStream of a missing stream", first(s.ReadStream(ended, "missing", chronicle.ReadStreamOptions{})))
	check("ReadStream backwards", first(s.ReadStream(ended, "s", chronicle.ReadStreamOptions{Backwards: true, From: chronicle.End})))
	check("ReadAll", first(s.ReadAll(ended, chronicle.ReadAllOptions{})))
	check("ReadAll backwards", first(s.ReadAll(ended, chronicle.ReadAllOptions{Backwards: true, From: chronicle.End})))
	check("ReadAll with a filter", first(s.ReadAll(ended, chronicle.ReadAllOptions{Filter: chronicle.Filter{Types: []string{"E"}}})))
	ss, snapshots := has[chronicle.SnapshotStore](s)
	snap := chronicle.Snapshot{Stream: "s", Revision: 1, Type: "T", Version: 1, Data: []byte("1")}
	if snapshots {
		if err := ss.SaveSnapshot(ctx, snap); err != nil {
			t.Fatal(err)
		}
		check("SaveSnapshot", ss.SaveSnapshot(ended, chronicle.Snapshot{Stream: "s", Revision: 2, Type: "T", Version: 1, Data: []byte("2")}))
		_, _, err := ss.LoadSnapshot(ended, "s")
		check("LoadSnapshot", err)
	}
	r, retention := has[chronicle.Retention](s)
	meta := chronicle.StreamMetadata{MaxCount: 2}
	if retention {
		if err := r.SetStreamMetadata(ctx, "s", meta); err != nil {
			t.Fatal(err)
		}
		check("SetStreamMetadata", r.SetStreamMetadata(ended, "s", chronicle.StreamMetadata{MaxCount: 1}))
		_, err := r.StreamMetadata(ended, "s")
		check("StreamMetadata", err)
	}
	if d, ok := has[chronicle.Deleter](s); ok {
		check("Delete", d.Delete(ended, "s", chronicle.Any))
		check("Tombstone", d.Tombstone(ended, "s", chronicle.Any))
	}
	if sc, ok := has[chronicle.Scavenger](s); ok {
		_, err := sc.Scavenge(ended, nil)
		check("Scavenge", err)
	}
	if f, ok := has[chronicle.EventFinder](s); ok {
		_, err := f.HasEvent(ended, "s", id)
		check("HasEvent", err)
	}
	if l, ok := has[chronicle.StreamLister](s); ok {
		_, err := l.ListStreams(ended, chronicle.ListStreamsOptions{})
		check("ListStreams", err)
		_, _, err = l.CountStreams(ended)
		check("CountStreams", err)
	}

	// Nothing changed: the stream is neither deleted nor scavenged, and
	// its metadata and snapshot are as they were.
	want := []uint64{0, 1, 2}
	if retention {
		want = []uint64{1, 2}
		if got, err := r.StreamMetadata(ctx, "s"); err != nil || got != meta {
			t.Errorf("after calls with an ended context, StreamMetadata = %+v, %v; want %+v", got, err, meta)
		}
	}
	if got := revisions(readStream(t, s, "s", chronicle.ReadStreamOptions{})); !slices.Equal(got, want) {
		t.Errorf("after calls with an ended context, the stream reads revisions %v, want %v", got, want)
	}
	if n := len(readAll(t, s, chronicle.ReadAllOptions{})); n != 3 {
		t.Errorf("after calls with an ended context, the log holds %d events, want 3", n)
	}
	if snapshots {
		if got, ok, err := ss.LoadSnapshot(ctx, "s"); err != nil || !ok || got.Revision != 1 || string(got.Data) != "1" {
			t.Errorf("after calls with an ended context, LoadSnapshot = %+v, %v, %v; want the snapshot at revision 1", got, ok, err)
		}
	}
}
