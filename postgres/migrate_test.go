package postgres_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
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
		// A read model's transaction, which fn writes in.
		{"Update", func() error {
			return s.Update(ctx, func(tx *sql.Tx) error {
				_, err := tx.ExecContext(ctx, "CREATE TABLE mine (x integer)")
				if err == nil {
					err = errors.New("fn ran")
				}
				return err
			})
		}},
	} {
		err := w.write()
		if !errors.Is(err, chronicle.ErrSchemaUpgraded) || !strings.Contains(err.Error(), "restart") {
			t.Errorf("%s after a newer Chronicle migrated the schema: %v, want an error matching ErrSchemaUpgraded saying to restart with it", w.name, err)
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

// createAtVersion makes schema as the build of Chronicle whose newest
// migration was version made it, then runs stmts in it, such as inserts
// of the events that build wrote.
func createAtVersion(t *testing.T, schema string, version int, stmts ...string) {
	t.Helper()
	ctx := context.Background()
	all := []string{
		"CREATE SCHEMA " + pgx.Identifier{schema}.Sanitize(),
		"SET LOCAL search_path TO " + pgx.Identifier{schema}.Sanitize(),
		"CREATE TABLE schema_version (singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton), version integer NOT NULL)",
		fmt.Sprintf("INSERT INTO schema_version (version) VALUES (%d)", version),
	}
	for v := 1; v <= version; v++ {
		script, err := os.ReadFile(fmt.Sprintf("migrations/%d.sql", v))
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, string(script))
	}
	tx, err := mustConnect(t).Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	for _, stmt := range append(all, stmts...) {
		if _, err := tx.Exec(ctx, stmt); err != nil {
			t.Fatalf("%.40s: %v", stmt, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestMigrateFromVersion3 opens, from two processes at once, a schema
// that a build of schema version 3 wrote to: streams with metadata, a
// soft-deleted one and a snapshot. Both must open it, and every kind of
// write must go on, on what the older build left.
func TestMigrateFromVersion3(t *testing.T) {
	ctx := context.Background()
	schema := newSchema(t)
	createAtVersion(t, schema, 3,
		`INSERT INTO events VALUES
			(1, 'a', 0, '01890000-0000-7000-8000-000000000001', 'E', '\x7b7d', NULL, now()),
			(2, 'a', 1, '01890000-0000-7000-8000-000000000002', 'E', '\x7b7d', NULL, now()),
			(3, 'b', 0, '01890000-0000-7000-8000-000000000003', 'E', '\x7b7d', NULL, now()),
			(4, 'c', 0, '01890000-0000-7000-8000-000000000004', 'E', '\x7b7d', NULL, now())`,
		// Two deletes moved meta_version, one of them b's.
		"UPDATE head SET position = 4, meta_version = 2",
		"INSERT INTO streams_meta (stream, max_count) VALUES ('a', 1)",
		"INSERT INTO streams_meta (stream, truncate_before, deleted, restart) VALUES ('b', 1, 1, 1)",
		`INSERT INTO snapshots VALUES ('c', 0, 'T', 1, '\x2a')`)

	var stores [2]*postgres.Store
	var errs [2]error
	var wg sync.WaitGroup
	for i := range stores {
		wg.Go(func() {
			stores[i], errs[i] = postgres.Open(ctx, testURL(t), &postgres.Options{Schema: schema})
		})
	}
	wg.Wait()
	for i, s := range stores {
		if errs[i] != nil {
			t.Fatalf("Open %d of 2 at once: %v", i+1, errs[i])
		}
		t.Cleanup(func() { s.Close() })
	}
	s, other := stores[0], stores[1]

	if res, err := s.Append(ctx, "a", chronicle.Exact(1), chronicle.EventData{Type: "E"}); err != nil || res.FirstRevision != 2 || res.FirstPosition != 5 {
		t.Fatalf("Append to a = %+v, %v; want revision 2 at position 5", res, err)
	}
	// b starts again after what its delete hid.
	if res, err := other.Append(ctx, "b", chronicle.NoStream, chronicle.EventData{Type: "E"}); err != nil || res.FirstRevision != 1 || res.FirstPosition != 6 {
		t.Fatalf("Append to the soft-deleted b = %+v, %v; want revision 1 at position 6", res, err)
	}
	if snap, ok, err := s.LoadSnapshot(ctx, "c"); err != nil || !ok || snap.Type != "T" || string(snap.Data) != "*" {
		t.Fatalf("LoadSnapshot of c = %+v, %v, %v; want the one the older build saved", snap, ok, err)
	}
	if err := other.SaveSnapshot(ctx, chronicle.Snapshot{Stream: "a", Revision: 2, Type: "T"}); err != nil {
		t.Fatal(err)
	}
	meta := chronicle.StreamMetadata{MaxCount: 3}
	if err := s.SetStreamMetadata(ctx, "c", meta); err != nil {
		t.Fatal(err)
	}
	if got, err := other.StreamMetadata(ctx, "c"); err != nil || got != meta {
		t.Fatalf("StreamMetadata of c = %+v, %v; want %+v", got, err, meta)
	}
	if err := other.Delete(ctx, "a", chronicle.Exact(2)); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.LoadSnapshot(ctx, "a"); ok || err != nil {
		t.Fatalf("LoadSnapshot of the deleted a = %v, %v; want none", ok, err)
	}
	if err := s.Tombstone(ctx, "c", chronicle.Any); err != nil {
		t.Fatal(err)
	}
	// a's 3 events, b's first, c's.
	if p, err := other.Scavenge(ctx, nil); err != nil || p.Removed != 5 {
		t.Fatalf("Scavenge = %+v, %v; want 5 events removed", p, err)
	}
	if res, err := s.Append(ctx, "a", chronicle.NoStream, chronicle.EventData{Type: "E"}); err != nil || res.FirstRevision != 3 || res.FirstPosition != 7 {
		t.Fatalf("Append to a, deleted and scavenged = %+v, %v; want revision 3 at position 7", res, err)
	}
	var got []string
	for e, err := range other.ReadAll(ctx, chronicle.ReadAllOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s@%d:%d", e.Stream, e.Revision, e.Position))
	}
	if want := []string{"b@1:6", "a@3:7"}; !slices.Equal(got, want) {
		t.Fatalf("the log holds %q, want %q", got, want)
	}
	var version, headVersion int
	conn := mustConnect(t)
	if err := conn.QueryRow(ctx, "SELECT v.version, h.schema_version FROM "+pgx.Identifier{schema, "schema_version"}.Sanitize()+" v, "+
		pgx.Identifier{schema, "head"}.Sanitize()+" h").Scan(&version, &headVersion); err != nil {
		t.Fatal(err)
	}
	if version != postgres.SchemaVersion || headVersion != postgres.SchemaVersion {
		t.Fatalf("schema_version says %d and the head row %d; want %d", version, headVersion, postgres.SchemaVersion)
	}
}

// TestOpenNewerSchema: a schema that a newer Chronicle has migrated is
// refused at Open with an error a supervisor can match.
func TestOpenNewerSchema(t *testing.T) {
	ctx := context.Background()
	schema := newSchema(t)
	s := mustOpen(t, schema, nil)
	if err := postgres.RecordVersion(ctx, s, postgres.SchemaVersion+1); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s2, err := postgres.Open(ctx, testURL(t), &postgres.Options{Schema: schema})
	if err == nil {
		s2.Close()
	}
	if !errors.Is(err, chronicle.ErrSchemaUpgraded) || !strings.Contains(err.Error(), "upgrade Chronicle") {
		t.Fatalf("Open of a schema of version %d: %v, want an error matching ErrSchemaUpgraded saying to upgrade", postgres.SchemaVersion+1, err)
	}
}

// TestUpdateOrderedWithMigration: a migration waits for the Updates under
// way, which commit under the schema they checked, and an Update that
// begins while a migration runs waits for it, then refuses without
// running fn. A check that a migration could commit after, before the
// Update's own commit, would let fn write to a schema it does not know.
func TestUpdateOrderedWithMigration(t *testing.T) {
	ctx := context.Background()
	schema := newSchema(t)
	s := mustOpen(t, schema, nil)
	head := pgx.Identifier{schema, "head"}.Sanitize()
	lockHead := "LOCK TABLE " + head + " IN ACCESS EXCLUSIVE MODE" // as Store.migrate does
	watch := mustConnect(t)

	// An Update under way when the migration begins.
	started, released := make(chan struct{}), make(chan struct{})
	// Released at the latest as the test ends, before the store closes,
	// which waits for the Update's connection.
	release := sync.OnceFunc(func() { close(released) })
	t.Cleanup(release)
	updated := make(chan error, 1)
	go func() {
		updated <- s.Update(ctx, func(tx *sql.Tx) error {
			close(started)
			<-released
			_, err := tx.ExecContext(ctx, "CREATE TABLE mine (x integer)")
			return err
		})
	}()
	select {
	case <-started:
	case err := <-updated:
		t.Fatalf("Update returned %v before fn ran", err)
	}
	migration, err := mustConnect(t).Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { migration.Rollback(context.Background()) })
	locked := make(chan error, 1)
	go func() {
		_, err := migration.Exec(ctx, lockHead)
		locked <- err
	}()
	waitForLock(t, watch, "the migration", lockHead, locked)
	release()
	if err := <-updated; err != nil {
		t.Fatalf("Update under way when the migration began: %v, want it committed under the schema it checked", err)
	}
	if err := <-locked; err != nil {
		t.Fatal(err)
	}

	// An Update that begins while the migration holds the head.
	if err := postgres.RecordVersionIn(ctx, s, migration, postgres.SchemaVersion+1); err != nil {
		t.Fatal(err)
	}
	ran := make(chan struct{}, 1)
	go func() {
		updated <- s.Update(ctx, func(tx *sql.Tx) error {
			ran <- struct{}{}
			return nil
		})
	}()
	waitForLock(t, watch, "Update", "%"+head+"%", updated)
	if err := migration.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	err = <-updated
	if !errors.Is(err, chronicle.ErrSchemaUpgraded) || !strings.Contains(err.Error(), "restart") || len(ran) > 0 {
		t.Fatalf("Update begun during the migration: %v (fn ran: %v), want an error matching ErrSchemaUpgraded saying to restart, before fn", err, len(ran) > 0)
	}
}

// waitForLock waits until a session whose statement is LIKE query waits
// for a table's lock. done receives what runs that statement, which must
// not end first: it would have taken the lock at once.
func waitForLock(t *testing.T, conn *pgx.Conn, what, query string, done <-chan error) {
	t.Helper()
	for waiting := 0; waiting == 0; {
		select {
		case err := <-done:
			t.Fatalf("%s did not wait for the lock on the head table: it returned %v", what, err)
		default:
		}
		err := conn.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
			WHERE wait_event_type = 'Lock' AND wait_event = 'relation' AND query LIKE $1`, query).Scan(&waiting)
		if err != nil {
			t.Fatal(err)
		}
	}
}
