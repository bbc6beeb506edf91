package memory

import (
	"bytes"
	"context"

	"github.com/chronicle-es/chronicle"
	"github.com/google/uuid"
)

var (
	_ chronicle.SnapshotStore = (*Store)(nil)
	_ chronicle.EventFinder   = (*Store)(nil)
)

// SaveSnapshot implements [chronicle.SnapshotStore].
func (s *Store) SaveSnapshot(_ context.Context, snap chronicle.Snapshot) error {
	if err := chronicle.ValidateStreamName(snap.Stream); err != nil {
		return err
	}
	snap.Data = bytes.Clone(snap.Data)
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.snapshots[snap.Stream]; ok && old.Revision > snap.Revision {
		return nil
	}
	s.snapshots[snap.Stream] = snap
	return nil
}

// LoadSnapshot implements [chronicle.SnapshotStore].
func (s *Store) LoadSnapshot(_ context.Context, stream string) (chronicle.Snapshot, bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	snap, ok := s.snapshots[stream]
	snap.Data = bytes.Clone(snap.Data)
	return snap, ok, nil
}

// HasEvent implements [chronicle.EventFinder].
func (s *Store) HasEvent(_ context.Context, stream string, id uuid.UUID) (bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, found, err := streamView{s, s.streams[stream]}.Find(id)
	return found, err
}
