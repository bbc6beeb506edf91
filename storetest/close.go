package storetest

import (
	"context"
	"errors"
	"io"
	"testing"

	"github.com/chronicle-es/chronicle"
	"github.com/google/uuid"
)

// testClose: once a store that is an [io.Closer] is closed, every call
// fails with an error matching [chronicle.ErrClosed], whatever abilities
// the store has, so that a program can tell a store shut down under it
// from a failing one; closing it again does no harm.
func testClose(t *testing.T, newStore Factory) {
	ctx := context.Background()
	s := newStore(t)
	c, ok := s.(io.Closer)
	if !ok {
		t.Skip("the store is not an io.Closer")
	}
	mustAppend(t, s, "s", chronicle.NoStream, events("E", 3)...)
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	check := func(call string, err error) {
		t.Helper()
		if !errors.Is(err, chronicle.ErrClosed) {
			t.Errorf("%s after Close: %v, want an error matching ErrClosed", call, err)
		}
	}
	firstErr := func(seq func(yield func(chronicle.RecordedEvent, error) bool)) error {
		_, err := collect(seq)
		return err
	}
	_, err := s.Append(ctx, "s", chronicle.Any, event("E", 9))
	check("Append", err)
	check("ReadStream", firstErr(s.ReadStream(ctx, "s", chronicle.ReadStreamOptions{})))
	check("ReadStream backwards", firstErr(s.ReadStream(ctx, "s", chronicle.ReadStreamOptions{Backwards: true, From: chronicle.End})))
	check("ReadAll", firstErr(s.ReadAll(ctx, chronicle.ReadAllOptions{})))
	check("ReadAll backwards", firstErr(s.ReadAll(ctx, chronicle.ReadAllOptions{Backwards: true, From: chronicle.End})))
	check("Subscribe", firstErr(s.Subscribe(ctx, chronicle.SubscribeOptions{})))
	if r, ok := s.(chronicle.Retention); ok {
		check("SetStreamMetadata", r.SetStreamMetadata(ctx, "s", chronicle.StreamMetadata{MaxCount: 1}))
		_, err := r.StreamMetadata(ctx, "s")
		check("StreamMetadata", err)
	}
	if d, ok := s.(chronicle.Deleter); ok {
		check("Delete", d.Delete(ctx, "s", chronicle.Any))
		check("Tombstone", d.Tombstone(ctx, "s", chronicle.Any))
	}
	if sc, ok := s.(chronicle.Scavenger); ok {
		_, err := sc.Scavenge(ctx, nil)
		check("Scavenge", err)
	}
	if ss, ok := s.(chronicle.SnapshotStore); ok {
		check("SaveSnapshot", ss.SaveSnapshot(ctx, chronicle.Snapshot{Stream: "s", Revision: 2, Type: "State", Version: 1, Data: []byte("{}")}))
		_, _, err := ss.LoadSnapshot(ctx, "s")
		check("LoadSnapshot", err)
	}
	if f, ok := s.(chronicle.EventFinder); ok {
		_, err := f.HasEvent(ctx, "s", uuid.New())
		check("HasEvent", err)
	}
	if l, ok := s.(chronicle.StreamLister); ok {
		_, err := l.ListStreams(ctx, chronicle.ListStreamsOptions{})
		check("ListStreams", err)
		_, _, err = l.CountStreams(ctx)
		check("CountStreams", err)
	}
	if err := c.Close(); err != nil && !errors.Is(err, chronicle.ErrClosed) {
		t.Errorf("a second Close: %v, want nil or an error matching ErrClosed", err)
	}
}
