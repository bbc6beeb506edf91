package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/internal/maxage"
	"github.com/chronicle-es/chronicle/internal/sqlnum"
)

var (
	_ chronicle.Retention = (*Store)(nil)
	_ chronicle.Deleter   = (*Store)(nil)
	_ chronicle.Scavenger = (*Store)(nil)
)

// SetStreamMetadata implements [chronicle.Retention]. It goes through the
// writer, so that it is ordered with the appends around it.
func (s *Store) SetStreamMetadata(ctx context.Context, stream string, m chronicle.StreamMetadata) error {
	if err := chronicle.ValidateStreamName(stream); err != nil {
		return err
	}
	if err := m.Validate(); err != nil {
		return fmt.Errorf("set metadata of %q: %w", stream, err)
	}
	_, err := s.w.do(ctx, stream, "set metadata of", func(ctx context.Context, b *batch) (chronicle.AppendResult, bool, error) {
		st, err := b.w.stream(ctx, stream)
		if err != nil {
			return chronicle.AppendResult{}, false, err
		}
		if st.deleted == tombstoned {
			return chronicle.AppendResult{}, false, &chronicle.StreamDeletedError{Stream: stream}
		}
		// A soft delete hides the events before the revision it recorded:
		// new metadata must not bring them back.
		truncate := m.TruncateBefore
		if st.deleted == softDeleted {
			truncate = max(truncate, st.restart)
		}
		_, err = b.w.conn.ExecContext(ctx, `INSERT INTO streams_meta (stream, max_age_us, max_count, truncate_before) VALUES (?, ?, ?, ?)
			ON CONFLICT (stream) DO UPDATE SET max_age_us = excluded.max_age_us, max_count = excluded.max_count,
				truncate_before = excluded.truncate_before`,
			stream, maxage.In(m.MaxAge, time.Microsecond), sqlnum.Clamp(m.MaxCount), sqlnum.Clamp(truncate))
		if err == nil {
			err = b.rescavenge(ctx, stream)
		}
		if err != nil {
			return chronicle.AppendResult{}, false, fmt.Errorf("set metadata of %q: %w", stream, err)
		}
		b.forgetStream(stream)
		return chronicle.AppendResult{}, false, nil
	})
	return err
}

// StreamMetadata implements [chronicle.Retention].
func (s *Store) StreamMetadata(ctx context.Context, stream string) (chronicle.StreamMetadata, error) {
	if err := chronicle.ValidateStreamName(stream); err != nil {
		return chronicle.StreamMetadata{}, err
	}
	m, deleted, err := s.streamMeta(ctx, stream)
	if err == nil && deleted == tombstoned {
		err = &chronicle.StreamDeletedError{Stream: stream}
	}
	return m, err
}

func (s *Store) streamMeta(ctx context.Context, stream string) (chronicle.StreamMetadata, int, error) {
	var maxAge, maxCount, truncate int64
	var deleted int
	err := s.stmts.queryRow(ctx, "SELECT max_age_us, max_count, truncate_before, deleted FROM streams_meta WHERE stream = ?", stream).
		Scan(&maxAge, &maxCount, &truncate, &deleted)
	if errors.Is(err, sql.ErrNoRows) {
		return chronicle.StreamMetadata{}, notDeleted, nil
	}
	if err != nil {
		return chronicle.StreamMetadata{}, 0, fmt.Errorf("read metadata of %q: %w", stream, s.closedErr(ctx, err))
	}
	return chronicle.StreamMetadata{
		MaxAge:         maxage.Of(maxAge, time.Microsecond),
		MaxCount:       uint64(maxCount),
		TruncateBefore: uint64(truncate),
	}, deleted, nil
}

// Delete implements [chronicle.Deleter].
func (s *Store) Delete(ctx context.Context, stream string, expected chronicle.ExpectedRevision) error {
	return s.delete(ctx, stream, expected, softDeleted)
}

// Tombstone implements [chronicle.Deleter].
func (s *Store) Tombstone(ctx context.Context, stream string, expected chronicle.ExpectedRevision) error {
	return s.delete(ctx, stream, expected, tombstoned)
}

func (s *Store) delete(ctx context.Context, stream string, expected chronicle.ExpectedRevision, how int) error {
	if err := chronicle.ValidateStreamName(stream); err != nil {
		return err
	}
	verb := "delete"
	if how == tombstoned {
		verb = "tombstone"
	}
	_, err := s.w.do(ctx, stream, verb, func(ctx context.Context, b *batch) (chronicle.AppendResult, bool, error) {
		st, err := b.w.stream(ctx, stream)
		if err != nil {
			return chronicle.AppendResult{}, false, err
		}
		switch {
		case st.deleted == tombstoned:
			return chronicle.AppendResult{}, false, &chronicle.StreamDeletedError{Stream: stream}
		case !expected.Matches(st.state()):
			return chronicle.AppendResult{}, false, &chronicle.WrongExpectedRevisionError{Op: verb, Stream: stream, Expected: expected, Actual: st.state().Actual()}
		case !st.exists && how == softDeleted:
			return chronicle.AppendResult{}, false, &chronicle.StreamNotFoundError{Stream: stream}
		}
		// Everything up to the last revision is hidden, and what the
		// metadata hid past it stays hidden; revisions go on from there
		// if the stream is written again.
		restart := st.restart
		if how == softDeleted {
			restart = st.next
		}
		_, err = b.w.conn.ExecContext(ctx, `INSERT INTO streams_meta (stream, truncate_before, deleted, restart) VALUES (?1, ?2, ?3, ?4)
			ON CONFLICT (stream) DO UPDATE SET truncate_before = max(truncate_before, excluded.truncate_before),
				deleted = excluded.deleted, restart = excluded.restart`,
			stream, sqlnum.Clamp(st.next), how, sqlnum.Clamp(restart))
		if err == nil {
			_, err = b.w.conn.ExecContext(ctx, "DELETE FROM snapshots WHERE stream = ?", stream)
		}
		if err == nil {
			err = b.rescavenge(ctx, stream)
		}
		if err != nil {
			return chronicle.AppendResult{}, false, fmt.Errorf("%s %q: %w", verb, stream, err)
		}
		b.forgetStream(stream)
		return chronicle.AppendResult{}, false, nil
	})
	return err
}

// rescavenge makes a scavenge that resumes an interrupted one scavenge
// stream again, whose metadata or deletion the batch changes, should the
// interrupted one have done it already: what it hides now must be gone
// once the resumed scavenge returns. The scavenge resumes from the stream
// before it instead; the streams between are scavenged again, finding
// little to remove.
func (b *batch) rescavenge(ctx context.Context, stream string) error {
	_, err := b.w.conn.ExecContext(ctx, `UPDATE scavenge_state
		SET after = coalesce((SELECT max(stream) FROM streams_meta WHERE stream < ?1), '') WHERE after >= ?1`, stream)
	return err
}

// Scavenge implements [chronicle.Scavenger]. It works one stream at a
// time, each in a transaction that also records how far it got, so that
// appends wait for no more than one stream's removal, and a scavenge that
// is stopped resumes after the last stream it finished (but for those
// deleted, or given new metadata, since: it scavenges them again). Then it gives the
// freed pages back to the file system in steps of about 20 ms each, so
// that appends go on in between, and empties the write-ahead log
// ([Store.Checkpoint]) so that the removed events are gone from the disk. Should ctx end while it
// gives the space back, the events are removed, and a Scavenge called
// again gives the rest back. Should readers keep the log in use, it
// returns an error matching [ErrCheckpointBusy]: the events are removed,
// but the space, and their bytes in the log, come back only with a
// Checkpoint, or a Scavenge, called again once the readers are done. Like
// [Store.Update], it removes nothing once a newer Chronicle has upgraded
// the file's schema, and returns an error matching
// [chronicle.ErrSchemaUpgraded].
func (s *Store) Scavenge(ctx context.Context, progress func(chronicle.ScavengeProgress)) (chronicle.ScavengeProgress, error) {
	p, err := s.scavenge(ctx, progress)
	return p, s.closedErr(ctx, err)
}

func (s *Store) scavenge(ctx context.Context, progress func(chronicle.ScavengeProgress)) (chronicle.ScavengeProgress, error) {
	var p chronicle.ScavengeProgress
	// Each stream's transaction checks again (see Update); this says why
	// at once, rather than a read of tables that the newer schema may
	// have changed.
	if err := checkSchema(ctx, s.read); err != nil {
		return p, fmt.Errorf("scavenge: %w", err)
	}
	var after string
	err := s.read.QueryRowContext(ctx, "SELECT after FROM scavenge_state WHERE id = 1").Scan(&after)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return p, fmt.Errorf("scavenge: %w", err)
	}
	var streams []string
	rows, err := s.read.QueryContext(ctx, "SELECT stream FROM streams_meta ORDER BY stream")
	if err != nil {
		return p, fmt.Errorf("scavenge: %w", err)
	}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return p, fmt.Errorf("scavenge: %w", err)
		}
		streams = append(streams, name)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return p, fmt.Errorf("scavenge: %w", err)
	}
	p.Total = len(streams)
	resumed := after // the resume point as this scavenge last left it
	for _, stream := range streams {
		if err := ctx.Err(); err != nil {
			return p, fmt.Errorf("scavenge: %w", err)
		}
		if stream <= after {
			p.Done++
			continue // done by the scavenge that was stopped
		}
		// One transaction: a stream that fails is neither done nor has
		// lost an event.
		removed, err := s.scavengeStream(ctx, stream, resumed)
		if err != nil {
			return p, fmt.Errorf("scavenge %q: %w", stream, err)
		}
		resumed = stream
		p.Done++
		p.Removed += removed
		if progress != nil {
			progress(p)
		}
	}
	err = s.Update(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "DELETE FROM scavenge_state")
		return err
	})
	if err == nil {
		// Give the free pages back, then fold the WAL into the file and
		// truncate it, so that the space really returns.
		err = s.vacuum(ctx)
	}
	if err == nil {
		err = s.Checkpoint(ctx)
	}
	if err != nil {
		return p, fmt.Errorf("scavenge: reclaim space: %w", err)
	}
	if progress != nil {
		progress(p)
	}
	return p, nil
}

// scavengeStream removes the hidden events of one stream, and records that
// it is done, in one transaction: it moves the resume point from
// resumed, where the scavenge last left it, to stream. A resume point
// that is no longer at resumed was moved back by a change to a stream
// that the scavenge had done (see rescavenge), and stays there.
func (s *Store) scavengeStream(ctx context.Context, stream, resumed string) (removed uint64, err error) {
	err = s.Update(ctx, func(tx *sql.Tx) error {
		var maxAge, maxCount, truncate int64
		var deleted int
		err := tx.QueryRowContext(ctx, "SELECT max_age_us, max_count, truncate_before, deleted FROM streams_meta WHERE stream = ?", stream).
			Scan(&maxAge, &maxCount, &truncate, &deleted)
		if err != nil {
			return err
		}
		var last sql.NullInt64
		if err := tx.QueryRowContext(ctx, "SELECT max(revision) FROM events WHERE stream_id = "+streamIDSQL, stream).Scan(&last); err != nil {
			return err
		}
		if last.Valid {
			// Everything before cutoff goes, and events older than the
			// max age.
			cutoff := truncate
			if deleted != notDeleted {
				cutoff = last.Int64 + 1
			}
			if maxCount > 0 && last.Int64+1 > maxCount {
				cutoff = max(cutoff, last.Int64+1-maxCount)
			}
			res, err := tx.ExecContext(ctx, "DELETE FROM events WHERE stream_id = "+streamIDSQL+" AND revision < ?2", stream, cutoff)
			if err != nil {
				return err
			}
			n, _ := res.RowsAffected()
			removed += uint64(n)
			if maxAge > 0 && deleted == notDeleted {
				// In microseconds, as reads compare (see oldestSQL): the
				// longest max ages do not fit a time.Duration once rounded
				// up to a microsecond, and one that wrapped round would
				// remove every event.
				res, err := tx.ExecContext(ctx, "DELETE FROM events WHERE stream_id = "+streamIDSQL+" AND recorded < ?2",
					stream, time.Now().UnixMicro()-maxAge)
				if err != nil {
					return err
				}
				n, _ := res.RowsAffected()
				removed += uint64(n)
			}
			// Should every event be gone, the table alone no longer knows
			// where the stream's revisions go on: remember it, and let the
			// stream's name go from stream_ids, whose number its next
			// event renews.
			if _, err := tx.ExecContext(ctx, "UPDATE streams_meta SET next_revision = max(next_revision, ?) WHERE stream = ?",
				last.Int64+1, stream); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, "DELETE FROM stream_ids WHERE name = ?1 AND NOT EXISTS (SELECT 1 FROM events WHERE stream_id = stream_ids.id)",
				stream); err != nil {
				return err
			}
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO scavenge_state (id, after) VALUES (1, ?1)
			ON CONFLICT (id) DO UPDATE SET after = excluded.after WHERE after = ?2`, stream, resumed)
		return err
	})
	if err == nil && removed > 0 {
		// Subscribers must not take the removed events from memory: a
		// scavenge is how deleted data leaves the store.
		s.recent.clear()
	}
	return removed, err
}

// The steps of a scavenge's vacuum each hold the write lock that appends
// need, so an append waits for at most one step. A fixed count of pages
// did not bound that wait: 512 pages (2 MiB with SQLite's default page
// size) took 19 ms on average after a scavenge of 270,000 events, but
// 69 ms, and up to 199 ms, after one of 900,000, whose pages lie further
// apart (see docs/benchmarks.md). So each step gives back as many pages
// as the last step's time suggests, aiming at about the 20 ms that an
// attempt of Checkpoint holds the lock for.
const (
	vacuumFirstStep = 512 // pages of the first step
	vacuumMinStep   = 16  // so that each step still gives back some
	// vacuumMaxStep is 8 MiB: should the pages to move lie further apart
	// after a fast stretch, one step of it takes about a quarter of a
	// second at the slowest rate measured, before the halving sets in.
	vacuumMaxStep = 2048
	vacuumSlow    = 20 * time.Millisecond
	vacuumFast    = 5 * time.Millisecond
)

// nextVacuumStep returns how many pages the vacuum's next step gives
// back, after a step of pages that held the write lock for took. It
// halves a step that took longer than vacuumSlow, and doubles one that
// took less than vacuumFast: halving at once corrects a step that ran
// long, and the band between keeps the count from swinging every step.
func nextVacuumStep(pages int, took time.Duration) int {
	switch {
	case took > vacuumSlow:
		return max(pages/2, vacuumMinStep)
	case took < vacuumFast:
		return min(pages*2, vacuumMaxStep)
	}
	return pages
}

// vacuum gives the file's free pages back to the file system in steps
// (see nextVacuumStep), letting the write lock go between them so that
// appends go on: all at once, after a scavenge of many events, it held
// the lock for seconds, and appends failed once the busy timeout had
// passed. It gives back no more pages than were free when it began, so
// that it ends even should Updates keep freeing pages meanwhile.
func (s *Store) vacuum(ctx context.Context) error {
	var left int
	if err := s.read.QueryRowContext(ctx, "PRAGMA freelist_count").Scan(&left); err != nil {
		return err
	}
	for step := vacuumFirstStep; left > 0; {
		if err := ctx.Err(); err != nil {
			return err
		}
		free := 0
		var took time.Duration
		err := s.writing(ctx, func() error {
			if s.vacuuming != nil {
				s.vacuuming()
			}
			start := time.Now()
			defer func() { took = time.Since(start) }()
			if _, err := s.update.ExecContext(ctx, "PRAGMA incremental_vacuum("+strconv.Itoa(step)+")"); err != nil {
				return err
			}
			return s.update.QueryRowContext(ctx, "PRAGMA freelist_count").Scan(&free)
		})
		if err != nil {
			return err
		}
		left = min(left-step, free)
		step = nextVacuumStep(step, took)
	}
	return nil
}
