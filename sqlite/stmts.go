package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"sync"
)

// stmtCache keeps the read pool's statements prepared. A *sql.Stmt made
// on a *sql.DB is prepared once on each connection it runs on and kept
// there, so that a read no longer pays for parsing and planning its SQL:
// that was 11-15% of the CPU of C4-PAR with 64 games.
type stmtCache struct {
	db *sql.DB

	mu     sync.RWMutex // every read takes it: reading is the fast path
	stmts  map[string]*sql.Stmt
	closed bool
}

// maxCachedStmts bounds the cache: queries with filters are built from
// the filter, so their texts are not a fixed set. Beyond the bound they
// are prepared for each call, as before.
const maxCachedStmts = 128

func newStmtCache(db *sql.DB) *stmtCache {
	return &stmtCache{db: db, stmts: make(map[string]*sql.Stmt)}
}

// stmt returns the prepared statement of query, or nil when the cache is
// full or closed.
func (c *stmtCache) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	c.mu.RLock()
	st, ok := c.stmts[query]
	c.mu.RUnlock()
	if ok {
		return st, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.stmts[query]; ok || c.closed || len(c.stmts) >= maxCachedStmts {
		return st, nil
	}
	// Preparing on the DB checks the SQL on one connection; the other
	// connections prepare it when they first run it.
	st, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	c.stmts[query] = st
	return st, nil
}

// queryRow runs query, which returns one row, through its prepared
// statement.
func (c *stmtCache) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	st, err := c.stmt(ctx, query)
	if err != nil || st == nil {
		// QueryRowContext reports a bad statement through Scan, which is
		// what callers expect.
		return c.db.QueryRowContext(ctx, query, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

// close closes every statement; later calls run unprepared (and fail on
// the closed pool).
func (c *stmtCache) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	var errs []error
	for _, st := range c.stmts {
		errs = append(errs, st.Close())
	}
	clear(c.stmts)
	return errors.Join(errs...)
}
