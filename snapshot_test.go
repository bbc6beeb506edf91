package chronicle_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/memory"
)

func snapshotted(t *testing.T, store chronicle.Store, every uint64, version int) *chronicle.Repository[account, accountCommand, accountEvent] {
	t.Helper()
	r, err := chronicle.NewRepository(store, accountCodec(), accountDecider(), nil).
		WithSnapshots(chronicle.Snapshots[account]{Every: every, Version: version})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestSnapshotLoadEqualsReplay is a property test: whatever the commands
// and the snapshot interval, loading through snapshots gives the state and
// revision that a full replay gives.
func TestSnapshotLoadEqualsReplay(t *testing.T) {
	ctx := context.Background()
	for seed := range uint64(30) {
		rng := rand.New(rand.NewPCG(seed, 99))
		store := memory.New(nil)
		plain := chronicle.NewRepository(store, accountCodec(), accountDecider(), nil)
		snap := snapshotted(t, store, 1+rng.Uint64N(7), 1)
		stream := fmt.Sprintf("account-%d", seed)
		for i := range 60 {
			var cmd accountCommand
			switch rng.IntN(4) {
			case 0:
				cmd = open{Owner: "ann"}
			case 1, 2:
				cmd = deposit{Amount: rng.IntN(50)}
			default:
				cmd = withdraw{Amount: rng.IntN(80)}
			}
			// Half the commands go through each repository, so that some
			// snapshots lag behind the stream.
			repo := plain
			if rng.IntN(2) == 0 {
				repo = snap
			}
			_, _ = repo.Handle(ctx, stream, cmd)
			if rng.IntN(10) == 0 {
				if err := snap.SaveSnapshot(ctx, stream); err != nil && !errors.Is(err, chronicle.ErrStreamNotFound) {
					t.Fatal(err)
				}
			}
			want, wantRev, err1 := plain.Load(ctx, stream)
			got, gotRev, err2 := snap.Load(ctx, stream)
			if err1 != nil || err2 != nil {
				t.Fatal(err1, err2)
			}
			// Seen counts events folded, which a snapshot rightly saves.
			want.Seen, got.Seen = 0, 0
			if got != want || gotRev != wantRev {
				t.Fatalf("seed %d step %d: with snapshots %+v at %s, replay %+v at %s", seed, i, got, gotRev, want, wantRev)
			}
		}
	}
}

// countingStore counts the events its stream reads yield.
type countingStore struct {
	*memory.Store
	read int
}

func (c *countingStore) ReadStream(ctx context.Context, stream string, opts chronicle.ReadStreamOptions) iter.Seq2[chronicle.RecordedEvent, error] {
	return func(yield func(chronicle.RecordedEvent, error) bool) {
		for e, err := range c.Store.ReadStream(ctx, stream, opts) {
			if err == nil {
				c.read++
			}
			if !yield(e, err) {
				return
			}
		}
	}
}

func TestSnapshotSparesTheReplay(t *testing.T) {
	ctx := context.Background()
	store := &countingStore{Store: memory.New(nil)}
	repo := snapshotted(t, store, 10, 1)
	mustHandle(t, repo, "a", open{Owner: "bo"})
	for range 24 {
		if _, err := repo.Handle(ctx, "a", deposit{Amount: 1}); err != nil {
			t.Fatal(err)
		}
	}
	snap, ok, err := store.LoadSnapshot(ctx, "a")
	if err != nil || !ok || snap.Revision != 19 {
		t.Fatalf("snapshot at %d (found %v, %v), want 19: every 10 events", snap.Revision, ok, err)
	}
	store.read = 0
	state, rev, err := repo.Load(ctx, "a")
	if err != nil || store.read != 5 || rev != chronicle.Exact(24) || state.Balance != 24 {
		t.Fatalf("loaded %+v at %s (%v) reading %d events; want balance 24 at revision 24, reading only the 5 events after the snapshot", state, rev, err, store.read)
	}
}

// accountType is the snapshot type of account: its package path and name.
const accountType = "github.com/chronicle-es/chronicle_test.account"

// TestUnusableSnapshotsAreIgnored: a snapshot of another version, of
// another type, or that does not decode, must never shape the state.
func TestUnusableSnapshotsAreIgnored(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		name string
		snap chronicle.Snapshot
	}{
		{"OldVersion", chronicle.Snapshot{Version: 1, Type: accountType, Data: []byte(`{"Open":true,"Balance":999}`)}},
		{"OtherType", chronicle.Snapshot{Version: 2, Type: "other.State", Data: []byte(`{"Open":true,"Balance":999}`)}},
		// A type of the same name in another package whose name is the
		// same, as Go prints it: chronicle_test.account.
		{"SameNameOtherPackage", chronicle.Snapshot{Version: 2, Type: "chronicle_test.account", Data: []byte(`{"Open":true,"Balance":999}`)}},
		{"Undecodable", chronicle.Snapshot{Version: 2, Type: accountType, Data: []byte(`{"Balance":"lots"`)}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			store := memory.New(nil)
			repo := snapshotted(t, store, 0, 2)
			mustHandle(t, repo, "a", open{Owner: "bo"})
			mustHandle(t, repo, "a", deposit{Amount: 5})
			tt.snap.Stream, tt.snap.Revision = "a", 1
			if err := store.SaveSnapshot(ctx, tt.snap); err != nil {
				t.Fatal(err)
			}
			state, _, err := repo.Load(ctx, "a")
			if err != nil || state.Balance != 5 || state.Seen != 2 {
				t.Fatalf("Load = %+v, %v; want balance 5 from a full replay", state, err)
			}
		})
	}
	t.Run("Usable", func(t *testing.T) {
		store := memory.New(nil)
		repo := snapshotted(t, store, 0, 2)
		mustHandle(t, repo, "a", open{Owner: "bo"})
		if err := store.SaveSnapshot(ctx, chronicle.Snapshot{Stream: "a", Revision: 0, Version: 2, Type: accountType, Data: []byte(`{"Open":true,"Owner":"bo","Balance":7}`)}); err != nil {
			t.Fatal(err)
		}
		if state, _, err := repo.Load(ctx, "a"); err != nil || state.Balance != 7 {
			t.Fatalf("a usable snapshot was not used: %+v, %v", state, err)
		}
	})
}

// TestSnapshotOfOldNameBeforePruning: a snapshot saved before snapshots
// named their state by its package path, after which the stream was
// pruned, is the only record of what the hidden events did: the
// repository loads from it, as it did before. A replay of the visible
// events would lose them, and the next snapshot would keep that loss.
// Where a replay can give the state, the old snapshot is not used.
func TestSnapshotOfOldNameBeforePruning(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		name  string
		prune bool
		want  account
	}{
		{"Pruned", true, account{Open: true, Owner: "bo", Balance: 12, Seen: 3}},
		{"NotPruned", false, account{Open: true, Owner: "bo", Balance: 8, Seen: 3}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			store := memory.New(nil)
			repo := snapshotted(t, store, 0, 2)
			mustHandle(t, repo, "a", open{Owner: "bo"})
			mustHandle(t, repo, "a", deposit{Amount: 5})
			// As the previous release named account: one that differs
			// from a replay, to tell which the load used.
			if err := store.SaveSnapshot(ctx, chronicle.Snapshot{
				Stream: "a", Revision: 1, Version: 2, Type: "chronicle_test.account",
				Data: []byte(`{"Open":true,"Owner":"bo","Balance":9,"Seen":2}`),
			}); err != nil {
				t.Fatal(err)
			}
			if tt.prune {
				if err := store.SetStreamMetadata(ctx, "a", chronicle.StreamMetadata{TruncateBefore: 2}); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := repo.Handle(ctx, "a", deposit{Amount: 3}); err != nil {
				t.Fatal(err)
			}
			if err := repo.SaveSnapshot(ctx, "a"); err != nil {
				t.Fatal(err)
			}
			if snap, ok, err := store.LoadSnapshot(ctx, "a"); err != nil || !ok || snap.Type != accountType || snap.Revision != 2 {
				t.Fatalf("LoadSnapshot = %+v, %v, %v; want one of %s at revision 2", snap, ok, err, accountType)
			}
			if state, rev, err := repo.Load(ctx, "a"); err != nil || state != tt.want || rev != chronicle.Exact(2) {
				t.Fatalf("Load = %+v at %s, %v; want %+v at revision 2", state, rev, err, tt.want)
			}
		})
	}
}

// TestSnapshotTypeOfUnnamedState: a state of an unnamed type, such as a
// slice or a map of a named one, is named by the package path of the
// named types in it too, so that it does not take the snapshot of the
// same kind of state of another package of the same name, which Go
// prints alike: []chronicle_test.account.
func TestSnapshotTypeOfUnnamedState(t *testing.T) {
	t.Run("Slice", func(t *testing.T) {
		testSnapshotTypeOfUnnamedState(t, "[]chronicle_test.account", `[{"Open":true,"Balance":999}]`,
			func(a account) []account { return []account{a} },
			func(s []account) account { return s[len(s)-1] })
	})
	t.Run("Map", func(t *testing.T) {
		testSnapshotTypeOfUnnamedState(t, "map[string]chronicle_test.account", `{"a":{"Open":true,"Balance":999}}`,
			func(a account) map[string]account { return map[string]account{"a": a} },
			func(s map[string]account) account { return s["a"] })
	})
	t.Run("Struct", func(t *testing.T) {
		type state = struct{ A account }
		testSnapshotTypeOfUnnamedState(t, "struct { A chronicle_test.account }", `{"A":{"Open":true,"Balance":999}}`,
			func(a account) state { return state{a} },
			func(s state) account { return s.A })
	})
}

// testSnapshotTypeOfUnnamedState runs TestSnapshotTypeOfUnnamedState for
// a state S that holds an account, which wrap puts in and last takes out.
func testSnapshotTypeOfUnnamedState[S any](t *testing.T, other, data string, wrap func(account) S, last func(S) account) {
	t.Helper()
	ctx := context.Background()
	d := accountDecider()
	store := memory.New(nil)
	repo, err := chronicle.NewRepository(store, accountCodec(), chronicle.Decider[S, accountCommand, accountEvent]{
		Initial: func() S { return wrap(account{}) },
		Decide: func(s S, cmd accountCommand) ([]accountEvent, error) {
			return d.Decide(last(s), cmd)
		},
		Evolve: func(s S, e accountEvent) S { return wrap(d.Evolve(last(s), e)) },
	}, nil).WithSnapshots(chronicle.Snapshots[S]{Version: 2})
	if err != nil {
		t.Fatal(err)
	}
	mustHandle(t, repo, "a", open{Owner: "bo"})
	mustHandle(t, repo, "a", deposit{Amount: 5})
	if err := store.SaveSnapshot(ctx, chronicle.Snapshot{Stream: "a", Revision: 1, Version: 2, Type: other, Data: []byte(data)}); err != nil {
		t.Fatal(err)
	}
	if state, _, err := repo.Load(ctx, "a"); err != nil || last(state).Balance != 5 {
		t.Fatalf("Load = %+v, %v; want balance 5 from a replay, not the snapshot of a %s", state, err, other)
	}
}

func TestHandleOnceWithSnapshots(t *testing.T) {
	ctx := context.Background()
	store := memory.New(nil)
	repo := snapshotted(t, store, 2, 1)
	mustHandle(t, repo, "a", open{Owner: "bo"})
	id := chronicle.EventID(chronicle.EventID([16]byte{1}, 0), 0)
	if _, err := repo.HandleOnce(ctx, "a", deposit{Amount: 5}, id); err != nil {
		t.Fatal(err)
	}
	for range 4 {
		mustHandle(t, repo, "a", deposit{Amount: 1})
	}
	// The first deposit is now behind the snapshot: the repository must
	// still recognise it.
	out, err := repo.HandleOnce(ctx, "a", deposit{Amount: 5}, id)
	if err != nil || !out.Duplicate || out.State.Balance != 9 {
		t.Fatalf("HandleOnce again = %+v, %v; want a duplicate with balance 9", out, err)
	}
}

func TestWithSnapshotsNeedsAStore(t *testing.T) {
	var plainStore struct{ chronicle.Store }
	plainStore.Store = memory.New(nil)
	_, err := chronicle.NewRepository(plainStore, accountCodec(), accountDecider(), nil).
		WithSnapshots(chronicle.Snapshots[account]{Every: 5})
	if err == nil {
		t.Fatal("WithSnapshots over a store that cannot keep snapshots succeeded")
	}
}

// TestSnapshotBeforeHiddenEventsIsDropped: a snapshot whose next events
// the stream's metadata or a soft delete hides, while later ones are
// read, would fold the visible events onto a state that no replay of
// the stream gives. The repository replays the visible events instead,
// as one without snapshots does, in Load, HandleOnce's duplicates and
// the snapshots it takes after.
func TestSnapshotBeforeHiddenEventsIsDropped(t *testing.T) {
	ctx := context.Background()
	id := chronicle.EventID([16]byte{7}, 0)
	for _, tt := range []struct {
		name string
		// hide hides revisions 2 and 3 (and those before), and leaves 4
		// or later visible.
		hide func(t *testing.T, s *memory.Store)
	}{
		{"TruncateBefore", func(t *testing.T, s *memory.Store) {
			if err := s.SetStreamMetadata(ctx, "a", chronicle.StreamMetadata{TruncateBefore: 4}); err != nil {
				t.Fatal(err)
			}
		}},
		{"MaxCount", func(t *testing.T, s *memory.Store) {
			if err := s.SetStreamMetadata(ctx, "a", chronicle.StreamMetadata{MaxCount: 1}); err != nil {
				t.Fatal(err)
			}
		}},
		{"Delete", func(t *testing.T, s *memory.Store) {
			if err := s.Delete(ctx, "a", chronicle.Any); err != nil {
				t.Fatal(err)
			}
			mustAppend(t, s, "a", deposited{Amount: 1000}) // revision 5
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			store := memory.New(nil)
			// Apart from the events, so that a soft delete leaves it.
			snaps := &mapSnapshots{}
			repo, err := newRepo(store, nil).WithSnapshots(chronicle.Snapshots[account]{Every: 1, Store: snaps})
			if err != nil {
				t.Fatal(err)
			}
			plain := newRepo(store, nil)
			mustHandle(t, repo, "a", open{Owner: "ann"})
			mustHandle(t, repo, "a", deposit{Amount: 1}) // snapshot at 1
			// Revisions 2 and 3, without snapshots.
			if _, err := plain.HandleOnce(ctx, "a", deposit{Amount: 10}, id); err != nil {
				t.Fatal(err)
			}
			mustAppend(t, store, "a", deposited{Amount: 100}, deposited{Amount: 10000}) // 3 and 4
			tt.hide(t, store)
			if snap, ok, err := snaps.LoadSnapshot(ctx, "a"); err != nil || !ok || snap.Revision != 1 {
				t.Fatalf("snapshot at %d (found %v, %v), want 1", snap.Revision, ok, err)
			}
			want, wantRev, err := plain.Load(ctx, "a")
			if err != nil {
				t.Fatal(err)
			}
			got, gotRev, err := repo.Load(ctx, "a")
			if err != nil || got != want || gotRev != wantRev {
				t.Fatalf("Load = %+v at %s, %v; want %+v at %s, as a replay of the visible events", got, gotRev, err, want, wantRev)
			}
			out, err := repo.HandleOnce(ctx, "a", deposit{Amount: 10}, id)
			if err != nil || !out.Duplicate || out.State != want || out.Revision != wantRev {
				t.Fatalf("HandleOnce again = %+v, %v; want a duplicate with %+v at %s", out, err, want, wantRev)
			}
			// A snapshot taken now holds the replayed state, and the
			// command's events.
			mustAppend(t, store, "a", opened{Owner: "bo"})
			want, _, _ = plain.Load(ctx, "a")
			out, err = repo.Handle(ctx, "a", deposit{Amount: 5})
			want.Balance, want.Seen = want.Balance+5, want.Seen+1
			if err != nil || out.State != want {
				t.Fatalf("Handle = %+v, %v; want the state %+v", out, err, want)
			}
			snap, ok, _ := snaps.LoadSnapshot(ctx, "a")
			var saved account
			if err := json.Unmarshal(snap.Data, &saved); err != nil || !ok || out.Revision != chronicle.Exact(snap.Revision) || saved != want {
				t.Fatalf("after Handle to %s, snapshot at %d (found %v) of %+v (%v); want one of %+v", out.Revision, snap.Revision, ok, saved, err, want)
			}
		})
	}
}

// mapSnapshots is a SnapshotStore apart from the event store, which
// cannot tell which events a read returns.
type mapSnapshots struct {
	mu    sync.Mutex
	snaps map[string]chronicle.Snapshot
}

func (m *mapSnapshots) SaveSnapshot(_ context.Context, s chronicle.Snapshot) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.snaps[s.Stream]; !ok || old.Revision <= s.Revision {
		if m.snaps == nil {
			m.snaps = map[string]chronicle.Snapshot{}
		}
		m.snaps[s.Stream] = s
	}
	return nil
}

func (m *mapSnapshots) LoadSnapshot(_ context.Context, stream string) (chronicle.Snapshot, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.snaps[stream]
	return s, ok, nil
}

// deletingStore soft-deletes a stream once a read of it has ended, as
// another process might just after a load.
type deletingStore struct{ *memory.Store }

func (s deletingStore) ReadStream(ctx context.Context, stream string, opts chronicle.ReadStreamOptions) iter.Seq2[chronicle.RecordedEvent, error] {
	return func(yield func(chronicle.RecordedEvent, error) bool) {
		defer s.Store.Delete(ctx, stream, chronicle.Any)
		for e, err := range s.Store.ReadStream(ctx, stream, opts) {
			if !yield(e, err) {
				return
			}
		}
	}
}

// TestSnapshotAfterDeleteIsRefused: a snapshot of a state loaded just
// before a soft delete committed is not kept: once the stream is
// written again, loads would start from it and carry the deleted events.
// The automatic snapshot after a command is refused quietly, as the
// command's events are committed; SaveSnapshot says why.
func TestSnapshotAfterDeleteIsRefused(t *testing.T) {
	ctx := context.Background()
	// written checks that the stream, written again, loads as a replay.
	written := func(t *testing.T, mem *memory.Store, repo *chronicle.Repository[account, accountCommand, accountEvent]) {
		t.Helper()
		if snap, ok, _ := mem.LoadSnapshot(ctx, "a"); ok {
			t.Fatalf("a snapshot at %d outlived the delete", snap.Revision)
		}
		mustAppend(t, mem, "a", opened{Owner: "bo"})
		want, wantRev, _ := newRepo(mem, nil).Load(ctx, "a")
		got, gotRev, err := repo.Load(ctx, "a")
		if err != nil || got != want || gotRev != wantRev {
			t.Fatalf("Load after the delete = %+v at %s, %v; want %+v at %s", got, gotRev, err, want, wantRev)
		}
	}
	t.Run("Handle", func(t *testing.T) {
		mem := memory.New(nil)
		store := &hookStore{Store: mem}
		repo, err := newRepo(store, nil).WithSnapshots(chronicle.Snapshots[account]{Every: 1, Store: mem})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := repo.Handle(ctx, "a", open{Owner: "ann"}); err != nil {
			t.Fatal(err)
		}
		// Another process deletes the stream between the command's
		// append and its snapshot.
		store.after = func(err error) error {
			if err == nil {
				if err := mem.Delete(ctx, "a", chronicle.Any); err != nil {
					t.Fatal(err)
				}
			}
			return err
		}
		out, err := repo.Handle(ctx, "a", deposit{Amount: 5})
		if err != nil || out.Revision != chronicle.Exact(1) {
			t.Fatalf("Handle = %+v, %v; want its events at revision 1, and no error for the snapshot refused", out, err)
		}
		store.after = nil
		written(t, mem, repo)
	})
	t.Run("SaveSnapshot", func(t *testing.T) {
		mem := memory.New(nil)
		mustAppend(t, mem, "a", opened{Owner: "ann"}, deposited{Amount: 5})
		repo, err := newRepo(deletingStore{mem}, nil).WithSnapshots(chronicle.Snapshots[account]{Store: mem})
		if err != nil {
			t.Fatal(err)
		}
		err = repo.SaveSnapshot(ctx, "a")
		var notSaved *chronicle.SnapshotNotSavedError
		if !errors.Is(err, chronicle.ErrStreamNotFound) || !errors.As(err, &notSaved) || notSaved.Revision != 1 {
			t.Fatalf("SaveSnapshot = %v; want a SnapshotNotSavedError at revision 1 matching ErrStreamNotFound", err)
		}
		repo, _ = newRepo(mem, nil).WithSnapshots(chronicle.Snapshots[account]{})
		written(t, mem, repo)
	})
}

// TestSaveSnapshotOfHiddenStream: SaveSnapshot of a stream whose events a
// read does not return has no state to save. Pruned after a snapshot, the
// stream keeps it; without one, the error says why nothing was saved.
func TestSaveSnapshotOfHiddenStream(t *testing.T) {
	ctx := context.Background()
	mem := memory.New(nil)
	repo := snapshotted(t, mem, 0, 1)
	mustAppend(t, mem, "pruned", opened{Owner: "ann"}, deposited{Amount: 5})
	if err := repo.SaveSnapshot(ctx, "pruned"); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, mem, "hidden", opened{Owner: "bo"})
	for stream, before := range map[string]uint64{"pruned": 2, "hidden": 1} {
		if err := mem.SetStreamMetadata(ctx, stream, chronicle.StreamMetadata{TruncateBefore: before}); err != nil {
			t.Fatal(err)
		}
	}
	if err := repo.SaveSnapshot(ctx, "pruned"); err != nil {
		t.Errorf("SaveSnapshot of a stream pruned after its snapshot: %v; want nil: the snapshot is its state", err)
	}
	if snap, ok, _ := mem.LoadSnapshot(ctx, "pruned"); !ok || snap.Revision != 1 {
		t.Errorf("the pruned stream's snapshot is at %d (found %v), want 1", snap.Revision, ok)
	}
	err := repo.SaveSnapshot(ctx, "hidden")
	if !errors.Is(err, chronicle.ErrStreamNotFound) || !strings.Contains(err.Error(), "metadata") {
		t.Errorf("SaveSnapshot of a stream whose events are hidden = %v; want ErrStreamNotFound, saying that its metadata may hide them", err)
	}
}

// TestSnapshotBeforeOnlyHiddenEventsIsDropped: a snapshot after which
// the stream has events, all of them hidden, is not used either, once
// Handle knows of them. Load cannot tell those events from none, but
// Handle's append learns of them from its refusal, and decides again as
// a replay of the visible events would.
func TestSnapshotBeforeOnlyHiddenEventsIsDropped(t *testing.T) {
	ctx := context.Background()
	store := memory.New(nil)
	repo, err := newRepo(store, nil).WithSnapshots(chronicle.Snapshots[account]{Every: 1})
	if err != nil {
		t.Fatal(err)
	}
	mustHandle(t, repo, "a", open{Owner: "ann"})
	mustHandle(t, repo, "a", deposit{Amount: 1})                             // snapshot at 1
	mustAppend(t, store, "a", deposited{Amount: 10}, deposited{Amount: 100}) // 2 and 3
	if err := store.SetStreamMetadata(ctx, "a", chronicle.StreamMetadata{TruncateBefore: 4}); err != nil {
		t.Fatal(err)
	}
	// Decided on the snapshot, the deposit's append is refused: events
	// follow the snapshot. Decided again as a replay would, on no event,
	// the account is not open.
	if _, err := repo.Handle(ctx, "a", deposit{Amount: 5}); !errors.Is(err, errNotOpen) {
		t.Fatalf("deposit on a stream whose events are all hidden: %v, want errNotOpen, as without the snapshot", err)
	}
	if got := readStream(t, store, "a"); len(got) != 0 {
		t.Fatalf("the refused deposit left %d visible events", len(got))
	}
}

// mustHandle handles cmds in order on stream, failing the test at the
// first error, for setups whose commands must all succeed.
func mustHandle[S any](t *testing.T, repo *chronicle.Repository[S, accountCommand, accountEvent], stream string, cmds ...accountCommand) {
	t.Helper()
	for _, c := range cmds {
		if _, err := repo.Handle(context.Background(), stream, c); err != nil {
			t.Fatalf("Handle(%q, %+v): %v", stream, c, err)
		}
	}
}

// TestSnapshotAtEndIsIgnored: no stream has an event at revision End
// (math.MaxUint64), so a snapshot that says it has (a corrupt one, kept
// apart from the events) is not used: the revision after it would wrap
// to 0, and the whole stream would be folded onto it.
func TestSnapshotAtEndIsIgnored(t *testing.T) {
	ctx := context.Background()
	store := memory.New(nil)
	snaps := &mapSnapshots{}
	repo, err := newRepo(store, nil).WithSnapshots(chronicle.Snapshots[account]{Store: snaps})
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, store, "a", opened{Owner: "ann"}, deposited{Amount: 5})
	if err := snaps.SaveSnapshot(ctx, chronicle.Snapshot{Stream: "a", Revision: chronicle.End, Type: accountType,
		Data: []byte(`{"Open":true,"Owner":"ann","Balance":1000}`)}); err != nil {
		t.Fatal(err)
	}
	want := account{Open: true, Owner: "ann", Balance: 5, Seen: 2}
	got, rev, err := repo.Load(ctx, "a")
	if err != nil || got != want || rev != chronicle.Exact(1) {
		t.Fatalf("Load = %+v at %s, %v; want %+v at revision 1, as a replay", got, rev, err, want)
	}
}

// TestSnapshotBeyondTheStreamIsDropped: a snapshot kept apart from the
// events may be of a revision past the stream's last event: the event
// store was restored from a backup older than the snapshot, say. A load
// cannot tell that from a stream with no event after its snapshot, but
// the append decided on it is refused by a stream that ends before the
// snapshot: no other writer did that, and no retry from the snapshot
// gets past it. Handle decides again on a replay of the stream.
func TestSnapshotBeyondTheStreamIsDropped(t *testing.T) {
	ctx := context.Background()
	id := chronicle.EventID([16]byte{9}, 0)
	for _, tt := range []struct {
		name   string
		opts   *chronicle.RepositoryOptions
		handle func(*chronicle.Repository[account, accountCommand, accountEvent]) (chronicle.Outcome[account, accountEvent], error)
	}{
		{"Handle", nil, func(r *chronicle.Repository[account, accountCommand, accountEvent]) (chronicle.Outcome[account, accountEvent], error) {
			return r.Handle(ctx, "a", deposit{Amount: 1})
		}},
		{"NoRetries", &chronicle.RepositoryOptions{Retries: -1}, func(r *chronicle.Repository[account, accountCommand, accountEvent]) (chronicle.Outcome[account, accountEvent], error) {
			return r.Handle(ctx, "a", deposit{Amount: 1})
		}},
		{"HandleOnce", nil, func(r *chronicle.Repository[account, accountCommand, accountEvent]) (chronicle.Outcome[account, accountEvent], error) {
			return r.HandleOnce(ctx, "a", deposit{Amount: 1}, id)
		}},
		{"HandleNew", nil, func(r *chronicle.Repository[account, accountCommand, accountEvent]) (chronicle.Outcome[account, accountEvent], error) {
			return r.HandleNew(ctx, "a", deposit{Amount: 1})
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			store := memory.New(nil)
			snaps := &mapSnapshots{}
			repo, err := newRepo(store, tt.opts).WithSnapshots(chronicle.Snapshots[account]{Store: snaps})
			if err != nil {
				t.Fatal(err)
			}
			mustAppend(t, store, "a", opened{Owner: "ann"}, deposited{Amount: 5}) // 0 and 1
			if err := snaps.SaveSnapshot(ctx, chronicle.Snapshot{Stream: "a", Revision: 7, Type: accountType,
				Data: []byte(`{"Open":true,"Owner":"ann","Balance":1000,"Seen":8}`)}); err != nil {
				t.Fatal(err)
			}
			out, err := tt.handle(repo)
			want := account{Open: true, Owner: "ann", Balance: 6, Seen: 3}
			if err != nil || out.State != want || out.Revision != chronicle.Exact(2) || len(out.Events) != 1 {
				t.Fatalf("= %+v, %v; want the deposit decided on a replay: %+v at revision 2", out, err, want)
			}
		})
	}
}
