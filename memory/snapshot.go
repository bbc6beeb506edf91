package memory

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/chronicle-es/chronicle"
	"github.com/google/uuid"
)

var (
	_ chronicle.SnapshotStore = (*Store)(nil)
	_ chronicle.EventFinder   = (*Store)(nil)
)

// SaveSnapshot implements [chronicle.SnapshotStore].
func (s *Store) SaveSnapshot(ctx context.Context, snap chronicle.Snapshot) error {
	if err := chronicle.ValidateStreamName(snap.Stream); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("save snapshot of %q: %w", snap.Stream, err)
	}
	snap.Data = bytes.Clone(snap.Data)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.snapshotRefusal(snap.Stream, snap.Revision); err != nil {
		return err
	}
	if old, ok := s.snapshots[snap.Stream]; ok && old.Revision > snap.Revision {
		return nil
	}
	s.snapshots[snap.Stream] = snap
	return nil
}

// snapshotRefusal returns why a snapshot of stream at rev may not be
// kept: a read of the stream does not return the event at rev. Callers
// hold s.mu.
func (s *Store) snapshotRefusal(stream string, rev uint64) error {
	positions, meta := s.streams[stream], s.meta[stream]
	refusal := &chronicle.SnapshotNotSavedError{Stream: stream, Revision: rev, Tombstoned: meta.deleted == tombstoned}
	if meta.deleted != notDeleted || rev >= uint64(len(positions)) {
		return refusal
	}
	e := s.log[positions[rev]-1]
	if removed(e) || !meta.m.Visible(rev, uint64(len(positions)-1), e.Recorded, time.Now()) {
		return refusal
	}
	return nil
}

// LoadSnapshot implements [chronicle.SnapshotStore].
func (s *Store) LoadSnapshot(ctx context.Context, stream string) (chronicle.Snapshot, bool, error) {
	if err := chronicle.ValidateStreamName(stream); err != nil {
		return chronicle.Snapshot{}, false, err
	}
	if err := ctx.Err(); err != nil {
		return chronicle.Snapshot{}, false, fmt.Errorf("load snapshot of %q: %w", stream, err)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	snap, ok := s.snapshots[stream]
	snap.Data = bytes.Clone(snap.Data)
	return snap, ok, nil
}

// HasEvent implements [chronicle.EventFinder].
func (s *Store) HasEvent(ctx context.Context, stream string, id uuid.UUID) (bool, error) {
	if err := chronicle.ValidateStreamName(stream); err != nil {
		return false, err
	}
	if err := ctx.Err(); err != nil {
		return false, fmt.Errorf("find event %s in %q: %w", id, stream, err)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, found, err := streamView{s, s.streams[stream]}.Find(id)
	return found, err
}
