package shred_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/internal/pgtest"
	"github.com/chronicle-es/chronicle/memory"
	"github.com/chronicle-es/chronicle/shred"
	"github.com/chronicle-es/chronicle/sqlite"
)

// snapshotStores returns a store that keeps snapshots, of each kind, with
// a key store for it.
func snapshotStores() map[string]func(t *testing.T) (chronicle.SnapshotStore, shred.KeyStore) {
	return map[string]func(t *testing.T) (chronicle.SnapshotStore, shred.KeyStore){
		"memory": func(t *testing.T) (chronicle.SnapshotStore, shred.KeyStore) {
			return memory.New(nil), shred.NewMemoryKeys()
		},
		"sqlite": func(t *testing.T) (chronicle.SnapshotStore, shred.KeyStore) {
			s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "events.db"), &sqlite.Options{Durability: sqlite.Relaxed})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s, shred.NewSQLKeys(s)
		},
		"postgres": func(t *testing.T) (chronicle.SnapshotStore, shred.KeyStore) {
			s := pgtest.Open(t)
			return s, shred.NewSQLKeys(s)
		},
	}
}

// TestSnapshotForgotten: a snapshot holds the state, decrypted names
// included; the store beneath keeps it encrypted, and once a subject
// whose fields the stream holds is forgotten it is not read again, and no
// snapshot is taken of the stream from then on, so that the name is read
// from nowhere but as forgotten.
func TestSnapshotForgotten(t *testing.T) {
	ctx := context.Background()
	for name, open := range snapshotStores() {
		t.Run(name, func(t *testing.T) {
			ss, keys := open(t)
			inner := ss.(chronicle.Store)
			s := shred.New(inner, keys, bookSchema(t))
			repo, err := guestBook(s).WithSnapshots(chronicle.Snapshots[book]{Every: 1})
			if err != nil {
				t.Fatal(err)
			}
			snaps := any(s).(chronicle.SnapshotStore)
			for _, who := range []string{"Alice Liddell", "Bob Marley"} {
				if _, err := repo.Handle(ctx, "book-1", sign{Name: who}); err != nil {
					t.Fatal(err)
				}
			}
			// Beneath, the snapshot holds neither name in the clear (a
			// name with a space cannot be part of base64 by chance).
			clearOfNames := func() {
				t.Helper()
				raw, ok, err := ss.LoadSnapshot(ctx, "book-1")
				if !ok || err != nil {
					t.Fatalf("no snapshot beneath: %v, %v", ok, err)
				}
				for _, who := range []string{"Alice Liddell", "Bob Marley"} {
					if bytes.Contains(raw.Data, []byte(who)) {
						t.Fatalf("the snapshot beneath holds %q in the clear: %s", who, raw.Data)
					}
				}
			}
			clearOfNames()
			loaded := func() (book, bool) {
				t.Helper()
				snap, ok, err := snaps.LoadSnapshot(ctx, "book-1")
				if err != nil {
					t.Fatal(err)
				}
				var b book
				if ok {
					if err := json.Unmarshal(snap.Data, &b); err != nil {
						t.Fatal(err)
					}
				}
				return b, ok
			}
			if b, ok := loaded(); !ok || !reflect.DeepEqual(b.Names, []string{"Alice Liddell", "Bob Marley"}) || func() bool {
				snap, _, _ := snaps.LoadSnapshot(ctx, "book-1")
				return snap.Revision != 1 || snap.Type != "github.com/chronicle-es/chronicle/shred_test.book"
			}() {
				t.Fatalf("snapshot through the shredding store = %+v, %v; want both names at revision 1", b, ok)
			}

			if err := s.Forget(ctx, "Alice Liddell"); err != nil {
				t.Fatal(err)
			}
			if b, ok := loaded(); ok {
				t.Fatalf("after forgetting Alice, the snapshot still reads, as %+v", b)
			}
			clearOfNames()
			state, _, err := repo.Load(ctx, "book-1")
			if want := []string{shred.Forgotten, "Bob Marley"}; err != nil || !reflect.DeepEqual(state.Names, want) {
				t.Fatalf("Load after forgetting = %+v, %v; want %q", state, err, want)
			}
			// The state that a command decided on may have been loaded
			// before the forgetting: its snapshot is refused.
			if _, err := repo.Handle(ctx, "book-1", sign{Name: "Carol Kaye"}); err != nil {
				t.Fatal(err)
			}
			if b, ok := loaded(); ok {
				t.Fatalf("a snapshot taken after the forgetting reads, as %+v", b)
			}
			if err := repo.SaveSnapshot(ctx, "book-1"); !errors.Is(err, shred.ErrSnapshotRefused) {
				t.Fatalf("SaveSnapshot after the forgetting = %v, want ErrSnapshotRefused", err)
			}
			// A stream of others takes snapshots as before.
			if _, err := repo.Handle(ctx, "book-2", sign{Name: "Dan Brown"}); err != nil {
				t.Fatal(err)
			}
			if snap, ok, err := snaps.LoadSnapshot(ctx, "book-2"); !ok || err != nil || !bytes.Contains(snap.Data, []byte("Dan Brown")) {
				t.Fatalf("snapshot of another stream = %s, %v, %v", snap.Data, ok, err)
			}
		})
	}
}

// readsFrom is a memory store that records the revision each read of a
// stream starts from.
type readsFrom struct {
	*memory.Store
	from []uint64
}

func (r *readsFrom) ReadStream(ctx context.Context, stream string, opts chronicle.ReadStreamOptions) iter.Seq2[chronicle.RecordedEvent, error] {
	r.from = append(r.from, opts.From)
	return r.Store.ReadStream(ctx, stream, opts)
}

// TestRepositoryLoadsFromSnapshot: a repository over the Store loads a
// stream from the snapshot that it took through it, and reads only the
// events after it, whether the Store keeps it encrypted (the stream holds
// personal fields) or in the clear (the schema names none): each is kept
// beneath under a type of the Store's own, which the Store takes off, so
// that the repository finds its own type.
func TestRepositoryLoadsFromSnapshot(t *testing.T) {
	ctx := context.Background()
	none, err := shred.NewSchema()
	if err != nil {
		t.Fatal(err)
	}
	for name, schema := range map[string]*shred.Schema{"sealed": bookSchema(t), "clear": none} {
		t.Run(name, func(t *testing.T) {
			inner := &readsFrom{Store: memory.New(nil)}
			repo, err := guestBook(shred.New(inner, shred.NewMemoryKeys(), schema)).WithSnapshots(chronicle.Snapshots[book]{Every: 2})
			if err != nil {
				t.Fatal(err)
			}
			for _, who := range []string{"Alice Liddell", "Bob Marley", "Carol Kaye"} {
				if _, err := repo.Handle(ctx, "book-1", sign{Name: who}); err != nil {
					t.Fatal(err)
				}
			}
			inner.from = nil
			state, _, err := repo.Load(ctx, "book-1")
			if want := []string{"Alice Liddell", "Bob Marley", "Carol Kaye"}; err != nil || !reflect.DeepEqual(state.Names, want) {
				t.Fatalf("Load = %+v, %v; want %q", state, err, want)
			}
			if !slices.Equal(inner.from, []uint64{2}) {
				t.Fatalf("Load read the stream from revisions %v; want from 2 alone, after the snapshot at revision 1", inner.from)
			}
		})
	}
}

// TestSnapshotWithoutKeys: a store without keys reads the names as
// [shred.Encrypted], so it keeps no snapshot of a stream that holds them
// (see TestKeylessSnapshotNotLoadedWithKeys); a snapshot that a store
// with keys encrypted it cannot read, and finds none. A snapshot moved to
// another stream does not decrypt.
func TestSnapshotWithoutKeys(t *testing.T) {
	ctx := context.Background()
	inner := memory.New(nil)
	keyed := shred.New(inner, shred.NewMemoryKeys(), bookSchema(t))
	keyless := shred.NewDecrypting(inner, nil, bookSchema(t))
	for _, s := range []*shred.Store{keyed, keyless} {
		repo, err := guestBook(s).WithSnapshots(chronicle.Snapshots[book]{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := repo.Handle(ctx, "book-1", sign{Name: "Alice Liddell"}); err != nil {
			t.Fatal(err)
		}
	}
	// book-1 holds Alice's name encrypted, then in the clear, as the
	// store without keys appends it.
	repo, err := guestBook(keyless).WithSnapshots(chronicle.Snapshots[book]{})
	if err != nil {
		t.Fatal(err)
	}
	if err := repo.SaveSnapshot(ctx, "book-1"); !errors.Is(err, shred.ErrSnapshotRefused) {
		t.Fatalf("SaveSnapshot through the store without keys = %v; want ErrSnapshotRefused", err)
	}
	if raw, ok, err := inner.LoadSnapshot(ctx, "book-1"); ok || err != nil {
		t.Fatalf("the keyless store kept a snapshot beneath: %s, %v", raw.Data, err)
	}
	// The store with keys encrypts its own, with Alice's key.
	keyedRepo, err := guestBook(keyed).WithSnapshots(chronicle.Snapshots[book]{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := keyedRepo.Handle(ctx, "book-1", sign{Name: "Bill Sikes"}); err != nil {
		t.Fatal(err)
	}
	if err := keyedRepo.SaveSnapshot(ctx, "book-1"); err != nil {
		t.Fatal(err)
	}
	if snap, ok, err := keyless.LoadSnapshot(ctx, "book-1"); ok || err != nil {
		t.Fatalf("the keyless store loads the encrypted snapshot: %s, %v", snap.Data, err)
	}
	if snap, ok, err := keyed.LoadSnapshot(ctx, "book-1"); !ok || err != nil || !bytes.Contains(snap.Data, []byte("Alice Liddell")) {
		t.Fatalf("the keyed store loads %s, %v, %v", snap.Data, ok, err)
	}
	raw, _, err := inner.LoadSnapshot(ctx, "book-1")
	if err != nil {
		t.Fatal(err)
	}
	// book-2 has events up to the snapshot's revision, so that the store
	// beneath keeps it there.
	other := make([]chronicle.EventData, raw.Revision+1)
	for i := range other {
		other[i] = chronicle.EventData{Type: "Other", Data: []byte(`{}`)}
	}
	if _, err := inner.Append(ctx, "book-2", chronicle.NoStream, other...); err != nil {
		t.Fatal(err)
	}
	raw.Stream = "book-2"
	if err := inner.SaveSnapshot(ctx, raw); err != nil {
		t.Fatal(err)
	}
	if snap, ok, err := keyed.LoadSnapshot(ctx, "book-2"); err == nil {
		t.Fatalf("a snapshot moved to another stream loads: %s, %v", snap.Data, ok)
	}
}

// TestKeylessSnapshotNotLoadedWithKeys: a store without keys reads the
// stream's encrypted fields as [shred.Encrypted], and a state decided on
// them holds that placeholder where a store with keys reads the value. A
// snapshot of it, kept beside the events, would give a repository over
// a store with keys a state that no replay of the stream gives: the
// store without keys keeps none of a stream that holds encrypted fields.
func TestKeylessSnapshotNotLoadedWithKeys(t *testing.T) {
	ctx := context.Background()
	inner := memory.New(nil)
	keyed := shred.New(inner, shred.NewMemoryKeys(), bookSchema(t))
	keyless := shred.NewDecrypting(inner, nil, bookSchema(t))
	if _, err := guestBook(keyed).Handle(ctx, "book-1", sign{Name: "Alice Liddell"}); err != nil {
		t.Fatal(err)
	}
	repo, err := guestBook(keyless).WithSnapshots(chronicle.Snapshots[book]{})
	if err != nil {
		t.Fatal(err)
	}
	if err := repo.SaveSnapshot(ctx, "book-1"); !errors.Is(err, shred.ErrSnapshotRefused) {
		t.Errorf("SaveSnapshot through the store without keys = %v; want ErrSnapshotRefused", err)
	}
	want, _, err := guestBook(keyed).Load(ctx, "book-1")
	if err != nil {
		t.Fatal(err)
	}
	keyedRepo, err := guestBook(keyed).WithSnapshots(chronicle.Snapshots[book]{})
	if err != nil {
		t.Fatal(err)
	}
	if got, _, err := keyedRepo.Load(ctx, "book-1"); err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("Load with keys = %+v, %v; want %+v, as a replay", got, err, want)
	}
	// A stream without encrypted fields is snapshotted as before.
	if _, err := inner.Append(ctx, "book-2", chronicle.NoStream, jsonEvent(t, "Signed", signed{Name: "Bob"})); err != nil {
		t.Fatal(err)
	}
	if err := repo.SaveSnapshot(ctx, "book-2"); err != nil {
		t.Errorf("SaveSnapshot of a stream without encrypted fields through the store without keys: %v", err)
	}
}

// TestSnapshotAfterHiddenEvents: a state may hold what events did that
// reads no longer return (pushed out by the command's own events under
// MaxCount, say), and whose subjects the store cannot read: a snapshot
// encrypted without their keys would still read after they are
// forgotten. Such a snapshot is not kept; one whose hidden events an
// earlier snapshot covers is, as when a stream is pruned after a
// snapshot.
func TestSnapshotAfterHiddenEvents(t *testing.T) {
	ctx := context.Background()
	for name, open := range snapshotStores() {
		t.Run(name, func(t *testing.T) {
			beneath, keys := open(t)
			s := shred.New(beneath.(chronicle.Store), keys, bookSchema(t))
			repo, err := guestBook(s).WithSnapshots(chronicle.Snapshots[book]{Every: 3})
			if err == nil {
				err = s.SetStreamMetadata(ctx, "book-1", chronicle.StreamMetadata{MaxCount: 2})
			}
			if err != nil {
				t.Fatal(err)
			}
			// The third command's state holds Alice's name, which its
			// event pushes out of the stream's reads.
			for _, who := range []string{"Alice Liddell", "Bob Marley", "Carol Kaye"} {
				if _, err := repo.Handle(ctx, "book-1", sign{Name: who}); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Forget(ctx, "Alice Liddell"); err != nil {
				t.Fatal(err)
			}
			state, _, err := repo.Load(ctx, "book-1")
			if err != nil || slices.Contains(state.Names, "Alice Liddell") {
				t.Fatalf("Load after forgetting Alice = %+v, %v; want her name nowhere", state, err)
			}
			if err := repo.SaveSnapshot(ctx, "book-1"); !errors.Is(err, shred.ErrSnapshotRefused) {
				t.Errorf("SaveSnapshot of a stream whose reads hide events = %v; want ErrSnapshotRefused", err)
			}

			// Pruned after a snapshot: the snapshot covers the hidden events.
			for _, who := range []string{"Dan Brown", "Eve Arden"} {
				if _, err := repo.Handle(ctx, "book-2", sign{Name: who}); err != nil {
					t.Fatal(err)
				}
			}
			if err := repo.SaveSnapshot(ctx, "book-2"); err != nil {
				t.Fatal(err)
			}
			if err := s.SetStreamMetadata(ctx, "book-2", chronicle.StreamMetadata{TruncateBefore: 2}); err != nil {
				t.Fatal(err)
			}
			if _, err := repo.Handle(ctx, "book-2", sign{Name: "Fay Wray"}); err != nil {
				t.Fatal(err)
			}
			if err := repo.SaveSnapshot(ctx, "book-2"); err != nil {
				t.Errorf("SaveSnapshot of a stream pruned after its snapshot: %v", err)
			}
			if err := s.Forget(ctx, "Dan Brown"); err != nil {
				t.Fatal(err)
			}
			if snap, ok, err := s.LoadSnapshot(ctx, "book-2"); ok || err != nil {
				t.Errorf("after forgetting Dan, the pruned stream's snapshot reads: %s, %v", snap.Data, err)
			}
		})
	}
}

// TestSealedSnapshotBeneath: a repository that keeps its snapshots in the
// store beneath itself, as programs over a shredding store did before it
// kept them, finds there the ones that the shredding store encrypted.
// Decoded, an encrypted snapshot is no state of the stream (JSON drops
// its unknown fields): the repository must take it for another kind of
// snapshot and replay, as for any snapshot of another type.
func TestSealedSnapshotBeneath(t *testing.T) {
	ctx := context.Background()
	inner := memory.New(nil)
	s := shred.New(inner, shred.NewMemoryKeys(), bookSchema(t))
	repo, err := guestBook(s).WithSnapshots(chronicle.Snapshots[book]{Every: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := repo.Handle(ctx, "book-1", sign{Name: "Alice Liddell"}); err != nil {
		t.Fatal(err)
	}
	if snap, ok, err := s.LoadSnapshot(ctx, "book-1"); !ok || err != nil || snap.Type != "github.com/chronicle-es/chronicle/shred_test.book" {
		t.Fatalf("LoadSnapshot = %+v, %v, %v; want the snapshot of a book", snap, ok, err)
	}
	old, err := guestBook(s).WithSnapshots(chronicle.Snapshots[book]{Store: inner})
	if err != nil {
		t.Fatal(err)
	}
	want, _, err := guestBook(s).Load(ctx, "book-1")
	if err != nil {
		t.Fatal(err)
	}
	if got, _, err := old.Load(ctx, "book-1"); err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("Load with the snapshots of the store beneath = %+v, %v; want %+v, as a replay", got, err, want)
	}
}

// withClearSnapshot returns a Store over a store that open returns,
// whose stream book-1 holds the names of Alice and Bob, and a snapshot
// beneath that holds them in the clear, as a program kept it before the
// Store kept snapshots: in the store beneath (Snapshots.Store). It
// returns the store beneath and the Store's keys too.
func withClearSnapshot(t *testing.T, open func(t *testing.T) (chronicle.SnapshotStore, shred.KeyStore)) (*shred.Store, chronicle.SnapshotStore, shred.KeyStore) {
	t.Helper()
	ctx := context.Background()
	beneath, keys := open(t)
	s := shred.New(beneath.(chronicle.Store), keys, bookSchema(t))
	for _, who := range []string{"Alice Liddell", "Bob Marley"} {
		if _, err := guestBook(s).Handle(ctx, "book-1", sign{Name: who}); err != nil {
			t.Fatal(err)
		}
	}
	old, err := guestBook(s).WithSnapshots(chronicle.Snapshots[book]{Store: beneath})
	if err != nil {
		t.Fatal(err)
	}
	if err := old.SaveSnapshot(ctx, "book-1"); err != nil {
		t.Fatal(err)
	}
	return s, beneath, keys
}

// noAliceBeneath fails t if the snapshot of book-1 in the store beneath
// holds Alice's name in the clear after what was done.
func noAliceBeneath(t *testing.T, beneath chronicle.SnapshotStore, after string) {
	t.Helper()
	if raw, ok, err := beneath.LoadSnapshot(context.Background(), "book-1"); err != nil || ok && bytes.Contains(raw.Data, []byte("Alice Liddell")) {
		t.Errorf("after %s, the store beneath still keeps Alice's name in the clear: %s, %v", after, raw.Data, err)
	}
}

// TestSnapshotNotSealedIsNotRead: before the Store kept snapshots,
// programs over it kept theirs in the store beneath (Snapshots.Store),
// in the clear. The Store reads only the snapshots that it kept itself:
// another, found beneath, may hold a forgotten person's name, and is
// taken for none (the repository replays the stream, whose fields read
// as forgotten) and replaced beneath, so that the name is not kept
// there either. So is one under the Store's own type whose envelope it
// cannot read.
func TestSnapshotNotSealedIsNotRead(t *testing.T) {
	ctx := context.Background()
	for name, open := range snapshotStores() {
		t.Run(name, func(t *testing.T) {
			s, beneath, _ := withClearSnapshot(t, open)
			// A snapshot under the Store's type that is no envelope.
			if _, err := guestBook(s).Handle(ctx, "book-2", sign{Name: "Alice Liddell"}); err != nil {
				t.Fatal(err)
			}
			if err := beneath.SaveSnapshot(ctx, chronicle.Snapshot{
				Stream: "book-2", Type: "$shredded_snapshot:github.com/chronicle-es/chronicle/shred_test.book", Data: []byte(`{"Names":["Alice Liddell"]}`),
			}); err != nil {
				t.Fatal(err)
			}
			if err := s.Forget(ctx, "Alice Liddell"); err != nil {
				t.Fatal(err)
			}

			repo, err := guestBook(s).WithSnapshots(chronicle.Snapshots[book]{})
			if err != nil {
				t.Fatal(err)
			}
			for stream, want := range map[string][]string{
				"book-1": {shred.Forgotten, "Bob Marley"},
				"book-2": {shred.Forgotten},
			} {
				if snap, ok, err := s.LoadSnapshot(ctx, stream); ok || err != nil {
					t.Errorf("LoadSnapshot(%q) after forgetting Alice = %s (%s), %v, %v; want none", stream, snap.Data, snap.Type, ok, err)
				}
				if state, _, err := repo.Load(ctx, stream); err != nil || !reflect.DeepEqual(state.Names, want) {
					t.Errorf("Load(%q) after forgetting Alice = %+v, %v; want %q", stream, state, err, want)
				}
			}
			noAliceBeneath(t, beneath, "a load")
			// Other streams take snapshots, which the Store reads.
			if _, err := repo.Handle(ctx, "book-3", sign{Name: "Dan Brown"}); err != nil {
				t.Fatal(err)
			}
			if err := repo.SaveSnapshot(ctx, "book-3"); err != nil {
				t.Fatal(err)
			}
			if snap, ok, err := s.LoadSnapshot(ctx, "book-3"); !ok || err != nil || !bytes.Contains(snap.Data, []byte("Dan Brown")) {
				t.Errorf("LoadSnapshot of a stream snapshotted through the Store = %s, %v, %v", snap.Data, ok, err)
			}
		})
	}
}

// TestSnapshotNotSealedBeforePruning: a stream pruned after a snapshot
// that a program kept in the clear beneath loads from the events that
// reads show, since the Store does not read that snapshot; it covers no
// hidden events either, whose subjects cannot be read, so the Store
// keeps no snapshot of the stream in its place; the foreign one is
// replaced all the same (see TestSnapshotNotSealedAtHiddenRevision).
func TestSnapshotNotSealedBeforePruning(t *testing.T) {
	ctx := context.Background()
	for name, open := range snapshotStores() {
		t.Run(name, func(t *testing.T) {
			s, beneath, _ := withClearSnapshot(t, open)
			if err := s.SetStreamMetadata(ctx, "book-1", chronicle.StreamMetadata{TruncateBefore: 2}); err != nil {
				t.Fatal(err)
			}
			repo, err := guestBook(s).WithSnapshots(chronicle.Snapshots[book]{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := repo.Handle(ctx, "book-1", sign{Name: "Carol Kaye"}); err != nil {
				t.Fatal(err)
			}
			if err := s.Forget(ctx, "Alice Liddell"); err != nil {
				t.Fatal(err)
			}
			state, _, err := repo.Load(ctx, "book-1")
			if want := []string{"Carol Kaye"}; err != nil || !reflect.DeepEqual(state.Names, want) {
				t.Errorf("Load after forgetting Alice = %+v, %v; want %q, as the reads show", state, err, want)
			}
			if err := repo.SaveSnapshot(ctx, "book-1"); !errors.Is(err, shred.ErrSnapshotRefused) {
				t.Errorf("SaveSnapshot of the pruned stream = %v; want ErrSnapshotRefused", err)
			}
			noAliceBeneath(t, beneath, "a save")
		})
	}
}

// fixedKeys is a key store of a custom kind, whose keys, given by the
// Ref of their subject, need not be [shred.KeySize] bytes long: AES
// takes 16 and 24 too.
type fixedKeys map[string][]byte

func (k fixedKeys) Key(_ context.Context, subject string, create bool) ([]byte, error) {
	key, ok := k[subject]
	if !ok && create {
		return nil, errors.New("fixedKeys: no key to give " + subject)
	}
	return bytes.Clone(key), nil
}

func (k fixedKeys) Forget(_ context.Context, subject string) error {
	delete(k, subject)
	return nil
}

// TestSnapshotKeysOfOtherSubjects: a snapshot opens with the keys of its
// subjects alone, even where the keys differ in length, so that two
// lists of keys can join to the same bytes: Alice's 16 and Bob's 32
// bytes, and Carol's 32 and Dan's 16 cut from them. A snapshot of
// Alice and Bob whose list of subjects is changed to Carol and Dan does
// not open, and so is not read after Alice is forgotten.
func TestSnapshotKeysOfOtherSubjects(t *testing.T) {
	ctx := context.Background()
	pair := func(a, b string) (string, string) {
		refs := []string{shred.Ref(a), shred.Ref(b)}
		slices.Sort(refs) // the order in which a snapshot lists its subjects
		return refs[0], refs[1]
	}
	ab1, ab2 := pair("Alice Liddell", "Bob Marley")
	cd1, cd2 := pair("Carol Kaye", "Dan Brown")
	short, long := bytes.Repeat([]byte{1}, 16), bytes.Repeat([]byte{2}, 16)
	long = append(long, bytes.Repeat([]byte{3}, 16)...)
	keys := fixedKeys{
		ab1: short, ab2: long,
		cd1: append(slices.Clone(short), long[:16]...), cd2: long[16:],
	}
	inner := memory.New(nil)
	s := shred.New(inner, keys, bookSchema(t))
	repo, err := guestBook(s).WithSnapshots(chronicle.Snapshots[book]{})
	if err != nil {
		t.Fatal(err)
	}
	subjects := map[string]json.RawMessage{}
	for stream, names := range map[string][]string{"book-1": {"Alice Liddell", "Bob Marley"}, "book-2": {"Carol Kaye", "Dan Brown"}} {
		for _, who := range names {
			if _, err := repo.Handle(ctx, stream, sign{Name: who}); err != nil {
				t.Fatal(err)
			}
		}
		if err := repo.SaveSnapshot(ctx, stream); err != nil {
			t.Fatal(err)
		}
		raw, _, err := inner.LoadSnapshot(ctx, stream)
		var data map[string]json.RawMessage
		if err == nil {
			err = json.Unmarshal(raw.Data, &data)
		}
		if err != nil {
			t.Fatal(err)
		}
		subjects[stream] = data["$subjects"]
	}
	raw, _, err := inner.LoadSnapshot(ctx, "book-1")
	if err != nil {
		t.Fatal(err)
	}
	raw.Data = bytes.Replace(raw.Data, subjects["book-1"], subjects["book-2"], 1)
	if !bytes.Contains(raw.Data, subjects["book-2"]) {
		t.Fatalf("no list of subjects to change in %s", raw.Data)
	}
	if err := inner.SaveSnapshot(ctx, raw); err != nil {
		t.Fatal(err)
	}
	if err := s.Forget(ctx, "Alice Liddell"); err != nil {
		t.Fatal(err)
	}
	if snap, ok, err := s.LoadSnapshot(ctx, "book-1"); ok {
		t.Fatalf("after forgetting Alice, her snapshot opens with the keys of Carol and Dan: %s, %v", snap.Data, err)
	}
}

// TestSnapshotSealedBeforeKeyVersions: snapshots sealed before the key
// of a snapshot was derived from its subjects' keys with their lengths
// (their envelope has no $key_version) still load where every key is
// [shred.KeySize] bytes long, as those of the package's key stores are,
// since keys of one length join to the same bytes only when they are
// the same (if the keys that sealed it were of that length too).
// Where some are not, the keys of other subjects could have opened it:
// it is taken for none, and the stream replays. Either way, the next
// snapshot replaces it, sealed with the key's version.
func TestSnapshotSealedBeforeKeyVersions(t *testing.T) {
	ctx := context.Background()
	alice, bob := shred.Ref("Alice Liddell"), shred.Ref("Bob Marley")
	for name, c := range map[string]struct {
		aliceKeySize int
		data         string // sealed by the package before key versions, with the keys below
		loads        bool
	}{
		"keys of 32 bytes":        {32, `{"$shredded_snapshot":"nGC+6Zk778lnuhELk2St+dEqS/+/K+jKnW9zl5+AEjV2VkKvnlwGKo2hiNriRyDOpnc2mCJ3uIW6MxqpJ9T1W59wQU0=","$subjects":[{"$subject":"70ac21b813ad77dac1fde39b6cd1a17f5f91937f2d53cdf034e6a2b9c090a7b6","$key":"d490a34a2713d29a"},{"$subject":"91142be009a86f6073a1c8ce884a5c060f5b730f86128ff2f4b17f4e48b919e0","$key":"3875415a066061b5"}]}`, true},
		"keys of 16 and 32 bytes": {16, `{"$shredded_snapshot":"pRIn0CTQrB7cq+rhJ1VbjaXMPULiRJzIxIWH7/XECsX9dyGJfVWiTGYPOln2nPo4XwqnNOaMhGjm8Rw8RHTaS2R6Ae0=","$subjects":[{"$subject":"70ac21b813ad77dac1fde39b6cd1a17f5f91937f2d53cdf034e6a2b9c090a7b6","$key":"d490a34a2713d29a"},{"$subject":"91142be009a86f6073a1c8ce884a5c060f5b730f86128ff2f4b17f4e48b919e0","$key":"1add4a3012944b3d"}]}`, false},
	} {
		t.Run(name, func(t *testing.T) {
			keys := fixedKeys{
				alice:                   bytes.Repeat([]byte{0xa1}, c.aliceKeySize),
				bob:                     bytes.Repeat([]byte{0xb0}, 32),
				shred.Ref("Carol Kaye"): bytes.Repeat([]byte{0xc0}, 32),
			}
			// open returns a store that holds Alice's and Bob's events and
			// the old snapshot beneath, and a repository over it.
			open := func() (*memory.Store, *shred.Store, *chronicle.Repository[book, sign, signed]) {
				inner := memory.New(nil)
				s := shred.New(inner, keys, bookSchema(t))
				repo, err := guestBook(s).WithSnapshots(chronicle.Snapshots[book]{})
				if err != nil {
					t.Fatal(err)
				}
				for _, who := range []string{"Alice Liddell", "Bob Marley"} {
					if _, err := repo.Handle(ctx, "book-1", sign{Name: who}); err != nil {
						t.Fatal(err)
					}
				}
				if err := inner.SaveSnapshot(ctx, chronicle.Snapshot{
					Stream: "book-1", Revision: 1, Type: "$shredded_snapshot:shred_test.book", Data: []byte(c.data),
				}); err != nil {
					t.Fatal(err)
				}
				return inner, s, repo
			}
			inner, s, repo := open()
			loaded := func(want ...string) bool {
				t.Helper()
				snap, ok, err := s.LoadSnapshot(ctx, "book-1")
				var b book
				if err == nil && ok {
					err = json.Unmarshal(snap.Data, &b)
				}
				if err != nil || ok && !reflect.DeepEqual(b.Names, want) {
					t.Fatalf("LoadSnapshot = %s, %v, %v; want %q", snap.Data, ok, err, want)
				}
				return ok
			}
			if ok := loaded("Alice Liddell", "Bob Marley"); ok != c.loads {
				t.Errorf("the snapshot sealed before key versions loads: %v, want %v", ok, c.loads)
			}
			// The snapshot names its state as releases before package
			// paths did, so a repository takes it only where a read hides
			// the events before it (see Snapshot.Type), and else replays:
			// with Alice's event hidden, a load from the snapshot gives
			// both names, and a replay Bob's alone.
			_, hidden, hiddenRepo := open()
			if err := hidden.SetStreamMetadata(ctx, "book-1", chronicle.StreamMetadata{TruncateBefore: 1}); err != nil {
				t.Fatal(err)
			}
			want := []string{"Bob Marley"}
			if c.loads {
				want = []string{"Alice Liddell", "Bob Marley"}
			}
			if state, _, err := hiddenRepo.Load(ctx, "book-1"); err != nil || !reflect.DeepEqual(state.Names, want) {
				t.Errorf("Load with Alice's event hidden = %+v, %v; want %q (the snapshot loads: %v)", state, err, want, c.loads)
			}
			if _, err := repo.Handle(ctx, "book-1", sign{Name: "Carol Kaye"}); err != nil {
				t.Fatal(err)
			}
			if err := repo.SaveSnapshot(ctx, "book-1"); err != nil {
				t.Fatal(err)
			}
			if raw, _, err := inner.LoadSnapshot(ctx, "book-1"); err != nil || !bytes.Contains(raw.Data, []byte(`"$key_version":2`)) {
				t.Errorf("the snapshot beneath after a save = %s, %v; want one sealed with version 2 of the key", raw.Data, err)
			}
			if !loaded("Alice Liddell", "Bob Marley", "Carol Kaye") {
				t.Errorf("the snapshot saved after the old one does not load")
			}
			if err := s.Forget(ctx, "Alice Liddell"); err != nil {
				t.Fatal(err)
			}
			if loaded() {
				t.Errorf("after forgetting Alice, the snapshot loads")
			}
		})
	}
}

// savesCounted is a store beneath a Store that counts the snapshots
// saved to it.
type savesCounted struct {
	chronicle.Store
	chronicle.SnapshotStore
	saves int
}

func (c *savesCounted) SaveSnapshot(ctx context.Context, snap chronicle.Snapshot) error {
	c.saves++
	return c.SnapshotStore.SaveSnapshot(ctx, snap)
}

// TestSnapshotNotSealedAtHiddenRevision: a snapshot that a program kept
// in the clear beneath, after which the stream was pruned, is at a
// revision that reads hide, where the store beneath keeps no snapshot.
// The first load through the Store replaces it all the same, at a
// revision that reads show, and the loads after it write nothing. Where
// reads show no event of the stream, no snapshot can be saved, and no
// load tries.
func TestSnapshotNotSealedAtHiddenRevision(t *testing.T) {
	ctx := context.Background()
	for name, open := range snapshotStores() {
		for _, after := range [][]string{{"Carol Kaye"}, nil} {
			t.Run(fmt.Sprintf("%s/%d events after", name, len(after)), func(t *testing.T) {
				s, beneath, keys := withClearSnapshot(t, open)
				if err := s.SetStreamMetadata(ctx, "book-1", chronicle.StreamMetadata{TruncateBefore: 2}); err != nil {
					t.Fatal(err)
				}
				for _, who := range after {
					if _, err := guestBook(s).Handle(ctx, "book-1", sign{Name: who}); err != nil {
						t.Fatal(err)
					}
				}
				counted := &savesCounted{Store: beneath.(chronicle.Store), SnapshotStore: beneath}
				repo, err := guestBook(shred.New(counted, keys, bookSchema(t))).WithSnapshots(chronicle.Snapshots[book]{})
				if err != nil {
					t.Fatal(err)
				}
				for i := range 3 {
					saves := counted.saves
					state, _, err := repo.Load(ctx, "book-1")
					if err != nil || !reflect.DeepEqual(state.Names, after) {
						t.Fatalf("Load = %+v, %v; want %q, as the reads show", state, err, after)
					}
					if len(after) > 0 {
						noAliceBeneath(t, beneath, "a load")
					}
					if (i > 0 || len(after) == 0) && counted.saves != saves {
						t.Errorf("load %d saved %d snapshots beneath; want none", i+1, counted.saves-saves)
					}
				}
			})
		}
	}
}
