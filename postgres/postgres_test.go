package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/postgres"
	"github.com/chronicle-es/chronicle/storetest"
	"github.com/jackc/pgx/v5"
)

// urlEnv names the database the tests use. Without it they skip; with it,
// a server that cannot be reached fails them.
const urlEnv = "CHRONICLE_POSTGRES_URL"

// testURL returns the database URL, or skips the test.
func testURL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv(urlEnv)
	if u == "" {
		tb.Skip(urlEnv + " is not set: the PostgreSQL tests need a server (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable)")
	}
	return u
}

// newSchema returns a schema name of the test's own, and drops the schema
// when the test ends (after the stores are closed: cleanups run last
// registered, first run).
func newSchema(tb testing.TB) string {
	tb.Helper()
	u := testURL(tb)
	b := make([]byte, 6)
	rand.Read(b)
	name := "chronicle_test_" + hex.EncodeToString(b)
	tb.Cleanup(func() { dropSchema(tb, u, name) })
	return name
}

func dropSchema(tb testing.TB, url, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		tb.Errorf("drop schema %s: %v", name, err)
		return
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{name}.Sanitize()+" CASCADE"); err != nil {
		tb.Errorf("drop schema %s: %v", name, err)
	}
}

// mustOpen opens a store in schema, closed when the test ends.
func mustOpen(tb testing.TB, schema string, opts *postgres.Options) *postgres.Store {
	tb.Helper()
	o := postgres.Options{}
	if opts != nil {
		o = *opts
	}
	o.Schema = schema
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := postgres.Open(ctx, testURL(tb), &o)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// mustOpenNew opens a store in a new schema of its own.
func mustOpenNew(tb testing.TB) *postgres.Store {
	tb.Helper()
	return mustOpen(tb, newSchema(tb), nil)
}

// TestConformance runs the suite on stores whose subscribers poll the
// table once an hour: only a notification, the writer's wake-up after a
// commit, or Close's can bring them the events the suite waits for, so
// that a lost wake-up fails at the suite's timeouts rather than passing
// at the next poll.
func TestConformance(t *testing.T) {
	testURL(t) // skip once, rather than in every case of the suite
	storetest.Run(t, func(tb testing.TB) chronicle.Store {
		return mustOpen(tb, newSchema(tb), &postgres.Options{PollInterval: time.Hour})
	})
}

// TestConformanceRepeatableReadDefault runs the suite on sessions whose
// default isolation is REPEATABLE READ: the store's writes rest on READ
// COMMITTED, and must ask for it.
func TestConformanceRepeatableReadDefault(t *testing.T) {
	u := repeatableReadURL(t)
	storetest.Run(t, func(tb testing.TB) chronicle.Store {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		s, err := postgres.Open(ctx, u, &postgres.Options{Schema: newSchema(tb)})
		if err != nil {
			tb.Fatalf("Open: %v", err)
		}
		tb.Cleanup(func() { s.Close() })
		return s
	})
}
