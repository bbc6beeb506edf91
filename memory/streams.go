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
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	var out []chronicle.StreamInfo
	for name, positions := range s.streams {
		if len(positions) == 0 || s.meta[name].deleted != notDeleted {
			continue
		}
		if !strings.HasPrefix(name, opts.Prefix) || (opts.Category != "" && chronicle.Category(name) != opts.Category) {
			continue
		}
		last := positions[len(positions)-1]
		if opts.Before > 0 && last >= opts.Before {
			continue
		}
		e := s.log[last-1]
		if removed(e) {
			continue // scavenged: the stream has no events left
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
		if len(positions) > 0 && s.meta[name].deleted == notDeleted {
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
