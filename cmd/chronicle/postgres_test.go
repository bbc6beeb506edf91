package main

import (
	"context"
	"testing"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/internal/dsn"
	"github.com/chronicle-es/chronicle/internal/pgtest"
)

// newPostgresStore returns the --store of a new PostgreSQL schema, with
// events appended by fn, and what the program says of it on standard
// error. It opens the store as the program does, through internal/dsn.
func newPostgresStore(t *testing.T, fn func(s chronicle.Store)) (string, string) {
	t.Helper()
	name := pgtest.DSN(t)
	s, err := dsn.Open(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	if fn != nil {
		fn(s)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return "--store=" + name, "Store: " + dsn.Describe(name) + "\n"
}

// TestPostgres runs the commands' tests with --store postgres://..., each
// in a schema of its own: the same output as on the embedded store.
func TestPostgres(t *testing.T) {
	pgtest.URL(t)
	t.Run("Read", func(t *testing.T) {
		store, errOut := newPostgresStore(t, game(t))
		testRead(t, store, errOut)
	})
	t.Run("Meta", func(t *testing.T) {
		store, errOut := newPostgresStore(t, game(t))
		testMeta(t, store, errOut)
	})
	t.Run("DeleteTombstoneScavenge", func(t *testing.T) {
		store, errOut := newPostgresStore(t, game(t))
		testDeleteTombstoneScavenge(t, store, errOut)
	})
	t.Run("ExportImport", func(t *testing.T) {
		src, _ := newPostgresStore(t, game(t))
		dst, errOut := newPostgresStore(t, nil)
		testExportImport(t, src, dst, errOut)
	})
}
