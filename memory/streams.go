package memory

import (
	"context"
	"slices"
	"strings"

	"github.com/chronicle-es/chronicle"
)

var _ chronicle.StreamLister = (*Store)(nil)

// ListStreams implements [chronicle.StreamLister].
func (s *Store) ListStreams(ctx context.Context, opts chronicle.ListStreamsOptions) ([]chronicle.StreamInfo, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	var out []chronicle.StreamInfo
	for name, positions := range s.streams {
		e, ok := s.lastEvent(name, positions)
		if !ok || !strings.HasPrefix(name, opts.Prefix) || (opts.Category != "" && chronicle.Category(name) != opts.Category) {
			continue
		}
		last := positions[len(positions)-1]
		if opts.Before > 0 && last >= opts.Before {
			continue
		}
		out = append(out, chronicle.StreamInfo{Stream: name, LastRevision: uint64(len(positions) - 1), LastPosition: last, LastRecorded: e.Recorded})
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b chronicle.StreamInfo) int { return compareDesc(a.LastPosition, b.LastPosition) })
	if opts.Limit > 0 && len(out) > opts.Limit {
		out = out[:opts.Limit]
	}
	return out, nil
}

// lastEvent returns the last event of the stream name, whose events are
// at positions, and false when the stream has none: it never had any, it
// is deleted, or a scavenge removed them. The caller holds s.mu.
func (s *Store) lastEvent(name string, positions []uint64) (chronicle.RecordedEvent, bool) {
	if len(positions) == 0 || s.meta[name].deleted != notDeleted {
		return chronicle.RecordedEvent{}, false
	}
	e := s.log[positions[len(positions)-1]-1]
	return e, !removed(e)
}

func compareDesc(a, b uint64) int {
	switch {
	case a > b:
		return -1
	case a < b:
		return 1
	}
	return 0
}

// CountStreams implements [chronicle.StreamLister].
func (s *Store) CountStreams(ctx context.Context) (streams, events uint64, err error) {
	if err := ctx.Err(); err != nil {
		return 0, 0, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	for name, positions := range s.streams {
		if _, ok := s.lastEvent(name, positions); ok {
			streams++
		}
	}
	for _, e := range s.log {
		if !removed(e) {
			events++
		}
	}
	return streams, events, nil
}
