package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/internal/repanic"
)

// readGroup runs the page queries of ReadStream calls that arrive at about
// the same time together, in one read transaction on one of a few
// connections kept for them.
//
// In WAL mode SQLite empties a connection's page cache when it starts a
// read transaction after any commit. With appends committing every
// millisecond, each stream read on a connection of the pool started cold:
// it read the top of both B-trees and every leaf again, with a pread
// each, and that was most of the CPU of C4-PAR. Reads that arrive
// together mostly need the same pages (the top of the trees, the newest
// leaves), so a batch reads them once.
//
// There is no goroutine of its own: a caller that finds a connection free
// runs its read itself, with the reads queued at that moment, at no cost
// when reads do not overlap. A caller that finds every connection busy
// queues its read and waits, either for its answer or for a connection
// to run the next batch on. Each batch starts its transaction after it
// has taken its requests, so a read sees every append that returned
// before it was asked for.
type readGroup struct {
	mu     sync.Mutex
	idle   sync.Cond      // signalled when a connection is freed
	free   []*groupConn   // the connections no caller is using
	queue  []*pageRequest // the reads waiting for a connection
	closed bool

	all []*groupConn
}

// pageRequest is one page of a stream read: the query readForwards or
// readBackwards with its four arguments.
type pageRequest struct {
	ctx       context.Context
	backwards bool
	stream    string
	from, now int64
	limit     int
	// first: the read's first page, which, if it finds nothing, asks in
	// the same transaction whether the stream exists (see query).
	first bool
	reply chan pageReply // buffered, for a read that queued
}

type pageReply struct {
	page []chronicle.RecordedEvent
	err  error
	lead *groupConn // not nil: no answer, but a connection to run the next batch on
}

// groupConn is a connection that runs batches of stream pages, with the
// page queries prepared on it: each of a readGroup's, and the writer's.
// A batch reads the driver's rows directly (see [Store.queryEvents]), so
// the statements are the driver's own, prepared on the driver's
// connection under conn and used only inside conn.Raw.
type groupConn struct {
	conn                        *sql.Conn
	forwards, backwards, exists driver.Stmt
}

// newGroupConn prepares the page queries on conn.
func newGroupConn(ctx context.Context, conn *sql.Conn) (*groupConn, error) {
	c := &groupConn{conn: conn}
	err := conn.Raw(func(dc any) error {
		p, ok := dc.(driver.ConnPrepareContext)
		if !ok {
			return fmt.Errorf("the SQLite driver's connection (%T) cannot prepare statements", dc)
		}
		var err error
		if c.forwards, err = p.PrepareContext(ctx, readForwards); err != nil {
			return err
		}
		if c.backwards, err = p.PrepareContext(ctx, readBackwards); err != nil {
			c.forwards.Close()
			return err
		}
		if c.exists, err = p.PrepareContext(ctx, existsSQL); err != nil {
			c.forwards.Close()
			c.backwards.Close()
			return err
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("prepare: %w", err)
	}
	return c, nil
}

// closeStmts closes the page queries, not the connection.
func (c *groupConn) closeStmts() error {
	return c.conn.Raw(func(any) error {
		return errors.Join(c.forwards.Close(), c.backwards.Close(), c.exists.Close())
	})
}

// newReadGroup takes n connections from db for the store's lifetime.
func newReadGroup(ctx context.Context, db *sql.DB, n int) (*readGroup, error) {
	g := &readGroup{}
	g.idle.L = &g.mu
	for range n {
		conn, err := db.Conn(ctx)
		if err != nil {
			g.close()
			return nil, fmt.Errorf("read group: %w", err)
		}
		c, err := newGroupConn(ctx, conn)
		if err != nil {
			conn.Close()
			g.close()
			return nil, fmt.Errorf("read group: %w", err)
		}
		g.all = append(g.all, c)
		g.free = append(g.free, c)
	}
	return g, nil
}

// maxGroupBatch bounds the reads of one batch, so that its caller, whose
// own read is answered first, does not wait long for the others'.
const maxGroupBatch = 64

// readGroupSize is the number of connections of a store's readGroup:
// reading SQLite's pages costs CPU, so more connections than cores would
// only make the batches smaller.
func readGroupSize() int { return max(2, runtime.GOMAXPROCS(0)) }

// page reads one page of a stream.
func (g *readGroup) page(req *pageRequest) ([]chronicle.RecordedEvent, error) {
	if err := req.ctx.Err(); err != nil {
		return nil, err
	}
	g.mu.Lock()
	switch {
	case g.closed:
		g.mu.Unlock()
		return nil, chronicle.ErrClosed
	case len(g.free) == 0:
		req.reply = make(chan pageReply, 1)
		g.queue = append(g.queue, req)
		g.mu.Unlock()
		// The caller running a batch answers every request it takes, and
		// soon: a page is bounded, so this waits for it even when ctx ends
		// meanwhile.
		r := <-req.reply
		if r.lead != nil {
			return g.lead(r.lead, req)
		}
		return r.page, r.err
	}
	c := g.free[len(g.free)-1]
	g.free = g.free[:len(g.free)-1]
	g.mu.Unlock()
	return g.lead(c, req)
}

// lead runs req and the requests queued now (up to maxGroupBatch in all)
// on c, in one transaction. Then it hands c to the first request still
// queued, which leads the next batch, or frees it when none is, under the
// same lock that queues requests, so that no request waits with no one
// to run it. Each caller leads one batch, so none is kept serving others.
func (g *readGroup) lead(c *groupConn, req *pageRequest) ([]chronicle.RecordedEvent, error) {
	g.mu.Lock()
	n := min(len(g.queue), maxGroupBatch-1)
	batch := append([]*pageRequest{req}, g.queue[:n]...)
	g.queue = slices.Delete(g.queue, 0, n)
	g.mu.Unlock()

	var own pageReply
	answered := 0
	defer func() {
		if p := recover(); p != nil {
			// A bug, recovered above us perhaps: answer the rest of the
			// batch and pass c on, rather than leave them waiting for good.
			// (run has ended its transaction already: see raw.) Their
			// error names the panic's value: the stack that raw's
			// *repanic.Error carries is for the panic raised here.
			for _, r := range batch[max(answered, 1):] {
				r.reply <- pageReply{err: fmt.Errorf("read stream: %v", repanic.Value(p))}
			}
			g.handOn(c)
			panic(p)
		}
	}()
	c.run(batch, req, &own, &answered)
	g.handOn(c)
	return own.page, own.err
}

// handOn gives c to the first queued request, to lead the next batch, or
// frees it.
func (g *readGroup) handOn(c *groupConn) {
	g.mu.Lock()
	if len(g.queue) == 0 {
		g.free = append(g.free, c)
		g.idle.Broadcast()
		g.mu.Unlock()
		return
	}
	next := g.queue[0]
	g.queue = slices.Delete(g.queue, 0, 1)
	g.mu.Unlock()
	next.reply <- pageReply{lead: c}
}

// run answers a batch of requests in one read transaction: own's answer
// goes to *ownReply, the others' to their reply channels. *answered
// counts the requests answered so far. It reports false when it left the
// connection inside its transaction (COMMIT and ROLLBACK both failed):
// the next BEGIN heals it, but until then the connection sees an old
// snapshot.
func (c *groupConn) run(batch []*pageRequest, own *pageRequest, ownReply *pageReply, answered *int) (ended bool) {
	ended = true
	answer := func(req *pageRequest, r pageReply) {
		*answered++
		if req == own {
			*ownReply = r
			return
		}
		req.reply <- r
	}
	// The transaction serves the whole batch, so no one caller's context
	// may end it; a caller that gave up is answered without a query.
	ctx := context.Background()
	// A panic, a bug recovered above us perhaps, ends the transaction
	// first, so that the connection can serve the next batch.
	rollback := func(dc any) {
		if tx, ok := dc.(driver.ExecerContext); ok {
			tx.ExecContext(ctx, "ROLLBACK", nil)
		}
	}
	err := raw(c.conn, func(dc any) error {
		tx, ok := dc.(driver.ExecerContext)
		if !ok {
			return fmt.Errorf("the SQLite driver's connection (%T) cannot run statements directly", dc)
		}
		err := beginHealed(func(q string) error {
			_, err := tx.ExecContext(ctx, q, nil)
			return err
		}, "BEGIN")
		if err != nil {
			return fmt.Errorf("begin: %w", err)
		}
		for _, req := range batch {
			if err := req.ctx.Err(); err != nil {
				answer(req, pageReply{err: err})
				continue
			}
			var r pageReply
			r.page, r.err = c.query(ctx, req)
			answer(req, r)
		}
		// A read-only transaction has nothing to commit; ending it lets
		// the WAL be checkpointed past it. Should COMMIT fail, ROLLBACK
		// still ends it, so that the next batch can begin.
		if _, err := tx.ExecContext(ctx, "COMMIT", nil); err != nil {
			_, err = tx.ExecContext(ctx, "ROLLBACK", nil)
			ended = err == nil
		}
		return nil
	}, rollback)
	if err != nil {
		// The batch did not begin: the requests are all unanswered.
		for _, req := range batch {
			answer(req, pageReply{err: err})
		}
	}
	return ended
}

// query reads the page that req asks for. A first page that finds
// nothing asks, in the same transaction, whether the stream exists, so
// that a stream created or deleted meanwhile cannot make the answer one
// that the file never gave.
func (c *groupConn) query(ctx context.Context, req *pageRequest) ([]chronicle.RecordedEvent, error) {
	stmt := c.forwards
	if req.backwards {
		stmt = c.backwards
	}
	rows, err := queryStmt(ctx, stmt, req.stream, req.from, req.now, int64(req.limit))
	if err != nil {
		return nil, err
	}
	page, err := readRows(ctx, rows, 0)
	if err != nil || len(page) > 0 || !req.first {
		return page, err
	}
	if rows, err = queryStmt(ctx, c.exists, req.stream); err != nil {
		return nil, err
	}
	defer rows.Close()
	row := make([]driver.Value, 2)
	if err := rows.Next(row); err != nil {
		return nil, fmt.Errorf("does %q exist: %w", req.stream, err)
	}
	deleted, ok1 := row[0].(int64)
	exists, ok2 := row[1].(int64)
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("does %q exist: the driver gave %T and %T, want integers", req.stream, row[0], row[1])
	}
	return nil, existence(req.stream, deleted, exists != 0)
}

// queryStmt runs stmt, a statement of the driver's, with args as ?1, ?2...
func queryStmt(ctx context.Context, stmt driver.Stmt, args ...any) (driver.Rows, error) {
	q, ok := stmt.(driver.StmtQueryContext)
	if !ok {
		return nil, fmt.Errorf("the SQLite driver's statement (%T) takes no context", stmt)
	}
	named := make([]driver.NamedValue, len(args))
	for i, a := range args {
		named[i] = driver.NamedValue{Ordinal: i + 1, Value: a}
	}
	return q.QueryContext(ctx, named)
}

// close waits for the reads under way and those already queued, then
// closes the statements and connections: a statement prepared on a
// connection is freed at once, even under a running query, so nothing
// may be running. Reads after close fail with [chronicle.ErrClosed].
func (g *readGroup) close() error {
	g.mu.Lock()
	g.closed = true
	for len(g.free) < len(g.all) {
		g.idle.Wait()
	}
	g.mu.Unlock()
	var errs []error
	for _, c := range g.all {
		errs = append(errs, c.closeStmts(), c.conn.Close())
	}
	return errors.Join(errs...)
}

// closer makes a close function an io.Closer.
type closer func() error

func (c closer) Close() error { return c() }
