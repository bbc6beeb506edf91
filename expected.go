package chronicle

import "strconv"

// ExpectedRevision is the state a stream must be in for an append to
// succeed: the optimistic concurrency check. The values mean what they
// mean to KurrentDB (EventStoreDB) users:
//
//   - [Any]: no check. The zero value.
//   - [NoStream]: the stream must have no events.
//   - [StreamExists]: the stream must have at least one event.
//   - [Exact](n): the stream's last event must be at revision n.
type ExpectedRevision struct {
	kind expectedKind
	rev  uint64
}

type expectedKind uint8

const (
	kindAny expectedKind = iota
	kindNoStream
	kindStreamExists
	kindExact
)

var (
	// Any appends whatever the stream's state.
	Any = ExpectedRevision{kind: kindAny}
	// NoStream appends only to a stream without events.
	NoStream = ExpectedRevision{kind: kindNoStream}
	// StreamExists appends only to a stream with at least one event.
	StreamExists = ExpectedRevision{kind: kindStreamExists}
)

// Exact expects the stream's last event to be at revision rev.
func Exact(rev uint64) ExpectedRevision {
	return ExpectedRevision{kind: kindExact, rev: rev}
}

// Revision reports the exact revision expected, and false for [Any],
// [NoStream] and [StreamExists].
func (e ExpectedRevision) Revision() (uint64, bool) {
	return e.rev, e.kind == kindExact
}

// IsAny reports whether e is [Any].
func (e ExpectedRevision) IsAny() bool { return e.kind == kindAny }

// IsNoStream reports whether e is [NoStream].
func (e ExpectedRevision) IsNoStream() bool { return e.kind == kindNoStream }

// IsStreamExists reports whether e is [StreamExists].
func (e ExpectedRevision) IsStreamExists() bool { return e.kind == kindStreamExists }

// String returns "any", "no stream", "stream exists" or the revision.
func (e ExpectedRevision) String() string {
	switch e.kind {
	case kindNoStream:
		return "no stream"
	case kindStreamExists:
		return "stream exists"
	case kindExact:
		return strconv.FormatUint(e.rev, 10)
	default:
		return "any"
	}
}

// StreamState describes a stream at the time of an append: whether it has
// events, and the revision of its last one.
type StreamState struct {
	Exists       bool
	LastRevision uint64
}

// Actual returns the state as an expectation that would match it:
// [NoStream] or [Exact] of the last revision.
func (s StreamState) Actual() ExpectedRevision {
	if !s.Exists {
		return NoStream
	}
	return Exact(s.LastRevision)
}

// Matches reports whether a stream in state s satisfies e.
func (e ExpectedRevision) Matches(s StreamState) bool {
	switch e.kind {
	case kindNoStream:
		return !s.Exists
	case kindStreamExists:
		return s.Exists
	case kindExact:
		return s.Exists && s.LastRevision == e.rev
	default:
		return true
	}
}
