package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/internal/sqlnum"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

var (
	_ chronicle.SnapshotStore = (*Store)(nil)
	_ chronicle.EventFinder   = (*Store)(nil)
)

// snapshotLockClass is the first key of the advisory lock that
// SaveSnapshot and deletes take on a stream; the second is hashtext of
// the schema and stream names. It spells "snap". A delete drops the
// stream's snapshot, and a snapshot is kept only of an event that a read
// returns: under the lock, neither happens between the other's check and
// its commit, so that no snapshot saved as a delete commits outlives it.
// (Without it, a delete's DELETE of the snapshot would not see a
// snapshot inserted but not yet committed.) Streams whose names hash
// alike share a lock, which only makes one wait for the other.
const snapshotLockClass = 0x736e6170

// snapshotLockKey is the name that the second key of a stream's snapshot
// lock hashes.
func (s *Store) snapshotLockKey(stream string) string {
	return s.opts.Schema + "." + stream
}

// SaveSnapshot implements [chronicle.SnapshotStore]. It keeps the
// snapshot at the later revision of the one given and the one stored, in
// one statement, so that two processes saving at once cannot put an
// older snapshot back; that statement checks too that a read returns the
// snapshot's event, under the stream's snapshot lock (see
// snapshotLockClass).
func (s *Store) SaveSnapshot(ctx context.Context, snap chronicle.Snapshot) error {
	if err := chronicle.ValidateStreamName(snap.Stream); err != nil {
		return err
	}
	if snap.Version < math.MinInt32 || snap.Version > math.MaxInt32 {
		// The column is an integer of 32 bits: cut down, the version
		// would read as another one, whose code would decode the data.
		return fmt.Errorf("save snapshot of %q: version %d is outside the range this store keeps (%d to %d)",
			snap.Stream, snap.Version, math.MinInt32, math.MaxInt32)
	}
	data := snap.Data
	if data == nil {
		data = []byte{} // the column is NOT NULL
	}
	deleted, visible, err := s.saveSnapshot(ctx, snap, data)
	if err != nil {
		return fmt.Errorf("save snapshot of %q: %w", snap.Stream, s.closedErr(ctx, err))
	}
	if !visible {
		return &chronicle.SnapshotNotSavedError{Stream: snap.Stream, Revision: snap.Revision, Tombstoned: deleted == tombstoned}
	}
	return nil
}

// saveSnapshot runs the transaction of SaveSnapshot, and returns the
// stream's deletion state and whether a read returns the snapshot's
// event, which is whether it was kept.
func (s *Store) saveSnapshot(ctx context.Context, snap chronicle.Snapshot, data []byte) (deleted int16, visible bool, err error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return 0, false, err
	}
	// After Commit, Rollback does nothing.
	defer tx.Rollback(context.Background())
	b := &pgx.Batch{}
	b.Queue(s.sql.lockSnapshot, snapshotLockClass, s.snapshotLockKey(snap.Stream))
	var version int32
	b.Queue(s.sql.saveSnapshot, snap.Stream, sqlnum.Clamp(snap.Revision), snap.Type, int32(snap.Version), data).
		QueryRow(func(row pgx.Row) error { return row.Scan(&version, &deleted, &visible) })
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return 0, false, err
	}
	if err := s.checkVersion(version); err != nil {
		return 0, false, err
	}
	return deleted, visible, tx.Commit(ctx)
}

// LoadSnapshot implements [chronicle.SnapshotStore].
func (s *Store) LoadSnapshot(ctx context.Context, stream string) (chronicle.Snapshot, bool, error) {
	if err := chronicle.ValidateStreamName(stream); err != nil {
		return chronicle.Snapshot{}, false, err
	}
	snap := chronicle.Snapshot{Stream: stream}
	var (
		rev     int64
		version int32
	)
	err := s.pool.QueryRow(ctx, s.sql.loadSnapshot, stream).Scan(&rev, &snap.Type, &version, &snap.Data)
	if errors.Is(err, pgx.ErrNoRows) {
		return chronicle.Snapshot{}, false, nil
	}
	if err != nil {
		return chronicle.Snapshot{}, false, fmt.Errorf("load snapshot of %q: %w", stream, s.closedErr(ctx, err))
	}
	snap.Revision, snap.Version = uint64(rev), int(version)
	return snap, true, nil
}

// HasEvent implements [chronicle.EventFinder]. Like a retried append, it
// finds the events that retention hides until a scavenge removes them.
func (s *Store) HasEvent(ctx context.Context, stream string, id uuid.UUID) (bool, error) {
	if err := chronicle.ValidateStreamName(stream); err != nil {
		return false, err
	}
	var found bool
	if err := s.pool.QueryRow(ctx, s.sql.hasEvent, pgtype.UUID{Bytes: id, Valid: true}, stream).Scan(&found); err != nil {
		return false, fmt.Errorf("find event %s in %q: %w", id, stream, s.closedErr(ctx, err))
	}
	return found, nil
}
