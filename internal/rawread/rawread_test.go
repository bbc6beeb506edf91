package rawread

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"

	_ "modernc.org/sqlite"
)

func TestReads(t *testing.T) {
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "r.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	if _, err := db.Exec(`CREATE TABLE events (position INTEGER PRIMARY KEY, stream TEXT, revision INTEGER, id BLOB, type TEXT, data BLOB, metadata BLOB, recorded INTEGER)`); err != nil {
		t.Fatal(err)
	}
	const n = 2*checkEvery + 3
	if _, err := db.Exec(`WITH RECURSIVE p(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM p WHERE i < ?)
		INSERT INTO events SELECT i, 's-' || (i % 7), i / 7, randomblob(16), 'E', randomblob(100), NULL, i FROM p`, n); err != nil {
		t.Fatal(err)
	}
	const all = "SELECT position, stream, revision, id, type, data, metadata, recorded FROM events"
	for name, read := range map[string]func(context.Context, *sql.DB, string, ...any) (int, error){"Driver": Driver, "Scan": Scan} {
		if got, err := read(ctx, db, all); err != nil || got != n {
			t.Errorf("%s of all: %d rows, %v; want %d", name, got, err, n)
		}
		if got, err := read(ctx, db, all+" WHERE stream = ? AND revision < ?", "s-3", 10); err != nil || got != 10 {
			t.Errorf("%s of a stream: %d rows, %v; want 10", name, got, err)
		}
		canceled, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := read(canceled, db, all); !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a canceled context: %v", name, err)
		}
	}
}
