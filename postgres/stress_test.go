package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/postgres"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// TestStressReaders tries to make a reader of the global log lose,
// repeat, reorder or invent an event while appends commit from several
// stores on one schema, as from several processes. Each store's writers
// append random batches to shared streams, some refused for a wrong
// expected revision, some cancelled before or while the writer holds
// them (and then retried with the same event IDs, or not), while streams
// are soft-deleted and written again, which moves the head's
// meta_version under the batches in flight. Meanwhile subscriptions from
// the start, from the middle, and with a filter, follow the log on every
// store, and ReadAll loops, forwards and backwards, read it again and
// again.
//
// At the end the log must be gapless; every acknowledged append's events
// must be where it said; no refused append's event may be in it, and no
// event that no writer tried; every subscriber must have seen exactly the
// log from where it started (or its filter's part of it), in order, once.
func TestStressReaders(t *testing.T) {
	schema := newSchema(t)
	// The first store's subscribers never poll: only a notification, or
	// its own writer's wake-up, brings them events, so a lost wake-up
	// shows as a subscriber that never catches up.
	stores := []*postgres.Store{
		mustOpen(t, schema, &postgres.Options{PollInterval: time.Hour}),
		mustOpen(t, schema, &postgres.Options{MaxBatch: 4}),
		mustOpen(t, schema, nil),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	st := newStressState()
	var subs []*stressSub
	var subsMu sync.Mutex
	follow := func(s *postgres.Store, opts chronicle.SubscribeOptions) {
		sub := startStressSub(ctx, s, opts)
		subsMu.Lock()
		subs = append(subs, sub)
		subsMu.Unlock()
	}
	for _, s := range stores {
		follow(s, chronicle.SubscribeOptions{})
		follow(s, chronicle.SubscribeOptions{Filter: chronicle.Filter{Categories: []string{"b"}}})
	}

	const writeFor = 3 * time.Second
	deadline := time.Now().Add(writeFor)
	var writers, readers sync.WaitGroup
	stopReaders := make(chan struct{})
	for i, s := range stores {
		for g := range 5 {
			writers.Go(func() { stressWriter(ctx, t, s, st, uint64(i*100+g), deadline) })
		}
		readers.Go(func() { stressReadAll(ctx, t, s, st, uint64(i), stopReaders) })
	}
	// Soft deletes move meta_version, so that batches checked before one
	// are written nothing and checked again under the lock.
	writers.Go(func() {
		rng := rand.New(rand.NewPCG(99, 1))
		for time.Now().Before(deadline) {
			time.Sleep(time.Duration(5+rng.IntN(20)) * time.Millisecond)
			stream := stressStream(rng)
			err := stores[rng.IntN(len(stores))].Delete(ctx, stream, chronicle.Any)
			if err != nil && !errors.Is(err, chronicle.ErrStreamNotFound) {
				t.Errorf("delete %s: %v", stream, err)
				return
			}
		}
	})
	// Connections that fail: the writers' (so that batches fail at any
	// stage, some after their commit) and the LISTEN connections (so that
	// notifications are lost while they reconnect).
	admin := mustConnect(t)
	writers.Go(func() {
		rng := rand.New(rand.NewPCG(98, 1))
		for time.Now().Before(deadline) {
			time.Sleep(time.Duration(50+rng.IntN(150)) * time.Millisecond)
			var err error
			if rng.IntN(3) == 0 {
				_, err = admin.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = $1",
					"LISTEN "+pgx.Identifier{"chronicle:" + schema}.Sanitize())
			} else {
				var pid uint32
				if pid, err = postgres.WriterPID(ctx, stores[rng.IntN(len(stores))]); err == nil {
					time.Sleep(time.Duration(rng.IntN(3000)) * time.Microsecond)
					_, err = admin.Exec(ctx, "SELECT pg_terminate_backend($1)", int32(pid))
				}
			}
			if err != nil {
				t.Errorf("end a connection: %v", err)
				return
			}
			st.mu.Lock()
			st.kills++
			st.mu.Unlock()
		}
	})
	// Subscriptions that start while the writers write, from wherever the
	// log has reached.
	writers.Go(func() {
		for k := range 6 {
			time.Sleep(writeFor / 8)
			from := st.lastAcked() + uint64(k%3) // at, or past, the end
			follow(stores[k%len(stores)], chronicle.SubscribeOptions{From: from})
		}
	})
	writers.Wait()
	close(stopReaders)
	readers.Wait()
	if t.Failed() {
		return
	}

	log, err := collectAll(stores[2].ReadAll(ctx, chronicle.ReadAllOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range log {
		if e.Position != uint64(i+1) {
			t.Fatalf("the log has position %d at index %d: it is not gapless", e.Position, i)
		}
	}
	st.check(t, log)
	if t.Failed() {
		return
	}
	var filtered []chronicle.RecordedEvent
	for _, e := range log {
		if strings.HasPrefix(e.Stream, "b-") {
			filtered = append(filtered, e)
		}
	}
	for i, sub := range subs {
		want := log
		switch {
		case sub.opts.Filter.Categories != nil:
			want = filtered
		case sub.opts.From > 0:
			want = log[min(int(sub.opts.From)-1, len(log)):]
		}
		got := sub.waitFor(t, want)
		if len(got) != len(want) {
			t.Errorf("subscriber %d (%+v) saw %d events, want %d", i, sub.opts, len(got), len(want))
			continue
		}
		for j, e := range got {
			if e.Position != want[j].Position || e.ID != want[j].ID {
				t.Errorf("subscriber %d (%+v): event %d is %s at %d; the log has %s at %d", i, sub.opts, j, e.ID, e.Position, want[j].ID, want[j].Position)
				break
			}
		}
	}
	t.Logf("%d events; %d appends acknowledged, %d refused, %d cancelled, %d failed with %d connections ended; %d subscribers; batches checked again under the lock: %d %d %d",
		len(log), st.acks, st.refusals, st.cancels, st.failures, st.kills, len(subs),
		postgres.Relocked(stores[0]), postgres.Relocked(stores[1]), postgres.Relocked(stores[2]))
}

// stressStream picks one of the streams the writers share, in two
// categories.
func stressStream(rng *rand.Rand) string {
	return fmt.Sprintf("%c-%d", "ab"[rng.IntN(2)], rng.IntN(12))
}

// stressState is what the writers of TestStressReaders know: what was
// acknowledged, refused, or may have been written, and what the readers
// saw at each position.
type stressState struct {
	mu       sync.Mutex
	acked    map[uuid.UUID]uint64 // event ID -> the position its append reported
	refused  map[uuid.UUID]bool   // events of appends refused: never written
	maybe    map[uuid.UUID]bool   // events of appends cancelled or failed
	seen     map[uint64]uuid.UUID // position -> the event ID a reader saw there
	last     uint64               // the highest position acknowledged
	acks     int
	refusals int
	cancels  int
	said     map[uuid.UUID]string
	failures int // appends failed for a connection that ended
	kills    int // connections ended
}

func newStressState() *stressState {
	return &stressState{
		acked: map[uuid.UUID]uint64{}, refused: map[uuid.UUID]bool{},
		maybe: map[uuid.UUID]bool{}, said: map[uuid.UUID]string{}, seen: map[uint64]uuid.UUID{},
	}
}

func (st *stressState) lastAcked() uint64 {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.last
}

// ack records an acknowledged append, and fails the test when a retry's
// acknowledgement moves an event to another position.
func (st *stressState) ack(t *testing.T, ids []uuid.UUID, res chronicle.AppendResult) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.acks++
	if n := res.LastPosition - res.FirstPosition + 1; n != uint64(len(ids)) {
		t.Errorf("an append of %d events reported positions %d to %d", len(ids), res.FirstPosition, res.LastPosition)
	}
	for k, id := range ids {
		pos := res.FirstPosition + uint64(k)
		if old, ok := st.acked[id]; ok && old != pos {
			t.Errorf("event %s acknowledged at %d, then at %d", id, old, pos)
		}
		st.acked[id] = pos
		delete(st.maybe, id)
	}
	st.last = max(st.last, res.LastPosition)
}

// saw records that a reader found id at pos, and fails the test when
// another reader found another event there.
func (st *stressState) saw(t *testing.T, who string, e chronicle.RecordedEvent) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	if old, ok := st.seen[e.Position]; ok && old != e.ID {
		t.Errorf("%s found %s at position %d, where another read found %s", who, e.ID, e.Position, old)
		return false
	}
	st.seen[e.Position] = e.ID
	return true
}

// check compares the final log with what the writers and readers know.
func (st *stressState) check(t *testing.T, log []chronicle.RecordedEvent) {
	st.mu.Lock()
	defer st.mu.Unlock()
	at := map[uuid.UUID]uint64{}
	next := map[string]uint64{}
	for _, e := range log {
		if p, ok := at[e.ID]; ok {
			t.Errorf("event %s is in the log twice, at %d and %d", e.ID, p, e.Position)
		}
		at[e.ID] = e.Position
		if st.refused[e.ID] {
			t.Errorf("event %s at %d was in an append that was refused (%s)", e.ID, e.Position, st.said[e.ID])
		}
		if _, ok := st.acked[e.ID]; !ok && !st.maybe[e.ID] {
			t.Errorf("event %s at %d was in no append that may have been written", e.ID, e.Position)
		}
		if id, ok := st.seen[e.Position]; ok && id != e.ID {
			t.Errorf("a reader found %s at %d, where the log holds %s", id, e.Position, e.ID)
		}
		// A soft delete hides a stream's events, and an append after it
		// goes on with the revisions: they only grow.
		if e.Revision < next[e.Stream] {
			t.Errorf("%s: revision %d at position %d, after revision %d", e.Stream, e.Revision, e.Position, next[e.Stream]-1)
		}
		next[e.Stream] = e.Revision + 1
	}
	for id, pos := range st.acked {
		if at[id] != pos {
			t.Errorf("event %s was acknowledged at %d; the log has it at %d (0: nowhere)", id, pos, at[id])
		}
	}
	for p := range st.seen {
		if p > uint64(len(log)) {
			t.Errorf("a reader found an event at %d, past the end of the log (%d)", p, len(log))
		}
	}
}

// stressWriter appends random batches to the shared streams until
// deadline, with expected revisions that are right, stale, or wrong on
// purpose, and contexts that end before or during some appends.
func stressWriter(ctx context.Context, t *testing.T, s *postgres.Store, st *stressState, seed uint64, deadline time.Time) {
	rng := rand.New(rand.NewPCG(seed, 3))
	known := map[string]uint64{} // stream -> the next revision, as this writer last saw it
	for time.Now().Before(deadline) {
		stream := stressStream(rng)
		n := 1 + rng.IntN(8)
		if rng.IntN(40) == 0 {
			n = 100 + rng.IntN(600) // past a reader's page
		}
		evs := make([]chronicle.EventData, n)
		ids := make([]uuid.UUID, n)
		for k := range evs {
			ids[k] = uuid.Must(uuid.NewV7())
			evs[k] = chronicle.EventData{ID: ids[k], Type: "T", Data: []byte(`{}`)}
		}
		exp := chronicle.Any
		switch r := rng.IntN(10); {
		case r < 4:
			if next, ok := known[stream]; ok {
				exp = chronicle.Exact(next - 1) // stale when another writer came first
			} else {
				exp = chronicle.NoStream
			}
		case r < 5:
			exp = chronicle.Exact(1 << 40) // always wrong
		case r < 6:
			exp = chronicle.StreamExists
		}
		actx, acancel := context.WithCancel(ctx)
		switch r := rng.IntN(10); {
		case r == 0:
			acancel() // before the writer can take it
		case r < 3:
			time.AfterFunc(time.Duration(rng.IntN(3000))*time.Microsecond, acancel)
		}
		res, err := s.Append(actx, stream, exp, evs...)
		acancel()
		if errors.Is(err, context.Canceled) && ctx.Err() == nil {
			st.mu.Lock()
			st.cancels++
			for _, id := range ids {
				st.maybe[id] = true
			}
			st.mu.Unlock()
			if rng.IntN(2) == 0 {
				continue
			}
			// Retry with the same IDs: an append that committed is
			// acknowledged where it was written.
			res, err = s.Append(ctx, stream, exp, evs...)
		}
		var wrong *chronicle.WrongExpectedRevisionError
		switch {
		case err == nil:
			st.ack(t, ids, res)
			known[stream] = res.LastRevision + 1
		case errors.As(err, &wrong):
			st.mu.Lock()
			st.refusals++
			if !st.maybe[ids[0]] {
				for _, id := range ids {
					st.refused[id] = true
				}
			}
			st.mu.Unlock()
			delete(known, stream)
			if rev, ok := wrong.Actual.Revision(); ok {
				known[stream] = rev + 1
			}
		case strings.Contains(err.Error(), "may have been written"):
			// The connection failed as the batch committed, or not.
			st.mu.Lock()
			st.failures++
			for _, id := range ids {
				st.maybe[id] = true
			}
			st.mu.Unlock()
		case isConnectionEnded(err):
			// Said to have written nothing: none of it may be in the log.
			st.mu.Lock()
			st.said[ids[0]] = err.Error()
			st.failures++
			if !st.maybe[ids[0]] {
				for _, id := range ids {
					st.refused[id] = true
				}
			}
			st.mu.Unlock()
		case errors.Is(err, chronicle.ErrIdempotencyConflict):
			// A retry that found only part of its events, or the stream
			// deleted since: the first attempt's outcome stays unknown.
		default:
			t.Errorf("append %d events to %s expecting %v: %v", n, stream, exp, err)
			return
		}
	}
}

// stressReadAll reads the log again and again, until stop: whole,
// from a random position with a limit, and backwards from the end.
// Forwards, a read of a gapless log must find positions one after
// another from where it starts; backwards, one before another.
func stressReadAll(ctx context.Context, t *testing.T, s *postgres.Store, st *stressState, seed uint64, stop <-chan struct{}) {
	rng := rand.New(rand.NewPCG(seed, 5))
	for {
		select {
		case <-stop:
			return
		default:
		}
		var opts chronicle.ReadAllOptions
		switch rng.IntN(3) {
		case 1:
			opts.From = 1 + uint64(rng.Int64N(int64(st.lastAcked()+1)))
			opts.Limit = 1 + rng.IntN(1200)
		case 2:
			opts.Backwards, opts.From = true, chronicle.End
		}
		var prev uint64 // the position of the event before, 0 at first
		n := 0
		for e, err := range s.ReadAll(ctx, opts) {
			if err != nil {
				t.Errorf("ReadAll(%+v): %v", opts, err)
				return
			}
			want := prev + 1
			switch {
			case n == 0 && opts.Backwards:
				want = e.Position
			case n == 0:
				want = max(opts.From, 1)
			case opts.Backwards:
				want = prev - 1
			}
			if e.Position != want {
				t.Errorf("ReadAll(%+v): event %d is at position %d, want %d", opts, n, e.Position, want)
				return
			}
			if !st.saw(t, "ReadAll", e) {
				return
			}
			prev = e.Position
			n++
		}
		if opts.Backwards && n > 0 && prev != 1 {
			t.Errorf("ReadAll backwards from the end stopped at position %d, before reaching 1", prev)
			return
		}
	}
}

// isConnectionEnded reports whether err comes of a connection that the
// server ended, or that broke.
func isConnectionEnded(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "57P01" // admin_shutdown: pg_terminate_backend
	}
	return pgconn.SafeToRetry(err) || strings.Contains(err.Error(), "conn closed") || strings.Contains(err.Error(), "unexpected EOF")
}

// collectAll gathers what a read yields, up to its first error.
func collectAll(seq func(func(chronicle.RecordedEvent, error) bool)) ([]chronicle.RecordedEvent, error) {
	var out []chronicle.RecordedEvent
	for e, err := range seq {
		if err != nil {
			return out, err
		}
		out = append(out, e)
	}
	return out, nil
}

// stressSub follows the log and checks, as events arrive, that their
// positions only grow.
type stressSub struct {
	opts   chronicle.SubscribeOptions
	mu     sync.Mutex
	events []chronicle.RecordedEvent
	err    error
	cancel context.CancelFunc
	done   chan struct{}
}

func startStressSub(ctx context.Context, s chronicle.Store, opts chronicle.SubscribeOptions) *stressSub {
	ctx, cancel := context.WithCancel(ctx)
	sub := &stressSub{opts: opts, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(sub.done)
		for e, err := range s.Subscribe(ctx, opts) {
			sub.mu.Lock()
			if err == nil && len(sub.events) > 0 && e.Position <= sub.events[len(sub.events)-1].Position {
				err = fmt.Errorf("position %d after %d", e.Position, sub.events[len(sub.events)-1].Position)
			}
			if err != nil {
				sub.err = err
				sub.mu.Unlock()
				return
			}
			sub.events = append(sub.events, e)
			sub.mu.Unlock()
		}
	}()
	return sub
}

// waitFor waits until the subscriber holds want's last event, or 20
// seconds, then a little longer for a duplicate to show, stops it and
// returns what it saw.
func (sub *stressSub) waitFor(t *testing.T, want []chronicle.RecordedEvent) []chronicle.RecordedEvent {
	t.Helper()
	end := time.Now().Add(20 * time.Second)
	for {
		sub.mu.Lock()
		n, err := len(sub.events), sub.err
		reached := len(want) == 0 || n > 0 && sub.events[n-1].Position >= want[len(want)-1].Position
		sub.mu.Unlock()
		if err != nil {
			t.Errorf("subscription %+v failed after %d events: %v", sub.opts, n, err)
			break
		}
		if reached || time.Now().After(end) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(10 * time.Millisecond)
	sub.cancel()
	<-sub.done
	return slices.Clone(sub.events)
}
