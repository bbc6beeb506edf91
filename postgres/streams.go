package postgres

import (
	"context"
	"fmt"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/internal/sqlnum"
	"github.com/jackc/pgx/v5"
)

// ListStreams implements [chronicle.StreamLister]: the streams with
// events, the most recently written first, without the deleted ones.
func (s *Store) ListStreams(ctx context.Context, opts chronicle.ListStreamsOptions) ([]chronicle.StreamInfo, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	var limit any // NULL: no limit
	if opts.Limit > 0 {
		limit = int64(opts.Limit)
	}
	// With a prefix or category, the matching streams are grouped: the
	// names that share a prefix need not be neighbours in the index under
	// the database's collation, so the index cannot be walked by name.
	query, args := s.sql.listStreams, []any{opts.Prefix, opts.Category, sqlnum.Clamp(opts.Before), limit}
	if opts.Prefix == "" && opts.Category == "" {
		query, args = s.sql.listRecentStreams, []any{sqlnum.Clamp(opts.Before), limit}
	}
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list streams: %w", s.closedErr(ctx, err))
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (chronicle.StreamInfo, error) {
		var info chronicle.StreamInfo
		var rev, pos int64
		err := row.Scan(&info.Stream, &rev, &pos, &info.LastRecorded)
		info.LastRevision, info.LastPosition = uint64(rev), uint64(pos)
		info.LastRecorded = info.LastRecorded.UTC()
		return info, err
	})
	if err != nil {
		return nil, fmt.Errorf("list streams: %w", s.closedErr(ctx, err))
	}
	return out, nil
}

// CountStreams implements [chronicle.StreamLister]. Both counts scan:
// PostgreSQL keeps no exact row count.
func (s *Store) CountStreams(ctx context.Context) (streams, events uint64, err error) {
	var ns, ne int64
	if err := s.pool.QueryRow(ctx, s.sql.countStreams).Scan(&ns, &ne); err != nil {
		return 0, 0, fmt.Errorf("count streams: %w", s.closedErr(ctx, err))
	}
	return uint64(ns), uint64(ne), nil
}

var _ chronicle.StreamLister = (*Store)(nil)
