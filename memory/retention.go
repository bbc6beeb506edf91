package memory

import (
	"context"
	"slices"
	"time"

	"github.com/chronicle-es/chronicle"
)

var (
	_ chronicle.Retention = (*Store)(nil)
	_ chronicle.Deleter   = (*Store)(nil)
	_ chronicle.Scavenger = (*Store)(nil)
)

// streamMeta is what the store keeps of a stream with metadata, or deleted.
type streamMeta struct {
	m       chronicle.StreamMetadata
	deleted int
}

const (
	notDeleted = iota
	softDeleted
	tombstoned
)

// removed reports whether a scavenge took e out of the log. Removed
// entries keep their place, so that positions never move.
func removed(e chronicle.RecordedEvent) bool { return e.Stream == "" }

// state returns a stream's state for the append rules. Callers hold s.mu.
func (s *Store) state(stream string) chronicle.StreamState {
	n := len(s.streams[stream])
	if n == 0 || s.meta[stream].deleted != notDeleted {
		return chronicle.StreamState{}
	}
	return chronicle.StreamState{Exists: true, LastRevision: uint64(n - 1)}
}

// SetStreamMetadata implements [chronicle.Retention].
func (s *Store) SetStreamMetadata(_ context.Context, stream string, m chronicle.StreamMetadata) error {
	if err := chronicle.ValidateStreamName(stream); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	meta := s.meta[stream]
	switch meta.deleted {
	case tombstoned:
		return &chronicle.StreamDeletedError{Stream: stream}
	case softDeleted:
		// New metadata must not bring back what the delete hid.
		m.TruncateBefore = max(m.TruncateBefore, meta.m.TruncateBefore)
	}
	meta.m = m
	s.meta[stream] = meta
	return nil
}

// StreamMetadata implements [chronicle.Retention].
func (s *Store) StreamMetadata(_ context.Context, stream string) (chronicle.StreamMetadata, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	meta := s.meta[stream]
	if meta.deleted == tombstoned {
		return meta.m, &chronicle.StreamDeletedError{Stream: stream}
	}
	return meta.m, nil
}

// Delete implements [chronicle.Deleter].
func (s *Store) Delete(_ context.Context, stream string, expected chronicle.ExpectedRevision) error {
	return s.delete(stream, expected, softDeleted)
}

// Tombstone implements [chronicle.Deleter].
func (s *Store) Tombstone(_ context.Context, stream string, expected chronicle.ExpectedRevision) error {
	return s.delete(stream, expected, tombstoned)
}

func (s *Store) delete(stream string, expected chronicle.ExpectedRevision, how int) error {
	if err := chronicle.ValidateStreamName(stream); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	meta := s.meta[stream]
	st := s.state(stream)
	switch {
	case meta.deleted == tombstoned:
		return &chronicle.StreamDeletedError{Stream: stream}
	case !expected.Matches(st):
		op := "delete"
		if how == tombstoned {
			op = "tombstone"
		}
		return &chronicle.WrongExpectedRevisionError{Op: op, Stream: stream, Expected: expected, Actual: st.Actual()}
	case !st.Exists && how == softDeleted:
		return &chronicle.StreamNotFoundError{Stream: stream}
	}
	meta.m.TruncateBefore = uint64(len(s.streams[stream]))
	meta.deleted = how
	s.meta[stream] = meta
	delete(s.snapshots, stream)
	return nil
}

// Scavenge implements [chronicle.Scavenger]. It builds a new log without
// the hidden events, so that readers that hold the old one are not
// disturbed, and swaps it in.
func (s *Store) Scavenge(ctx context.Context, progress func(chronicle.ScavengeProgress)) (chronicle.ScavengeProgress, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := chronicle.ScavengeProgress{Total: len(s.meta)}
	log := slices.Clone(s.log)
	now := time.Now()
	for stream, meta := range s.meta {
		if err := ctx.Err(); err != nil {
			// Keep what the streams done so far removed: p reports it
			// removed, and the next scavenge goes on from there.
			s.log = log
			return p, err
		}
		positions := s.streams[stream]
		last := uint64(len(positions)) - 1
		for rev, pos := range positions {
			e := &log[pos-1]
			if removed(*e) {
				continue
			}
			if meta.deleted != notDeleted || !meta.m.Visible(uint64(rev), last, e.Recorded, now) {
				*e = chronicle.RecordedEvent{Position: e.Position}
				p.Removed++
			}
		}
		p.Done++
		if progress != nil {
			progress(p)
		}
	}
	s.log = log
	return p, nil
}
