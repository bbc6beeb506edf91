package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/internal/appendcheck"
	"github.com/chronicle-es/chronicle/internal/maxage"
	"github.com/google/uuid"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
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
	op func(ctx context.Context, b *batch) (chronicle.AppendResult, bool, error)
	// reply answers a request that queued; the caller that commits a
	// batch runs its own request first and needs none.
	reply chan reply
}

// batch is the state of one transaction of the writer.
type batch struct {
	w    *writer
	head uint64 // the last position used
	now  int64  // the batch's recorded time, in microseconds
	// written holds the events the batch wrote, for [recent] and
	// [streamCache] once it has committed.
	written []recentEvent
	// fresh holds the streams that the batch created with nothing to hide
	// (see streamCache), made when needed.
	fresh map[string]bool
}

type reply struct {
	res chronicle.AppendResult
	err error
	// lead, instead of an answer: the request was not run, and its caller
	// is to commit the next batch, starting with it.
	lead bool
}

// writer owns the store's only write connection and commits appends in
// batches: one transaction, one fsync, for every append that arrived
// while the previous batch was committing or while this one is being
// written, up to MaxBatch.
//
// It has no goroutine of its own: the caller of an append that finds the
// writer idle commits it at once, on its own goroutine, so that a lone
// append costs no hand-off between goroutines. Appends that arrive
// meanwhile queue, and join the batch until its COMMIT begins; when the
// batch has committed, its caller hands the writer to the first of those
// still queued, whose caller commits the queue as the next batch. Each
// caller commits one batch at most.
type writer struct {
	s    *Store
	db   *sql.DB
	conn *sql.Conn

	mu     sync.Mutex
	idle   sync.Cond  // signalled when busy turns false
	busy   bool       // a caller is committing a batch, or has been handed the writer
	queue  []*request // the requests waiting for the next batch
	closed bool
	// turn is closed, and replaced, when a read of the stream cache may
	// go on: the writer turned idle, its transaction checked the file, or
	// another connection holds the write lock (lockedOut): another
	// process's, or this store's Update. See cached.
	turn      chan struct{}
	lockedOut bool
	// holdsLock: a batch holds the store's write lock (see writeLock),
	// from before its BEGIN IMMEDIATE until its transaction ends. Only
	// the caller that has made the writer busy touches it. Set while the
	// writer is idle, it says that a batch could not end its transaction
	// (see rollback): whoever makes the writer busy next heals it.
	holdsLock bool
	// stranded is closed, and replaced, when the writer turns idle with
	// holdsLock set: the callers waiting for the store's write lock then
	// heal the writer (see healIdle), which no batch may come to do.
	stranded chan struct{}
	// cacheWait bounds a read's wait for its turn (maxCacheWait; tests
	// change it), and afterAsk, when set by a test, runs after a read
	// has asked SQLite in checkCached.
	cacheWait time.Duration
	afterAsk  func()
	// failExec, when set by a test, runs before each statement of exec:
	// an error from it stands for the statement's own.
	failExec func(query string) error
	// committed, when set by a test, runs after a batch has committed,
	// before its events are kept in memory.
	committed func()

	lastRevision, streamMeta, insertStream, insertEvent, eventsAt, findID, readHead, dataVersion *sql.Stmt
	reader                                                                                       *groupConn // the page queries on conn, for writer.read

	written []recentEvent // the buffer of batch.written, reused

	// streams caches what the writer knows of the streams it wrote, to
	// spare two lookups per append, and head is the log's last position
	// used, to spare a query per batch (with known set). They are valid
	// while no other connection has committed: dataVersion, SQLite's count
	// of such commits, tells.
	streams    map[string]streamInfo
	maxStreams int // maxCachedStreams; tests change it
	head       uint64
	known      bool
	version    int64

	// checked is when the writer last asked SQLite whether another
	// connection had committed, as time since opened: what [recent]
	// holds was the file's as of then, but for commits of other
	// connections since (see liveSource).
	opened  time.Time
	checked atomic.Int64
}

// The writer's queries of one stream ?1, which must seek the index of
// streams (TestStreamQueriesSeek).
const (
	// lastRevisionSQL is the stream's number and last revision. No row:
	// the stream never had an event; a NULL revision: its events were
	// deleted.
	lastRevisionSQL = "SELECT id, (SELECT max(revision) FROM events WHERE stream_id = stream_ids.id) FROM stream_ids WHERE name = ?1"
	// eventsAtSQL is the IDs, positions and revisions of up to ?3 events
	// from revision ?2, for the append rules.
	eventsAtSQL = "SELECT id, position, revision FROM events WHERE stream_id = " + streamIDSQL + " AND revision >= ?2 ORDER BY revision LIMIT ?3"
)

// insertEventSQL writes one event.
const insertEventSQL = "INSERT INTO events (position, stream, stream_id, revision, id, type, data, metadata, recorded) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"

// maxCachedStreams bounds the writer's cache of stream states.
const maxCachedStreams = 100_000

// boundStreams empties the writer's cache of stream states when it has
// reached its bound (w.maxStreams): it is only a cache.
func (w *writer) boundStreams() {
	if len(w.streams) >= w.maxStreams {
		clear(w.streams)
	}
}

func newWriter(ctx context.Context, s *Store, db *sql.DB, conn *sql.Conn) (*writer, error) {
	w := &writer{s: s, db: db, conn: conn, streams: make(map[string]streamInfo), maxStreams: maxCachedStreams,
		turn: make(chan struct{}), stranded: make(chan struct{}), cacheWait: maxCacheWait, opened: time.Now()}
	w.idle.L = &w.mu
	// The connection waits for SQLite's write lock lockWait at a time;
	// commit waits up to the busy timeout in all (see lockWait).
	wait := min(lockWait, s.opts.BusyTimeout).Milliseconds()
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA busy_timeout = %d", max(wait, 1))); err != nil {
		return nil, fmt.Errorf("set the busy timeout: %w", err)
	}
	for _, p := range []struct {
		stmt **sql.Stmt
		sql  string
	}{
		{&w.lastRevision, lastRevisionSQL},
		{&w.insertStream, "INSERT INTO stream_ids (name) VALUES (?)"},
		{&w.streamMeta, "SELECT max_age_us, max_count, truncate_before, deleted, next_revision, restart FROM streams_meta WHERE stream = ?"},
		{&w.insertEvent, insertEventSQL},
		{&w.eventsAt, eventsAtSQL},
		{&w.findID, "SELECT revision FROM events WHERE id = ? AND stream = ? ORDER BY revision LIMIT 1"},
		// The last event's position, or the highest position ever used
		// when the newest events were deleted (see the trigger
		// events_keep_head): a position is never handed out twice.
		{&w.readHead, "SELECT max(coalesce((SELECT max(position) FROM events), 0), coalesce((SELECT head FROM log_state WHERE id = 1), 0))"},
		{&w.dataVersion, "PRAGMA data_version"},
	} {
		stmt, err := conn.PrepareContext(ctx, p.sql)
		if err != nil {
			return nil, fmt.Errorf("prepare %q: %w", p.sql, err)
		}
		*p.stmt = stmt
	}
	var err error
	if w.reader, err = newGroupConn(ctx, conn); err != nil {
		return nil, err
	}
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

// do runs op in the writer's next batch and returns its answer.
func (w *writer) do(ctx context.Context, stream, verb string, op func(context.Context, *batch) (chronicle.AppendResult, bool, error)) (chronicle.AppendResult, error) {
	if err := ctx.Err(); err != nil {
		return chronicle.AppendResult{}, fmt.Errorf("%s %q: %w", verb, stream, err)
	}
	req := &request{ctx: ctx, stream: stream, verb: verb, op: op}
	w.mu.Lock()
	switch {
	case w.closed:
		w.mu.Unlock()
		return chronicle.AppendResult{}, fmt.Errorf("%s %q: %w", verb, stream, chronicle.ErrClosed)
	case !w.busy:
		w.busy = true
		w.mu.Unlock()
		return w.lead(req)
	}
	req.reply = make(chan reply, 1)
	w.queue = append(w.queue, req)
	w.mu.Unlock()
	var r reply
	select {
	case r = <-req.reply:
	case <-ctx.Done():
		w.mu.Lock()
		if i := slices.Index(w.queue, req); i >= 0 {
			// No batch has taken it: it will not happen.
			w.queue = slices.Delete(w.queue, i, i+1)
			w.mu.Unlock()
			return chronicle.AppendResult{}, fmt.Errorf("%s %q: %w", verb, stream, ctx.Err())
		}
		w.mu.Unlock()
		// A batch has taken it, or its caller is to commit the next batch:
		// wait for the outcome, a commit away, rather than leave the caller
		// guessing (or the writer with no one to run it).
		r = <-req.reply
	}
	if r.lead {
		return w.lead(req)
	}
	return r.res, r.err
}

// lead commits own and the requests queued now, and those that arrive
// while it writes them (up to MaxBatch in all), as one batch, then hands
// the writer to the first request queued after them, or marks it idle.
func (w *writer) lead(own *request) (chronicle.AppendResult, error) {
	batch := []*request{own}
	w.join(&batch)
	defer func() {
		if p := recover(); p != nil {
			// A bug, recovered above us perhaps. commit answers the others
			// only at its end, so none is answered yet: answer them, and
			// undo the transaction and pass the writer on, rather than
			// leave everyone waiting for good.
			w.rollback()
			w.forget()
			for _, r := range batch[1:] {
				r.reply <- reply{err: fmt.Errorf("%s %q: %v", r.verb, r.stream, p)}
			}
			w.release()
			panic(p)
		}
	}()
	r := w.commit(&batch)
	w.release()
	return r.res, r.err
}

// join moves the requests queued now into batch, up to MaxBatch in all,
// and reports whether it moved any. Until it takes them, a caller that
// gives up may still withdraw its request (see do).
func (w *writer) join(batch *[]*request) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := min(len(w.queue), w.s.opts.MaxBatch-len(*batch))
	if n <= 0 {
		return false
	}
	*batch = append(*batch, w.queue[:n]...)
	w.queue = slices.Delete(w.queue, 0, n)
	return true
}

// forget drops what the writer remembers of the file: it is read again
// at the next batch.
func (w *writer) forget() {
	clear(w.streams)
	w.known = false
	w.s.cache.clear()
}

// reload drops what the writer remembers of the file, and what the
// subscribers would take from memory, and reads the log's head again,
// after another connection has committed: version is the file's
// data_version, read in the same transaction.
func (w *writer) reload(ctx context.Context, version int64) error {
	w.forget()
	// That commit may have been a scavenge, whose removed events the
	// subscribers must no longer take from memory: a scavenge is how
	// deleted data leaves the store. Another process's appends reset the
	// memory anyway, at this process's next commit.
	w.s.recent.clear()
	if err := checkSchema(ctx, w.conn); err != nil {
		return err
	}
	if err := w.readHead.QueryRowContext(ctx).Scan(&w.head); err != nil {
		return fmt.Errorf("read head: %w", err)
	}
	w.version, w.known = version, true
	return nil
}

// refresh asks SQLite, inside the caller's transaction, whether another
// connection has committed since the writer last looked, and if so
// reloads what the writer knows; it reports whether it did.
func (w *writer) refresh(ctx context.Context) (changed bool, err error) {
	var version int64
	if err := w.dataVersion.QueryRowContext(ctx).Scan(&version); err != nil {
		return false, fmt.Errorf("read head: %w", err)
	}
	if version == w.version && w.known {
		w.checked.Store(int64(time.Since(w.opened)))
		return false, nil
	}
	if err := w.reload(ctx, version); err != nil {
		return true, err
	}
	w.checked.Store(int64(time.Since(w.opened)))
	return true, nil
}

// checkedWithin reports whether the writer has asked SQLite, within d,
// whether another connection had committed (see refresh).
func (w *writer) checkedWithin(d time.Duration) bool {
	return time.Since(w.opened)-time.Duration(w.checked.Load()) <= d
}

// checkIdle asks SQLite whether another connection has committed, as
// check does, if the writer is idle, and reports whether it could tell.
func (w *writer) checkIdle() bool {
	w.mu.Lock()
	if w.busy || w.closed {
		w.mu.Unlock()
		return false
	}
	w.busy = true
	w.mu.Unlock()
	defer w.release()
	if w.heal() != nil {
		return false
	}
	_, ok := w.check()
	return ok
}

// setLockedOut records whether another connection holds the write lock,
// and lets the reads waiting for their turn go on when it does (see
// cached).
func (w *writer) setLockedOut(v bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if v && !w.lockedOut {
		w.signalLocked()
	}
	w.lockedOut = v
}

// signal lets the reads waiting for their turn go on (see cached).
func (w *writer) signal() {
	w.mu.Lock()
	w.signalLocked()
	w.mu.Unlock()
}

// signalLocked is signal with w.mu held.
func (w *writer) signalLocked() {
	close(w.turn)
	w.turn = make(chan struct{})
}

// release hands the writer to the first queued request whose caller has
// not given up, to commit the next batch, or marks it idle. A request
// whose context has ended is answered with its error: it did not happen,
// and its caller should not commit the others' appends.
func (w *writer) release() {
	w.mu.Lock()
	for len(w.queue) > 0 {
		next := w.queue[0]
		w.queue = slices.Delete(w.queue, 0, 1)
		if err := next.ctx.Err(); err != nil {
			next.reply <- reply{err: fmt.Errorf("%s %q: %w", next.verb, next.stream, err)}
			continue
		}
		w.mu.Unlock()
		next.reply <- reply{lead: true}
		return
	}
	w.busy = false
	if w.holdsLock {
		close(w.stranded)
		w.stranded = make(chan struct{})
	}
	w.idle.Broadcast()
	w.signalLocked()
	w.mu.Unlock()
}

// read reads a page of a stream on the writer's connection, if the writer
// is idle, and reports whether it did. SQLite keeps a connection's page
// cache across the commits that the connection made itself, so when
// nobody else writes (one command after another, as in C4-SEQ) the pages
// of the stream just appended to are still there; a connection of the
// read pool would read them again. Appends that arrive meanwhile queue
// as behind a batch.
func (w *writer) read(req *pageRequest) ([]chronicle.RecordedEvent, bool, error) {
	w.mu.Lock()
	if w.busy || w.closed {
		w.mu.Unlock()
		return nil, false, nil
	}
	w.busy = true
	w.mu.Unlock()
	// A panic passes the writer on as a return does: run has ended its
	// transaction already (see raw); one in check may leave its own open,
	// which the next BEGIN on the connection rolls back (see beginHealed).
	defer w.release()
	if w.heal() != nil {
		// The connection still holds a transaction it could not end:
		// the read pool reads instead, and the next batch, which tries
		// to end it too, reports the failure to its appends.
		return nil, false, nil
	}
	fill := w.refillable(req)
	if !w.known && fill {
		// Since it opened, or since another connection committed, the
		// writer knows nothing of the file: ask, so that the read may
		// give the stream an entry.
		w.check()
	}
	var r pageReply
	var answered int
	if !w.reader.run([]*pageRequest{req}, req, &r, &answered) {
		// The connection is stuck in an old snapshot until its next
		// BEGIN: its data_version says nothing of commits since.
		w.forget()
	}
	if isBusy(r.err) {
		return nil, false, nil // the read group waits the whole busy timeout
	}
	if r.err == nil && fill {
		w.refill(req, r.page)
	}
	return r.page, true, r.err
}

// refillable reports whether a read of the file for req could give its
// stream an entry in the cache (see refill).
func (w *writer) refillable(req *pageRequest) bool {
	return !req.backwards && req.from == 0 && w.s.cache.wants(req.stream)
}

// refill gives the stream cache an entry for a stream that has none
// (refillable said so before the read), from
// a read of its first page on the writer's connection that found all its
// events: a stream this store did not create, or whose entry went (after
// a restart, or another connection's commit). Holding the writer, it
// runs after a check of the file (read makes one if the writer knows
// nothing), and no append of this store can change the stream meanwhile;
// should another connection have committed since that check, the next
// check drops the entry with the rest. Like the writer's, the entry holds
// every event of a stream that has no metadata and is not deleted,
// revision 0 first.
func (w *writer) refill(req *pageRequest, page []chronicle.RecordedEvent) {
	n := len(page)
	if n == 0 || n >= req.limit || n > maxStreamCached || !w.known {
		return
	}
	w.boundStreams() // a store that only reads runs no batch to bound it
	st, err := w.stream(context.Background(), req.stream)
	if err != nil || !st.meta.IsZero() || st.deleted != notDeleted || st.next != uint64(n) {
		return
	}
	evs := make([]recentEvent, n)
	for i, e := range page {
		if e.Revision != uint64(i) || e.Metadata != nil && len(e.Metadata) == 0 {
			return // the second: stored as {}, which read back as nil would differ
		}
		md, err := chronicle.MarshalMetadata(e.Metadata)
		if err != nil || len(e.Data)+len(md) > maxCachedEvent {
			return
		}
		evs[i] = recentEvent{RecordedEvent: e, metadata: md}
		evs[i].Data = bytes.Clone(e.Data) // the caller's page is its own
		evs[i].Metadata = nil
	}
	w.s.cache.fill(req.stream, evs)
}

// maxCacheWait bounds how long a read of a cached stream waits for the
// writer to check the file; then it reads the file. A commit's fsync, or
// another connection that holds the write lock, would otherwise hold it
// up: reads should not wait for appends.
const maxCacheWait = time.Millisecond

// cached returns what ReadStream returns for stream with opts from the
// stream cache, and reports whether it could. It serves a read only when
// no other connection can have committed unseen (see streamCache): while
// a transaction of the writer holds the write lock, having checked the
// file, or once the writer has checked it after the read began. When the
// writer is idle, the read asks SQLite itself, on the writer's
// connection; while a transaction commits or the next one begins, it
// waits for the next check, up to maxCacheWait. When another connection
// holds the write lock, it leaves the read to the file at once.
func (w *writer) cached(ctx context.Context, stream string, opts chronicle.ReadStreamOptions) ([]chronicle.RecordedEvent, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	since := noCheck
	var timeout <-chan time.Time
	for {
		evs, how, started := w.s.cache.lookup(stream, since)
		switch how {
		case missing:
			return nil, false, nil
		case served:
			out, err := readCached(evs, opts)
			return out, err == nil, err
		}
		if since == noCheck {
			since = started
		}
		w.mu.Lock()
		switch {
		case w.closed, w.lockedOut:
			w.mu.Unlock()
			return nil, false, nil
		case !w.busy:
			w.busy = true
			w.mu.Unlock()
			return w.checkCached(stream, opts)
		}
		turn := w.turn
		if w.s.cache.servable(since) {
			// A check since the lookup closed the turn before this one.
			w.mu.Unlock()
			continue
		}
		w.mu.Unlock()
		if timeout == nil {
			t := time.NewTimer(w.cacheWait)
			defer t.Stop()
			timeout = t.C
		}
		select {
		case <-turn:
		case <-timeout:
			return nil, false, nil
		case <-ctx.Done():
			return nil, false, ctx.Err()
		}
	}
}

// checkCached asks SQLite whether another connection has committed since
// the writer last looked, and serves the read from the cache if none
// has; the caller has made the writer busy.
func (w *writer) checkCached(stream string, opts chronicle.ReadStreamOptions) ([]chronicle.RecordedEvent, bool, error) {
	defer w.release()
	if w.heal() != nil {
		// As in read: the file answers, not the cache.
		return nil, false, nil
	}
	n := w.s.cache.asking()
	changed, ok := w.check()
	if w.afterAsk != nil {
		w.afterAsk()
	}
	if !ok || changed {
		// Every entry went; the read of the file that follows may give
		// this stream a new one (see refill).
		return nil, false, nil
	}
	w.s.cache.checked(n, false)
	evs, how, _ := w.s.cache.lookup(stream, n-1)
	if how != served {
		return nil, false, nil
	}
	out, err := readCached(evs, opts)
	return out, err == nil, err
}

// check asks SQLite, outside a batch, whether another connection has
// committed since the writer last looked, and if so reloads what the
// writer knows (dropping every cache entry), and reports whether it did.
// It runs in a transaction of its own, begun healed: a connection left
// inside an old one (see beginHealed) would answer from its old
// snapshot. ok is false when it could not tell; the writer then knows
// nothing until its next batch. The caller has made the writer busy.
func (w *writer) check() (changed, ok bool) {
	if err := beginHealed(w.exec, "BEGIN"); err != nil {
		w.forget()
		return false, false
	}
	changed, err := w.refresh(context.Background())
	if err == nil {
		err = w.exec("COMMIT")
	}
	if err != nil {
		w.rollback()
		w.forget()
		return false, false
	}
	return changed, true
}

// commit does a batch of requests in one transaction. Requests that
// arrive while it writes them join the batch (see join), so that the
// callers its predecessor answered, which come back while it writes,
// share its commit rather than wait for the next one. It answers each
// request but the first on its reply channel, and returns the first's
// answer.
func (w *writer) commit(all *[]*request) reply {
	// The transaction belongs to the whole batch, so no single caller's
	// context may cancel it; callers that gave up are skipped below.
	ctx := context.Background()
	reqs := *all
	replies := make([]reply, len(reqs))
	answer := func() reply {
		for i, r := range reqs[1:] {
			r.reply <- replies[i+1]
		}
		return replies[0]
	}
	fail := func(err error) reply {
		// What the batch wrote is gone, and so must be what it cached.
		w.forget()
		for i, r := range reqs {
			replies[i] = reply{err: fmt.Errorf("%s %q: %w", r.verb, r.stream, err)}
		}
		return answer()
	}
	gaveUp, err := w.begin(reqs)
	if gaveUp {
		for i, r := range reqs {
			replies[i] = reply{err: fmt.Errorf("%s %q: %w", r.verb, r.stream, r.ctx.Err())}
		}
		return answer()
	}
	if err != nil {
		return fail(fmt.Errorf("begin: %w", err))
	}
	// Read under the write lock: nobody can commit between this and the
	// batch's own commit.
	check := w.s.cache.asking()
	if _, err := w.refresh(ctx); err != nil {
		w.rollback()
		return fail(err)
	}
	// The file is as the writer knows it, and nobody else can commit
	// until this transaction ends: the stream cache may serve reads.
	w.s.cache.checked(check, true)
	w.signal()
	w.boundStreams()
	b := &batch{w: w, head: w.head, now: time.Now().UnixMicro(), written: w.written[:0]}
	wrote := false
	for i := 0; i < len(reqs) || w.join(all); i++ {
		if len(reqs) < len(*all) {
			// Joined late: their events are recorded no earlier than
			// they were sent.
			reqs = *all
			replies = append(replies, make([]reply, len(reqs)-len(replies))...)
			b.now = max(b.now, time.Now().UnixMicro())
		}
		r := reqs[i]
		if err := r.ctx.Err(); err != nil {
			replies[i].err = fmt.Errorf("%s %q: %w", r.verb, r.stream, err)
			continue
		}
		res, written, err := r.op(ctx, b)
		if err != nil && !written && !isRefusal(err) {
			// The database failed, not the append: SQLite may have rolled
			// back the whole transaction, so nothing in it can be trusted.
			w.rollback()
			return fail(err)
		}
		replies[i] = reply{res: res, err: err}
		wrote = wrote || written
	}
	// Once the commit has released the write lock, another process may
	// commit: from here on, reads of the cache must ask (see cached).
	w.s.cache.invalidate()
	if err := w.exec("COMMIT"); err != nil {
		w.rollback()
		return fail(fmt.Errorf("commit: %w", err))
	}
	if w.committed != nil {
		w.committed()
	}
	w.head = b.head
	if wrote {
		w.s.cache.add(b.written, b.fresh)
		w.s.recent.add(b.written)
		w.s.changed.Notify()
	}
	// Only now may this store's Scavenge run: it clears what recent
	// holds once it has removed events, and the batch must not add them
	// back after it.
	w.unlockWrites()
	clear(b.written)
	w.written = b.written[:0]
	return answer()
}

// begin begins a batch's transaction, holding the store's write lock
// (see writeLock) and then SQLite's. Waiting for them, which an Update of
// this store or another process may hold for up to the busy timeout, is
// the one wait that may end early: when every caller of the batch has
// given up, which it reports. It waits lockWait at a time, and looks at
// the callers in between. Unless it returns nil and false, it holds
// neither lock, but for the transaction of an earlier batch that it could
// not end either (see heal).
func (w *writer) begin(reqs []*request) (gaveUp bool, err error) {
	if err := w.heal(); err != nil {
		return false, err
	}
	start := time.Now()
	// Another connection may hold the write lock meanwhile, for who knows
	// how long: reads stop waiting for this transaction until it begins
	// (see cached).
	defer w.setLockedOut(false)
	if ticket := w.s.writes.lockOrQueue(); ticket != nil {
		w.setLockedOut(true)
		if gaveUp, err := w.waitWriteLock(ticket, reqs, start); gaveUp || err != nil {
			return gaveUp, err
		}
	}
	w.holdsLock = true
	// SQLite waits lockWait at a time on this connection for another
	// process.
	for {
		err = beginHealed(w.exec, "BEGIN IMMEDIATE")
		if err == nil || !isBusy(err) {
			break
		}
		w.setLockedOut(true)
		if allGaveUp(reqs) {
			gaveUp = true
			break
		}
		if time.Since(start) >= w.s.opts.BusyTimeout {
			break
		}
	}
	if gaveUp || err != nil {
		w.unlockWrites()
	}
	return gaveUp, err
}

// waitWriteLock waits for ticket, the writer's place in the queue for
// the store's write lock, lockWait at a time, and looks at the callers of
// the batch in between. Should they all give up, or the busy timeout pass
// since start, it withdraws the ticket.
func (w *writer) waitWriteLock(ticket chan struct{}, reqs []*request, start time.Time) (gaveUp bool, err error) {
	handed := false
	defer func() {
		if !handed {
			w.s.writes.withdraw(ticket)
		}
	}()
	for {
		select {
		case <-ticket:
			handed = true
			return false, nil
		case <-time.After(min(lockWait, w.s.opts.BusyTimeout)):
		}
		switch {
		case allGaveUp(reqs):
			return true, nil
		case time.Since(start) >= w.s.opts.BusyTimeout:
			return false, fmt.Errorf("this store's Update, Scavenge or Checkpoint held the write lock for the whole busy timeout (%v): "+
				"one ran that long, or a write was made inside an Update's function, which waits for that Update to end", w.s.opts.BusyTimeout)
		}
	}
}

// unlockWrites lets the store's write lock go, if the writer holds it:
// once its transaction has ended, or failed to begin.
func (w *writer) unlockWrites() {
	if w.holdsLock {
		w.holdsLock = false
		w.s.writes.unlock()
	}
}

// lockWait is how long the writer's connection waits for SQLite's write
// lock before the writer looks at its callers' contexts again. A context
// given to the driver would do it too, but the driver watches each with a
// goroutine and a progress handler per call: that cost a lone append
// 10-30% of its time (BenchmarkStoreRelaxed/Append/writers=1/batch=1).
const lockWait = 50 * time.Millisecond

// isBusy reports whether err is SQLite's "database is locked".
func isBusy(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_BUSY
}

// allGaveUp reports whether the contexts of all reqs have ended.
func allGaveUp(reqs []*request) bool {
	for _, r := range reqs {
		if r.ctx.Err() == nil {
			return false
		}
	}
	return true
}

// isRefusal reports whether err refuses an append for its own reasons,
// as opposed to a failure of the database.
func isRefusal(err error) bool {
	return errors.Is(err, chronicle.ErrWrongExpectedRevision) || errors.Is(err, chronicle.ErrIdempotencyConflict) ||
		errors.Is(err, chronicle.ErrStreamDeleted) || errors.Is(err, chronicle.ErrStreamNotFound)
}

// rollback ends the batch's transaction, then lets the store's write lock
// go. Should the connection still be inside the transaction, which holds
// SQLite's write lock, the writer keeps the store's: handed over to an
// Update, it would make it wait for SQLite's lock the whole busy timeout,
// and fail with "database is locked". Whoever makes the writer busy next
// (a batch, a read, or an Update, even one that was already waiting for
// the lock: see healIdle) ends the transaction and lets the lock go, or
// fails saying why (see heal).
func (w *writer) rollback() {
	w.s.cache.invalidate()
	if w.endTx() == nil {
		w.unlockWrites()
	}
}

// endTx ends the transaction that the writer's connection may be in, and
// returns nil once the connection is in none that holds a lock.
func (w *writer) endTx() error {
	if w.exec("ROLLBACK") == nil {
		return nil
	}
	// Either there was no transaction left (SQLite ends one itself on
	// some failures of COMMIT), or the rollback failed: a BEGIN, which
	// succeeds only outside a transaction, tells them apart. The deferred
	// transaction it begins holds no lock, even should its ROLLBACK fail;
	// the next BEGIN would then roll it back (see beginHealed).
	if w.exec("BEGIN") == nil {
		w.exec("ROLLBACK")
		return nil
	}
	return w.exec("ROLLBACK")
}

// heal ends the transaction that an earlier batch could not end (see
// rollback), if there is one, and lets the store's write lock go. The
// caller has made the writer busy.
func (w *writer) heal() error {
	if !w.holdsLock {
		return nil
	}
	if err := w.endTx(); err != nil {
		return fmt.Errorf("the writer could not roll back a failed batch's transaction, which may still hold SQLite's write lock (each write tries again): %w", err)
	}
	w.unlockWrites()
	return nil
}

// healIdle heals the writer (see heal) if it is idle, for a caller
// waiting for the store's write lock, which would otherwise wait for the
// writer's next batch to do it; a busy writer heals before it writes or
// reads. It returns a channel that is closed when the writer next turns
// idle still holding the lock: the caller, if it still waits, calls
// healIdle again then.
func (w *writer) healIdle() (stranded <-chan struct{}, err error) {
	w.mu.Lock()
	stranded = w.stranded
	// holdsLock may be read here once the writer is idle: its last caller
	// wrote it before release took mu.
	if w.busy || w.closed || !w.holdsLock {
		w.mu.Unlock()
		return stranded, nil
	}
	w.busy = true
	w.mu.Unlock()
	defer w.release()
	return stranded, w.heal()
}

// exec runs a statement without arguments, such as BEGIN or COMMIT, on
// the writer's connection. It belongs to no single caller, so no caller's
// context may cancel it.
func (w *writer) exec(query string) error {
	if w.failExec != nil {
		if err := w.failExec(query); err != nil {
			return err
		}
	}
	_, err := w.conn.ExecContext(context.Background(), query)
	return err
}

// beginHealed runs begin, a BEGIN statement, through exec. Should a
// COMMIT and the ROLLBACK after it both have failed, the connection is
// still inside that transaction, and every BEGIN on it would fail: so
// when begin fails for another reason than a lock held elsewhere, the
// transaction left open is rolled back and begin runs again.
func beginHealed(exec func(query string) error, begin string) error {
	err := exec(begin)
	if err == nil || isBusy(err) || exec("ROLLBACK") != nil {
		return err
	}
	return exec(begin)
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
	ack, err := appendcheck.Check(stream, expected, st.check(), events, streamView{ctx, w, stream})
	if err != nil || ack != nil {
		if ack != nil {
			return *ack, false, nil
		}
		return chronicle.AppendResult{}, false, err
	}
	if st.next == 0 && st.deleted == notDeleted && st.meta.IsZero() {
		// A new stream with nothing to hide: the stream cache may keep it.
		if b.fresh == nil {
			b.fresh = make(map[string]bool)
		}
		b.fresh[stream] = true
	}
	if st.id == 0 {
		// The stream's first event: it gets its number.
		res, err := w.insertStream.ExecContext(ctx, stream)
		if err == nil {
			st.id, err = res.LastInsertId()
		}
		if err != nil {
			return chronicle.AppendResult{}, false, fmt.Errorf("append to %q: number the stream: %w", stream, err)
		}
	}
	res := chronicle.AppendResult{FirstPosition: b.head + 1, FirstRevision: st.next}
	recorded := time.UnixMicro(b.now).UTC()
	for i, e := range events {
		pos, rev := res.FirstPosition+uint64(i), res.FirstRevision+uint64(i)
		_, err := w.insertEvent.ExecContext(ctx, int64(pos), stream, st.id, int64(rev), e.ID[:], e.Type, e.Data, metadata[i], b.now)
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

// forgetStream drops what the writer and the stream cache hold of stream,
// whose metadata or existence the batch changes.
func (b *batch) forgetStream(stream string) {
	delete(b.w.streams, stream)
	delete(b.fresh, stream)
	b.w.s.cache.drop(stream)
}

// Values of streams_meta.deleted.
const (
	notDeleted  = 0
	softDeleted = 1
	tombstoned  = 2
)

// streamInfo is what the writer knows of a stream at the start of a write.
type streamInfo struct {
	id      int64  // its number in stream_ids; 0 before its first event
	exists  bool   // it has events, and is not deleted
	last    uint64 // its last revision, when exists
	next    uint64 // the revision of the next event appended to it
	meta    chronicle.StreamMetadata
	deleted int
	// restart is the revision from which the stream's latest soft
	// delete let it go on (streams_meta.restart).
	restart uint64
}

// state returns the stream's state for expected revisions.
func (st streamInfo) state() chronicle.StreamState {
	return chronicle.StreamState{Exists: st.exists, LastRevision: st.last}
}

// check returns the stream's state for the append rules.
func (st streamInfo) check() appendcheck.State {
	return appendcheck.State{StreamState: st.state(), SoftDeleted: st.deleted == softDeleted, Restart: st.restart}
}

// stream reads what the writer needs to know of a stream. Its revisions
// go on from the last event in the table, or from next_revision when a
// scavenge has taken the events away; its metadata never moves them.
func (w *writer) stream(ctx context.Context, stream string) (streamInfo, error) {
	if st, ok := w.streams[stream]; ok {
		return st, nil
	}
	var st streamInfo
	var last sql.NullInt64
	switch err := w.lastRevision.QueryRowContext(ctx, stream).Scan(&st.id, &last); {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return st, fmt.Errorf("read stream %q: %w", stream, err)
	}
	var maxAge, maxCount, truncate, next, restart int64
	switch err := w.streamMeta.QueryRowContext(ctx, stream).Scan(&maxAge, &maxCount, &truncate, &st.deleted, &next, &restart); {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return st, fmt.Errorf("read metadata of %q: %w", stream, err)
	}
	st.meta = chronicle.StreamMetadata{MaxAge: maxage.Of(maxAge, time.Microsecond), MaxCount: uint64(maxCount), TruncateBefore: uint64(truncate)}
	st.restart = uint64(restart)
	if last.Valid {
		st.next = uint64(last.Int64) + 1
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
		var pos, rev int64
		if err := rows.Scan(&id, &pos, &rev); err != nil {
			return nil, err
		}
		u, err := uuid.FromBytes(id)
		if err != nil {
			return nil, fmt.Errorf("stored event ID at position %d: %w", pos, err)
		}
		out = append(out, appendcheck.Recorded{ID: u, Position: uint64(pos), Revision: uint64(rev)})
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

// close waits for the batches under way and those already queued, then
// closes the writer's connection. Appends after close fail with
// [chronicle.ErrClosed].
func (w *writer) close() error {
	w.mu.Lock()
	w.closed = true
	for w.busy {
		w.idle.Wait()
	}
	w.mu.Unlock()
	var errs []error
	for _, stmt := range []*sql.Stmt{w.lastRevision, w.streamMeta, w.insertStream, w.insertEvent, w.eventsAt, w.findID, w.readHead, w.dataVersion} {
		errs = append(errs, stmt.Close())
	}
	errs = append(errs, w.reader.closeStmts())
	return errors.Join(append(errs, w.conn.Close(), w.db.Close())...)
}
