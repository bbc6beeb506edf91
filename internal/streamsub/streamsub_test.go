package streamsub_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/internal/streamsub"
	"github.com/chronicle-es/chronicle/memory"
	"github.com/chronicle-es/chronicle/sqlite"
)

// hidingStore is a store whose streams can hide events (it has their
// metadata and deletes), so that a subscription reads the stream for
// what it shows. It counts those reads.
type hidingStore interface {
	chronicle.Store
	chronicle.Retention
	chronicle.Deleter
}

type countingStore struct {
	hidingStore
	reads atomic.Int64
}

func (c *countingStore) ReadStream(ctx context.Context, stream string, opts chronicle.ReadStreamOptions) iter.Seq2[chronicle.RecordedEvent, error] {
	c.reads.Add(1)
	return c.hidingStore.ReadStream(ctx, stream, opts)
}

// follow runs a subscription to stream from revision from on a
// goroutine, and sends the revision of each event it yields on got, then
// the error that ends it on end (when it is not nil).
func follow(ctx context.Context, tb testing.TB, hub *streamsub.Hub, stream string, from uint64, got chan<- uint64, end chan<- error) {
	tb.Helper()
	st, err := hub.Start(ctx, stream)
	if err != nil {
		tb.Fatal(err)
	}
	go func() {
		for _, seq := range []iter.Seq2[chronicle.RecordedEvent, error]{st.CatchUp(ctx, from), st.Live(ctx)} {
			for e, err := range seq {
				if err != nil {
					if end != nil {
						end <- err
					}
					return
				}
				got <- e.Revision
			}
		}
	}()
}

// BenchmarkLive has subscribers follow one stream, and appends one event
// to it an operation, until every subscriber has it. It reports the
// reads of the stream per append.
func BenchmarkLive(b *testing.B) {
	for _, kind := range []string{"memory", "sqlite"} {
		for _, n := range []int{1, 8, 64} {
			b.Run(fmt.Sprintf("%s/subscribers=%d", kind, n), func(b *testing.B) {
				var inner hidingStore = memory.New(nil)
				if kind == "sqlite" {
					st, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "events.db"), &sqlite.Options{Durability: sqlite.Relaxed})
					if err != nil {
						b.Fatal(err)
					}
					b.Cleanup(func() { st.Close() })
					inner = st
				}
				store := &countingStore{hidingStore: inner}
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				hub := streamsub.NewHub(store)
				got := make(chan uint64, n)
				for range n {
					follow(ctx, b, hub, "s", 0, got, nil)
				}
				appendOne := func() {
					if _, err := store.Append(ctx, "s", chronicle.Any, chronicle.EventData{Type: "E", Data: []byte(`{}`)}); err != nil {
						b.Fatal(err)
					}
					for range n {
						<-got
					}
				}
				appendOne() // every subscriber is live after it
				reads := store.reads.Load()
				b.ResetTimer()
				for range b.N {
					appendOne()
				}
				b.StopTimer()
				b.ReportMetric(float64(store.reads.Load()-reads)/float64(b.N), "reads/append")
			})
		}
	}
}

// subscriber is a subscription of a test, and the revisions it yields.
type subscriber struct {
	got  chan uint64
	end  chan error
	last uint64 // the last revision taken from got
}

func newSubscriber(ctx context.Context, t *testing.T, hub *streamsub.Hub, stream string, from uint64) *subscriber {
	s := &subscriber{got: make(chan uint64), end: make(chan error, 1)}
	follow(ctx, t, hub, stream, from, s.got, s.end)
	return s
}

// take returns the next n revisions that s yields.
func (s *subscriber) take(t *testing.T, n int) []uint64 {
	t.Helper()
	out := make([]uint64, n)
	for i := range out {
		select {
		case out[i] = <-s.got:
			s.last = out[i]
		case <-time.After(10 * time.Second):
			t.Fatalf("the subscription yielded %v, then nothing for 10s; want %d revisions", out[:i], n)
		}
	}
	return out
}

// shown returns the revisions after last that a read of stream shows.
func shown(ctx context.Context, t *testing.T, store chronicle.Store, stream string, last uint64) []uint64 {
	t.Helper()
	var out []uint64
	for e, err := range store.ReadStream(ctx, stream, chronicle.ReadStreamOptions{From: last + 1}) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e.Revision)
	}
	return out
}

// TestSubscribersSeeWhatReadsShow: subscriptions to one stream, started
// at different times and from different revisions, each yield what a
// read of the stream shows after what they yielded, once and in order,
// as its metadata and a delete hide events.
func TestSubscribersSeeWhatReadsShow(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	store := memory.New(nil)
	hub := streamsub.NewHub(store)
	add := func(n int) {
		t.Helper()
		events := make([]chronicle.EventData, n)
		for i := range events {
			events[i] = chronicle.EventData{Type: "N", Data: []byte(`{}`)}
		}
		if _, err := store.Append(ctx, "h-1", chronicle.Any, events...); err != nil {
			t.Fatal(err)
		}
	}
	add(3) // 0 to 2
	subs := []*subscriber{newSubscriber(ctx, t, hub, "h-1", 0), newSubscriber(ctx, t, hub, "h-1", 0)}
	check := func(step string) {
		t.Helper()
		for i, s := range subs {
			want := shown(ctx, t, store, "h-1", s.last)
			if got := s.take(t, len(want)); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("%s: subscriber %d yielded %v after revision %d, where a read shows %v", step, i, got, s.last, want)
			}
		}
	}
	for _, s := range subs {
		if got := s.take(t, 3); fmt.Sprint(got) != "[0 1 2]" {
			t.Fatalf("catch-up: %v, want [0 1 2]", got)
		}
	}
	add(2) // 3 and 4
	check("live")

	// A third joins the others after they read 3 and 4, from revision 4.
	late := newSubscriber(ctx, t, hub, "h-1", 4)
	if got := late.take(t, 1); got[0] != 4 {
		t.Fatalf("a subscription from revision 4 yielded %d first", got[0])
	}
	subs = append(subs, late)
	set := func(m chronicle.StreamMetadata) {
		t.Helper()
		if err := store.SetStreamMetadata(ctx, "h-1", m); err != nil {
			t.Fatal(err)
		}
	}
	set(chronicle.StreamMetadata{MaxCount: 2})
	add(3) // 5 to 7, of which a read shows 6 and 7
	check("max count 2")
	set(chronicle.StreamMetadata{TruncateBefore: 10})
	add(3) // 8 to 10, of which a read shows 10
	check("truncate before 10")
	if err := store.Delete(ctx, "h-1", chronicle.Any); err != nil {
		t.Fatal(err)
	}
	add(2) // 11 and 12, which start the stream again
	check("soft delete and append")
}

// TestSlowSubscriber: a subscription that falls behind the others by more
// reads than it may hold still yields every event once, in order, and the
// others do not wait for it.
func TestSlowSubscriber(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	store := memory.New(nil)
	hub := streamsub.NewHub(store)
	fast, slow := newSubscriber(ctx, t, hub, "s", 0), newSubscriber(ctx, t, hub, "s", 0)
	const n = 100
	for i := range n {
		if _, err := store.Append(ctx, "s", chronicle.Any, chronicle.EventData{Type: "E", Data: []byte(`{}`)}); err != nil {
			t.Fatal(err)
		}
		if got := fast.take(t, 1); got[0] != uint64(i) {
			t.Fatalf("the fast subscription yielded %d, want %d", got[0], i)
		}
	}
	for i, rev := range slow.take(t, n) {
		if rev != uint64(i) {
			t.Fatalf("the slow subscription yielded %v, want 0 to %d in order", rev, n-1)
		}
	}
	// The next event comes next: none was yielded twice.
	if _, err := store.Append(ctx, "s", chronicle.Any, chronicle.EventData{Type: "E", Data: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*subscriber{fast, slow} {
		if got := s.take(t, 1); got[0] != n {
			t.Fatalf("after the appends, a subscription yielded %d, want %d", got[0], n)
		}
	}
}

// failingStore is a memory store whose stream reads fail while fail is
// set, and the next one once failNext is set.
type failingStore struct {
	*memory.Store
	fail, failNext atomic.Bool
	// begun, when not nil, gets a value as each read begins (when it has
	// room), so that a test can tell where the subscriptions are.
	begun chan struct{}
}

var errRead = errors.New("the disk is on fire")

func (f *failingStore) ReadStream(ctx context.Context, stream string, opts chronicle.ReadStreamOptions) iter.Seq2[chronicle.RecordedEvent, error] {
	select {
	case f.begun <- struct{}{}:
	default:
	}
	if f.fail.Load() || f.failNext.CompareAndSwap(true, false) {
		return func(yield func(chronicle.RecordedEvent, error) bool) { yield(chronicle.RecordedEvent{}, errRead) }
	}
	return f.Store.ReadStream(ctx, stream, opts)
}

// TestSubscribersEndWithTheRead: the subscriptions to a stream whose read
// fails end with its error; a subscription that starts later follows the
// stream anew.
func TestSubscribersEndWithTheRead(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	store := &failingStore{Store: memory.New(nil)}
	hub := streamsub.NewHub(store)
	a, b := newSubscriber(ctx, t, hub, "s", 0), newSubscriber(ctx, t, hub, "s", 0)
	add := func() {
		t.Helper()
		if _, err := store.Append(ctx, "s", chronicle.Any, chronicle.EventData{Type: "E", Data: []byte(`{}`)}); err != nil {
			t.Fatal(err)
		}
	}
	add()
	for _, s := range []*subscriber{a, b} {
		s.take(t, 1)
	}
	store.fail.Store(true)
	add()
	for i, s := range []*subscriber{a, b} {
		select {
		case err := <-s.end:
			if !errors.Is(err, errRead) {
				t.Errorf("subscriber %d ended with %v, want %v", i, err, errRead)
			}
		case rev := <-s.got:
			t.Fatalf("subscriber %d yielded revision %d from a read that failed", i, rev)
		case <-time.After(10 * time.Second):
			t.Fatalf("subscriber %d did not end", i)
		}
	}
	store.fail.Store(false)
	c := newSubscriber(ctx, t, hub, "s", 2)
	add()
	if got := c.take(t, 1); got[0] != 2 {
		t.Fatalf("a later subscription yielded %d, want 2", got[0])
	}
}

// TestSlowSubscriberEndsWithTheReadAfterWhatItMissed: a subscription
// that fell behind the others by more reads than it may hold, when the
// shared read then fails, yields every event that the reads before the
// failure showed, once and in order, before the error: what did not fit
// as well as what it held.
func TestSlowSubscriberEndsWithTheReadAfterWhatItMissed(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	store := &failingStore{Store: memory.New(nil), begun: make(chan struct{}, 3)}
	hub := streamsub.NewHub(store)
	// The slow one yields nothing until the test takes from its got.
	fast, slow := newSubscriber(ctx, t, hub, "s", 0), newSubscriber(ctx, t, hub, "s", 0)
	// Both follow the stream once three reads have begun: a catch-up
	// each, then the read of the one that joins the other.
	for range 3 {
		<-store.begun
	}
	add := func() {
		t.Helper()
		if _, err := store.Append(ctx, "s", chronicle.Any, chronicle.EventData{Type: "E", Data: []byte(`{}`)}); err != nil {
			t.Fatal(err)
		}
	}
	const n = 40 // more reads than the slow one may hold
	for i := range n {
		add()
		if got := fast.take(t, 1); got[0] != uint64(i) {
			t.Fatalf("the fast subscription yielded %d, want %d", got[0], i)
		}
	}
	store.failNext.Store(true)
	add() // revision n, whose shared read fails
	select {
	case err := <-fast.end:
		if !errors.Is(err, errRead) {
			t.Fatalf("the fast subscription ended with %v, want %v", err, errRead)
		}
	case rev := <-fast.got:
		t.Fatalf("the fast subscription yielded revision %d from a read that failed", rev)
	case <-time.After(10 * time.Second):
		t.Fatal("the fast subscription did not end")
	}
	// The slow one reads for itself what it missed, which the store
	// shows again: up to revision n.
	var got []uint64
	for {
		select {
		case rev := <-slow.got:
			got = append(got, rev)
			continue
		case err := <-slow.end:
			if !errors.Is(err, errRead) {
				t.Fatalf("the slow subscription yielded %v, then ended with %v, want %v", got, err, errRead)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("the slow subscription yielded %v, then nothing for 10s", got)
		}
		break
	}
	want := make([]uint64, n+1)
	for i := range want {
		want[i] = uint64(i)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("the slow subscription yielded %v before the error, want 0 to %d in order", got, n)
	}
}

// heldStore is a memory store whose stream reads call hooks, when set:
// before, as they begin, and after, once they have taken their view of
// the stream, before they yield it. A test can hold a read there.
type heldStore struct {
	*memory.Store
	mu            sync.Mutex
	before, after func()
}

func (h *heldStore) ReadStream(ctx context.Context, stream string, opts chronicle.ReadStreamOptions) iter.Seq2[chronicle.RecordedEvent, error] {
	return func(yield func(chronicle.RecordedEvent, error) bool) {
		h.call(&h.before)
		type item struct {
			e   chronicle.RecordedEvent
			err error
		}
		var shown []item
		for e, err := range h.Store.ReadStream(ctx, stream, opts) {
			shown = append(shown, item{e, err})
		}
		h.call(&h.after)
		for _, it := range shown {
			if !yield(it.e, it.err) {
				return
			}
		}
	}
}

func (h *heldStore) call(hook *func()) {
	h.mu.Lock()
	f := *hook
	h.mu.Unlock()
	if f != nil {
		f()
	}
}

// holdNext makes the next read that calls the hook wait there until
// release is closed, once it has closed held, and the later ones send on
// reads (when it has room).
func (h *heldStore) holdNext(hook *func()) (held, release chan struct{}, reads chan struct{}) {
	held, release = make(chan struct{}), make(chan struct{})
	reads = make(chan struct{}, 16)
	h.mu.Lock()
	defer h.mu.Unlock()
	*hook = func() {
		h.mu.Lock()
		*hook = func() {
			select {
			case reads <- struct{}{}:
			default: // more reads than the test waits for
			}
		}
		h.mu.Unlock()
		close(held)
		<-release
	}
	return held, release, reads
}

// heldFive is a stream s of a held store with revisions 0 to 4, and a
// subscription to it that has yielded them, whose shared read of
// revision 5 is held.
type heldFive struct {
	store *heldStore
	hub   *streamsub.Hub
	live  *subscriber
	// release lets the shared read go on; reads gets a value for each
	// read after it (when it has room).
	release, reads chan struct{}
}

// holdFive makes a heldFive whose read of revision 5 waits at the hook
// that at returns (before or after it takes its view of the stream).
func holdFive(t *testing.T, at func(*heldStore) *func()) *heldFive {
	f := &heldFive{store: &heldStore{Store: memory.New(nil)}}
	f.hub = streamsub.NewHub(f.store)
	for range 5 {
		f.add(t)
	}
	f.live = newSubscriber(t.Context(), t, f.hub, "s", 0)
	f.live.take(t, 5)
	var held chan struct{}
	held, f.release, f.reads = f.store.holdNext(at(f.store))
	f.add(t)
	<-held
	return f
}

func (f *heldFive) add(t *testing.T) {
	t.Helper()
	if _, err := f.store.Append(t.Context(), "s", chronicle.Any, chronicle.EventData{Type: "E", Data: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
}

// TestJoinerGetsNoReadFromBeforeIt: a subscription that joins the others
// while the shared read of an append is under way, after that append was
// deleted, does not send it: no read made since it started shows it.
func TestJoinerGetsNoReadFromBeforeIt(t *testing.T) {
	// The shared read of revision 5 takes its view, and waits.
	f := holdFive(t, func(h *heldStore) *func() { return &h.after })
	if err := f.store.Delete(t.Context(), "s", chronicle.Any); err != nil {
		t.Fatal(err)
	}
	// A client that had 0 to 4 comes back: revision 5 was deleted
	// before it did. Its catch-up reads nothing, and so does its read
	// as it joins the others; the shared read then hands out what it
	// saw before the delete.
	b := newSubscriber(t.Context(), t, f.hub, "s", 5)
	<-f.reads // catch-up
	<-f.reads // joining
	close(f.release)
	f.add(t) // 6, the stream's first revision after the delete
	if got := b.take(t, 1); got[0] != 6 {
		t.Fatalf("a subscription that started after revision 5 was deleted sent %d first, want 6", got[0])
	}
	if got := f.live.take(t, 2); fmt.Sprint(got) != "[5 6]" {
		t.Fatalf("the subscription that was live when revision 5 was appended sent %v, want [5 6]", got)
	}
}

// TestJoinerMissesNoneOfAReadUnderWay: a subscription that joins the
// others while the shared read of an append is under way, before it
// takes its view of the stream, still sends what that read shows past
// its own, at once.
func TestJoinerMissesNoneOfAReadUnderWay(t *testing.T) {
	// The shared read of revision 5 begins, and waits.
	f := holdFive(t, func(h *heldStore) *func() { return &h.before })
	b := newSubscriber(t.Context(), t, f.hub, "s", 5)
	<-f.reads // catch-up, which shows 5
	if got := b.take(t, 1); got[0] != 5 {
		t.Fatalf("the catch-up sent %d, want 5", got[0])
	}
	<-f.reads // joining, which shows nothing more
	f.add(t)  // 6, after the joiner's reads, before the shared read's view
	close(f.release)
	if got := f.live.take(t, 2); fmt.Sprint(got) != "[5 6]" {
		t.Fatalf("the subscription that was live when revision 5 was appended sent %v, want [5 6]", got)
	}
	if got := b.take(t, 1); got[0] != 6 {
		t.Fatalf("the subscription that joined during the shared read sent %d, want 6", got[0])
	}
}

// TestLiveEndsWhenTombstoned: a tombstone writes nothing to the log, which
// the live part follows; a live subscription to the stream still ends,
// soon after, with the store's ErrStreamDeleted, as one begun after the
// tombstone does, rather than wait for events that can never come.
func TestLiveEndsWhenTombstoned(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	store := memory.New(nil)
	if _, err := store.Append(ctx, "s", chronicle.NoStream, events(2)...); err != nil {
		t.Fatal(err)
	}
	hub := streamsub.NewHub(store)
	streamsub.SetDeleteCheck(hub, 10*time.Millisecond)
	got, end := make(chan uint64, 10), make(chan error, 1)
	follow(ctx, t, hub, "s", 0, got, end)
	for range 2 {
		<-got
	}
	if err := store.Tombstone(ctx, "s", chronicle.Any); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-end:
		if !errors.Is(err, chronicle.ErrStreamDeleted) {
			t.Errorf("the live subscription ended with %v, want ErrStreamDeleted", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the live subscription to a tombstoned stream was still waiting 5 s after the tombstone")
	}
	deadline := time.Now().Add(5 * time.Second)
	for streamsub.Following(hub) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the hub still follows the tombstoned stream")
		}
		time.Sleep(time.Millisecond)
	}
}
