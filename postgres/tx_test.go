package postgres_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/postgres"
	"github.com/chronicle-es/chronicle/projection"
	"github.com/chronicle-es/chronicle/shred"
	"github.com/chronicle-es/chronicle/storetest"
)

var (
	_ projection.TxStore = (*postgres.Store)(nil)
	_ shred.TxDB         = (*postgres.Store)(nil)
)

// TestUpdateLandsInSchema creates a table without naming a schema: it
// must be in the store's schema, and View must see it and refuse writes.
func TestUpdateLandsInSchema(t *testing.T) {
	ctx := context.Background()
	schema := newSchema(t)
	s := mustOpen(t, schema, nil)
	err := s.Update(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "CREATE TABLE notes (id integer PRIMARY KEY, body text NOT NULL)"); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "INSERT INTO notes VALUES ($1, $2)", 1, "one")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var where string
	if err := mustConnect(t).QueryRow(ctx, "SELECT schemaname FROM pg_tables WHERE tablename = 'notes'").Scan(&where); err != nil {
		t.Fatal(err)
	}
	if where != schema {
		t.Fatalf("the table notes is in schema %q, want the store's, %q", where, schema)
	}
	var body string
	err = s.View(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, "SELECT body FROM notes WHERE id = 1").Scan(&body)
	})
	if err != nil || body != "one" {
		t.Fatalf("View read %q, %v; want \"one\"", body, err)
	}
	err = s.View(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO notes VALUES (2, 'two')")
		return err
	})
	if err == nil {
		t.Fatal("View wrote a row: its transaction is not read-only")
	}
	// An error from fn rolls back, and comes back as it was.
	mine := errors.New("mine")
	err = s.Update(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "INSERT INTO notes VALUES (3, 'three')"); err != nil {
			return err
		}
		return mine
	})
	if !errors.Is(err, mine) {
		t.Fatalf("Update returned %v, want fn's error", err)
	}
	var n int
	s.View(ctx, func(tx *sql.Tx) error { return tx.QueryRowContext(ctx, "SELECT count(*) FROM notes").Scan(&n) })
	if n != 1 {
		t.Fatalf("notes holds %d rows after a failed Update, want 1", n)
	}
}

// TestUpdatesRunOneAtATime reads a counter and writes it back plus one, in
// many Updates at once from two stores (as two processes would): under
// READ COMMITTED alone, increments would be lost.
func TestUpdatesRunOneAtATime(t *testing.T) {
	ctx := context.Background()
	schema := newSchema(t)
	stores := []*postgres.Store{mustOpen(t, schema, nil), mustOpen(t, schema, nil)}
	err := stores[0].Update(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "CREATE TABLE counter (n integer NOT NULL)"); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "INSERT INTO counter VALUES (0)")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	const workers, each = 8, 10
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for range each {
				err := stores[w%2].Update(ctx, func(tx *sql.Tx) error {
					var n int
					if err := tx.QueryRowContext(ctx, "SELECT n FROM counter").Scan(&n); err != nil {
						return err
					}
					_, err := tx.ExecContext(ctx, "UPDATE counter SET n = $1", n+1)
					return err
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	var n int
	stores[1].View(ctx, func(tx *sql.Tx) error { return tx.QueryRowContext(ctx, "SELECT n FROM counter").Scan(&n) })
	if n != workers*each {
		t.Fatalf("counter = %d after %d increments: Updates interleaved", n, workers*each)
	}
}

// TestProjectionExactlyOnceAcrossStores runs a projection whose writes are
// not idempotent from two stores on one schema at once: each event must
// be applied once, and the read model must commit with its checkpoint.
func TestProjectionExactlyOnceAcrossStores(t *testing.T) {
	ctx := context.Background()
	schema := newSchema(t)
	a, b := mustOpen(t, schema, nil), mustOpen(t, schema, nil)
	const streams, events = 5, 200
	for i := range events {
		stream := fmt.Sprintf("c-%d", i%streams)
		if _, err := a.Append(ctx, stream, chronicle.Any, chronicle.EventData{Type: "E"}); err != nil {
			t.Fatal(err)
		}
	}
	p := projection.Projection{
		Name: "counts",
		Setup: func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS counts (stream text PRIMARY KEY, n integer NOT NULL)")
			return err
		},
		Apply: func(ctx context.Context, tx *sql.Tx, e chronicle.RecordedEvent) error {
			_, err := tx.ExecContext(ctx, "INSERT INTO counts VALUES ($1, 1) ON CONFLICT (stream) DO UPDATE SET n = counts.n + 1", e.Stream)
			return err
		},
		// The runner that first finds no checkpoint resets the read model
		// in its setup: the others, set up meanwhile, must not.
		Reset: func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, "DELETE FROM counts")
			return err
		},
	}
	var wg sync.WaitGroup
	for _, s := range []*postgres.Store{a, b, a, b} {
		r, err := projection.NewRunner(s, &projection.Options{BatchSize: 7}, p)
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			if err := r.CatchUp(ctx); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	total := 0
	err := b.View(ctx, func(tx *sql.Tx) error {
		var checkpoint int64
		if err := tx.QueryRowContext(ctx, "SELECT position FROM chronicle_checkpoints WHERE name = 'counts'").Scan(&checkpoint); err != nil {
			return err
		}
		if checkpoint != events {
			return fmt.Errorf("checkpoint = %d, want %d", checkpoint, events)
		}
		return tx.QueryRowContext(ctx, "SELECT sum(n) FROM counts").Scan(&total)
	})
	if err != nil {
		t.Fatal(err)
	}
	if total != events {
		t.Fatalf("the read model counted %d events, want %d: some were applied twice or not at all", total, events)
	}
}

// TestUpdateWaitsForContext: an Update waiting for another one to finish
// gives up when its context ends.
func TestUpdateWaitsForContext(t *testing.T) {
	s := mustOpenNew(t)
	hold, release := make(chan struct{}), make(chan struct{})
	go s.Update(context.Background(), func(*sql.Tx) error {
		close(hold)
		<-release
		return nil
	})
	<-hold
	defer close(release)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Update(ctx, func(*sql.Tx) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("Update with a cancelled context while another runs: %v, want context.Canceled", err)
	}
}

func TestUpdateEndedMidway(t *testing.T) { storetest.UpdateEndedMidway(t, mustOpenNew(t)) }

func TestPanicInTransaction(t *testing.T) { storetest.PanicInTransaction(t, mustOpenNew(t)) }

// repeatableReadURL is the test server's URL with REPEATABLE READ for its
// sessions' default isolation, as a database or a role may set it.
func repeatableReadURL(tb testing.TB) string {
	u, err := url.Parse(testURL(tb))
	if err != nil {
		tb.Fatal(err)
	}
	// Encode's "+" for the space is not one to libpq's rules, which pgx
	// follows.
	u.RawQuery = strings.TrimPrefix(u.RawQuery+"&default_transaction_isolation=repeatable%20read", "&")
	return u.String()
}

// TestUpdateIsReadCommitted: Update's promises (one at a time, ordered
// with migrations) rest on READ COMMITTED, which a database or a role may
// not have for its default.
func TestUpdateIsReadCommitted(t *testing.T) {
	ctx := context.Background()
	s, err := postgres.Open(ctx, repeatableReadURL(t), &postgres.Options{Schema: newSchema(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var level string
	if err := s.Update(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, "SHOW transaction_isolation").Scan(&level)
	}); err != nil {
		t.Fatal(err)
	}
	if level != "read committed" {
		t.Fatalf("Update ran at %s isolation on a database whose default is repeatable read, want read committed", level)
	}
}
