package sqlite

import (
	"context"
	"fmt"
	"iter"
	"strings"
	"time"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/internal/catchup"
	"github.com/chronicle-es/chronicle/internal/sqlnum"
)

const eventColumns = "position, stream, revision, id, type, data, metadata, recorded"

// ReadStream implements [chronicle.Store.ReadStream]. It reads a page of
// events per query, so that it holds no connection or snapshot between
// pages and a long read never keeps the WAL from being checkpointed.
// From the second page on, a goroutine reads each page while the caller
// works on the one before, so a read holds at most three pages.
//
// Retention and deletion hide events at once, before a scavenge removes
// them: each page query applies the stream's metadata itself (see
// visibleSQL), so that a read costs one query, not one more to look the
// metadata up first, and a change of metadata is honoured by the next page.
func (s *Store) ReadStream(ctx context.Context, stream string, opts chronicle.ReadStreamOptions) iter.Seq2[chronicle.RecordedEvent, error] {
	return func(yield func(chronicle.RecordedEvent, error) bool) {
		if err := chronicle.ValidateStreamName(stream); err != nil {
			yield(chronicle.RecordedEvent{}, err)
			return
		}
		// A stream this process created may be in memory (see
		// streamCache). Most others are one page: it is read on the
		// caller's goroutine. One clock serves every page, so that max
		// age hides the same events throughout the read; it starts after
		// any wait for the cache, when the read of the file starts.
		page, cached, err := s.w.cached(ctx, stream, opts)
		r := &streamRead{s: s, stream: stream, backwards: opts.Backwards, walk: catchup.NewStreamPages(opts), now: time.Now().UnixMicro()}
		more := false
		if err == nil && !cached {
			page, more, err = r.next(ctx)
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
		if !more {
			return
		}
		// A long stream: its next page is read while the caller works on
		// this one, as ReadAll does (loading an aggregate decodes every
		// event).
		for e, err := range catchup.Ahead(ctx, r.pages) {
			if !yield(e, err) || err != nil {
				return
			}
		}
	}
}

// streamRead is a ReadStream under way.
type streamRead struct {
	s         *Store
	stream    string
	backwards bool
	walk      *catchup.StreamPages
	now       int64 // the clock of max age
}

// next reads the next page and reports whether more may follow it.
func (r *streamRead) next(ctx context.Context) ([]chronicle.RecordedEvent, bool, error) {
	from, limit := r.walk.Next()
	// The writer's connection when the writer is idle, else one of the
	// read group's.
	// The first page, if it finds nothing, says whether the stream
	// exists (see groupConn.query): a page follows only a full one.
	req := &pageRequest{ctx: ctx, backwards: r.backwards, stream: r.stream, from: sqlnum.Clamp(from), now: r.now, limit: limit, first: r.walk.Read() == 0}
	page, ok, err := r.s.w.read(req)
	if err == nil && !ok {
		page, err = r.s.group.page(req)
	}
	if err != nil {
		return nil, false, err
	}
	return page, r.walk.Done(page), nil
}

// pages reads the pages after the first, for [catchup.Ahead].
func (r *streamRead) pages(ctx context.Context, emit func([]chronicle.RecordedEvent) bool) error {
	for {
		page, more, err := r.next(ctx)
		if err != nil {
			return fmt.Errorf("read stream %q: %w", r.stream, err)
		}
		if len(page) > 0 && !emit(page) || !more {
			return nil
		}
	}
}

// streamIDSQL is the number of stream ?1 (see migration 6), NULL when
// it never had an event: a subquery that SQLite runs once per query, so
// that a condition "stream_id = " + streamIDSQL seeks the index of
// streams.
const streamIDSQL = "(SELECT id FROM stream_ids WHERE name = ?1)"

// visibleSQL is the first revision of stream ?1 that reads return, given
// its row in streams_meta: none of a deleted stream (the largest
// integer), else the later of truncate_before and the max count's cut.
// It is a subquery that does not depend on the row, which SQLite runs
// once per query, and a stream without metadata gives 0.
const visibleSQL = `coalesce((SELECT CASE WHEN deleted != 0 THEN 9223372036854775807
		ELSE max(truncate_before, CASE WHEN max_count > 0
			THEN coalesce((SELECT max(revision) FROM events WHERE stream_id = ` + streamIDSQL + `), -1) + 1 - max_count ELSE 0 END) END
	FROM streams_meta WHERE stream = ?1), 0)`

// oldestSQL is the oldest recorded time (in microseconds) that reads of
// stream ?1 return at the time ?3, by its max age; 0 without one.
const oldestSQL = `coalesce((SELECT CASE WHEN max_age_us > 0 THEN ?3 - max_age_us ELSE 0 END
	FROM streams_meta WHERE stream = ?1), 0)`

// The page queries of ReadStream: stream ?1 from revision ?2, at the time
// ?3, at most ?4 events. The bound on revision is one expression, so that
// SQLite seeks the index straight to it.
const (
	readForwards = "SELECT " + eventColumns + " FROM events WHERE stream_id = " + streamIDSQL + " AND revision >= max(?2, " + visibleSQL + ")" +
		" AND recorded >= " + oldestSQL + " ORDER BY revision LIMIT ?4"
	readBackwards = "SELECT " + eventColumns + " FROM events WHERE stream_id = " + streamIDSQL + " AND revision <= ?2 AND revision >= " + visibleSQL +
		" AND recorded >= " + oldestSQL + " ORDER BY revision DESC LIMIT ?4"
)

// existsSQL tells, for a read of stream ?1 that found nothing, whether
// the stream is deleted (streams_meta.deleted), and whether it exists: it
// has events, or had events that a scavenge removed.
const existsSQL = `SELECT coalesce((SELECT deleted FROM streams_meta WHERE stream = ?1), 0),
	EXISTS (SELECT 1 FROM events WHERE stream_id = ` + streamIDSQL + `) OR EXISTS (SELECT 1 FROM streams_meta WHERE stream = ?1 AND next_revision > 0)`

// existence is the answer to a read of stream that found nothing, from
// existsSQL's row: a [chronicle.StreamDeletedError] if the stream is
// tombstoned, a [chronicle.StreamNotFoundError] if it is soft-deleted or
// does not exist; nil otherwise (all its events are hidden, or the read
// began past its end).
func existence(stream string, deleted int64, exists bool) error {
	switch {
	case deleted == tombstoned:
		return &chronicle.StreamDeletedError{Stream: stream}
	case deleted == softDeleted || !exists:
		return &chronicle.StreamNotFoundError{Stream: stream}
	}
	return nil
}

// ReadAll implements [chronicle.Store.ReadAll]. A forward read reads its
// pages in goroutines of its own while the caller works on the events
// before them. Without a filter or a limit it reads two pages of 512
// positions at once, on two connections: reading SQLite's rows costs
// more CPU than decoding the events usually does, and one reader would
// leave a second core idle. It holds at most five pages.
func (s *Store) ReadAll(ctx context.Context, opts chronicle.ReadAllOptions) iter.Seq2[chronicle.RecordedEvent, error] {
	if err := opts.Filter.Validate(); err != nil {
		return catchup.Refused(err)
	}
	if !opts.Backwards {
		return catchup.ReadAhead(ctx, source{s}, opts)
	}
	return func(yield func(chronicle.RecordedEvent, error) bool) {
		where, args := filterSQL(opts.Filter)
		query := "SELECT " + eventColumns + " FROM events WHERE position <= ?" + where + " ORDER BY position DESC LIMIT ?"
		from, n := opts.From, 0
		for from >= 1 {
			limit := catchup.PageSize
			if opts.Limit > 0 {
				limit = min(limit, opts.Limit-n)
			}
			page, err := s.queryEvents(ctx, int(min(uint64(limit), from)), query, append(append([]any{sqlnum.Clamp(from)}, args...), limit)...)
			if err != nil {
				yield(chronicle.RecordedEvent{}, fmt.Errorf("read all: %w", err))
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

// Subscribe implements [chronicle.Store.Subscribe].
func (s *Store) Subscribe(ctx context.Context, opts chronicle.SubscribeOptions) iter.Seq2[chronicle.RecordedEvent, error] {
	if err := opts.Filter.Validate(); err != nil {
		return catchup.Refused(err)
	}
	return catchup.Subscribe(ctx, liveSource{source{s}}, opts, s.opts.PollInterval)
}

// source shows the store to package catchup.
type source struct{ s *Store }

func (src source) Changed() <-chan struct{} { return src.s.changed.Changed() }

func (src source) Page(ctx context.Context, from uint64, limit int, f chronicle.Filter) ([]chronicle.RecordedEvent, uint64, error) {
	if err := ctx.Err(); err != nil {
		return nil, from, err
	}
	// The driver watches a context that can end with a goroutine and a
	// progress handler per call, which cost ReadAll 2-6% of its time. A
	// query that reads at most limit rows (bounded in rows, if not in
	// bytes) gets a context that cannot end; one with a filter may scan
	// far for its rows, so it keeps ctx.
	qctx := context.WithoutCancel(ctx)
	// Bound the scan by the head read first: events committed after it
	// have higher positions, so "examined up to head" stays true even
	// when the filter leaves the page short.
	head, err := src.Head(qctx)
	if err != nil {
		return nil, from, err
	}
	if head < from {
		return nil, from, nil
	}
	// At most head-from+1 events: positions have no gaps, but for those a
	// scavenge left. A filtered page may match few of them: it grows.
	size := min(uint64(limit), head-from+1)
	where, args := filterSQL(f)
	if where != "" {
		qctx, size = ctx, 0
	}
	query := "SELECT " + eventColumns + " FROM events WHERE position BETWEEN ? AND ?" + where + " ORDER BY position LIMIT ?"
	page, err := src.s.queryEvents(qctx, int(size), query, append(append([]any{sqlnum.Clamp(from), sqlnum.Clamp(head)}, args...), limit)...)
	if err != nil {
		return nil, from, fmt.Errorf("read all: %w", err)
	}
	if len(page) == limit {
		return page, page[len(page)-1].Position + 1, nil
	}
	return page, head + 1, nil
}

// Head implements [catchup.Ranges]: the last position in events. Events
// that a scavenge removed from the end of the log are not there to read.
func (src source) Head(ctx context.Context) (uint64, error) {
	var head uint64
	if err := src.s.stmts.queryRow(ctx, "SELECT coalesce(max(position), 0) FROM events").Scan(&head); err != nil {
		return 0, fmt.Errorf("read all: head: %w", src.s.closedErr(ctx, err))
	}
	return head, nil
}

// After implements [catchup.Ranges].
func (src source) After(ctx context.Context, after uint64) (uint64, error) {
	var next uint64
	if err := src.s.stmts.queryRow(ctx, "SELECT coalesce(min(position), 0) FROM events WHERE position > ?", sqlnum.Clamp(after)).Scan(&next); err != nil {
		return 0, fmt.Errorf("read all: %w", src.s.closedErr(ctx, err))
	}
	return next, nil
}

// Range implements [catchup.Ranges]. A range holds at most
// [catchup.PageSize] positions, so its query gets a context that cannot
// end, as Page's unfiltered query does: ctx is checked first.
func (src source) Range(ctx context.Context, from, to uint64) ([]chronicle.RecordedEvent, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	page, err := src.s.queryEvents(context.WithoutCancel(ctx), int(min(to-from+1, catchup.PageSize)),
		"SELECT "+eventColumns+" FROM events WHERE position BETWEEN ? AND ? ORDER BY position", sqlnum.Clamp(from), sqlnum.Clamp(to))
	if err != nil {
		return nil, fmt.Errorf("read all: %w", err)
	}
	return page, nil
}

// filterSQL returns the conditions, each starting with " AND", that
// select what f selects, and their arguments.
func filterSQL(f chronicle.Filter) (string, []any) {
	var b strings.Builder
	var args []any
	if f.StreamPrefix != "" {
		// substr and length both count characters, so this is a
		// case-sensitive prefix test, unlike LIKE.
		b.WriteString(" AND substr(stream, 1, length(?)) = ?")
		args = append(args, f.StreamPrefix, f.StreamPrefix)
	}
	in := func(expr string, values []string) {
		b.WriteString(" AND " + expr + " IN (?" + strings.Repeat(", ?", len(values)-1) + ")")
		for _, v := range values {
			args = append(args, v)
		}
	}
	if len(f.Categories) > 0 {
		in("CASE WHEN instr(stream, '-') > 0 THEN substr(stream, 1, instr(stream, '-') - 1) ELSE stream END", f.Categories)
	}
	if len(f.Types) > 0 {
		in("type", f.Types)
	}
	return b.String(), args
}
