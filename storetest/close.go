package storetest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/internal/stress"
	"github.com/google/uuid"
)

// testClose: once a store that is an [io.Closer] is closed, every call
// fails with an error matching [chronicle.ErrClosed], whatever abilities
// the store has, so that a program can tell a store shut down under it
// from a failing one; closing it again does no harm. Bad input is the
// exception: it is refused as an open store refuses it, with the error
// that says what is wrong with it, so that the answer to a caller's
// mistake does not depend on when the call is made (finding the mistake
// needs nothing that Close takes away).
func testClose(t *testing.T, newStore Factory) {
	ctx := context.Background()
	s := newStore(t)
	c, ok := s.(io.Closer)
	if !ok {
		t.Skip("the store is not an io.Closer")
	}
	mustAppend(t, s, "s", chronicle.NoStream, events("E", 3)...)
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	check := func(call string, err error) {
		t.Helper()
		if !errors.Is(err, chronicle.ErrClosed) {
			t.Errorf("%s after Close: %v, want an error matching ErrClosed", call, err)
		}
	}
	_, err := s.Append(ctx, "s", chronicle.Any, event("E", 9))
	check("Append", err)
	check("ReadStream", firstError(s.ReadStream(ctx, "s", chronicle.ReadStreamOptions{})))
	check("ReadStream backwards", firstError(s.ReadStream(ctx, "s", chronicle.ReadStreamOptions{Backwards: true, From: chronicle.End})))
	check("ReadAll", firstError(s.ReadAll(ctx, chronicle.ReadAllOptions{})))
	check("ReadAll backwards", firstError(s.ReadAll(ctx, chronicle.ReadAllOptions{Backwards: true, From: chronicle.End})))
	if r, ok := has[chronicle.Retention](s); ok {
		check("SetStreamMetadata", r.SetStreamMetadata(ctx, "s", chronicle.StreamMetadata{MaxCount: 1}))
	}
	if d, ok := has[chronicle.Deleter](s); ok {
		check("Delete", d.Delete(ctx, "s", chronicle.Any))
		check("Tombstone", d.Tombstone(ctx, "s", chronicle.Any))
	}
	for _, c := range abilityCalls(ctx, s) {
		check(c.name, c.call())
	}
	refused := func(call string, err, want error) {
		t.Helper()
		if !errors.Is(err, want) {
			t.Errorf("%s after Close: %v, want an error matching %v, as before Close", call, err, want)
		}
	}
	_, err = s.Append(ctx, "", chronicle.Any, event("E", 0))
	refused("Append to a stream without a name", err, chronicle.ErrInvalidStreamName)
	_, err = s.Append(ctx, "s", chronicle.Any, chronicle.EventData{})
	refused("Append of an event without a type", err, chronicle.ErrInvalidEvent)
	refused("ReadStream of a stream without a name", firstError(s.ReadStream(ctx, "", chronicle.ReadStreamOptions{})), chronicle.ErrInvalidStreamName)
	badFilter := chronicle.Filter{Types: []string{"a\nb"}}
	refused("ReadAll with a bad filter", firstError(s.ReadAll(ctx, chronicle.ReadAllOptions{Filter: badFilter})), chronicle.ErrInvalidEvent)
	refused("Subscribe with a bad filter", firstError(s.Subscribe(ctx, chronicle.SubscribeOptions{Filter: badFilter})), chronicle.ErrInvalidEvent)
	if r, ok := has[chronicle.Retention](s); ok {
		refused("SetStreamMetadata with a negative MaxAge", r.SetStreamMetadata(ctx, "s", chronicle.StreamMetadata{MaxAge: -1}), chronicle.ErrInvalidMetadata)
	}
	if err := c.Close(); err != nil && !errors.Is(err, chronicle.ErrClosed) {
		t.Errorf("a second Close: %v, want nil or an error matching ErrClosed", err)
	}
	t.Run("WhileCalling", func(t *testing.T) { testCloseWhileCalling(t, newStore) })
}

// testCloseWhileCalling: calls under way when Close begins end as they
// would have (with success, or with an answer such as a wrong expected
// revision or a stream not found), or with an error matching
// [chronicle.ErrClosed]; never with a driver's error that a caller could
// not match, and an answer is never labelled as closing.
func testCloseWhileCalling(t *testing.T, newStore Factory) {
	ctx := context.Background()
	answers := []error{chronicle.ErrWrongExpectedRevision, chronicle.ErrStreamNotFound}
	for round := range 10 {
		s := newStore(t)
		c := s.(io.Closer)
		mustAppend(t, s, "s", chronicle.NoStream, events("E", 3)...)
		calls := []func() error{
			func() error { _, err := s.Append(ctx, "s", chronicle.Any, event("E", 0)); return err },
			func() error { _, err := s.Append(ctx, "s", chronicle.Exact(1_000_000), event("E", 0)); return err },
			func() error { return firstError(s.ReadStream(ctx, "s", chronicle.ReadStreamOptions{})) },
			func() error { return firstError(s.ReadStream(ctx, "missing", chronicle.ReadStreamOptions{})) },
			func() error { return firstError(s.ReadAll(ctx, chronicle.ReadAllOptions{})) },
			func() error {
				return firstError(s.ReadAll(ctx, chronicle.ReadAllOptions{Backwards: true, From: chronicle.End, Limit: 5}))
			},
		}
		if r, ok := has[chronicle.Retention](s); ok {
			calls = append(calls, func() error { return r.SetStreamMetadata(ctx, "s", chronicle.StreamMetadata{MaxCount: 100}) })
		}
		if d, ok := has[chronicle.Deleter](s); ok {
			calls = append(calls, func() error { return d.Delete(ctx, "missing", chronicle.Exact(5)) })
		}
		for _, c := range abilityCalls(ctx, s) {
			calls = append(calls, c.call)
		}
		var closed atomic.Bool // Close has returned
		errs := make(chan error, len(calls))
		for _, call := range calls {
			go func() {
				for {
					after := closed.Load()
					err := call()
					answered := slices.ContainsFunc(answers, func(a error) bool { return errors.Is(err, a) })
					switch {
					case errors.Is(err, chronicle.ErrClosed) && answered:
						errs <- fmt.Errorf("an answer labelled as closing: %w", err)
						return
					case errors.Is(err, chronicle.ErrClosed):
						errs <- nil
						return
					case err != nil && !answered:
						errs <- err
						return
					case after:
						// Made once Close had returned: it had to fail.
						errs <- fmt.Errorf("a call made after Close returned: %v", err)
						return
					}
				}
			}()
		}
		time.Sleep(time.Duration(round) * time.Millisecond)
		if err := c.Close(); err != nil {
			t.Fatalf("round %d: Close: %v", round, err)
		}
		closed.Store(true)
		for range calls {
			if err := <-errs; err != nil {
				t.Errorf("round %d: a call racing Close: %v, want success, an answer, or an error matching ErrClosed", round, err)
			}
		}
	}
}

// namedCall is a call of a store, named for messages.
type namedCall struct {
	name string
	call func() error
}

// abilityCalls are calls of stream "s" that both Close tests make:
// subscriptions, with and without a filter (a store may read their
// events in different ways), and a call of each ability of s that
// neither writes events nor changes what reads return. A subscription
// must end with Close, rather than wait for events that will not come:
// its deadline is a failure.
func abilityCalls(ctx context.Context, s chronicle.Store) []namedCall {
	subscribe := func(opts chronicle.SubscribeOptions) func() error {
		return func() error {
			sub, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			return firstError(s.Subscribe(sub, opts))
		}
	}
	calls := []namedCall{
		{"Subscribe", subscribe(chronicle.SubscribeOptions{})},
		{"Subscribe with a filter", subscribe(chronicle.SubscribeOptions{Filter: chronicle.Filter{Types: []string{"E"}}})},
	}
	if r, ok := has[chronicle.Retention](s); ok {
		calls = append(calls, namedCall{"StreamMetadata", func() error { _, err := r.StreamMetadata(ctx, "s"); return err }})
	}
	if sc, ok := has[chronicle.Scavenger](s); ok {
		calls = append(calls, namedCall{"Scavenge", func() error { _, err := sc.Scavenge(ctx, nil); return err }})
	}
	if ss, ok := has[chronicle.SnapshotStore](s); ok {
		calls = append(calls,
			namedCall{"SaveSnapshot", func() error {
				return ss.SaveSnapshot(ctx, chronicle.Snapshot{Stream: "s", Revision: 2, Type: "State", Version: 1, Data: []byte("{}")})
			}},
			namedCall{"LoadSnapshot", func() error { _, _, err := ss.LoadSnapshot(ctx, "s"); return err }})
	}
	if f, ok := has[chronicle.EventFinder](s); ok {
		calls = append(calls, namedCall{"HasEvent", func() error { _, err := f.HasEvent(ctx, "s", uuid.New()); return err }})
	}
	if l, ok := has[chronicle.StreamLister](s); ok {
		calls = append(calls,
			namedCall{"ListStreams", func() error { _, err := l.ListStreams(ctx, chronicle.ListStreamsOptions{}); return err }},
			namedCall{"CountStreams", func() error { _, _, err := l.CountStreams(ctx); return err }})
	}
	return calls
}

// firstError drains seq and returns its error, if any.
func firstError(seq iter.Seq2[chronicle.RecordedEvent, error]) error {
	_, err := stress.Collect(seq)
	return err
}

// CloseEndsSubscriptions checks that closing s ends a subscription that
// has caught up and waits for events, at once, with an error matching
// [chronicle.ErrClosed], as a subscriber that is reading does. Give it a
// store, an [io.Closer], whose subscribers look for other processes'
// events rarely (every hour, say), or are pushed their events by a
// server (package kurrent), so that only Close can wake them.
func CloseEndsSubscriptions(t *testing.T, s chronicle.Store) {
	t.Helper()
	mustAppend(t, s, "s", chronicle.NoStream, event("E", 0))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	caughtUp := make(chan struct{})
	ended := make(chan error, 1)
	go func() {
		seen := 0
		for _, err := range s.Subscribe(ctx, chronicle.SubscribeOptions{}) {
			if err != nil {
				ended <- err
				return
			}
			if seen++; seen == 1 {
				close(caughtUp)
			}
		}
		ended <- errors.New("the subscription ended without an error")
	}()
	select {
	case <-caughtUp:
	case err := <-ended:
		t.Fatalf("the subscription ended before its first event: %v", err)
	}
	time.Sleep(50 * time.Millisecond) // it waits for the next event
	if err := s.(io.Closer).Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case err := <-ended:
		if !errors.Is(err, chronicle.ErrClosed) {
			t.Errorf("the subscription ended with %v, want an error matching ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("the subscription still waits for events 5s after Close")
	}
}
