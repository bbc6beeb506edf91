package chronicle

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"

	"github.com/google/uuid"
)

// DefaultRetries is how many times [Repository.Handle] decides again
// after a concurrency conflict, unless [RepositoryOptions] says otherwise.
const DefaultRetries = 3

// RepositoryOptions configures a [Repository]. A nil *RepositoryOptions
// gives the defaults.
type RepositoryOptions struct {
	// Retries is how many times Handle reloads the stream and decides
	// again when another writer appended first. Zero means
	// [DefaultRetries]; a negative value means no retry. The refusal of
	// an append after a load that read no events, by events that the
	// next load neither reads nor finds in a newer snapshot, is no such
	// conflict, once per command: the stream's metadata hides them (see
	// Handle). Nor is one that finds the stream ending before the
	// snapshot it was decided on (see Load).
	Retries int
}

// Repository loads and saves the streams of one kind of aggregate, written
// as a [Decider], in a [Store]. It is safe for concurrent use.
type Repository[S, C, E any] struct {
	store   Store
	codec   *Codec[E]
	decider Decider[S, C, E]
	retries int

	snapshots    *Snapshots[S] // nil: no snapshots
	snapshotType string
	// oldSnapshotType is how releases before snapshotType named the
	// state (see Snapshot.Type).
	oldSnapshotType string
}

// NewRepository returns a repository that keeps the decider's streams in
// store, encoded by codec. opts may be nil.
func NewRepository[S, C, E any](store Store, codec *Codec[E], decider Decider[S, C, E], opts *RepositoryOptions) *Repository[S, C, E] {
	r := &Repository[S, C, E]{store: store, codec: codec, decider: decider, retries: DefaultRetries}
	if opts != nil && opts.Retries != 0 {
		r.retries = max(opts.Retries, 0)
	}
	return r
}

// Load rebuilds the state of stream from its events. It returns the
// revision to expect when saving what is decided from that state:
// [NoStream] for a stream without events, whose state is the initial one.
// A stream whose metadata hides all its events loads so too, although
// the store expects the last of them: Save's refusal then says where
// they end (see [WrongExpectedRevisionError]), and Handle uses it. A
// stream loaded from a snapshot whose later events are all hidden loads
// as its snapshot, since a read cannot tell them from none; Handle,
// whose append learns of them, decides on the initial state instead, as
// a replay of the visible events would (see [Repository.WithSnapshots]).
// A stream whose snapshot, kept by a [Snapshots] Store apart from its
// events, is past its last event (the event store was restored from a
// backup older than the snapshot, say) loads as that snapshot too, for
// the same reason; Handle, whose append's refusal says where the stream
// ends, replays the stream instead.
func (r *Repository[S, C, E]) Load(ctx context.Context, stream string) (S, ExpectedRevision, error) {
	state, rev, _, _, err := r.load(ctx, stream, uuid.Nil, true)
	return state, rev, err
}

// load is Load that also reports whether the stream holds an event with
// ID seek, and whether the stream exists but the load read none of its
// events (unread): its metadata hides them all, or all after its
// snapshot, or it has none after its snapshot. Without snapshots, it
// replays the stream whatever snapshot the repository keeps of it.
func (r *Repository[S, C, E]) load(ctx context.Context, stream string, seek uuid.UUID, snapshots bool) (state S, rev ExpectedRevision, found, unread bool, err error) {
	state, rev, from := r.decider.InitialState(), NoStream, uint64(0)
	finder, canFind := r.store.(EventFinder)
	// asked is whether found covers the whole stream, hidden events too.
	asked := false
	ask := func() error {
		if asked || seek == uuid.Nil || !canFind {
			return nil
		}
		asked = true
		var err error
		found, err = finder.HasEvent(ctx, stream, seek)
		if errors.Is(err, errors.ErrUnsupported) {
			// A store that wraps one without the ability: go on as
			// without an EventFinder.
			found, canFind = false, false
			return nil
		}
		if err != nil {
			return fmt.Errorf("load %q: %w", stream, err)
		}
		return nil
	}
	snapped := false
	if snapshots {
		if snap, at, ok := r.snapshot(ctx, stream); ok && (seek == uuid.Nil || canFind) {
			if err := ask(); err != nil {
				return state, rev, false, false, err
			}
			// Without a finder, the events before the snapshot are read
			// for the command's.
			if seek == uuid.Nil || canFind {
				state, rev, from, snapped = snap, Exact(at), at+1, true
			}
		}
	}
	read := false
replay:
	for {
		for rec, err := range r.store.ReadStream(ctx, stream, ReadStreamOptions{From: from}) {
			if errors.Is(err, ErrStreamNotFound) {
				// Without events, a snapshot describes a stream that is gone.
				// A soft delete may have hidden the command's events.
				if err := ask(); err != nil {
					return r.decider.InitialState(), NoStream, false, false, err
				}
				return r.decider.InitialState(), NoStream, found, false, nil
			}
			if err != nil {
				return state, rev, false, false, fmt.Errorf("load %q: %w", stream, err)
			}
			if !read && rec.Revision > from {
				// The events before it are hidden, or gone: a command's
				// events may be among them.
				if err := ask(); err != nil {
					return state, rev, false, false, err
				}
				if snapped {
					// The events right after the snapshot are hidden, and
					// later ones are not: folded onto the snapshot, they
					// would give the state of neither the visible events
					// nor all of them. Replay the visible ones, as
					// without snapshots (see WithSnapshots); found
					// already covers the whole stream.
					state, rev, from, snapped = r.decider.InitialState(), NoStream, 0, false
					continue replay
				}
			}
			read = true
			e, err := r.codec.Decode(rec)
			if err != nil {
				return state, rev, false, false, fmt.Errorf("load %q: %w", stream, err)
			}
			state = r.decider.Evolve(state, e)
			rev = Exact(rec.Revision)
			found = found || seek != uuid.Nil && rec.ID == seek
		}
		break
	}
	if !read {
		if err := ask(); err != nil {
			return state, rev, false, false, err
		}
	}
	return state, rev, found, !read, nil
}

// Save appends events to stream if it is still at expected. The events
// get the metadata that ctx carries (see [WithMetadata]), except its
// [MetadataSchemaVersion], which the codec alone sets. Saving no events
// does nothing and returns the zero AppendResult, which describes no
// append: its NextExpected is not the stream's, so keep using expected.
func (r *Repository[S, C, E]) Save(ctx context.Context, stream string, expected ExpectedRevision, events ...E) (AppendResult, error) {
	return r.save(ctx, stream, expected, uuid.Nil, events)
}

// save is Save that, given a command ID, derives the events' IDs from it.
func (r *Repository[S, C, E]) save(ctx context.Context, stream string, expected ExpectedRevision, cmdID uuid.UUID, events []E) (AppendResult, error) {
	if len(events) == 0 {
		return AppendResult{}, nil
	}
	md := MetadataFrom(ctx)
	data := make([]EventData, len(events))
	for i, e := range events {
		d, err := r.codec.Encode(e)
		if err != nil {
			return AppendResult{}, fmt.Errorf("save %q: %w", stream, err)
		}
		if len(md) > 0 {
			merged := maps.Clone(md)
			// The schema version describes this event's data, so only the
			// codec may set it: one carried over from another event would
			// make this one read as a version it is not.
			delete(merged, MetadataSchemaVersion)
			maps.Copy(merged, d.Metadata)
			d.Metadata = merged
		}
		if cmdID != uuid.Nil {
			d.ID = EventID(cmdID, i)
		}
		data[i] = d
	}
	return r.store.Append(ctx, stream, expected, data...)
}

// Outcome is what [Repository.Handle] did.
type Outcome[S, E any] struct {
	// State is the stream's state after the new events.
	State S
	// Events are the events the command caused; none when it changed
	// nothing.
	Events []E
	// Revision is the stream's revision after the command: the revision
	// to expect when saving next.
	Revision ExpectedRevision
	// Duplicate reports that [Repository.HandleOnce] found the command's
	// events already in the stream, and did not run it again.
	Duplicate bool
}

// Handle runs cmd against stream: it loads the state, decides, and saves
// the new events expecting the revision it loaded. When another writer
// appended in between, it loads and decides again, up to the configured
// number of retries; after that the error matches
// [ErrWrongExpectedRevision]. An error from the decider is returned as it
// is, so that callers can match the domain's errors.
//
// A stream whose metadata hides all its events (they aged out, or were
// truncated; see [StreamMetadata]) reads as empty: the command is decided
// on the initial state, as a reader sees the stream, or on its snapshot
// if one is loaded, and its events follow the hidden ones, where the
// store's refusal of an append that expected fewer says they end.
func (r *Repository[S, C, E]) Handle(ctx context.Context, stream string, cmd C) (Outcome[S, E], error) {
	return r.handle(ctx, stream, cmd, uuid.Nil, nil)
}

// HandleOnce is Handle for a command that may be delivered more than
// once, such as one issued by a workflow that is retried after a crash.
// id identifies the command: its events get IDs derived from it (see
// [EventID]), and when the stream already holds the first of them, the
// command has been handled before and is not decided again; the outcome
// then has Duplicate set and no events. Derive id from what caused the
// command, for example with [EventID] of the triggering event's ID, so
// that every delivery carries the same one; an event's ID is unique only
// within its stream, so triggers of different streams may share one, and
// their commands then share id too. Events that the stream's
// metadata or a soft delete hides count too, until a scavenge removes
// them, but only on a store that is an [EventFinder] (the memory, SQLite
// and PostgreSQL stores): a command handled before its stream was
// deleted is not handled again. A Duplicate's revision is the one that a
// read of the stream shows.
func (r *Repository[S, C, E]) HandleOnce(ctx context.Context, stream string, cmd C, id uuid.UUID) (Outcome[S, E], error) {
	if id == uuid.Nil {
		return Outcome[S, E]{}, fmt.Errorf("handle %q: %w: the command ID is the nil UUID", stream, ErrInvalidEvent)
	}
	return r.handle(ctx, stream, cmd, id, nil)
}

// HandleNew is Handle for a command that most likely starts a new stream,
// such as one named by an ID just generated. It decides on the initial
// state and saves the events expecting [NoStream], without reading the
// stream first: a read, and the wait for it, fewer per new stream.
// Whenever that guess does not simply succeed (the stream exists, the
// decider refuses the command or decides nothing on the initial state,
// or the store refuses the events or fails), it goes on as Handle does,
// loading the stream and deciding on what it holds, so that the outcome
// and the error are Handle's. A guess refused by events that the next
// load reads, or finds in a snapshot, counts as the first of Handle's
// attempts, unless the repository makes no retries: the stream is then
// still loaded and decided on once. The decider must be pure, as
// deciders are: its first answer may be thrown away.
func (r *Repository[S, C, E]) HandleNew(ctx context.Context, stream string, cmd C) (Outcome[S, E], error) {
	state := r.decider.InitialState()
	events, err := r.decider.Decide(state, cmd)
	if err != nil || len(events) == 0 {
		// The stream's own state may decide otherwise; only a read tells.
		return r.handle(ctx, stream, cmd, uuid.Nil, nil)
	}
	res, err := r.save(ctx, stream, NoStream, uuid.Nil, events)
	if err != nil {
		// Handle's way tells an existing stream from a refusal of these
		// events or a failure, and gives its outcome for each.
		var guess *WrongExpectedRevisionError
		errors.As(err, &guess)
		return r.handle(ctx, stream, cmd, uuid.Nil, guess)
	}
	state = r.decider.Fold(state, events...)
	r.maybeSnapshot(ctx, stream, NoStream, res.LastRevision, state)
	return Outcome[S, E]{State: state, Events: events, Revision: Exact(res.LastRevision)}, nil
}

// handle runs cmd against stream as Handle, HandleOnce and HandleNew do.
// guess is the refusal of HandleNew's append that guessed the stream was
// new, if a conflict refused it.
//
// A stream whose metadata hides all its events (they aged out, or were
// truncated), or all those after its snapshot, shows the load none of
// them, yet an append must expect the revision of the last, and only the
// refusal of an append that expected less tells it (hidden). Such a
// refusal is a conflict with another writer only if the next load reads
// the events that caused it; the first one that it does not is no
// conflict, so that the retries stay for other writers.
func (r *Repository[S, C, E]) handle(ctx context.Context, stream string, cmd C, id uuid.UUID, guess *WrongExpectedRevisionError) (Outcome[S, E], error) {
	seek := uuid.Nil
	if id != uuid.Nil {
		seek = EventID(id, 0)
	}
	conflicts := 0 // appends refused because another writer came first
	// decided is whether an append decided on a loaded state was refused:
	// HandleNew's guess was not, and the loaded state gets its decision
	// even without retries.
	decided := false
	hidden, learned := NoStream, false
	// unsure is a refusal of an append after no events read, not yet
	// counted or not; refused is what that append was decided on.
	var unsure error
	var refused Outcome[S, E]
	// beyond is whether a refusal showed the loaded snapshot to be past
	// the stream's end: the loads after it replay the stream.
	beyond := false
	if guess != nil {
		unsure, hidden = guess, exactOrNone(guess.Actual)
	}
	for {
		state, rev, done, unread, err := r.load(ctx, stream, seek, !beyond)
		if err != nil {
			return Outcome[S, E]{}, err
		}
		if done {
			return Outcome[S, E]{State: state, Revision: rev, Duplicate: true}, nil
		}
		// A refusal's revision is the stream's only past what the load
		// read: a snapshot taken since may be newer.
		useHidden := unread && after(hidden, rev)
		if useHidden {
			if _, snapped := rev.Revision(); snapped {
				// The state is a snapshot's (a load that reads nothing
				// has a revision only from one), and the stream goes on
				// past it with events that a read does not show: as in
				// load, the snapshot no longer stands in for the visible
				// history, which here holds none of the stream's events.
				state = r.decider.InitialState()
			}
			rev = hidden
		}
		if unsure != nil {
			if useHidden && !learned {
				learned = true // it only said where the hidden events end
			} else if conflicts++; conflicts > r.retries && decided {
				return refused, gaveUp(stream, conflicts, unsure)
			}
			unsure = nil
		}
		events, err := r.decider.Decide(state, cmd)
		if err != nil {
			return Outcome[S, E]{State: state, Revision: rev}, err
		}
		if len(events) == 0 {
			return Outcome[S, E]{State: state, Revision: rev}, nil
		}
		res, err := r.save(ctx, stream, rev, id, events)
		if errors.Is(err, ErrWrongExpectedRevision) {
			decided = true
			var wrong *WrongExpectedRevisionError
			if unread && errors.As(err, &wrong) && !beyond && pastEnd(rev, wrong.Actual) {
				// The stream ends before the revision loaded, which a
				// load that read nothing has only from a snapshot, and
				// revisions never go back: the snapshot, kept apart from
				// the events, is past the stream's end. No other writer
				// did that, and every append decided on the snapshot
				// would be refused alike: replay the stream instead.
				beyond = true
				continue
			}
			if unread && errors.As(err, &wrong) {
				// The next load tells whether the events that refused it
				// are hidden or another writer's.
				unsure, hidden = err, exactOrNone(wrong.Actual)
				refused = Outcome[S, E]{State: state, Revision: rev}
				continue
			}
			if conflicts++; conflicts > r.retries {
				return Outcome[S, E]{State: state, Revision: rev}, gaveUp(stream, conflicts, err)
			}
			continue
		}
		if err != nil {
			return Outcome[S, E]{State: state, Revision: rev}, err
		}
		state = r.decider.Fold(state, events...)
		r.maybeSnapshot(ctx, stream, rev, res.LastRevision, state)
		return Outcome[S, E]{State: state, Events: events, Revision: Exact(res.LastRevision)}, nil
	}
}

// gaveUp is Handle's error once other writers have changed the stream
// first conflicts times in a row; err is the last refusal.
func gaveUp(stream string, conflicts int, err error) error {
	if conflicts == 1 {
		return fmt.Errorf("handle %q: another writer changed the stream first: %w", stream, err)
	}
	return fmt.Errorf("handle %q: other writers changed the stream first, %d times in a row: %w", stream, conflicts, err)
}

// after reports whether a is an exact revision past b.
func after(a, b ExpectedRevision) bool {
	ra, ok := a.Revision()
	if !ok {
		return false
	}
	rb, ok := b.Revision()
	return !ok || ra > rb
}

// pastEnd reports whether rev is past the end of a stream that a refusal
// found at actual: actual is an exact revision before rev.
func pastEnd(rev, actual ExpectedRevision) bool {
	_, exists := actual.Revision()
	return exists && after(rev, actual)
}

// exactOrNone returns rev if it is an exact revision, and NoStream
// otherwise: where a refusal says a stream stands, when it can be trusted.
func exactOrNone(rev ExpectedRevision) ExpectedRevision {
	if _, ok := rev.Revision(); ok {
		return rev
	}
	return NoStream
}

type metadataKey struct{}

// WithMetadata returns a context whose events, when saved by a
// [Repository], carry md: the way to give every event of one request the
// same correlation ID without threading it through the domain code.
// Metadata already in ctx is kept, with md's keys taking precedence. A
// [MetadataSchemaVersion] in md is not carried: the codec sets it.
func WithMetadata(ctx context.Context, md Metadata) context.Context {
	merged := maps.Clone(MetadataFrom(ctx))
	if merged == nil {
		merged = make(Metadata, len(md))
	}
	maps.Copy(merged, md)
	return context.WithValue(ctx, metadataKey{}, merged)
}

// MetadataFrom returns the metadata that ctx carries, or nil.
func MetadataFrom(ctx context.Context) Metadata {
	md, _ := ctx.Value(metadataKey{}).(Metadata)
	return md
}

// EventID derives the ID of the i-th event caused by the command or event
// with ID parent: the same inputs always give the same ID (a UUIDv5), so
// that a step retried after a crash appends events with the IDs of its
// first attempt, and the store recognises the retry.
func EventID(parent uuid.UUID, i int) uuid.UUID {
	return uuid.NewSHA1(parent, []byte(strconv.Itoa(i)))
}
