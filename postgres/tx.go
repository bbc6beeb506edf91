package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// updateLockClass is the first key of the advisory lock that Update's
// transactions take; the second is hashtext of the schema name. It spells
// "updt".
const updateLockClass = 0x75706474

// Update runs fn in a write transaction on the store's database, with the
// store's schema as the search path, and commits if fn returns nil. It is
// how read models live beside the events: a projection
// (package projection) writes its tables and its checkpoint in one
// transaction, so the store is a projection.TxStore, and keys of package
// shred can live here too. Tables that fn creates without naming a schema
// land in the store's schema.
//
// The transaction is READ COMMITTED, and Update's transactions on one
// schema run one at a time, across every process: each takes a
// transaction-scoped advisory lock first, and the next one starts only
// once the previous commit is visible. So fn sees everything that the
// Updates before it committed, and a read followed by a write (such as a
// projection's check of its checkpoint) cannot interleave with another
// Update's: fn runs once, never retried, as on the embedded store.
// Appends do not take that lock, and go on meanwhile. Keep fn short, and
// do not call Update from inside fn: it would wait for itself.
//
// Write only tables of your own: events, head, snapshots, streams_meta,
// scavenge_state and schema_version belong to the store.
func (s *Store) Update(ctx context.Context, fn func(*sql.Tx) error) error {
	// One Update per process at a time holds a connection: the others wait
	// here rather than take the read pool's connections to wait for the
	// advisory lock.
	select {
	case s.updates <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("update: %w", ctx.Err())
	}
	defer func() { <-s.updates }()
	return s.inTx(ctx, nil, "SELECT pg_advisory_xact_lock($2, hashtext($3)), set_config('search_path', $1, true)", fn)
}

// View runs fn in a read-only transaction, with the store's schema as the
// search path: one consistent snapshot of the database (REPEATABLE READ,
// READ ONLY), which neither waits for writers nor makes them wait.
func (s *Store) View(ctx context.Context, fn func(*sql.Tx) error) error {
	return s.inTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true},
		"SELECT set_config('search_path', $1, true)", fn)
}

// inTx runs fn in a transaction that first runs prologue, whose $1 is the
// search path and $2 and $3 the keys of the update lock.
func (s *Store) inTx(ctx context.Context, opts *sql.TxOptions, prologue string, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("begin: %w", s.closedErr(ctx, err))
	}
	// fn's error, and its panic too, which a caller may recover from,
	// roll the transaction back: left open, it would keep its connection
	// for good, and Update's would keep the update lock and the rows it
	// wrote locked. Commit ends the transaction whatever it returns.
	committing := false
	defer func() {
		if !committing {
			tx.Rollback()
		}
	}()
	args := []any{pgx.Identifier{s.opts.Schema}.Sanitize()}
	if opts == nil {
		args = append(args, updateLockClass, s.opts.Schema)
	}
	if _, err := tx.ExecContext(ctx, prologue, args...); err != nil {
		return fmt.Errorf("begin: %w", s.closedErr(ctx, err))
	}
	if err := fn(tx); err != nil {
		return err
	}
	committing = true
	if err := tx.Commit(); err != nil {
		if errors.Is(err, sql.ErrTxDone) && ctx.Err() != nil {
			// database/sql rolled the transaction back when ctx ended:
			// that is what the caller must see, not a transaction "done".
			err = ctx.Err()
		}
		return fmt.Errorf("commit: %w", s.closedErr(ctx, err))
	}
	return nil
}
