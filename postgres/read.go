package postgres

import (
	"context"
	"fmt"
	"iter"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/internal/catchup"
	"github.com/chronicle-es/chronicle/internal/sqlnum"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// ReadStream implements [chronicle.Store.ReadStream]. It reads a page of
// events per query, so that it holds no connection between pages, and a
// slow reader never keeps a snapshot open. Each page leaves out the
// events that the stream's metadata hides ([chronicle.Retention]); a
// deleted stream reads as not found, a tombstoned one as deleted.
func (s *Store) ReadStream(ctx context.Context, stream string, opts chronicle.ReadStreamOptions) iter.Seq2[chronicle.RecordedEvent, error] {
	return func(yield func(chronicle.RecordedEvent, error) bool) {
		if err := chronicle.ValidateStreamName(stream); err != nil {
			yield(chronicle.RecordedEvent{}, err)
			return
		}
		query := s.sql.streamForward
		if opts.Backwards {
			query = s.sql.streamBackward
		}
		walk := catchup.NewStreamPages(opts)
		for {
			from, limit := walk.Next()
			page, deleted, present, err := s.streamPage(ctx, query, stream, sqlnum.Clamp(from), limit)
			switch {
			case err != nil:
			case deleted == tombstoned:
				err = &chronicle.StreamDeletedError{Stream: stream}
			case deleted == softDeleted:
				// It may have been deleted between two pages: what was read
				// was visible then.
				if walk.Read() == 0 {
					err = &chronicle.StreamNotFoundError{Stream: stream}
				}
				page = nil
			case walk.Read() == 0 && len(page) == 0 && !present:
				// Asked in the page's own snapshot: a stream created
				// since cannot make this read one of a stream that
				// exists without events.
				err = &chronicle.StreamNotFoundError{Stream: stream}
			}
			if err != nil {
				yield(chronicle.RecordedEvent{}, fmt.Errorf("read stream %q: %w", stream, s.closedErr(ctx, err)))
				return
			}
			for _, e := range page {
				if !yield(e, nil) {
					return
				}
			}
			if !walk.Done(page) {
				return
			}
		}
	}
}

// streamPage runs one of the stream page queries, and returns the page,
// the stream's deletion state, and whether the stream exists.
func (s *Store) streamPage(ctx context.Context, query, stream string, from int64, limit int) ([]chronicle.RecordedEvent, int16, bool, error) {
	rows, err := s.pool.Query(ctx, query, stream, from, limit)
	if err != nil {
		return nil, 0, false, err
	}
	var (
		deleted int16
		present bool
		r       eventRow
		page    []chronicle.RecordedEvent
	)
	_, err = pgx.ForEachRow(rows, append([]any{&deleted, &present}, r.dest()...), func() error {
		if !r.pos.Valid {
			return nil // the metadata alone: no event qualified
		}
		e, err := r.event()
		page = append(page, e)
		return err
	})
	return page, deleted, present, err
}

// ReadAll implements [chronicle.Store.ReadAll].
func (s *Store) ReadAll(ctx context.Context, opts chronicle.ReadAllOptions) iter.Seq2[chronicle.RecordedEvent, error] {
	if err := opts.Filter.Validate(); err != nil {
		return catchup.Refused(err)
	}
	if !opts.Backwards {
		return catchup.ReadAhead(ctx, source{s}, opts)
	}
	return func(yield func(chronicle.RecordedEvent, error) bool) {
		where, args := filterSQL(opts.Filter, 3)
		query := fill(s.sql.allBackward, where)
		from, n := opts.From, 0
		for from >= 1 {
			limit := catchup.PageSize
			if opts.Limit > 0 {
				limit = min(limit, opts.Limit-n)
			}
			page, err := s.query(ctx, query, append([]any{sqlnum.Clamp(from), limit}, args...)...)
			if err != nil {
				yield(chronicle.RecordedEvent{}, fmt.Errorf("read all: %w", s.closedErr(ctx, err)))
				return
			}
			for _, e := range page {
				if !yield(e, nil) {
					return
				}
			}
			n += len(page)
			if len(page) < limit || (opts.Limit > 0 && n >= opts.Limit) {
				return
			}
			from = page[len(page)-1].Position - 1
		}
	}
}

// Subscribe implements [chronicle.Store.Subscribe]. Commits wake it
// through LISTEN/NOTIFY, whichever process made them; it also reads every
// [Options.PollInterval] in case a notification was lost.
func (s *Store) Subscribe(ctx context.Context, opts chronicle.SubscribeOptions) iter.Seq2[chronicle.RecordedEvent, error] {
	if err := opts.Filter.Validate(); err != nil {
		return catchup.Refused(err)
	}
	return catchup.Subscribe(ctx, source{s}, opts, s.opts.PollInterval)
}

// source shows the store to package catchup.
type source struct{ s *Store }

func (src source) Changed() <-chan struct{} { return src.s.changed.Changed() }

func (src source) Page(ctx context.Context, from uint64, limit int, f chronicle.Filter) ([]chronicle.RecordedEvent, uint64, error) {
	where, args := filterSQL(f, 3)
	query := fill(src.s.sql.page, where)
	rows, err := src.s.pool.Query(ctx, query, append([]any{sqlnum.Clamp(from), limit}, args...)...)
	if err != nil {
		return nil, from, fmt.Errorf("read all: %w", src.s.closedErr(ctx, err))
	}
	var (
		head int64
		r    eventRow
		page []chronicle.RecordedEvent
	)
	_, err = pgx.ForEachRow(rows, append([]any{&head}, r.dest()...), func() error {
		if !r.pos.Valid {
			return nil // the head alone: no event qualified
		}
		e, err := r.event()
		page = append(page, e)
		return err
	})
	if err != nil {
		return nil, from, fmt.Errorf("read all: %w", src.s.closedErr(ctx, err))
	}
	if len(page) == limit {
		return page, page[len(page)-1].Position + 1, nil
	}
	return page, max(uint64(head)+1, from), nil
}

// query runs a query for events and returns them all: callers bound it
// with LIMIT.
func (s *Store) query(ctx context.Context, query string, args ...any) ([]chronicle.RecordedEvent, error) {
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	var r eventRow
	var out []chronicle.RecordedEvent
	_, err = pgx.ForEachRow(rows, r.dest(), func() error {
		e, err := r.event()
		out = append(out, e)
		return err
	})
	return out, err
}

// eventRow receives the columns of eventColumns. They may be NULL only in
// the page query's LEFT JOIN, when no event qualified.
type eventRow struct {
	pos, rev       pgtype.Int8
	stream, typ    pgtype.Text
	id             pgtype.UUID
	data, metadata []byte
	recorded       pgtype.Timestamptz
}

func (r *eventRow) dest() []any {
	return []any{&r.pos, &r.stream, &r.rev, &r.id, &r.typ, &r.data, &r.metadata, &r.recorded}
}

// event returns the row as an event. pgx scans each bytea into a new
// slice, so the event's Data is its own.
func (r *eventRow) event() (chronicle.RecordedEvent, error) {
	e := chronicle.RecordedEvent{
		Stream:   r.stream.String,
		Revision: uint64(r.rev.Int64),
		Position: uint64(r.pos.Int64),
		ID:       r.id.Bytes,
		Type:     r.typ.String,
		Data:     r.data,
		Recorded: r.recorded.Time.UTC(),
	}
	md, err := chronicle.UnmarshalMetadata(r.metadata)
	if err != nil {
		return e, fmt.Errorf("event at position %d: metadata: %w", e.Position, err)
	}
	e.Metadata = md
	return e, nil
}
