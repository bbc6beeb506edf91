package chronicle

import (
	"context"
	"fmt"
	"iter"
	"math"
	"slices"
	"strings"
)

// Store is an event store: streams of events, and one global log of all
// of them in commit order. Implementations are safe for concurrent use.
//
// Reads return single-use iterators that fetch lazily: breaking out of
// the loop, or cancelling the context, stops the read and frees what it
// held. An error ends the sequence; it is yielded with a zero event.
//
// A store may have optional abilities, each an interface that callers
// find by type assertion: [EventFinder], [SnapshotStore], [Retention],
// [Deleter], [Scavenger] and [StreamLister]. A store that wraps another
// (such as the shred package's) has the methods of all of them, and
// passes each call on to the store beneath; where that store lacks the
// ability, the method returns an error matching [errors.ErrUnsupported],
// and callers treat it as they treat a store without the interface: the
// [Repository] goes on without the ability, and a program says that the
// store cannot do it.
type Store interface {
	// Append writes events to the end of stream, atomically: all of them
	// or none. It returns an error matching [ErrWrongExpectedRevision] when
	// the stream is not in the expected state, and one matching
	// [ErrInvalidStreamName], [ErrInvalidEvent], [ErrEventTooLarge] or
	// [ErrNoEvents] for bad input, which is never partly written.
	//
	// Appending events whose IDs are already the stream's events at the
	// place the append would put them succeeds without writing anything,
	// and reports where they were written the first time. The place of an
	// append that expects [NoStream] is revision 0, or, for a stream that
	// was soft-deleted and written again, the revision where the first
	// append after its latest delete put its events: a retry of the
	// append that started it again is recognised, as one of the append
	// that created it. On a soft-deleted stream not written since, an
	// append whose first event is among the events the delete hid is a
	// retry of an append made before the delete, whatever it expects: it
	// is acknowledged so, writes nothing and leaves the stream deleted,
	// rather than bring it back with those events a second time. Events
	// that a [Scavenger] removed are not found any more.
	Append(ctx context.Context, stream string, expected ExpectedRevision, events ...EventData) (AppendResult, error)

	// ReadStream reads one stream's events in revision order, or in
	// reverse with Backwards. Reading a stream without events yields a
	// single error matching [ErrStreamNotFound].
	ReadStream(ctx context.Context, stream string, opts ReadStreamOptions) iter.Seq2[RecordedEvent, error]

	// ReadAll reads the global log in position order, or in reverse with
	// Backwards. It ends at the last committed event. A filter that
	// [Filter.Validate] refuses makes it yield that error alone.
	ReadAll(ctx context.Context, opts ReadAllOptions) iter.Seq2[RecordedEvent, error]

	// Subscribe reads the global log from opts.From, then waits for new
	// events and yields them as they commit, until ctx ends or the caller
	// breaks out of the loop. It never skips or repeats an event: events
	// arrive in position order. When ctx ends, the sequence ends with
	// ctx's error. A filter that [Filter.Validate] refuses makes it yield
	// that error alone, at once. A read of the store that fails (a
	// connection lost, a closed store) ends the sequence with its error:
	// subscribe again from the position after the last event yielded,
	// which loses nothing (package projection's runners do).
	Subscribe(ctx context.Context, opts SubscribeOptions) iter.Seq2[RecordedEvent, error]
}

// AppendResult reports where an append put its events.
type AppendResult struct {
	// FirstRevision and LastRevision are the stream revisions of the
	// first and last event appended.
	FirstRevision, LastRevision uint64
	// FirstPosition and LastPosition are their global positions.
	FirstPosition, LastPosition uint64
}

// NextExpected returns the expected revision for the next append to the
// same stream.
func (r AppendResult) NextExpected() ExpectedRevision { return Exact(r.LastRevision) }

// End, as ReadStreamOptions.From or ReadAllOptions.From of a backwards
// read, starts at the last event.
const End uint64 = math.MaxUint64

// ReadStreamOptions selects events of one stream.
type ReadStreamOptions struct {
	// Backwards reads from From down to revision 0.
	Backwards bool
	// From is the first revision to read, inclusive. A backwards read
	// from past the end, such as [End], starts at the last event.
	From uint64
	// Limit is the most events to read; 0, or less, means no limit.
	Limit int
}

// ReadAllOptions selects events of the global log.
type ReadAllOptions struct {
	// Backwards reads from From down to the first position.
	Backwards bool
	// From is the first position to read, inclusive. Positions start at
	// 1, so 0 and 1 both read from the start of a forward read. A
	// backwards read from 0 reads nothing; one from past the end, such
	// as [End], starts at the last event.
	From uint64
	// Limit is the most events to read; 0, or less, means no limit.
	Limit int
	// Filter limits the events yielded. The positions of events it leaves
	// out are still gapless; they are just not shown.
	Filter Filter
}

// SubscribeOptions selects what a subscription delivers.
type SubscribeOptions struct {
	// From is the first position to deliver, inclusive. To resume after a
	// checkpoint c, use c+1. Zero delivers the whole log.
	From uint64
	// Filter limits the events delivered.
	Filter Filter
}

// Filter selects events by stream and type. The zero Filter selects every
// event. The conditions that are set must all hold.
//
// Its strings are text of the kind that names hold (see [Filter.Validate]):
// a read or subscription with a filter that holds bytes that are not
// UTF-8, or a character that no stream name or event type may hold,
// yields an error alone, the same from every store, rather than select
// nothing. Other strings select what they say, even when nothing can
// match them, such as a category with a '-' or a prefix longer than
// [MaxNameLength].
type Filter struct {
	// StreamPrefix keeps events of streams whose name starts with it.
	StreamPrefix string
	// Categories keeps events of streams in one of these categories: the
	// part of the stream name before its first '-' ("game" for
	// "game-42"), or the whole name if it has no '-'.
	Categories []string
	// Types keeps events of one of these types.
	Types []string
}

// Validate reports whether f's strings hold only what names may hold:
// none of the bytes or characters that [ValidateStreamName] refuses
// anywhere in a stream name, and that an event type may not hold either
// (bytes that are not UTF-8; control, format, line and paragraph
// separator characters). The error names the field and its value, and
// matches [ErrInvalidStreamName] for StreamPrefix or Categories,
// [ErrInvalidEvent] for Types. Stores call it once per ReadAll or
// Subscribe; its cost grows with the length of f's strings, not with the
// store.
func (f Filter) Validate() error {
	if why := badText(f.StreamPrefix); why != "" {
		return selectorError(ErrInvalidStreamName, "Filter.StreamPrefix", f.StreamPrefix, why, "stream name")
	}
	for i, c := range f.Categories {
		if why := badText(c); why != "" {
			return selectorError(ErrInvalidStreamName, fmt.Sprintf("Filter.Categories[%d]", i), c, why, "stream name")
		}
	}
	for i, t := range f.Types {
		if why := badText(t); why != "" {
			return selectorError(ErrInvalidEvent, fmt.Sprintf("Filter.Types[%d]", i), t, why, "event type")
		}
	}
	return nil
}

// IsZero reports whether f selects every event.
func (f Filter) IsZero() bool {
	return f.StreamPrefix == "" && len(f.Categories) == 0 && len(f.Types) == 0
}

// Match reports whether f selects the event of type eventType in stream.
func (f Filter) Match(stream, eventType string) bool {
	if !strings.HasPrefix(stream, f.StreamPrefix) {
		return false
	}
	if len(f.Categories) > 0 && !slices.Contains(f.Categories, Category(stream)) {
		return false
	}
	if len(f.Types) > 0 && !slices.Contains(f.Types, eventType) {
		return false
	}
	return true
}

// Category returns the category of a stream: the part of its name before
// the first '-', or the whole name when it has none.
func Category(stream string) string {
	cat, _, _ := strings.Cut(stream, "-")
	return cat
}
