package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/chronicle-es/chronicle"
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
// file for one of that version. A trigger or view of yours on events
// should name the columns it copies rather than SELECT *: a newer schema
// may add one. A transaction holds SQLite's write lock, which appends
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
				return fmt.Errorf("update: %w", s.closedErr(ctx, err))
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
	// Counted before it waits for the lock, so that Close, which stops
	// the waits, also waits for the write that got the lock first.
	s.txMu.Lock()
	if s.txsClosed {
		s.txMu.Unlock()
		return fmt.Errorf("wait for the write lock: %w", chronicle.ErrClosed)
	}
	s.txs++
	s.txMu.Unlock()
	defer func() {
		s.txMu.Lock()
		if s.txs--; s.txs == 0 {
			s.txsIdle.Broadcast()
		}
		s.txMu.Unlock()
	}()
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

// ErrCheckpointBusy means that [Store.Checkpoint] gave up because readers
// kept the write-ahead log in use: long read transactions, such as those
// of [Store.View], of this process or of another that has the file open
// (or, rarely, another process that kept checkpointing or writing).
// Call Checkpoint again once they are done.
var ErrCheckpointBusy = errors.New("sqlite: readers kept the write-ahead log in use")

// checkpointWait is how long each of a Checkpoint's attempts to empty the
// log waits for readers that still use it, holding the write lock that
// appends need, and how long it then waits without the lock before it
// tries again.
const checkpointWait = 20 * time.Millisecond

// Checkpoint copies the write-ahead log into the database file and
// empties it, so that what was deleted from the database (with
// secure_delete, which Update's transactions use) is gone from the disk
// too, not only from the file. When it returns nil, the log has been
// copied and truncated.
//
// A read transaction keeps the commits that came after its snapshot from
// being copied, and any read of the log keeps the log from being emptied.
// Checkpoint copies what readers allow without keeping appends out; then,
// holding the write lock, it copies the rest and empties the log, waiting
// up to 20 ms for the readers that still use it, which short reads end
// within. It tries again, letting appends in between, as long as readers
// use the log, up to the busy timeout ([Options.BusyTimeout]) or until
// ctx ends, and then returns an error matching [ErrCheckpointBusy] (and
// ctx's error, when ctx ended). A long read, one that keeps the same
// commits from being copied from one attempt to the next, it waits for
// without the lock. Like Update, it waits for the write lock until ctx
// ends.
func (s *Store) Checkpoint(ctx context.Context) error {
	giveUp := time.Now().Add(s.opts.BusyTimeout)
	readers := false // an attempt found readers in the log
	held := -1       // the frame at which readers stopped the last attempt's copy, if they did
	for {
		done, err := s.checkpointOnce(ctx, &held)
		if done {
			return nil
		}
		if err == nil {
			readers = true
			if time.Now().After(giveUp) {
				return fmt.Errorf("checkpoint: %w for the whole busy timeout (%v): %s", ErrCheckpointBusy, s.opts.BusyTimeout, checkpointAdvice)
			}
			t := time.NewTimer(min(checkpointWait, time.Until(giveUp)))
			select {
			case <-t.C:
				continue
			case <-ctx.Done():
				t.Stop()
				err = ctx.Err()
			}
		}
		if readers && ctx.Err() != nil {
			// An attempt may have been interrupted: ctx's end, and the
			// readers it waited for, are what the caller must see.
			return fmt.Errorf("checkpoint: %w until ctx ended (%w): %s", ErrCheckpointBusy, ctx.Err(), checkpointAdvice)
		}
		return fmt.Errorf("checkpoint: %w", s.closedErr(ctx, err))
	}
}

const checkpointAdvice = "call Checkpoint again once long reads of the file, such as View transactions of this process or of another, are done"

// checkpointOnce tries once to copy the log into the file and empty it,
// and reports whether it did. It reports false and no error while readers
// use the log. *held is the frame at which readers stopped the previous
// attempt's copy, or -1; checkpointOnce sets it for the next one.
func (s *Store) checkpointOnce(ctx context.Context, held *int) (bool, error) {
	// First copy what readers allow without the write lock, so that
	// appends go on meanwhile, and the truncation, which keeps them out,
	// has little left to copy.
	busy, logged, copied, err := s.walCheckpoint(ctx, "PASSIVE")
	if err != nil || busy {
		return false, err
	}
	if copied < logged {
		// Readers whose snapshots are older than the frames left keep
		// them in the log. On a busy server, short reads do so one after
		// another while appends go on, and end soon once the write lock
		// has stopped the appends: the truncation waits for them. A
		// reader that stopped the previous attempt at the same frame is
		// a long read, which the truncation would only wait for holding
		// the lock.
		long := copied == *held
		*held = copied
		if long {
			return false, nil
		}
	} else {
		*held = -1
	}
	// Truncating keeps writers out while it runs; its connection waits
	// checkpointWait at most for readers that still use the log.
	err = s.writing(ctx, func() (err error) {
		if s.truncating != nil {
			s.truncating()
		}
		busy, _, _, err = s.walCheckpoint(ctx, "TRUNCATE")
		return err
	})
	return err == nil && !busy, err
}

// walCheckpoint runs a checkpoint of mode on the checkpoint connection,
// and returns the frames of the log, and those copied into the file. busy
// says that it could not take a lock it needed: for TRUNCATE, those of
// the readers that still use the log.
func (s *Store) walCheckpoint(ctx context.Context, mode string) (busy bool, logged, copied int, err error) {
	var b int
	err = s.ckpt.QueryRowContext(ctx, "PRAGMA wal_checkpoint("+mode+")").Scan(&b, &logged, &copied)
	if isBusy(err) {
		// SQLite reports most locks held in b, and some as an error.
		return true, 0, 0, nil
	}
	return b != 0, logged, copied, err
}
