// Package sqlitetest helps tests outside package sqlite stand in for
// another process that uses the same SQLite file.
package sqlitetest

import (
	"context"
	"database/sql"
	"testing"

	// The driver that package sqlite registers, for the reader's own
	// connection.
	_ "github.com/chronicle-es/chronicle/sqlite"
)

// HoldRead opens a read-only connection of its own on the SQLite file at
// path, as another process would, and holds a read transaction on it,
// with its snapshot taken: until release, SQLite cannot empty the
// write-ahead log (a checkpoint that truncates it waits for the reader).
// release ends the transaction and closes the connection; the test's
// cleanup calls it too, if the test has not.
func HoldRead(t testing.TB, path string) (release func()) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	tx, err := db.BeginTx(context.Background(), &sql.TxOptions{ReadOnly: true})
	if err != nil {
		db.Close()
		t.Fatal(err)
	}
	// A read transaction takes its snapshot at its first read.
	var n int
	if err := tx.QueryRow("SELECT count(*) FROM sqlite_schema").Scan(&n); err != nil {
		tx.Rollback()
		db.Close()
		t.Fatal(err)
	}
	released := false
	release = func() {
		if released {
			return
		}
		released = true
		if err := tx.Rollback(); err != nil {
			t.Errorf("end the held read: %v", err)
		}
		db.Close()
	}
	t.Cleanup(release)
	return release
}
