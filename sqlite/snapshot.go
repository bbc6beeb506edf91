package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/internal/sqlnum"
	"github.com/google/uuid"
)

var (
	_ chronicle.SnapshotStore = (*Store)(nil)
	_ chronicle.EventFinder   = (*Store)(nil)
)

// SaveSnapshot implements [chronicle.SnapshotStore]. The writer saves it,
// in its next batch: a commit on another connection would empty the
// stream cache (see "Streams in memory" in the package documentation),
// which serves the loads that snapshots are for. The batch's transaction
// checks that a read returns the snapshot's event, so that no delete
// commits in between.
func (s *Store) SaveSnapshot(ctx context.Context, snap chronicle.Snapshot) error {
	if err := chronicle.ValidateStreamName(snap.Stream); err != nil {
		return err
	}
	data := snap.Data
	if data == nil {
		data = []byte{}
	}
	_, err := s.w.do(ctx, snap.Stream, "save snapshot of", func(ctx context.Context, b *batch) (chronicle.AppendResult, bool, error) {
		if err := b.w.snapshotRefusal(ctx, snap.Stream, snap.Revision); err != nil {
			return chronicle.AppendResult{}, false, err
		}
		_, err := b.w.conn.ExecContext(ctx, `INSERT INTO snapshots (stream, revision, type, version, data) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (stream) DO UPDATE SET revision = excluded.revision, type = excluded.type,
				version = excluded.version, data = excluded.data
			WHERE excluded.revision >= snapshots.revision`,
			snap.Stream, sqlnum.Clamp(snap.Revision), snap.Type, snap.Version, data)
		return chronicle.AppendResult{}, false, err // the writer says whose
	})
	return err
}

// snapshotRefusal returns why a snapshot of stream at rev may not be
// kept: a read of the stream does not return the event at rev. It runs in
// the writer's transaction.
func (w *writer) snapshotRefusal(ctx context.Context, stream string, rev uint64) error {
	st, err := w.stream(ctx, stream)
	if err != nil {
		return err
	}
	refusal := &chronicle.SnapshotNotSavedError{Stream: stream, Revision: rev, Tombstoned: st.deleted == tombstoned}
	if !st.exists || rev > st.last {
		return refusal
	}
	var recorded int64
	err = w.conn.QueryRowContext(ctx, "SELECT recorded FROM events WHERE stream_id = ? AND revision = ?", st.id, sqlnum.Clamp(rev)).Scan(&recorded)
	switch {
	case errors.Is(err, sql.ErrNoRows): // scavenged
		return refusal
	case err != nil:
		return fmt.Errorf("read its event at revision %d: %w", rev, err) // the writer says whose
	case !st.meta.Visible(rev, st.last, time.UnixMicro(recorded), time.Now()):
		return refusal
	}
	return nil
}

// LoadSnapshot implements [chronicle.SnapshotStore].
func (s *Store) LoadSnapshot(ctx context.Context, stream string) (chronicle.Snapshot, bool, error) {
	if err := chronicle.ValidateStreamName(stream); err != nil {
		return chronicle.Snapshot{}, false, err
	}
	snap := chronicle.Snapshot{Stream: stream}
	var rev int64
	err := s.stmts.queryRow(ctx, "SELECT revision, type, version, data FROM snapshots WHERE stream = ?", stream).
		Scan(&rev, &snap.Type, &snap.Version, &snap.Data)
	if errors.Is(err, sql.ErrNoRows) {
		return chronicle.Snapshot{}, false, nil
	}
	if err != nil {
		return chronicle.Snapshot{}, false, fmt.Errorf("load snapshot of %q: %w", stream, s.closedErr(ctx, err))
	}
	snap.Revision = uint64(rev)
	return snap, true, nil
}

// HasEvent implements [chronicle.EventFinder].
func (s *Store) HasEvent(ctx context.Context, stream string, id uuid.UUID) (bool, error) {
	if err := chronicle.ValidateStreamName(stream); err != nil {
		return false, err
	}
	var one int
	err := s.stmts.queryRow(ctx, "SELECT 1 FROM events WHERE id = ? AND stream = ? LIMIT 1", id[:], stream).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("find event %s in %q: %w", id, stream, s.closedErr(ctx, err))
	}
	return true, nil
}
