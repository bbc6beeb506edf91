package projection_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/memory"
	"github.com/chronicle-es/chronicle/projection"
)

// brokenSubscriptions is a store whose first subscriptions break, as one
// to PostgreSQL does when its connection breaks: each delivers up to
// deliver events, then fails with err. The ones after them work.
type brokenSubscriptions struct {
	chronicle.Store
	err     error
	deliver int

	mu     sync.Mutex
	broken int           // how many subscriptions are still to break
	froms  []uint64      // where each subscription started
	healed chan struct{} // closed when the first working one starts
}

func newBrokenSubscriptions(broken, deliver int, err error) *brokenSubscriptions {
	return &brokenSubscriptions{Store: memory.New(nil), err: err, deliver: deliver, broken: broken, healed: make(chan struct{})}
}

func (s *brokenSubscriptions) Subscribe(ctx context.Context, opts chronicle.SubscribeOptions) iter.Seq2[chronicle.RecordedEvent, error] {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.froms = append(s.froms, opts.From)
	if s.broken == 0 {
		close(s.healed)
		s.broken = -1
	}
	if s.broken < 0 {
		return s.Store.Subscribe(ctx, opts)
	}
	s.broken--
	return func(yield func(chronicle.RecordedEvent, error) bool) {
		if s.deliver > 0 {
			n := 0
			for e, err := range s.Store.Subscribe(ctx, opts) {
				if err != nil || !yield(e, nil) {
					return
				}
				if n++; n == s.deliver {
					break
				}
			}
		}
		yield(chronicle.RecordedEvent{}, s.err)
	}
}

func (s *brokenSubscriptions) starts() []uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.froms)
}

// TestBrokenSubscriptionIsRetried: a subscription that breaks is opened
// again from the checkpoint, and the retries are counted afresh once an
// event was applied, so that a connection that breaks now and then does
// not add up to a stop: each subscription here delivers one event and
// breaks, with one retry allowed.
func TestBrokenSubscriptionIsRetried(t *testing.T) {
	const events = 5
	s := newBrokenSubscriptions(events, 1, errors.New("connection reset by peer"))
	fill(t, s, "a", 1, events)
	var mu sync.Mutex
	handled := map[uint64]int{}
	all := make(chan struct{})
	p := projection.Projection{Name: "p", Handle: func(_ context.Context, e chronicle.RecordedEvent) error {
		mu.Lock()
		defer mu.Unlock()
		if handled[e.Position]++; len(handled) == events && handled[e.Position] == 1 {
			close(all)
		}
		return nil
	}}
	var tl timeline
	logger := slog.New(slog.NewTextHandler(&tl, &slog.HandlerOptions{Level: slog.LevelWarn}))
	r := mustRunner(t, s, &projection.Options{Retries: 1, Backoff: time.Millisecond, Logger: logger}, p)
	stop := run(t, r)
	for _, c := range []chan struct{}{all, s.healed} {
		select {
		case <-c:
		case <-time.After(20 * time.Second):
			mu.Lock()
			defer mu.Unlock()
			t.Fatalf("after broken subscriptions: handled %v, subscriptions from %v, log %q", handled, s.starts(), tl.lines())
		}
	}
	st, err := r.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st[0].State != projection.Running || st[0].Err != nil {
		t.Fatalf("status = %+v, want running without error", st[0])
	}
	stop()
	if want := []uint64{1, 2, 3, 4, 5, 6}; !slices.Equal(s.starts(), want) {
		t.Fatalf("subscriptions started at %v, want %v: each from the checkpoint", s.starts(), want)
	}
	if got, want := strings.Join(tl.lines(), " "), strings.TrimSpace(strings.Repeat("retry ", events)); got != want {
		t.Fatalf("log = %q, want %q", got, want)
	}
	mu.Lock()
	defer mu.Unlock()
	for pos, n := range handled {
		if n != 1 {
			t.Fatalf("position %d handled %d times, want once", pos, n)
		}
	}
}

// flakyCheckpoints is a [projection.Checkpoints] whose first loads fail,
// as they do while a database restarts.
type flakyCheckpoints struct {
	*projection.MemoryCheckpoints
	failures atomic.Int32 // how many loads are still to fail
}

func (c *flakyCheckpoints) Load(ctx context.Context, name string) (uint64, error) {
	if c.failures.Add(-1) >= 0 {
		return 0, errors.New("connection refused")
	}
	return c.MemoryCheckpoints.Load(ctx, name)
}

// TestFailedCheckpointLoadIsRetried: a load of the checkpoint that fails,
// as a read of the log can, is tried again too.
func TestFailedCheckpointLoadIsRetried(t *testing.T) {
	s := memory.New(nil)
	fill(t, s, "a", 1, 3)
	cps := &flakyCheckpoints{MemoryCheckpoints: projection.NewMemoryCheckpoints()}
	cps.failures.Store(2)
	all := make(chan struct{})
	handled := 0
	p := projection.Projection{Name: "p", Handle: func(context.Context, chronicle.RecordedEvent) error {
		if handled++; handled == 3 {
			close(all)
		}
		return nil
	}}
	var tl timeline
	logger := slog.New(slog.NewTextHandler(&tl, &slog.HandlerOptions{Level: slog.LevelWarn}))
	r := mustRunner(t, s, &projection.Options{Checkpoints: cps, Retries: 2, Backoff: time.Millisecond, Logger: logger}, p)
	run(t, r)
	select {
	case <-all:
	case <-time.After(20 * time.Second):
		t.Fatalf("no event handled after the checkpoint's loads failed; log %q", tl.lines())
	}
	if got := strings.Join(tl.lines(), " "); got != "retry retry" {
		t.Fatalf("log = %q, want %q", got, "retry retry")
	}
}

// TestBrokenSubscriptionStops: a subscription that keeps breaking stops
// its projection once the retries run out, and one that reports a
// closed store stops it at once; either way the projection reads as
// stopped, with the error, and the runner logs it.
func TestBrokenSubscriptionStops(t *testing.T) {
	reset := errors.New("connection reset by peer")
	closed := fmt.Errorf("subscribe: %w", chronicle.ErrClosed)
	tests := []struct {
		name string
		err  error
		log  string
	}{
		{"RetriesRunOut", reset, "retry retry stopped"},
		{"Closed", closed, "stopped"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newBrokenSubscriptions(100, 0, tt.err)
			fill(t, s, "a", 1, 3)
			p := projection.Projection{Name: "p", Handle: func(context.Context, chronicle.RecordedEvent) error { return nil }}
			var tl timeline
			logger := slog.New(slog.NewTextHandler(&tl, &slog.HandlerOptions{Level: slog.LevelWarn}))
			r := mustRunner(t, s, &projection.Options{Retries: 2, Backoff: time.Millisecond, Logger: logger}, p)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := r.Run(ctx); !errors.Is(err, tt.err) {
				t.Fatalf("Run = %v, want %v", err, tt.err)
			}
			st, err := r.Status(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if st[0].State != projection.Stopped || !errors.Is(st[0].Err, tt.err) {
				t.Fatalf("status = %+v, want stopped by %v", st[0], tt.err)
			}
			if got := strings.Join(tl.lines(), " "); got != tt.log {
				t.Fatalf("log = %q, want %q", got, tt.log)
			}
		})
	}
}

// closingDB is a database whose Updates fail as those of a closed store
// do, once closed is set.
type closingDB struct {
	projection.DB
	closed atomic.Bool
}

func (db *closingDB) Update(ctx context.Context, fn func(*sql.Tx) error) error {
	if db.closed.Load() {
		return fmt.Errorf("begin: %w", chronicle.ErrClosed)
	}
	return db.DB.Update(ctx, fn)
}

// TestClosedStoreBlamesNoEvent: a commit that fails because the store
// was closed under the runner stops the projection at once with that
// error, rather than retrying and then reporting an *Error that blames
// the event it was applying.
func TestClosedStoreBlamesNoEvent(t *testing.T) {
	s := openSQLite(t)
	fill(t, s, "a", 3, 10)
	db := &closingDB{DB: s}
	var tl timeline
	logger := slog.New(slog.NewTextHandler(&tl, &slog.HandlerOptions{Level: slog.LevelWarn}))
	r := mustRunner(t, s, &projection.Options{DB: db, Retries: 2, Backoff: time.Millisecond, Logger: logger}, counts("closing", chronicle.Filter{}))
	if _, err := r.Status(context.Background()); err != nil { // sets the runner up
		t.Fatal(err)
	}
	db.closed.Store(true)
	err := r.CatchUp(context.Background())
	var perr *projection.Error
	if !errors.Is(err, chronicle.ErrClosed) || errors.As(err, &perr) {
		t.Fatalf("CatchUp on a closed store = %v, want ErrClosed and no *projection.Error", err)
	}
	if got := strings.Join(tl.lines(), " "); got != "stopped" {
		t.Fatalf("log = %q, want %q", got, "stopped")
	}
	st, err := r.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st[0].State != projection.Stopped || !errors.Is(st[0].Err, chronicle.ErrClosed) || st[0].Checkpoint != 0 {
		t.Fatalf("status = %+v, want stopped at 0 by ErrClosed", st[0])
	}
	if got := readCounts(t, s, "closing"); !maps.Equal(got, map[string]int{}) {
		t.Fatalf("read model = %v, want it empty", got)
	}
}

// closedOnCancel is a store whose subscriptions, when their ctx ends,
// fail with an error of their own rather than ctx's, as one whose
// connection is closed under it may.
type closedOnCancel struct{ chronicle.Store }

func (s closedOnCancel) Subscribe(ctx context.Context, opts chronicle.SubscribeOptions) iter.Seq2[chronicle.RecordedEvent, error] {
	return func(yield func(chronicle.RecordedEvent, error) bool) {
		for e, err := range s.Store.Subscribe(ctx, opts) {
			if err != nil && ctx.Err() != nil {
				err = errors.New("read all: connection closed")
			}
			if !yield(e, err) || err != nil {
				return
			}
		}
	}
}

// TestRunEndedWhileReading: a read that breaks as Run's ctx ends, with
// whatever error, ends Run with nil, as its godoc says of ctx's end.
func TestRunEndedWhileReading(t *testing.T) {
	s := closedOnCancel{memory.New(nil)}
	fill(t, s, "a", 1, 3)
	applied := make(chan struct{}, 3)
	p := projection.Projection{Name: "p", Handle: func(context.Context, chronicle.RecordedEvent) error {
		applied <- struct{}{}
		return nil
	}}
	r := mustRunner(t, s, &projection.Options{Logger: slog.New(slog.DiscardHandler)}, p)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	for range 3 {
		<-applied
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run whose ctx ended while it read: %v, want nil", err)
	}
}

// waitFor polls r's status until ok accepts its only projection's, and
// returns it.
func waitFor(t *testing.T, r *projection.Runner, what string, ok func(projection.Status) bool) projection.Status {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := r.Status(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if ok(st[0]) {
			return st[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("status = %+v, want %s", st[0], what)
		}
		time.Sleep(time.Millisecond)
	}
}

// waitForLine waits until tl holds line.
func waitForLine(t *testing.T, tl *timeline, line string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !slices.Contains(tl.lines(), line) {
		if time.Now().After(deadline) {
			t.Fatalf("log = %q, want a %q line", tl.lines(), line)
		}
		time.Sleep(time.Millisecond)
	}
}

// heldRetry is a runner's log that holds the runner in its first
// "projection retrying" line, which it writes once it has set the state
// to Retrying and before it waits, until the test lets it go: the test
// reads the status meanwhile, however long it takes to get there, where
// a backoff long enough "for the status to be read during it" is too
// short for a goroutine that stalls on a busy machine.
type heldRetry struct {
	*timeline
	once, releasing sync.Once
	logged, resume  chan struct{}
}

func newHeldRetry(tl *timeline) *heldRetry {
	return &heldRetry{timeline: tl, logged: make(chan struct{}), resume: make(chan struct{})}
}

func (h *heldRetry) Write(p []byte) (int, error) {
	n, err := h.timeline.Write(p)
	if strings.Contains(string(p), `msg="projection retrying"`) {
		h.once.Do(func() {
			close(h.logged)
			<-h.resume
		})
	}
	return n, err
}

// wait waits until the runner is held in its first retry's log line. The
// test's cleanup lets it go, before it stops the runner, if the test
// ends without doing so.
func (h *heldRetry) wait(t *testing.T) {
	t.Helper()
	t.Cleanup(h.release)
	select {
	case <-h.logged:
	case <-time.After(20 * time.Second):
		t.Fatalf("no retry logged; log %q", h.lines())
	}
}

// release lets the held runner go on; it may be called more than once.
func (h *heldRetry) release() { h.releasing.Do(func() { close(h.resume) }) }

// TestRetryingShowsInStatus: while a projection waits to try a failed read
// (of the log, of its checkpoint) or a failed event again, its status says
// it is retrying and why; once the read, or the event, works again, it is
// running without error, although no event follows the read.
func TestRetryingShowsInStatus(t *testing.T) {
	// The runner is held in its log call, with the state set, while the
	// test reads the status: the backoff need not leave it time to.
	const backoff = 10 * time.Millisecond
	reset := errors.New("connection reset by peer")
	failing := errors.New("the read model's database is down")
	tests := []struct {
		name  string
		setup func(t *testing.T, opts *projection.Options) (chronicle.Store, *projection.Projection)
		want  error  // the error the status shows while retrying, if known
		names string // what that error's message names
	}{
		{"Subscription", func(t *testing.T, opts *projection.Options) (chronicle.Store, *projection.Projection) {
			s := newBrokenSubscriptions(1, 0, reset)
			fill(t, s, "a", 1, 3)
			return s, &projection.Projection{Name: "p", Handle: func(context.Context, chronicle.RecordedEvent) error { return nil }}
		}, reset, "read events after position 0"},
		// The subscription breaks after the last event: no event comes
		// after the retry, and the projection is running all the same.
		{"SubscriptionAfterLastEvent", func(t *testing.T, opts *projection.Options) (chronicle.Store, *projection.Projection) {
			s := newBrokenSubscriptions(1, 3, reset)
			fill(t, s, "a", 1, 3)
			return s, &projection.Projection{Name: "p", Handle: func(context.Context, chronicle.RecordedEvent) error { return nil }}
		}, reset, "read events after position 3"},
		{"CheckpointLoad", func(t *testing.T, opts *projection.Options) (chronicle.Store, *projection.Projection) {
			s := memory.New(nil)
			fill(t, s, "a", 1, 3)
			cps := &flakyCheckpoints{MemoryCheckpoints: projection.NewMemoryCheckpoints()}
			cps.failures.Store(1) // the first load, follow's
			opts.Checkpoints = cps
			return s, &projection.Projection{Name: "p", Handle: func(context.Context, chronicle.RecordedEvent) error { return nil }}
		}, nil, "connection refused"},
		{"Event", func(t *testing.T, opts *projection.Options) (chronicle.Store, *projection.Projection) {
			s := memory.New(nil)
			fill(t, s, "a", 1, 3)
			opts.BatchSize = 1 // so that the event's first try is its own
			var tries atomic.Int32
			return s, &projection.Projection{Name: "p", Handle: func(_ context.Context, e chronicle.RecordedEvent) error {
				if e.Position == 2 && tries.Add(1) == 1 {
					return failing
				}
				return nil
			}}
		}, failing, "position 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tl timeline
			held := newHeldRetry(&tl)
			opts := &projection.Options{
				Retries: 3, Backoff: backoff,
				Logger: slog.New(slog.NewTextHandler(held, &slog.HandlerOptions{Level: slog.LevelWarn})),
			}
			s, p := tt.setup(t, opts)
			r := mustRunner(t, s, opts, *p)
			run(t, r)
			// The runner logs the retry after it sets the state.
			held.wait(t)
			st, err := r.Status(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if st[0].State != projection.Retrying || st[0].Err == nil || tt.want != nil && !errors.Is(st[0].Err, tt.want) || !strings.Contains(st[0].Err.Error(), tt.names) {
				t.Fatalf("status during the backoff = %+v, want retrying after %v, naming %q", st[0], tt.want, tt.names)
			}
			held.release()
			waitFor(t, r, "running without error, at checkpoint 3", func(st projection.Status) bool {
				return st.State == projection.Running && st.Err == nil && st.Checkpoint == 3
			})
			if got := strings.Join(tl.lines(), " "); got != "retry" {
				t.Fatalf("log = %q, want one retry", got)
			}
		})
	}
}

// TestRetryingDuringRebuild: an event that fails during a rebuild shows
// as retrying too, and once it is applied the projection is building
// again, then idle when the rebuild is done; an event that fails in a
// Run after the rebuild leaves it running once applied, not building.
func TestRetryingDuringRebuild(t *testing.T) {
	s := memory.New(nil)
	fill(t, s, "a", 1, 3)
	failing := errors.New("the read model's database is down")
	var tries, triesAfter atomic.Int32
	p := projection.Projection{Name: "p", Handle: func(_ context.Context, e chronicle.RecordedEvent) error {
		if e.Position == 2 && tries.Add(1) == 1 || e.Position == 4 && triesAfter.Add(1) == 1 {
			return failing
		}
		return nil
	}}
	var tl timeline
	held := newHeldRetry(&tl)
	r := mustRunner(t, s, &projection.Options{
		BatchSize: 1, Retries: 3, Backoff: 10 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(held, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}, p)
	var states []projection.State // at each batch's progress
	progress := func(projection.Progress) {
		st, err := r.Status(context.Background())
		if err != nil {
			t.Error(err)
			return
		}
		states = append(states, st[0].State)
	}
	done := make(chan error, 1)
	go func() { done <- r.Rebuild(context.Background(), "p", progress) }()
	held.wait(t)
	st, err := r.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st[0].State != projection.Retrying || !errors.Is(st[0].Err, failing) {
		t.Fatalf("status during the backoff = %+v, want retrying after %v", st[0], failing)
	}
	held.release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	want := []projection.State{projection.Building, projection.Building, projection.Building, projection.Building}
	if !slices.Equal(states, want) {
		t.Fatalf("states at each progress = %v, want %v", states, want)
	}
	st, err = r.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st[0].State != projection.Idle || st[0].Err != nil {
		t.Fatalf("status after the rebuild = %+v, want idle", st[0])
	}
	fill(t, s, "a", 1, 1)
	run(t, r)
	// Event 4 is applied once tried again.
	waitFor(t, r, "running without error, at checkpoint 4", func(st projection.Status) bool {
		return st.State == projection.Running && st.Err == nil && st.Checkpoint == 4
	})
	if got := strings.Join(tl.lines(), " "); got != "retry retry" {
		t.Fatalf("log = %q, want a retry in the rebuild and one in the Run", got)
	}
}

// TestRetryingCutShortIsIdle: a Run or a Rebuild whose ctx ends while an
// event waits to be tried again leaves the projection idle, without the
// event's error, not retrying for good.
func TestRetryingCutShortIsIdle(t *testing.T) {
	for _, rebuild := range []bool{false, true} {
		t.Run(map[bool]string{false: "Run", true: "Rebuild"}[rebuild], func(t *testing.T) {
			s := memory.New(nil)
			fill(t, s, "a", 1, 3)
			p := projection.Projection{Name: "p", Handle: func(_ context.Context, e chronicle.RecordedEvent) error {
				if e.Position == 2 {
					return errors.New("the read model's database is down")
				}
				return nil
			}}
			var tl timeline
			r := mustRunner(t, s, &projection.Options{
				BatchSize: 1, Retries: 3, Backoff: time.Hour,
				Logger: slog.New(slog.NewTextHandler(&tl, &slog.HandlerOptions{Level: slog.LevelWarn})),
			}, p)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() {
				if rebuild {
					done <- r.Rebuild(ctx, "p", nil)
				} else {
					done <- r.Run(ctx)
				}
			}()
			waitForLine(t, &tl, "retry")
			cancel()
			if err := <-done; rebuild != errors.Is(err, context.Canceled) || !rebuild && err != nil {
				t.Fatalf("cut short during the backoff: %v", err)
			}
			st, err := r.Status(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if st[0].State != projection.Idle || st[0].Err != nil {
				t.Fatalf("status after being cut short during the backoff = %+v, want idle", st[0])
			}
		})
	}
}

// TestCatchUpDuringRebuildEndsIdle: a CatchUp that starts while the
// projection is being rebuilt, and retries an event after the rebuild is
// done, leaves the projection idle when it ends, whether the retry worked
// or its ctx ended during the backoff: not running, nor retrying, for
// good.
func TestCatchUpDuringRebuildEndsIdle(t *testing.T) {
	type catchUpKey struct{}
	for _, cutShort := range []bool{false, true} {
		t.Run(map[bool]string{false: "Retried", true: "CutShort"}[cutShort], func(t *testing.T) {
			s := memory.New(nil)
			fill(t, s, "a", 1, 3)
			rebuildIn, releaseRebuild := make(chan struct{}), make(chan struct{})
			catchUpIn, rebuildDone := make(chan struct{}), make(chan struct{})
			var inRebuild, inCatchUp sync.Once
			var tries atomic.Int32
			p := projection.Projection{Name: "p", Handle: func(ctx context.Context, e chronicle.RecordedEvent) error {
				if ctx.Value(catchUpKey{}) == nil {
					// The rebuild's: it waits, at its first event, for the
					// CatchUp to start.
					inRebuild.Do(func() { close(rebuildIn) })
					<-releaseRebuild
					return nil
				}
				// The CatchUp's: its first event fails once the rebuild is
				// done.
				inCatchUp.Do(func() { close(catchUpIn) })
				<-rebuildDone
				if tries.Add(1) == 1 {
					return errors.New("the read model's database is down")
				}
				return nil
			}}
			backoff := 10 * time.Millisecond
			if cutShort {
				backoff = time.Hour
			}
			var tl timeline
			r := mustRunner(t, s, &projection.Options{
				BatchSize: 1, Retries: 3, Backoff: backoff,
				Logger: slog.New(slog.NewTextHandler(&tl, &slog.HandlerOptions{Level: slog.LevelWarn})),
			}, p)
			go func() {
				if err := r.Rebuild(context.Background(), "p", nil); err != nil {
					t.Error(err)
				}
				close(rebuildDone)
			}()
			<-rebuildIn
			ctx, cancel := context.WithCancel(context.WithValue(context.Background(), catchUpKey{}, true))
			defer cancel()
			caughtUp := make(chan error, 1)
			go func() { caughtUp <- r.CatchUp(ctx) }()
			<-catchUpIn // its projection started while building
			close(releaseRebuild)
			<-rebuildDone
			if cutShort {
				waitForLine(t, &tl, "retry")
				cancel()
			}
			if err := <-caughtUp; cutShort != errors.Is(err, context.Canceled) || !cutShort && err != nil {
				t.Fatalf("CatchUp = %v", err)
			}
			st, err := r.Status(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if st[0].State != projection.Idle || st[0].Err != nil {
				t.Fatalf("status once the rebuild and the CatchUp are done = %+v, want idle", st[0])
			}
		})
	}
}

// TestUpgradedStoreStopsAtOnce: a handler's write that the store refuses
// because a newer Chronicle has migrated its schema fails every retry
// until the process runs the newer Chronicle, so the projection stops at
// once, with an error that matches ErrSchemaUpgraded. It was retried as
// many times as any error, with their waits.
func TestUpgradedStoreStopsAtOnce(t *testing.T) {
	upgraded := fmt.Errorf("append to %q: %w: restart this process with the newer Chronicle", "g", chronicle.ErrSchemaUpgraded)
	s := memory.New(nil)
	fill(t, s, "f", 4, 100)
	var tl timeline
	r := mustRunner(t, s, stopOpts(&tl), handleFailingAt42("manager", &tl, upgraded))
	wantStoppedAtOnce(t, r, &tl, r.CatchUp(context.Background()), chronicle.ErrSchemaUpgraded)
}

// wantStoppedAtOnce checks that err, the runner's, stopped the projection
// of r at position 42, matching want, without a retry: tl shows a try in
// its batch when the batch held other events too, then one alone.
func wantStoppedAtOnce(t *testing.T, r *projection.Runner, tl *timeline, err, want error) {
	t.Helper()
	var perr *projection.Error
	if !errors.As(err, &perr) || !errors.Is(err, want) || perr.Event.Position != 42 {
		t.Fatalf("CatchUp = %v, want a *projection.Error at position 42 matching %v", err, want)
	}
	if got := strings.Join(tl.lines(), " "); got != "try try stopped" && got != "try stopped" {
		t.Fatalf("tries and log lines = %q, want [try] try stopped", got)
	}
	st, err := r.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st[0].State != projection.Stopped || !errors.Is(st[0].Err, want) || st[0].Checkpoint != 41 {
		t.Fatalf("status = %+v, want stopped at checkpoint 41 with an error matching %v", st[0], want)
	}
}

// stopOpts are a runner's options for the tests of stopping at once: five
// retries, should it make any, and its log in tl.
func stopOpts(tl *timeline) *projection.Options {
	return &projection.Options{BatchSize: 10, Retries: 5, Backoff: time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(tl, &slog.HandlerOptions{Level: slog.LevelWarn}))}
}

// handleFailingAt42 is a Handle projection that fails with err at the
// event at position 42, and records each try in tl.
func handleFailingAt42(name string, tl *timeline, err error) projection.Projection {
	return projection.Projection{Name: name, Handle: func(_ context.Context, e chronicle.RecordedEvent) error {
		if e.Position == 42 {
			tl.add("try")
			return err
		}
		return nil
	}}
}

// TestPermanentErrorStopsAtOnce: an error that Apply or Handle marks with
// Permanent, which no retry can mend (an event that does not decode, say),
// stops the projection without a retry, and its status says so. Both were
// retried as many times as any error, with their waits.
func TestPermanentErrorStopsAtOnce(t *testing.T) {
	undecodable := errors.New("the event does not decode")
	check := func(t *testing.T, r *projection.Runner, tl *timeline, err error) {
		t.Helper()
		if !errors.Is(err, undecodable) {
			t.Errorf("CatchUp = %v, want an error matching the handler's", err)
		}
		if !strings.Contains(fmt.Sprint(err), "permanent") {
			t.Errorf("the message does not say that the failure is permanent: %v", err)
		}
		wantStoppedAtOnce(t, r, tl, err, projection.ErrPermanent)
	}
	t.Run("Apply", func(t *testing.T) {
		s := openSQLite(t)
		fill(t, s, "f", 4, 100)
		var tl timeline
		p := failingAt(counts("bad", chronicle.Filter{}), 42, &tl, fmt.Errorf("apply: %w", projection.Permanent(undecodable)))
		r := mustRunner(t, s, stopOpts(&tl), p)
		check(t, r, &tl, r.CatchUp(context.Background()))
	})
	t.Run("Handle", func(t *testing.T) {
		s := memory.New(nil)
		fill(t, s, "f", 4, 100)
		var tl timeline
		r := mustRunner(t, s, stopOpts(&tl), handleFailingAt42("bad", &tl, projection.Permanent(undecodable)))
		check(t, r, &tl, r.CatchUp(context.Background()))
	})
	if err := projection.Permanent(nil); err != nil {
		t.Errorf("Permanent(nil) = %v, want nil", err)
	}
}

// TestRunningAfterCatchUpOrRebuildBesideRun: a CatchUp, or a Rebuild, of
// the Runner that also runs the projection leaves it running when it
// ends, since Run still follows the log: not idle, as if nothing did.
func TestRunningAfterCatchUpOrRebuildBesideRun(t *testing.T) {
	for _, rebuild := range []bool{false, true} {
		t.Run(map[bool]string{false: "CatchUp", true: "Rebuild"}[rebuild], func(t *testing.T) {
			s := memory.New(nil)
			fill(t, s, "a", 1, 3)
			p := projection.Projection{Name: "p", Handle: func(context.Context, chronicle.RecordedEvent) error { return nil }}
			r := mustRunner(t, s, nil, p)
			run(t, r)
			waitFor(t, r, "running at position 3", func(st projection.Status) bool {
				return st.State == projection.Running && st.Checkpoint == 3
			})
			fill(t, s, "a", 1, 1)
			var err error
			if rebuild {
				err = r.Rebuild(context.Background(), "p", nil)
			} else {
				err = r.CatchUp(context.Background())
			}
			if err != nil {
				t.Fatal(err)
			}
			st, err := r.Status(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if st[0].State != projection.Running {
				t.Fatalf("status while Run follows the log = %+v, want running", st[0])
			}
		})
	}
}
