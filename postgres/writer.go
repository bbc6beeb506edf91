package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/internal/appendcheck"
	"github.com/chronicle-es/chronicle/internal/sqlnum"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
)

// request is one Append waiting for the writer.
type request struct {
	ctx      context.Context
	stream   string
	expected chronicle.ExpectedRevision
	events   []chronicle.EventData
	metadata [][]byte // events[i].Metadata, encoded
	reply    chan reply
}

// size is roughly how many bytes the request adds to the batch's insert.
func (r *request) size() int {
	n := 0
	for i, e := range r.events {
		n += len(e.Data) + len(r.metadata[i]) + len(e.Type) + len(r.stream) + 32
	}
	return n
}

// maxBatchBytes bounds the events of one batch, in bytes: PostgreSQL
// refuses a message over 1 GiB, and a batch should not fail for the size
// of appends that would each succeed. An append larger than this goes in
// a batch of its own.
const maxBatchBytes = 64 << 20

type reply struct {
	res chronicle.AppendResult
	err error
}

// writer commits the store's appends in batches: one transaction, one
// round trip under the head lock, for every append that arrived while the
// previous batch was committing.
type writer struct {
	s    *Store
	pool *pgxpool.Pool // one connection

	reqs chan *request // unbuffered: a send succeeds only when the loop takes it
	quit chan struct{} // closed by close
	done chan struct{} // closed when the loop has ended

	// hook, when set (by tests), is called at the stages of a batch named
	// by the constants below, so that a test can stretch them.
	hook atomic.Pointer[func(stage string)]

	// relocked counts the batches checked again under the lock, for tests.
	relocked atomic.Int64
	// fast counts the batches whose states came from known, for tests.
	fast atomic.Int64

	// known holds the state of the streams that this writer last wrote,
	// as they were when its insert committed. Used only by the writer's
	// loop. An append that expects exactly the known last revision skips
	// the read of the states, which makes it one round trip. A state that
	// went stale (another process appended or deleted since) is caught by
	// the insert itself: the unique (stream, revision) constraint or the
	// head's meta_version refuses it, and the batch is checked again under
	// the lock, as when the read states go stale.
	known map[string]state
}

// maxKnown bounds the streams whose state the writer keeps; when full,
// it starts again.
const maxKnown = 4096

// Stages of a batch at which the test hook is called.
const (
	// stageChecked: the states are read and checked; the lock is not taken.
	stageChecked = "checked"
	// stageLocked: the lock is taken and the events inserted; the
	// transaction has not committed.
	stageLocked = "locked"
)

func newWriter(s *Store, pool *pgxpool.Pool) *writer {
	w := &writer{
		s: s, pool: pool,
		reqs:  make(chan *request),
		quit:  make(chan struct{}),
		done:  make(chan struct{}),
		known: map[string]state{},
	}
	go w.loop()
	return w
}

// Append implements [chronicle.Store.Append].
func (s *Store) Append(ctx context.Context, stream string, expected chronicle.ExpectedRevision, events ...chronicle.EventData) (chronicle.AppendResult, error) {
	events, err := chronicle.PrepareAppend(stream, events, s.opts.MaxEventSize)
	if err != nil {
		return chronicle.AppendResult{}, err
	}
	req := &request{
		ctx: ctx, stream: stream, expected: expected, events: events,
		metadata: make([][]byte, len(events)),
		reply:    make(chan reply, 1),
	}
	for i, e := range events {
		if req.metadata[i], err = chronicle.MarshalMetadata(e.Metadata); err != nil {
			return chronicle.AppendResult{}, fmt.Errorf("append to %q: event %d metadata: %w", stream, i, err)
		}
	}
	if err := ctx.Err(); err != nil {
		return chronicle.AppendResult{}, fmt.Errorf("append to %q: %w", stream, err)
	}
	select {
	case s.w.reqs <- req:
	case <-s.w.quit:
		return chronicle.AppendResult{}, fmt.Errorf("append to %q: %w", stream, chronicle.ErrClosed)
	case <-ctx.Done():
		return chronicle.AppendResult{}, fmt.Errorf("append to %q: %w", stream, ctx.Err())
	}
	select {
	case r := <-req.reply:
		return r.res, r.err
	case <-ctx.Done():
		// The writer has the request and may commit it: say so, rather than
		// claim that nothing happened.
		return chronicle.AppendResult{}, fmt.Errorf("append to %q: %w; the events may still be written: retry with the same event IDs to find out", stream, ctx.Err())
	}
}

func (w *writer) loop() {
	defer close(w.done)
	max := w.s.opts.MaxBatch
	var batch, carry []*request
	for {
		batch = append(batch[:0], carry...)
		carry = carry[:0]
		if len(batch) == 0 {
			select {
			case req := <-w.reqs:
				batch = append(batch, req)
			case <-w.quit:
				return
			}
		}
		// Take every append that is already waiting.
	more:
		for len(batch) < max {
			select {
			case req := <-w.reqs:
				batch = append(batch, req)
			default:
				break more
			}
		}
		// One append per stream in a batch: the states read before the
		// batch then hold for each of its appends. The others wait for the
		// next batch, in the order they came, as do those that would make
		// the batch's insert larger than maxBatchBytes.
		seen := make(map[string]bool, len(batch))
		n, size := 0, 0
		for _, req := range batch {
			if seen[req.stream] || n > 0 && size+req.size() > maxBatchBytes {
				carry = append(carry, req)
				continue
			}
			seen[req.stream] = true
			size += req.size()
			batch[n] = req
			n++
		}
		clear(batch[n:])
		w.commit(batch[:n])
		clear(batch)
	}
}

// commit writes a batch of appends in one transaction and answers each.
func (w *writer) commit(batch []*request) {
	// The transaction belongs to the whole batch, so no single caller's
	// context may cancel it; callers that gave up are skipped.
	ctx := context.Background()
	replies, err := w.attempt(ctx, batch, false)
	if err != nil {
		for _, r := range batch {
			delete(w.known, r.stream)
		}
	}
	if isStreamRevisionTaken(err) || errors.Is(err, errStale) {
		// Another process appended to one of the batch's streams, or
		// deleted a stream, between the read of the states and the lock:
		// check again, under the lock.
		w.relocked.Add(1)
		replies, err = w.attempt(ctx, batch, true)
	}
	for i, r := range batch {
		if err != nil {
			r.reply <- reply{err: fmt.Errorf("append to %q: %w", r.stream, upgraded(err))}
			continue
		}
		r.reply <- replies[i]
	}
}

// errStale means that a delete committed between the read of a batch's
// states and its insert, which therefore wrote nothing.
var errStale = errors.New("a stream was deleted after the batch was checked")

// isStreamRevisionTaken reports whether err is the violation of the unique
// (stream, revision) constraint: a stream moved after it was checked.
func isStreamRevisionTaken(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == "events_stream_revision"
}

// attempt runs the batch in one transaction. Without locked, it reads and
// checks the streams' states before taking the head lock, so that the
// lock is held only for the insert and the commit, sent together; an
// error for which isStreamRevisionTaken holds means the check went stale.
// With locked, it takes the lock first, so the states it reads cannot
// change before it commits.
//
// An error means that nothing was written and no request was answered;
// errStale means the same as isStreamRevisionTaken, for deletions.
func (w *writer) attempt(ctx context.Context, batch []*request, locked bool) (replies []reply, err error) {
	conn, err := w.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	defer conn.Release()
	defer func() {
		if err != nil && conn.Conn().PgConn().TxStatus() != 'I' {
			// A connection that cannot even roll back is closed, and the
			// pool replaces it.
			if _, rbErr := conn.Exec(context.Background(), "ROLLBACK"); rbErr != nil {
				conn.Conn().Close(context.Background())
			}
		}
	}()
	replies = make([]reply, len(batch))
	live := make([]int, 0, len(batch)) // indexes of the requests still wanted
	for i, r := range batch {
		if err := r.ctx.Err(); err != nil {
			replies[i].err = fmt.Errorf("append to %q: %w", r.stream, err)
			continue
		}
		live = append(live, i)
	}
	if len(live) == 0 {
		return replies, nil
	}

	if locked {
		if _, err := conn.Exec(ctx, "BEGIN"); err != nil {
			return nil, fmt.Errorf("begin: %w", err)
		}
		if _, err := conn.Exec(ctx, w.s.sql.lockHead); err != nil {
			return nil, fmt.Errorf("lock head: %w", err)
		}
	}
	// Under the lock the states are always read: that is the check of
	// last resort.
	var states []state
	var ok bool
	if !locked {
		states, ok = w.knownStates(batch, live)
	}
	if !ok {
		states, err = w.readStates(ctx, conn.Conn(), batch, live)
		if err != nil {
			return nil, err
		}
	}

	// Check each append and gather the events of those that go ahead.
	var ins insertArgs
	offsets := make([]int, len(batch)) // each written append's first event, within the batch
	var write []int
	var undelete []string
	for k, i := range live {
		r, st := batch[i], states[k]
		if st.deleted == tombstoned {
			replies[i].err = fmt.Errorf("append to %q: %w", r.stream, &chronicle.StreamDeletedError{Stream: r.stream})
			continue
		}
		check := appendcheck.State{StreamState: st.StreamState, SoftDeleted: st.deleted == softDeleted, Restart: st.restart}
		ack, err := appendcheck.Check(r.stream, r.expected, check, r.events,
			streamView{ctx, conn.Conn(), &w.s.sql, r.stream, st})
		switch {
		case ack != nil:
			replies[i].res = *ack
		case isRefusal(err):
			replies[i].err = err
		case err != nil:
			return nil, fmt.Errorf("check %q: %w", r.stream, err)
		default:
			offsets[i] = ins.len()
			ins.add(r, st.next)
			write = append(write, i)
			if st.deleted == softDeleted {
				undelete = append(undelete, r.stream)
			}
		}
	}
	if len(write) == 0 {
		if locked {
			_, err := conn.Exec(ctx, "ROLLBACK")
			return replies, err
		}
		return replies, nil
	}
	w.callHook(stageChecked, !locked)

	var metaVersion int64
	if len(states) > 0 {
		metaVersion = states[0].metaVersion
	}
	base, err := w.insert(ctx, conn.Conn(), &ins, metaVersion, undelete, !locked)
	if err != nil {
		return nil, err
	}
	w.s.changed.Notify()
	if len(w.known)+len(write) > maxKnown {
		clear(w.known)
	}
	for _, i := range write {
		r := batch[i]
		n := uint64(len(r.events))
		first := ins.revisions[offsets[i]]
		pos := base + uint64(offsets[i]) + 1
		replies[i].res = chronicle.AppendResult{
			FirstRevision: uint64(first), LastRevision: uint64(first) + n - 1,
			FirstPosition: pos, LastPosition: pos + n - 1,
		}
		last := replies[i].res.LastRevision
		w.known[r.stream] = state{
			StreamState: chronicle.StreamState{Exists: true, LastRevision: last},
			next:        last + 1,
			deleted:     notDeleted,
			metaVersion: metaVersion,
		}
	}
	return replies, nil
}

// knownStates returns the states of the batch's live appends from
// w.known, when each of them expects exactly the known last revision of
// its stream: such an append goes ahead, with no lookup of its events,
// unless the state went stale, which the insert detects. A retry of an
// append whose outcome was unknown finds its events at the revisions it
// would take, and is answered by the check under the lock.
func (w *writer) knownStates(batch []*request, live []int) ([]state, bool) {
	out := make([]state, len(live))
	for k, i := range live {
		r := batch[i]
		st, ok := w.known[r.stream]
		if rev, exact := r.expected.Revision(); !ok || !exact || rev != st.LastRevision {
			return nil, false
		}
		// The insert checks one meta_version for the whole batch: states
		// known from before and after a deletion cannot go together, or
		// the older ones would escape the check.
		if k > 0 && st.metaVersion != out[0].metaVersion {
			return nil, false
		}
		st.firstID, st.firstIDRev = r.events[0].ID, -1
		out[k] = st
	}
	w.fast.Add(1)
	return out, true
}

func (w *writer) callHook(stage string, ok bool) {
	if f := w.hook.Load(); f != nil && ok {
		(*f)(stage)
	}
}

// insert takes the head lock, numbers and inserts the events, brings the
// soft-deleted streams of undelete back, notifies and commits, and returns
// the position before the first event. With begin, it opens the
// transaction too. All of it is one pipelined round trip, so the head lock
// is held for the shortest time the server allows. It returns errStale,
// having written nothing, when the head's meta_version is no longer
// metaVersion.
func (w *writer) insert(ctx context.Context, conn *pgx.Conn, ins *insertArgs, metaVersion int64, undelete []string, begin bool) (base uint64, err error) {
	var got pgtype.Int8
	hook := w.hook.Load()
	b := &pgx.Batch{}
	if begin {
		b.Queue("BEGIN")
	}
	if undelete == nil {
		undelete = []string{}
	}
	b.Queue(w.s.sql.insert, int64(ins.len()), ins.streams, ins.revisions, ins.ids, ins.types, ins.data, ins.metadata,
		metaVersion, undelete).
		QueryRow(func(row pgx.Row) error { return row.Scan(&got) })
	// Delivered at commit, and only if it commits.
	b.Queue(w.s.sql.notify, w.s.channel)
	// committed is set once the server has answered the COMMIT: an error
	// after that (a FATAL sent as the connection ends) cannot undo it.
	var committed bool
	if hook == nil {
		b.Queue("COMMIT").Exec(func(ct pgconn.CommandTag) error {
			err := checkCommitted(ct)
			committed = err == nil
			return err
		})
	}
	if err := conn.SendBatch(ctx, b).Close(); err != nil && !committed {
		if isStreamRevisionTaken(err) {
			return 0, err
		}
		return 0, fmt.Errorf("insert: %w", unknownOutcome(err))
	}
	if hook != nil {
		(*hook)(stageLocked)
		ct, err := conn.Exec(ctx, "COMMIT")
		if err == nil {
			err = checkCommitted(ct)
		}
		if err != nil {
			return 0, fmt.Errorf("commit: %w", unknownOutcome(err))
		}
	}
	if !got.Valid {
		// The transaction committed, but it held nothing.
		return 0, errStale
	}
	return uint64(got.Int64), nil
}

// checkCommitted makes sure that a COMMIT committed: in a transaction that
// has failed, PostgreSQL answers it with ROLLBACK, and no error.
func checkCommitted(ct pgconn.CommandTag) error {
	if ct.String() != "COMMIT" {
		return fmt.Errorf("commit: the server answered %q", ct.String())
	}
	return nil
}

// unknownOutcome adds to err, when the connection broke, that the commit
// may have happened: the caller cannot tell, but a retry with the same
// event IDs can.
func unknownOutcome(err error) error {
	var pgErr *pgconn.PgError
	// A FATAL error ends the connection, and may come after the commit
	// did: the server finishes a commit before it acts on
	// pg_terminate_backend or a shutdown.
	if errors.As(err, &pgErr) && !endsConnection(pgErr) {
		return err // the server answered: it did not commit
	}
	return fmt.Errorf("%w; the connection failed, so the events may have been written: retry with the same event IDs to find out", err)
}

// endsConnection reports whether the server ended the connection with
// err. Severity is in the server's lc_messages language; the English word
// comes apart, from servers since PostgreSQL 9.6.
func endsConnection(err *pgconn.PgError) bool {
	severity := err.SeverityUnlocalized
	if severity == "" {
		severity = err.Severity
	}
	return severity == "FATAL" || severity == "PANIC"
}

// isRefusal reports whether err refuses an append for its own reasons, as
// opposed to a failure of the database.
func isRefusal(err error) bool {
	return errors.Is(err, chronicle.ErrWrongExpectedRevision) || errors.Is(err, chronicle.ErrIdempotencyConflict)
}

// insertArgs holds the columns of a batch's events, as the arrays that the
// insert unnests.
type insertArgs struct {
	streams   []string
	revisions []int64
	ids       []pgtype.UUID
	types     []string
	data      [][]byte
	metadata  [][]byte
}

func (a *insertArgs) len() int { return len(a.streams) }

func (a *insertArgs) add(r *request, first uint64) {
	for i, e := range r.events {
		data := e.Data
		if data == nil {
			data = []byte{}
		}
		a.streams = append(a.streams, r.stream)
		a.revisions = append(a.revisions, int64(first)+int64(i))
		a.ids = append(a.ids, pgtype.UUID{Bytes: e.ID, Valid: true})
		a.types = append(a.types, e.Type)
		a.data = append(a.data, data)
		a.metadata = append(a.metadata, r.metadata[i])
	}
}

// state is a stream's state before an append, and where the append's first
// event ID already is in the stream, if it is and the check may need it.
type state struct {
	chronicle.StreamState
	next        uint64 // the revision of the next event appended to it
	restart     uint64 // from which its latest soft delete let it go on
	deleted     int16
	metaVersion int64 // the head's, read with the state
	firstID     uuid.UUID
	looked      bool  // whether firstIDRev was read
	firstIDRev  int64 // -1: not in the stream
}

// Values of streams_meta.deleted.
const (
	notDeleted  = 0
	softDeleted = 1
	tombstoned  = 2
)

// readStates reads, in one query, the states of the streams of the live
// requests of a batch.
func (w *writer) readStates(ctx context.Context, conn *pgx.Conn, batch []*request, live []int) ([]state, error) {
	streams := make([]string, len(live))
	ids := make([]pgtype.UUID, len(live))
	out := make([]state, len(live))
	for k, i := range live {
		r := batch[i]
		streams[k] = r.stream
		out[k].firstID = r.events[0].ID
		// Only these expectations look a retry up by its first ID.
		if r.expected.IsAny() || r.expected.IsStreamExists() {
			ids[k] = pgtype.UUID{Bytes: r.events[0].ID, Valid: true}
		}
	}
	rows, err := conn.Query(ctx, w.s.sql.states, streams, ids)
	if err != nil {
		return nil, fmt.Errorf("read stream states: %w", err)
	}
	k := 0
	var (
		last, found   pgtype.Int8
		deleted       int16
		next, restart int64
		metaVersion   int64
	)
	_, err = pgx.ForEachRow(rows, []any{&last, &found, &deleted, &next, &restart, &metaVersion}, func() error {
		if k == len(out) {
			return errors.New("more rows than streams")
		}
		// Revisions go on after the last event, or from where a scavenge
		// that removed the last events left them. A deleted stream does
		// not exist for the expected-revision check, but keeps counting.
		st := &out[k]
		st.next = uint64(next)
		if last.Valid {
			st.next = max(st.next, uint64(last.Int64)+1)
		}
		st.deleted, st.metaVersion, st.restart = deleted, metaVersion, uint64(restart)
		st.Exists = st.next > 0 && deleted == notDeleted
		if st.Exists {
			st.LastRevision = st.next - 1
		}
		out[k].looked = ids[k].Valid
		out[k].firstIDRev = -1
		if found.Valid {
			out[k].firstIDRev = found.Int64
		}
		k++
		return nil
	})
	if err == nil && k != len(out) {
		err = fmt.Errorf("%d rows for %d streams", k, len(out))
	}
	if err != nil {
		return nil, fmt.Errorf("read stream states: %w", err)
	}
	return out, nil
}

// streamView shows one stream, as of the batch, to the append rules.
type streamView struct {
	ctx    context.Context
	conn   *pgx.Conn
	sql    *queries
	stream string
	st     state
}

func (v streamView) At(from uint64, n int) ([]appendcheck.Recorded, error) {
	rows, err := v.conn.Query(v.ctx, v.sql.eventsAt, v.stream, sqlnum.Clamp(from), n)
	if err != nil {
		return nil, err
	}
	var out []appendcheck.Recorded
	var id pgtype.UUID
	var pos, rev int64
	_, err = pgx.ForEachRow(rows, []any{&id, &pos, &rev}, func() error {
		out = append(out, appendcheck.Recorded{ID: id.Bytes, Position: uint64(pos), Revision: uint64(rev)})
		return nil
	})
	return out, err
}

func (v streamView) Find(id uuid.UUID) (uint64, bool, error) {
	if v.st.looked && id == v.st.firstID {
		return uint64(v.st.firstIDRev), v.st.firstIDRev >= 0, nil
	}
	var rev int64
	err := v.conn.QueryRow(v.ctx, v.sql.findID, pgtype.UUID{Bytes: id, Valid: true}, v.stream).Scan(&rev)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, nil
	}
	return uint64(rev), err == nil, err
}

// close stops the writer after the batches under way, then closes its
// connection.
func (w *writer) close() {
	close(w.quit)
	<-w.done
	w.pool.Close()
}
