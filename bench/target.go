package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/chronicle-es/chronicle/internal/dsn"
	"github.com/chronicle-es/chronicle/sqlite"
	"github.com/jackc/pgx/v5"
)

// target is the store the harness measures, as --store names it. Every
// workload gets a store of its own, empty, so that one workload's events
// never slow another's indexes, and a figure does not depend on the order
// in which the workloads ran.
type target struct {
	dsn  string
	kind string // "memory", "sqlite" or "postgres"
	path string // sqlite: the file --store names; its siblings are the workloads'
	// relaxed opens the sqlite store without an fsync per commit
	// (--relaxed): figures that WORKLOAD.md keeps apart from durable ones.
	relaxed bool
	// noCache opens the sqlite store without its stream cache, for the
	// comparison beside C4-PAR C=64.
	noCache bool
}

func parseTarget(s string) (target, error) {
	kind, rest, _ := strings.Cut(s, ":")
	switch {
	case s == "memory:" || s == "memory":
		return target{dsn: "memory:", kind: "memory"}, nil
	case kind == "sqlite" && rest != "":
		return target{dsn: s, kind: "sqlite", path: rest}, nil
	case kind == "postgres" || kind == "postgresql":
		return target{dsn: s, kind: "postgres"}, nil
	}
	return target{}, fmt.Errorf("--store %q: give memory:, sqlite:PATH or postgres://URL", s)
}

// dir is where the disk baselines run: the directory of the store's file,
// since the fsync rate is a property of the disk it is on. Other stores
// have no file here, so the baselines use the temporary directory, and
// the report says so.
func (t target) dir() string {
	if t.kind == "sqlite" {
		return filepath.Dir(t.path)
	}
	return os.TempDir()
}

// opened is a fresh store for one workload.
type opened struct {
	dsn.Store
	// file is the SQLite file, for the raw SELECT baselines; "" elsewhere.
	file string
	// schema is the PostgreSQL schema; "" elsewhere.
	schema string
	close  func() error
}

// Close closes the store and removes what it wrote.
func (o *opened) Close() error { return o.close() }

// open returns a new, empty store for workload. Closing it removes its
// file or drops its schema, unless keep.
func (t target) open(ctx context.Context, workload string, keep bool) (*opened, error) {
	switch t.kind {
	case "memory":
		s, err := dsn.Open(ctx, "memory:")
		if err != nil {
			return nil, err
		}
		return &opened{Store: s, close: s.Close}, nil
	case "sqlite":
		file := t.workloadFile(workload)
		if err := removeSQLite(file); err != nil {
			return nil, err
		}
		opts := &sqlite.Options{}
		if t.relaxed {
			opts.Durability = sqlite.Relaxed
		}
		if t.noCache {
			opts.CacheEvents = -1
		}
		s, err := sqlite.Open(ctx, file, opts)
		if err != nil {
			return nil, err
		}
		return &opened{Store: s, file: file, close: func() error {
			err := s.Close()
			if !keep {
				err = errors.Join(err, removeSQLite(file))
			}
			return err
		}}, nil
	default:
		schema := "chronicle_bench_" + strings.ReplaceAll(workload, "-", "_")
		if err := t.dropSchema(ctx, schema); err != nil {
			return nil, err
		}
		u, err := url.Parse(t.dsn)
		if err != nil {
			return nil, fmt.Errorf("--store: not a valid URL")
		}
		q := u.Query()
		q.Set("schema", schema)
		u.RawQuery = q.Encode()
		s, err := dsn.Open(ctx, u.String())
		if err != nil {
			return nil, err
		}
		return &opened{Store: s, schema: schema, close: func() error {
			err := s.Close()
			if !keep {
				err = errors.Join(err, t.dropSchema(context.Background(), schema))
			}
			return err
		}}, nil
	}
}

// workloadFile names the SQLite file of one workload: beside the file
// that --store names, which itself is never touched.
func (t target) workloadFile(workload string) string {
	ext := filepath.Ext(t.path)
	return strings.TrimSuffix(t.path, ext) + "-" + workload + ".db"
}

// removeSQLite removes a SQLite file with its WAL and shared-memory files.
func removeSQLite(file string) error {
	var errs []error
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if err := os.Remove(file + suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// pgURL is the --store URL without Chronicle's own schema parameter,
// which the server would refuse.
func (t target) pgURL() string {
	u, err := url.Parse(t.dsn)
	if err != nil {
		return t.dsn
	}
	q := u.Query()
	q.Del("schema")
	u.RawQuery = q.Encode()
	return u.String()
}

func (t target) dropSchema(ctx context.Context, schema string) error {
	conn, err := pgx.Connect(ctx, t.pgURL())
	if err != nil {
		return fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
		return fmt.Errorf("drop schema %s: %w", schema, err)
	}
	return nil
}
