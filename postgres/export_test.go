package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// SetTestHook makes the store's writer call f at each stage of a batch
// ("checked": states read and checked, lock not taken; "locked": lock taken
// and events inserted, not committed), so that tests can stretch the
// windows between them. Only tests can call it.
func SetTestHook(s *Store, f func(stage string)) {
	if f == nil {
		s.w.hook.Store(nil)
		return
	}
	s.w.hook.Store(&f)
}

// Relocked reports how many batches the store's writer has had to check
// again under the head lock because another process moved one of their
// streams after the first check.
func Relocked(s *Store) int64 { return s.w.relocked.Load() }

// SchemaVersion is the version of the newest migration.
const SchemaVersion = schemaVersion

// Fast reports how many batches the store's writer has written without
// reading their streams' states first.
func Fast(s *Store) int64 { return s.w.fast.Load() }

// RecordVersion records version as the schema's, as a migration to it
// does last: tests play with it a newer Chronicle that migrates the
// schema while the store is open.
func RecordVersion(ctx context.Context, s *Store, version int) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return RecordVersionIn(ctx, s, tx, version) })
}

// RecordVersionIn is RecordVersion in tx, a transaction of the test's
// own, which can take the locks that a migration takes first and commit
// when the test likes.
func RecordVersionIn(ctx context.Context, s *Store, tx pgx.Tx, version int) error {
	return s.recordVersion(ctx, tx, version)
}

// WriterPID returns the server process ID of the connection that the
// store's writer uses, opening it if need be, so that a test can end it
// as a failing network would.
func WriterPID(ctx context.Context, s *Store) (uint32, error) {
	conn, err := s.w.pool.Acquire(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Release()
	return conn.Conn().PgConn().PID(), nil
}
