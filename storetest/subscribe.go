package storetest

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/internal/stress"
)

// subscriber collects what a subscription delivers, in a goroutine.
type subscriber struct {
	mu     sync.Mutex
	events []chronicle.RecordedEvent
	err    error
	done   chan struct{}
	cancel context.CancelFunc
}

func subscribe(tb testing.TB, s chronicle.Store, opts chronicle.SubscribeOptions) *subscriber {
	return subscribeSlowly(tb, s, opts, 0)
}

// subscribeSlowly is subscribe with a subscriber that takes pause over
// each event, as one that writes a projection does.
func subscribeSlowly(tb testing.TB, s chronicle.Store, opts chronicle.SubscribeOptions, pause time.Duration) *subscriber {
	ctx, cancel := context.WithCancel(context.Background())
	sub := &subscriber{done: make(chan struct{}), cancel: cancel}
	go func() {
		defer close(sub.done)
		for e, err := range s.Subscribe(ctx, opts) {
			sub.mu.Lock()
			if err != nil {
				sub.err = err
				sub.mu.Unlock()
				return
			}
			sub.events = append(sub.events, e)
			sub.mu.Unlock()
			time.Sleep(pause)
		}
	}()
	tb.Cleanup(func() { sub.stop() })
	return sub
}

// stop ends the subscription and waits for its goroutine.
func (sub *subscriber) stop() {
	sub.cancel()
	<-sub.done
}

// waitFor waits until the subscriber holds n events, failing after a
// generous timeout (the wait is for correctness, not a speed check).
func (sub *subscriber) waitFor(tb testing.TB, n int) []chronicle.RecordedEvent {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		sub.mu.Lock()
		got, err := slices.Clone(sub.events), sub.err
		sub.mu.Unlock()
		if err != nil && !errors.Is(err, context.Canceled) {
			tb.Fatalf("subscription failed after %d events: %v", len(got), err)
		}
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			tb.Fatalf("subscription delivered %d events, want %d", len(got), n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func testSubscribe(t *testing.T, newStore Factory) {
	t.Run("CatchUpThenLive", func(t *testing.T) {
		s := newStore(t)
		mustAppend(t, s, "a-1", chronicle.NoStream, events("E", 5)...)
		sub := subscribe(t, s, chronicle.SubscribeOptions{})
		sub.waitFor(t, 5)
		for i := range 5 {
			mustAppend(t, s, "a-1", chronicle.Exact(uint64(4+i)), event("E", 5+i))
		}
		got := sub.waitFor(t, 10)
		if !slices.Equal(positions(got), seq(1, 10, 1)) {
			t.Fatalf("positions = %v, want 1..10", positions(got))
		}
		for _, e := range got {
			if e.Recorded.Location() != time.UTC || e.Recorded.IsZero() {
				t.Fatalf("position %d delivered recorded at %v, want a time in UTC", e.Position, e.Recorded)
			}
		}
		sub.stop()
		if len(sub.events) != 10 {
			t.Fatalf("delivered %d events, want exactly 10", len(sub.events))
		}
		if !errors.Is(sub.err, context.Canceled) {
			t.Fatalf("subscription ended with %v, want context.Canceled", sub.err)
		}
	})
	t.Run("LongCatchUp", func(t *testing.T) {
		s := newStore(t)
		mustAppend(t, s, "a-1", chronicle.NoStream, events("E", 3000)...)
		sub := subscribe(t, s, chronicle.SubscribeOptions{})
		mustAppend(t, s, "a-1", chronicle.Any, events("E", 10)...)
		got := sub.waitFor(t, 3010)
		if !slices.Equal(positions(got), seq(1, 3010, 1)) {
			t.Fatalf("positions are not 1..3010")
		}
	})
	t.Run("LiveBurst", func(t *testing.T) {
		// Subscriptions that have caught up get an append of more events
		// than a page at once: each event once, in order, and as a read
		// of the log gives it, metadata and all.
		s := newStore(t)
		mustAppend(t, s, "a-1", chronicle.NoStream, event("E", 0))
		all := subscribe(t, s, chronicle.SubscribeOptions{})
		odd := subscribe(t, s, chronicle.SubscribeOptions{Filter: chronicle.Filter{Types: []string{"Odd"}}})
		all.waitFor(t, 1)
		burst := make([]chronicle.EventData, 1300)
		for i := range burst {
			burst[i] = event("Even", i)
			if i%2 == 1 {
				burst[i].Type = "Odd"
			}
			burst[i].Metadata = chronicle.Metadata{}.WithCorrelationID(fmt.Sprintf("c-%d", i))
		}
		mustAppend(t, s, "b-1", chronicle.NoStream, burst...)
		log := readAll(t, s, chronicle.ReadAllOptions{})
		var odds []chronicle.RecordedEvent
		for _, e := range log {
			if e.Type == "Odd" {
				odds = append(odds, e)
			}
		}
		for _, c := range []struct {
			name string
			sub  *subscriber
			want []chronicle.RecordedEvent
		}{{"unfiltered", all, log}, {"filtered", odd, odds}} {
			got := c.sub.waitFor(t, len(c.want))
			c.sub.stop()
			if len(c.sub.events) != len(c.want) {
				t.Fatalf("%s subscription delivered %d events, want %d", c.name, len(c.sub.events), len(c.want))
			}
			for i, e := range got {
				if d := eventDiff(e, c.want[i]); d != "" {
					t.Fatalf("%s subscription, event %d: %s, as a read of the log gives it", c.name, i, d)
				}
			}
		}
	})
	t.Run("WakeUps", func(t *testing.T) {
		// Appends that commit while a live subscriber is busy with the
		// events before them: the subscription must deliver them without
		// another append to wake it, however its reads and its waits
		// interleave with the commits.
		s := newStore(t)
		sub := subscribeSlowly(t, s, chronicle.SubscribeOptions{}, 2*time.Millisecond)
		n := 0
		for run := range 5 {
			for range 20 {
				mustAppend(t, s, "a-1", chronicle.Any, event("E", run))
				n++
			}
			sub.waitFor(t, n)
		}
	})
	t.Run("From", func(t *testing.T) {
		s := newStore(t)
		mustAppend(t, s, "a-1", chronicle.NoStream, events("E", 5)...)
		sub := subscribe(t, s, chronicle.SubscribeOptions{From: 4})
		mustAppend(t, s, "a-1", chronicle.Any, event("E", 5))
		got := sub.waitFor(t, 3)
		if !slices.Equal(positions(got), []uint64{4, 5, 6}) {
			t.Fatalf("positions = %v, want [4 5 6]", positions(got))
		}
	})
	t.Run("FromFuture", func(t *testing.T) {
		s := newStore(t)
		mustAppend(t, s, "a-1", chronicle.NoStream, events("E", 2)...)
		sub := subscribe(t, s, chronicle.SubscribeOptions{From: 4})
		mustAppend(t, s, "a-1", chronicle.Any, events("E", 3)...)
		got := sub.waitFor(t, 2)
		if !slices.Equal(positions(got), []uint64{4, 5}) {
			t.Fatalf("positions = %v, want [4 5]", positions(got))
		}
	})
	t.Run("Filter", func(t *testing.T) {
		s := newStore(t)
		sub := subscribe(t, s, chronicle.SubscribeOptions{Filter: chronicle.Filter{Categories: []string{"game"}, Types: []string{"Moved"}}})
		mustAppend(t, s, "game-1", chronicle.NoStream, event("Started", 0), event("Moved", 1))
		mustAppend(t, s, "chat-1", chronicle.NoStream, event("Moved", 0))
		mustAppend(t, s, "gamer-1", chronicle.NoStream, event("Moved", 0))
		mustAppend(t, s, "game-2", chronicle.NoStream, event("Moved", 0))
		got := sub.waitFor(t, 2)
		if !slices.Equal(positions(got), []uint64{2, 5}) {
			t.Fatalf("positions = %v, want [2 5]", positions(got))
		}
	})
	t.Run("Break", func(t *testing.T) {
		s := newStore(t)
		mustAppend(t, s, "a-1", chronicle.NoStream, events("E", 3)...)
		for range 50 {
			n := 0
			for _, err := range s.Subscribe(context.Background(), chronicle.SubscribeOptions{}) {
				if err != nil {
					t.Fatal(err)
				}
				if n++; n == 2 {
					break
				}
			}
		}
		mustAppend(t, s, "a-1", chronicle.Exact(2), event("E", 3))
	})
	t.Run("ContextEnds", func(t *testing.T) {
		s := newStore(t)
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		var last error
		for _, err := range s.Subscribe(ctx, chronicle.SubscribeOptions{}) {
			last = err
		}
		if !errors.Is(last, context.DeadlineExceeded) {
			t.Fatalf("subscription ended with %v, want context.DeadlineExceeded", last)
		}
	})
}

func testConcurrency(t *testing.T, newStore Factory) {
	t.Run("RacingWriters", func(t *testing.T) {
		// In each round every writer appends to the same stream expecting the
		// same revision: exactly one must win, the others must be told why.
		s := newStore(t)
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
				wg.Go(func() {
					<-start
					_, errs[w] = s.Append(context.Background(), "race", exp, event(fmt.Sprintf("W%d", w), round))
				})
			}
			close(start)
			wg.Wait()
			wins := 0
			for w, err := range errs {
				switch {
				case err == nil:
					wins++
				case errors.Is(err, chronicle.ErrWrongExpectedRevision):
					var wrong *chronicle.WrongExpectedRevisionError
					if !errors.As(err, &wrong) || wrong.Actual != chronicle.Exact(uint64(round)) {
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
		got := readStream(t, s, "race", chronicle.ReadStreamOptions{})
		if !slices.Equal(revisions(got), seq(0, rounds, 1)) {
			t.Fatalf("revisions = %v, want 0..%d", revisions(got), rounds-1)
		}
	})

	t.Run("GlobalOrder", func(t *testing.T) {
		// Many writers append to many streams while subscribers, started at
		// different times, follow the log. Every subscriber must see every
		// event exactly once, in the log's gapless order.
		s := newStore(t)
		const writers, appends = 8, 40
		subs := []*subscriber{subscribe(t, s, chronicle.SubscribeOptions{})}
		var wg sync.WaitGroup
		total := 0
		var mu sync.Mutex
		for w := range writers {
			wg.Go(func() {
				for i := range appends {
					n := 1 + (w+i)%3
					stream := fmt.Sprintf("w%d-%d", w, i%4)
					if i%5 == 0 {
						stream = "shared"
					}
					if _, err := s.Append(context.Background(), stream, chronicle.Any, events("E", n)...); err != nil {
						t.Errorf("writer %d: %v", w, err)
						return
					}
					mu.Lock()
					total += n
					mu.Unlock()
				}
			})
		}
		time.Sleep(5 * time.Millisecond)
		subs = append(subs, subscribe(t, s, chronicle.SubscribeOptions{}))
		wg.Wait()
		subs = append(subs, subscribe(t, s, chronicle.SubscribeOptions{}))
		log := readAll(t, s, chronicle.ReadAllOptions{})
		if len(log) != total {
			t.Fatalf("log holds %d events, writers appended %d", len(log), total)
		}
		if !slices.Equal(positions(log), seq(1, total, 1)) {
			t.Fatalf("log positions are not gapless 1..%d", total)
		}
		next := map[string]uint64{}
		for _, e := range log {
			if e.Revision != next[e.Stream] {
				t.Fatalf("%s: revision %d at position %d, want %d", e.Stream, e.Revision, e.Position, next[e.Stream])
			}
			next[e.Stream]++
		}
		for i, sub := range subs {
			got := sub.waitFor(t, total)
			sub.stop()
			if len(sub.events) != total {
				t.Fatalf("subscriber %d saw %d events, want exactly %d", i, len(sub.events), total)
			}
			for j, e := range got {
				if e.Position != log[j].Position || e.ID != log[j].ID {
					t.Fatalf("subscriber %d: event %d is %s at %d, log has %s at %d", i, j, e.ID, e.Position, log[j].ID, log[j].Position)
				}
			}
		}
	})

	t.Run("ReadersDuringWrites", func(t *testing.T) {
		s := newStore(t)
		mustAppend(t, s, "s", chronicle.NoStream, events("E", 100)...)
		ctx := testContext(t, time.Minute)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					got, err := stress.Collect(s.ReadStream(ctx, "s", chronicle.ReadStreamOptions{}))
					if err != nil {
						t.Errorf("read during writes: %v", err)
						return
					}
					if !slices.Equal(revisions(got), seq(0, len(got), 1)) {
						t.Errorf("read during writes saw revisions with a gap")
						return
					}
				}
			})
		}
		for i := range 50 {
			mustAppend(t, s, "s", chronicle.Exact(uint64(99+i)), event("E", i))
		}
		close(stop)
		wg.Wait()
	})
	t.Run("AbilitiesDuringWrites", func(t *testing.T) { testAbilitiesDuringWrites(t, newStore) })
}

// testAbilitiesDuringWrites calls each ability the store has that reads,
// and reads both ways, while another goroutine appends, sets metadata,
// saves snapshots, deletes and scavenges: run with -race, it finds a
// store whose abilities read what a write changes without the lock or
// transaction that the write takes, or whose scavenge changes what a
// reader holds. Each read must still succeed, and a stream read must
// give gapless revisions.
func testAbilitiesDuringWrites(t *testing.T, newStore Factory) {
	s := newStore(t)
	ctx := testContext(t, time.Minute)
	r, retention := has[chronicle.Retention](s)
	d, deletes := has[chronicle.Deleter](s)
	sc, scavenges := has[chronicle.Scavenger](s)
	ss, snapshots := has[chronicle.SnapshotStore](s)
	mustAppend(t, s, "s", chronicle.NoStream, event("E", 0))
	reads := []namedCall{
		{"ReadStream", func() error { return gapless(s.ReadStream(ctx, "s", chronicle.ReadStreamOptions{}), 1) }},
		{"ReadStream backwards", func() error {
			return gapless(s.ReadStream(ctx, "s", chronicle.ReadStreamOptions{Backwards: true, From: chronicle.End}), -1)
		}},
		{"ReadAll backwards", func() error {
			return firstError(s.ReadAll(ctx, chronicle.ReadAllOptions{Backwards: true, From: chronicle.End, Limit: 20}))
		}},
	}
	for _, c := range abilityCalls(ctx, s) {
		// Subscriptions wait for events; the others return.
		if !strings.HasPrefix(c.name, "Subscribe") && c.name != "Scavenge" && c.name != "SaveSnapshot" {
			reads = append(reads, c)
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	defer func() {
		close(stop)
		wg.Wait()
	}()
	for _, c := range reads {
		wg.Go(func() {
			// A pause between calls leaves a SQL store's writer the
			// time to commit.
			for {
				select {
				case <-stop:
					return
				case <-time.After(time.Millisecond):
				}
				if err := c.call(); err != nil {
					t.Errorf("%s during writes: %v", c.name, err)
					return
				}
			}
		})
	}
	// Rounds for a quarter of a second, ten at least: a store whose
	// calls are quick (in memory) goes through many, and so through
	// many scavenges under way as the readers read, while a slow one
	// (a SQL store under -race) is not held long.
	for i, began := 0, time.Now(); i < 10 || time.Since(began) < 250*time.Millisecond; i++ {
		res := mustAppend(t, s, "s", chronicle.Any, events("E", 3)...)
		mustAppend(t, s, fmt.Sprintf("o-%d", i), chronicle.NoStream, event("O", i))
		if retention {
			if err := r.SetStreamMetadata(ctx, "s", chronicle.StreamMetadata{MaxCount: 5}); err != nil {
				t.Fatal(err)
			}
		}
		if snapshots {
			snap := chronicle.Snapshot{Stream: "s", Revision: res.LastRevision, Type: "T", Version: 1, Data: []byte("{}")}
			if err := ss.SaveSnapshot(ctx, snap); err != nil {
				t.Fatal(err)
			}
		}
		if deletes {
			if err := d.Delete(ctx, fmt.Sprintf("o-%d", i), chronicle.Any); err != nil {
				t.Fatal(err)
			}
		}
		if scavenges {
			if _, err := sc.Scavenge(ctx, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// gapless drains a read of one stream and returns its error, or one
// saying where its revisions were not consecutive in the direction step.
func gapless(seq iter.Seq2[chronicle.RecordedEvent, error], step int) error {
	evs, err := stress.Collect(seq)
	if err != nil {
		return err
	}
	for i := 1; i < len(evs); i++ {
		if evs[i].Revision != uint64(int(evs[i-1].Revision)+step) {
			return fmt.Errorf("revision %d after %d", evs[i].Revision, evs[i-1].Revision)
		}
	}
	return nil
}
