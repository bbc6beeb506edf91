package shred

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"sync"
)

// KeySize is the size of a subject's key: AES-256.
const KeySize = 32

func newKey() ([]byte, error) {
	key := make([]byte, KeySize)
	_, err := rand.Read(key)
	return key, err
}

// MemoryKeys keeps keys in memory, for tests and for the memory store.
// It is safe for concurrent use.
type MemoryKeys struct {
	mu   sync.Mutex
	keys map[string][]byte
}

// NewMemoryKeys returns an empty [MemoryKeys].
func NewMemoryKeys() *MemoryKeys { return &MemoryKeys{keys: map[string][]byte{}} }

// Key implements [KeyStore].
func (m *MemoryKeys) Key(_ context.Context, subject string, create bool) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	// A copy: Forget clears the stored key, which must not change a key
	// that an append is sealing a field with at the same time (it would
	// seal it with zeros).
	if key, ok := m.keys[subject]; ok || !create {
		return bytes.Clone(key), nil
	}
	key, err := newKey()
	if err != nil {
		return nil, err
	}
	m.keys[subject] = key
	return bytes.Clone(key), nil
}

// Forget implements [KeyStore].
func (m *MemoryKeys) Forget(_ context.Context, subject string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	clear(m.keys[subject])
	delete(m.keys, subject)
	return nil
}

// TxDB is a database that runs transactions: the embedded SQLite store and
// the PostgreSQL store are (see their Update and View), so keys can live
// beside the events.
type TxDB interface {
	Update(ctx context.Context, fn func(*sql.Tx) error) error
	View(ctx context.Context, fn func(*sql.Tx) error) error
}

// SQLKeys keeps keys in a table, chronicle_subject_keys, of a database
// that SQLite and PostgreSQL both understand.
type SQLKeys struct {
	db    TxDB
	mu    sync.Mutex
	ready bool // the table exists
}

// NewSQLKeys returns a key store in db, which it creates its table in on
// first use.
func NewSQLKeys(db TxDB) *SQLKeys { return &SQLKeys{db: db} }

// setup creates the table once. A failure is not kept (a sync.Once
// would keep it): the first call's ctx may have been cancelled, or the
// database down for a moment, and the next call tries again.
func (k *SQLKeys) setup(ctx context.Context) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.ready {
		return nil
	}
	err := k.db.Update(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS chronicle_subject_keys (
			subject TEXT PRIMARY KEY,
			key     BYTEA NOT NULL)`)
		return err
	})
	k.ready = err == nil
	return err
}

// Key implements [KeyStore].
func (k *SQLKeys) Key(ctx context.Context, subject string, create bool) ([]byte, error) {
	if err := k.setup(ctx); err != nil {
		return nil, fmt.Errorf("key store: %w", err)
	}
	var key []byte
	read := func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `SELECT key FROM chronicle_subject_keys WHERE subject = $1`, subject).Scan(&key)
		if errors.Is(err, sql.ErrNoRows) {
			key = nil
			return nil
		}
		return err
	}
	if err := k.db.View(ctx, read); err != nil || key != nil || !create {
		return key, err
	}
	err := k.db.Update(ctx, func(tx *sql.Tx) error {
		// Another process may have created it since the read.
		if err := read(tx); err != nil || key != nil {
			return err
		}
		var err error
		if key, err = newKey(); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO chronicle_subject_keys (subject, key) VALUES ($1, $2)`, subject, key)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("key store: create key: %w", err)
	}
	return key, nil
}

// Forget implements [KeyStore]. On the embedded store, the deleted key's
// bytes are overwritten in the file, and its write-ahead log is emptied,
// so that no copy of the key stays on disk. Should readers keep the log
// in use for the store's busy timeout, or ctx end first (see its
// Checkpoint), Forget returns an error matching [ErrKeyOnDisk]: the key
// is deleted, but the file or its log may hold a copy until a Forget
// called again empties the log. On PostgreSQL the key is gone from every
// query at once, but the server keeps the bytes of the deleted row in the
// table's file until vacuum reuses its space, and in its write-ahead log
// and backups until they are recycled: erasing those is the database
// administrator's part.
func (k *SQLKeys) Forget(ctx context.Context, subject string) error {
	if err := k.setup(ctx); err != nil {
		return fmt.Errorf("key store: %w", err)
	}
	err := k.db.Update(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM chronicle_subject_keys WHERE subject = $1`, subject)
		return err
	})
	if err != nil {
		return fmt.Errorf("key store: forget: %w", err)
	}
	if c, ok := k.db.(interface{ Checkpoint(context.Context) error }); ok {
		if err := c.Checkpoint(ctx); err != nil {
			return fmt.Errorf("key store: forget: %w (in the database's file or write-ahead log, until a checkpoint empties the log): call Forget again to erase it: %w", ErrKeyOnDisk, err)
		}
	}
	return nil
}
