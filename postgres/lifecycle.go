package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/internal/maxage"
	"github.com/chronicle-es/chronicle/internal/sqlnum"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

var (
	_ chronicle.Retention = (*Store)(nil)
	_ chronicle.Deleter   = (*Store)(nil)
	_ chronicle.Scavenger = (*Store)(nil)
)

// SetStreamMetadata implements [chronicle.Retention]. Reads hide what the
// new metadata hides as soon as it returns. On a soft-deleted stream, the
// events that the delete hid stay hidden whatever TruncateBefore says.
func (s *Store) SetStreamMetadata(ctx context.Context, stream string, m chronicle.StreamMetadata) error {
	if err := chronicle.ValidateStreamName(stream); err != nil {
		return err
	}
	if err := m.Validate(); err != nil {
		return fmt.Errorf("set metadata of %q: %w", stream, err)
	}
	var version int32
	var written bool
	// The upsert may wait for a Delete's or a scavenge's lock on the
	// row, and then writes the row as they left it, as READ COMMITTED,
	// which the store's connections always use, does.
	err := s.pool.QueryRow(ctx, s.sql.setMeta, stream, maxage.In(m.MaxAge, time.Microsecond), sqlnum.Clamp(m.MaxCount), sqlnum.Clamp(m.TruncateBefore)).Scan(&version, &written)
	if err == nil {
		err = s.checkVersion(version)
	}
	if err != nil {
		return fmt.Errorf("set metadata of %q: %w", stream, s.closedErr(ctx, err))
	}
	if !written {
		// The upsert left the row alone: the stream is tombstoned.
		return &chronicle.StreamDeletedError{Stream: stream}
	}
	return nil
}

// StreamMetadata implements [chronicle.Retention]. For a tombstoned
// stream it returns the metadata and an error matching
// [chronicle.ErrStreamDeleted].
func (s *Store) StreamMetadata(ctx context.Context, stream string) (chronicle.StreamMetadata, error) {
	if err := chronicle.ValidateStreamName(stream); err != nil {
		return chronicle.StreamMetadata{}, err
	}
	var maxAge, maxCount, truncate int64
	var deleted int16
	err := s.pool.QueryRow(ctx, s.sql.getMeta, stream).Scan(&maxAge, &maxCount, &truncate, &deleted)
	if errors.Is(err, pgx.ErrNoRows) {
		return chronicle.StreamMetadata{}, nil
	}
	if err != nil {
		return chronicle.StreamMetadata{}, fmt.Errorf("read metadata of %q: %w", stream, s.closedErr(ctx, err))
	}
	m := chronicle.StreamMetadata{
		MaxAge:         maxage.Of(maxAge, time.Microsecond),
		MaxCount:       uint64(maxCount),
		TruncateBefore: uint64(truncate),
	}
	if deleted == tombstoned {
		return m, &chronicle.StreamDeletedError{Stream: stream}
	}
	return m, nil
}

// Delete implements [chronicle.Deleter]. Like an append, it takes the
// head lock to check the expected revision, so it is ordered with the
// appends of every process; it holds the lock for a few round trips.
func (s *Store) Delete(ctx context.Context, stream string, expected chronicle.ExpectedRevision) error {
	return s.closedErr(ctx, s.delete(ctx, stream, expected, softDeleted))
}

// Tombstone implements [chronicle.Deleter]; it takes the head lock, as
// Delete does.
func (s *Store) Tombstone(ctx context.Context, stream string, expected chronicle.ExpectedRevision) error {
	return s.closedErr(ctx, s.delete(ctx, stream, expected, tombstoned))
}

func (s *Store) delete(ctx context.Context, stream string, expected chronicle.ExpectedRevision, how int16) (err error) {
	if err := chronicle.ValidateStreamName(stream); err != nil {
		return err
	}
	verb := "delete"
	if how == tombstoned {
		verb = "tombstone"
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("%s %q: %w", verb, stream, err)
	}
	// After Commit, Rollback does nothing.
	defer tx.Rollback(context.Background())
	// Taking the head lock, and moving meta_version, makes appends wait
	// for this transaction, and makes those checked before it check again:
	// none can write to the stream between this check and the commit.
	if _, err := tx.Exec(ctx, s.sql.bumpMeta); err != nil {
		return fmt.Errorf("%s %q: lock head: %w", verb, stream, err)
	}
	var (
		last    pgtype.Int8
		deleted int16
		next    int64
	)
	if err := tx.QueryRow(ctx, s.sql.deleteState, stream).Scan(&last, &deleted, &next); err != nil {
		return fmt.Errorf("%s %q: read stream: %w", verb, stream, err)
	}
	st := chronicle.StreamState{}
	if last.Valid {
		next = max(next, last.Int64+1)
	}
	if next > 0 && deleted == notDeleted {
		st = chronicle.StreamState{Exists: true, LastRevision: uint64(next - 1)}
	}
	switch {
	case deleted == tombstoned:
		return &chronicle.StreamDeletedError{Stream: stream}
	case !expected.Matches(st):
		return &chronicle.WrongExpectedRevisionError{Op: verb, Stream: stream, Expected: expected, Actual: st.Actual()}
	case !st.Exists && how == softDeleted:
		return &chronicle.StreamNotFoundError{Stream: stream}
	}
	// Everything up to the last revision is hidden; revisions go on from
	// there if the stream is written again. The snapshot describes events
	// that are gone, and the snapshot lock keeps another from being saved
	// meanwhile (see snapshotLockClass).
	b := &pgx.Batch{}
	b.Queue(s.sql.lockSnapshot, snapshotLockClass, s.snapshotLockKey(stream))
	b.Queue(s.sql.markDeleted, stream, next, how)
	b.Queue(s.sql.dropSnapshot, stream)
	b.Queue(s.sql.rescavenge, stream)
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("%s %q: %w", verb, stream, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("%s %q: commit: %w", verb, stream, err)
	}
	return nil
}

// Scavenge implements [chronicle.Scavenger]. It works one stream at a
// time, in two transactions (see scavengeStream): the first removes the
// stream's hidden events but the last, without the head lock, so that
// appends go on meanwhile; the second takes the head lock only when the
// last event goes too, and records that the stream is done, so that a
// scavenge that is stopped resumes at the stream it had not finished
// (and scavenges again those it had, that were deleted or given new
// metadata since). At the end it runs
// VACUUM on the events table, so that PostgreSQL can use the space of
// the removed rows again (VACUUM gives the operating system back only
// the pages at the end of the table; VACUUM FULL, which this does not
// run, rewrites the table under a lock that stops every append).
func (s *Store) Scavenge(ctx context.Context, progress func(chronicle.ScavengeProgress)) (chronicle.ScavengeProgress, error) {
	p, err := s.scavenge(ctx, progress)
	return p, s.closedErr(ctx, err)
}

func (s *Store) scavenge(ctx context.Context, progress func(chronicle.ScavengeProgress)) (chronicle.ScavengeProgress, error) {
	var p chronicle.ScavengeProgress
	var after string
	err := s.pool.QueryRow(ctx, s.sql.scavengeAfter).Scan(&after)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return p, fmt.Errorf("scavenge: %w", err)
	}
	rows, err := s.pool.Query(ctx, s.sql.scavengeStreams)
	if err != nil {
		return p, fmt.Errorf("scavenge: %w", err)
	}
	streams, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return p, fmt.Errorf("scavenge: %w", err)
	}
	p.Total = len(streams)
	resumed := after // the resume point as this scavenge last left it
	for _, stream := range streams {
		if err := ctx.Err(); err != nil {
			return p, fmt.Errorf("scavenge: %w", err)
		}
		if after != "" && stream <= after {
			p.Done++
			continue // done by the scavenge that was stopped
		}
		// What a stream's first transaction removed is gone even when
		// its second fails: it counts, or the scavenge that resumes at
		// the stream would leave it out of its count, and p would say
		// less than is gone.
		removed, err := s.scavengeStream(ctx, stream, resumed)
		p.Removed += removed
		if err != nil {
			return p, fmt.Errorf("scavenge %q: %w", stream, err)
		}
		resumed = stream
		p.Done++
		if progress != nil {
			progress(p)
		}
	}
	if _, err := s.pool.Exec(ctx, s.sql.scavengeDone); err != nil {
		return p, fmt.Errorf("scavenge: %w", err)
	}
	if _, err := s.pool.Exec(ctx, "VACUUM "+s.sql.table("events")); err != nil {
		return p, fmt.Errorf("scavenge: vacuum: %w", err)
	}
	if progress != nil {
		progress(p)
	}
	return p, nil
}

// scavengeStream removes the hidden events of one stream, and records that
// it is done, in two transactions (see scavengeStreamTx). Each locks the
// stream's metadata row, so that an append that brings a soft-deleted
// stream back waits for it, rather than have its new events taken for
// deleted ones. A scavenge stopped between the two resumes at the stream.
// It returns the events that the transactions which committed removed,
// also with an error.
func (s *Store) scavengeStream(ctx context.Context, stream, resumed string) (removed uint64, err error) {
	// First everything but the last event, without the head lock, which
	// every append needs: a stream's hidden events may be millions. Then,
	// in a transaction of its own, the last event if it goes, under the
	// head lock, which is then held for one row.
	removed, err = s.scavengeStreamTx(ctx, stream, "", false)
	if err != nil {
		return removed, err
	}
	n, err := s.scavengeStreamTx(ctx, stream, resumed, true)
	return removed + n, err
}

// scavengeStreamTx is one pass of scavengeStream: with tailToo, it may
// remove the last event (taking the head lock to do so) and records
// that the stream is done, moving the resume point from resumed, where
// the scavenge last left it (see rescavenge in queries.go); without, it
// leaves the last event of a live stream and records nothing. It returns 0 removed unless the
// transaction committed. The commit does not end with ctx: it is one
// round trip, and a commit cut short could not tell whether the events
// are gone, so the scavenge could not count them right.
func (s *Store) scavengeStreamTx(ctx context.Context, stream, resumed string, tailToo bool) (removed uint64, err error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return 0, err
	}
	// After Commit, Rollback does nothing.
	defer tx.Rollback(context.Background())
	err = func() error {
		// Once a live stream's last event is gone, the unique constraint
		// on (stream, revision) no longer refuses an append checked
		// against an older state (a writer's remembered revision, or
		// states read before the head lock): it would be written at the
		// removed revision. So the scavenge that removes it moves
		// meta_version, as a delete does, and such an append is checked
		// again under the lock. The head lock comes first, before the
		// metadata row's, as in a delete and in an append that undeletes:
		// whether the last event goes is read before that row is locked,
		// and if the row has changed meanwhile, the last event stays,
		// for the next scavenge.
		var tail bool
		if tailToo {
			if err := tx.QueryRow(ctx, s.sql.scavengeTail, stream).Scan(&tail); err != nil && !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
		}
		var version int32
		var maxAge, maxCount, truncate int64
		var deleted int16
		if err := tx.QueryRow(ctx, s.sql.scavengeMeta, stream).Scan(&version, &maxAge, &maxCount, &truncate, &deleted); err != nil {
			return err
		}
		if err := s.checkVersion(version); err != nil {
			return err
		}
		var last int64
		switch err := tx.QueryRow(ctx, s.sql.scavengeLast, stream).Scan(&last); {
		case errors.Is(err, pgx.ErrNoRows):
			// No events left: nothing to remove.
		case err != nil:
			return err
		default:
			// Everything before cutoff goes, and events older than the
			// max age. The newest events of a stream being written now
			// are above cutoff.
			cutoff := truncate
			if deleted != notDeleted {
				cutoff = last + 1
			}
			if maxCount > 0 && last+1 > maxCount {
				cutoff = max(cutoff, last+1-maxCount)
			}
			end := last + 1 // the events below end may go
			if deleted == notDeleted && !tail {
				end = last
			}
			cutoff = min(cutoff, end)
			ct, err := tx.Exec(ctx, s.sql.scavengeBelow, stream, cutoff)
			if err != nil {
				return err
			}
			removed += uint64(ct.RowsAffected())
			if maxAge > 0 && deleted == notDeleted {
				ct, err := tx.Exec(ctx, s.sql.scavengeAge, stream, maxAge, end)
				if err != nil {
					return err
				}
				removed += uint64(ct.RowsAffected())
			}
			// Should every event be gone, the events table no longer
			// knows where the stream's revisions go on: remember it.
			if _, err := tx.Exec(ctx, s.sql.scavengeNext, stream, last+1); err != nil {
				return err
			}
		}
		if !tailToo {
			return nil
		}
		_, err := tx.Exec(ctx, s.sql.scavengeMark, stream, resumed)
		return err
	}()
	if err == nil {
		err = tx.Commit(context.WithoutCancel(ctx))
	}
	if err != nil {
		return 0, err // rolled back: nothing is gone
	}
	return removed, nil
}
