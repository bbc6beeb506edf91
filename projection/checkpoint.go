package projection

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
)

// Checkpoints keeps how far each projection got: the position of the last
// event its read model reflects.
type Checkpoints interface {
	// Load returns the checkpoint of the named projection, 0 when it has
	// none.
	Load(ctx context.Context, name string) (uint64, error)
	// Save records the checkpoint of the named projection.
	Save(ctx context.Context, name string, position uint64) error
}

// MemoryCheckpoints keeps checkpoints in memory. It is safe for
// concurrent use.
type MemoryCheckpoints struct {
	mu sync.Mutex
	m  map[string]uint64
}

// NewMemoryCheckpoints returns an empty [MemoryCheckpoints].
func NewMemoryCheckpoints() *MemoryCheckpoints {
	return &MemoryCheckpoints{m: map[string]uint64{}}
}

// Load implements [Checkpoints].
func (c *MemoryCheckpoints) Load(_ context.Context, name string) (uint64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[name], nil
}

// Save implements [Checkpoints].
func (c *MemoryCheckpoints) Save(_ context.Context, name string, position uint64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[name] = position
	return nil
}

// The checkpoint table is plain SQL that SQLite and PostgreSQL both
// accept, so that any [DB] can hold it.
const checkpointTable = "chronicle_checkpoints"

func createCheckpointTable(ctx context.Context, tx *sql.Tx) error {
	_, err := tx.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS "+checkpointTable+
		" (name TEXT PRIMARY KEY, position BIGINT NOT NULL)")
	if err != nil {
		return fmt.Errorf("create checkpoint table: %w", err)
	}
	return nil
}

func loadCheckpointTx(ctx context.Context, tx *sql.Tx, name string) (uint64, error) {
	var pos int64
	err := tx.QueryRowContext(ctx, "SELECT position FROM "+checkpointTable+" WHERE name = $1", name).Scan(&pos)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("load checkpoint of %q: %w", name, err)
	}
	return uint64(pos), nil
}

func saveCheckpointTx(ctx context.Context, tx *sql.Tx, name string, position uint64) error {
	_, err := tx.ExecContext(ctx, "INSERT INTO "+checkpointTable+" (name, position) VALUES ($1, $2)"+
		" ON CONFLICT (name) DO UPDATE SET position = excluded.position", name, int64(position))
	if err != nil {
		return fmt.Errorf("save checkpoint of %q: %w", name, err)
	}
	return nil
}

// newCheckpointTx gives the named projection checkpoint 0 when it has
// none, and reports whether it had none.
func newCheckpointTx(ctx context.Context, tx *sql.Tx, name string) (bool, error) {
	res, err := tx.ExecContext(ctx, "INSERT INTO "+checkpointTable+" (name, position) VALUES ($1, 0)"+
		" ON CONFLICT (name) DO NOTHING", name)
	if err != nil {
		return false, fmt.Errorf("save checkpoint of %q: %w", name, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("save checkpoint of %q: %w", name, err)
	}
	return n == 1, nil
}

// sqlCheckpoints keeps checkpoints in a [DB].
type sqlCheckpoints struct{ store DB }

func (c sqlCheckpoints) Load(ctx context.Context, name string) (pos uint64, err error) {
	err = c.store.View(ctx, func(tx *sql.Tx) error {
		pos, err = loadCheckpointTx(ctx, tx, name)
		return err
	})
	return pos, err
}

func (c sqlCheckpoints) Save(ctx context.Context, name string, position uint64) error {
	return c.store.Update(ctx, func(tx *sql.Tx) error {
		return saveCheckpointTx(ctx, tx, name, position)
	})
}
