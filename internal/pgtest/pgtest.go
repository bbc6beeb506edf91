// Package pgtest gives tests outside package postgres a PostgreSQL store
// of their own: a new schema for each test, dropped when it ends. The
// tests skip, with a line saying why, unless CHRONICLE_POSTGRES_URL
// names a server.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/chronicle-es/chronicle/postgres"
	"github.com/jackc/pgx/v5"
)

// Env names the database the tests use, such as
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable.
const Env = "CHRONICLE_POSTGRES_URL"

// URL returns the database URL, or skips the test.
func URL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv(Env)
	if u == "" {
		tb.Skip(Env + " is not set: this test needs a PostgreSQL server (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable)")
	}
	return u
}

// Schema returns a new schema name for the test, and drops the schema,
// with whatever is in it, when the test ends. Register it before opening
// stores in it, so that they are closed first (cleanups run last
// registered, first run).
func Schema(tb testing.TB) string {
	tb.Helper()
	u := URL(tb)
	b := make([]byte, 6)
	rand.Read(b)
	name := "chronicle_test_" + hex.EncodeToString(b)
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, u)
		if err != nil {
			tb.Errorf("drop schema %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{name}.Sanitize()+" CASCADE"); err != nil {
			tb.Errorf("drop schema %s: %v", name, err)
		}
	})
	return name
}

// Open opens a store in a new schema, closed and dropped when the test
// ends.
func Open(tb testing.TB) *postgres.Store {
	tb.Helper()
	schema := Schema(tb)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := postgres.Open(ctx, URL(tb), &postgres.Options{Schema: schema})
	if err != nil {
		tb.Fatalf("open postgres store: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// DSN returns what the programs' --store flag takes for a new schema
// (the URL with schema=NAME added), dropped when the test ends.
func DSN(tb testing.TB) string {
	tb.Helper()
	u, err := url.Parse(URL(tb))
	if err != nil {
		tb.Fatalf("%s is not a URL: %v", Env, err)
	}
	q := u.Query()
	q.Set("schema", Schema(tb))
	u.RawQuery = q.Encode()
	return u.String()
}
