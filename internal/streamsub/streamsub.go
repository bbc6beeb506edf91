// Package streamsub follows one stream of a store for the servers'
// subscriptions (server's Server-Sent Events, kurrentserver's gRPC), so
// that both send what a read of the stream shows, by the same rules.
package streamsub

import (
	"context"
	"errors"
	"iter"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/projection"
)

// Stream follows one stream: [Stream.CatchUp] yields the events it holds,
// then [Stream.Live] those appended later. Together they yield each event
// once, in revision order, when a read of the stream shows it at the time:
// the events that the stream's metadata or a soft delete hides are left
// out, live ones too.
type Stream struct {
	store chronicle.Store
	name  string
	next  uint64 // the first revision not yet yielded
	after uint64 // the live part follows the global log after this position
}

// Start begins following stream. It takes the head of the global log
// first, before the caller decides where the catch-up starts, so that an
// event committed meanwhile is found by the catch-up or by the live part.
func Start(ctx context.Context, store chronicle.Store, stream string) (*Stream, error) {
	head, err := projection.Head(ctx, store)
	if err != nil {
		return nil, err
	}
	return &Stream{store: store, name: stream, after: head}, nil
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
// they commit, until ctx ends, the caller stops or the store fails.
//
// The log has no subscription to one stream: Live follows the global log
// after the later of the head taken by Start and the last event yielded,
// keeping this stream's events. The log holds the events that the stream's
// metadata or a delete hides until a scavenge: a live event not yet
// yielded is taken as word that the stream has more, and the stream is
// read from the first revision not yielded, so that Live yields what a
// read shows now, no more and no less (events that the metadata shows
// again included), in one read for all that an append wrote. A store that
// cannot hide events is spared the reads.
func (s *Stream) Live(ctx context.Context) iter.Seq2[chronicle.RecordedEvent, error] {
	return func(yield func(chronicle.RecordedEvent, error) bool) {
		_, retains := s.store.(chronicle.Retention)
		_, deletes := s.store.(chronicle.Deleter)
		sub := chronicle.SubscribeOptions{From: s.after + 1, Filter: chronicle.Filter{StreamPrefix: s.name}}
		for e, err := range s.store.Subscribe(ctx, sub) {
			if err != nil {
				yield(chronicle.RecordedEvent{}, err)
				return
			}
			if e.Stream != s.name || e.Revision < s.next {
				continue
			}
			if !retains && !deletes {
				s.next = e.Revision + 1
				if !yield(e, nil) {
					return
				}
				continue
			}
			for got, err := range s.read(ctx) {
				if !yield(got, err) || err != nil {
					return
				}
			}
		}
	}
}

// read yields what a read of the stream shows from the first revision not
// yielded. A stream not found (not written yet, or soft-deleted) yields
// nothing: an append starts it again.
func (s *Stream) read(ctx context.Context) iter.Seq2[chronicle.RecordedEvent, error] {
	return func(yield func(chronicle.RecordedEvent, error) bool) {
		for e, err := range s.store.ReadStream(ctx, s.name, chronicle.ReadStreamOptions{From: s.next}) {
			if err != nil {
				if !errors.Is(err, chronicle.ErrStreamNotFound) {
					yield(chronicle.RecordedEvent{}, err)
				}
				return
			}
			s.next, s.after = e.Revision+1, max(s.after, e.Position)
			if !yield(e, nil) {
				return
			}
		}
	}
}
