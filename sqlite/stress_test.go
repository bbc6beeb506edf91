package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/internal/stress"
	"github.com/chronicle-es/chronicle/sqlite"
	"github.com/google/uuid"
)

// TestStressReaders tries to make a reader of the global log, or of a
// stream, lose, repeat, reorder or invent an event while appends commit
// from several stores on one file, as from several processes: each has
// its own writer, stream cache, recent events for its subscribers and
// read group. Each store's writers append random batches to shared
// streams, some refused for a wrong expected revision, some cancelled
// before or while the writer holds them (and then retried with the same
// event IDs, or not), while streams are soft-deleted or given metadata
// and Update commits on a connection of its own, all of which drop what
// the writers keep of the file. Meanwhile subscriptions from the start,
// from the middle, and with a filter follow the log on every store, and
// ReadAll and ReadStream loops read it again and again.
//
// At the end the log must be gapless; every acknowledged append's events
// must be where it said; no refused or cancelled append's event may be in
// it, and no event that no writer tried; every reader must have found the
// same event at each position; every subscriber must have seen exactly
// the log from where it started (or its filter's part of it), in order,
// once; and every store must read each stream as a store that keeps no
// stream in memory does.
func TestStressReaders(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	// The first store's subscribers never poll: only its own writer's
	// wake-up brings them events, so that a lost wake-up shows as a
	// subscriber that never catches up with the last append, which goes
	// through it. Relaxed durability, as fsyncs would leave little time
	// to the race detector's slow SQLite.
	stores := []*sqlite.Store{
		openStress(t, path, &sqlite.Options{Durability: sqlite.Relaxed, PollInterval: time.Hour}),
		openStress(t, path, &sqlite.Options{Durability: sqlite.Relaxed, MaxBatch: 4, PollInterval: 5 * time.Millisecond}),
		openStress(t, path, &sqlite.Options{Durability: sqlite.Relaxed, CacheEvents: 64}),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	st := stress.NewState()
	subs := stress.NewSubscribers(ctx)
	for _, s := range stores {
		subs.FollowAll(s)
	}

	const writeFor = 8 * time.Second
	deadline := time.Now().Add(writeFor)
	var writers, readers sync.WaitGroup
	stopReaders := make(chan struct{})
	for i, s := range stores {
		for g := range 4 {
			// An append whose context ends is written by no batch.
			w := stress.Writer{Store: s, State: st, Seed: uint64(i*100 + g), MaxLarge: 400, CancelWritesNothing: true}
			writers.Go(func() { w.Run(ctx, t, deadline) })
		}
		readers.Go(func() { stress.ReadAll(ctx, t, s, st, uint64(i), stopReaders) })
		readers.Go(func() { stress.ReadStreams(ctx, t, s, st, uint64(i), stopReaders) })
	}
	// Soft deletes and metadata, which the writers' caches must drop, and
	// transactions of Update, which commit on another connection than
	// the writer's.
	writers.Go(func() {
		rng := rand.New(rand.NewPCG(99, 1))
		for time.Now().Before(deadline) {
			time.Sleep(time.Duration(5+rng.IntN(20)) * time.Millisecond)
			if err := stressChange(ctx, rng, stores[rng.IntN(len(stores))], st); err != nil {
				t.Error(err)
				return
			}
		}
	})
	writers.Go(func() {
		subs.FollowLater(st, writeFor/8, func(k int) chronicle.Store { return stores[k%len(stores)] })
	})
	writers.Wait()
	close(stopReaders)
	readers.Wait()
	if t.Failed() {
		return
	}
	// The last append goes through the store whose subscribers never
	// poll: its wake-up must bring them every event.
	id := uuid.Must(uuid.NewV7())
	res, err := stores[0].Append(ctx, "a-0", chronicle.Any, chronicle.EventData{ID: id, Type: "T", Data: []byte(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	st.Ack(t, "a-0", []uuid.UUID{id}, res)

	log, err := stress.Collect(stores[2].ReadAll(ctx, chronicle.ReadAllOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	st.Check(t, log)
	if t.Failed() {
		return
	}
	n := subs.Check(t, log, 10*time.Second)
	// Each store reads each stream, from memory perhaps, as a store that
	// keeps none in memory reads the file.
	plain := openStress(t, path, &sqlite.Options{CacheEvents: -1})
	for _, c := range "ab" {
		for k := range stress.Streams {
			stream := fmt.Sprintf("%c-%d", c, k)
			want, wantErr := stress.Collect(plain.ReadStream(ctx, stream, chronicle.ReadStreamOptions{}))
			for i, s := range stores {
				got, err := stress.Collect(s.ReadStream(ctx, stream, chronicle.ReadStreamOptions{}))
				if !errors.Is(err, wantErr) && (err == nil || wantErr == nil || err.Error() != wantErr.Error()) {
					t.Errorf("store %d: ReadStream(%s): %v; the file says %v", i, stream, err, wantErr)
				}
				if !slices.EqualFunc(got, want, func(a, b chronicle.RecordedEvent) bool {
					return a.ID == b.ID && a.Position == b.Position && a.Revision == b.Revision
				}) {
					t.Errorf("store %d: ReadStream(%s) found %d events; the file has %d", i, stream, len(got), len(want))
				}
			}
		}
	}
	t.Logf("%d events; %s; %d subscribers", len(log), st.Counts(), n)
}

// stressChange deletes a random stream, sets its metadata, or runs an
// Update of a table of the application's.
func stressChange(ctx context.Context, rng *rand.Rand, s *sqlite.Store, st *stress.State) error {
	stream := stress.Stream(rng)
	var err error
	switch r := rng.IntN(4); r {
	case 0:
		st.Changing(stream, true, false)
		err = s.Delete(ctx, stream, chronicle.Any)
		st.Changing(stream, false, true)
	case 1, 2:
		m := chronicle.StreamMetadata{MaxCount: uint64(rng.IntN(3) * 10)}
		if r == 2 {
			m = chronicle.StreamMetadata{TruncateBefore: uint64(rng.IntN(20))}
		}
		st.Changing(stream, true, false)
		err = s.SetStreamMetadata(ctx, stream, m)
		st.Changing(stream, false, false)
	default:
		err = s.Update(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS stress (k INTEGER PRIMARY KEY, v INTEGER)"); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, "INSERT OR REPLACE INTO stress VALUES (?, ?)", rng.IntN(10), rng.IntN(1000))
			return err
		})
	}
	if err != nil && !errors.Is(err, chronicle.ErrStreamNotFound) {
		return fmt.Errorf("delete, metadata or update of %s: %w", stream, err)
	}
	return nil
}

// openStress opens path with opts, and closes the store at the end of
// the test.
func openStress(tb testing.TB, path string, opts *sqlite.Options) *sqlite.Store {
	tb.Helper()
	s, err := sqlite.Open(context.Background(), path, opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return s
}
