package postgres_test

import (
	"context"
	"strings"
	"testing"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/postgres"
	"github.com/jackc/pgx/v5"
)

// TestUpgradedWhileOpen: once a newer Chronicle has migrated the schema,
// a store opened before stops writing to it, and says why, rather than
// write what the newer code may read wrong.
func TestUpgradedWhileOpen(t *testing.T) {
	ctx := context.Background()
	schema := newSchema(t)
	s := mustOpen(t, schema, nil)
	if _, err := s.Append(ctx, "s", chronicle.NoStream, chronicle.EventData{Type: "E"}, chronicle.EventData{Type: "E"}); err != nil {
		t.Fatal(err)
	}
	// Metadata, so that a scavenge has an event to remove.
	meta := chronicle.StreamMetadata{TruncateBefore: 1}
	if err := s.SetStreamMetadata(ctx, "s", meta); err != nil {
		t.Fatal(err)
	}
	// What a newer version's migration does last.
	if err := postgres.RecordVersion(ctx, s, postgres.SchemaVersion+1); err != nil {
		t.Fatal(err)
	}

	for _, w := range []struct {
		name  string
		write func() error
	}{
		// The writer knows the stream's last revision: no read before the
		// insert.
		{"Append", func() error {
			_, err := s.Append(ctx, "s", chronicle.Exact(1), chronicle.EventData{Type: "Late"})
			return err
		}},
		{"Append to a new stream", func() error {
			_, err := s.Append(ctx, "t", chronicle.NoStream, chronicle.EventData{Type: "Late"})
			return err
		}},
		{"SetStreamMetadata", func() error {
			return s.SetStreamMetadata(ctx, "s", chronicle.StreamMetadata{MaxCount: 1})
		}},
		{"SaveSnapshot", func() error {
			return s.SaveSnapshot(ctx, chronicle.Snapshot{Stream: "s", Revision: 1, Type: "T"})
		}},
		{"Delete", func() error { return s.Delete(ctx, "s", chronicle.Any) }},
		{"Tombstone", func() error { return s.Tombstone(ctx, "s", chronicle.Any) }},
		{"Scavenge", func() error {
			_, err := s.Scavenge(ctx, nil)
			return err
		}},
	} {
		err := w.write()
		if err == nil || !strings.Contains(err.Error(), "newer Chronicle") || !strings.Contains(err.Error(), "restart") {
			t.Errorf("%s after a newer Chronicle migrated the schema: %v, want an error saying to restart with it", w.name, err)
		}
	}

	var events int
	if err := mustConnect(t).QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{schema, "events"}.Sanitize()).Scan(&events); err != nil {
		t.Fatal(err)
	}
	if events != 2 {
		t.Errorf("the events table holds %d events, want the 2 from before the migration", events)
	}
	if m, err := s.StreamMetadata(ctx, "s"); err != nil || m != meta {
		t.Errorf("metadata = %+v, %v; want %+v, as set before the migration", m, err, meta)
	}
	if _, ok, err := s.LoadSnapshot(ctx, "s"); ok || err != nil {
		t.Errorf("LoadSnapshot = %v, %v; want no snapshot", ok, err)
	}
}

// TestOlderCodeRefused: a process still running the code of schema
// version 2 or 3, which opened the schema before a newer Chronicle
// migrated it, reads no version before it writes. Its appends and
// deletes, which update the head row, must be refused by the schema
// itself, with words that say what to do.
func TestOlderCodeRefused(t *testing.T) {
	ctx := context.Background()
	schema := newSchema(t)
	s := mustOpen(t, schema, nil)
	if _, err := s.Append(ctx, "s", chronicle.NoStream, chronicle.EventData{Type: "E"}); err != nil {
		t.Fatal(err)
	}
	head := pgx.Identifier{schema, "head"}.Sanitize()
	conn := mustConnect(t)
	for _, stmt := range []string{
		// How versions 1 to 3 append: the head row is moved by the
		// batch's events, the insert follows in the same statement.
		"UPDATE " + head + " SET position = position + 1",
		// How versions 2 and 3 delete, and remove the last event of a
		// live stream in a scavenge.
		"UPDATE " + head + " SET meta_version = meta_version + 1",
	} {
		_, err := conn.Exec(ctx, stmt)
		if err == nil || !strings.Contains(err.Error(), "newer Chronicle") || !strings.Contains(err.Error(), "restart") {
			t.Errorf("%s by older code: %v, want an error saying to restart with the newer Chronicle", stmt, err)
		}
	}
	var position, metaVersion int64
	if err := conn.QueryRow(ctx, "SELECT position, meta_version FROM "+head).Scan(&position, &metaVersion); err != nil {
		t.Fatal(err)
	}
	if position != 1 || metaVersion != 0 {
		t.Fatalf("head = position %d, meta_version %d; want 1 and 0, as the store left it", position, metaVersion)
	}
	// The store itself goes on.
	if res, err := s.Append(ctx, "s", chronicle.Exact(0), chronicle.EventData{Type: "E"}); err != nil || res.FirstPosition != 2 {
		t.Fatalf("Append = %+v, %v; want position 2", res, err)
	}
}
