package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Update runs fn in a write transaction on the store's database, and
// commits if fn returns nil. It is how read models live beside the events:
// a projection writes its tables and its checkpoint in one transaction.
//
// Write only tables of your own: events, stream_ids, snapshots,
// streams_meta, scavenge_state and log_state belong to the store, as do
// the names of its indexes and triggers, and the file's user_version
// (PRAGMA user_version), which holds the version of its schema: should it
// change, every write of this store fails as below, and Open takes the
// file for one of that version. A trigger or view of yours on
// events should name the columns it copies rather than SELECT *: a newer
// schema may add one. A transaction holds SQLite's write lock, which appends
// also need, so keep it short. Updates run one at a time, and take turns
// with the store's appends, first come first served.
//
// fn must not write through the store (Append, SetStreamMetadata, Delete,
// Tombstone, SaveSnapshot), nor call Update, Scavenge or Checkpoint: each
// waits for this transaction to end, which waits for fn. A write fails
// once the busy timeout has passed; the others wait until ctx ends.
//
// Once another process has upgraded the file's schema with a newer
// Chronicle, Update returns an error matching
// [chronicle.ErrSchemaUpgraded] without calling fn, as appends do: restart
// this process with the newer version.
func (s *Store) Update(ctx context.Context, fn func(*sql.Tx) error) error {
	return s.writing(ctx, func() error {
		return s.inTx(ctx, s.update, func(tx *sql.Tx) error {
			// The transaction holds SQLite's write lock from its BEGIN: no
			// migration can commit between this check and its commit. One
			// query, where the writer's pattern (data_version first, the
			// version only when another connection has committed) would
			// cost the same query, and a second one whenever an append
			// came in between, as one mostly does.
			if err := checkSchema(ctx, tx); err != nil {
				return s.closedErr(ctx, err)
			}
			return fn(tx)
		})
	})
}

// writing runs write, which takes SQLite's write lock on the update
// connection and lets it go before it returns, holding the store's
// write lock (see writeLock). It waits for that lock until ctx ends or
// the store closes.
func (s *Store) writing(ctx context.Context, write func() error) error {
	// A batch that could not end its transaction keeps the store's write
	// lock (see writer.rollback): end it, rather than wait for the next
	// append to.
	if err := s.writes.lock(ctx, s.w.healIdle); err != nil {
		return fmt.Errorf("wait for the write lock: %w", err)
	}
	defer s.writes.unlock()
	return write()
}

// View runs fn in a read-only transaction: one consistent snapshot of the
// database, which never waits for writers.
func (s *Store) View(ctx context.Context, fn func(*sql.Tx) error) error {
	return s.inTx(ctx, s.read, fn)
}

func (s *Store) inTx(ctx context.Context, db *sql.DB, fn func(*sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", s.closedErr(ctx, err))
	}
	// fn's error, and its panic too, which a caller may recover from,
	// roll the transaction back: left open, it would keep its connection
	// for good, and Update's would keep SQLite's write lock, which every
	// append needs. Commit ends the transaction whatever it returns.
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

// Checkpoint copies the write-ahead log into the database file and
// empties it, so that what was deleted from the database (with
// secure_delete, which Update's transactions use) is gone from the disk
// too, not only from the file. It waits briefly for readers that hold old
// snapshots.
func (s *Store) Checkpoint(ctx context.Context) error {
	for attempt := 0; ; attempt++ {
		var busy, logFrames, done int
		// A checkpoint that truncates the log keeps writers out while it
		// runs.
		err := s.writing(ctx, func() error {
			return s.update.QueryRowContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &logFrames, &done)
		})
		if err != nil {
			return fmt.Errorf("checkpoint: %w", s.closedErr(ctx, err))
		}
		if busy == 0 {
			return nil
		}
		if attempt == 50 {
			return fmt.Errorf("checkpoint: readers kept old pages in use: try again when they are done")
		}
		select {
		case <-time.After(20 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
