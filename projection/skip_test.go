package projection_test

import (
	"context"
	"fmt"
	"iter"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/memory"
	"github.com/chronicle-es/chronicle/projection"
)

var games = chronicle.Filter{Categories: []string{"game"}}

// waitStatus waits until the only projection of r has caught up with the
// log: lag 0, its checkpoint at the head, and the head at least head.
func waitStatus(t *testing.T, r *projection.Runner, head uint64) projection.Status {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := r.Status(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if st[0].Lag == 0 && st[0].Checkpoint == st[0].Head && st[0].Head >= head {
			return st[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("status = %+v: want lag 0 at head %d", st[0], head)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// run runs r until the test ends, and then checks that it ended well.
func run(t *testing.T, r *projection.Runner) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run after cancel = %v, want nil", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// TestFilteredProjectionDoesNotLag: the events that a projection's filter
// leaves out do not count as lag, whether the runner catches up or runs
// live, and the read model has every event of its filter exactly once.
func TestFilteredProjectionDoesNotLag(t *testing.T) {
	s := openSQLite(t)
	want := fill(t, s, "game", 4, 30)
	fill(t, s, "order", 5, 2000)
	r := mustRunner(t, s, &projection.Options{IdleCheck: 10 * time.Millisecond}, counts("game_counts", games))
	if err := r.CatchUp(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := waitStatus(t, r, 2030); st.Checkpoint != 2030 {
		t.Fatalf("after a catch-up, status = %+v, want checkpoint 2030", st)
	}

	run(t, r)
	fill(t, s, "order", 5, 500)
	waitStatus(t, r, 2530)
	// A game event among others is applied, and the others after it are
	// passed over as well.
	for k, n := range fill(t, s, "game", 4, 3) {
		want[k] += n
	}
	fill(t, s, "cart", 2, 100)
	st := waitStatus(t, r, 2633)
	if st.State != projection.Running {
		t.Errorf("state = %s, want running", st.State)
	}
	if got := readCounts(t, s, "game_counts"); !maps.Equal(got, want) {
		t.Fatalf("read model = %v, want %v", got, want)
	}
}

// TestRunFromScratchPassesOverOthers: a runner that starts with a log of
// mostly other events reaches its head without a catch-up.
func TestRunFromScratchPassesOverOthers(t *testing.T) {
	s := openSQLite(t)
	want := fill(t, s, "game", 3, 10)
	fill(t, s, "order", 7, 3000)
	r := mustRunner(t, s, &projection.Options{IdleCheck: 10 * time.Millisecond}, counts("scratch", games))
	run(t, r)
	waitStatus(t, r, 3010)
	if got := readCounts(t, s, "scratch"); !maps.Equal(got, want) {
		t.Fatalf("read model = %v, want %v", got, want)
	}
}

// subscribeLog is a store that records where each subscription starts.
type subscribeLog struct {
	chronicle.Store
	mu    sync.Mutex
	froms []uint64
}

func (s *subscribeLog) Subscribe(ctx context.Context, opts chronicle.SubscribeOptions) iter.Seq2[chronicle.RecordedEvent, error] {
	s.mu.Lock()
	s.froms = append(s.froms, opts.From)
	s.mu.Unlock()
	return s.Store.Subscribe(ctx, opts)
}

func (s *subscribeLog) starts() []uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]uint64(nil), s.froms...)
}

// TestRestartDoesNotRereadSkippedEvents: a runner that stops after its
// filter passed over events resumes after them.
func TestRestartDoesNotRereadSkippedEvents(t *testing.T) {
	s := &subscribeLog{Store: memory.New(nil)}
	var mu sync.Mutex
	handled := map[uint64]int{}
	p := projection.Projection{
		Name:   "games",
		Filter: games,
		Handle: func(_ context.Context, e chronicle.RecordedEvent) error {
			mu.Lock()
			defer mu.Unlock()
			handled[e.Position]++
			return nil
		},
	}
	cps := projection.NewMemoryCheckpoints()
	opts := &projection.Options{Checkpoints: cps, IdleCheck: 10 * time.Millisecond}
	fill(t, s, "game", 2, 5)

	r := mustRunner(t, s, opts, p)
	stop := run(t, r)
	fill(t, s, "order", 3, 1000)
	waitStatus(t, r, 1005)
	stop()
	if cp, _ := cps.Load(context.Background(), "games"); cp != 1005 {
		t.Fatalf("checkpoint after the run = %d, want 1005, past the orders", cp)
	}

	r = mustRunner(t, s, opts, p)
	stop = run(t, r)
	fill(t, s, "game", 2, 1)
	waitStatus(t, r, 1006)
	stop()
	if starts := s.starts(); len(starts) != 2 || starts[0] != 1 || starts[1] != 1006 {
		t.Fatalf("subscriptions started at %v, want [1 1006]: the restart reads no order again", starts)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(handled) != 6 {
		t.Fatalf("handled positions %v, want the 6 game events", handled)
	}
	for pos, n := range handled {
		if n != 1 {
			t.Fatalf("position %d handled %d times, want once", pos, n)
		}
	}
}

// TestSkipUnderConcurrentWrites runs a filtered projection that looks for
// skipped events all the time, while writers append events it handles
// and events it does not, in parallel: moving the checkpoint past the
// others must never pass over one of its own, however the commits of the
// writers interleave with its look at the head.
func TestSkipUnderConcurrentWrites(t *testing.T) {
	stores := map[string]func(t *testing.T) (chronicle.Store, *projection.Options, projection.Projection, func() map[string]int){
		"sqlite": func(t *testing.T) (chronicle.Store, *projection.Options, projection.Projection, func() map[string]int) {
			s := openSQLite(t)
			return s, &projection.Options{IdleCheck: time.Microsecond}, counts("concurrent", games), func() map[string]int {
				got, _ := tryCounts(s, "concurrent")
				return got
			}
		},
		"memory": func(t *testing.T) (chronicle.Store, *projection.Options, projection.Projection, func() map[string]int) {
			var mu sync.Mutex
			got := map[string]int{}
			seen := map[uint64]bool{}
			p := projection.Projection{
				Name:   "concurrent",
				Filter: games,
				Handle: func(_ context.Context, e chronicle.RecordedEvent) error {
					mu.Lock()
					defer mu.Unlock()
					if seen[e.Position] {
						t.Errorf("position %d handled twice", e.Position)
					}
					seen[e.Position] = true
					got[e.Stream]++
					return nil
				},
			}
			return memory.New(nil), &projection.Options{IdleCheck: time.Microsecond}, p, func() map[string]int {
				mu.Lock()
				defer mu.Unlock()
				return maps.Clone(got)
			}
		},
	}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			s, opts, p, read := open(t)
			r := mustRunner(t, s, opts, p)
			run(t, r)
			const writers, each = 6, 150
			var mu sync.Mutex
			want := map[string]int{}
			var wg sync.WaitGroup
			for w := range writers {
				wg.Go(func() {
					for i := range each {
						stream := fmt.Sprintf("order-%d", w)
						if (i+w)%5 == 0 {
							stream = fmt.Sprintf("game-%d", w)
						}
						if _, err := s.Append(context.Background(), stream, chronicle.Any, chronicle.EventData{Type: "Happened", Data: []byte("{}")}); err != nil {
							t.Error(err)
							return
						}
						if chronicle.Category(stream) == "game" {
							mu.Lock()
							want[stream]++
							mu.Unlock()
						}
					}
				})
			}
			wg.Wait()
			waitStatus(t, r, writers*each)
			deadline := time.Now().Add(10 * time.Second)
			for got := read(); !maps.Equal(got, want); got = read() {
				if time.Now().After(deadline) {
					t.Fatalf("read model = %v, want %v", got, want)
				}
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
}
