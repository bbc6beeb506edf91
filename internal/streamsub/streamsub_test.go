package streamsub_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"path/filepath"
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
// set.
type failingStore struct {
	*memory.Store
	fail atomic.Bool
}

var errRead = errors.New("the disk is on fire")

func (f *failingStore) ReadStream(ctx context.Context, stream string, opts chronicle.ReadStreamOptions) iter.Seq2[chronicle.RecordedEvent, error] {
	if f.fail.Load() {
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
