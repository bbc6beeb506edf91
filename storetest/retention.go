package storetest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/internal/stress"
	"github.com/google/uuid"
)

// maxAgeWait is the longest max age that the MaxAge test waits out. A
// store that keeps a max age in whole seconds needs one.
const maxAgeWait = 5 * time.Second

// lifecycleStore is a store with every lifecycle ability.
type lifecycleStore interface {
	chronicle.Store
	chronicle.Retention
	chronicle.Deleter
	chronicle.Scavenger
}

// scavengerStore is a store whose streams have metadata, which a
// scavenge acts on; it need not delete streams.
type scavengerStore interface {
	chronicle.Store
	chronicle.Retention
	chronicle.Scavenger
}

func testLifecycle(t *testing.T, newStore Factory) {
	ctx := context.Background()
	open := func(t *testing.T) lifecycleStore {
		return openAs[lifecycleStore](t, newStore, "chronicle.Retention, Deleter and Scavenger")
	}
	// openScavenger is for the scavenges of streams whose metadata alone
	// hides events, which a store without Deleter can do.
	openScavenger := func(t *testing.T) scavengerStore {
		return openAs[scavengerStore](t, newStore, "chronicle.Retention and Scavenger")
	}
	revs := func(t *testing.T, s chronicle.Store, stream string, opts chronicle.ReadStreamOptions) []uint64 {
		t.Helper()
		return revisions(readStream(t, s, stream, opts))
	}

	t.Run("Metadata", func(t *testing.T) {
		s := openAs[retentionStore](t, newStore, "chronicle.Retention")
		mustAppend(t, s, "s", chronicle.NoStream, events("E", 10)...)
		if m, err := s.StreamMetadata(ctx, "s"); err != nil || !m.IsZero() {
			t.Fatalf("metadata of a stream without any = %+v, %v", m, err)
		}
		for _, tt := range []struct {
			name string
			m    chronicle.StreamMetadata
			want []uint64
		}{
			{"MaxCount", chronicle.StreamMetadata{MaxCount: 3}, []uint64{7, 8, 9}},
			{"TruncateBefore", chronicle.StreamMetadata{TruncateBefore: 6}, []uint64{6, 7, 8, 9}},
			{"Both", chronicle.StreamMetadata{MaxCount: 5, TruncateBefore: 8}, []uint64{8, 9}},
			{"None", chronicle.StreamMetadata{}, seq(0, 10, 1)},
		} {
			if err := s.SetStreamMetadata(ctx, "s", tt.m); err != nil {
				t.Fatal(err)
			}
			if got, _ := s.StreamMetadata(ctx, "s"); got != tt.m {
				t.Fatalf("%s: StreamMetadata = %+v, want %+v", tt.name, got, tt.m)
			}
			if got := revs(t, s, "s", chronicle.ReadStreamOptions{}); !slices.Equal(got, tt.want) {
				t.Fatalf("%s: revisions read = %v, want %v", tt.name, got, tt.want)
			}
			back := slices.Clone(tt.want)
			slices.Reverse(back)
			if got := revs(t, s, "s", chronicle.ReadStreamOptions{Backwards: true, From: chronicle.End}); !slices.Equal(got, back) {
				t.Fatalf("%s: revisions read backwards = %v, want %v", tt.name, got, back)
			}
		}
		// Hidden events stay in the global log until a scavenge.
		if n := len(readAll(t, s, chronicle.ReadAllOptions{})); n != 10 {
			t.Fatalf("the log holds %d events before a scavenge, want 10", n)
		}
	})

	t.Run("NegativeMaxAge", func(t *testing.T) {
		// Refused before anything changes: the metadata set before stays.
		s := openAs[retentionStore](t, newStore, "chronicle.Retention")
		mustAppend(t, s, "s", chronicle.NoStream, events("E", 3)...)
		kept := chronicle.StreamMetadata{MaxCount: 2}
		if err := s.SetStreamMetadata(ctx, "s", kept); err != nil {
			t.Fatal(err)
		}
		for _, age := range []time.Duration{-1, -time.Hour} {
			err := s.SetStreamMetadata(ctx, "s", chronicle.StreamMetadata{MaxAge: age})
			if !errors.Is(err, chronicle.ErrInvalidMetadata) {
				t.Errorf("MaxAge %v: %v, want an error matching ErrInvalidMetadata", age, err)
			}
			if m, err := s.StreamMetadata(ctx, "s"); err != nil || m != kept {
				t.Errorf("after a refused MaxAge %v: metadata %+v, %v; want %+v", age, m, err, kept)
			}
		}
		if err := s.SetStreamMetadata(ctx, "new", chronicle.StreamMetadata{MaxAge: -1}); !errors.Is(err, chronicle.ErrInvalidMetadata) {
			t.Errorf("MaxAge -1 on a stream without events: %v, want an error matching ErrInvalidMetadata", err)
		}
	})
	t.Run("MaxAgeRoundsUp", func(t *testing.T) {
		// A store may keep MaxAge at a coarser precision than a
		// nanosecond, but never shorter than asked: cut down, a max age
		// under the precision would read as zero, no limit at all.
		s := openAs[retentionStore](t, newStore, "chronicle.Retention")
		for _, age := range []time.Duration{500 * time.Nanosecond, 1500 * time.Nanosecond} {
			if err := s.SetStreamMetadata(ctx, "s", chronicle.StreamMetadata{MaxAge: age}); err != nil {
				t.Fatal(err)
			}
			if m, err := s.StreamMetadata(ctx, "s"); err != nil || m.MaxAge < age {
				t.Errorf("MaxAge %v is kept as %v (%v), shorter than asked", age, m.MaxAge, err)
			}
		}
	})
	t.Run("LongestMaxAge", func(t *testing.T) {
		// The longest time.Duration, which Go code may use for "for ever",
		// hides nothing, reads back as no shorter, and a scavenge (where
		// the store has one) removes nothing for it: a store that keeps
		// it at a coarser precision, rounded up, must not let it wrap
		// round.
		s := openAs[retentionStore](t, newStore, "chronicle.Retention")
		sc, scavenges := has[chronicle.Scavenger](s)
		mustAppend(t, s, "s", chronicle.NoStream, events("E", 3)...)
		for _, age := range []time.Duration{math.MaxInt64, math.MaxInt64 - 500} {
			if err := s.SetStreamMetadata(ctx, "s", chronicle.StreamMetadata{MaxAge: age}); err != nil {
				t.Fatal(err)
			}
			if m, err := s.StreamMetadata(ctx, "s"); err != nil || m.MaxAge < age {
				t.Errorf("MaxAge %d is kept as %d (%v), shorter than asked", age, m.MaxAge, err)
			}
			if got := revs(t, s, "s", chronicle.ReadStreamOptions{}); len(got) != 3 {
				t.Fatalf("MaxAge %d: %d events read, want 3", age, len(got))
			}
			if !scavenges {
				continue
			}
			if _, err := sc.Scavenge(ctx, nil); err != nil {
				t.Fatal(err)
			}
			if got := revs(t, s, "s", chronicle.ReadStreamOptions{}); len(got) != 3 {
				t.Fatalf("MaxAge %d: after a scavenge, %d events read, want 3", age, len(got))
			}
		}
	})
	t.Run("LargestCounts", func(t *testing.T) {
		// A MaxCount or TruncateBefore past what any store holds reads
		// back the same from every store (math.MaxInt64: no SQL integer
		// is wider), and a MaxCount that large hides nothing.
		s := openAs[retentionStore](t, newStore, "chronicle.Retention")
		mustAppend(t, s, "s", chronicle.NoStream, events("E", 3)...)
		if err := s.SetStreamMetadata(ctx, "s", chronicle.StreamMetadata{MaxCount: math.MaxUint64}); err != nil {
			t.Fatal(err)
		}
		if m, err := s.StreamMetadata(ctx, "s"); err != nil || m.MaxCount != math.MaxInt64 {
			t.Errorf("MaxCount 2^64-1 reads back as %d (%v), want %d", m.MaxCount, err, int64(math.MaxInt64))
		}
		if got := revs(t, s, "s", chronicle.ReadStreamOptions{}); len(got) != 3 {
			t.Fatalf("MaxCount 2^64-1: %d events read, want 3", len(got))
		}
		if err := s.SetStreamMetadata(ctx, "t", chronicle.StreamMetadata{TruncateBefore: math.MaxUint64}); err != nil {
			t.Fatal(err)
		}
		if m, err := s.StreamMetadata(ctx, "t"); err != nil || m.TruncateBefore != math.MaxInt64 {
			t.Errorf("TruncateBefore 2^64-1 reads back as %d (%v), want %d", m.TruncateBefore, err, int64(math.MaxInt64))
		}
	})
	t.Run("MaxAge", func(t *testing.T) {
		s := openAs[retentionStore](t, newStore, "chronicle.Retention")
		mustAppend(t, s, "s", chronicle.NoStream, events("Old", 3)...)
		asked := chronicle.StreamMetadata{MaxAge: 20 * time.Millisecond}
		if err := s.SetStreamMetadata(ctx, "s", asked); err != nil {
			t.Fatal(err)
		}
		// A store may keep the max age rounded up, as MaxAgeRoundsUp
		// allows (KurrentDB keeps whole seconds): the old events wait out
		// the max age it keeps, and a margin, no longer.
		kept, err := s.StreamMetadata(ctx, "s")
		switch {
		case err != nil:
			t.Fatal(err)
		case kept.MaxAge < asked.MaxAge:
			t.Fatalf("MaxAge %v is kept as %v, shorter than asked", asked.MaxAge, kept.MaxAge)
		case kept.MaxAge > maxAgeWait:
			t.Skipf("MaxAge %v is kept as %v, longer than this test waits (%v)", asked.MaxAge, kept.MaxAge, maxAgeWait)
		}
		time.Sleep(kept.MaxAge + 10*time.Millisecond)
		// Events younger than the max age must stay: a store that hid
		// every event would pass a check of the old ones alone. Only a
		// read that ends within half the max age of the append that
		// began before it can tell (a slow machine may age the new events
		// too): the append and read are tried again until one does, for
		// maxAgeWait at most.
		for deadline := time.Now().Add(maxAgeWait); ; {
			began := time.Now()
			res := mustAppend(t, s, "s", chronicle.Any, events("New", 2)...)
			got := readStream(t, s, "s", chronicle.ReadStreamOptions{})
			took := time.Since(began)
			for _, e := range got {
				if e.Type == "Old" {
					t.Fatalf("an event older than the max age (%v) was read: revision %d", kept.MaxAge, e.Revision)
				}
			}
			if took < kept.MaxAge/2 {
				want := []uint64{res.FirstRevision, res.LastRevision}
				if revs := revisions(got); !slices.Equal(revs[max(len(revs)-2, 0):], want) {
					t.Fatalf("events appended and read within %v, younger than the max age (%v), are hidden: revisions %v read, want them to end with %v", took, kept.MaxAge, revs, want)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no append and read of the stream took less than half the max age (%v) in %v: too slow to tell whether events younger than it stay", kept.MaxAge, maxAgeWait)
			}
		}
	})

	t.Run("SoftDelete", func(t *testing.T) {
		s := openAs[deleterStore](t, newStore, "chronicle.Deleter")
		mustAppend(t, s, "s", chronicle.NoStream, events("E", 3)...)
		err := s.Delete(ctx, "s", chronicle.Exact(1))
		wantErr(t, "Delete with a stale revision", err, chronicle.ErrWrongExpectedRevision)
		var wrong *chronicle.WrongExpectedRevisionError
		if errors.As(err, &wrong) && wrong.Op != "delete" {
			t.Errorf("Delete with a stale revision: Op = %q, want \"delete\" so the message names what was refused", wrong.Op)
		}
		if err := s.Delete(ctx, "s", chronicle.Exact(2)); err != nil {
			t.Fatal(err)
		}
		wantNotFound(t, s, "s")
		// Until a scavenge, the deleted events are still in the log.
		if n := len(readAll(t, s, chronicle.ReadAllOptions{})); n != 3 {
			t.Fatalf("after a soft delete the log holds %d events before a scavenge, want 3", n)
		}
		err = s.Delete(ctx, "s", chronicle.Any)
		wantErr(t, "Delete of a deleted stream", err, chronicle.ErrStreamNotFound)
		_, err = s.Append(ctx, "s", chronicle.Exact(2), event("E", 0))
		wantErr(t, "Append expecting the deleted revision", err, chronicle.ErrWrongExpectedRevision)
		_, err = s.Append(ctx, "s", chronicle.StreamExists, event("E", 0))
		wantErr(t, "Append expecting the deleted stream to exist", err, chronicle.ErrWrongExpectedRevision)
		res := mustAppend(t, s, "s", chronicle.NoStream, event("Again", 0))
		if res.FirstRevision != 3 {
			t.Fatalf("after a soft delete, the stream went on at revision %d, want 3", res.FirstRevision)
		}
		got := readStream(t, s, "s", chronicle.ReadStreamOptions{})
		if len(got) != 1 || got[0].Revision != 3 || got[0].Type != "Again" {
			t.Fatalf("after deleting and appending, the stream reads %v, want only revision 3", revisions(got))
		}
		err = s.Delete(ctx, "missing", chronicle.Any)
		wantErr(t, "Delete of a missing stream", err, chronicle.ErrStreamNotFound)
	})

	t.Run("Tombstone", func(t *testing.T) {
		s := openAs[deleterRetentionStore](t, newStore, "chronicle.Deleter and Retention")
		mustAppend(t, s, "s", chronicle.NoStream, events("E", 2)...)
		// A tombstone checks its expected revision as a delete does, and
		// one refused deletes nothing.
		for _, exp := range []chronicle.ExpectedRevision{chronicle.Exact(0), chronicle.NoStream} {
			err := s.Tombstone(ctx, "s", exp)
			wantErr(t, "Tombstone expecting "+exp.String()+" of a stream at revision 1", err, chronicle.ErrWrongExpectedRevision)
			var wrong *chronicle.WrongExpectedRevisionError
			if errors.As(err, &wrong) && wrong.Op != "tombstone" {
				t.Errorf("Tombstone with a stale revision: Op = %q, want \"tombstone\" so the message names what was refused", wrong.Op)
			}
		}
		if got := revs(t, s, "s", chronicle.ReadStreamOptions{}); !slices.Equal(got, []uint64{0, 1}) {
			t.Fatalf("after refused tombstones, the stream reads %v, want [0 1]", got)
		}
		if err := s.Tombstone(ctx, "s", chronicle.StreamExists); err != nil {
			t.Fatal(err)
		}
		_, err := stress.Collect(s.ReadStream(ctx, "s", chronicle.ReadStreamOptions{}))
		wantErr(t, "ReadStream of a tombstoned stream", err, chronicle.ErrStreamDeleted)
		_, err = stress.Collect(s.ReadStream(ctx, "s", chronicle.ReadStreamOptions{Backwards: true, From: chronicle.End}))
		wantErr(t, "backwards ReadStream of a tombstoned stream", err, chronicle.ErrStreamDeleted)
		// Until a scavenge, the deleted events are still in the log.
		if n := len(readAll(t, s, chronicle.ReadAllOptions{})); n != 2 {
			t.Fatalf("after a tombstone the log holds %d events before a scavenge, want 2", n)
		}
		for _, exp := range []chronicle.ExpectedRevision{chronicle.Any, chronicle.NoStream, chronicle.Exact(1)} {
			_, err = s.Append(ctx, "s", exp, event("E", 0))
			wantErr(t, "Append to a tombstoned stream", err, chronicle.ErrStreamDeleted)
		}
		wantErr(t, "Delete of a tombstoned stream", s.Delete(ctx, "s", chronicle.Any), chronicle.ErrStreamDeleted)
		wantErr(t, "Tombstone again", s.Tombstone(ctx, "s", chronicle.Any), chronicle.ErrStreamDeleted)
		wantErr(t, "SetStreamMetadata of a tombstoned stream", s.SetStreamMetadata(ctx, "s", chronicle.StreamMetadata{MaxCount: 1}), chronicle.ErrStreamDeleted)
		var deleted *chronicle.StreamDeletedError
		if !errors.As(err, &deleted) || deleted.Stream != "s" {
			t.Fatalf("error %v does not name the stream", err)
		}
	})

	t.Run("DeleteDropsSnapshot", func(t *testing.T) {
		// Both kinds of delete remove the stream's snapshot, and no
		// other stream's.
		s := openAs[deleterStore](t, newStore, "chronicle.Deleter")
		ss, ok := has[chronicle.SnapshotStore](s)
		if !ok {
			t.Skip("no snapshots")
		}
		for _, tt := range []struct {
			op  string
			del func(stream string) error
		}{
			{"Delete", func(stream string) error { return s.Delete(ctx, stream, chronicle.Any) }},
			{"Tombstone", func(stream string) error { return s.Tombstone(ctx, stream, chronicle.Any) }},
		} {
			stream, other := "gone-"+tt.op, "kept-"+tt.op
			for _, name := range []string{stream, other} {
				mustAppend(t, s, name, chronicle.NoStream, event("E", 0))
				if err := ss.SaveSnapshot(ctx, chronicle.Snapshot{Stream: name, Type: "T", Data: []byte("x")}); err != nil {
					t.Fatal(err)
				}
				if _, ok, err := ss.LoadSnapshot(ctx, name); err != nil || !ok {
					t.Fatalf("LoadSnapshot(%q) after SaveSnapshot = %v, %v; want the snapshot", name, ok, err)
				}
			}
			if err := tt.del(stream); err != nil {
				t.Fatal(err)
			}
			if _, ok, err := ss.LoadSnapshot(ctx, stream); err != nil || ok {
				t.Errorf("after %s, LoadSnapshot = %v, %v: the stream kept its snapshot, which describes events that are gone", tt.op, ok, err)
			}
			if _, ok, err := ss.LoadSnapshot(ctx, other); err != nil || !ok {
				t.Errorf("after %s of another stream, LoadSnapshot = %v, %v; want the snapshot", tt.op, ok, err)
			}
		}
	})

	t.Run("Scavenge", func(t *testing.T) {
		s := open(t)
		mustAppend(t, s, "keep", chronicle.NoStream, events("E", 3)...)    // 1-3
		mustAppend(t, s, "capped", chronicle.NoStream, events("E", 5)...)  // 4-8
		mustAppend(t, s, "deleted", chronicle.NoStream, events("E", 2)...) // 9-10
		mustAppend(t, s, "keep", chronicle.Exact(2), events("E", 2)...)    // 11-12
		mustAppend(t, s, "tomb", chronicle.NoStream, events("E", 2)...)    // 13-14
		// capped keeps 7-8.
		if err := s.SetStreamMetadata(ctx, "capped", chronicle.StreamMetadata{MaxCount: 2}); err != nil {
			t.Fatal(err)
		}
		if err := s.Delete(ctx, "deleted", chronicle.Any); err != nil {
			t.Fatal(err)
		}
		if err := s.Tombstone(ctx, "tomb", chronicle.Any); err != nil {
			t.Fatal(err)
		}
		sub := subscribe(t, s, chronicle.SubscribeOptions{})
		sub.waitFor(t, 14)

		var seen []chronicle.ScavengeProgress
		p, err := s.Scavenge(ctx, func(p chronicle.ScavengeProgress) { seen = append(seen, p) })
		if err != nil {
			t.Fatal(err)
		}
		if p.Removed != 7 || p.Total != 3 || p.Done != 3 || len(seen) == 0 {
			t.Fatalf("scavenge reported %+v (%d progress calls), want 7 events removed from 3 streams", p, len(seen))
		}
		want := []uint64{1, 2, 3, 7, 8, 11, 12}
		if got := positions(readAll(t, s, chronicle.ReadAllOptions{})); !slices.Equal(got, want) {
			t.Fatalf("after a scavenge the log holds positions %v, want %v", got, want)
		}
		back := slices.Clone(want)
		slices.Reverse(back)
		if got := positions(readAll(t, s, chronicle.ReadAllOptions{Backwards: true, From: chronicle.End})); !slices.Equal(got, back) {
			t.Fatalf("read backwards after a scavenge: %v, want %v", got, back)
		}
		// A subscription started after the scavenge sees what a read
		// sees: the removed events are gone from it too (checked below,
		// with the next event).
		after := subscribe(t, s, chronicle.SubscribeOptions{})
		// The newest positions were removed: they must not be handed out
		// again, or a reader that saw them would skip the new events.
		res := mustAppend(t, s, "keep", chronicle.Exact(4), event("E", 0))
		if res.FirstPosition != 15 {
			t.Fatalf("the first append after a scavenge got position %d, want 15", res.FirstPosition)
		}
		got := sub.waitFor(t, 15)
		if len(got) != 15 || got[14].Position != 15 {
			t.Fatalf("a subscriber running through the scavenge saw %v", positions(got))
		}
		if got := positions(after.waitFor(t, len(want)+1)); !slices.Equal(got, append(want, 15)) {
			t.Fatalf("a subscription started after the scavenge delivers positions %v, want %v", got, append(want, 15))
		}
		// Streams go on at the right revisions.
		restart := event("E", 0)
		restart.ID = uuid.MustParse("0190a3e4-0000-7000-8000-00000000d001")
		res = mustAppend(t, s, "deleted", chronicle.NoStream, restart)
		if res.FirstRevision != 2 {
			t.Fatalf("a scavenged soft-deleted stream went on at revision %d, want 2", res.FirstRevision)
		}
		// The same append again is a retry of the one that started the
		// stream again, at revision 2, not of one at revision 0, which
		// the scavenge emptied.
		if res2, err := s.Append(ctx, "deleted", chronicle.NoStream, restart); err != nil || res2 != res {
			t.Fatalf("the restarting append repeated = %+v, %v; want the first result %+v", res2, err, res)
		}
		if got := revs(t, s, "capped", chronicle.ReadStreamOptions{}); !slices.Equal(got, []uint64{3, 4}) {
			t.Fatalf("capped stream reads %v after a scavenge, want [3 4]", got)
		}
		_, err = s.Append(ctx, "tomb", chronicle.Any, event("E", 0))
		wantErr(t, "Append to a scavenged tombstone", err, chronicle.ErrStreamDeleted)
		// A second scavenge has nothing left to do.
		if p, err := s.Scavenge(ctx, nil); err != nil || p.Removed != 0 {
			t.Fatalf("second scavenge = %+v, %v; want nothing removed", p, err)
		}
	})

	t.Run("ScavengeManyPages", func(t *testing.T) {
		// Holes of many pages, and holes across page boundaries: a read
		// of the log skips them and yields the rest once, in order.
		s := openScavenger(t)
		mustAppend(t, s, "a", chronicle.NoStream, events("E", 700)...)     // 1-700
		mustAppend(t, s, "gone", chronicle.NoStream, events("E", 1200)...) // 701-1900
		mustAppend(t, s, "b", chronicle.NoStream, events("E", 600)...)     // 1901-2500
		mustAppend(t, s, "capped", chronicle.NoStream, events("E", 30)...) // 2501-2530
		// Truncated past its end, as a soft delete leaves it.
		if err := s.SetStreamMetadata(ctx, "gone", chronicle.StreamMetadata{TruncateBefore: 1200}); err != nil {
			t.Fatal(err)
		}
		// capped keeps 2530.
		if err := s.SetStreamMetadata(ctx, "capped", chronicle.StreamMetadata{MaxCount: 1}); err != nil {
			t.Fatal(err)
		}
		if p, err := s.Scavenge(ctx, nil); err != nil || p.Removed != 1229 {
			t.Fatalf("Scavenge = %+v, %v; want 1229 events removed", p, err)
		}
		want := append(append(seq(1, 700, 1), seq(1901, 600, 1)...), 2530)
		for _, from := range []uint64{1, 600, 701, 1900, 2500, 2529} {
			i, _ := slices.BinarySearch(want, from)
			if got := positions(readAll(t, s, chronicle.ReadAllOptions{From: from})); !slices.Equal(got, want[i:]) {
				t.Fatalf("from %d after a scavenge: read %d events (%v...), want %d", from, len(got), got[:min(3, len(got))], len(want[i:]))
			}
		}
	})

	t.Run("ScavengeDuringReadAll", func(t *testing.T) {
		// A scavenge that runs while a read of the log is under way, its
		// pages or ranges partly read ahead: the read yields every event
		// that no retention hid, once each, in order. Kept events sit
		// between runs of hidden ones from ten to over six hundred
		// long, so that the scavenge leaves holes shorter and longer
		// than a page on both sides of where the read is.
		for _, backwards := range []bool{false, true} {
			s := openScavenger(t)
			for i := range 10 {
				mustAppend(t, s, fmt.Sprintf("kept-%d", i%4), chronicle.Any, events("K", 10)...)
				mustAppend(t, s, fmt.Sprintf("capped-%d", i%4), chronicle.Any, events("C", 10+(i%5)*150)...)
			}
			var kept []uint64
			for i := range 4 {
				kept = append(kept, positions(readStream(t, s, fmt.Sprintf("kept-%d", i), chronicle.ReadStreamOptions{}))...)
			}
			slices.Sort(kept)
			for i := range 4 {
				if err := s.SetStreamMetadata(ctx, fmt.Sprintf("capped-%d", i), chronicle.StreamMetadata{MaxCount: 1}); err != nil {
					t.Fatal(err)
				}
			}
			opts := chronicle.ReadAllOptions{}
			if backwards {
				opts = chronicle.ReadAllOptions{Backwards: true, From: chronicle.End}
				slices.Reverse(kept)
			}
			var got []uint64
			var removed uint64
			for e, err := range s.ReadAll(ctx, opts) {
				if err != nil {
					t.Fatalf("backwards %v: read after %d events: %v", backwards, len(got), err)
				}
				if len(got) == 150 {
					p, err := s.Scavenge(ctx, nil)
					if err != nil {
						t.Fatalf("backwards %v: Scavenge during the read: %v", backwards, err)
					}
					removed = p.Removed
				}
				if n := len(got); n > 0 && (backwards && e.Position >= got[n-1] || !backwards && e.Position <= got[n-1]) {
					t.Fatalf("backwards %v: position %d after %d", backwards, e.Position, got[n-1])
				}
				got = append(got, e.Position)
			}
			if removed == 0 {
				t.Fatalf("backwards %v: the scavenge removed nothing", backwards)
			}
			var missing []uint64
			for _, p := range kept {
				if !slices.Contains(got, p) {
					missing = append(missing, p)
				}
			}
			if len(missing) > 0 {
				t.Fatalf("backwards %v: %d kept events not read, from position %d", backwards, len(missing), missing[0])
			}
		}
	})

	t.Run("ScavengeAllExpired", func(t *testing.T) {
		s := openScavenger(t)
		mustAppend(t, s, "s", chronicle.NoStream, events("E", 3)...)
		time.Sleep(20 * time.Millisecond)
		if err := s.SetStreamMetadata(ctx, "s", chronicle.StreamMetadata{MaxAge: 10 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
		if p, err := s.Scavenge(ctx, nil); err != nil || p.Removed != 3 {
			t.Fatalf("Scavenge = %+v, %v; want 3 events removed", p, err)
		}
		// The scavenge removed them from the log too.
		if got := positions(readAll(t, s, chronicle.ReadAllOptions{})); len(got) != 0 {
			t.Fatalf("after a scavenge the log holds positions %v of events older than the max age", got)
		}
		// The stream still exists, empty, and its revisions go on.
		if got := readStream(t, s, "s", chronicle.ReadStreamOptions{}); len(got) != 0 {
			t.Fatalf("read %d expired events", len(got))
		}
		if res := mustAppend(t, s, "s", chronicle.Exact(2), event("E", 3)); res.FirstRevision != 3 {
			t.Fatalf("after every event expired, the stream went on at revision %d, want 3", res.FirstRevision)
		}
		// A scavenge leaves the metadata as it was set.
		if m, err := s.StreamMetadata(ctx, "s"); err != nil || m != (chronicle.StreamMetadata{MaxAge: 10 * time.Millisecond}) {
			t.Fatalf("after a scavenge, StreamMetadata = %+v, %v; want the max age alone", m, err)
		}
	})

	t.Run("ScavengeTruncatedPastTheEnd", func(t *testing.T) {
		s := openScavenger(t)
		mustAppend(t, s, "s", chronicle.NoStream, events("E", 5)...) // 0-4
		m := chronicle.StreamMetadata{TruncateBefore: 10}
		if err := s.SetStreamMetadata(ctx, "s", m); err != nil {
			t.Fatal(err)
		}
		if p, err := s.Scavenge(ctx, nil); err != nil || p.Removed != 5 {
			t.Fatalf("Scavenge = %+v, %v; want 5 events removed", p, err)
		}
		if got := readStream(t, s, "s", chronicle.ReadStreamOptions{}); len(got) != 0 {
			t.Fatalf("read %d truncated events", len(got))
		}
		if got, err := s.StreamMetadata(ctx, "s"); err != nil || got != m {
			t.Fatalf("after a scavenge, StreamMetadata = %+v, %v; want %+v", got, err, m)
		}
		if res := mustAppend(t, s, "s", chronicle.Exact(4), events("E", 6)...); res.FirstRevision != 5 {
			t.Fatalf("after a scavenge of every event, the stream went on at revision %d, want 5", res.FirstRevision)
		}
		if got := revs(t, s, "s", chronicle.ReadStreamOptions{}); !slices.Equal(got, []uint64{10}) {
			t.Fatalf("after a scavenge and an append, the stream reads %v, want [10]", got)
		}
	})

	t.Run("ScavengedStayRemoved", func(t *testing.T) {
		// A scavenge removes the events it finds hidden for good:
		// metadata that hides less afterwards does not bring them back,
		// to reads or to snapshots, and the stream's revisions go on.
		s := openScavenger(t)
		mustAppend(t, s, "s", chronicle.NoStream, events("E", 5)...) // 0-4
		if err := s.SetStreamMetadata(ctx, "s", chronicle.StreamMetadata{TruncateBefore: 3}); err != nil {
			t.Fatal(err)
		}
		if p, err := s.Scavenge(ctx, nil); err != nil || p.Removed != 3 {
			t.Fatalf("Scavenge = %+v, %v; want 3 events removed", p, err)
		}
		if err := s.SetStreamMetadata(ctx, "s", chronicle.StreamMetadata{}); err != nil {
			t.Fatal(err)
		}
		if got := revs(t, s, "s", chronicle.ReadStreamOptions{}); !slices.Equal(got, []uint64{3, 4}) {
			t.Fatalf("with its metadata cleared after a scavenge, the stream reads %v, want [3 4]", got)
		}
		if got := revs(t, s, "s", chronicle.ReadStreamOptions{Backwards: true, From: chronicle.End}); !slices.Equal(got, []uint64{4, 3}) {
			t.Fatalf("with its metadata cleared after a scavenge, the stream reads %v backwards, want [4 3]", got)
		}
		if got := revs(t, s, "s", chronicle.ReadStreamOptions{Limit: 1}); !slices.Equal(got, []uint64{3}) {
			t.Fatalf("with its metadata cleared after a scavenge, a read of one event gives %v, want [3]", got)
		}
		if got := positions(readAll(t, s, chronicle.ReadAllOptions{})); !slices.Equal(got, []uint64{4, 5}) {
			t.Fatalf("with the metadata cleared after a scavenge, the log holds positions %v, want [4 5]", got)
		}
		if ss, ok := has[chronicle.SnapshotStore](s); ok {
			err := ss.SaveSnapshot(ctx, chronicle.Snapshot{Stream: "s", Revision: 1, Type: "T", Version: 1, Data: []byte("1")})
			wantErr(t, "SaveSnapshot at a revision that a scavenge removed", err, chronicle.ErrStreamNotFound)
		}
		if res := mustAppend(t, s, "s", chronicle.Exact(4), event("E", 5)); res.FirstRevision != 5 {
			t.Fatalf("after a scavenge, the stream went on at revision %d, want 5", res.FirstRevision)
		}
	})

	t.Run("ScavengeProgressCallsStore", func(t *testing.T) {
		// The progress function may use the store, to log how many events
		// it holds, say: a scavenge that calls it holding a lock of the
		// store would wait for itself.
		s := openScavenger(t)
		for _, name := range []string{"a", "b"} {
			mustAppend(t, s, name, chronicle.NoStream, events("E", 3)...)
			if err := s.SetStreamMetadata(ctx, name, chronicle.StreamMetadata{MaxCount: 1}); err != nil {
				t.Fatal(err)
			}
		}
		calls := 0
		p, err := s.Scavenge(ctx, func(chronicle.ScavengeProgress) {
			calls++
			done := make(chan error, 1)
			go func() {
				_, err := s.StreamMetadata(ctx, "a")
				if err == nil {
					err = firstError(s.ReadAll(ctx, chronicle.ReadAllOptions{}))
				}
				if err == nil {
					_, err = s.Append(ctx, "logged", chronicle.Any, event("Progress", calls))
				}
				done <- err
			}()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("a call of the store from the progress function: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Errorf("a call of the store from the progress function did not return in 10s: the scavenge holds the store while it reports")
			}
		})
		if err != nil || p.Removed != 4 || calls == 0 {
			t.Fatalf("Scavenge = %+v, %v after %d progress calls; want 4 events removed", p, err, calls)
		}
		if got := len(readStream(t, s, "logged", chronicle.ReadStreamOptions{})); got != calls {
			t.Fatalf("the progress function appended %d events, the stream holds %d", calls, got)
		}
	})

	// cappedThree returns a store with the streams a, b and c of 3 events
	// each, and a max count of 1 on each.
	cappedThree := func(t *testing.T) scavengerStore {
		t.Helper()
		s := openScavenger(t)
		for _, name := range []string{"a", "b", "c"} {
			mustAppend(t, s, name, chronicle.NoStream, events("E", 3)...)
			if err := s.SetStreamMetadata(ctx, name, chronicle.StreamMetadata{MaxCount: 1}); err != nil {
				t.Fatal(err)
			}
		}
		return s
	}
	t.Run("ScavengeResumes", func(t *testing.T) {
		s := cappedThree(t)
		stop, cancel := context.WithCancel(ctx)
		p, err := s.Scavenge(stop, func(chronicle.ScavengeProgress) { cancel() })
		wantErr(t, "interrupted Scavenge", err, context.Canceled)
		// What the interrupted scavenge reports removed is gone, and no
		// more: a resumed one neither counts it again nor finds it back.
		if n := len(readAll(t, s, chronicle.ReadAllOptions{})); n != 9-int(p.Removed) {
			t.Fatalf("an interrupted scavenge reported %+v, but the log holds %d of the 9 events", p, n)
		}
		p2, err := s.Scavenge(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if n := len(readAll(t, s, chronicle.ReadAllOptions{})); n != 3 {
			t.Fatalf("after an interrupted and a resumed scavenge the log holds %d events, want 3", n)
		}
		if p.Removed+p2.Removed != 6 {
			t.Fatalf("an interrupted scavenge reported %d events removed and the resumed one %d, want 6 in all", p.Removed, p2.Removed)
		}
	})
	// A scavenge that resumes an interrupted one must still scavenge the
	// streams that the interrupted one had done, if they were deleted or
	// given metadata that hides more since (the resume point moved back).
	interrupted := func(t *testing.T, between func(s scavengerStore)) scavengerStore {
		t.Helper()
		s := cappedThree(t)
		stop, cancel := context.WithCancel(ctx)
		_, err := s.Scavenge(stop, func(p chronicle.ScavengeProgress) {
			switch {
			case p.Done == 1 && between != nil:
				between(s)
			case p.Done == 2:
				cancel()
			}
		})
		wantErr(t, "interrupted Scavenge", err, context.Canceled)
		return s
	}
	deleter := func(t *testing.T, s chronicle.Store) chronicle.Deleter {
		t.Helper()
		d, ok := s.(chronicle.Deleter)
		if !ok {
			t.Skip("the store is no chronicle.Deleter")
		}
		return d
	}
	scavengedTo := func(t *testing.T, s scavengerStore, want []string, why string) {
		t.Helper()
		if _, err := s.Scavenge(ctx, nil); err != nil {
			t.Fatal(err)
		}
		var left []string
		for _, e := range readAll(t, s, chronicle.ReadAllOptions{}) {
			left = append(left, fmt.Sprintf("%s@%d", e.Stream, e.Revision))
		}
		if !slices.Equal(left, want) {
			t.Fatalf("after the resumed scavenge the log holds %v, want %v: %s", left, want, why)
		}
	}
	t.Run("ScavengeResumedAfterChanges", func(t *testing.T) {
		s := interrupted(t, nil)
		if err := deleter(t, s).Delete(ctx, "a", chronicle.Any); err != nil {
			t.Fatal(err)
		}
		if err := s.SetStreamMetadata(ctx, "b", chronicle.StreamMetadata{TruncateBefore: 3}); err != nil {
			t.Fatal(err)
		}
		scavengedTo(t, s, []string{"c@2"}, "a was deleted and b's events hidden since the interrupted one")
	})
	t.Run("ScavengeResumedAfterChangesDuring", func(t *testing.T) {
		s := interrupted(t, func(s scavengerStore) {
			if err := deleter(t, s).Delete(ctx, "a", chronicle.Any); err != nil {
				t.Error(err)
			}
		})
		scavengedTo(t, s, []string{"b@2", "c@2"}, "a was deleted while the interrupted one ran, after it had done a")
	})
	t.Run("ScavengeFromProgress", func(t *testing.T) {
		// A progress function may use the store, and so start another
		// scavenge, which must neither wait for its caller for good nor
		// count an event that the other removes.
		s := cappedThree(t)
		var inner chronicle.ScavengeProgress
		calls := 0
		outer, err := s.Scavenge(ctx, func(chronicle.ScavengeProgress) {
			if calls++; calls > 1 {
				return
			}
			done := make(chan error, 1)
			go func() {
				var err error
				inner, err = s.Scavenge(ctx, nil)
				done <- err
			}()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("the scavenge started from the progress function: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Errorf("a scavenge started from the progress function of another did not return in 10 s")
				t.Cleanup(func() { <-done }) // it may return once the outer one has
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		if t.Failed() {
			return
		}
		if outer.Removed+inner.Removed != 6 {
			t.Errorf("the scavenges removed %d and %d events, want 6 in all", outer.Removed, inner.Removed)
		}
		if n := len(readAll(t, s, chronicle.ReadAllOptions{})); n != 3 {
			t.Errorf("after the scavenges the log holds %d events, want 3", n)
		}
	})
}

// openAs returns a new store as a T, or skips the test when the store is
// not one; abilities names what T asks for.
func openAs[T chronicle.Store](t *testing.T, newStore Factory, abilities string) T {
	t.Helper()
	s, ok := has[T](newStore(t))
	if !ok {
		t.Skipf("the store does not implement %s", abilities)
	}
	return s
}

// deleterStore is a store whose streams can be deleted.
type deleterStore interface {
	chronicle.Store
	chronicle.Deleter
}

// deleterRetentionStore is a store whose streams can be deleted and have
// metadata.
type deleterRetentionStore interface {
	chronicle.Store
	chronicle.Deleter
	chronicle.Retention
}

// retentionStore is a store whose streams have metadata.
type retentionStore interface {
	chronicle.Store
	chronicle.Retention
}

// testRetention pins down the edge cases of stream metadata that
// [chronicle.Retention] documents. It needs only Retention (and Deleter
// for the cases about deleted streams), so that stores without a
// Scavenger, such as a client of a remote server, run it too. None of its
// cases uses a max age, which some protocols keep in whole seconds.
func testRetention(t *testing.T, newStore Factory) {
	ctx := context.Background()
	open := func(t *testing.T) retentionStore {
		return openAs[retentionStore](t, newStore, "chronicle.Retention")
	}
	set := func(t *testing.T, s retentionStore, stream string, m chronicle.StreamMetadata) {
		t.Helper()
		if err := s.SetStreamMetadata(ctx, stream, m); err != nil {
			t.Fatalf("SetStreamMetadata(%q, %+v): %v", stream, m, err)
		}
	}
	wantMeta := func(t *testing.T, s retentionStore, stream string, want chronicle.StreamMetadata) {
		t.Helper()
		if got, err := s.StreamMetadata(ctx, stream); err != nil || got != want {
			t.Fatalf("StreamMetadata(%q) = %+v, %v; want %+v", stream, got, err, want)
		}
	}
	// wantRevs reads stream with opts, which must succeed even when it
	// returns nothing, and checks the revisions read.
	wantRevs := func(t *testing.T, s chronicle.Store, stream string, opts chronicle.ReadStreamOptions, want ...uint64) {
		t.Helper()
		got := revisions(readStream(t, s, stream, opts))
		if !slices.Equal(got, want) {
			t.Fatalf("ReadStream(%q, %+v) read revisions %v, want %v", stream, opts, got, want)
		}
	}
	forwards := chronicle.ReadStreamOptions{}
	backwards := chronicle.ReadStreamOptions{Backwards: true, From: chronicle.End}

	t.Run("TruncateBeforePastTheEnd", func(t *testing.T) {
		s := open(t)
		mustAppend(t, s, "s", chronicle.NoStream, events("E", 5)...) // 0-4
		m := chronicle.StreamMetadata{TruncateBefore: 10}
		set(t, s, "s", m)
		wantMeta(t, s, "s", m)
		// Every event is hidden, but the stream still exists: it reads
		// empty, not as not found, and its revisions do not move.
		wantRevs(t, s, "s", forwards)
		wantRevs(t, s, "s", backwards)
		_, err := s.Append(ctx, "s", chronicle.NoStream, event("E", 0))
		wantErr(t, "Append expecting no stream to a stream whose events are all hidden", err, chronicle.ErrWrongExpectedRevision)
		res := mustAppend(t, s, "s", chronicle.Exact(4), events("F", 7)...)
		if res.FirstRevision != 5 || res.LastRevision != 11 {
			t.Fatalf("after truncate-before 10, an append to revisions 0-4 went to %d-%d, want 5-11: metadata does not move revisions",
				res.FirstRevision, res.LastRevision)
		}
		// The events from revision 10 on are visible, as in KurrentDB.
		wantRevs(t, s, "s", forwards, 10, 11)
		wantRevs(t, s, "s", backwards, 11, 10)
		wantRevs(t, s, "s", chronicle.ReadStreamOptions{From: 3, Limit: 1}, 10)
		wantRevs(t, s, "s", chronicle.ReadStreamOptions{Backwards: true, From: 9})
		wantRevs(t, s, "s", chronicle.ReadStreamOptions{Backwards: true, From: 10}, 10)
		wantMeta(t, s, "s", m)
	})

	t.Run("MetadataBeforeTheStream", func(t *testing.T) {
		s := open(t)
		m := chronicle.StreamMetadata{MaxCount: 3, TruncateBefore: 2}
		set(t, s, "s", m)
		wantMeta(t, s, "s", m)
		// Metadata does not make the stream exist.
		wantNotFound(t, s, "s")
		_, err := s.Append(ctx, "s", chronicle.StreamExists, event("E", 0))
		wantErr(t, "Append expecting a stream that has only metadata", err, chronicle.ErrWrongExpectedRevision)
		if res := mustAppend(t, s, "s", chronicle.NoStream, events("E", 3)...); res.FirstRevision != 0 {
			t.Fatalf("the first append to a stream with metadata went to revision %d, want 0", res.FirstRevision)
		}
		wantRevs(t, s, "s", forwards, 2)
		mustAppend(t, s, "s", chronicle.Exact(2), events("E", 3)...) // 3-5
		wantRevs(t, s, "s", forwards, 3, 4, 5)
		wantRevs(t, s, "s", backwards, 5, 4, 3)
		wantMeta(t, s, "s", m)

		// A stream whose metadata hides the revisions it will have.
		set(t, s, "t", chronicle.StreamMetadata{TruncateBefore: 5})
		wantNotFound(t, s, "t")
		if res := mustAppend(t, s, "t", chronicle.NoStream, events("E", 2)...); res.FirstRevision != 0 {
			t.Fatalf("the first append to a stream with truncate-before 5 went to revision %d, want 0", res.FirstRevision)
		}
		wantRevs(t, s, "t", forwards)

		// Deleting a stream that has only metadata finds nothing to delete.
		if d, ok := has[chronicle.Deleter](s); ok {
			set(t, s, "u", chronicle.StreamMetadata{TruncateBefore: 3})
			wantErr(t, "Delete of a stream that has only metadata", d.Delete(ctx, "u", chronicle.Any), chronicle.ErrStreamNotFound)
		}
	})

	t.Run("TruncateBeforeAndMaxCount", func(t *testing.T) {
		s := open(t)
		mustAppend(t, s, "s", chronicle.NoStream, events("E", 10)...) // 0-9
		// The stricter of the two wins.
		set(t, s, "s", chronicle.StreamMetadata{MaxCount: 2, TruncateBefore: 3})
		wantRevs(t, s, "s", forwards, 8, 9)
		wantRevs(t, s, "s", backwards, 9, 8)
		set(t, s, "s", chronicle.StreamMetadata{MaxCount: 8, TruncateBefore: 5})
		wantRevs(t, s, "s", forwards, 5, 6, 7, 8, 9)
		// Limits count the events read, not the hidden ones skipped.
		wantRevs(t, s, "s", chronicle.ReadStreamOptions{Limit: 2}, 5, 6)
		wantRevs(t, s, "s", chronicle.ReadStreamOptions{Backwards: true, From: 7, Limit: 5}, 7, 6, 5)
		wantRevs(t, s, "s", chronicle.ReadStreamOptions{Backwards: true, From: 4})
		wantRevs(t, s, "s", chronicle.ReadStreamOptions{From: 20})
		// The max count follows the stream as it grows.
		mustAppend(t, s, "s", chronicle.Exact(9), events("E", 5)...) // 10-14
		wantRevs(t, s, "s", forwards, 7, 8, 9, 10, 11, 12, 13, 14)
		wantRevs(t, s, "s", chronicle.ReadStreamOptions{Backwards: true, From: 8}, 8, 7)
	})

	t.Run("SoftDeleted", func(t *testing.T) {
		s := open(t)
		d, ok := has[chronicle.Deleter](s)
		if !ok {
			t.Skip("the store does not implement chronicle.Deleter")
		}
		mustAppend(t, s, "s", chronicle.NoStream, events("E", 3)...) // 0-2
		set(t, s, "s", chronicle.StreamMetadata{MaxCount: 5})
		if err := d.Delete(ctx, "s", chronicle.Exact(2)); err != nil {
			t.Fatal(err)
		}
		// The delete shows as a truncate-before past the old events; the
		// rest of the metadata stays.
		wantMeta(t, s, "s", chronicle.StreamMetadata{MaxCount: 5, TruncateBefore: 3})
		// Metadata can be set on a soft-deleted stream, but cannot bring
		// back what the delete hid, and does not undelete it.
		set(t, s, "s", chronicle.StreamMetadata{MaxCount: 4})
		wantMeta(t, s, "s", chronicle.StreamMetadata{MaxCount: 4, TruncateBefore: 3})
		wantNotFound(t, s, "s")
		set(t, s, "s", chronicle.StreamMetadata{MaxCount: 4, TruncateBefore: 4})
		wantMeta(t, s, "s", chronicle.StreamMetadata{MaxCount: 4, TruncateBefore: 4})
		wantNotFound(t, s, "s")
		if res := mustAppend(t, s, "s", chronicle.NoStream, events("F", 2)...); res.FirstRevision != 3 {
			t.Fatalf("a soft-deleted stream went on at revision %d, want 3", res.FirstRevision)
		}
		wantRevs(t, s, "s", forwards, 4)
		wantMeta(t, s, "s", chronicle.StreamMetadata{MaxCount: 4, TruncateBefore: 4})
	})

	t.Run("SoftDeleteKeepsALargerTruncateBefore", func(t *testing.T) {
		// A delete must never reveal what metadata hid: a truncate-before
		// past the deleted stream's end stays, and the events appended
		// below it later stay hidden.
		s := open(t)
		d, ok := has[chronicle.Deleter](s)
		if !ok {
			t.Skip("the store does not implement chronicle.Deleter")
		}
		// deleted gives stream revisions 0-2, hides revisions below 6,
		// and soft-deletes it.
		deleted := func(stream string) {
			mustAppend(t, s, stream, chronicle.NoStream, events("E", 3)...)
			set(t, s, stream, chronicle.StreamMetadata{TruncateBefore: 6})
			if err := d.Delete(ctx, stream, chronicle.Exact(2)); err != nil {
				t.Fatal(err)
			}
		}
		deleted("s")
		wantMeta(t, s, "s", chronicle.StreamMetadata{TruncateBefore: 6})
		if res := mustAppend(t, s, "s", chronicle.NoStream, events("F", 4)...); res.FirstRevision != 3 {
			t.Fatalf("a soft-deleted stream went on at revision %d, want 3", res.FirstRevision)
		}
		wantRevs(t, s, "s", forwards, 6)
		wantMeta(t, s, "s", chronicle.StreamMetadata{TruncateBefore: 6})

		// Metadata set on a soft-deleted stream is raised to what the
		// delete hid, not to the truncate-before it replaces.
		deleted("t")
		set(t, s, "t", chronicle.StreamMetadata{MaxCount: 9})
		wantMeta(t, s, "t", chronicle.StreamMetadata{MaxCount: 9, TruncateBefore: 3})
		mustAppend(t, s, "t", chronicle.NoStream, events("F", 2)...) // 3-4
		wantRevs(t, s, "t", forwards, 3, 4)
	})

	t.Run("Tombstoned", func(t *testing.T) {
		s := open(t)
		d, ok := has[chronicle.Deleter](s)
		if !ok {
			t.Skip("the store does not implement chronicle.Deleter")
		}
		mustAppend(t, s, "s", chronicle.NoStream, events("E", 2)...)
		set(t, s, "s", chronicle.StreamMetadata{MaxCount: 5})
		if err := d.Tombstone(ctx, "s", chronicle.Any); err != nil {
			t.Fatal(err)
		}
		_, err := s.StreamMetadata(ctx, "s")
		wantErr(t, "StreamMetadata of a tombstoned stream", err, chronicle.ErrStreamDeleted)
		// Tombstoning a stream that has only metadata makes it deleted.
		set(t, s, "t", chronicle.StreamMetadata{TruncateBefore: 3})
		if err := d.Tombstone(ctx, "t", chronicle.NoStream); err != nil {
			t.Fatalf("Tombstone expecting no stream, of a stream that has only metadata: %v", err)
		}
		_, err = s.Append(ctx, "t", chronicle.Any, event("E", 0))
		wantErr(t, "Append to a tombstoned stream", err, chronicle.ErrStreamDeleted)
	})
}

// added is the event of the repository that testRepositoryHidden runs.
type added struct {
	N int `json:"n"`
}

// testRepositoryHidden runs a [chronicle.Repository] on streams whose
// events are all hidden, as its Load and Handle document: Load gives the
// initial state and expects [chronicle.NoStream], as a reader sees the
// stream, and Handle's append goes after the hidden events.
func testRepositoryHidden(t *testing.T, newStore Factory) {
	ctx := context.Background()
	codec := chronicle.MustCodec[added](chronicle.JSON[added]("Added"))
	// The state counts the events read; each command adds one.
	counter := chronicle.Decider[int, int, added]{
		Decide: func(_ int, n int) ([]added, error) { return []added{{N: n}}, nil },
		Evolve: func(n int, _ added) int { return n + 1 },
	}
	// load checks what Repository.Load gives for stream.
	load := func(t *testing.T, repo *chronicle.Repository[int, int, added], stream string, state int, rev chronicle.ExpectedRevision) {
		t.Helper()
		got, exp, err := repo.Load(ctx, stream)
		if err != nil || got != state || exp != rev {
			t.Fatalf("Load(%q) = %d, %v, %v; want %d events read, expecting %v", stream, got, exp, err, state, rev)
		}
	}
	// handle runs a command on stream and checks where its event went.
	handle := func(t *testing.T, repo *chronicle.Repository[int, int, added], stream string, rev uint64) {
		t.Helper()
		out, err := repo.Handle(ctx, stream, 1)
		if err != nil || out.Revision != chronicle.Exact(rev) {
			t.Fatalf("Handle(%q) = revision %v, %v; want its event at revision %d", stream, out.Revision, err, rev)
		}
	}
	for _, retries := range []int{0, -1} {
		t.Run(fmt.Sprintf("retries=%d", retries), func(t *testing.T) {
			s := openAs[retentionStore](t, newStore, "chronicle.Retention")
			repo := chronicle.NewRepository(s, codec, counter, &chronicle.RepositoryOptions{Retries: retries})
			for _, stream := range []string{"up-to-the-end", "past-the-end"} {
				mustAppend(t, s, stream, chronicle.NoStream, events("Added", 3)...) // 0-2
			}
			// Hidden up to the end: the next event shows.
			if err := s.SetStreamMetadata(ctx, "up-to-the-end", chronicle.StreamMetadata{TruncateBefore: 3}); err != nil {
				t.Fatal(err)
			}
			load(t, repo, "up-to-the-end", 0, chronicle.NoStream)
			handle(t, repo, "up-to-the-end", 3)
			load(t, repo, "up-to-the-end", 1, chronicle.Exact(3))
			handle(t, repo, "up-to-the-end", 4)

			// Hidden past the end: the next events are hidden too, and
			// each command is decided on the initial state again.
			if err := s.SetStreamMetadata(ctx, "past-the-end", chronicle.StreamMetadata{TruncateBefore: 10}); err != nil {
				t.Fatal(err)
			}
			for rev := uint64(3); rev < 5; rev++ {
				load(t, repo, "past-the-end", 0, chronicle.NoStream)
				handle(t, repo, "past-the-end", rev)
			}

			// Soft-deleted: the stream starts again after its old events.
			d, ok := has[chronicle.Deleter](s)
			if !ok {
				return
			}
			mustAppend(t, s, "deleted", chronicle.NoStream, events("Added", 3)...) // 0-2
			if err := d.Delete(ctx, "deleted", chronicle.Exact(2)); err != nil {
				t.Fatal(err)
			}
			load(t, repo, "deleted", 0, chronicle.NoStream)
			handle(t, repo, "deleted", 3)
			load(t, repo, "deleted", 1, chronicle.Exact(3))
		})
	}
}
