// Package storetest is the conformance suite for [chronicle.Store]
// implementations. A store proves that it keeps Chronicle's promises by
// passing it from its own tests, in one line:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t testing.TB) chronicle.Store { return mustOpen(t) })
//	}
//
// The suite covers appends (expected revisions, atomicity, idempotent
// retries, validation, large batches), reads of streams and of the global
// log (directions, limits, filters, early exit, cancellation) and
// subscriptions (catch-up then live, exactly once and in order under
// concurrent writers), the optional abilities a store may have, such as
// [chronicle.SnapshotStore] or [chronicle.StreamLister], a
// [chronicle.Repository] on streams whose events are all hidden, and what
// a store that is an [io.Closer] answers once closed; those tests skip when the
// store lacks the ability, or, as a store that wraps one without it does
// (see [chronicle.Store]), its methods return an error matching
// [errors.ErrUnsupported] when called with a context that has ended. Calls
// of every ability with a context that has ended must fail with its error
// (or that one) and change nothing. Run it with -race.
//
// A store whose subscribers also poll for events, such as those that other
// processes commit, should make its stores for the suite with a long poll
// (an hour, say): a subscription that a commit, or Close, forgot to wake
// then fails at the suite's timeouts, rather than passing at the next
// poll.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"iter"
	"maps"
	"reflect"
	"testing"
	"time"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/internal/stress"
)

// Factory returns a new, empty store for one test. It registers whatever
// cleanup the store needs with tb.Cleanup.
type Factory func(tb testing.TB) chronicle.Store

// Run runs the whole conformance suite against stores made by newStore.
func Run(t *testing.T, newStore Factory) {
	t.Run("Append", func(t *testing.T) { testAppend(t, newStore) })
	t.Run("Idempotency", func(t *testing.T) { testIdempotency(t, newStore) })
	t.Run("Validation", func(t *testing.T) { testValidation(t, newStore) })
	t.Run("ReadStream", func(t *testing.T) { testReadStream(t, newStore) })
	t.Run("ReadAll", func(t *testing.T) { testReadAll(t, newStore) })
	t.Run("FilterSelection", func(t *testing.T) { testFilterSelection(t, newStore) })
	t.Run("Subscribe", func(t *testing.T) { testSubscribe(t, newStore) })
	t.Run("Concurrency", func(t *testing.T) { testConcurrency(t, newStore) })
	t.Run("Snapshots", func(t *testing.T) { testSnapshots(t, newStore) })
	t.Run("EventFinder", func(t *testing.T) { testEventFinder(t, newStore) })
	t.Run("Retention", func(t *testing.T) { testRetention(t, newStore) })
	t.Run("RepositoryHidden", func(t *testing.T) { testRepositoryHidden(t, newStore) })
	t.Run("Lifecycle", func(t *testing.T) { testLifecycle(t, newStore) })
	t.Run("StreamLister", func(t *testing.T) {
		testStreamLister(t, newStore)
		t.Run("Hidden", func(t *testing.T) { testStreamListerHidden(t, newStore) })
		t.Run("Scavenged", func(t *testing.T) { testStreamListerScavenged(t, newStore) })
		t.Run("Selection", func(t *testing.T) { testStreamListerSelection(t, newStore) })
	})
	t.Run("CanceledContext", func(t *testing.T) { testCanceledContext(t, newStore) })
	t.Run("Close", func(t *testing.T) { testClose(t, newStore) })
}

// event returns an event of type typ whose data is a small JSON object.
func event(typ string, n int) chronicle.EventData {
	return chronicle.EventData{Type: typ, Data: fmt.Appendf(nil, `{"n":%d}`, n)}
}

// events returns n events of type typ.
func events(typ string, n int) []chronicle.EventData {
	out := make([]chronicle.EventData, n)
	for i := range out {
		out[i] = event(typ, i)
	}
	return out
}

func mustAppend(tb testing.TB, s chronicle.Store, stream string, exp chronicle.ExpectedRevision, evs ...chronicle.EventData) chronicle.AppendResult {
	tb.Helper()
	res, err := s.Append(context.Background(), stream, exp, evs...)
	if err != nil {
		tb.Fatalf("Append(%q, %s, %d events): %v", stream, exp, len(evs), err)
	}
	return res
}

func mustRead(tb testing.TB, seq iter.Seq2[chronicle.RecordedEvent, error]) []chronicle.RecordedEvent {
	tb.Helper()
	out, err := stress.Collect(seq)
	if err != nil {
		tb.Fatalf("read: %v (after %d events)", err, len(out))
	}
	return out
}

func readStream(tb testing.TB, s chronicle.Store, stream string, opts chronicle.ReadStreamOptions) []chronicle.RecordedEvent {
	tb.Helper()
	return mustRead(tb, s.ReadStream(context.Background(), stream, opts))
}

func readAll(tb testing.TB, s chronicle.Store, opts chronicle.ReadAllOptions) []chronicle.RecordedEvent {
	tb.Helper()
	return mustRead(tb, s.ReadAll(context.Background(), opts))
}

func revisions(evs []chronicle.RecordedEvent) []uint64 {
	out := make([]uint64, len(evs))
	for i, e := range evs {
		out[i] = e.Revision
	}
	return out
}

func positions(evs []chronicle.RecordedEvent) []uint64 {
	out := make([]uint64, len(evs))
	for i, e := range evs {
		out[i] = e.Position
	}
	return out
}

// seq returns from, from+step, ... n values.
func seq(from uint64, n int, step int) []uint64 {
	out := make([]uint64, n)
	for i := range out {
		out[i] = uint64(int(from) + i*step)
	}
	return out
}

// eventDiff says how got differs from want, or returns "" when it is the
// same event, as every read and subscription must hand it out: same
// place, same ID, type, data and metadata, and the same recorded time,
// in UTC.
func eventDiff(got, want chronicle.RecordedEvent) string {
	switch {
	case got.Stream != want.Stream || got.Revision != want.Revision || got.Position != want.Position:
		return fmt.Sprintf("%s@%d at position %d, want %s@%d at position %d", got.Stream, got.Revision, got.Position, want.Stream, want.Revision, want.Position)
	case got.ID != want.ID:
		return fmt.Sprintf("ID %s, want %s", got.ID, want.ID)
	case got.Type != want.Type || !bytes.Equal(got.Data, want.Data):
		return fmt.Sprintf("%s %s, want %s %s", got.Type, got.Data, want.Type, want.Data)
	case !maps.Equal(got.Metadata, want.Metadata):
		return fmt.Sprintf("metadata %v, want %v", got.Metadata, want.Metadata)
	case !got.Recorded.Equal(want.Recorded) || got.Recorded.Location() != time.UTC:
		return fmt.Sprintf("recorded at %v, want %v in UTC", got.Recorded, want.Recorded)
	}
	return ""
}

// wantErr fails unless err matches target.
func wantErr(tb testing.TB, what string, err, target error) {
	tb.Helper()
	if !errors.Is(err, target) {
		tb.Fatalf("%s: error = %v, want one matching %v", what, err, target)
	}
}

// wantNotFound fails unless stream reads as not found, forwards and
// backwards: a single error matching ErrStreamNotFound, yielded with a
// zero event, and nothing else, as the Store godoc says. It drains each
// read to the end to see that nothing follows the error.
func wantNotFound(tb testing.TB, s chronicle.Store, stream string) {
	tb.Helper()
	for _, opts := range []chronicle.ReadStreamOptions{{}, {Backwards: true, From: chronicle.End}} {
		var yielded []string
		for e, err := range s.ReadStream(context.Background(), stream, opts) {
			switch {
			case err == nil:
				yielded = append(yielded, fmt.Sprintf("event %d", e.Revision))
			case !errors.Is(err, chronicle.ErrStreamNotFound):
				yielded = append(yielded, fmt.Sprintf("error %v", err))
			case !reflect.DeepEqual(e, chronicle.RecordedEvent{}):
				yielded = append(yielded, fmt.Sprintf("ErrStreamNotFound with event %+v", e))
			default:
				yielded = append(yielded, "ErrStreamNotFound")
			}
		}
		if len(yielded) != 1 || yielded[0] != "ErrStreamNotFound" {
			tb.Fatalf("ReadStream(%q, backwards %v) yielded %q; want ErrStreamNotFound alone, with a zero event", stream, opts.Backwards, yielded)
		}
	}
}

// testContext returns a context that ends with the test, or after d.
func testContext(tb testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	tb.Cleanup(cancel)
	return ctx
}
