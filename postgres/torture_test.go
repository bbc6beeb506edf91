package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/postgres"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// TestTorture is the proof that readers never skip an event. Writers of
// two stores on one schema append at once, some of them holding the head
// lock for a while before they commit, some having their checks go stale;
// a raw transaction takes the lock and rolls back, as a crashed append
// would; another holds a snapshot open throughout. Subscribers start at
// different times. Afterwards every subscriber must have seen every
// committed event exactly once, in one identical order, the log must be
// gapless, and each append's reported positions must hold its events.
func TestTorture(t *testing.T) {
	schema := newSchema(t)
	stores := []*postgres.Store{mustOpen(t, schema, nil), mustOpen(t, schema, nil)}
	for i, s := range stores {
		rng := rand.New(rand.NewPCG(uint64(i), 42))
		var mu sync.Mutex
		postgres.SetTestHook(s, func(stage string) {
			mu.Lock()
			r := rng.IntN(100)
			mu.Unlock()
			switch {
			case stage == "locked" && r < 15:
				// Positions handed out, not yet committed: a store that
				// numbered events from a sequence would let the other
				// store commit higher positions meanwhile.
				time.Sleep(time.Duration(5+r) * time.Millisecond)
			case stage == "checked" && r < 20:
				time.Sleep(time.Duration(r) * time.Millisecond / 4)
			}
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()

	var (
		subsMu sync.Mutex
		subs   []*follower
	)
	follow := func(s *postgres.Store) {
		subsMu.Lock()
		defer subsMu.Unlock()
		subs = append(subs, startFollower(ctx, s))
	}
	follow(stores[0])

	// A reader that keeps one snapshot open for the whole run.
	long := mustConnect(t)
	longTx, err := long.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := longTx.Exec(ctx, "SELECT count(*) FROM "+pgx.Identifier{schema, "events"}.Sanitize()); err != nil {
		t.Fatal(err)
	}

	// A transaction that takes the head lock, moves the head, waits and
	// rolls back, again and again: positions must not leak from it.
	stop := make(chan struct{})
	var bg sync.WaitGroup
	aborter := mustConnect(t)
	bg.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(15 * time.Millisecond):
			}
			tx, err := aborter.Begin(ctx)
			if err != nil {
				t.Errorf("aborter: %v", err)
				return
			}
			_, err = tx.Exec(ctx, "UPDATE "+pgx.Identifier{schema, "head"}.Sanitize()+" SET position = position + 7, written_by = schema_version")
			time.Sleep(10 * time.Millisecond)
			tx.Rollback(ctx)
			if err != nil {
				t.Errorf("aborter: %v", err)
				return
			}
		}
	})

	// Writers: each owns streams it appends to with exact revisions, and
	// all share a few streams they append to with Any, and one they race
	// on with exact revisions, retrying on conflict.
	const writers, appends = 12, 30
	type written struct {
		res chronicle.AppendResult
		ids []uuid.UUID
	}
	var (
		mu        sync.Mutex
		committed []written
		conflicts int
	)
	var wg sync.WaitGroup
	for w := range writers {
		s := stores[w%2]
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			own := map[string]chronicle.ExpectedRevision{}
			for i := range appends {
				if i == appends/2 && w == 0 {
					follow(stores[1])
				}
				n := 1 + rng.IntN(3)
				evs := make([]chronicle.EventData, n)
				ids := make([]uuid.UUID, n)
				for k := range evs {
					ids[k] = uuid.Must(uuid.NewV7())
					evs[k] = chronicle.EventData{ID: ids[k], Type: "T", Data: fmt.Appendf(nil, `{"w":%d,"i":%d}`, w, i)}
				}
				var stream string
				exp := chronicle.Any
				switch r := rng.IntN(10); {
				case r < 5:
					stream = fmt.Sprintf("own-%d-%d", w, i%3)
					ownExp, ok := own[stream]
					if !ok {
						ownExp = chronicle.NoStream
					}
					res, err := s.Append(ctx, stream, ownExp, evs...)
					if err != nil {
						t.Errorf("writer %d: %v", w, err)
						return
					}
					own[stream] = res.NextExpected()
					mu.Lock()
					committed = append(committed, written{res, ids})
					mu.Unlock()
					continue
				case r < 8:
					stream = fmt.Sprintf("shared-%d", r)
				default:
					stream = "contended"
				}
				for {
					if stream == "contended" {
						exp = lastRevision(ctx, t, s, stream)
					}
					res, err := s.Append(ctx, stream, exp, evs...)
					var wrong *chronicle.WrongExpectedRevisionError
					if errors.As(err, &wrong) {
						mu.Lock()
						conflicts++
						mu.Unlock()
						continue
					}
					if err != nil {
						t.Errorf("writer %d: %v", w, err)
						return
					}
					mu.Lock()
					committed = append(committed, written{res, ids})
					mu.Unlock()
					break
				}
			}
		})
	}
	time.Sleep(50 * time.Millisecond)
	follow(stores[0])
	wg.Wait()
	follow(stores[1])
	close(stop)
	bg.Wait()
	if err := longTx.Commit(ctx); err != nil {
		t.Fatalf("the long transaction: %v", err)
	}
	if t.Failed() {
		return
	}

	total := 0
	for _, c := range committed {
		total += len(c.ids)
	}
	var log []chronicle.RecordedEvent
	for e, err := range stores[1].ReadAll(ctx, chronicle.ReadAllOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		log = append(log, e)
	}
	if len(log) != total {
		t.Fatalf("log holds %d events, the writers committed %d", len(log), total)
	}
	for i, e := range log {
		if e.Position != uint64(i+1) {
			t.Fatalf("log position %d at index %d: not gapless", e.Position, i)
		}
		if i > 0 && e.Recorded.Before(log[i-1].Recorded) {
			t.Fatalf("event at %d recorded at %v, before the event at %d (%v)", e.Position, e.Recorded, i, log[i-1].Recorded)
		}
	}
	for _, c := range committed {
		for k, id := range c.ids {
			e := log[c.res.FirstPosition-1+uint64(k)]
			if e.ID != id || e.Revision != c.res.FirstRevision+uint64(k) {
				t.Fatalf("append reported %+v, but position %d holds %s at revision %d", c.res, e.Position, e.ID, e.Revision)
			}
		}
	}
	next := map[string]uint64{}
	for _, e := range log {
		if e.Revision != next[e.Stream] {
			t.Fatalf("%s: revision %d at position %d, want %d", e.Stream, e.Revision, e.Position, next[e.Stream])
		}
		next[e.Stream]++
	}
	for i, f := range subs {
		f.wait(t, total)
		// Give a duplicate, were there one, the time to arrive.
		time.Sleep(20 * time.Millisecond)
		got := f.stop()
		if len(got) != total {
			t.Fatalf("subscriber %d saw %d events, want exactly %d", i, len(got), total)
		}
		for j, e := range got {
			if e.Position != log[j].Position || e.ID != log[j].ID {
				t.Fatalf("subscriber %d: event %d is %s at %d; the log has %s at %d", i, j, e.ID, e.Position, log[j].ID, log[j].Position)
			}
		}
	}
	t.Logf("%d events in %d appends, %d conflicts, %d subscribers; batches checked again under the lock: %d + %d",
		total, len(committed), conflicts, len(subs), postgres.Relocked(stores[0]), postgres.Relocked(stores[1]))
}

// lastRevision reads a stream's last revision as an expectation.
func lastRevision(ctx context.Context, t *testing.T, s chronicle.Store, stream string) chronicle.ExpectedRevision {
	for e, err := range s.ReadStream(ctx, stream, chronicle.ReadStreamOptions{Backwards: true, From: chronicle.End, Limit: 1}) {
		if errors.Is(err, chronicle.ErrStreamNotFound) {
			return chronicle.NoStream
		}
		if err != nil {
			t.Errorf("read %s: %v", stream, err)
			return chronicle.Any
		}
		return chronicle.Exact(e.Revision)
	}
	return chronicle.NoStream
}

// follower collects what a subscription delivers.
type follower struct {
	mu     sync.Mutex
	events []chronicle.RecordedEvent
	err    error
	cancel context.CancelFunc
	done   chan struct{}
}

func startFollower(ctx context.Context, s chronicle.Store) *follower {
	ctx, cancel := context.WithCancel(ctx)
	f := &follower{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(f.done)
		for e, err := range s.Subscribe(ctx, chronicle.SubscribeOptions{}) {
			f.mu.Lock()
			if err != nil {
				f.err = err
				f.mu.Unlock()
				return
			}
			f.events = append(f.events, e)
			f.mu.Unlock()
		}
	}()
	return f
}

// wait waits until the follower holds n events, or 30 seconds.
func (f *follower) wait(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		f.mu.Lock()
		got, err := len(f.events), f.err
		f.mu.Unlock()
		if err != nil {
			t.Fatalf("subscription failed after %d events: %v", got, err)
		}
		if got >= n || time.Now().After(deadline) {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (f *follower) stop() []chronicle.RecordedEvent {
	f.cancel()
	<-f.done
	return f.events
}
