package projection_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/memory"
	"github.com/chronicle-es/chronicle/projection"
	"github.com/chronicle-es/chronicle/sqlite"
)

func openSQLite(tb testing.TB) *sqlite.Store {
	tb.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(tb.TempDir(), "events.db"), nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// counts is a read model in SQL: how many events each stream has. Its
// updates are increments, so an event applied twice shows.
func counts(name string, filter chronicle.Filter) projection.Projection {
	table := name
	return projection.Projection{
		Name:   name,
		Filter: filter,
		Setup: func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS "+table+" (stream TEXT PRIMARY KEY, n INTEGER NOT NULL)")
			return err
		},
		Apply: func(ctx context.Context, tx *sql.Tx, e chronicle.RecordedEvent) error {
			_, err := tx.ExecContext(ctx, "INSERT INTO "+table+" (stream, n) VALUES (?, 1) ON CONFLICT (stream) DO UPDATE SET n = n + 1", e.Stream)
			return err
		},
		Reset: func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, "DELETE FROM "+table)
			return err
		},
	}
}

func readCounts(tb testing.TB, s *sqlite.Store, table string) map[string]int {
	tb.Helper()
	out, err := tryCounts(s, table)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// tryCounts reads the counts table; it fails while the runner has not yet
// created it.
func tryCounts(s *sqlite.Store, table string) (map[string]int, error) {
	out := map[string]int{}
	err := s.View(context.Background(), func(tx *sql.Tx) error {
		rows, err := tx.Query("SELECT stream, n FROM " + table)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var stream string
			var n int
			if err := rows.Scan(&stream, &n); err != nil {
				return err
			}
			out[stream] = n
		}
		return rows.Err()
	})
	return out, err
}

// fill appends n events spread over streams "cat-0".."cat-(streams-1)",
// and returns how many each got.
func fill(tb testing.TB, s chronicle.Store, category string, streams, n int) map[string]int {
	tb.Helper()
	want := map[string]int{}
	for i := 0; i < n; {
		stream := fmt.Sprintf("%s-%d", category, i%streams)
		batch := min(1+i%7, n-i)
		evs := make([]chronicle.EventData, batch)
		for j := range evs {
			evs[j] = chronicle.EventData{Type: "Happened", Data: []byte("{}")}
		}
		if _, err := s.Append(context.Background(), stream, chronicle.Any, evs...); err != nil {
			tb.Fatal(err)
		}
		want[stream] += batch
		i += batch
	}
	return want
}

func mustRunner(tb testing.TB, s chronicle.Store, opts *projection.Options, ps ...projection.Projection) *projection.Runner {
	tb.Helper()
	r, err := projection.NewRunner(s, opts, ps...)
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

func TestCatchUpAndStatus(t *testing.T) {
	s := openSQLite(t)
	want := fill(t, s, "a", 10, 1000)
	fill(t, s, "b", 3, 50)
	r := mustRunner(t, s, &projection.Options{BatchSize: 64}, counts("a_counts", chronicle.Filter{Categories: []string{"a"}}))
	if err := r.CatchUp(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := readCounts(t, s, "a_counts"); !maps.Equal(got, want) {
		t.Fatalf("read model = %v, want %v", got, want)
	}
	st, err := r.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != 1 || st[0].Checkpoint != 1050 || st[0].Head != 1050 || st[0].Lag != 0 || st[0].State != projection.Idle {
		t.Fatalf("status = %+v, want checkpoint and head 1050, lag 0, idle", st)
	}
	// A second catch-up has nothing to do and changes nothing.
	if err := r.CatchUp(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := readCounts(t, s, "a_counts"); !maps.Equal(got, want) {
		t.Fatalf("after a second catch-up, read model = %v, want %v", got, want)
	}
	fill(t, s, "b", 3, 10)
	st, _ = r.Status(context.Background())
	if st[0].Lag != 10 {
		t.Fatalf("lag after 10 more events = %d, want 10", st[0].Lag)
	}
}

func TestRunLive(t *testing.T) {
	s := openSQLite(t)
	r := mustRunner(t, s, nil, counts("all_counts", chronicle.Filter{}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- r.Run(ctx) }()
	want := fill(t, s, "live", 5, 300)
	deadline := time.Now().Add(30 * time.Second)
	for {
		// Run creates the table in its own goroutine, so it may not exist yet.
		got, err := tryCounts(s, "all_counts")
		if err == nil && maps.Equal(got, want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("read model = %v (%v), want %v", got, err, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run after cancel = %v, want nil", err)
	}
}

func TestRebuildEqualsIncremental(t *testing.T) {
	s := openSQLite(t)
	r := mustRunner(t, s, &projection.Options{BatchSize: 16}, counts("c", chronicle.Filter{}))
	fill(t, s, "x", 7, 200)
	if err := r.CatchUp(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := fill(t, s, "x", 7, 300) // the stream counts of the later fill alone
	if err := r.CatchUp(context.Background()); err != nil {
		t.Fatal(err)
	}
	incremental := readCounts(t, s, "c")
	var seen []projection.Progress
	if err := r.Rebuild(context.Background(), "c", func(p projection.Progress) { seen = append(seen, p) }); err != nil {
		t.Fatal(err)
	}
	rebuilt := readCounts(t, s, "c")
	if !maps.Equal(rebuilt, incremental) {
		t.Fatalf("rebuilt = %v, incremental = %v", rebuilt, incremental)
	}
	for stream, n := range want {
		if rebuilt[stream] < n {
			t.Fatalf("stream %s counted %d, want at least %d", stream, rebuilt[stream], n)
		}
	}
	if len(seen) < 2 || seen[0].Done != 0 || seen[len(seen)-1].Done != 500 || seen[len(seen)-1].Total != 500 {
		t.Fatalf("progress = %+v, want from 0 to 500 of 500", seen)
	}
	if err := r.Rebuild(context.Background(), "nope", nil); err == nil {
		t.Fatal("Rebuild of an unknown projection succeeded")
	}
}

func TestFailingEventStopsOnlyItsProjection(t *testing.T) {
	s := openSQLite(t)
	fill(t, s, "f", 4, 100)
	poison := errors.New("poison")
	// The tries of the failing event and the runner's retry lines, in the
	// order they happened.
	var tl timeline
	bad := failingAt(counts("bad", chronicle.Filter{}), 42, &tl, poison)
	logger := slog.New(slog.NewTextHandler(&tl, &slog.HandlerOptions{Level: slog.LevelWarn}))
	r := mustRunner(t, s, &projection.Options{BatchSize: 10, Retries: 2, Backoff: time.Millisecond, Logger: logger},
		bad, counts("good", chronicle.Filter{}))
	err := r.CatchUp(context.Background())
	var perr *projection.Error
	if !errors.As(err, &perr) || !errors.Is(err, poison) {
		t.Fatalf("CatchUp = %v, want a *projection.Error wrapping poison", err)
	}
	if perr.Projection != "bad" || perr.Event.Position != 42 {
		t.Fatalf("error names %q at position %d, want bad at 42", perr.Projection, perr.Event.Position)
	}
	if !strings.Contains(err.Error(), "position 42") {
		t.Fatalf("message %q does not name the position", err)
	}
	// Tried in its batch when the batch held other events too (how the
	// reader's events fall into batches depends on timing), then alone:
	// once, and once after each of the 2 retries, and then it stops.
	got := strings.Join(tl.lines(), " ")
	if got != "try try retry try retry try stopped" && got != "try retry try retry try stopped" {
		t.Fatalf("tries and log lines = %q, want [try] try retry try retry try stopped", got)
	}
	st, _ := r.Status(context.Background())
	for _, x := range st {
		switch x.Name {
		case "bad":
			if x.Checkpoint != 41 || x.State != projection.Stopped || x.Err == nil {
				t.Fatalf("bad: %+v, want stopped at checkpoint 41", x)
			}
		case "good":
			if x.Checkpoint != 100 {
				t.Fatalf("good: checkpoint %d, want 100", x.Checkpoint)
			}
		}
	}
	total := 0
	for _, n := range readCounts(t, s, "bad") {
		total += n
	}
	if total != 41 {
		t.Fatalf("bad read model counted %d events, want the 41 before the failing one", total)
	}
}

// TestPanicStopsOnlyItsProjection: an Apply or a Handle that panics on an
// event stops its projection at that event, as an error that no retry
// can mend does, and the other projections, and the process, go on.
func TestPanicStopsOnlyItsProjection(t *testing.T) {
	s := openSQLite(t)
	want := fill(t, s, "f", 4, 20)
	var nilMap map[string]int
	panicky := counts("panicky", chronicle.Filter{})
	apply := panicky.Apply
	panicky.Apply = func(ctx context.Context, tx *sql.Tx, e chronicle.RecordedEvent) error {
		if e.Position == 7 {
			nilMap[e.Stream]++
		}
		return apply(ctx, tx, e)
	}
	handled := 0
	panickyHandle := projection.Projection{Name: "panicky_handle", Handle: func(_ context.Context, e chronicle.RecordedEvent) error {
		if e.Position == 9 {
			panic("unexpected event")
		}
		handled++
		return nil
	}}
	r := mustRunner(t, s, &projection.Options{BatchSize: 4, Backoff: time.Millisecond},
		panicky, panickyHandle, counts("good", chronicle.Filter{}))
	err := r.CatchUp(context.Background())
	if !errors.Is(err, projection.ErrPermanent) || !strings.Contains(err.Error(), "assignment to entry in nil map") ||
		!strings.Contains(err.Error(), "unexpected event") {
		t.Fatalf("CatchUp = %v, want the permanent errors of both panics", err)
	}
	st, serr := r.Status(context.Background())
	if serr != nil {
		t.Fatal(serr)
	}
	for i, want := range []struct {
		checkpoint uint64
		state      projection.State
	}{{6, projection.Stopped}, {8, projection.Stopped}, {20, projection.Idle}} {
		if st[i].Checkpoint != want.checkpoint || st[i].State != want.state {
			t.Errorf("%s: %+v, want %s at checkpoint %d", st[i].Name, st[i], want.state, want.checkpoint)
		}
	}
	var perr *projection.Error
	if !errors.As(st[0].Err, &perr) || perr.Event.Position != 7 {
		t.Errorf("panicky's error = %v, want a *projection.Error at position 7", st[0].Err)
	}
	if got := readCounts(t, s, "good"); !maps.Equal(got, want) {
		t.Errorf("good = %v, want %v", got, want)
	}
	if handled != 8 {
		t.Errorf("panicky_handle handled %d events, want the 8 before its panic", handled)
	}
	// The panic let go of the database: the store still takes appends.
	fill(t, s, "f", 1, 1)
}

// failingAt returns p with an Apply that fails with err at position pos,
// and adds "try" to tl each time.
func failingAt(p projection.Projection, pos uint64, tl *timeline, err error) projection.Projection {
	apply := p.Apply
	p.Apply = func(ctx context.Context, tx *sql.Tx, e chronicle.RecordedEvent) error {
		if e.Position == pos {
			tl.add("try")
			return err
		}
		return apply(ctx, tx, e)
	}
	return p
}

func TestHandleIsAtLeastOnceOnMemory(t *testing.T) {
	s := memory.New(nil)
	var mu sync.Mutex
	seen := map[uint64]int{}
	p := projection.Projection{
		Name:   "seen",
		Filter: chronicle.Filter{Types: []string{"Happened"}},
		Handle: func(_ context.Context, e chronicle.RecordedEvent) error {
			mu.Lock()
			defer mu.Unlock()
			seen[e.Position]++
			return nil
		},
		ResetHandled: func(context.Context) error {
			mu.Lock()
			defer mu.Unlock()
			clear(seen)
			return nil
		},
	}
	cps := projection.NewMemoryCheckpoints()
	r := mustRunner(t, s, &projection.Options{Checkpoints: cps}, p)
	fill(t, s, "m", 3, 100)
	if err := r.CatchUp(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 100 {
		t.Fatalf("handled %d events, want 100", len(seen))
	}
	if cp, _ := cps.Load(context.Background(), "seen"); cp != 100 {
		t.Fatalf("checkpoint = %d, want 100", cp)
	}
	if err := r.Rebuild(context.Background(), "seen", nil); err != nil {
		t.Fatal(err)
	}
	for pos, n := range seen {
		if n != 1 {
			t.Fatalf("after rebuild, position %d handled %d times, want 1", pos, n)
		}
	}
}

// TestRebuildDuringRunOfHandle rebuilds a Handle projection while Run
// follows it in the same runner, and an event comes in while ResetHandled
// empties the read model: the rebuild must still replay every event, and
// Run must still handle the new one after it.
func TestRebuildDuringRunOfHandle(t *testing.T) {
	s := memory.New(nil)
	fill(t, s, "m", 3, 10)
	var mu sync.Mutex
	seen := map[uint64]bool{}
	live := make(chan struct{})
	var liveOnce sync.Once
	cps := projection.NewMemoryCheckpoints()
	p := projection.Projection{
		Name: "seen",
		Handle: func(_ context.Context, e chronicle.RecordedEvent) error {
			mu.Lock()
			defer mu.Unlock()
			seen[e.Position] = true
			if e.Position == 12 {
				liveOnce.Do(func() { close(live) })
			}
			return nil
		},
		ResetHandled: func(ctx context.Context) error {
			fill(t, s, "live", 1, 1) // position 12
			<-live
			// Run, having handled it, saves its checkpoint now, unless the
			// runner holds it back.
			for deadline := time.Now().Add(200 * time.Millisecond); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
				if cp, _ := cps.Load(ctx, "seen"); cp == 12 {
					break
				}
			}
			mu.Lock()
			defer mu.Unlock()
			clear(seen)
			return nil
		},
	}
	r := mustRunner(t, s, &projection.Options{Checkpoints: cps}, p)
	if err := r.CatchUp(context.Background()); err != nil {
		t.Fatal(err)
	}
	run(t, r)
	fill(t, s, "live", 1, 1) // position 11: Run follows the log
	waitStatus(t, r, 11)
	if err := r.Rebuild(context.Background(), "seen", nil); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	for pos := range uint64(11) {
		if !seen[pos+1] {
			t.Errorf("after the rebuild, the read model lacks position %d; it has %v", pos+1, slices.Sorted(maps.Keys(seen)))
			break
		}
	}
	mu.Unlock()
	waitStatus(t, r, 12)
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 12 {
		t.Errorf("with Run caught up at position 12, the read model has %v", slices.Sorted(maps.Keys(seen)))
	}
}

func TestInvalidProjections(t *testing.T) {
	noop := func(context.Context, chronicle.RecordedEvent) error { return nil }
	apply := func(context.Context, *sql.Tx, chronicle.RecordedEvent) error { return nil }
	tests := []struct {
		name  string
		store chronicle.Store
		ps    []projection.Projection
		want  string
	}{
		{"NoName", memory.New(nil), []projection.Projection{{Handle: noop}}, "without a name"},
		{"Neither", memory.New(nil), []projection.Projection{{Name: "p"}}, "set Apply or Handle"},
		{"Both", openSQLite(t), []projection.Projection{{Name: "p", Handle: noop, Apply: apply}}, "not both"},
		{"ApplyWithoutTx", memory.New(nil), []projection.Projection{{Name: "p", Apply: apply}}, "needs a database with transactions"},
		{"Duplicate", memory.New(nil), []projection.Projection{{Name: "p", Handle: noop}, {Name: "p", Handle: noop}}, "two projections"},
		// A filter that every read refuses (a type read from a file with
		// Windows line ends): refused here, not retried at every run.
		{"BadFilter", memory.New(nil), []projection.Projection{{Name: "p", Handle: noop, Filter: chronicle.Filter{Types: []string{"Happened\r"}}}}, "Filter.Types[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := projection.NewRunner(tt.store, nil, tt.ps...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewRunner = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// TestWrappedStoreWithDB runs an Apply projection over a store that wraps
// the database's store, as a decrypting store does, with Options.DB.
func TestWrappedStoreWithDB(t *testing.T) {
	s := openSQLite(t)
	wrapped := struct{ chronicle.Store }{s}
	want := fill(t, wrapped, "w", 3, 30)
	if _, err := projection.NewRunner(wrapped, nil, counts("w_counts", chronicle.Filter{})); err == nil {
		t.Fatal("an Apply projection over a store without transactions, and no DB, was accepted")
	}
	r := mustRunner(t, wrapped, &projection.Options{DB: s}, counts("w_counts", chronicle.Filter{}))
	if err := r.CatchUp(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := readCounts(t, s, "w_counts"); !maps.Equal(got, want) {
		t.Fatalf("read model = %v, want %v", got, want)
	}
}

func TestRebuildOfAnEmptyStore(t *testing.T) {
	s := openSQLite(t)
	r := mustRunner(t, s, nil, counts("empty", chronicle.Filter{}))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.Rebuild(ctx, "empty", nil); err != nil {
		t.Fatalf("Rebuild of an empty store = %v, want it to return at once", err)
	}
}

// TestTwoRunnersAtOnce runs one projection from two runners (as two
// processes would) on the same database at the same time: each event must
// still be applied exactly once.
func TestTwoRunnersAtOnce(t *testing.T) {
	s := openSQLite(t)
	want := fill(t, s, "t", 9, 3000)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		r := mustRunner(t, s, &projection.Options{BatchSize: 1 + i*7}, counts("twice", chronicle.Filter{}))
		wg.Go(func() { errs[i] = r.CatchUp(context.Background()) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := readCounts(t, s, "twice"); !maps.Equal(got, want) {
		t.Fatalf("with four runners at once, read model = %v, want %v", got, want)
	}
}

// timeline records, in order, the tries a test's Apply makes and the
// runner's log lines (as an io.Writer for a slog handler), by their
// message.
type timeline struct {
	mu sync.Mutex
	l  []string
}

func (tl *timeline) add(s string) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	tl.l = append(tl.l, s)
}

// Write takes one line of slog's text format.
func (tl *timeline) Write(p []byte) (int, error) {
	switch line := string(p); {
	case strings.Contains(line, `msg="projection retrying"`):
		tl.add("retry")
	case strings.Contains(line, `msg="projection stopped"`):
		tl.add("stopped")
	default:
		tl.add(strings.TrimSpace(line))
	}
	return len(p), nil
}

func (tl *timeline) lines() []string {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return slices.Clone(tl.l)
}

// TestSetupFailureIsNotKept: a first call whose context had ended (a
// health check's Status past its deadline) fails to set the runner up,
// and the calls after it set it up and run.
func TestSetupFailureIsNotKept(t *testing.T) {
	s := openSQLite(t)
	want := fill(t, s, "a", 3, 10)
	r := mustRunner(t, s, nil, counts("setup_counts", chronicle.Filter{}))
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := r.Status(ended); !errors.Is(err, context.Canceled) {
		t.Fatalf("Status with an ended context = %v, want context.Canceled", err)
	}
	if err := r.CatchUp(context.Background()); err != nil {
		t.Fatalf("CatchUp after a Status whose context had ended = %v", err)
	}
	if got := readCounts(t, s, "setup_counts"); !maps.Equal(got, want) {
		t.Fatalf("read model = %v, want %v", got, want)
	}
}

// TestCatchUpCutShortReturnsContextError: a CatchUp whose context ends
// before its projections have caught up says so, so that its caller does
// not read a read model that is behind as current.
func TestCatchUpCutShortReturnsContextError(t *testing.T) {
	s := memory.New(nil)
	fill(t, s, "a", 3, 100)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := projection.Projection{Name: "p", Handle: cancelAfter(10, cancel)}
	r := mustRunner(t, s, &projection.Options{BatchSize: 10}, p)
	err := r.CatchUp(ctx)
	st, serr := r.Status(context.Background())
	if serr != nil {
		t.Fatal(serr)
	}
	if st[0].Lag == 0 {
		t.Fatalf("the projection caught up (%+v) although its context ended at the 10th of 100 events", st[0])
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("CatchUp cut short at checkpoint %d of %d = %v, want context.Canceled", st[0].Checkpoint, st[0].Head, err)
	}
}

// cancelAfter returns a Handle that calls cancel once it has handled n
// events: a deadline that passes in the middle of the log.
func cancelAfter(n int, cancel context.CancelFunc) func(context.Context, chronicle.RecordedEvent) error {
	handled := 0
	return func(context.Context, chronicle.RecordedEvent) error {
		if handled++; handled == n {
			cancel()
		}
		return nil
	}
}

// TestRunEndedDuringSetupReturnsNil: Run returns nil when its context
// ends, even while it sets up the read models.
func TestRunEndedDuringSetupReturnsNil(t *testing.T) {
	s := openSQLite(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := counts("setup_ended", chronicle.Filter{})
	p.Setup = func(ctx context.Context, _ *sql.Tx) error {
		cancel()
		return ctx.Err()
	}
	if err := mustRunner(t, s, nil, p).Run(ctx); err != nil {
		t.Fatalf("Run whose context ended during setup = %v, want nil", err)
	}
}

// TestRenamingRebuilds: a projection renamed over the same read model
// starts it again from the first event, emptied by its Reset, rather than
// count every event twice; and only once, when its new name has no
// checkpoint yet.
func TestRenamingRebuilds(t *testing.T) {
	s := openSQLite(t)
	want := fill(t, s, "game", 3, 30)
	v1 := counts("renamed", games)
	if err := mustRunner(t, s, nil, v1).CatchUp(context.Background()); err != nil {
		t.Fatal(err)
	}
	v2 := v1
	v2.Name = "renamed_v2" // the same read model, under a new name
	if err := mustRunner(t, s, nil, v2).CatchUp(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := readCounts(t, s, "renamed"); !maps.Equal(got, want) {
		t.Fatalf("after renaming, read model = %v, want %v", got, want)
	}
	for k, n := range fill(t, s, "game", 3, 10) {
		want[k] += n
	}
	if err := mustRunner(t, s, nil, v2).CatchUp(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := readCounts(t, s, "renamed"); !maps.Equal(got, want) {
		t.Fatalf("after a restart under the new name, read model = %v, want %v", got, want)
	}
}

// TestRebuildCutShortIsNotBuilding: a rebuild whose context ends, or whose
// reset fails, leaves its projection idle, not "building" for good, so
// that a Run after it shows it running.
func TestRebuildCutShortIsNotBuilding(t *testing.T) {
	s := memory.New(nil)
	fill(t, s, "a", 3, 100)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := projection.Projection{
		Name:   "p",
		Handle: cancelAfter(5, cancel),
		ResetHandled: func(context.Context) error {
			if ctx.Err() != nil {
				return errors.New("reset failed")
			}
			return nil
		},
	}
	r := mustRunner(t, s, &projection.Options{BatchSize: 5}, p)
	for _, what := range []string{"cut short", "whose reset failed"} {
		if err := r.Rebuild(ctx, "p", nil); err == nil {
			t.Fatalf("Rebuild %s = nil", what)
		}
		st, err := r.Status(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if st[0].State != projection.Idle || st[0].Err != nil {
			t.Fatalf("after a rebuild %s, status = %+v, want idle", what, st[0])
		}
	}
}

// TestRunEndsDuringResetHandled: a Run whose context ends while a rebuild
// beside it runs ResetHandled returns then, rather than once the reset
// is done, which may take as long as the read model's owner wants.
func TestRunEndsDuringResetHandled(t *testing.T) {
	s := memory.New(nil)
	fill(t, s, "m", 3, 10)
	resetting, release := make(chan struct{}), make(chan struct{})
	p := projection.Projection{
		Name:   "slow",
		Handle: func(context.Context, chronicle.RecordedEvent) error { return nil },
		ResetHandled: func(context.Context) error {
			close(resetting)
			<-release
			return nil
		},
	}
	r := mustRunner(t, s, nil, p)
	rebuilt := make(chan error, 1)
	go func() { rebuilt <- r.Rebuild(context.Background(), "slow", nil) }()
	<-resetting
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- r.Run(ctx) }()
	time.Sleep(50 * time.Millisecond) // Run reaches its wait for the reset
	// So does a CatchUp, which returns the context's error, once.
	ended, end := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer end()
	if err := r.CatchUp(ended); !errors.Is(err, context.DeadlineExceeded) || strings.Count(err.Error(), "deadline exceeded") != 1 {
		t.Errorf("CatchUp ended during the reset = %v, want the context's error, said once", err)
	}
	cancel()
	select {
	case err := <-ran:
		if err != nil {
			t.Errorf("Run after cancel = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("Run went on waiting for ResetHandled for 5s after its context ended")
		close(release)
		<-ran
		release = nil
	}
	if release != nil {
		close(release)
	}
	if err := <-rebuilt; err != nil {
		t.Errorf("Rebuild = %v", err)
	}
}

// TestRunEndsCleanlyWhenHandleFailsAtShutdown: a Handle cut short by the
// end of Run's context may fail with an error of its own (a driver's
// "connection reset", say) rather than the context's; Run, whose context
// ending is how it is meant to stop, still returns nil, and the event is
// handled again by the next run, from the checkpoint.
func TestRunEndsCleanlyWhenHandleFailsAtShutdown(t *testing.T) {
	s := memory.New(nil)
	fill(t, s, "m", 1, 3)
	started := make(chan struct{})
	var once sync.Once
	p := projection.Projection{
		Name: "cut",
		Handle: func(ctx context.Context, e chronicle.RecordedEvent) error {
			if e.Position < 3 {
				return nil
			}
			once.Do(func() { close(started) })
			<-ctx.Done()
			return errors.New("write the read model: connection reset by peer")
		},
	}
	cps := projection.NewMemoryCheckpoints()
	r := mustRunner(t, s, &projection.Options{Checkpoints: cps, BatchSize: 1}, p)
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- r.Run(ctx) }()
	<-started
	cancel()
	if err := <-ran; err != nil {
		t.Errorf("Run after cancel = %v, want nil", err)
	}
	if cp, err := cps.Load(context.Background(), "cut"); err != nil || cp != 2 {
		t.Errorf("checkpoint = %d, %v; want 2: the event cut short is handled again", cp, err)
	}
}
