package shred

import (
	"bytes"
	"cmp"
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/chronicle-es/chronicle"
)

var _ chronicle.SnapshotStore = (*Store)(nil)

// ErrSnapshotRefused is the error of [Store.SaveSnapshot] for a stream
// whose state must not be kept: it holds personal fields of a forgotten
// subject, and a state decided before the subject was forgotten may
// still hold its values in the clear, with nothing to tell it from one
// decided after; its reads hide events whose values the state may hold,
// and whose subjects cannot be read; or the store has no keys, and its
// state holds [Encrypted] where a store with keys, loading the snapshot,
// would take it for the fields' values. The error says which. The stream
// is loaded from its events, as without snapshots.
var ErrSnapshotRefused = errors.New("snapshot not kept")

// errForgottenSubject and errNoKeys say why a snapshot is refused.
var (
	errForgottenSubject = fmt.Errorf("%w: the stream holds personal fields of a forgotten subject, whose values the state may hold", ErrSnapshotRefused)
	errNoKeys           = fmt.Errorf("%w: the stream holds encrypted fields, which a store without keys reads as %q, and a state that holds that placeholder would load as their values through a store with keys", ErrSnapshotRefused, Encrypted)
	errHiddenEvents     = fmt.Errorf("%w: reads of the stream hide some of its events (its metadata or a soft delete), and no earlier snapshot covers them: the state may hold personal values of theirs, whose subjects cannot be read", ErrSnapshotRefused)
)

// The types under which a [Store] keeps snapshots in the store beneath.
// A repository that reads that store's snapshots itself
// (Snapshots.Store of [chronicle.Snapshots]) takes each for a snapshot
// of another type, and replays.
const (
	// sealedType prefixes the type of a snapshot kept encrypted: decoded,
	// its data would give a state that no replay gives (encoding/json,
	// say, drops the unknown fields, and leaves a zero state).
	sealedType = "$shredded_snapshot:"
	// clearType prefixes the type of a snapshot kept in the clear, of a
	// stream whose events held no encrypted field. It tells the Store's
	// own from those that other programs kept in the clear beneath, as
	// programs over a Store did before it kept snapshots, which may hold
	// the values of subjects forgotten since: the Store reads neither
	// these nor anything else that is not its own.
	clearType = "$shredded_clear_snapshot:"
	// removedType is the type of an empty snapshot that replaces, beneath,
	// one that the Store did not keep (see removeForeign).
	removedType = "$shredded_removed_snapshot"
)

// sealedSnapshot is the data of a snapshot as a [Store] keeps it in the
// store beneath: encrypted with a key made of the keys of every subject
// whose personal fields the stream's events hold, up to the snapshot's
// revision, so that forgetting any of them makes it unreadable.
type sealedSnapshot struct {
	Cipher   []byte   `json:"$shredded_snapshot"` // nonce, then ciphertext
	Subjects []binder `json:"$subjects"`
	// KeyVersion says how the key was derived from the subjects' keys
	// (see snapshotKey). Snapshots sealed before it was written have
	// none, and read as snapshotKeyV1.
	KeyVersion int `json:"$key_version,omitempty"`
}

// The versions of the derivation of a snapshot's key from the keys of
// its subjects (see snapshotKey).
const (
	// snapshotKeyV1 hashed the keys joined as they are, so that keys of
	// other lengths could join to the same bytes: "ab"+"c" and "a"+"bc".
	// Only lists of keys of KeySize bytes each are read with it.
	snapshotKeyV1 = 1
	// snapshotKeyV2 hashes each key after its length, under a label of
	// its own: no two lists of keys give the same input.
	snapshotKeyV2 = 2
)

// binder is a subject whose key a sealed snapshot was encrypted with.
type binder struct {
	Subject string `json:"$subject"` // Ref of the subject
	KeyID   string `json:"$key"`     // keyID of its key
}

// SaveSnapshot implements [chronicle.SnapshotStore] with the store
// beneath, which keeps its snapshots; without one it returns an error
// matching [errors.ErrUnsupported].
//
// A snapshot holds the decoded state of a stream, and with it the
// personal values that its events hold encrypted, in the clear. So
// SaveSnapshot encrypts it with a key made of the keys of every subject
// whose fields the stream's events hold, up to the snapshot's revision
// (the events are read from the last such snapshot on), and
// [Store.LoadSnapshot] finds no snapshot once any of them is forgotten:
// the stream is then loaded from its events, where the subject's fields
// read as [Forgotten]. A snapshot of a stream that holds no encrypted
// field is kept in the clear. The store beneath keeps both under types
// of their own, which a repository that reads the snapshots of that
// store itself takes for another's: it replays the stream. A store
// without keys ([NewDecrypting] given none) keeps no snapshot of a
// stream that holds encrypted fields: its state holds [Encrypted] for
// them, which a repository over a store with keys would load as their
// values; it returns an error matching [ErrSnapshotRefused]. The key is
// bound to the events, not to the data: keep in a snapshot no personal
// value that the stream's events do not hold encrypted.
//
// A stream that holds fields of a subject already forgotten takes no
// snapshot: the state to keep may have been decided before the subject
// was forgotten, and hold its values. Nor does a stream whose reads hide
// some of its events up to the snapshot's revision (its metadata's
// MaxCount, MaxAge or TruncateBefore, or a soft delete), unless a
// snapshot that a Store kept before covers them, when the schema names
// personal fields: the state may hold what those events did (it was
// loaded before they were hidden, or its command's own events pushed
// them out under MaxCount), and their subjects cannot be read. A stream
// pruned after a snapshot through the Store (see
// [chronicle.Repository.WithSnapshots]) goes on taking them. In both
// cases SaveSnapshot keeps nothing and returns an error matching
// [ErrSnapshotRefused], and the stream loads from its events. A snapshot
// in the store beneath that a Store did not keep (see
// [Store.LoadSnapshot]) is replaced all the same.
func (s *Store) SaveSnapshot(ctx context.Context, snap chronicle.Snapshot) error {
	ss, err := beneath[chronicle.SnapshotStore](s, "save a snapshot")
	if err != nil {
		return err
	}
	refused := func(err error) error {
		// The store beneath refuses a snapshot of a stream that reads
		// cannot show; reading it first must not change that answer.
		switch {
		case errors.Is(err, chronicle.ErrStreamDeleted):
			return &chronicle.SnapshotNotSavedError{Stream: snap.Stream, Revision: snap.Revision, Tombstoned: true}
		case errors.Is(err, chronicle.ErrStreamNotFound):
			return &chronicle.SnapshotNotSavedError{Stream: snap.Stream, Revision: snap.Revision}
		}
		return fmt.Errorf("save snapshot of %q: %w", snap.Stream, err)
	}
	fail := refused
	// The subjects of the last snapshot, which the events before it
	// held, when the store beneath keeps one of this store's. A snapshot
	// of this store's covers the events up to its own: one kept in the
	// clear had none of a subject (the events are read from the start
	// all the same). One that another program kept covers nothing, as
	// no load through this store starts from it; where this store keeps
	// none in its place, it removes it.
	subjects := map[binder]bool{}
	from, covered := uint64(0), uint64(0)
	last, ok, err := ss.LoadSnapshot(ctx, snap.Stream)
	switch {
	case err != nil:
		return fail(err)
	case ok && last.Revision > snap.Revision:
		// The store beneath would keep the later one.
		return nil
	case ok && strings.HasPrefix(last.Type, clearType):
		covered = last.Revision + 1
	case ok && strings.HasPrefix(last.Type, sealedType):
		if sealed, ok := sealedSnapshotOf(last.Data); ok {
			for _, b := range sealed.Subjects {
				subjects[b] = true
			}
			from, covered = last.Revision+1, last.Revision+1
		}
	case ok && last.Type != removedType:
		fail = func(err error) error {
			s.removeForeign(ctx, ss, snap.Stream, snap.Revision)
			return refused(err)
		}
	}
	if from <= snap.Revision {
		hidden, err := s.subjectsOf(ctx, snap.Stream, from, snap.Revision, covered, subjects)
		if err != nil {
			return fail(err)
		}
		// Events that reads hide, which the state may have folded in
		// (loaded before they were hidden, or pushed out by its own
		// command under MaxCount), hold subjects that cannot be read.
		// When the snapshot's own event is hidden, the store beneath
		// refuses it, and says so.
		if hidden && s.schema.personal() {
			return fail(errHiddenEvents)
		}
	}
	switch {
	case len(subjects) == 0:
		snap.Type = clearType + snap.Type
		return ss.SaveSnapshot(ctx, snap)
	case s.keys == nil:
		return fail(errNoKeys)
	}
	keys, bound, ok, err := s.snapshotKeys(ctx, slices.SortedFunc(maps.Keys(subjects), cmpBinder))
	switch {
	case err != nil:
		return fail(err)
	case !ok:
		return fail(errForgottenSubject)
	}
	key, err := snapshotKey(snapshotKeyV2, keys)
	if err != nil {
		return fail(err)
	}
	ct, err := seal(key, snap.Data, snapshotAAD(snap))
	if err != nil {
		return fail(err)
	}
	if snap.Data, err = json.Marshal(sealedSnapshot{Cipher: ct, Subjects: bound, KeyVersion: snapshotKeyV2}); err != nil {
		return fail(err)
	}
	snap.Type = sealedType + snap.Type
	return ss.SaveSnapshot(ctx, snap)
}

// LoadSnapshot implements [chronicle.SnapshotStore] with the store
// beneath; without one it returns an error matching
// [errors.ErrUnsupported]. It decrypts the snapshots that
// [Store.SaveSnapshot] encrypted, and finds none where a subject whose
// key encrypted it was forgotten since, or where it has no keys. A
// snapshot that SaveSnapshot kept in the clear reads as it is.
//
// It reads no other snapshot: one that a program kept in the store
// beneath itself (Snapshots.Store of [chronicle.Snapshots]), as
// programs over a Store did before it kept snapshots, holds the state
// in the clear, and may hold the values of a subject forgotten since. It
// finds none, so the stream is loaded from its events, and replaces that
// snapshot with an empty one of its own, since a
// [chronicle.SnapshotStore] has no call to delete one: at the same
// revision, or, where reads hide it (a stream pruned after the
// snapshot), at the first revision after it that reads show, since the
// store beneath keeps no snapshot at a revision that reads hide. The
// loads that follow find the empty one, and write nothing. Only where
// reads show no event from the snapshot's revision on (they hide every
// event of the stream) can it not be replaced: it stays until the
// stream has an event to show, and each load reads the stream's first
// such event to find out.
func (s *Store) LoadSnapshot(ctx context.Context, stream string) (chronicle.Snapshot, bool, error) {
	ss, err := beneath[chronicle.SnapshotStore](s, "load a snapshot")
	if err != nil {
		return chronicle.Snapshot{}, false, err
	}
	snap, ok, err := ss.LoadSnapshot(ctx, stream)
	if err != nil || !ok {
		return snap, ok, err
	}
	if typ, ok := strings.CutPrefix(snap.Type, clearType); ok {
		snap.Type = typ
		return snap, true, nil
	}
	typ, ok := strings.CutPrefix(snap.Type, sealedType)
	if !ok {
		if snap.Type != removedType {
			s.removeForeign(ctx, ss, stream, snap.Revision)
		}
		return chronicle.Snapshot{}, false, nil
	}
	snap.Type = typ
	sealed, ok := sealedSnapshotOf(snap.Data)
	if !ok || s.keys == nil {
		return chronicle.Snapshot{}, false, nil
	}
	keys, bound, ok, err := s.snapshotKeys(ctx, sealed.Subjects)
	if err != nil || !ok || !slices.Equal(bound, sealed.Subjects) {
		return chronicle.Snapshot{}, false, err
	}
	if sealed.KeyVersion == snapshotKeyV1 && slices.ContainsFunc(keys, func(k []byte) bool { return len(k) != KeySize }) {
		// Joined, such keys may be those of other subjects than the
		// snapshot's (see snapshotKey): it is not read, the stream
		// replays, and its next snapshot replaces it.
		return chronicle.Snapshot{}, false, nil
	}
	key, err := snapshotKey(sealed.KeyVersion, keys)
	if err != nil {
		return chronicle.Snapshot{}, false, err
	}
	if snap.Data, err = open(key, sealed.Cipher, snapshotAAD(snap)); err != nil {
		return chronicle.Snapshot{}, false, fmt.Errorf("load snapshot of %q: decrypt: %w", stream, err)
	}
	return snap, true, nil
}

// removeForeign replaces a snapshot of stream that the store beneath
// keeps at revision rev, and that a [Store] did not, with an empty one
// of its own, at least as late: a [chronicle.SnapshotStore] has no call
// that deletes a snapshot, but keeps the later of two, and the last
// saved of one revision. The foreign snapshot may hold in the clear the
// values of a subject forgotten since, which a Store must not keep.
//
// The store beneath keeps no snapshot at a revision that its reads
// hide, such as that of a snapshot after which the stream was pruned:
// the empty one goes at the first revision from rev on that a read
// shows, so that the loads after this one find it, and need not try
// again. Where a read shows none, nothing is saved, as nothing would
// be kept. An error is not returned: the Store reads no foreign
// snapshot either way, and the next load or save of one tries again.
func (s *Store) removeForeign(ctx context.Context, ss chronicle.SnapshotStore, stream string, rev uint64) {
	for e, err := range s.inner.ReadStream(ctx, stream, chronicle.ReadStreamOptions{From: rev, Limit: 1}) {
		if err == nil {
			_ = ss.SaveSnapshot(ctx, chronicle.Snapshot{Stream: stream, Revision: e.Revision, Type: removedType})
		}
		return
	}
}

// subjectsOf adds to subjects those of the encrypted personal fields of
// stream's events from revision from to revision to, as they are stored
// beneath, with the key that each field was sealed with ("" for fields
// written before envelopes named it). It reports whether the read skipped
// an event at or after revision covered that is before one it returned,
// up to to: one that reads hide.
func (s *Store) subjectsOf(ctx context.Context, stream string, from, to, covered uint64, subjects map[binder]bool) (hidden bool, err error) {
	next := from // the revision that the read returns next, unless hidden
	for e, err := range s.inner.ReadStream(ctx, stream, chronicle.ReadStreamOptions{From: from}) {
		if errors.Is(err, chronicle.ErrStreamNotFound) {
			return hidden, nil
		}
		if err != nil {
			return hidden, err
		}
		if e.Revision > to {
			return hidden, nil
		}
		hidden = hidden || e.Revision > max(next, covered)
		next = e.Revision + 1
		t := s.schema.types[e.Type]
		if !t.maySeal(e.Data) {
			continue
		}
		o, err := parseObject(e.Data)
		if err != nil {
			return hidden, fmt.Errorf("%s@%d: %w", e.Type, e.Revision, err)
		}
		for _, name := range o.keys {
			raw := o.vals[name]
			if _, ok := t.sealedField(name, raw); !ok {
				continue
			}
			var env envelope
			if err := json.Unmarshal(raw, &env); err != nil {
				return hidden, fmt.Errorf("%s@%d: field %q: %w", e.Type, e.Revision, name, err)
			}
			subjects[binder{Subject: env.Subject, KeyID: env.KeyID}] = true
		}
	}
	return hidden, nil
}

// snapshotKeys returns the keys of subjects, sorted, and the subjects
// with the IDs of those keys, one per subject. It reports false when a
// subject has no key, or another key than the one its fields were
// sealed with: it was forgotten.
func (s *Store) snapshotKeys(ctx context.Context, subjects []binder) (keys [][]byte, bound []binder, ok bool, err error) {
	for _, b := range subjects {
		key, err := s.keys.Key(ctx, b.Subject, false)
		if err != nil {
			return nil, nil, false, err
		}
		if key == nil || b.KeyID != "" && b.KeyID != keyID(key) {
			return nil, nil, false, nil
		}
		cur := binder{Subject: b.Subject, KeyID: keyID(key)}
		if len(bound) > 0 && bound[len(bound)-1] == cur {
			continue // a field written before $key, beside one after
		}
		keys, bound = append(keys, key), append(bound, cur)
	}
	return keys, bound, true, nil
}

// cmpBinder orders binders by subject, then key, so that the keys of a
// snapshot are always put together in one order.
func cmpBinder(a, b binder) int {
	return cmp.Or(strings.Compare(a.Subject, b.Subject), strings.Compare(a.KeyID, b.KeyID))
}

// snapshotKey derives the key of a snapshot from the keys of its
// subjects, as the given version of the derivation did: without any one
// of them it cannot be made. Version 2 puts each key's length before it,
// so that the keys of other subjects, of other lengths, cannot give the
// same input (a custom [KeyStore] may return keys of 16 or 24 bytes,
// which AES takes too), and labels the input with the version.
func snapshotKey(version int, keys [][]byte) ([]byte, error) {
	switch version {
	case snapshotKeyV1:
		return hkdf.Key(sha256.New, bytes.Join(keys, nil), nil, "chronicle shred snapshot key", KeySize)
	case snapshotKeyV2:
		var in []byte
		for _, k := range keys {
			in = binary.BigEndian.AppendUint32(in, uint32(len(k)))
			in = append(in, k...)
		}
		return hkdf.Key(sha256.New, in, nil, "chronicle shred snapshot key, version 2", KeySize)
	}
	return nil, fmt.Errorf("unknown version %d of the snapshot key", version)
}

// snapshotAAD binds a snapshot's ciphertext to the stream, revision, type
// and version it was saved as, so that it cannot be moved to another.
func snapshotAAD(snap chronicle.Snapshot) []byte {
	return fmt.Appendf(nil, "chronicle shred snapshot\x00%s\x00%d\x00%s\x00%d", snap.Stream, snap.Revision, snap.Type, snap.Version)
}

// sealedSnapshotOf returns the sealed snapshot that data is, if it is
// one: data saved in the clear, by this store or another, is not, nor
// is one sealed with a version of the key that this package does not
// know (see snapshotKey).
func sealedSnapshotOf(data []byte) (sealedSnapshot, bool) {
	var sealed sealedSnapshot
	if !bytes.HasPrefix(bytes.TrimSpace(data), []byte(`{"$shredded_snapshot"`)) {
		return sealed, false
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if dec.Decode(&sealed) != nil || len(sealed.Cipher) < gcmNonceSize+gcmOverhead || len(sealed.Subjects) == 0 {
		return sealedSnapshot{}, false
	}
	switch sealed.KeyVersion {
	case 0:
		sealed.KeyVersion = snapshotKeyV1 // sealed before versions were written
	case snapshotKeyV2:
	default:
		return sealedSnapshot{}, false // sealed by a later version of this package
	}
	for _, b := range sealed.Subjects {
		if !isHex(b.Subject, sha256.Size) || !isHex(b.KeyID, keyIDSize) {
			return sealedSnapshot{}, false
		}
	}
	return sealed, true
}
