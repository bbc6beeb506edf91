package postgres_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"iter"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/postgres"
	"github.com/chronicle-es/chronicle/storetest"
	"github.com/jackc/pgx/v5"
)

func appendN(tb testing.TB, s chronicle.Store, stream string, n int) {
	tb.Helper()
	for i := range n {
		if _, err := s.Append(context.Background(), stream, chronicle.Any, chronicle.EventData{Type: "E", Data: fmt.Appendf(nil, "%d", i)}); err != nil {
			tb.Fatalf("append %d to %s: %v", i, stream, err)
		}
	}
}

// mustConnect opens a plain connection, closed when the test ends.
func mustConnect(tb testing.TB) *pgx.Conn {
	tb.Helper()
	conn, err := pgx.Connect(context.Background(), testURL(tb))
	if err != nil {
		tb.Fatalf("connect: %v", err)
	}
	tb.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func TestOpenUnreachable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Port 1 on the loopback interface refuses at once.
	_, err := postgres.Open(ctx, "postgres://nobody:secret@127.0.0.1:1/none?sslmode=disable&connect_timeout=5", nil)
	if err == nil {
		t.Fatal("Open of an unreachable server succeeded")
	}
	if strings.Contains(err.Error(), "secret") {
		t.Fatalf("Open's error shows the password: %v", err)
	}
	_, err = postgres.Open(ctx, "postgres://nobody:secret@[bad", nil)
	if err == nil || strings.Contains(err.Error(), "secret") {
		t.Fatalf("Open of a malformed URL: %v, want an error without the password", err)
	}
	_, err = postgres.Open(ctx, "postgres://127.0.0.1:1/x", &postgres.Options{Schema: strings.Repeat("s", 64)})
	if err == nil || !strings.Contains(err.Error(), "63") {
		t.Fatalf("Open with a 64-byte schema name: %v, want an error about the 63-byte limit", err)
	}
}

// TestSchemaNameUser: "$user" is a name PostgreSQL accepts for a schema,
// but in a search path, quoted or not, it stands for the schema named
// after the current role, which is where the migration and Update would
// create the store's tables. Open refuses it, saying why, rather than
// fail in the migration with an error about some other schema.
func TestSchemaNameUser(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	t.Cleanup(func() { dropSchema(t, testURL(t), "$user") })
	s, err := postgres.Open(ctx, testURL(t), &postgres.Options{Schema: "$user"})
	if err == nil {
		s.Close()
		t.Fatal(`Open with the schema "$user" succeeded`)
	}
	if !strings.Contains(err.Error(), "search path") {
		t.Fatalf(`Open with the schema "$user": %v, want an error that says the search path takes it for the role's schema`, err)
	}
}

func TestReopen(t *testing.T) {
	schema := newSchema(t)
	s := mustOpen(t, schema, nil)
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
	s = mustOpen(t, schema, nil)
	res, err := s.Append(context.Background(), "a", chronicle.Exact(2), chronicle.EventData{Type: "E"})
	if err != nil {
		t.Fatal(err)
	}
	if res.FirstRevision != 3 || res.FirstPosition != 4 {
		t.Fatalf("after reopening, append went to revision %d position %d, want 3 and 4", res.FirstRevision, res.FirstPosition)
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	schema := newSchema(t)
	mustOpen(t, schema, nil).Close()
	conn := mustConnect(t)
	if _, err := conn.Exec(context.Background(), "UPDATE "+pgx.Identifier{schema, "schema_version"}.Sanitize()+" SET version = 99"); err != nil {
		t.Fatal(err)
	}
	_, err := postgres.Open(context.Background(), testURL(t), &postgres.Options{Schema: schema})
	if err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("Open of a newer schema: %v, want an error saying it is newer", err)
	}
}

// TestSchemaNameQuoted uses a schema name that only works quoted, beside
// a schema whose name differs only in case: they must stay apart.
func TestSchemaNameQuoted(t *testing.T) {
	base := newSchema(t)
	odd := `Odd "name"; DROP TABLE x -- ` + base[len(base)-6:]
	t.Cleanup(func() { dropSchema(t, testURL(t), odd) })
	upper := strings.ToUpper(base)
	t.Cleanup(func() { dropSchema(t, testURL(t), upper) })

	a, b := mustOpen(t, odd, nil), mustOpen(t, upper, nil)
	lower := mustOpen(t, base, nil)
	appendN(t, a, "s", 2)
	appendN(t, b, "s", 1)
	for _, tt := range []struct {
		s    *postgres.Store
		want int
	}{{a, 2}, {b, 1}, {lower, 0}} {
		var n int
		for _, err := range tt.s.ReadAll(context.Background(), chronicle.ReadAllOptions{}) {
			if err != nil {
				t.Fatal(err)
			}
			n++
		}
		if n != tt.want {
			t.Fatalf("schema %q holds %d events, want %d", tt.s.Schema(), n, tt.want)
		}
	}
	var found bool
	err := mustConnect(t).QueryRow(context.Background(), "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", odd).Scan(&found)
	if err != nil || !found {
		t.Fatalf("schema %q not found under its exact name: %v", odd, err)
	}
}

// TestConcurrentOpen opens a new schema from several stores at once: the
// migration must run once, and every store must work.
func TestConcurrentOpen(t *testing.T) {
	schema := newSchema(t)
	const n = 6
	stores := make([]*postgres.Store, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			stores[i], errs[i] = postgres.Open(context.Background(), testURL(t), &postgres.Options{Schema: schema})
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Open %d: %v", i, err)
		}
		t.Cleanup(func() { stores[i].Close() })
	}
	var rows, version int
	err := mustConnect(t).QueryRow(context.Background(), "SELECT count(*), max(version) FROM "+pgx.Identifier{schema, "schema_version"}.Sanitize()).Scan(&rows, &version)
	if err != nil || rows != 1 || version != postgres.SchemaVersion {
		t.Fatalf("schema_version holds %d rows, version %d (%v); want one row, version %d", rows, version, err, postgres.SchemaVersion)
	}
	for i, s := range stores {
		if _, err := s.Append(context.Background(), "s", chronicle.Any, chronicle.EventData{Type: "E"}); err != nil {
			t.Fatalf("store %d: Append: %v", i, err)
		}
	}
	var pos []uint64
	for e, err := range stores[0].ReadAll(context.Background(), chronicle.ReadAllOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		pos = append(pos, e.Position)
	}
	if !slices.Equal(pos, []uint64{1, 2, 3, 4, 5, 6}) {
		t.Fatalf("positions = %v, want 1..6", pos)
	}
}

// TestConflictsAcrossStores races writers of two stores on one stream,
// with the check stretched so that the other store often commits between
// a writer's check and its lock: exactly one writer wins each round, and
// the others learn the stream's real revision, as on every store.
func TestConflictsAcrossStores(t *testing.T) {
	schema := newSchema(t)
	a, b := mustOpen(t, schema, nil), mustOpen(t, schema, nil)
	for _, s := range []*postgres.Store{a, b} {
		postgres.SetTestHook(s, func(stage string) {
			if stage == "checked" {
				time.Sleep(2 * time.Millisecond)
			}
		})
	}
	const writers, rounds = 8, 25
	for round := range rounds {
		exp := chronicle.NoStream
		if round > 0 {
			exp = chronicle.Exact(uint64(round - 1))
		}
		var wg sync.WaitGroup
		start := make(chan struct{})
		errs := make([]error, writers)
		for w := range writers {
			s := a
			if w%2 == 1 {
				s = b
			}
			wg.Go(func() {
				<-start
				_, errs[w] = s.Append(context.Background(), "race", exp, chronicle.EventData{Type: fmt.Sprintf("W%d", w)})
			})
		}
		close(start)
		wg.Wait()
		wins := 0
		for w, err := range errs {
			var wrong *chronicle.WrongExpectedRevisionError
			switch {
			case err == nil:
				wins++
			case errors.As(err, &wrong):
				if wrong.Actual != chronicle.Exact(uint64(round)) || wrong.Expected != exp || wrong.Stream != "race" {
					t.Fatalf("round %d writer %d: %v, want actual revision %d", round, w, err, round)
				}
			default:
				t.Fatalf("round %d writer %d: %v", round, w, err)
			}
		}
		if wins != 1 {
			t.Fatalf("round %d: %d writers won, want exactly 1", round, wins)
		}
	}
	var revs []uint64
	for e, err := range a.ReadStream(context.Background(), "race", chronicle.ReadStreamOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		revs = append(revs, e.Revision)
	}
	if len(revs) != rounds || revs[rounds-1] != rounds-1 {
		t.Fatalf("revisions = %v, want 0..%d", revs, rounds-1)
	}
	t.Logf("batches checked again under the lock: %d + %d", postgres.Relocked(a), postgres.Relocked(b))
	if postgres.Relocked(a)+postgres.Relocked(b) == 0 {
		t.Fatal("no batch went stale between check and lock: the test did not exercise the guard")
	}
}

// TestListenerReconnects kills the LISTEN connection: the store must
// reconnect and keep waking its subscribers, without relying on polling.
func TestListenerReconnects(t *testing.T) {
	schema := newSchema(t)
	reader := mustOpen(t, schema, &postgres.Options{PollInterval: time.Hour})
	writer := mustOpen(t, schema, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got := make(chan uint64, 10)
	go func() {
		for e, err := range reader.Subscribe(ctx, chronicle.SubscribeOptions{}) {
			if err != nil {
				return
			}
			got <- e.Position
		}
	}()
	appendN(t, writer, "w", 1)
	want := func(pos uint64) {
		t.Helper()
		select {
		case p := <-got:
			if p != pos {
				t.Fatalf("subscriber got position %d, want %d", p, pos)
			}
		case <-ctx.Done():
			t.Fatalf("subscriber did not get position %d", pos)
		}
	}
	want(1)
	var killed int
	err := mustConnect(t).QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE query = $1`,
		"LISTEN "+pgx.Identifier{"chronicle:" + schema}.Sanitize()).Scan(&killed)
	if err != nil || killed != 2 {
		t.Fatalf("terminated %d LISTEN connections (%v), want 2", killed, err)
	}
	time.Sleep(100 * time.Millisecond)
	appendN(t, writer, "w", 1)
	want(2)
}

// TestKnownStateGoesStale: a store that wrote a stream last appends to it
// without reading its state first. When another process has appended to
// the stream or deleted it since, the append must still be checked
// against what the database holds.
func TestKnownStateGoesStale(t *testing.T) {
	ctx := context.Background()
	schema := newSchema(t)
	a, b := mustOpen(t, schema, nil), mustOpen(t, schema, nil)
	ev := chronicle.EventData{Type: "E"}

	// a writes twice in a row: the second append uses the known state.
	mustAppend := func(s *postgres.Store, stream string, exp chronicle.ExpectedRevision) chronicle.AppendResult {
		t.Helper()
		res, err := s.Append(ctx, stream, exp, ev)
		if err != nil {
			t.Fatalf("Append(%q, %v): %v", stream, exp, err)
		}
		return res
	}
	mustAppend(a, "x", chronicle.NoStream)
	fast := postgres.Fast(a)
	mustAppend(a, "x", chronicle.Exact(0))
	if postgres.Fast(a) != fast+1 {
		t.Fatalf("the second append to x read its state: %d fast batches, want %d", postgres.Fast(a), fast+1)
	}

	// b appends to x: a's known state is stale, and its append expecting
	// it is refused with the actual revision.
	mustAppend(b, "x", chronicle.Exact(1))
	relocked := postgres.Relocked(a)
	_, err := a.Append(ctx, "x", chronicle.Exact(1), ev)
	var wrong *chronicle.WrongExpectedRevisionError
	if !errors.As(err, &wrong) || wrong.Actual != chronicle.Exact(2) {
		t.Fatalf("append on a stale state: %v, want a wrong expected revision, actual 2", err)
	}
	if postgres.Relocked(a) != relocked+1 {
		t.Fatal("the stale append was not checked again under the lock")
	}
	if res := mustAppend(a, "x", chronicle.Exact(2)); res.FirstRevision != 3 {
		t.Fatalf("append after the refusal went to revision %d, want 3", res.FirstRevision)
	}

	// b soft-deletes y, which a knows: a's append expecting its last
	// revision finds it deleted, and y stays deleted.
	mustAppend(a, "y", chronicle.NoStream)
	mustAppend(a, "y", chronicle.Exact(0))
	if err := b.Delete(ctx, "y", chronicle.Exact(1)); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Append(ctx, "y", chronicle.Exact(1), ev); !errors.Is(err, chronicle.ErrWrongExpectedRevision) {
		t.Fatalf("append to a stream deleted since: %v, want a wrong expected revision", err)
	}
	var readErr error
	for _, err := range a.ReadStream(ctx, "y", chronicle.ReadStreamOptions{}) {
		readErr = err
		break
	}
	if !errors.Is(readErr, chronicle.ErrStreamNotFound) {
		t.Fatalf("reading y after its delete: %v, want not found", readErr)
	}
	// Appending again goes on after the old revisions, as after any
	// soft delete.
	if res := mustAppend(a, "y", chronicle.NoStream); res.FirstRevision != 2 {
		t.Fatalf("append after the delete went to revision %d, want 2", res.FirstRevision)
	}

	// b tombstones x: a's append with the known state is refused.
	if err := b.Tombstone(ctx, "x", chronicle.Any); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Append(ctx, "x", chronicle.Exact(3), ev); !errors.Is(err, chronicle.ErrStreamDeleted) {
		t.Fatalf("append to a stream tombstoned since: %v, want stream deleted", err)
	}
}

// TestStaleAppendAfterScavengeOfTail: a remembers stream s at revision
// 0; b appends revision 1, then retention and a scavenge remove both
// events. An append that expects revision 0 must be refused, from a's
// remembered state as from a read, not written at revision 1 again: the
// unique constraint no longer holds a row there to refuse it.
func TestStaleAppendAfterScavengeOfTail(t *testing.T) {
	for name, meta := range map[string]chronicle.StreamMetadata{
		"TruncateBefore": {TruncateBefore: 10},
		"MaxAge":         {MaxAge: time.Millisecond},
	} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			schema := newSchema(t)
			a, b := mustOpen(t, schema, nil), mustOpen(t, schema, nil)
			ev := chronicle.EventData{Type: "E"}
			if _, err := a.Append(ctx, "s", chronicle.NoStream, ev); err != nil {
				t.Fatal(err)
			}
			if _, err := b.Append(ctx, "s", chronicle.Exact(0), ev); err != nil {
				t.Fatal(err)
			}
			if err := b.SetStreamMetadata(ctx, "s", meta); err != nil {
				t.Fatal(err)
			}
			time.Sleep(10 * time.Millisecond) // past MaxAge
			if p, err := b.Scavenge(ctx, nil); err != nil || p.Removed != 2 {
				t.Fatalf("scavenge: %+v, %v; want 2 events removed", p, err)
			}
			for _, s := range []*postgres.Store{a, b} {
				res, err := s.Append(ctx, "s", chronicle.Exact(0), ev)
				var wrong *chronicle.WrongExpectedRevisionError
				if !errors.As(err, &wrong) || wrong.Actual != chronicle.Exact(1) {
					t.Fatalf("append expecting revision 0 of a stream at revision 1: %+v, %v", res, err)
				}
			}
			if res, err := a.Append(ctx, "s", chronicle.Exact(1), ev); err != nil || res.FirstRevision != 2 {
				t.Fatalf("append expecting revision 1: %+v, %v; want revision 2", res, err)
			}
		})
	}
}

// TestSchemaNameLongNonASCII: a schema name that PostgreSQL accepts, 54
// bytes of which 48 are two-byte runes, takes appends: the channel of
// its notifications, which keeps a part of the name, must fit in
// PostgreSQL's 63 bytes.
func TestSchemaNameLongNonASCII(t *testing.T) {
	base := newSchema(t)
	name := strings.Repeat("é", 24) + base[len(base)-6:]
	t.Cleanup(func() { dropSchema(t, testURL(t), name) })
	appendN(t, mustOpen(t, name, nil), "s", 1)
}

// TestSchemaNameWithPercentS: the statements are templates whose "%s"
// takes a condition; a "%s" in the schema's name, which the templates
// hold already, must not take it instead.
func TestSchemaNameWithPercentS(t *testing.T) {
	ctx := context.Background()
	base := newSchema(t)
	name := "pct%s_" + base[len(base)-6:]
	t.Cleanup(func() { dropSchema(t, testURL(t), name) })
	s := mustOpen(t, name, nil)
	appendN(t, s, "s", 2)
	reads := map[string]iter.Seq2[chronicle.RecordedEvent, error]{
		"ReadStream":        s.ReadStream(ctx, "s", chronicle.ReadStreamOptions{}),
		"ReadAll":           s.ReadAll(ctx, chronicle.ReadAllOptions{}),
		"ReadAll backwards": s.ReadAll(ctx, chronicle.ReadAllOptions{Backwards: true, From: chronicle.End}),
		"ReadAll filtered":  s.ReadAll(ctx, chronicle.ReadAllOptions{Filter: chronicle.Filter{StreamPrefix: "s"}}),
	}
	for name, read := range reads {
		n := 0
		for _, err := range read {
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			n++
		}
		if n != 2 {
			t.Errorf("%s: %d events, want 2", name, n)
		}
	}
}

// TestCloseEndsSubscriptions: an idle subscriber ends at Close, not at
// its next poll.
func TestCloseEndsSubscriptions(t *testing.T) {
	storetest.CloseEndsSubscriptions(t, mustOpen(t, newSchema(t), &postgres.Options{PollInterval: time.Hour}))
}

// TestSnapshotVersionOutOfRange: the snapshots' version column holds 32
// bits; a version beyond them is refused rather than kept as another.
func TestSnapshotVersionOutOfRange(t *testing.T) {
	s := mustOpenNew(t)
	ctx := context.Background()
	appendN(t, s, "s", 1)
	for _, v := range []int{math.MaxInt32 + 1, math.MinInt32 - 1} {
		if err := s.SaveSnapshot(ctx, chronicle.Snapshot{Stream: "s", Type: "T", Version: v}); err == nil {
			t.Errorf("SaveSnapshot with version %d: no error", v)
		}
	}
	if _, ok, err := s.LoadSnapshot(ctx, "s"); err != nil || ok {
		t.Fatalf("LoadSnapshot after refused saves: found %v, %v", ok, err)
	}
	if err := s.SaveSnapshot(ctx, chronicle.Snapshot{Stream: "s", Type: "T", Version: math.MaxInt32}); err != nil {
		t.Fatal(err)
	}
	if snap, ok, err := s.LoadSnapshot(ctx, "s"); err != nil || !ok || snap.Version != math.MaxInt32 {
		t.Fatalf("LoadSnapshot = %+v, %v, %v; want version %d", snap, ok, err, math.MaxInt32)
	}
}
