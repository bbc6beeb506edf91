package chronicle

import (
	"errors"
	"fmt"
)

// Sentinel errors. Stores wrap them with context; match them with
// [errors.Is].
var (
	// ErrWrongExpectedRevision means that an append's expected revision
	// did not match the stream. The error is a [*WrongExpectedRevisionError]
	// that [errors.As] unpacks. Reload the stream and decide again.
	ErrWrongExpectedRevision = errors.New("chronicle: wrong expected revision")

	// ErrStreamNotFound is returned, as the iterator's error, when reading a
	// stream that has no events, or whose events a soft delete hid (see
	// [Deleter]) with none appended since. An existing stream read past its
	// end, or whose metadata hides all its events, gives no events and no
	// error instead.
	ErrStreamNotFound = errors.New("chronicle: stream not found")

	// ErrInvalidStreamName means a stream name breaks the naming rules of
	// [ValidateStreamName], or that a stream prefix or category to select
	// by holds what no stream name may hold (see [Filter.Validate] and
	// [ListStreamsOptions.Validate]).
	ErrInvalidStreamName = errors.New("chronicle: invalid stream name")

	// ErrInvalidEvent means an event cannot be appended as it is: it has
	// no type, or metadata that is not valid UTF-8, or two events of one
	// append share an ID. It also means that an event type to select by
	// holds what no event type may hold (see [Filter.Validate]).
	ErrInvalidEvent = errors.New("chronicle: invalid event")

	// ErrInvalidMetadata means stream metadata cannot be set as it is: see
	// [StreamMetadata.Validate].
	ErrInvalidMetadata = errors.New("chronicle: invalid stream metadata")

	// ErrEventTooLarge means an event's data and metadata together exceed
	// the store's size limit.
	ErrEventTooLarge = errors.New("chronicle: event too large")

	// ErrNoEvents means Append was called without events.
	ErrNoEvents = errors.New("chronicle: no events to append")

	// ErrIdempotencyConflict means an append carried event IDs that the
	// stream already holds, but not as the same events at the same place,
	// so it is neither a new append nor a retry of an old one.
	ErrIdempotencyConflict = errors.New("chronicle: event IDs already used in stream")

	// ErrClosed means the store has been closed.
	ErrClosed = errors.New("chronicle: store closed")

	// ErrUnknownEventType means a codec was asked to decode an event type,
	// or encode a Go type, that it was not built with.
	ErrUnknownEventType = errors.New("chronicle: unknown event type")

	// ErrNewerSchemaVersion means a codec was asked to decode an event
	// written by newer code, at a schema version above the one it knows:
	// the reader must be upgraded before it can read the event, and a
	// projection should stop rather than skip it.
	ErrNewerSchemaVersion = errors.New("chronicle: schema version newer than this code knows")

	// ErrSchemaUpgraded means that a store's schema is of a version that
	// a newer Chronicle than this process runs has migrated it to: at
	// Open, the version is above the ones this code knows; later, another
	// process migrated the schema while this one had it open, and this
	// one's appends are refused (and, by each store's documentation, its
	// other writes), since its code no longer matches the schema. Run the
	// newer Chronicle: upgrade, or restart the process with it. A
	// supervisor can match it to restart rather than retry.
	ErrSchemaUpgraded = errors.New("chronicle: store schema upgraded by a newer Chronicle")
)

// WrongExpectedRevisionError tells which stream refused an append, what
// the append expected and what the stream held.
type WrongExpectedRevisionError struct {
	// Op names what was refused, such as "append to" (the default when
	// empty), "delete" or "tombstone".
	Op       string
	Stream   string
	Expected ExpectedRevision
	// Actual is the stream's state at the time of the append: NoStream
	// when it had no events, else Exact(last revision).
	Actual ExpectedRevision
}

// Error says what the append expected and what it found, in words.
func (e *WrongExpectedRevisionError) Error() string {
	op := e.Op
	if op == "" {
		op = "append to"
	}
	return fmt.Sprintf("%s %q: expected %s, but %s: reload it and try again",
		op, e.Stream, describeExpected(e.Expected), describeActual(e.Actual))
}

func describeExpected(e ExpectedRevision) string {
	switch {
	case e.IsNoStream():
		return "a stream without events"
	case e.IsStreamExists():
		return "the stream to exist"
	case e.IsAny():
		return "any revision"
	default:
		return "revision " + e.String()
	}
}

func describeActual(a ExpectedRevision) string {
	if rev, ok := a.Revision(); ok {
		return fmt.Sprintf("the stream is at revision %d", rev)
	}
	return "the stream has no events"
}

// Is reports whether target is [ErrWrongExpectedRevision].
func (e *WrongExpectedRevisionError) Is(target error) bool {
	return target == ErrWrongExpectedRevision
}

// StreamNotFoundError names the stream that a read found without events,
// or soft-deleted.
// It matches [ErrStreamNotFound].
type StreamNotFoundError struct {
	Stream string
}

// Error names the stream.
func (e *StreamNotFoundError) Error() string {
	return fmt.Sprintf("stream %q not found: it has no events, or was deleted", e.Stream)
}

// Is reports whether target is [ErrStreamNotFound].
func (e *StreamNotFoundError) Is(target error) bool { return target == ErrStreamNotFound }
