package postgres_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/postgres"
	"github.com/jackc/pgx/v5"
)

// TestDeleteBetweenCheckAndLock deletes a stream from another store while
// an append to it has been checked but has not taken the head lock: the
// append must see the delete, as it would had it come first.
func TestDeleteBetweenCheckAndLock(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		name string
		del  func(s *postgres.Store) error
		want error
	}{
		{"Tombstone", func(s *postgres.Store) error { return s.Tombstone(ctx, "s", chronicle.Any) }, chronicle.ErrStreamDeleted},
		{"Delete", func(s *postgres.Store) error { return s.Delete(ctx, "s", chronicle.Any) }, chronicle.ErrWrongExpectedRevision},
	} {
		t.Run(tt.name, func(t *testing.T) {
			schema := newSchema(t)
			a, b := mustOpen(t, schema, nil), mustOpen(t, schema, nil)
			if _, err := a.Append(ctx, "s", chronicle.NoStream, chronicle.EventData{Type: "E"}, chronicle.EventData{Type: "E"}); err != nil {
				t.Fatal(err)
			}
			checked, resume := make(chan struct{}), make(chan struct{})
			var once sync.Once
			postgres.SetTestHook(a, func(stage string) {
				if stage == "checked" {
					once.Do(func() {
						close(checked)
						<-resume
					})
				}
			})
			done := make(chan error, 1)
			go func() {
				_, err := a.Append(ctx, "s", chronicle.Exact(1), chronicle.EventData{Type: "Late"})
				done <- err
			}()
			<-checked
			if err := tt.del(b); err != nil {
				t.Fatal(err)
			}
			close(resume)
			err := <-done
			if !errors.Is(err, tt.want) {
				t.Fatalf("append checked before the %s, committed after: %v, want %v", tt.name, err, tt.want)
			}
			if postgres.Relocked(a) == 0 {
				t.Fatal("the append was not checked again under the lock")
			}
			n := 0
			for e, err := range b.ReadAll(ctx, chronicle.ReadAllOptions{}) {
				if err != nil {
					t.Fatal(err)
				}
				if e.Type == "Late" {
					t.Fatalf("the refused append wrote an event at position %d", e.Position)
				}
				n++
			}
			if n != 2 {
				t.Fatalf("the log holds %d events, want 2", n)
			}
		})
	}
}

// TestMigrateFromVersion1 opens a schema that an older build made: it must
// be brought up to date and keep its events, and the new abilities must
// work on it.
func TestMigrateFromVersion1(t *testing.T) {
	ctx := context.Background()
	schema := newSchema(t)
	createAtVersion(t, schema, 1,
		`INSERT INTO events VALUES (1, 'old', 0, '01890000-0000-7000-8000-000000000001', 'E', '\x7b7d', NULL, now())`,
		"UPDATE head SET position = 1")
	conn := mustConnect(t)

	s := mustOpen(t, schema, nil)
	res, err := s.Append(ctx, "old", chronicle.Exact(0), chronicle.EventData{Type: "E"})
	if err != nil || res.FirstRevision != 1 || res.FirstPosition != 2 {
		t.Fatalf("append to a migrated schema = %+v, %v; want revision 1 at position 2", res, err)
	}
	if err := s.SaveSnapshot(ctx, chronicle.Snapshot{Stream: "old", Revision: 1, Type: "T"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "old", chronicle.Exact(1)); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.LoadSnapshot(ctx, "old"); ok {
		t.Fatal("the deleted stream kept its snapshot")
	}
	var version int
	if err := conn.QueryRow(ctx, "SELECT version FROM "+pgx.Identifier{schema, "schema_version"}.Sanitize()).Scan(&version); err != nil || version != postgres.SchemaVersion {
		t.Fatalf("schema version = %d (%v), want %d", version, err, postgres.SchemaVersion)
	}
}

// TestScavengeInterruptedWithinAStream ends a scavenge's context between
// the two transactions of one stream: the first has removed the events
// below the stream's last, the second waits for the head lock (held by
// another session) to remove the last. What the interrupted scavenge
// reports removed must be what is gone, and the resumed one must count
// only what it removes, so that the two together count each event once.
func TestScavengeInterruptedWithinAStream(t *testing.T) {
	ctx := context.Background()
	schema := newSchema(t)
	s := mustOpen(t, schema, nil)
	if _, err := s.Append(ctx, "a", chronicle.NoStream, chronicle.EventData{Type: "E"}, chronicle.EventData{Type: "E"}, chronicle.EventData{Type: "E"}); err != nil {
		t.Fatal(err)
	}
	// Every event is hidden, the last too: the scavenge takes the head
	// lock to remove it.
	if err := s.SetStreamMetadata(ctx, "a", chronicle.StreamMetadata{TruncateBefore: 3}); err != nil {
		t.Fatal(err)
	}
	count := func() int {
		t.Helper()
		n := 0
		for _, err := range s.ReadAll(ctx, chronicle.ReadAllOptions{}) {
			if err != nil {
				t.Fatal(err)
			}
			n++
		}
		return n
	}

	conn := mustConnect(t)
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "SELECT position FROM "+pgx.Identifier{schema, "head"}.Sanitize()+" FOR UPDATE"); err != nil {
		t.Fatal(err)
	}
	stop, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	p, err := s.Scavenge(stop, nil)
	if rerr := tx.Rollback(ctx); rerr != nil {
		t.Fatal(rerr)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("scavenge waiting for the head lock past its deadline = %+v, %v; want context.DeadlineExceeded", p, err)
	}
	if n := count(); 3-n != int(p.Removed) {
		t.Fatalf("the interrupted scavenge reported %+v, but the log holds %d of the 3 events", p, n)
	}
	if p.Done != 0 {
		t.Errorf("the interrupted scavenge reported %+v: the stream it did not finish counted as done", p)
	}
	p2, err := s.Scavenge(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 0 {
		t.Fatalf("after the resumed scavenge the log holds %d events, want 0", n)
	}
	if p.Removed+p2.Removed != 3 {
		t.Fatalf("the interrupted scavenge reported %d events removed and the resumed one %d, want 3 in all", p.Removed, p2.Removed)
	}
}

// TestSoftDeleteByAnOlderProcess soft-deletes a stream as a process
// still running the code of schema version 2 did, on a schema that a
// process of version 3 had migrated since (PostgreSQL told it nothing,
// and only version 4 stops it): its delete left streams_meta.restart as
// it was. Metadata set on the stream afterwards must still keep hiding
// what the delete hid, so that the next append does not bring the
// deleted events back.
func TestSoftDeleteByAnOlderProcess(t *testing.T) {
	ctx := context.Background()
	s, head, meta, tx := twoEventsAndASession(t, testURL(t))
	// The statements of version 2's Delete, under the head lock. Its
	// update of the head row says the current version, or the trigger
	// of version 4 would refuse it, as it refuses such processes since.
	execAll(t, tx,
		"SELECT position FROM "+head+" FOR UPDATE",
		"UPDATE "+head+" SET meta_version = meta_version + 1, written_by = schema_version",
		`INSERT INTO `+meta+` (stream, truncate_before, deleted) VALUES ('s', 2, 1)
ON CONFLICT (stream) DO UPDATE SET truncate_before = excluded.truncate_before, deleted = excluded.deleted`)
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}

	if err := s.SetStreamMetadata(ctx, "s", chronicle.StreamMetadata{MaxCount: 5}); err != nil {
		t.Fatal(err)
	}
	if m, err := s.StreamMetadata(ctx, "s"); err != nil || m != (chronicle.StreamMetadata{MaxCount: 5, TruncateBefore: 2}) {
		t.Errorf("metadata set on the stream that an older process deleted: %+v, %v; want truncate-before 2, what the delete hid", m, err)
	}
	if res, err := s.Append(ctx, "s", chronicle.NoStream, chronicle.EventData{Type: "F"}); err != nil || res.FirstRevision != 2 {
		t.Fatalf("appending to the deleted stream: %+v, %v; want revision 2", res, err)
	}
	var revs []uint64
	for e, err := range s.ReadStream(ctx, "s", chronicle.ReadStreamOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		revs = append(revs, e.Revision)
	}
	if len(revs) != 1 || revs[0] != 2 {
		t.Fatalf("the stream reads revisions %v, want [2]: the deleted events came back", revs)
	}
}

// TestSetMetadataWaitsForADelete sets metadata on a stream while another
// session holds its streams_meta row, then appends to the stream and
// soft-deletes it in that session: the metadata, written once the delete
// has committed, must hide what the delete hid, events appended after
// the metadata's statement began included. It does so on sessions whose
// default isolation is REPEATABLE READ too, as a database or a role may
// set it: there, the upsert that waited for the row failed with "could
// not serialize access due to concurrent update".
func TestSetMetadataWaitsForADelete(t *testing.T) {
	for _, tt := range []struct {
		name string
		url  func(testing.TB) string
	}{
		{"DefaultIsolation", testURL},
		{"RepeatableReadDefault", repeatableReadURL},
	} {
		t.Run(tt.name, func(t *testing.T) { setMetadataWaitsForADelete(t, tt.url(t)) })
	}
}

func setMetadataWaitsForADelete(t *testing.T, url string) {
	ctx := context.Background()
	s, head, meta, tx := twoEventsAndASession(t, url)
	if err := s.SetStreamMetadata(ctx, "s", chronicle.StreamMetadata{MaxCount: 9}); err != nil {
		t.Fatal(err)
	}
	execAll(t, tx, "SELECT 1 FROM "+meta+" WHERE stream = 's' FOR UPDATE")
	done := make(chan error, 1)
	go func() { done <- s.SetStreamMetadata(ctx, "s", chronicle.StreamMetadata{MaxCount: 5}) }()
	// Wait until the metadata's statement waits for the row.
	conn := mustConnect(t)
	for waiting := 0; waiting == 0; {
		select {
		case err := <-done:
			t.Fatalf("SetStreamMetadata did not wait for the row that another session holds: %v", err)
		default:
		}
		err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%INSERT INTO '||$1||'%'`, meta).Scan(&waiting)
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Append(ctx, "s", chronicle.Exact(1), chronicle.EventData{Type: "E"}, chronicle.EventData{Type: "E"}); err != nil {
		t.Fatal(err)
	}
	// The statements of Delete, with the row already held.
	execAll(t, tx,
		"SELECT position FROM "+head+" FOR UPDATE",
		"UPDATE "+head+" SET meta_version = meta_version + 1, written_by = schema_version",
		"UPDATE "+meta+" SET truncate_before = greatest(truncate_before, 4), deleted = 1, restart = 4 WHERE stream = 's'")
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if m, err := s.StreamMetadata(ctx, "s"); err != nil || m != (chronicle.StreamMetadata{MaxCount: 5, TruncateBefore: 4}) {
		t.Errorf("metadata set while the stream was being deleted: %+v, %v; want truncate-before 4, what the delete hid", m, err)
	}
}

// twoEventsAndASession opens a store in a schema of its own, on the
// database at url, appends two events to its stream "s", and returns it
// with the names of the schema's head and streams_meta tables and a
// transaction of another session on the database, rolled back at the end
// of the test unless committed.
func twoEventsAndASession(t *testing.T, url string) (s *postgres.Store, head, meta string, tx pgx.Tx) {
	t.Helper()
	ctx := context.Background()
	schema := newSchema(t)
	s, err := postgres.Open(ctx, url, &postgres.Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.Append(ctx, "s", chronicle.NoStream, chronicle.EventData{Type: "E"}, chronicle.EventData{Type: "E"}); err != nil {
		t.Fatal(err)
	}
	tx, err = mustConnect(t).Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tx.Rollback(context.Background()) })
	return s, pgx.Identifier{schema, "head"}.Sanitize(), pgx.Identifier{schema, "streams_meta"}.Sanitize(), tx
}

// execAll runs statements in tx, in order.
func execAll(t *testing.T, tx pgx.Tx, statements ...string) {
	t.Helper()
	for _, stmt := range statements {
		if _, err := tx.Exec(context.Background(), stmt); err != nil {
			t.Fatalf("%.40s: %v", stmt, err)
		}
	}
}
