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
// Once a newer Chronicle has migrated the schema, Update returns an error
// matching [chronicle.ErrSchemaUpgraded] without calling fn, as the
// store's other writes do: restart this process with the newer version.
// The statement that takes the advisory lock reads the schema's version
// too, and the transaction keeps the head table's share lock from then
// on: a migration waits for the Updates under way, which commit under
// the schema they checked, and an Update that begins while a migration
// runs waits for it, then refuses (see "Schema" in the package doc).
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
	return s.inTx(ctx, nil, func(tx *sql.Tx) error {
		var version int32
		err := tx.QueryRowContext(ctx, s.sql.beginUpdate, s.searchPath(), updateLockClass, s.opts.Schema).Scan(&version)
		if err != nil {
			return fmt.Errorf("begin: %w", s.closedErr(ctx, err))
		}
		if err := s.checkVersion(version); err != nil {
			return fmt.Errorf("update: %w", err)
		}
		return fn(tx)
	})
}

// View runs fn in a read-only transaction, with the store's schema as the
// search path: one consistent snapshot of the database (REPEATABLE READ,
// READ ONLY), which neither waits for writers nor makes them wait.
func (s *Store) View(ctx context.Context, fn func(*sql.Tx) error) error {
	return s.inTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true}, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "SELECT set_config('search_path', $1, true)", s.searchPath()); err != nil {
			return fmt.Errorf("begin: %w", s.closedErr(ctx, err))
		}
		return fn(tx)
	})
}

// searchPath is the value of search_path that puts the store's schema
// first, for Update and View.
func (s *Store) searchPath() string { return pgx.Identifier{s.opts.Schema}.Sanitize() }

// inTx runs fn in a transaction, and commits if fn returns nil.
func (s *Store) inTx(ctx context.Context, opts *sql.TxOptions, fn func(*sql.Tx) error) error {
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
