package chronicle

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrStreamDeleted means a stream was deleted for good (tombstoned): it
// can be neither read nor appended to again. The error is a
// [*StreamDeletedError].
var ErrStreamDeleted = errors.New("chronicle: stream deleted")

// StreamDeletedError names the tombstoned stream that an operation met.
type StreamDeletedError struct {
	Stream string
}

// Error names the stream.
func (e *StreamDeletedError) Error() string {
	return fmt.Sprintf("stream %q is deleted for good (tombstoned): it cannot be read or written; use another name", e.Stream)
}

// Is reports whether target is [ErrStreamDeleted].
func (e *StreamDeletedError) Is(target error) bool { return target == ErrStreamDeleted }

// StreamMetadata holds the settings of one stream that decide which of its
// events reads return, with the meaning KurrentDB gives them. Events they
// hide are left out of [Store.ReadStream] at once; a [Scavenger] removes
// them from the store, and from the global log, later.
//
// Every store follows these rules, which the conformance suite checks:
//
//   - Metadata only hides events. It never moves a stream's revisions and
//     never makes a stream exist: an append numbers its events after the
//     stream's last revision, hidden or not, and its expected revision is
//     checked against that revision.
//   - An event is read only if every setting lets it through, so the
//     stricter of MaxCount and TruncateBefore wins.
//   - TruncateBefore may lie past the end of the stream. It then hides
//     every event, and the events appended later become visible from
//     revision TruncateBefore on: with revisions 0-4 and TruncateBefore
//     10, the next append gets revision 5, hidden, and revision 10 is
//     the first one read.
//   - A stream that has events, all of them hidden, still exists:
//     [Store.ReadStream] returns no events and no error, in either
//     direction. It returns [ErrStreamNotFound] only for a stream that
//     never had events, or is soft-deleted.
//   - Hidden events do not count towards [ReadStreamOptions.Limit], and a
//     read from a hidden revision goes on to the visible ones in its
//     direction.
type StreamMetadata struct {
	// MaxAge hides events recorded longer ago than this. Zero: no limit.
	// A store may keep it at a coarser precision, rounded up, never
	// down: microseconds in the SQLite and PostgreSQL stores, seconds in
	// KurrentDB.
	MaxAge time.Duration
	// MaxCount hides all but the newest MaxCount events. Zero: no limit.
	// Stores keep a value above math.MaxInt64, more events than any
	// store holds, as math.MaxInt64.
	MaxCount uint64
	// TruncateBefore hides the events before this revision. Zero: none.
	// Stores keep a value above math.MaxInt64 as math.MaxInt64.
	TruncateBefore uint64
}

// Validate reports whether a store can set m: a negative MaxAge, which
// would hide nothing or everything depending on how a store read it, is
// refused with an error matching [ErrInvalidMetadata]. Every store calls
// it in SetStreamMetadata, before it changes anything.
func (m StreamMetadata) Validate() error {
	if m.MaxAge < 0 {
		return fmt.Errorf("%w: MaxAge %v is negative: give a positive age, or 0 for no limit", ErrInvalidMetadata, m.MaxAge)
	}
	return nil
}

// IsZero reports whether m hides nothing.
func (m StreamMetadata) IsZero() bool { return m == StreamMetadata{} }

// Visible reports whether m lets a read return the event at revision rev,
// recorded at recorded, of a stream whose last revision is last.
func (m StreamMetadata) Visible(rev, last uint64, recorded, now time.Time) bool {
	switch {
	case rev < m.TruncateBefore:
		return false
	case m.MaxCount > 0 && last >= m.MaxCount && rev <= last-m.MaxCount:
		return false
	case m.MaxAge > 0 && recorded.Before(now.Add(-m.MaxAge)):
		return false
	}
	return true
}

// Retention is a [Store] whose streams have [StreamMetadata].
type Retention interface {
	// SetStreamMetadata replaces the metadata of stream.
	//
	// It may be set before the stream has events, as in KurrentDB: the
	// stream still reads as [ErrStreamNotFound], and its first append
	// expects [NoStream] and gets revision 0. It may be set on a
	// soft-deleted stream, which stays deleted until an append: its
	// TruncateBefore is raised to what the delete hid (the deleted
	// stream's last revision plus one), so that it cannot bring those
	// events back. Once the stream is written again, its metadata is
	// replaced like any other's: metadata with a lower TruncateBefore
	// shows the deleted events again, until a scavenge has removed them
	// (StreamMetadata gives what to keep when changing other settings).
	// On a tombstoned stream it fails with
	// [ErrStreamDeleted]; metadata that [StreamMetadata.Validate] refuses
	// fails with [ErrInvalidMetadata] and changes nothing.
	SetStreamMetadata(ctx context.Context, stream string, m StreamMetadata) error
	// StreamMetadata returns the metadata of stream: the zero value when
	// none was set, whether the stream has events or not. A soft delete
	// shows as a TruncateBefore of the deleted stream's last revision
	// plus one, or the one the metadata had if larger (a delete never
	// reveals what the metadata hid), beside the settings it had, and
	// stays after the stream is written again. A scavenge changes nothing that it returns. For a
	// tombstoned stream it returns the last metadata and an error
	// matching [ErrStreamDeleted]. A name that no stream can have (see
	// [ValidateStreamName]) gets an error matching [ErrInvalidStreamName].
	StreamMetadata(ctx context.Context, stream string) (StreamMetadata, error)
}

// Deleter is a [Store] whose streams can be deleted. Both kinds of delete
// take an expected revision, like an append, and remove the stream's
// snapshot. Until a [Scavenger] runs, the deleted events still appear in
// [Store.ReadAll].
type Deleter interface {
	// Delete soft-deletes stream: reading it returns [ErrStreamNotFound],
	// and an append starts it again, after its old last revision, as
	// KurrentDB does (the old events stay hidden). The stream's
	// TruncateBefore becomes its last revision plus one, unless it was
	// larger: the events that the metadata hid past the end stay hidden
	// when they are appended.
	Delete(ctx context.Context, stream string, expected ExpectedRevision) error
	// Tombstone deletes stream for good: reads and appends fail with
	// [ErrStreamDeleted] from then on.
	Tombstone(ctx context.Context, stream string, expected ExpectedRevision) error
}

// ScavengeProgress reports how far a scavenge has come.
type ScavengeProgress struct {
	// Done of Total streams with metadata or deletions have been
	// scavenged.
	Done, Total int
	// Removed counts the events removed so far.
	Removed uint64
}

// Scavenger is a [Store] that can remove, for good, the events that
// retention and deletion hide, and give their space back.
type Scavenger interface {
	// Scavenge removes hidden events. The events that remain keep their
	// positions, so the global log keeps its order and checkpoints stay
	// valid; the positions of removed events become holes. A scavenge
	// that is interrupted (by ctx, or a crash) resumes where it stopped
	// when run again. progress, if not nil, is called as it goes.
	Scavenge(ctx context.Context, progress func(ScavengeProgress)) (ScavengeProgress, error)
}
