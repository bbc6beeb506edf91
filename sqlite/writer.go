package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/internal/appendcheck"
	"github.com/google/uuid"
)

// request is one write waiting for the writer: an append, or a change to
// a stream's metadata or existence, which must be ordered with appends.
type request struct {
	ctx    context.Context
	stream string
	verb   string // for messages: "append to", "delete", ...
	// op does the write inside the batch's transaction. It reports
	// whether it wrote anything; an error that [isRefusal] accepts
	// refuses this request alone, any other fails the whole batch.
	op    func(ctx context.Context, b *batch) (chronicle.AppendResult, bool, error)
	reply chan reply
}

// batch is the state of one transaction of the writer.
type batch struct {
	w    *writer
	head uint64 // the last position used
	now  int64  // the batch's recorded time, in microseconds
	// written holds the events the batch wrote, for [recent] once it has
	// committed.
	written []recentEvent
}

type reply struct {
	res chronicle.AppendResult
	err error
}

// writer owns the store's only write connection and commits appends in
// batches: one transaction, one fsync, for every append that arrived
// while the previous batch was committing.
type writer struct {
	s    *Store
	db   *sql.DB
	conn *sql.Conn

	reqs chan *request // unbuffered: a send succeeds only when the loop takes it
	quit chan struct{} // closed by close
	done chan struct{} // closed when the loop has ended

	lastRevision, streamMeta, insertEvent, eventsAt, findID, head, dataVersion *sql.Stmt

	written []recentEvent // the buffer of batch.written, reused

	// streams caches what the writer knows of the streams it wrote, to
	// spare two lookups per append. It is valid while no other connection
	// has committed: dataVersion, SQLite's count of such commits, tells.
	streams map[string]streamInfo
	version int64
}

// maxCachedStreams bounds the writer's cache of stream states.
const maxCachedStreams = 100_000

func newWriter(ctx context.Context, s *Store, db *sql.DB, conn *sql.Conn) (*writer, error) {
	w := &writer{
		s: s, db: db, conn: conn,
		reqs:    make(chan *request),
		quit:    make(chan struct{}),
		done:    make(chan struct{}),
		streams: make(map[string]streamInfo),
	}
	for _, p := range []struct {
		stmt **sql.Stmt
		sql  string
	}{
		{&w.lastRevision, "SELECT revision FROM events WHERE stream = ? ORDER BY revision DESC LIMIT 1"},
		{&w.streamMeta, "SELECT max_age_us, max_count, truncate_before, deleted, next_revision FROM streams_meta WHERE stream = ?"},
		{&w.insertEvent, "INSERT INTO events (position, stream, revision, id, type, data, metadata, recorded) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"},
		{&w.eventsAt, "SELECT id, position FROM events WHERE stream = ? AND revision >= ? ORDER BY revision LIMIT ?"},
		{&w.findID, "SELECT revision FROM events WHERE id = ? AND stream = ? ORDER BY revision LIMIT 1"},
		// sqlite_sequence remembers the highest position ever used, even
		// when a scavenge has removed it.
		{&w.head, "SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0)"},
		{&w.dataVersion, "PRAGMA data_version"},
	} {
		stmt, err := conn.PrepareContext(ctx, p.sql)
		if err != nil {
			return nil, fmt.Errorf("prepare %q: %w", p.sql, err)
		}
		*p.stmt = stmt
	}
	go w.loop()
	return w, nil
}

// Append implements [chronicle.Store.Append].
func (s *Store) Append(ctx context.Context, stream string, expected chronicle.ExpectedRevision, events ...chronicle.EventData) (chronicle.AppendResult, error) {
	events, err := chronicle.PrepareAppend(stream, events, s.opts.MaxEventSize)
	if err != nil {
		return chronicle.AppendResult{}, err
	}
	metadata := make([][]byte, len(events))
	for i, e := range events {
		if metadata[i], err = chronicle.MarshalMetadata(e.Metadata); err != nil {
			return chronicle.AppendResult{}, fmt.Errorf("append to %q: event %d metadata: %w", stream, i, err)
		}
		// The store keeps the committed events for a while (see recent):
		// the caller may reuse its buffers once Append returns. Copied
		// here rather than in the writer, which every append waits for.
		events[i].Data = append([]byte{}, e.Data...)
	}
	return s.w.do(ctx, stream, "append to", func(ctx context.Context, b *batch) (chronicle.AppendResult, bool, error) {
		return b.append(ctx, stream, expected, events, metadata)
	})
}

// do hands op to the writer and waits for its answer.
func (w *writer) do(ctx context.Context, stream, verb string, op func(context.Context, *batch) (chronicle.AppendResult, bool, error)) (chronicle.AppendResult, error) {
	if err := ctx.Err(); err != nil {
		return chronicle.AppendResult{}, fmt.Errorf("%s %q: %w", verb, stream, err)
	}
	req := &request{ctx: ctx, stream: stream, verb: verb, op: op, reply: make(chan reply, 1)}
	select {
	case w.reqs <- req:
	case <-w.quit:
		return chronicle.AppendResult{}, fmt.Errorf("%s %q: %w", verb, stream, chronicle.ErrClosed)
	case <-ctx.Done():
		return chronicle.AppendResult{}, fmt.Errorf("%s %q: %w", verb, stream, ctx.Err())
	}
	select {
	case r := <-req.reply:
		return r.res, r.err
	case <-ctx.Done():
		// The writer has the request and may commit it: say so, rather than
		// claim that nothing happened.
		return chronicle.AppendResult{}, fmt.Errorf("%s %q: %w; it may still happen: retry it (with the same event IDs) to find out", verb, stream, ctx.Err())
	}
}

func (w *writer) loop() {
	defer close(w.done)
	batch := make([]*request, 0, w.s.opts.MaxBatch)
	for {
		select {
		case req := <-w.reqs:
			batch = append(batch[:0], req)
		case <-w.quit:
			return
		}
		// Take every append that is already waiting.
	more:
		for len(batch) < w.s.opts.MaxBatch {
			select {
			case req := <-w.reqs:
				batch = append(batch, req)
			default:
				break more
			}
		}
		w.commit(batch)
		clear(batch)
	}
}

// commit does a batch of requests in one transaction and answers each.
func (w *writer) commit(reqs []*request) {
	// The transaction belongs to the whole batch, so no single caller's
	// context may cancel it; callers that gave up are skipped below.
	ctx := context.Background()
	replies := make([]reply, len(reqs))
	fail := func(err error) {
		// What the batch wrote is gone, and so must be what it cached.
		clear(w.streams)
		for _, r := range reqs {
			r.reply <- reply{err: fmt.Errorf("%s %q: %w", r.verb, r.stream, err)}
		}
	}
	if _, err := w.conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		fail(fmt.Errorf("begin: %w", err))
		return
	}
	b := &batch{w: w, now: time.Now().UTC().Truncate(time.Microsecond).UnixMicro(), written: w.written[:0]}
	var version int64
	err := w.head.QueryRowContext(ctx).Scan(&b.head)
	if err == nil {
		// Read under the write lock: nobody can commit between this and
		// the batch's own commit.
		err = w.dataVersion.QueryRowContext(ctx).Scan(&version)
	}
	if err != nil {
		w.rollback()
		fail(fmt.Errorf("read head: %w", err))
		return
	}
	if version != w.version || len(w.streams) > maxCachedStreams {
		clear(w.streams)
		w.version = version
	}
	wrote := false
	for i, r := range reqs {
		if err := r.ctx.Err(); err != nil {
			replies[i].err = fmt.Errorf("%s %q: %w", r.verb, r.stream, err)
			continue
		}
		res, written, err := r.op(ctx, b)
		if err != nil && !written && !isRefusal(err) {
			// The database failed, not the append: SQLite may have rolled
			// back the whole transaction, so nothing in it can be trusted.
			w.rollback()
			fail(err)
			return
		}
		replies[i] = reply{res: res, err: err}
		wrote = wrote || written
	}
	if _, err := w.conn.ExecContext(ctx, "COMMIT"); err != nil {
		w.rollback()
		fail(fmt.Errorf("commit: %w", err))
		return
	}
	if wrote {
		w.s.recent.add(b.written)
		w.s.changed.Notify()
	}
	clear(b.written)
	w.written = b.written[:0]
	for i, r := range reqs {
		r.reply <- replies[i]
	}
}

// isRefusal reports whether err refuses an append for its own reasons,
// as opposed to a failure of the database.
func isRefusal(err error) bool {
	return errors.Is(err, chronicle.ErrWrongExpectedRevision) || errors.Is(err, chronicle.ErrIdempotencyConflict) ||
		errors.Is(err, chronicle.ErrStreamDeleted) || errors.Is(err, chronicle.ErrStreamNotFound)
}

func (w *writer) rollback() {
	// An error here means there was no transaction left to roll back.
	w.conn.ExecContext(context.Background(), "ROLLBACK")
}

// append checks and writes one append inside the batch's transaction.
func (b *batch) append(ctx context.Context, stream string, expected chronicle.ExpectedRevision,
	events []chronicle.EventData, metadata [][]byte) (chronicle.AppendResult, bool, error) {
	w := b.w
	st, err := w.stream(ctx, stream)
	if err != nil {
		return chronicle.AppendResult{}, false, err
	}
	if st.deleted == tombstoned {
		return chronicle.AppendResult{}, false, &chronicle.StreamDeletedError{Stream: stream}
	}
	ack, err := appendcheck.Check(stream, expected, st.state(), events, streamView{ctx, w, stream})
	if err != nil || ack != nil {
		if ack != nil {
			return *ack, false, nil
		}
		return chronicle.AppendResult{}, false, err
	}
	res := chronicle.AppendResult{FirstPosition: b.head + 1, FirstRevision: st.next}
	recorded := time.UnixMicro(b.now).UTC()
	for i, e := range events {
		pos, rev := res.FirstPosition+uint64(i), res.FirstRevision+uint64(i)
		_, err := w.insertEvent.ExecContext(ctx, int64(pos), stream, int64(rev), e.ID[:], e.Type, e.Data, metadata[i], b.now)
		if err != nil {
			return chronicle.AppendResult{}, false, fmt.Errorf("append to %q: insert event %d: %w", stream, i, err)
		}
		b.written = append(b.written, recentEvent{RecordedEvent: chronicle.RecordedEvent{
			Position: pos, Stream: stream, Revision: rev, ID: e.ID, Type: e.Type, Data: e.Data, Recorded: recorded,
		}, metadata: metadata[i]})
	}
	if st.deleted == softDeleted {
		// Appending brings a soft-deleted stream back.
		if _, err := w.conn.ExecContext(ctx, "UPDATE streams_meta SET deleted = 0 WHERE stream = ?", stream); err != nil {
			return chronicle.AppendResult{}, false, fmt.Errorf("append to %q: undelete: %w", stream, err)
		}
	}
	n := uint64(len(events))
	res.LastRevision = res.FirstRevision + n - 1
	res.LastPosition = res.FirstPosition + n - 1
	b.head = res.LastPosition
	st.exists, st.last, st.next, st.deleted = true, res.LastRevision, res.LastRevision+1, notDeleted
	w.streams[stream] = st
	return res, true, nil
}

// Values of streams_meta.deleted.
const (
	notDeleted  = 0
	softDeleted = 1
	tombstoned  = 2
)

// streamInfo is what the writer knows of a stream at the start of a write.
type streamInfo struct {
	exists  bool   // it has events, and is not deleted
	last    uint64 // its last revision, when exists
	next    uint64 // the revision of the next event appended to it
	meta    chronicle.StreamMetadata
	deleted int
}

// state returns the stream's state for the append rules.
func (st streamInfo) state() chronicle.StreamState {
	return chronicle.StreamState{Exists: st.exists, LastRevision: st.last}
}

// stream reads what the writer needs to know of a stream. Its revisions
// go on from the last event in the table, or from next_revision when a
// scavenge has taken the events away; its metadata never moves them.
func (w *writer) stream(ctx context.Context, stream string) (streamInfo, error) {
	if st, ok := w.streams[stream]; ok {
		return st, nil
	}
	var st streamInfo
	var last int64
	hasEvents := true
	switch err := w.lastRevision.QueryRowContext(ctx, stream).Scan(&last); {
	case errors.Is(err, sql.ErrNoRows):
		hasEvents = false
	case err != nil:
		return st, fmt.Errorf("read stream %q: %w", stream, err)
	}
	var maxAge, maxCount, truncate, next int64
	switch err := w.streamMeta.QueryRowContext(ctx, stream).Scan(&maxAge, &maxCount, &truncate, &st.deleted, &next); {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return st, fmt.Errorf("read metadata of %q: %w", stream, err)
	}
	st.meta = chronicle.StreamMetadata{MaxAge: time.Duration(maxAge) * time.Microsecond, MaxCount: uint64(maxCount), TruncateBefore: uint64(truncate)}
	if hasEvents {
		st.next = uint64(last) + 1
	}
	st.next = max(st.next, uint64(next))
	st.exists = st.next > 0 && st.deleted == notDeleted
	if st.exists {
		st.last = st.next - 1
	}
	w.streams[stream] = st
	return st, nil
}

// streamView shows one stream, inside the writer's transaction, to the
// append rules.
type streamView struct {
	ctx    context.Context
	w      *writer
	stream string
}

func (v streamView) At(from uint64, n int) ([]appendcheck.Recorded, error) {
	rows, err := v.w.eventsAt.QueryContext(v.ctx, v.stream, int64(from), n)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []appendcheck.Recorded
	for rows.Next() {
		var id []byte
		var pos int64
		if err := rows.Scan(&id, &pos); err != nil {
			return nil, err
		}
		u, err := uuid.FromBytes(id)
		if err != nil {
			return nil, fmt.Errorf("stored event ID at position %d: %w", pos, err)
		}
		out = append(out, appendcheck.Recorded{ID: u, Position: uint64(pos)})
	}
	return out, rows.Err()
}

func (v streamView) Find(id uuid.UUID) (uint64, bool, error) {
	var rev int64
	err := v.w.findID.QueryRowContext(v.ctx, id[:], v.stream).Scan(&rev)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	return uint64(rev), err == nil, err
}

// close stops the writer after the batch under way, then closes its
// connection.
func (w *writer) close() error {
	close(w.quit)
	<-w.done
	var errs []error
	for _, stmt := range []*sql.Stmt{w.lastRevision, w.streamMeta, w.insertEvent, w.eventsAt, w.findID, w.head, w.dataVersion} {
		errs = append(errs, stmt.Close())
	}
	return errors.Join(append(errs, w.conn.Close(), w.db.Close())...)
}
