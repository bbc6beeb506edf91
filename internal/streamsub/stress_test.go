package streamsub_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/internal/streamsub"
	"github.com/chronicle-es/chronicle/memory"
)

// TestStress has subscriptions join and leave the streams of a hub at
// random, fast and slow, from different revisions, while one writer
// appends, changes the streams' metadata (max count, truncate before,
// raised and lowered), soft-deletes and tombstones them, and checks what
// each subscription yielded against what reads of its stream showed.
//
// # The oracle
//
// The writer changes the store one operation at a time, and after each
// reads every stream whole: state i is the store after operation i (0:
// empty), and view(s, i) what a read of stream s shows in it. Without
// MaxAge, what hides events hides those below some revision, so a view
// is a run of revisions [lo, end) (the writer checks it). The writer
// publishes i once view(·, i) is recorded: while it has published i, the
// store is in state i or i+1.
//
// A subscription to s from revision from starts after state lo was
// published, and yields r1, r2, ...; hi_j is one past the state
// published after it yielded rj. A subscription that reads the stream
// for itself (as each did before the Hub) yields what a sequence of
// reads at states t1 <= t2 <= ... showed, each read from the revision
// after the last one yielded. So there must be states lo <= t1 <= t2 <=
// ... with tj <= hi_j, in which
//
//   - rj is shown: lo(s, tj) <= rj < end(s, tj), and
//   - the revisions from the one after r(j-1) (from, for r1) up to rj
//     are not: rj = max(r(j-1)+1, lo(s, tj)).
//
// That is: every event once, in order, none that no read since the
// subscription began showed, none skipped that a read showed. The check
// takes the earliest tj that fits, which leaves the most room for the
// next.
//
// And none is held back: now and then, and at the end, the writer stops
// until every subscription still live has caught up with the last append
// to its stream, in state a: until, for some state t from the later of a
// and lo to the last, a read in t shows nothing from its next revision
// on. (Events that metadata lowered after a shows again are sent with the
// next append, as a subscription that read for itself sent them.) The
// last operation on each stream not tombstoned is an append.
//
// A subscription ends only as the test ends it (it leaves after some
// events, or its ctx ends), or with ErrStreamDeleted once its stream is
// tombstoned. Once all have ended, the hub follows no stream and its
// goroutines are gone.
func TestStress(t *testing.T) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	ops, subscribers := 4000, 16
	if testing.Short() {
		ops, subscribers = 500, 8
	}
	goroutines := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	store := &jitteryStore{hidingStore: memory.New(nil)}
	hub := streamsub.NewHub(store)
	h := &history{names: []string{"a", "b", "c", "d"}}
	h.views = [][]view{make([]view, len(h.names))}

	var wg sync.WaitGroup
	for i := range subscribers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(seed), uint64(i)))
			for h.follow(ctx, hub, rng) {
			}
		}()
	}

	rng := rand.New(rand.NewPCG(uint64(seed), 1<<32))
	// The weights of an append, new metadata, a soft delete and a
	// tombstone, by stream: a is appended to, and seldom deleted; the
	// metadata of b changes now and then, that of c and d often, which
	// lets more skips pass as what a read showed; d may be tombstoned.
	mix := [][]int{{97, 0, 3, 0}, {80, 12, 8, 0}, {60, 25, 15, 0}, {60, 25, 14, 1}}
	appended := make([]int, len(h.names)) // the state after the last append to each stream
	tombstoned := -1                      // the stream tombstoned, if any
	hot := 0                              // the stream that most operations change, for a while
	for i := range ops {
		if rng.IntN(50) == 0 {
			hot = rng.IntN(len(h.names))
		}
		s := hot
		if rng.IntN(5) == 0 {
			s = rng.IntN(len(h.names))
		}
		if s == tombstoned {
			continue
		}
		name := h.names[s]
		size := h.at(h.published(), s).size
		var err error
		switch pick(rng, mix[s]) {
		case 0:
			var res chronicle.AppendResult
			res, err = store.Append(ctx, name, chronicle.Any, events(1+rng.IntN(3))...)
			size = res.LastRevision + 1
		case 1:
			// Truncate before raised and lowered about the end.
			m := chronicle.StreamMetadata{MaxCount: []uint64{0, 0, 1, 2, 5}[rng.IntN(5)]}
			if rng.IntN(2) == 0 {
				m.TruncateBefore = max(size+2, 5) - uint64(rng.IntN(6))
			}
			err = store.SetStreamMetadata(ctx, name, m)
		case 2:
			err = store.Delete(ctx, name, chronicle.Any)
			if errors.Is(err, chronicle.ErrStreamNotFound) {
				err = nil // deleted already, or never written
			}
		case 3:
			if i > ops*2/3 {
				err = store.Tombstone(ctx, name, chronicle.Any)
				tombstoned = s
			}
		}
		if err != nil {
			t.Fatal(err)
		}
		state := h.record(ctx, t, store, s, size)
		if size > h.at(state-1, s).size {
			appended[s] = state
		}
		// Bursts, which leave slow subscriptions behind, and pauses,
		// in which subscriptions come and go.
		switch {
		case rng.IntN(200) == 0:
			h.settle(t, appended, false)
		case rng.IntN(40) == 0:
			time.Sleep(time.Duration(rng.IntN(1000)) * time.Microsecond)
		}
		runtime.Gosched()
	}
	for s, name := range h.names {
		if s != tombstoned {
			res, err := store.Append(ctx, name, chronicle.Any, events(1)...)
			if err != nil {
				t.Fatal(err)
			}
			appended[s] = h.record(ctx, t, store, s, res.LastRevision+1)
		}
	}
	h.settle(t, appended, true)
	h.stopped.Store(true)
	cancel()
	wg.Wait()

	checked := 0
	for _, r := range h.runs {
		if err := h.check(r); err != nil {
			t.Error(err)
		}
		checked += len(r.got)
	}
	t.Logf("%d subscriptions yielded %d events over %d states", len(h.runs), checked, h.published())

	if n := streamsub.Following(hub); n != 0 {
		t.Errorf("the hub follows %d streams after their subscriptions ended", n)
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > goroutines {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines after the subscriptions ended, %d before:\n%s",
				runtime.NumGoroutine(), goroutines, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(time.Millisecond)
	}
}

// jitteryStore is a store whose reads of a stream sometimes wait a little
// between taking their view and yielding it, and whose subscriptions to
// the log wait a little before some events, to open the windows in which
// subscriptions that share reads can race.
type jitteryStore struct{ hidingStore }

func jitter() {
	if rand.IntN(4) == 0 {
		time.Sleep(time.Duration(rand.IntN(300)) * time.Microsecond)
	}
}

func (j *jitteryStore) ReadStream(ctx context.Context, stream string, opts chronicle.ReadStreamOptions) iter.Seq2[chronicle.RecordedEvent, error] {
	return func(yield func(chronicle.RecordedEvent, error) bool) {
		next, stop := iter.Pull2(j.hidingStore.ReadStream(ctx, stream, opts))
		defer stop()
		e, err, ok := next() // the memory store takes its view here
		jitter()
		for ; ok; e, err, ok = next() {
			if !yield(e, err) {
				return
			}
		}
	}
}

func (j *jitteryStore) Subscribe(ctx context.Context, opts chronicle.SubscribeOptions) iter.Seq2[chronicle.RecordedEvent, error] {
	return func(yield func(chronicle.RecordedEvent, error) bool) {
		for e, err := range j.hidingStore.Subscribe(ctx, opts) {
			jitter()
			if !yield(e, err) {
				return
			}
		}
	}
}

// pick returns i with a chance of weights[i] in 100.
func pick(rng *rand.Rand, weights []int) int {
	n := rng.IntN(100)
	for i, w := range weights {
		if n < w {
			return i
		}
		n -= w
	}
	return len(weights) - 1
}

func events(n int) []chronicle.EventData {
	out := make([]chronicle.EventData, n)
	for i := range out {
		out[i] = chronicle.EventData{Type: "E", Data: []byte(`{}`)}
	}
	return out
}

// view is what a read of a stream shows in one state.
type view struct {
	lo, end uint64 // revisions [lo, end); none when lo == end
	size    uint64 // the stream's revisions, shown or not
	tomb    bool   // the stream is tombstoned
}

func (v view) shows(rev uint64) bool { return !v.tomb && v.lo <= rev && rev < v.end }

// showsFrom reports whether v shows a revision from next on.
func (v view) showsFrom(next uint64) bool { return !v.tomb && v.lo < v.end && next < v.end }

// history is what TestStress's writer did and its subscriptions saw.
type history struct {
	names []string

	mu    sync.Mutex
	views [][]view // by state, then stream; appended by the writer alone
	runs  []*run
	final bool // no subscription starts from now on

	state atomic.Int64 // the state published
	// stopped is set as the test ends the subscriptions still running.
	stopped atomic.Bool
}

// run is one subscription of TestStress.
type run struct {
	stream int
	from   uint64
	lo     int // the state published before it started
	// canceled is whether the test ended its ctx, or may have.
	canceled bool

	mu    sync.Mutex
	got   []yielded
	err   error
	errHi int
	next  uint64 // the first revision not yielded
	ended bool   // its iterators returned
	// waiting, when not nil, is closed once settled reports true.
	waiting chan struct{}
	settled func(*run) bool
}

// yielded is an event yielded by a subscription, and one past the state
// published just after.
type yielded struct {
	rev uint64
	hi  int
}

func (h *history) published() int { return int(h.state.Load()) }

func (h *history) at(state, stream int) view {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.views[state][stream]
}

// record reads stream s, of size revisions, whole, and publishes the
// state it is in, which it returns.
func (h *history) record(ctx context.Context, t *testing.T, store chronicle.Store, s int, size uint64) int {
	t.Helper()
	v := view{size: size}
	for e, err := range store.ReadStream(ctx, h.names[s], chronicle.ReadStreamOptions{}) {
		switch {
		case errors.Is(err, chronicle.ErrStreamDeleted):
			v.tomb = true
		case errors.Is(err, chronicle.ErrStreamNotFound):
		case err != nil:
			t.Fatal(err)
		case v.lo == v.end:
			v.lo, v.end = e.Revision, e.Revision+1
		case e.Revision != v.end:
			t.Fatalf("a read of %q showed %d after %d: the oracle takes what a read shows for a run of revisions", h.names[s], e.Revision, v.end-1)
		default:
			v.end++
		}
	}
	h.mu.Lock()
	next := slices.Clone(h.views[len(h.views)-1])
	next[s] = v
	h.views = append(h.views, next)
	i := len(h.views) - 1
	h.mu.Unlock()
	h.state.Store(int64(i))
	return i
}

// follow runs one subscription, of a kind and for a time chosen at
// random, and reports whether to start another.
func (h *history) follow(ctx context.Context, hub *streamsub.Hub, rng *rand.Rand) bool {
	r := &run{stream: rng.IntN(len(h.names))}
	h.mu.Lock()
	if h.final {
		h.mu.Unlock()
		return false
	}
	r.lo = len(h.views) - 1
	size := h.views[r.lo][r.stream].size
	switch rng.IntN(3) {
	case 0:
	case 1:
		r.from = size // its end
	default:
		r.from = uint64(rng.IntN(int(size) + 3))
	}
	r.next = r.from
	h.runs = append(h.runs, r)
	h.mu.Unlock()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	leaveAfter := -1 // events to yield before it leaves
	slow := false
	var life time.Duration // before its ctx ends
	switch rng.IntN(10) {
	case 0, 1, 2:
		leaveAfter = rng.IntN(30)
	case 3:
		life = time.Duration(rng.IntN(5000)) * time.Microsecond
	case 4, 5, 6:
		slow = true
		life = time.Duration(rng.IntN(1000)) * time.Millisecond
	case 7, 8:
		life = time.Duration(rng.IntN(50)) * time.Millisecond
	default: // it stays to the end
	}
	if life > 0 {
		r.canceled = true
		timer := time.AfterFunc(life, cancel)
		defer timer.Stop()
	}
	defer r.update(func() { r.ended = true })
	st, err := hub.Start(ctx, h.names[r.stream])
	if err != nil {
		h.failed(r, err)
		return true
	}
	for _, seq := range []iter.Seq2[chronicle.RecordedEvent, error]{st.CatchUp(ctx, r.from), st.Live(ctx)} {
		for e, err := range seq {
			if err != nil {
				h.failed(r, err)
				return true
			}
			hi := h.published() + 1
			r.update(func() {
				r.got = append(r.got, yielded{e.Revision, hi})
				r.next = e.Revision + 1
			})
			if leaveAfter == 0 {
				return true
			}
			leaveAfter--
			if slow && rng.IntN(4) == 0 {
				time.Sleep(time.Duration(1+rng.IntN(80)) * time.Millisecond)
			}
		}
	}
	return true
}

// update changes r with change, and lets a settle waiting for r go on
// once it may.
func (r *run) update(change func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	change()
	if r.waiting != nil && r.settled(r) {
		close(r.waiting)
		r.waiting = nil
	}
}

func (h *history) failed(r *run, err error) {
	hi := h.published() + 1
	canceled := h.stopped.Load()
	r.update(func() {
		r.err, r.errHi = err, hi
		r.canceled = r.canceled || canceled
	})
}

// settle waits until every subscription still live has caught up with
// the last append to its stream (appended, by stream). Once final, no
// subscription starts.
func (h *history) settle(t *testing.T, appended []int, final bool) {
	t.Helper()
	h.mu.Lock()
	h.final = final
	views, runs := h.views, slices.Clone(h.runs)
	h.mu.Unlock()
	settled := func(r *run) bool {
		if r.ended {
			return true
		}
		for _, v := range views[max(appended[r.stream], r.lo):] {
			if !v[r.stream].showsFrom(r.next) {
				return true
			}
		}
		return false
	}
	for _, r := range runs {
		r.mu.Lock()
		if settled(r) {
			r.mu.Unlock()
			continue
		}
		waiting := make(chan struct{})
		r.waiting, r.settled = waiting, settled
		r.mu.Unlock()
		select {
		case <-waiting:
		case <-time.After(30 * time.Second):
			r.mu.Lock()
			t.Errorf("a subscription to %q from %d held back what a read shows: it yielded %v, reads since the last append showed:%s",
				h.names[r.stream], r.from, revisions(r.got), between(views, r.stream, max(appended[r.stream], r.lo), len(views)-1))
			r.waiting = nil
			r.mu.Unlock()
		}
	}
}

// check reports how what r yielded differs from what reads showed.
func (h *history) check(r *run) error {
	name := h.names[r.stream]
	t, next := r.lo, r.from
	for j, y := range r.got {
		hi := min(y.hi, len(h.views)-1)
		for ; t <= hi; t++ {
			v := h.views[t][r.stream]
			if v.shows(y.rev) && y.rev == max(next, v.lo) {
				break
			}
		}
		if t > hi {
			return fmt.Errorf("a subscription to %q from %d, started in state %d, yielded %v, then %d by state %d, which no read since showed next:%s",
				name, r.from, r.lo, revisions(r.got[:j]), y.rev, hi, between(h.views, r.stream, r.lo, hi))
		}
		next = y.rev + 1
	}
	switch {
	case r.err == nil:
		return nil
	case r.canceled && errors.Is(r.err, context.Canceled):
		return nil
	case errors.Is(r.err, chronicle.ErrStreamDeleted):
		for _, v := range h.views[r.lo : min(r.errHi, len(h.views)-1)+1] {
			if v[r.stream].tomb {
				return nil
			}
		}
	}
	return fmt.Errorf("a subscription to %q from %d ended with %v after %v", name, r.from, r.err, revisions(r.got))
}

func revisions(got []yielded) []uint64 {
	out := make([]uint64, len(got))
	for i, y := range got {
		out[i] = y.rev
	}
	return out
}

// between says what reads of stream showed from state lo to hi.
func between(views [][]view, stream, lo, hi int) string {
	out := ""
	for i := lo; i <= hi; i++ {
		v := views[i][stream]
		if i > lo && v == views[i-1][stream] {
			continue
		}
		out += fmt.Sprintf(" state %d: [%d, %d)", i, v.lo, v.end)
		if v.tomb {
			out += " tombstoned"
		}
	}
	return out
}
