// Package stress helps the stress tests of the stores (TestStressReaders
// in packages postgres and sqlite) try to make a reader of the global
// log, or of a stream, lose, repeat, reorder or invent an event while
// appends commit from several stores on one database: writers of random
// batches, loops of reads and subscribers that check what they find as
// they go, and a [State] that compares the final log with what every
// writer was told and every reader found.
package stress

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chronicle-es/chronicle"
	"github.com/google/uuid"
)

// Stream picks one of the streams the writers share, in two categories,
// "a" and "b".
func Stream(rng *rand.Rand) string {
	return fmt.Sprintf("%c-%d", "ab"[rng.IntN(2)], rng.IntN(Streams))
}

// Streams is how many streams of each category [Stream] picks from.
const Streams = 12

// State is what the writers know: what was acknowledged, refused, or
// may have been written, and what the readers found at each position.
// It is safe for concurrent use.
type State struct {
	mu      sync.Mutex
	acked   map[uuid.UUID]uint64 // event ID -> the position its append reported
	refused map[uuid.UUID]bool   // events of appends that wrote nothing
	maybe   map[uuid.UUID]bool   // events of appends whose outcome is unknown
	said    map[uuid.UUID]string // why an event is in refused
	seen    map[uint64]uuid.UUID // position -> the event ID a reader found there
	last    uint64               // the highest position acknowledged
	next    map[string]uint64    // stream -> 1 + its highest revision acknowledged since its last delete
	changes map[string]int       // stream -> 2 × its deletes and metadata changes done, +1 while one is under way
	counts  map[string]int
}

// NewState returns the State of a test that has not begun.
func NewState() *State {
	return &State{
		acked: map[uuid.UUID]uint64{}, refused: map[uuid.UUID]bool{}, maybe: map[uuid.UUID]bool{},
		said: map[uuid.UUID]string{}, seen: map[uint64]uuid.UUID{},
		next: map[string]uint64{}, changes: map[string]int{}, counts: map[string]int{},
	}
}

// Count counts one more of what, for the test's log (see [State.Counts]).
func (st *State) Count(what string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.counts[what]++
}

// Counts says how many of each thing were counted, and appends
// acknowledged.
func (st *State) Counts() string {
	st.mu.Lock()
	defer st.mu.Unlock()
	out := []string{}
	for _, what := range slices.Sorted(func(yield func(string) bool) {
		for k := range st.counts {
			if !yield(k) {
				return
			}
		}
	}) {
		out = append(out, fmt.Sprintf("%d %s", st.counts[what], what))
	}
	return strings.Join(out, ", ")
}

// LastAcked returns the highest position acknowledged.
func (st *State) LastAcked() uint64 {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.last
}

// Ack records an acknowledged append of ids to stream, and fails the
// test when a retry's acknowledgement moves an event to another position.
func (st *State) Ack(t testing.TB, stream string, ids []uuid.UUID, res chronicle.AppendResult) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.counts["appends acknowledged"]++
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
		delete(st.refused, id)
	}
	st.last = max(st.last, res.LastPosition)
	st.next[stream] = max(st.next[stream], res.LastRevision+1)
}

// Maybe records an append whose outcome is unknown: its events may be in
// the log, once.
func (st *State) Maybe(ids []uuid.UUID) {
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, id := range ids {
		st.maybe[id] = true
	}
}

// Refuse records an append that wrote nothing, for the reason why:
// unless an earlier attempt with the same IDs may have been written, or
// was acknowledged, none of its events may be in the log.
func (st *State) Refuse(ids []uuid.UUID, why string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.maybe[ids[0]] {
		return
	}
	for _, id := range ids {
		if _, ok := st.acked[id]; !ok {
			st.refused[id], st.said[id] = true, why
		}
	}
}

// Saw records that a reader (who) found e at its position, and fails
// the test, and returns false, when another reader found another event
// there.
func (st *State) Saw(t testing.TB, who string, e chronicle.RecordedEvent) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	if old, ok := st.seen[e.Position]; ok && old != e.ID {
		t.Errorf("%s found %s at position %d, where another read found %s", who, e.ID, e.Position, old)
		return false
	}
	st.seen[e.Position] = e.ID
	return true
}

// Changing marks a delete or metadata change of stream under way (start)
// or done; a delete done hides every revision acknowledged before it.
// Reads of the stream that overlap it check less (see [ReadStreams]).
func (st *State) Changing(stream string, start, deleted bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.changes[stream]++
	if deleted {
		st.next[stream] = 0
	}
}

// before returns what a read of stream that begins now must find: 1 +
// the highest revision acknowledged, and the count of the stream's
// deletes and metadata changes, to be given to unchanged when the read
// ends.
func (st *State) before(stream string) (next uint64, changes int) {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.next[stream], st.changes[stream]
}

// unchanged reports whether no delete or metadata change of stream ran
// since before returned changes. Each page of a read applies the
// stream's metadata as it is then, so that one that ran meanwhile may
// hide the revisions between two pages, or all that follow.
func (st *State) unchanged(stream string, changes int) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return changes%2 == 0 && st.changes[stream] == changes
}

// Check compares the final log, which must be gapless, with what the
// writers and readers know.
func (st *State) Check(t testing.TB, log []chronicle.RecordedEvent) {
	st.mu.Lock()
	defer st.mu.Unlock()
	at := map[uuid.UUID]uint64{}
	next := map[string]uint64{}
	for i, e := range log {
		if e.Position != uint64(i+1) {
			t.Errorf("the log has position %d at index %d: it is not gapless", e.Position, i)
			return
		}
		if p, ok := at[e.ID]; ok {
			t.Errorf("event %s is in the log twice, at %d and %d", e.ID, p, e.Position)
		}
		at[e.ID] = e.Position
		_, acked := st.acked[e.ID]
		switch {
		case st.refused[e.ID]:
			t.Errorf("event %s at %d was in an append that wrote nothing (%s)", e.ID, e.Position, st.said[e.ID])
		case !acked && !st.maybe[e.ID]:
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

// Writer appends random batches to the shared streams, with expected
// revisions that are right, stale, or wrong on purpose, and contexts
// that end before or during some appends.
type Writer struct {
	Store chronicle.Store
	State *State
	Seed  uint64
	// MaxLarge bounds the size of the rare large batches, past a
	// reader's page.
	MaxLarge int
	// CancelWritesNothing says that an append that fails for its
	// context wrote nothing; otherwise its outcome is unknown.
	CancelWritesNothing bool
	// Failed, if not nil, deals with an error other than a refusal, and
	// reports whether the test expects it.
	Failed func(err error, ids []uuid.UUID) bool
}

// Run appends until deadline, or the test fails.
func (w Writer) Run(ctx context.Context, t testing.TB, deadline time.Time) {
	st := w.State
	rng := rand.New(rand.NewPCG(w.Seed, 3))
	known := map[string]uint64{} // stream -> the next revision, as this writer last saw it
	for time.Now().Before(deadline) {
		stream := Stream(rng)
		n := 1 + rng.IntN(8)
		if rng.IntN(50) == 0 {
			n = 100 + rng.IntN(w.MaxLarge-100)
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
		res, err := w.Store.Append(actx, stream, exp, evs...)
		acancel()
		if errors.Is(err, context.Canceled) && ctx.Err() == nil {
			st.Count("appends cancelled")
			if w.CancelWritesNothing {
				st.Refuse(ids, "cancelled")
			} else {
				st.Maybe(ids)
			}
			if rng.IntN(2) == 0 {
				continue
			}
			// Retry with the same IDs: an append that committed is
			// acknowledged where it was written.
			res, err = w.Store.Append(ctx, stream, exp, evs...)
		}
		var wrong *chronicle.WrongExpectedRevisionError
		switch {
		case err == nil:
			st.Ack(t, stream, ids, res)
			known[stream] = res.LastRevision + 1
		case errors.As(err, &wrong):
			st.Count("appends refused")
			st.Refuse(ids, err.Error())
			delete(known, stream)
			if rev, ok := wrong.Actual.Revision(); ok {
				known[stream] = rev + 1
			}
		case w.Failed != nil && w.Failed(err, ids):
		default:
			t.Errorf("append %d events to %s expecting %v: %v", n, stream, exp, err)
			return
		}
	}
}

// ReadAll reads the log of s again and again, until stop: mostly near
// its end, where the appends are, and at times whole, forwards or
// backwards. Forwards, a read of a gapless log must find positions one
// after another from where it starts; backwards, one before another;
// and a read of the whole log must reach the last position acknowledged
// before it began.
func ReadAll(ctx context.Context, t testing.TB, s chronicle.Store, st *State, seed uint64, stop <-chan struct{}) {
	rng := rand.New(rand.NewPCG(seed, 5))
	for !stopped(stop) {
		var opts chronicle.ReadAllOptions
		switch r := rng.IntN(8); {
		case r == 0:
		case r == 1:
			opts.Backwards, opts.From = true, chronicle.End
		case r == 2:
			opts.Backwards, opts.From, opts.Limit = true, chronicle.End, 1+rng.IntN(600)
		default:
			last := st.LastAcked()
			opts.From = last - min(last, uint64(rng.IntN(1200)))
			if r < 6 {
				opts.Limit = 1 + rng.IntN(1200)
			}
		}
		acked := st.LastAcked()
		var prev, last uint64 // the positions of the event before, and of the last
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
			if !st.Saw(t, "ReadAll", e) {
				return
			}
			if n == 0 || !opts.Backwards {
				last = e.Position
			}
			prev = e.Position
			n++
		}
		if opts.Limit == 0 && last < acked {
			t.Errorf("ReadAll(%+v) ended at position %d, though %d was acknowledged before it began", opts, last, acked)
			return
		}
		if opts.Backwards && opts.Limit == 0 && n > 0 && prev != 1 {
			t.Errorf("ReadAll backwards from the end stopped at position %d, before reaching 1", prev)
			return
		}
	}
}

// ReadStreams reads random streams of s again and again, until stop,
// mostly forwards and whole, and checks that their revisions follow one
// another, that their positions grow, that each event is the one other
// readers found at its position, and that a read reaches the last
// revision acknowledged before it began (unless a delete or metadata
// change overlapped it).
func ReadStreams(ctx context.Context, t testing.TB, s chronicle.Store, st *State, seed uint64, stop <-chan struct{}) {
	rng := rand.New(rand.NewPCG(seed, 7))
	for !stopped(stop) {
		stream := Stream(rng)
		var opts chronicle.ReadStreamOptions
		if rng.IntN(4) == 0 {
			opts.Backwards, opts.From = true, chronicle.End
		}
		next, changes := st.before(stream)
		var prev, last chronicle.RecordedEvent
		n := 0
		for e, err := range s.ReadStream(ctx, stream, opts) {
			if errors.Is(err, chronicle.ErrStreamNotFound) {
				break
			}
			if err != nil {
				t.Errorf("ReadStream(%s, %+v): %v", stream, opts, err)
				return
			}
			// Revisions follow one another, but for those that a change of
			// metadata between two pages hid.
			bad := e.Stream != stream
			if n > 0 && opts.Backwards {
				bad = bad || e.Revision+1 != prev.Revision || e.Position >= prev.Position
			} else if n > 0 {
				bad = bad || e.Revision <= prev.Revision || e.Position <= prev.Position ||
					e.Revision != prev.Revision+1 && st.unchanged(stream, changes)
			}
			if bad {
				t.Errorf("ReadStream(%s, %+v): event %d is %s revision %d at %d, after revision %d at %d", stream, opts, n, e.Stream, e.Revision, e.Position, prev.Revision, prev.Position)
				return
			}
			if !st.Saw(t, "ReadStream", e) {
				return
			}
			if n == 0 || !opts.Backwards {
				last = e
			}
			prev = e
			n++
		}
		// Retention may hide every event, but not the last one alone.
		if n > 0 && next > 0 && st.unchanged(stream, changes) && last.Revision+1 < next {
			t.Errorf("ReadStream(%s, %+v) ended at revision %d, though revision %d was acknowledged before it began", stream, opts, last.Revision, next-1)
			return
		}
	}
}

// stopped reports whether stop is closed.
func stopped(stop <-chan struct{}) bool {
	select {
	case <-stop:
		return true
	default:
		return false
	}
}

// Collect gathers what a read yields, up to its first error.
func Collect(seq iter.Seq2[chronicle.RecordedEvent, error]) ([]chronicle.RecordedEvent, error) {
	var out []chronicle.RecordedEvent
	for e, err := range seq {
		if err != nil {
			return out, err
		}
		out = append(out, e)
	}
	return out, nil
}

// Subscribers follow the log, and check, as events arrive, that their
// positions only grow. It is safe for concurrent use.
type Subscribers struct {
	ctx  context.Context
	mu   sync.Mutex
	subs []*sub
}

// NewSubscribers returns Subscribers whose subscriptions end with ctx,
// or at Check.
func NewSubscribers(ctx context.Context) *Subscribers { return &Subscribers{ctx: ctx} }

// sub is one subscription.
type sub struct {
	opts   chronicle.SubscribeOptions
	mu     sync.Mutex
	events []chronicle.RecordedEvent
	err    error
	cancel context.CancelFunc
	done   chan struct{}
}

// FollowAll subscribes to s from the start, once to the whole log and
// once to the category "b".
func (subs *Subscribers) FollowAll(s chronicle.Store) {
	subs.Follow(s, chronicle.SubscribeOptions{})
	subs.Follow(s, chronicle.SubscribeOptions{Filter: chronicle.Filter{Categories: []string{"b"}}})
}

// FollowLater subscribes six times, every interval, while the writers
// write, from wherever the log has reached: the kth time to store(k),
// from the last position acknowledged, or one or two past it.
func (subs *Subscribers) FollowLater(st *State, every time.Duration, store func(k int) chronicle.Store) {
	for k := range 6 {
		time.Sleep(every)
		from := st.LastAcked() + uint64(k%3) // at, or past, the end
		subs.Follow(store(k), chronicle.SubscribeOptions{From: from})
	}
}

// Follow subscribes to s with opts. The filter, if any, must be the
// category "b".
func (subs *Subscribers) Follow(s chronicle.Store, opts chronicle.SubscribeOptions) {
	ctx, cancel := context.WithCancel(subs.ctx)
	sub := &sub{opts: opts, cancel: cancel, done: make(chan struct{})}
	subs.mu.Lock()
	subs.subs = append(subs.subs, sub)
	subs.mu.Unlock()
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
}

// Check waits for every subscriber to reach the end of log, within wait,
// stops them, and checks that each saw exactly the log from where it
// started, or its filter's part of it, in order, once. It returns how
// many subscribers there were.
func (subs *Subscribers) Check(t testing.TB, log []chronicle.RecordedEvent, wait time.Duration) int {
	t.Helper()
	var filtered []chronicle.RecordedEvent
	for _, e := range log {
		if strings.HasPrefix(e.Stream, "b-") {
			filtered = append(filtered, e)
		}
	}
	subs.mu.Lock()
	all := slices.Clone(subs.subs)
	subs.mu.Unlock()
	end := time.Now().Add(wait)
	for i, sub := range all {
		want := log
		switch {
		case sub.opts.Filter.Categories != nil:
			want = filtered
		case sub.opts.From > 0:
			want = log[min(int(sub.opts.From)-1, len(log)):]
		}
		got := sub.waitFor(t, want, end)
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
	return len(all)
}

// waitFor waits until the subscriber holds want's last event, or end,
// then a little longer for a duplicate to show, stops it and returns
// what it saw.
func (sub *sub) waitFor(t testing.TB, want []chronicle.RecordedEvent, end time.Time) []chronicle.RecordedEvent {
	t.Helper()
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
	sub.mu.Lock()
	defer sub.mu.Unlock()
	return slices.Clone(sub.events)
}
