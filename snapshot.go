package chronicle

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/chronicle-es/chronicle/internal/jsonread"
	"github.com/google/uuid"
)

// Snapshot is the state of a stream after one of its events, saved so that
// loading the stream need not replay the events before it.
type Snapshot struct {
	Stream string
	// Revision is the revision of the last event the state includes.
	Revision uint64
	// Type names the kind of state, so that a snapshot is never decoded
	// as the state of another aggregate. A [Repository] names its state
	// by the Go type's package path and name, such as
	// "example.com/games/connectfour.Game", and a state of an unnamed
	// type by those of the named types in it, such as
	// "[]example.com/games/connectfour.Game". Before Chronicle's
	// snapshots named the package path, a state's name was its package's
	// name and its own ("connectfour.Game"), which a state of the same
	// name in another package of the same name shares. A repository
	// uses such a snapshot only where the events before it are hidden
	// (the stream was pruned after it, see [Repository.WithSnapshots]):
	// a replay would lose what they did. Elsewhere it replays the
	// stream, and its next snapshot replaces the old one.
	Type string
	// Version is the schema version of Data. A repository ignores a
	// snapshot of another version and replays the stream instead.
	Version int
	Data    []byte
}

// SnapshotStore keeps the newest snapshot of each stream, apart from its
// events. A [Store] that can keep snapshots implements it, and a
// [Repository] finds it there by type assertion. A wrapping store whose
// store beneath keeps none returns errors matching [errors.ErrUnsupported]
// (see [Store]): a repository then finds no snapshot and replays the
// stream, as it does after any failure to load one, and
// [Repository.SaveSnapshot] returns that error.
type SnapshotStore interface {
	// SaveSnapshot keeps s, unless the store has a snapshot of the same
	// stream at a later revision, which it keeps instead. A store that
	// holds the events too, as the memory, SQLite and PostgreSQL stores
	// do, keeps s only if a read of the stream returns the event at
	// s.Revision, checked in the same transaction: a snapshot of events
	// that a delete, a tombstone or the stream's metadata hides, saved
	// just after a concurrent delete say, would bring them back to the
	// loads that start from it. Otherwise it keeps nothing and returns a
	// [*SnapshotNotSavedError]. The conformance suite checks it.
	SaveSnapshot(ctx context.Context, s Snapshot) error
	// LoadSnapshot returns the stream's snapshot, and false when it has
	// none. Both refuse a name that no stream can have (see
	// [ValidateStreamName]) with an error matching [ErrInvalidStreamName].
	LoadSnapshot(ctx context.Context, stream string) (Snapshot, bool, error)
}

// SnapshotNotSavedError is a [SnapshotStore]'s refusal of a snapshot at a
// revision that a read of its stream does not return: the stream has no
// event there, or a soft delete, a tombstone or the stream's metadata
// hides it. It matches [ErrStreamDeleted] when the stream is tombstoned,
// and [ErrStreamNotFound] otherwise. Load the stream again, and snapshot
// what a read of it shows.
type SnapshotNotSavedError struct {
	Stream   string
	Revision uint64
	// Tombstoned reports that the stream is deleted for good.
	Tombstoned bool
}

// Error says which snapshot was not saved, and why.
func (e *SnapshotNotSavedError) Error() string {
	if e.Tombstoned {
		return fmt.Sprintf("snapshot of stream %q at revision %d not saved: the stream is deleted for good (tombstoned)", e.Stream, e.Revision)
	}
	return fmt.Sprintf("snapshot of stream %q at revision %d not saved: the stream's event at that revision is deleted, hidden by the stream's metadata, or was never written; load the stream again and snapshot what a read of it shows", e.Stream, e.Revision)
}

// Is reports whether target is [ErrStreamDeleted], for a tombstoned
// stream, or [ErrStreamNotFound], for the others.
func (e *SnapshotNotSavedError) Is(target error) bool {
	if e.Tombstoned {
		return target == ErrStreamDeleted
	}
	return target == ErrStreamNotFound
}

// EventFinder is a [Store] that can tell whether a stream holds an event
// with a given ID without reading the stream, among the events that its
// metadata or a soft delete hides too, until a scavenge removes them.
// [Repository.HandleOnce] uses it when a snapshot spares it the read, and
// when the stream may hold events that a read cannot show. A HasEvent
// error matching [errors.ErrUnsupported] (see [Store]) makes it go on as
// over a store that is no EventFinder: it reads the stream from its start. The memory,
// SQLite and PostgreSQL stores are EventFinders; the kurrent store, a
// client of the KurrentDB protocol, is not.
type EventFinder interface {
	// HasEvent reports whether stream holds an event with ID id. A name
	// that no stream can have gets an error matching
	// [ErrInvalidStreamName].
	HasEvent(ctx context.Context, stream string, id uuid.UUID) (bool, error)
}

// Snapshots configures the snapshots of a [Repository]. When a loaded
// snapshot is used, and when the stream is replayed instead, is told by
// [Repository.WithSnapshots].
type Snapshots[S any] struct {
	// Every takes a snapshot when a command brings a stream to, or past,
	// a multiple of Every events: a command that appends several events
	// may step over the multiple. Zero takes snapshots only on demand,
	// with [Repository.SaveSnapshot].
	Every uint64

	// Version is the schema version of the state's encoding. Bump it when
	// the state's shape changes: older snapshots are then ignored.
	Version int

	// Store keeps the snapshots. Nil means the repository's event store,
	// which must then be a [SnapshotStore]. Deleting a stream removes
	// the snapshots that its event store keeps, not those of another
	// Store: a stream deleted and then written again would load from its
	// old snapshot, unless the events right after it are hidden (see
	// WithSnapshots). Keep the snapshots of streams that may be deleted
	// in the event store. The memory, SQLite and PostgreSQL stores keep
	// snapshots only of events that a read of them returns, so of their
	// own streams: as the Store of another event store, they refuse them
	// all.
	Store SnapshotStore

	// Encode and Decode turn the state into bytes and back. Nil means
	// encoding/json, which sees only exported fields.
	Encode func(S) ([]byte, error)
	Decode func([]byte) (S, error)
}

// WithSnapshots returns a copy of r that loads streams from their newest
// snapshot and takes snapshots as cfg says. A snapshot of another type or
// version, one that fails to decode, or one at revision [End], which no
// stream reaches, is ignored: the stream is replayed from its start, so
// a snapshot never yields a state that a replay would not, unless the
// stream's metadata has since hidden events that the snapshot folded in
// (the snapshot still holds what they did), or shown again events that
// it left out (see below).
//
// A snapshot at revision N is used only when the events right after it
// are read: the first event a read from N+1 returns is N+1, or there is
// none. That is how a stream is pruned: snapshot it, then hide the
// events up to the snapshot (TruncateBefore N+1 at most, see
// [StreamMetadata]), and loads go on from the snapshot. When metadata or
// a soft delete hides events after N while later ones are read, the
// snapshot plus those would be the state of neither the visible events
// nor all of them: the repository drops the snapshot and replays the
// visible events from the start, as a repository without snapshots does,
// and the snapshots it takes after hold that state. So does any snapshot
// taken while the events before it are hidden and no earlier snapshot
// covers them (MaxCount, say, or a TruncateBefore set before any
// snapshot). Metadata changed later to show those events again (see
// [Retention]) shows them to a replay, but not to loads from such a
// snapshot, nor from the snapshots folded from it: bump
// [Snapshots].Version to have the stream replayed.
func (r *Repository[S, C, E]) WithSnapshots(cfg Snapshots[S]) (*Repository[S, C, E], error) {
	if cfg.Store == nil {
		ss, ok := r.store.(SnapshotStore)
		if !ok {
			return nil, fmt.Errorf("snapshots: the event store (%T) cannot keep snapshots: give a Snapshots.Store", r.store)
		}
		cfg.Store = ss
	}
	if cfg.Encode == nil {
		cfg.Encode = func(s S) ([]byte, error) { return json.Marshal(s) }
	}
	if cfg.Decode == nil {
		cfg.Decode = func(b []byte) (S, error) {
			var s S
			err := jsonread.Unmarshal(b, &s)
			return s, err
		}
	}
	out := *r
	out.snapshots = &cfg
	out.snapshotType = typeName(reflect.TypeFor[S]())
	out.oldSnapshotType = reflect.TypeFor[S]().String()
	return &out, nil
}

// typeName names t by its package path, not only its package's name as
// t.String does, so that two states of the same name in two packages of
// the same name never take each other's snapshots; nor do states of
// unnamed types made of them, such as slices, maps or structs, whose
// String names the named types in them by their package's name too.
// (reflect names the type arguments of a generic type by their package
// path already.) Channels, functions and interfaces, which no encoding
// keeps as state, are named as String does.
func typeName(t reflect.Type) string {
	if t.Name() != "" {
		if t.PkgPath() == "" {
			return t.Name() // predeclared: int, string, error
		}
		return t.PkgPath() + "." + t.Name()
	}
	switch t.Kind() {
	case reflect.Pointer:
		return "*" + typeName(t.Elem())
	case reflect.Slice:
		return "[]" + typeName(t.Elem())
	case reflect.Array:
		return fmt.Sprintf("[%d]%s", t.Len(), typeName(t.Elem()))
	case reflect.Map:
		return "map[" + typeName(t.Key()) + "]" + typeName(t.Elem())
	case reflect.Struct:
		fields := make([]string, t.NumField())
		for i := range fields {
			f := t.Field(i)
			fields[i] = typeName(f.Type)
			if !f.Anonymous {
				fields[i] = f.Name + " " + fields[i]
			}
			if f.Tag != "" {
				fields[i] += " " + strconv.Quote(string(f.Tag))
			}
		}
		if len(fields) == 0 {
			return "struct {}"
		}
		return "struct { " + strings.Join(fields, "; ") + " }"
	}
	return t.String()
}

// snapshot returns the usable snapshot of stream, if any.
func (r *Repository[S, C, E]) snapshot(ctx context.Context, stream string) (S, uint64, bool) {
	var zero S
	if r.snapshots == nil {
		return zero, 0, false
	}
	snap, ok, err := r.snapshots.Store.LoadSnapshot(ctx, stream)
	// No stream has an event at End: a snapshot there is corrupt, and
	// the read after it would wrap to revision 0, folding the whole
	// stream onto it.
	if err != nil || !ok || snap.Version != r.snapshots.Version || snap.Revision == End {
		return zero, 0, false
	}
	switch snap.Type {
	case r.snapshotType:
	case r.oldSnapshotType:
		// Another state of that name may have saved it (see
		// Snapshot.Type): it is used only where a replay cannot give
		// the state, as the events before it are hidden.
		if !r.startHidden(ctx, stream) {
			return zero, 0, false
		}
	default:
		return zero, 0, false
	}
	state, err := r.snapshots.Decode(snap.Data)
	if err != nil {
		return zero, 0, false
	}
	return state, snap.Revision, true
}

// startHidden reports whether a read of stream hides its first event,
// or every event: a replay cannot give what they did.
func (r *Repository[S, C, E]) startHidden(ctx context.Context, stream string) bool {
	for rec, err := range r.store.ReadStream(ctx, stream, ReadStreamOptions{Limit: 1}) {
		return err == nil && rec.Revision > 0
	}
	return true
}

// SaveSnapshot loads stream and saves a snapshot of its state now. A
// stream loaded from its snapshot alone, with no event after it that a
// read returns (one pruned after its snapshot, say), has that snapshot
// for its state: nothing is saved. A stream that a read shows no events
// of, and no snapshot, has no state to save: the error matches
// [ErrStreamNotFound]. So does the store's refusal of a snapshot whose
// events a delete, committed since the load, hides (see
// [SnapshotNotSavedError]).
func (r *Repository[S, C, E]) SaveSnapshot(ctx context.Context, stream string) error {
	if r.snapshots == nil {
		return errors.New("save snapshot: the repository has no snapshots configured: see WithSnapshots")
	}
	state, rev, _, unread, err := r.load(ctx, stream, uuid.Nil, true)
	if err != nil {
		return err
	}
	last, ok := rev.Revision()
	switch {
	case !ok:
		return fmt.Errorf("save snapshot of %q: no state to save, as a read of the stream returns no events (its metadata may hide them all): %w",
			stream, &StreamNotFoundError{Stream: stream})
	case unread:
		return nil // the state is the snapshot's
	}
	return r.saveSnapshot(ctx, stream, state, last)
}

func (r *Repository[S, C, E]) saveSnapshot(ctx context.Context, stream string, state S, rev uint64) error {
	data, err := r.snapshots.Encode(state)
	if err != nil {
		return fmt.Errorf("save snapshot of %q: encode: %w", stream, err)
	}
	err = r.snapshots.Store.SaveSnapshot(ctx, Snapshot{
		Stream: stream, Revision: rev, Type: r.snapshotType, Version: r.snapshots.Version, Data: data,
	})
	var refused *SnapshotNotSavedError
	if err != nil && !errors.As(err, &refused) {
		// A refusal names the stream and the snapshot already.
		return fmt.Errorf("save snapshot of %q: %w", stream, err)
	}
	return err
}

// maybeSnapshot takes the snapshot that cfg.Every asks for after a
// command moved stream from revision before (NoStream or Exact) to after.
// A snapshot is an optimisation: failing to save one does not fail the
// command, whose events are already committed. Neither does the store's
// refusal of one whose events a delete, committed since the append,
// hides: that snapshot must not be kept.
func (r *Repository[S, C, E]) maybeSnapshot(ctx context.Context, stream string, before ExpectedRevision, after uint64, state S) {
	if r.snapshots == nil || r.snapshots.Every == 0 {
		return
	}
	every := r.snapshots.Every
	count := uint64(0)
	if rev, ok := before.Revision(); ok {
		count = rev + 1
	}
	if (after+1)/every > count/every {
		_ = r.saveSnapshot(ctx, stream, state, after)
	}
}
