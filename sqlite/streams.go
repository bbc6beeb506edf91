package sqlite

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/chronicle-es/chronicle"
)

var _ chronicle.StreamLister = (*Store)(nil)

// The queries of ListStreams. A row is a stream's last event, the one at
// its highest revision, unless the stream is deleted.
const (
	lastOfLiveStream = `e.revision = (SELECT MAX(revision) FROM events WHERE stream_id = e.stream_id)
	AND e.stream NOT IN (SELECT stream FROM streams_meta WHERE deleted != 0)`

	// ?1 the position before which the last event must be (-1: any), ?2
	// the limit (-1: none).
	listRecentStreams = `SELECT e.stream, e.revision, e.position, e.recorded FROM events e
		WHERE (?1 < 0 OR e.position < ?1) AND ` + lastOfLiveStream + `
		ORDER BY e.position DESC
		LIMIT ?2`

	// The same, and ?3 prefix, ?4 category, ?5 the prefix of the names
	// to visit. A category holds no '-' (see chronicle.Category): one
	// that does keeps no stream, not those whose names start with it.
	listStreamsByName = `WITH RECURSIVE names(stream) AS (
			SELECT (SELECT name FROM stream_ids WHERE name >= ?5 ORDER BY name LIMIT 1)
			UNION ALL
			SELECT (SELECT name FROM stream_ids WHERE name > names.stream ORDER BY name LIMIT 1)
			FROM names
			WHERE substr(names.stream, 1, length(?5)) = ?5
		)
		SELECT e.stream, e.revision, e.position, e.recorded FROM names
		CROSS JOIN stream_ids s ON s.name = names.stream
		CROSS JOIN events e ON e.stream_id = s.id
		WHERE (?1 < 0 OR e.position < ?1) AND ` + lastOfLiveStream + `
		  AND substr(e.stream, 1, length(?3)) = ?3
		  AND (?4 = '' OR instr(?4, '-') = 0 AND (e.stream = ?4 OR substr(e.stream, 1, length(?4) + 1) = ?4 || '-'))
		ORDER BY e.position DESC
		LIMIT ?2`
)

// ListStreams implements [chronicle.StreamLister]. A stream's state is
// its events (see migrations 1 and 6), so it finds them there:
//
//   - Without a prefix or category, it walks the log back from the end
//     and keeps each stream's last event (one seek in the index of
//     streams per event walked), so its cost grows with the events
//     written since the streams it lists, not with the store.
//   - With a prefix or category, it visits the names of the matching
//     streams in the streams table's index of names, skipping from one
//     name to the next (one seek each), then sorts them by their last
//     event: its cost grows with the number of matching streams.
func (s *Store) ListStreams(ctx context.Context, opts chronicle.ListStreamsOptions) ([]chronicle.StreamInfo, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	before := int64(-1) // no bound
	if opts.Before > 0 {
		before = int64(min(opts.Before, uint64(1<<63-1)))
	}
	limit := int64(-1)
	if opts.Limit > 0 {
		limit = int64(opts.Limit)
	}
	// scan is the prefix whose names are visited: a category's streams
	// are the category itself and the names that start with it and "-".
	scan := opts.Prefix
	if opts.Category != "" && strings.HasPrefix(opts.Category+"-", scan) {
		scan = opts.Category
	}
	query, args := listRecentStreams, []any{before, limit}
	if scan != "" {
		query, args = listStreamsByName, append(args, opts.Prefix, opts.Category, scan)
	}
	rows, err := s.read.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list streams: %w", s.closedErr(ctx, err))
	}
	defer rows.Close()
	var out []chronicle.StreamInfo
	for rows.Next() {
		var info chronicle.StreamInfo
		var rev, pos, recorded int64
		if err := rows.Scan(&info.Stream, &rev, &pos, &recorded); err != nil {
			return nil, fmt.Errorf("list streams: %w", s.closedErr(ctx, err))
		}
		info.LastRevision, info.LastPosition = uint64(rev), uint64(pos)
		info.LastRecorded = time.UnixMicro(recorded).UTC()
		out = append(out, info)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list streams: %w", s.closedErr(ctx, err))
	}
	return out, nil
}

// CountStreams implements [chronicle.StreamLister].
func (s *Store) CountStreams(ctx context.Context) (streams, events uint64, err error) {
	var ns, ne int64
	err = s.read.QueryRowContext(ctx, `SELECT
		(SELECT COUNT(DISTINCT stream_id) FROM events
			WHERE stream_id NOT IN (SELECT s.id FROM stream_ids s JOIN streams_meta m ON m.stream = s.name WHERE m.deleted != 0)),
		(SELECT COUNT(*) FROM events)`).Scan(&ns, &ne)
	if err != nil {
		return 0, 0, fmt.Errorf("count streams: %w", s.closedErr(ctx, err))
	}
	return uint64(ns), uint64(ne), nil
}
