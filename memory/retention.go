package memory

import (
	"context"
	"fmt"
	"maps"
	"math"
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
	// restart is the revision from which the stream's latest soft delete
	// let it go on: what the delete hid, and, once the stream is written
	// again, the first revision of its new events. 0 without a delete.
	restart uint64
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
func (s *Store) SetStreamMetadata(ctx context.Context, stream string, m chronicle.StreamMetadata) error {
	if err := chronicle.ValidateStreamName(stream); err != nil {
		return err
	}
	if err := m.Validate(); err != nil {
		return fmt.Errorf("set metadata of %q: %w", stream, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("set metadata of %q: %w", stream, err)
	}
	// As the SQL stores keep them, in a signed 64-bit integer: larger
	// values hide no more, and every store reads back the same.
	m.MaxCount, m.TruncateBefore = min(m.MaxCount, math.MaxInt64), min(m.TruncateBefore, math.MaxInt64)
	s.mu.Lock()
	defer s.mu.Unlock()
	meta := s.meta[stream]
	switch meta.deleted {
	case tombstoned:
		return &chronicle.StreamDeletedError{Stream: stream}
	case softDeleted:
		// New metadata must not bring back what the delete hid.
		m.TruncateBefore = max(m.TruncateBefore, meta.restart)
	}
	meta.m = m
	s.meta[stream] = meta
	return nil
}

// StreamMetadata implements [chronicle.Retention].
func (s *Store) StreamMetadata(ctx context.Context, stream string) (chronicle.StreamMetadata, error) {
	if err := chronicle.ValidateStreamName(stream); err != nil {
		return chronicle.StreamMetadata{}, err
	}
	if err := ctx.Err(); err != nil {
		return chronicle.StreamMetadata{}, fmt.Errorf("read metadata of %q: %w", stream, err)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	meta := s.meta[stream]
	if meta.deleted == tombstoned {
		return meta.m, &chronicle.StreamDeletedError{Stream: stream}
	}
	return meta.m, nil
}

// Delete implements [chronicle.Deleter].
func (s *Store) Delete(ctx context.Context, stream string, expected chronicle.ExpectedRevision) error {
	return s.delete(ctx, stream, expected, softDeleted)
}

// Tombstone implements [chronicle.Deleter].
func (s *Store) Tombstone(ctx context.Context, stream string, expected chronicle.ExpectedRevision) error {
	return s.delete(ctx, stream, expected, tombstoned)
}

func (s *Store) delete(ctx context.Context, stream string, expected chronicle.ExpectedRevision, how int) error {
	if err := chronicle.ValidateStreamName(stream); err != nil {
		return err
	}
	op := "delete"
	if how == tombstoned {
		op = "tombstone"
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s %q: %w", op, stream, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	meta := s.meta[stream]
	st := s.state(stream)
	switch {
	case meta.deleted == tombstoned:
		return &chronicle.StreamDeletedError{Stream: stream}
	case !expected.Matches(st):
		return &chronicle.WrongExpectedRevisionError{Op: op, Stream: stream, Expected: expected, Actual: st.Actual()}
	case !st.Exists && how == softDeleted:
		return &chronicle.StreamNotFoundError{Stream: stream}
	}
	// The delete hides everything up to the last revision, and never
	// reveals what the metadata hid past it.
	next := uint64(len(s.streams[stream]))
	meta.m.TruncateBefore = max(meta.m.TruncateBefore, next)
	meta.deleted = how
	if how == softDeleted {
		meta.restart = next
	}
	s.meta[stream] = meta
	delete(s.snapshots, stream)
	return nil
}

// Scavenge implements [chronicle.Scavenger]. It removes the hidden events
// from a copy of the log, so that readers that hold the old one are not
// disturbed, and swaps it in when it returns. It takes the store's lock
// one stream at a time and lets it go to report progress, so that the
// progress function may use the store: appends made meanwhile join the
// copy before it is swapped in. Scavenges that run at once, one started
// by the progress function of another say, share the copy (s.next), so
// that none brings back what another removed, none waits for another,
// and each event removed is counted by one of them.
func (s *Store) Scavenge(ctx context.Context, progress func(chronicle.ScavengeProgress)) (chronicle.ScavengeProgress, error) {
	if err := ctx.Err(); err != nil {
		return chronicle.ScavengeProgress{}, fmt.Errorf("scavenge: %w", err)
	}
	s.mu.Lock()
	streams := slices.Collect(maps.Keys(s.meta))
	if s.scavenges == 0 {
		s.next = slices.Clone(s.log)
	}
	s.scavenges++
	s.mu.Unlock()
	// Swap in what was removed, also when ctx ends or progress panics:
	// p, or the progress reported, counts it removed, and the next
	// scavenge goes on from there.
	defer s.swapLog()
	p := chronicle.ScavengeProgress{Total: len(streams)}
	for _, stream := range streams {
		if err := ctx.Err(); err != nil {
			return p, err
		}
		s.mu.Lock()
		s.catchUp()
		p.Removed += s.scavengeStream(s.next, stream, time.Now())
		s.mu.Unlock()
		p.Done++
		if progress != nil {
			progress(p)
		}
	}
	return p, nil
}

// catchUp adds to s.next, the copy of s.log that the scavenges under way
// remove events from, the events appended to s.log since the copy was
// made. Only the scavenges change events, in s.next, which replaces
// s.log whole, so the rest of the two is alike. The caller holds s.mu.
func (s *Store) catchUp() {
	s.next = append(s.next, s.log[len(s.next):]...)
}

// swapLog makes s.next, as the scavenges under way have left it so far,
// the store's log, as a scavenge returns. Readers may hold the log
// swapped in, which must not change any more: the scavenges still under
// way go on with a copy of it.
func (s *Store) swapLog() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.catchUp()
	s.log = s.next
	s.next = nil
	if s.scavenges--; s.scavenges > 0 {
		s.next = slices.Clone(s.log)
	}
}

// scavengeStream removes from log the events of stream that its
// metadata, or a delete, hides at now, and returns how many it removed.
// The caller holds s.mu.
func (s *Store) scavengeStream(log []chronicle.RecordedEvent, stream string, now time.Time) uint64 {
	meta := s.meta[stream]
	positions := s.streams[stream]
	last := uint64(len(positions)) - 1
	var n uint64
	for rev, pos := range positions {
		e := &log[pos-1]
		if removed(*e) {
			continue
		}
		if meta.deleted != notDeleted || !meta.m.Visible(uint64(rev), last, e.Recorded, now) {
			*e = chronicle.RecordedEvent{Position: e.Position}
			n++
		}
	}
	return n
}
