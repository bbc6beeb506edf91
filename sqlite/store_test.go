package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"iter"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/sqlite"
	"github.com/chronicle-es/chronicle/storetest"
	"github.com/google/uuid"
)

func TestConformanceRelaxed(t *testing.T) {
	storetest.Run(t, func(tb testing.TB) chronicle.Store { return mustOpen(tb, &sqlite.Options{Durability: sqlite.Relaxed}) })
}

func appendN(tb testing.TB, s chronicle.Store, stream string, n int) {
	tb.Helper()
	for i := range n {
		if _, err := s.Append(context.Background(), stream, chronicle.Any, chronicle.EventData{Type: "E", Data: []byte(strconv.Itoa(i))}); err != nil {
			tb.Fatalf("append %d to %s: %v", i, stream, err)
		}
	}
}

func TestReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	s, err := sqlite.Open(context.Background(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, s, "a", 3)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(context.Background(), "a", chronicle.Any, chronicle.EventData{Type: "E"}); !errors.Is(err, chronicle.ErrClosed) {
		t.Fatalf("Append after Close: %v, want ErrClosed", err)
	}
	// The store's own calls, beyond those of the conformance suite.
	noop := func(*sql.Tx) error { return nil }
	if err := s.Update(context.Background(), noop); !errors.Is(err, chronicle.ErrClosed) {
		t.Errorf("Update after Close: %v, want ErrClosed", err)
	}
	if err := s.View(context.Background(), noop); !errors.Is(err, chronicle.ErrClosed) {
		t.Errorf("View after Close: %v, want ErrClosed", err)
	}
	if err := s.Checkpoint(context.Background()); !errors.Is(err, chronicle.ErrClosed) {
		t.Errorf("Checkpoint after Close: %v, want ErrClosed", err)
	}
	s, err = sqlite.Open(context.Background(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	res, err := s.Append(context.Background(), "a", chronicle.Exact(2), chronicle.EventData{Type: "E"})
	if err != nil {
		t.Fatal(err)
	}
	if res.FirstRevision != 3 || res.FirstPosition != 4 {
		t.Fatalf("after reopening, append went to revision %d position %d, want 3 and 4", res.FirstRevision, res.FirstPosition)
	}
}

// TestReopenAfterScavenge: a scavenge that removed the newest events
// leaves their positions used, also for the next process to open the
// file; the file alone (the last event) would say otherwise.
func TestReopenAfterScavenge(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "events.db")
	s, err := sqlite.Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, s, "kept", 2)
	appendN(t, s, "gone", 3) // positions 3-5
	if err := s.Delete(ctx, "gone", chronicle.Any); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Scavenge(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = sqlite.Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	res, err := s.Append(ctx, "kept", chronicle.Exact(1), chronicle.EventData{Type: "E"})
	if err != nil {
		t.Fatal(err)
	}
	if res.FirstPosition != 6 {
		t.Fatalf("after a scavenge of positions 3-5 and reopening, an append went to position %d, want 6", res.FirstPosition)
	}
}

// storeAndOther opens a store in a new file, and plain connections to
// the same file, as another program would have.
func storeAndOther(t *testing.T) (*sqlite.Store, *sql.DB) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "events.db")
	s, err := sqlite.Open(context.Background(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return s, db
}

// TestDeletedElsewhere: events deleted by another program (a process
// still running older code, whose scavenge knows nothing of log_state,
// or an application's own SQL) leave their positions used all the same.
func TestDeletedElsewhere(t *testing.T) {
	ctx := context.Background()
	s, db := storeAndOther(t)
	appendN(t, s, "kept", 3)
	appendN(t, s, "gone", 2) // positions 4 and 5
	if _, err := db.Exec("DELETE FROM events WHERE stream = 'gone'"); err != nil {
		t.Fatal(err)
	}
	res, err := s.Append(ctx, "kept", chronicle.Exact(2), chronicle.EventData{Type: "E"})
	if err != nil {
		t.Fatal(err)
	}
	if res.FirstPosition != 6 {
		t.Fatalf("after another program deleted positions 4 and 5, an append went to position %d, want 6", res.FirstPosition)
	}
}

// oldFile writes a file of schema version, by the migrations up to it,
// and runs queries on it. The caller closes db before opening the store.
func oldFile(t *testing.T, version int, queries ...string) (path string, db *sql.DB) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "events.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	for v := 1; v <= version; v++ {
		script, err := os.ReadFile(fmt.Sprintf("migrations/%d.sql", v))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(string(script)); err != nil {
			t.Fatalf("migration %d: %v", v, err)
		}
	}
	for _, q := range append([]string{fmt.Sprintf("PRAGMA user_version = %d", version)}, queries...) {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	return path, db
}

// TestMigrateHead: a file of schema version 4, whose events table used
// AUTOINCREMENT to remember the highest position ever used, keeps its
// events, and that position, in version 5's table without it.
func TestMigrateHead(t *testing.T) {
	ctx := context.Background()
	path, db := oldFile(t, 4,
		// Positions 1-5, of which a scavenge then removed 4 and 5:
		// sqlite_sequence still says 5.
		`WITH RECURSIVE r(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM r WHERE n < 4)
			INSERT INTO events (stream, revision, id, type, data, metadata, recorded)
			SELECT 's' || (n / 3), n % 3, randomblob(16), 'E', '{"n":' || n || '}', CASE WHEN n = 1 THEN '{"k":"v"}' END, 1000 + n FROM r`,
		"DELETE FROM events WHERE position > 3",
		// An application's own schema on events, which the migration
		// must leave as it was.
		"CREATE VIEW app_streams AS SELECT DISTINCT stream FROM events",
		"CREATE TABLE app_audit (position INTEGER)",
		"CREATE TRIGGER app_audit AFTER INSERT ON events BEGIN INSERT INTO app_audit VALUES (new.position); END",
		"CREATE TABLE app_notes (position INTEGER REFERENCES events(position) ON DELETE CASCADE, note TEXT)",
		"INSERT INTO app_notes VALUES (1, 'first')",
	)
	var before []string
	rows, err := db.Query("SELECT position, stream, revision, hex(id), type, data, coalesce(metadata, 'null'), recorded FROM events ORDER BY position")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var p, rev, rec int64
		var stream, id, typ, data, md string
		if err := rows.Scan(&p, &stream, &rev, &id, &typ, &data, &md, &rec); err != nil {
			t.Fatal(err)
		}
		before = append(before, fmt.Sprint(p, stream, rev, strings.ToLower(id), typ, data, md, rec))
	}
	if err := rows.Err(); err != nil || len(before) != 3 {
		t.Fatalf("the version 4 file holds %d events (%v), want 3", len(before), err)
	}
	db.Close()

	s, err := sqlite.Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var after []string
	for e, err := range s.ReadAll(ctx, chronicle.ReadAllOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		md := "null"
		if e.Metadata != nil {
			md = `{"k":"v"}`
			if e.Metadata["k"] != "v" || len(e.Metadata) != 1 {
				t.Fatalf("event %d has metadata %v after the migration", e.Position, e.Metadata)
			}
		}
		id := strings.ReplaceAll(e.ID.String(), "-", "")
		after = append(after, fmt.Sprint(e.Position, e.Stream, e.Revision, id, e.Type, string(e.Data), md, e.Recorded.UnixMicro()))
	}
	if !slices.Equal(after, before) {
		t.Fatalf("after the migration the log reads\n%v\nwant\n%v", after, before)
	}
	res, err := s.Append(ctx, "s0", chronicle.Exact(2), chronicle.EventData{Type: "E"})
	if err != nil {
		t.Fatal(err)
	}
	if res.FirstPosition != 6 || res.FirstRevision != 3 {
		t.Fatalf("after the migration an append went to position %d revision %d, want 6 and 3", res.FirstPosition, res.FirstRevision)
	}
	// The guard against two events at one revision is there again.
	err = s.Update(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO events (position, stream, stream_id, revision, id, type, data, recorded)
			VALUES (100, 's0', (SELECT id FROM stream_ids WHERE name = 's0'), 0, x'00', 'E', x'7b7d', 0)`)
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "UNIQUE") {
		t.Fatalf("inserting a second event at s0's revision 0: %v, want a UNIQUE constraint failure", err)
	}
	// An event without its stream's number, which no read of the stream
	// would find, is refused.
	err = s.Update(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec("INSERT INTO events (position, stream, revision, id, type, data, recorded) VALUES (100, 's0', 9, x'00', 'E', x'7b7d', 0)")
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "NOT NULL") {
		t.Fatalf("inserting an event without stream_id: %v, want a NOT NULL constraint failure", err)
	}
	var schema string
	queryValue(t, s, "SELECT group_concat(sql, ';') FROM sqlite_master WHERE tbl_name = 'events'", &schema)
	if strings.Contains(schema, "AUTOINCREMENT") || !strings.Contains(schema, "events_id") || !strings.Contains(schema, "app_audit") {
		t.Fatalf("events after the migration: %s", schema)
	}
	if err := s.View(ctx, func(tx *sql.Tx) error {
		var streams, audited, notes int
		var check string
		err := tx.QueryRow(`SELECT (SELECT count(*) FROM app_streams), (SELECT count(*) FROM app_audit WHERE position = 6),
			(SELECT count(*) FROM app_notes), (SELECT group_concat(integrity_check) FROM pragma_integrity_check)`).Scan(&streams, &audited, &notes, &check)
		if err == nil && (streams != 1 || audited != 1 || notes != 1 || check != "ok") {
			err = fmt.Errorf("the application's view reads %d streams (want 1), its trigger saw %d appends at 6 (want 1), its notes hold %d rows (want 1); integrity check: %s",
				streams, audited, notes, check)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	wantOldHeadMarked(t, s)
}

// TestMigrateStreamNumbers: a file of schema version 5, whose index of
// streams was by name, gets its streams numbered in the order of their
// first events, and reads, lists and appends go on as before.
func TestMigrateStreamNumbers(t *testing.T) {
	ctx := context.Background()
	path, db := oldFile(t, 5,
		`INSERT INTO events (position, stream, revision, id, type, data, metadata, recorded) VALUES
			(1, 'b', 0, randomblob(16), 'E', '{}', NULL, 1), (2, 'a', 0, randomblob(16), 'E', '{}', NULL, 2),
			(3, 'b', 1, randomblob(16), 'E', '{}', NULL, 3), (4, 'c-1', 0, randomblob(16), 'E', '{}', NULL, 4),
			(5, 'a', 1, randomblob(16), 'E', '{}', NULL, 5)`,
	)
	db.Close()
	s, err := sqlite.Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var numbered string
	queryValue(t, s, "SELECT group_concat(id || name, ' ') FROM (SELECT id, name FROM stream_ids ORDER BY id)", &numbered)
	mismatched := mismatchedNumbers(t, s)
	if numbered != "1b 2a 3c-1" || mismatched != 0 {
		t.Fatalf("after the migration the streams are %q (want %q), and %d events have another stream's number", numbered, "1b 2a 3c-1", mismatched)
	}
	got, err := readStream(s, "a", chronicle.ReadStreamOptions{})
	if err != nil || len(got) != 2 || got[0].Position != 2 || got[1].Position != 5 {
		t.Fatalf("stream a after the migration: %v, %v; want positions 2 and 5", got, err)
	}
	res, err := s.Append(ctx, "a", chronicle.Exact(1), chronicle.EventData{Type: "E"})
	if err != nil || res.FirstRevision != 2 || res.FirstPosition != 6 {
		t.Fatalf("appending to a: %+v, %v; want revision 2 at position 6", res, err)
	}
	if _, err := s.Append(ctx, "b", chronicle.Exact(0), chronicle.EventData{Type: "E"}); !errors.Is(err, chronicle.ErrWrongExpectedRevision) {
		t.Fatalf("appending to b at a stale revision: %v, want ErrWrongExpectedRevision", err)
	}
	if _, err := s.Append(ctx, "c-2", chronicle.NoStream, chronicle.EventData{Type: "E"}); err != nil {
		t.Fatal(err)
	}
	list, err := s.ListStreams(ctx, chronicle.ListStreamsOptions{Category: "c"})
	if err != nil || len(list) != 2 || list[0].Stream != "c-2" || list[1].Stream != "c-1" {
		t.Fatalf("category c: %v, %v; want c-2 and c-1", list, err)
	}
	if streams, events, err := s.CountStreams(ctx); err != nil || streams != 4 || events != 7 {
		t.Fatalf("CountStreams: %d streams, %d events, %v; want 4 and 7", streams, events, err)
	}
}

// TestMigrateStreamNumbersAppSchema: migration 6 leaves the application's
// triggers on events as they were, fires none of them, and refuses, with
// the file left at version 5, an application schema that it would break.
func TestMigrateStreamNumbersAppSchema(t *testing.T) {
	const events = `INSERT INTO events (position, stream, revision, id, type, data, metadata, recorded) VALUES
		(1, 'a', 0, randomblob(16), 'E', '{}', NULL, 1), (2, 'b', 0, randomblob(16), 'E', '{}', NULL, 2)`
	t.Run("triggers", func(t *testing.T) {
		ctx := context.Background()
		path, db := oldFile(t, 5, events,
			// SQLite keeps the table's name as the trigger spelled it.
			"CREATE TRIGGER app_immutable BEFORE UPDATE ON Events BEGIN SELECT RAISE(ABORT, 'events are immutable'); END",
			"CREATE TABLE app_changes (position INTEGER)",
			"CREATE TRIGGER app_changes AFTER UPDATE ON events BEGIN INSERT INTO app_changes VALUES (new.position); END",
			// A fault of the application's own, which the migration did
			// not make and does not refuse.
			"CREATE TABLE app_parent (name TEXT)",
			"CREATE TABLE app_child (parent TEXT REFERENCES app_parent (name))")
		db.Close()
		s := mustOpenPath(t, path)
		if _, err := s.Append(ctx, "a", chronicle.Exact(0), chronicle.EventData{Type: "E"}); err != nil {
			t.Fatal(err)
		}
		var changes int
		if queryValue(t, s, "SELECT count(*) FROM app_changes", &changes); changes != 0 {
			t.Fatalf("the application's audit trigger recorded %d changes during the migration, want 0", changes)
		}
		err := s.Update(ctx, func(tx *sql.Tx) error {
			_, err := tx.Exec("UPDATE events SET type = 'F' WHERE position = 1")
			return err
		})
		if err == nil || !strings.Contains(err.Error(), "events are immutable") {
			t.Fatalf("an UPDATE of events after the migration: %v, want the application's trigger to refuse it", err)
		}
	})
	for name, tt := range map[string]struct {
		own  []string
		want string // in the error
	}{
		"a table named stream_ids": {[]string{"CREATE TABLE stream_ids (name TEXT PRIMARY KEY, title TEXT)"}, "rename it"},
		"a table named Stream_IDs": {[]string{"CREATE TABLE Stream_IDs (name TEXT PRIMARY KEY)"}, "rename it"},
		"a foreign key to (stream, revision)": {[]string{
			"CREATE TABLE app_ref (stream TEXT, revision INTEGER, FOREIGN KEY (stream, revision) REFERENCES events (stream, revision))",
			"INSERT INTO app_ref VALUES ('a', 0)",
		}, "foreign key mismatch"},
		"a trigger that copies events by SELECT *": {[]string{
			"CREATE TABLE app_archive AS SELECT * FROM events WHERE 0",
			"CREATE TRIGGER app_archive AFTER INSERT ON events BEGIN INSERT INTO app_archive SELECT * FROM events WHERE position = new.position; END",
		}, "app_archive"},
		"a trigger on deletions that copies events by SELECT *": {[]string{
			"CREATE TABLE app_deleted AS SELECT * FROM events WHERE 0",
			"CREATE TRIGGER app_deleted BEFORE DELETE ON events BEGIN INSERT INTO app_deleted SELECT * FROM events WHERE position = old.position; END",
		}, "app_deleted"},
		"a view that lists the columns of SELECT *": {[]string{
			"CREATE VIEW app_view (p, s, r, i, t, d, m, rec) AS SELECT * FROM events",
		}, "app_view"},
		// Only names that start with "sqlite_" are SQLite's own.
		"a view named SQLiteView that lists the columns of SELECT *": {[]string{
			"CREATE VIEW SQLiteView (p, s, r, i, t, d, m, rec) AS SELECT * FROM events",
		}, "SQLiteView"},
	} {
		t.Run(name, func(t *testing.T) {
			path, db := oldFile(t, 5, append([]string{events}, tt.own...)...)
			db.Close()
			s, err := sqlite.Open(context.Background(), path, nil)
			if err == nil {
				s.Close()
				t.Fatal("Open migrated the file, want an error")
			}
			// The migration is named: version 6, or the newest one for
			// the checks that run once all of them have.
			if !strings.Contains(err.Error(), "migrate to version ") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Open: %v, want an error that names the migration and says %q", err, tt.want)
			}
			db, err = sql.Open("sqlite", path)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			var version, n int
			if err := db.QueryRow("SELECT (SELECT user_version FROM pragma_user_version), (SELECT count(*) FROM events)").Scan(&version, &n); err != nil {
				t.Fatal(err)
			}
			if version != 5 || n != 2 {
				t.Fatalf("after the refused migration the file is at version %d with %d events, want 5 and 2", version, n)
			}
		})
	}
}

// TestStreamNumberAfterScavenge: a scavenge that removes a stream's last
// event removes its number, and the stream's next event gives it a new
// one, its revisions going on where they were.
func TestStreamNumberAfterScavenge(t *testing.T) {
	ctx := context.Background()
	s := mustOpen(t, nil)
	appendN(t, s, "gone", 3)
	appendN(t, s, "kept", 1)
	if err := s.Delete(ctx, "gone", chronicle.Any); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Scavenge(ctx, nil); err != nil {
		t.Fatal(err)
	}
	names := func() string {
		var got string
		queryValue(t, s, "SELECT coalesce(group_concat(name, ' '), '') FROM (SELECT name FROM stream_ids ORDER BY id)", &got)
		return got
	}
	if got := names(); got != "kept" {
		t.Fatalf("after the scavenge stream_ids holds %q, want %q", got, "kept")
	}
	res, err := s.Append(ctx, "gone", chronicle.Any, chronicle.EventData{Type: "E"})
	if err != nil || res.FirstRevision != 3 {
		t.Fatalf("appending to the scavenged stream: %+v, %v; want revision 3", res, err)
	}
	if got := names(); got != "kept gone" {
		t.Fatalf("stream_ids holds %q, want %q", got, "kept gone")
	}
	if got, err := readStream(s, "gone", chronicle.ReadStreamOptions{}); err != nil || len(got) != 1 || got[0].Revision != 3 {
		t.Fatalf("reading the stream back: %v, %v", got, err)
	}
}

// TestStreamNumberRolledBack: a batch that numbered a new stream and then
// failed leaves no number behind, in the file or in the writer.
func TestStreamNumberRolledBack(t *testing.T) {
	ctx := context.Background()
	s := mustOpen(t, nil)
	if err := s.Update(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec("CREATE TRIGGER app_refuse BEFORE INSERT ON events WHEN new.type = 'Refused' BEGIN SELECT RAISE(ABORT, 'refused'); END")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	appendN(t, s, "first", 1)
	if _, err := s.Append(ctx, "x", chronicle.NoStream, chronicle.EventData{Type: "E"}, chronicle.EventData{Type: "Refused"}); err == nil {
		t.Fatal("the application's trigger did not refuse the append")
	}
	appendN(t, s, "y", 1) // takes the number x had in the failed batch
	appendN(t, s, "x", 1)
	for _, stream := range []string{"first", "y", "x"} {
		if got, err := readStream(s, stream, chronicle.ReadStreamOptions{}); err != nil || len(got) != 1 || got[0].Stream != stream {
			t.Fatalf("%s: %v, %v; want its one event", stream, got, err)
		}
	}
}

// TestStreamNumberTwoProcesses: two stores on one file, each creating a
// stream that the other has looked at, number each stream once.
func TestStreamNumberTwoProcesses(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "events.db")
	a, b := mustOpenPath(t, path), mustOpenPath(t, path)
	// a looks at x and finds no stream: its writer remembers that.
	if _, err := a.Append(ctx, "x", chronicle.Exact(3), chronicle.EventData{Type: "E"}); !errors.Is(err, chronicle.ErrWrongExpectedRevision) {
		t.Fatal(err)
	}
	if _, err := b.Append(ctx, "x", chronicle.NoStream, chronicle.EventData{Type: "E"}); err != nil {
		t.Fatal(err)
	}
	res, err := a.Append(ctx, "x", chronicle.Exact(0), chronicle.EventData{Type: "E"})
	if err != nil || res.FirstRevision != 1 {
		t.Fatalf("a appending after b created x: %+v, %v; want revision 1", res, err)
	}
	var numbers int
	queryValue(t, a, "SELECT count(*) FROM stream_ids", &numbers)
	mismatched := mismatchedNumbers(t, a)
	if numbers != 1 || mismatched != 0 {
		t.Fatalf("stream_ids holds %d numbers (want 1), %d events have another stream's number", numbers, mismatched)
	}
}

// mismatchedNumbers counts the events of s whose stream_id is not the
// number of the stream they name.
func mismatchedNumbers(t *testing.T, s *sqlite.Store) int {
	t.Helper()
	var n int
	queryValue(t, s, "SELECT count(*) FROM events e WHERE e.stream_id IS NOT (SELECT id FROM stream_ids WHERE name = e.stream)", &n)
	return n
}

// queryValue scans the one value that query, run in a View of s, gives
// into dest.
func queryValue(t *testing.T, s *sqlite.Store, query string, dest any) {
	t.Helper()
	if err := s.View(context.Background(), func(tx *sql.Tx) error {
		return tx.QueryRow(query).Scan(dest)
	}); err != nil {
		t.Fatal(err)
	}
}

// wantOldHeadMarked fails unless a process running the code of schema
// version 4, which read its head from sqlite_sequence, would fail to
// append to s's file rather than number events from a stale head; and
// unless the store's own appends leave that mark alone, as they do only
// when no connection still treats events as AUTOINCREMENT.
func wantOldHeadMarked(t *testing.T, s *sqlite.Store) {
	t.Helper()
	if _, err := s.Append(context.Background(), "marked", chronicle.Any, chronicle.EventData{Type: "E"}); err != nil {
		t.Fatal(err)
	}
	err := s.View(context.Background(), func(tx *sql.Tx) error {
		var head uint64
		return tx.QueryRow("SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0)").Scan(&head)
	})
	if err == nil || !strings.Contains(err.Error(), "restart this process") {
		t.Fatalf("the head that older code reads: %v, want an error that says to restart", err)
	}
}

// TestUpgradedWhileOpen: a process whose file another process has
// migrated to a newer schema stops appending, and says why, instead of
// writing to a schema it does not know.
func TestUpgradedWhileOpen(t *testing.T) {
	ctx := context.Background()
	s, db := storeAndOther(t)
	appendN(t, s, "a", 2)
	if err := s.SetStreamMetadata(ctx, "a", chronicle.StreamMetadata{MaxCount: 1}); err != nil {
		t.Fatal(err)
	}
	// What a newer version's migration does last.
	if _, err := db.Exec("PRAGMA user_version = 99"); err != nil {
		t.Fatal(err)
	}
	_, err := s.Append(ctx, "a", chronicle.Exact(1), chronicle.EventData{Type: "E"})
	if !errors.Is(err, chronicle.ErrSchemaUpgraded) || !strings.Contains(err.Error(), "schema is now version 99") || !strings.Contains(err.Error(), "restart") {
		t.Fatalf("Append after another process upgraded the file: %v, want an error matching ErrSchemaUpgraded saying to restart", err)
	}
	// Update and Scavenge write on a connection of their own, not
	// through the writer: they refuse too, and run nothing.
	ran := false
	err = s.Update(ctx, func(tx *sql.Tx) error {
		ran = true
		_, err := tx.Exec("CREATE TABLE mine (x)")
		return err
	})
	if !errors.Is(err, chronicle.ErrSchemaUpgraded) || !strings.Contains(err.Error(), "restart") || ran {
		t.Fatalf("Update after another process upgraded the file: %v (fn ran: %v), want an error matching ErrSchemaUpgraded saying to restart, before fn", err, ran)
	}
	if _, err := s.Scavenge(ctx, nil); !errors.Is(err, chronicle.ErrSchemaUpgraded) || !strings.Contains(err.Error(), "restart") {
		t.Fatalf("Scavenge after another process upgraded the file: %v, want an error matching ErrSchemaUpgraded saying to restart", err)
	}
	var events int
	if err := db.QueryRow("SELECT count(*) FROM events").Scan(&events); err != nil {
		t.Fatal(err)
	}
	if events != 2 {
		t.Fatalf("the file holds %d events, want 2", events)
	}
}

// TestNewFileSchema: a new file gets the events table that a migrated one
// has: without AUTOINCREMENT (version 5), with its stream's number in
// every row (version 6).
func TestNewFileSchema(t *testing.T) {
	s := mustOpen(t, nil)
	var def string
	if err := s.View(context.Background(), func(tx *sql.Tx) error {
		return tx.QueryRow("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'events'").Scan(&def)
	}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(def, "AUTOINCREMENT") || !strings.Contains(def, "position INTEGER PRIMARY KEY,") || !strings.Contains(def, "stream_id INTEGER NOT NULL") {
		t.Fatalf("a new file's events table: %s", def)
	}
	wantOldHeadMarked(t, s)
}

func TestNewerSchemaRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	s, err := sqlite.Open(context.Background(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("PRAGMA user_version = 99"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, err = sqlite.Open(context.Background(), path, nil)
	if !errors.Is(err, chronicle.ErrSchemaUpgraded) || !strings.Contains(err.Error(), "upgrade Chronicle") {
		t.Fatalf("Open of a newer schema: %v, want an error matching ErrSchemaUpgraded saying to upgrade", err)
	}
}

// TestOpenRefusedLeavesFileAlone: Open of an SQLite file that it
// refuses, another program's database or one of a newer schema, leaves
// the file as it was: in its journal mode too, which the program that
// owns the file chose (a journal in WAL mode needs shared memory, which
// a network file system may not give).
func TestOpenRefusedLeavesFileAlone(t *testing.T) {
	for name, queries := range map[string][]string{
		"another program's events table": {"CREATE TABLE events (id INTEGER PRIMARY KEY, what TEXT)"},
		"a newer schema":                 {"CREATE TABLE events (position INTEGER PRIMARY KEY)", "PRAGMA user_version = 99"},
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "app.db")
			// A new connection each time: one reads the journal mode
			// from the file when it opens.
			mode := func(queries ...string) string {
				db, err := sql.Open("sqlite", path)
				if err != nil {
					t.Fatal(err)
				}
				defer db.Close()
				for _, q := range queries {
					if _, err := db.Exec(q); err != nil {
						t.Fatal(err)
					}
				}
				var mode string
				if err := db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil {
					t.Fatal(err)
				}
				return mode
			}
			before := mode(queries...)
			if s, err := sqlite.Open(context.Background(), path, nil); err == nil {
				s.Close()
				t.Fatal("Open succeeded, want an error")
			}
			if after := mode(); after != before {
				t.Fatalf("Open refused the file, but changed its journal mode from %s to %s", before, after)
			}
		})
	}
}

// TestOpenNotAStore: an SQLite file that no Chronicle wrote, one whose
// events table is not a store's or whose user_version is set though it
// has none, is refused saying so; not with an SQL error of a migration
// that does not apply, nor, for a user_version above Chronicle's, as a
// store that a newer Chronicle upgraded.
func TestOpenNotAStore(t *testing.T) {
	for name, queries := range map[string][]string{
		"an events table of its own":  {"CREATE TABLE events (id INTEGER PRIMARY KEY, what TEXT)"},
		"a schema version of its own": {"CREATE TABLE users (id INTEGER PRIMARY KEY)", "PRAGMA user_version = 3"},
		"a version above Chronicle's": {"CREATE TABLE users (id INTEGER PRIMARY KEY)", "PRAGMA user_version = 99"},
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "app.db")
			db, err := sql.Open("sqlite", path)
			if err != nil {
				t.Fatal(err)
			}
			for _, q := range queries {
				if _, err := db.Exec(q); err != nil {
					t.Fatal(err)
				}
			}
			db.Close()
			s, err := sqlite.Open(context.Background(), path, nil)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded, want an error")
			}
			if !strings.Contains(err.Error(), "not a Chronicle store") || errors.Is(err, chronicle.ErrSchemaUpgraded) {
				t.Fatalf("Open: %v; want an error that says the file is not a Chronicle store, and does not match ErrSchemaUpgraded", err)
			}
		})
	}
}

func TestOpenBadPath(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	notDB := []byte(strings.Repeat("this is not a database\n", 200))
	if err := os.WriteFile(file, notDB, 0o644); err != nil {
		t.Fatal(err)
	}
	// A directory cannot be created below a file.
	if _, err := sqlite.Open(context.Background(), filepath.Join(file, "sub", "events.db"), nil); err == nil {
		t.Fatal("Open below a file succeeded")
	}
	// A file that is not a database is refused, and left alone.
	if _, err := sqlite.Open(context.Background(), file, nil); err == nil {
		t.Fatal("Open of a file that is not a database succeeded")
	}
	if b, _ := os.ReadFile(file); string(b) != string(notDB) {
		t.Fatalf("Open changed a file that is not a database: %.40q...", b)
	}
}

func TestPathWithSpecialCharacters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "my events?#%20.db")
	s, err := sqlite.Open(context.Background(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	appendN(t, s, "a", 1)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the store's file is not at the path given: %v", err)
	}
}

// childEnv names the file that a re-executed test binary appends to.
const childEnv = "CHRONICLE_SQLITE_TEST_CHILD"

// TestMain lets the test binary act as a second process that writes to
// the same file.
func TestMain(m *testing.M) {
	if path := os.Getenv(childEnv); path != "" {
		os.Exit(child(path))
	}
	os.Exit(m.Run())
}

func child(path string) int {
	s, err := sqlite.Open(context.Background(), path, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer s.Close()
	for i := range 200 {
		if _, err := s.Append(context.Background(), "child", chronicle.Any, chronicle.EventData{Type: "E", Data: []byte(strconv.Itoa(i))}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	return 0
}

func TestTwoProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a second process")
	}
	path := filepath.Join(t.TempDir(), "events.db")
	s := mustOpenPath(t, path)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+path)
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	appendN(t, s, "parent", 200)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child process: %v\n%s", err, out)
	}

	// The subscriber learns of the other process's commits by polling.
	var got []chronicle.RecordedEvent
	for e, err := range s.Subscribe(ctx, chronicle.SubscribeOptions{}) {
		if err != nil {
			t.Fatalf("subscribe after %d events: %v", len(got), err)
		}
		if got = append(got, e); len(got) == 400 {
			break
		}
	}
	want := make([]uint64, 400)
	for i := range want {
		want[i] = uint64(i + 1)
	}
	pos := make([]uint64, len(got))
	revs := map[string][]uint64{}
	for i, e := range got {
		pos[i] = e.Position
		revs[e.Stream] = append(revs[e.Stream], e.Revision)
	}
	if !slices.Equal(pos, want) {
		t.Fatalf("positions are not gapless 1..400: %v", pos)
	}
	for stream, r := range revs {
		if len(r) != 200 || r[0] != 0 || r[199] != 199 {
			t.Fatalf("stream %s has revisions %v, want 0..199", stream, r)
		}
	}
}

// TestSubscriberSeesOtherProcessLive follows a second store on the same
// file, as a server follows a CLI's writes.
func TestSubscriberSeesOtherProcessLive(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	reader := mustOpenPath(t, path)
	writer := mustOpenPath(t, path)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := make(chan []uint64)
	go func() {
		var pos []uint64
		for e, err := range reader.Subscribe(ctx, chronicle.SubscribeOptions{}) {
			if err != nil {
				break
			}
			if pos = append(pos, e.Position); len(pos) == 20 {
				break
			}
		}
		done <- pos
	}()
	for i := range 20 {
		appendN(t, writer, "w", 1)
		if i%5 == 0 {
			time.Sleep(20 * time.Millisecond)
		}
	}
	pos := <-done
	if len(pos) != 20 || pos[0] != 1 || pos[19] != 20 {
		t.Fatalf("subscriber saw positions %v, want 1..20", pos)
	}
}

func mustOpenPath(tb testing.TB, path string) *sqlite.Store {
	tb.Helper()
	s, err := sqlite.Open(context.Background(), path, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// TestScavengeReclaimsSpace checks that the file shrinks once a scavenge
// has removed most of its events.
func TestScavengeReclaimsSpace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	s := mustOpenPath(t, path)
	ctx := context.Background()
	big := chronicle.EventData{Type: "Big", Data: []byte(`"` + strings.Repeat("x", 4000) + `"`)}
	for range 50 {
		batch := slices.Repeat([]chronicle.EventData{big}, 100)
		if _, err := s.Append(ctx, "doomed", chronicle.Any, batch...); err != nil {
			t.Fatal(err)
		}
	}
	appendN(t, s, "kept", 10)
	size := func() int64 {
		var total int64
		for _, suffix := range []string{"", "-wal"} {
			if fi, err := os.Stat(path + suffix); err == nil {
				total += fi.Size()
			}
		}
		return total
	}
	before := size()
	if err := s.Tombstone(ctx, "doomed", chronicle.Any); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Scavenge(ctx, nil); err != nil {
		t.Fatal(err)
	}
	after := size()
	if after > before/4 {
		t.Fatalf("after scavenging 5,000 events of 4 KB, the file and WAL hold %d bytes, down from %d: the space was not given back", after, before)
	}
	if got := len(mustReadAll(t, s)); got != 10 {
		t.Fatalf("%d events left, want 10", got)
	}
}

func mustReadAll(tb testing.TB, s chronicle.Store) []chronicle.RecordedEvent {
	tb.Helper()
	var out []chronicle.RecordedEvent
	for e, err := range s.ReadAll(context.Background(), chronicle.ReadAllOptions{}) {
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

// A file of schema version 3, where truncate_before also kept where an
// emptied stream's revisions go on, keeps those revisions after the
// migration, while metadata stops moving the revisions of other streams.
func TestMigrateNextRevision(t *testing.T) {
	ctx := context.Background()
	path, db := oldFile(t, 3,
		// "live" has revisions 0-4 and truncate-before 10.
		`WITH RECURSIVE r(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM r WHERE n < 4)
			INSERT INTO events (stream, revision, id, type, data, recorded) SELECT 'live', n, randomblob(16), 'E', x'7b7d', 0 FROM r`,
		"INSERT INTO streams_meta (stream, truncate_before) VALUES ('live', 10)",
		// A scavenge removed every event of "emptied", revisions 0-2.
		"INSERT INTO streams_meta (stream, max_age_us, truncate_before) VALUES ('emptied', 1, 3)",
	)
	db.Close()
	s, err := sqlite.Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, tt := range []struct {
		stream string
		exp    chronicle.ExpectedRevision
		want   uint64
	}{{"live", chronicle.Exact(4), 5}, {"emptied", chronicle.Exact(2), 3}} {
		res, err := s.Append(ctx, tt.stream, tt.exp, chronicle.EventData{Type: "E"})
		if err != nil || res.FirstRevision != tt.want {
			t.Errorf("after the migration, an append to %q expecting %s = %+v, %v; want revision %d", tt.stream, tt.exp, res, err, tt.want)
		}
	}
}

// TestReadsSeeEarlierAppends: stream reads that run together in one read
// transaction (see readGroup) still see every append that returned
// before they were asked for, while other appends commit meanwhile.
func TestReadsSeeEarlierAppends(t *testing.T) {
	s := mustOpen(t, &sqlite.Options{Durability: sqlite.Relaxed})
	ctx := context.Background()
	const writers, rounds = 32, 40
	errs := make(chan error, writers)
	for w := range writers {
		go func() {
			stream := fmt.Sprintf("s-%d", w)
			for r := range rounds {
				expected := chronicle.NoStream
				if r > 0 {
					expected = chronicle.Exact(uint64(r - 1))
				}
				if _, err := s.Append(ctx, stream, expected, chronicle.EventData{Type: "E"}); err != nil {
					errs <- fmt.Errorf("round %d: %w", r, err)
					return
				}
				var n int
				for _, err := range s.ReadStream(ctx, stream, chronicle.ReadStreamOptions{}) {
					if err != nil {
						errs <- err
						return
					}
					n++
				}
				if n != r+1 {
					errs <- fmt.Errorf("%s: after append %d, a read found %d events, want %d", stream, r, n, r+1)
					return
				}
			}
			errs <- nil
		}()
	}
	for range writers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// TestAppendsWithDeadlines: appends whose contexts end at random points,
// while many others queue for the writer, either happen and say so, or
// fail with their context's error and do not happen; and the writer is
// never left with no one to run it.
func TestAppendsWithDeadlines(t *testing.T) {
	s := mustOpen(t, &sqlite.Options{Durability: sqlite.Relaxed})
	const writers, each = 32, 40
	type outcome struct {
		id uuid.UUID
		ok bool
	}
	results := make(chan outcome, writers*each)
	errs := make(chan error, writers)
	for w := range writers {
		go func() {
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for range each {
				ev := chronicle.EventData{ID: uuid.Must(uuid.NewV7()), Type: "E"}
				ctx, cancel := context.WithTimeout(context.Background(), time.Duration(rng.IntN(1500))*time.Microsecond)
				_, err := s.Append(ctx, fmt.Sprintf("d-%d", w), chronicle.Any, ev)
				cancel()
				switch {
				case err == nil:
					results <- outcome{ev.ID, true}
				case errors.Is(err, context.DeadlineExceeded):
					results <- outcome{ev.ID, false}
				default:
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range writers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	close(results)
	stored := map[uuid.UUID]bool{}
	for _, e := range mustReadAll(t, s) {
		stored[e.ID] = true
	}
	var happened, refused int
	for r := range results {
		if stored[r.id] != r.ok {
			t.Errorf("append of %s returned ok=%v, but stored=%v", r.id, r.ok, stored[r.id])
		}
		if r.ok {
			happened++
		} else {
			refused++
		}
	}
	t.Logf("%d appends happened, %d ended with their deadline", happened, refused)
	if refused == 0 {
		t.Log("no deadline ended before its append: the test proved little this time")
	}
	// The writer still works.
	if _, err := s.Append(context.Background(), "d-after", chronicle.NoStream, chronicle.EventData{Type: "E"}); err != nil {
		t.Fatalf("append after the deadlines: %v", err)
	}
}

// TestCloseWhileReading: closing the store while stream reads run waits
// for them, and reads after it fail with ErrClosed; nothing crashes.
// The reads of the log (by ranges, by pages, backwards, a subscription)
// fail with ErrClosed too.
func TestCloseWhileReading(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	s := mustOpenPath(t, path)
	evs := make([]chronicle.EventData, 600)
	for i := range evs {
		evs[i] = chronicle.EventData{Type: "E", Data: []byte(`{"n":1}`)}
	}
	if _, err := s.Append(context.Background(), "long", chronicle.NoStream, evs...); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	reads := []func() iter.Seq2[chronicle.RecordedEvent, error]{
		func() iter.Seq2[chronicle.RecordedEvent, error] { return s.ReadAll(ctx, chronicle.ReadAllOptions{}) },
		func() iter.Seq2[chronicle.RecordedEvent, error] {
			return s.ReadAll(ctx, chronicle.ReadAllOptions{Filter: chronicle.Filter{Types: []string{"E"}}})
		},
		func() iter.Seq2[chronicle.RecordedEvent, error] {
			return s.ReadAll(ctx, chronicle.ReadAllOptions{Backwards: true, From: chronicle.End})
		},
		func() iter.Seq2[chronicle.RecordedEvent, error] {
			return s.Subscribe(ctx, chronicle.SubscribeOptions{})
		},
	}
	errs := make(chan error, 16)
	for i := range 16 {
		go func() {
			for {
				read := func() iter.Seq2[chronicle.RecordedEvent, error] {
					return s.ReadStream(ctx, "long", chronicle.ReadStreamOptions{})
				}
				if i < len(reads) {
					read = reads[i]
				}
				for _, err := range read() {
					if err != nil {
						if errors.Is(err, chronicle.ErrClosed) {
							errs <- nil
						} else {
							errs <- err
						}
						return
					}
				}
			}
		}()
	}
	time.Sleep(20 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for range 16 {
		if err := <-errs; err != nil {
			t.Errorf("a read that Close interrupted: %v, want ErrClosed", err)
		}
	}
}

// TestAppendDeadlineWhileLocked: an append whose context ends while the
// writer waits for SQLite's write lock, held by another connection,
// gives up with its context's error at its deadline, not at the end of
// the busy timeout, and does not happen.
func TestAppendDeadlineWhileLocked(t *testing.T) {
	s := mustOpen(t, &sqlite.Options{BusyTimeout: time.Minute})
	release := holdLock(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := s.Append(ctx, "late", chronicle.NoStream, chronicle.EventData{Type: "E"})
	took := time.Since(start)
	release()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("append while the lock was held: %v, want context.DeadlineExceeded", err)
	}
	if took > 30*time.Second {
		t.Fatalf("the append gave up after %v, at the busy timeout rather than its deadline", took)
	}
	if evs := mustReadAll(t, s); len(evs) != 0 {
		t.Fatalf("the append that gave up wrote %d events", len(evs))
	}
}

// TestAppendWaitsForTheLock: an append waits for another connection that
// holds the write lock longer than the writer's 50 ms waits, up to the
// busy timeout, and then succeeds.
func TestAppendWaitsForTheLock(t *testing.T) {
	s := mustOpen(t, nil)
	locked := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- s.Update(context.Background(), func(*sql.Tx) error {
			close(locked)
			time.Sleep(300 * time.Millisecond)
			return nil
		})
	}()
	<-locked
	if _, err := s.Append(context.Background(), "waited", chronicle.NoStream, chronicle.EventData{Type: "E"}); err != nil {
		t.Fatalf("append while another connection held the lock for 300 ms: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestAppendsNotStarvedByUpdates: appends take their turn with Update
// and Scavenge called again at once, in a loop, by the same process, and
// none fails for want of the write lock. The update connection took the
// lock again as soon as it had let it go, so that the writer, which
// looks for it between sleeps, could find it held whenever it looked, for
// the whole busy timeout. Each append is made once a call of the loop
// has returned since the last, so that it meets the loop in full swing.
func TestAppendsNotStarvedByUpdates(t *testing.T) {
	for _, tt := range []struct {
		name    string
		appends int
		call    func(ctx context.Context, s *sqlite.Store) error
	}{
		{"Update", 100, func(ctx context.Context, s *sqlite.Store) error {
			return s.Update(ctx, func(tx *sql.Tx) error {
				// A read model's transaction: some work under the lock.
				_, err := tx.ExecContext(ctx, `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200)
					INSERT INTO mine (x) SELECT i FROM n`)
				if err == nil {
					_, err = tx.ExecContext(ctx, "DELETE FROM mine")
				}
				return err
			})
		}},
		{"Scavenge", 40, func(ctx context.Context, s *sqlite.Store) error {
			_, err := s.Scavenge(ctx, nil)
			return err
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			s := mustOpen(t, &sqlite.Options{BusyTimeout: time.Second})
			if err := s.Update(ctx, func(tx *sql.Tx) error {
				_, err := tx.ExecContext(ctx, "CREATE TABLE mine (x)")
				return err
			}); err != nil {
				t.Fatal(err)
			}
			// Streams for each scavenge to go through, one transaction each.
			for i := range 5 {
				if err := s.SetStreamMetadata(ctx, fmt.Sprint("kept", i), chronicle.StreamMetadata{MaxCount: 1}); err != nil {
					t.Fatal(err)
				}
			}
			stop, cancel := context.WithCancel(ctx)
			defer cancel()
			called := make(chan struct{}, 1) // a call has returned
			looped := make(chan error, 1)
			go func() {
				defer close(looped)
				for stop.Err() == nil {
					if err := tt.call(stop, s); err != nil && stop.Err() == nil {
						looped <- err
						return
					}
					select {
					case called <- struct{}{}:
					default:
					}
				}
			}()
			for i := range tt.appends {
				select {
				case <-called: // perhaps from before the last append
				default:
				}
				select {
				case <-called:
				case err := <-looped:
					t.Fatalf("%s: %v", tt.name, err)
				}
				if _, err := s.Append(ctx, fmt.Sprint("kept", i%5), chronicle.Any, chronicle.EventData{Type: "E"}); err != nil {
					t.Errorf("append %d while %s ran in a loop: %v", i, tt.name, err)
					break
				}
			}
			cancel()
			if err := <-looped; err != nil {
				t.Errorf("%s: %v", tt.name, err)
			}
		})
	}
}

// TestCloseEndsSubscriptions: an idle subscriber ends at Close, not at
// its next look for other processes' events.
func TestCloseEndsSubscriptions(t *testing.T) {
	storetest.CloseEndsSubscriptions(t, mustOpen(t, &sqlite.Options{PollInterval: time.Hour}))
}

func TestUpdateEndedMidway(t *testing.T) { storetest.UpdateEndedMidway(t, mustOpen(t, nil)) }

// TestScavengeInterruptedCountsNoStreamDone: a scavenge whose context
// ends while it waits for the write lock to scavenge a stream has not
// scavenged it, and must not report it done, as the PostgreSQL store does
// not: Done would say that a stream whose events are all still there had
// been scavenged.
func TestScavengeInterruptedCountsNoStreamDone(t *testing.T) {
	ctx := context.Background()
	s := mustOpen(t, &sqlite.Options{BusyTimeout: time.Minute})
	if _, err := s.Append(ctx, "a", chronicle.NoStream, chronicle.EventData{Type: "E"}, chronicle.EventData{Type: "E"}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetStreamMetadata(ctx, "a", chronicle.StreamMetadata{MaxCount: 1}); err != nil {
		t.Fatal(err)
	}
	release := holdLock(t, s)
	stop, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	p, err := s.Scavenge(stop, nil)
	release()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("scavenge while the lock was held past its deadline = %+v, %v; want context.DeadlineExceeded", p, err)
	}
	if p.Done != 0 || p.Removed != 0 {
		t.Fatalf("the interrupted scavenge reported %+v; want {Done:0 Total:1 Removed:0}: the stream was not scavenged", p)
	}
}

// TestMigrateRestart: migration 7 gives a stream that version 6 left
// soft-deleted the revision its delete hid up to, so that metadata set
// on it does not bring its events back.
func TestMigrateRestart(t *testing.T) {
	ctx := context.Background()
	path, db := oldFile(t, 6,
		"INSERT INTO stream_ids (id, name) VALUES (1, 's')",
		`INSERT INTO events (position, stream, stream_id, revision, id, type, data, metadata, recorded) VALUES
			(1, 's', 1, 0, randomblob(16), 'E', '{}', NULL, 1), (2, 's', 1, 1, randomblob(16), 'E', '{}', NULL, 2)`,
		"INSERT INTO streams_meta (stream, truncate_before, deleted) VALUES ('s', 2, 1)",
	)
	db.Close()
	s := mustOpenPath(t, path)
	if err := s.SetStreamMetadata(ctx, "s", chronicle.StreamMetadata{MaxCount: 5}); err != nil {
		t.Fatal(err)
	}
	if m, err := s.StreamMetadata(ctx, "s"); err != nil || m != (chronicle.StreamMetadata{MaxCount: 5, TruncateBefore: 2}) {
		t.Fatalf("metadata set on a stream deleted before the migration: %+v, %v; want truncate-before 2, what the delete hid", m, err)
	}
	res, err := s.Append(ctx, "s", chronicle.NoStream, chronicle.EventData{Type: "F"})
	if err != nil || res.FirstRevision != 2 {
		t.Fatalf("appending to the deleted stream: %+v, %v; want revision 2", res, err)
	}
	got, err := readStream(s, "s", chronicle.ReadStreamOptions{})
	if err != nil || len(got) != 1 || got[0].Revision != 2 {
		t.Fatalf("the stream reads %v, %v; want revision 2 alone", got, err)
	}
}

// TestCloseWaitsForUpdate: Close waits for an Update under way, as it
// waits for appends, so that nothing is written to the file after it has
// returned; the Update commits, and a later Update fails with ErrClosed.
func TestCloseWaitsForUpdate(t *testing.T) {
	ctx := context.Background()
	s := mustOpen(t, nil)
	if err := s.Update(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "CREATE TABLE t (n INTEGER)")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	inside := make(chan struct{})
	var returned atomic.Bool
	updated := make(chan error, 1)
	go func() {
		err := s.Update(ctx, func(tx *sql.Tx) error {
			close(inside)
			time.Sleep(200 * time.Millisecond)
			_, err := tx.ExecContext(ctx, "INSERT INTO t VALUES (1)")
			return err
		})
		returned.Store(true)
		updated <- err
	}()
	<-inside
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if !returned.Load() {
		t.Error("Close returned while an Update was still writing to the file")
	}
	if err := <-updated; err != nil {
		t.Errorf("the Update under way at Close = %v, want it committed", err)
	}
	if err := s.Update(ctx, func(*sql.Tx) error { return nil }); !errors.Is(err, chronicle.ErrClosed) {
		t.Errorf("an Update after Close = %v, want ErrClosed", err)
	}
	s2 := mustOpenPath(t, s.Path())
	var n int
	if err := s2.View(ctx, func(tx *sql.Tx) error { return tx.QueryRowContext(ctx, "SELECT count(*) FROM t").Scan(&n) }); err != nil || n != 1 {
		t.Errorf("after Close the table holds %d rows, %v; want the Update's one", n, err)
	}
}
