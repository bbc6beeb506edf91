// Package appendcheck holds the rules that decide whether an append may
// go ahead, must be refused, or is a retry of an append that already
// happened. Every store applies the same rules through it, inside the
// transaction or lock that makes its appends atomic.
package appendcheck

import (
	"fmt"
	"math"

	"github.com/chronicle-es/chronicle"
	"github.com/google/uuid"
)

// Recorded is what the rules need to know of an event already stored.
type Recorded struct {
	ID       uuid.UUID
	Position uint64
	Revision uint64
}

// Stream gives the rules a view of one stream, as of the append.
type Stream interface {
	// At returns the stream's events from revision from on, in order, at
	// most n of them. A revision that a scavenge emptied may be skipped:
	// the rules stop at the first gap.
	At(from uint64, n int) ([]Recorded, error)
	// Find returns the revision of the stream's event with the given ID.
	Find(id uuid.UUID) (rev uint64, ok bool, err error)
}

// State is a stream's state as of an append.
type State struct {
	// StreamState is the state that expected revisions are checked
	// against: a soft-deleted stream has no events.
	chronicle.StreamState
	// SoftDeleted is whether the stream holds events that a soft delete
	// hid, and no append has followed the delete.
	SoftDeleted bool
	// Restart is the revision from which the stream's latest soft delete
	// let it go on: once it is written again, where its first append
	// after the delete put its events. 0 if it was never soft-deleted.
	Restart uint64
}

// Check decides an append of events (already prepared, so every ID is
// set) to a stream in state st. It returns:
//   - nil, nil: the append goes ahead, at revision st.LastRevision+1
//     (or 0 for a new stream; after its old events for one soft-deleted);
//   - ack, nil: the events are already in the stream where this append
//     would have put them; acknowledge with ack and write nothing;
//   - nil, err: refuse the append.
//
// A soft-deleted stream holds the events of the appends made before the
// delete: an append whose first event is among them, whatever it
// expected, is a retry of one of those, acknowledged as the first was,
// and the stream stays deleted. An append that expects no stream would
// put its events at revision 0, or, once a soft-deleted stream was
// written again, where that began (st.Restart): a retry finds them at
// either place.
func Check(name string, expected chronicle.ExpectedRevision, st State,
	events []chronicle.EventData, s Stream) (*chronicle.AppendResult, error) {
	if st.SoftDeleted {
		rev, ok, err := s.Find(events[0].ID)
		if err != nil {
			return nil, err
		}
		if ok {
			return compare(name, rev, events, s, true)
		}
	}
	if expected.Matches(st.StreamState) {
		if !expected.IsAny() && !expected.IsStreamExists() || !st.Exists {
			return nil, nil
		}
		// Without an exact place to compare, a retry is recognised by its
		// first event's ID.
		rev, ok, err := s.Find(events[0].ID)
		if err != nil || !ok {
			return nil, err
		}
		return compare(name, rev, events, s, true)
	}
	wrong := &chronicle.WrongExpectedRevisionError{Stream: name, Expected: expected, Actual: st.Actual()}
	var starts []uint64
	switch rev, exact := expected.Revision(); {
	case exact && rev == math.MaxUint64:
		// No stream holds an event after that one: rev+1 would wrap to
		// revision 0 and take the stream's first events for a retry.
		return nil, wrong
	case exact:
		starts = []uint64{rev + 1}
	case expected.IsNoStream() && st.Restart > 0:
		starts = []uint64{st.Restart, 0}
	case expected.IsNoStream():
		starts = []uint64{0}
	default:
		return nil, wrong
	}
	for _, start := range starts {
		if !st.Exists || start > st.LastRevision {
			continue
		}
		ack, err := compare(name, start, events, s, false)
		if err != nil || ack != nil {
			return ack, err
		}
	}
	return nil, wrong
}

// compare checks whether the stream holds events at revisions start....
// With strict, any difference is an [chronicle.ErrIdempotencyConflict];
// without it, a difference in the first ID means "not a retry" (nil, nil).
func compare(name string, start uint64, events []chronicle.EventData, s Stream, strict bool) (*chronicle.AppendResult, error) {
	recs, err := s.At(start, len(events))
	if err != nil {
		return nil, err
	}
	for i, r := range recs {
		if r.Revision != start+uint64(i) {
			// A scavenge emptied that revision: the stream holds no event
			// there, and the later ones are not the ones asked for.
			recs = recs[:i]
			break
		}
	}
	if !strict && (len(recs) == 0 || recs[0].ID != events[0].ID) {
		return nil, nil
	}
	if len(recs) != len(events) {
		return nil, conflict(name, start, len(recs), len(events))
	}
	for i, r := range recs {
		if r.ID != events[i].ID {
			return nil, conflict(name, start, i, len(events))
		}
	}
	return &chronicle.AppendResult{
		FirstRevision: start,
		LastRevision:  start + uint64(len(events)) - 1,
		FirstPosition: recs[0].Position,
		LastPosition:  recs[len(recs)-1].Position,
	}, nil
}

func conflict(name string, start uint64, matched, n int) error {
	return fmt.Errorf("append to %q: %w: the stream holds the first event at revision %d, but only %d of the %d events match what is stored from there",
		name, chronicle.ErrIdempotencyConflict, start, matched, n)
}
