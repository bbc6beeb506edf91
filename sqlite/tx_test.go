package sqlite_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/sqlite"
)

// TestPanicInTransaction: a panic of the function that Update or View
// runs, which a server may recover from, ends its transaction, so that
// the store's write lock and connections are free for what follows.
func TestPanicInTransaction(t *testing.T) {
	s := mustOpen(t, &sqlite.Options{BusyTimeout: 500 * time.Millisecond})
	ctx := context.Background()
	if err := s.Update(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec("CREATE TABLE counts (n INTEGER)")
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
					if _, err := tx.Exec("INSERT INTO counts VALUES (1)"); err != nil {
						t.Fatal(err)
					}
				}
				panic("boom")
			})
			return nil
		}()
		if recovered != "boom" {
			t.Fatalf("%s: recovered %v, want the panic", run.name, recovered)
		}
	}
	done := make(chan error, 1)
	go func() {
		_, err := s.Append(ctx, "a", chronicle.Any, chronicle.EventData{Type: "E"})
		if err == nil {
			err = s.Update(ctx, func(tx *sql.Tx) error {
				var n int
				if err := tx.QueryRow("SELECT count(*) FROM counts").Scan(&n); err != nil {
					return err
				}
				if n != 0 {
					t.Errorf("%d rows written by the transaction that panicked, want none", n)
				}
				return nil
			})
		}
		if err == nil {
			err = s.View(ctx, func(*sql.Tx) error { return nil })
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("after a panic in a transaction: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("after a panic in a transaction, an append and an Update still wait after 5 s")
	}
}
