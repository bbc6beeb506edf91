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
