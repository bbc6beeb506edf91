// Package streamsub follows one stream of a store for the servers'
// subscriptions (server's Server-Sent Events, kurrentserver's gRPC), so
// that both send what a read of the stream shows, by the same rules.
//
// A [Hub] serves all the subscriptions of one server: those to the same
// stream share one subscription to the log and one read of the stream for
// each append, rather than a read each, so that an append to a stream
// with many subscribers costs the store one read.
package streamsub

import (
	"context"
	"errors"
	"iter"
	"sync"
	"time"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/projection"
)

// memberBatches is how many reads a subscription may fall behind the
// others before it reads the stream for itself: a slow client neither
// holds the others back nor makes its reads pile up in memory.
const memberBatches = 16

// Hub follows the streams of one store for the subscriptions of a
// server. It is safe for concurrent use; its zero value is not: make it
// with [NewHub]. It holds a goroutine for each stream that has live
// subscriptions, which ends when the last of them does.
type Hub struct {
	store chronicle.Store
	// hides is whether the store can hide events (metadata, deletes), so
	// that the live part must read the stream for what a read shows.
	hides bool
	// deleteCheck is how often a follower of a store that deletes looks
	// whether its stream was tombstoned (deleteCheckEvery; tests change
	// it), 0 for a store that cannot tombstone.
	deleteCheck time.Duration

	mu      sync.Mutex
	streams map[string]*follower // by stream, while it has subscriptions
}

// NewHub returns a hub for store.
func NewHub(store chronicle.Store) *Hub {
	_, retains := store.(chronicle.Retention)
	_, deletes := store.(chronicle.Deleter)
	h := &Hub{store: store, hides: retains || deletes, streams: map[string]*follower{}}
	if deletes {
		h.deleteCheck = deleteCheckEvery
	}
	return h
}

// deleteCheckEvery is how often a follower looks whether its stream was
// tombstoned. A tombstone writes nothing to the log, which the follower
// follows: without a look, its subscriptions would wait for events that
// can never come, rather than end with the store's ErrStreamDeleted as
// one begun after the tombstone does. A look is one read of at most one
// event.
const deleteCheckEvery = time.Second

// follower follows one stream for the live subscriptions to it: it reads
// the stream once for each append, and hands each of them what it read.
type follower struct {
	stream string
	cancel context.CancelFunc // ends run, once the last member leaves
	exited chan struct{}      // closed when run returns

	// Under Hub.mu.
	members map[*member]struct{}
	next    uint64        // the revision that the next read starts at
	reads   uint64        // the reads begun
	failed  chan struct{} // closed when the log or a read failed
	err     error         // why, once failed is closed
}

// member is one subscription's place in a follower.
type member struct {
	batches chan batch
	// Under Hub.mu.
	missed bool   // a batch did not fit in batches
	joined uint64 // the follower's reads begun before the member joined
}

// batch is what a read of the stream from revision from showed.
type batch struct {
	from   uint64
	events []chronicle.RecordedEvent
	// early, in place of the events, tells a member that the read began
	// before it joined: it may show what the member started too late
	// to see (events that a delete or the metadata hid before), so the
	// member reads for itself instead, after it, so as to miss none of
	// what it showed either.
	early bool
}

// Stream follows one stream: [Stream.CatchUp] yields the events it holds,
// then [Stream.Live] those appended later. Together they yield each event
// once, in revision order, when a read of the stream shows it at the time:
// the events that the stream's metadata or a soft delete hides are left
// out, live ones too.
type Stream struct {
	hub   *Hub
	name  string
	next  uint64 // the first revision not yet yielded
	after uint64 // the live part follows the global log after this position
}

// Start begins following stream. It takes the head of the global log
// first, before the caller decides where the catch-up starts, so that an
// event committed meanwhile is found by the catch-up or by the live part.
func (h *Hub) Start(ctx context.Context, stream string) (*Stream, error) {
	head, err := projection.Head(ctx, h.store)
	if err != nil {
		return nil, err
	}
	return &Stream{hub: h, name: stream, after: head}, nil
}

// Next returns the first revision that the subscription has not yielded:
// after a catch-up, one past the last event it holds (or the revision the
// catch-up started at, when it yielded nothing).
func (s *Stream) Next() uint64 { return s.next }

// CatchUp yields the events that a read of the stream shows from revision
// from. A stream not found yields nothing: its first event comes live.
// Other errors (a tombstoned stream) are yielded, and end it.
func (s *Stream) CatchUp(ctx context.Context, from uint64) iter.Seq2[chronicle.RecordedEvent, error] {
	s.next = from
	return s.read(ctx)
}

// Live yields the stream's events after those that CatchUp yielded, as
// they commit, until ctx ends, the caller stops or the store fails. The
// events it yields may be shared with the other subscriptions to the
// stream: they must not be changed. The store's error comes after every
// event that the reads before it showed.
//
// The log has no subscription to one stream: the live part follows the
// global log after the later of the head taken by Start and the last
// event yielded, keeping this stream's events. The log holds the events
// that the stream's metadata or a delete hides until a scavenge: a live
// event not yet read is taken as word that the stream has more, and the
// stream is read from the first revision not read, so that Live yields
// what a read shows now, no more and no less (events that the metadata
// shows again included), in one read for all that an append wrote. The
// subscriptions of a Hub to one stream share that work: a goroutine of
// the Hub follows the log and reads for them all, and each yields what
// the read showed from its own next revision on. One that joins the
// others, or falls behind them, reads the stream once for itself (one
// that joins during a read of theirs, once more after it; one behind
// when a shared read fails, before it yields the error, which its own
// read may then replace). A store that cannot hide events is spared the
// reads, and each subscription follows the log for itself.
func (s *Stream) Live(ctx context.Context) iter.Seq2[chronicle.RecordedEvent, error] {
	if !s.hub.hides {
		return s.liveAlone(ctx)
	}
	return func(yield func(chronicle.RecordedEvent, error) bool) {
		h := s.hub
		f, m := h.join(s)
		defer h.leave(f, m)
		// deliver yields what b shows from the next revision on, or what a
		// read of its own shows when b starts after it (the reads before
		// b showed events that this subscription has not yielded) or
		// began before it joined.
		deliver := func(b batch) bool {
			if b.early || b.from > s.next {
				return s.readAgain(ctx, m, yield)
			}
			for _, e := range b.events {
				if e.Revision < s.next {
					continue
				}
				s.next, s.after = e.Revision+1, max(s.after, e.Position)
				if !yield(e, nil) {
					return false
				}
			}
			return true
		}
		for {
			h.mu.Lock()
			missed := m.missed && len(m.batches) == 0
			h.mu.Unlock()
			if missed {
				if !s.readAgain(ctx, m, yield) {
					return
				}
				continue
			}
			select {
			case b := <-m.batches:
				if !deliver(b) {
					return
				}
			case <-f.failed:
				// What was read before the failure comes first: the
				// batches that fitted, then, for those that did not, a
				// read of its own (which may fail too, and end it).
				for len(m.batches) > 0 {
					if !deliver(<-m.batches) {
						return
					}
				}
				h.mu.Lock()
				missed := m.missed
				h.mu.Unlock()
				if missed && !s.readAgain(ctx, m, yield) {
					return
				}
				if f.err != nil {
					yield(chronicle.RecordedEvent{}, f.err)
				}
				return
			case <-ctx.Done():
				yield(chronicle.RecordedEvent{}, ctx.Err())
				return
			}
		}
	}
}

// readAgain yields what a read of the stream shows from the first
// revision not yielded, for a member that may have missed what the
// follower read, and reports whether to go on.
func (s *Stream) readAgain(ctx context.Context, m *member, yield func(chronicle.RecordedEvent, error) bool) bool {
	// The read covers every batch that did not fit until now.
	s.hub.mu.Lock()
	m.missed = false
	s.hub.mu.Unlock()
	for e, err := range s.read(ctx) {
		if !yield(e, err) || err != nil {
			return false
		}
	}
	return true
}

// liveAlone is Live on a store that cannot hide events: the log's events
// are the stream's, with no read.
func (s *Stream) liveAlone(ctx context.Context) iter.Seq2[chronicle.RecordedEvent, error] {
	return func(yield func(chronicle.RecordedEvent, error) bool) {
		sub := chronicle.SubscribeOptions{From: s.after + 1, Filter: chronicle.Filter{StreamPrefix: s.name}}
		for e, err := range s.hub.store.Subscribe(ctx, sub) {
			if err != nil {
				yield(chronicle.RecordedEvent{}, err)
				return
			}
			if e.Stream != s.name || e.Revision < s.next {
				continue
			}
			s.next = e.Revision + 1
			if !yield(e, nil) {
				return
			}
		}
	}
}

// read yields what a read of the stream shows from the first revision not
// yielded.
func (s *Stream) read(ctx context.Context) iter.Seq2[chronicle.RecordedEvent, error] {
	return func(yield func(chronicle.RecordedEvent, error) bool) {
		for e, err := range readStream(ctx, s.hub.store, s.name, s.next) {
			if err != nil {
				yield(chronicle.RecordedEvent{}, err)
				return
			}
			s.next, s.after = e.Revision+1, max(s.after, e.Position)
			if !yield(e, nil) {
				return
			}
		}
	}
}

// readStream yields what a read of stream shows from revision from. A
// stream not found (not written yet, or soft-deleted) yields nothing: an
// append starts it again.
func readStream(ctx context.Context, store chronicle.Store, stream string, from uint64) iter.Seq2[chronicle.RecordedEvent, error] {
	return func(yield func(chronicle.RecordedEvent, error) bool) {
		for e, err := range store.ReadStream(ctx, stream, chronicle.ReadStreamOptions{From: from}) {
			if errors.Is(err, chronicle.ErrStreamNotFound) || !yield(e, err) || err != nil {
				return
			}
		}
	}
}

// join makes s a member of its stream's follower, which it starts when
// the stream has none: the follower then goes on from where s is.
func (h *Hub) join(s *Stream) (*follower, *member) {
	m := &member{batches: make(chan batch, memberBatches)}
	h.mu.Lock()
	defer h.mu.Unlock()
	f := h.streams[s.name]
	if f == nil {
		ctx, cancel := context.WithCancel(context.Background())
		f = &follower{stream: s.name, cancel: cancel, exited: make(chan struct{}),
			members: map[*member]struct{}{}, next: s.next, failed: make(chan struct{})}
		h.streams[s.name] = f
		go h.run(ctx, f, s.after)
	} else {
		// The follower's reads so far may have shown events that s has
		// not yielded: s reads once for itself. From then on the
		// follower reads from s's next revision, or one before it. A
		// read under way is not handed to s (see batch.early).
		m.missed = true
		m.joined = f.reads
		f.next = min(f.next, s.next)
	}
	f.members[m] = struct{}{}
	return f, m
}

// leave takes m out of f, and stops f when m was its last member.
func (h *Hub) leave(f *follower, m *member) {
	h.mu.Lock()
	delete(f.members, m)
	last := len(f.members) == 0
	if last && h.streams[f.stream] == f {
		delete(h.streams, f.stream)
	}
	h.mu.Unlock()
	if last {
		f.cancel()
		<-f.exited // its reads end before the subscription does
	}
}

// run follows f's stream from after the log position after until its
// members have all left, or the log or a read fails, or the stream is
// tombstoned, which ends them.
func (h *Hub) run(ctx context.Context, f *follower, after uint64) {
	defer close(f.exited)
	followCtx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	if h.deleteCheck > 0 {
		watched := make(chan struct{})
		defer func() { <-watched }() // after stop: its reads end first
		go func() {
			defer close(watched)
			h.watchDelete(followCtx, f.stream, stop)
		}()
	}
	err := h.follow(followCtx, f, after)
	if ctx.Err() != nil {
		return // no member is left to tell
	}
	if cause := context.Cause(followCtx); errors.Is(cause, chronicle.ErrStreamDeleted) {
		err = cause
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	f.err = err
	close(f.failed)
	if h.streams[f.stream] == f {
		delete(h.streams, f.stream)
	}
}

// watchDelete looks every h.deleteCheck whether stream was tombstoned,
// and then stops the follow with the store's error, until ctx ends.
func (h *Hub) watchDelete(ctx context.Context, stream string, stop context.CancelCauseFunc) {
	t := time.NewTicker(h.deleteCheck)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, err := range h.store.ReadStream(ctx, stream, chronicle.ReadStreamOptions{Limit: 1}) {
			if errors.Is(err, chronicle.ErrStreamDeleted) {
				stop(err)
				return
			}
			break
		}
	}
}

// follow reads f's stream for each of its events in the log that is not
// read yet, and hands each member what the read showed.
func (h *Hub) follow(ctx context.Context, f *follower, after uint64) error {
	sub := chronicle.SubscribeOptions{From: after + 1, Filter: chronicle.Filter{StreamPrefix: f.stream}}
	for e, err := range h.store.Subscribe(ctx, sub) {
		if err != nil {
			return err
		}
		if e.Stream != f.stream {
			continue
		}
		h.mu.Lock()
		from := f.next
		skip := e.Revision < from
		if !skip {
			f.reads++
		}
		read := f.reads
		h.mu.Unlock()
		if skip {
			continue
		}
		var events []chronicle.RecordedEvent
		for e, err := range readStream(ctx, h.store, f.stream, from) {
			if err != nil {
				return err
			}
			events = append(events, e)
		}
		h.mu.Lock()
		if len(events) > 0 && f.next == from {
			f.next = events[len(events)-1].Revision + 1
		}
		for m := range f.members {
			b := batch{from: from, events: events}
			if read <= m.joined {
				b = batch{early: true}
			}
			select {
			case m.batches <- b:
			default:
				m.missed = true
			}
		}
		h.mu.Unlock()
	}
	return nil
}
