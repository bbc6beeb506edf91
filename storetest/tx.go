package storetest

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"
)

// TxStore is a store that runs transactions of the caller's on its
// database, as projection.TxStore describes.
type TxStore interface {
	Update(ctx context.Context, fn func(*sql.Tx) error) error
	View(ctx context.Context, fn func(*sql.Tx) error) error
}

// UpdateEndedMidway checks that when ctx ends while an Update's function
// runs, database/sql rolls the transaction back and Update returns an
// error matching ctx's, as callers such as a projection runner check,
// rather than one saying that the transaction was done.
func UpdateEndedMidway(t *testing.T, s TxStore) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	err := s.Update(ctx, func(tx *sql.Tx) error {
		if _, err := tx.Exec("CREATE TABLE ended_midway (x integer)"); err != nil {
			return err
		}
		cancel()
		time.Sleep(50 * time.Millisecond) // for database/sql's rollback
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Update whose ctx ended midway: %v, want an error matching context.Canceled", err)
	}
	err = s.View(context.Background(), func(tx *sql.Tx) error {
		_, err := tx.Exec("SELECT x FROM ended_midway")
		return err
	})
	if err == nil {
		t.Fatal("the table exists: the transaction committed")
	}
}

// PanicInTransaction checks that a panic in the function that Update or
// View runs, which a server may recover from, passes on to the caller and
// ends the transaction: its writes are not committed, and it keeps
// neither a lock nor its connection, so that an Update writing the same
// row right after it goes through.
func PanicInTransaction(t *testing.T, s TxStore) {
	t.Helper()
	ctx := context.Background()
	if err := s.Update(ctx, func(tx *sql.Tx) error {
		if _, err := tx.Exec("CREATE TABLE panic_counts (id integer PRIMARY KEY, n integer NOT NULL)"); err != nil {
			return err
		}
		_, err := tx.Exec("INSERT INTO panic_counts (id, n) VALUES (1, 0)")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	for _, run := range []struct {
		name string
		call func(func(*sql.Tx) error) error
	}{
		{"Update", func(fn func(*sql.Tx) error) error { return s.Update(ctx, fn) }},
		{"View", func(fn func(*sql.Tx) error) error { return s.View(ctx, fn) }},
	} {
		recovered := func() (p any) {
			defer func() { p = recover() }()
			run.call(func(tx *sql.Tx) error {
				if run.name == "Update" {
					if _, err := tx.Exec("UPDATE panic_counts SET n = n + 1 WHERE id = 1"); err != nil {
						t.Errorf("update before the panic: %v", err)
					}
				} else if _, err := tx.Exec("SELECT n FROM panic_counts"); err != nil {
					t.Errorf("select before the panic: %v", err)
				}
				panic("boom")
			})
			return nil
		}()
		if recovered != "boom" {
			t.Fatalf("%s: recovered %v, want the function's panic", run.name, recovered)
		}
	}
	// A transaction left open would hold the row (or the database's write
	// lock) for good: the Update below would wait until its deadline.
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var n int
	err := s.Update(ctx, func(tx *sql.Tx) error {
		if _, err := tx.Exec("UPDATE panic_counts SET n = n + 10 WHERE id = 1"); err != nil {
			return err
		}
		return tx.QueryRow("SELECT n FROM panic_counts WHERE id = 1").Scan(&n)
	})
	if err != nil {
		t.Fatalf("Update after a panic in a transaction: %v", err)
	}
	if n != 10 {
		t.Fatalf("n = %d after the Update, want 10: the transaction that panicked committed", n)
	}
}
