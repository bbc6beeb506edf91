package postgres_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/internal/stress"
	"github.com/chronicle-es/chronicle/postgres"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// TestStressReaders tries to make a reader of the global log lose,
// repeat, reorder or invent an event while appends commit from several
// stores on one schema, as from several processes. Each store's writers
// append random batches to shared streams, some refused for a wrong
// expected revision, some cancelled before or while the writer holds
// them (and then retried with the same event IDs, or not), while streams
// are soft-deleted and written again, which moves the head's
// meta_version under the batches in flight. Meanwhile subscriptions from
// the start, from the middle, and with a filter, follow the log on every
// store, and ReadAll loops, forwards and backwards, read it again and
// again.
//
// At the end the log must be gapless; every acknowledged append's events
// must be where it said; no refused append's event may be in it, and no
// event that no writer tried; every subscriber must have seen exactly the
// log from where it started (or its filter's part of it), in order, once.
func TestStressReaders(t *testing.T) {
	schema := newSchema(t)
	// The first store's subscribers never poll: only a notification, or
	// its own writer's wake-up, brings them events, so a lost wake-up
	// shows as a subscriber that never catches up.
	stores := []*postgres.Store{
		mustOpen(t, schema, &postgres.Options{PollInterval: time.Hour}),
		mustOpen(t, schema, &postgres.Options{MaxBatch: 4}),
		mustOpen(t, schema, nil),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	st := stress.NewState()
	subs := stress.NewSubscribers(ctx)
	for _, s := range stores {
		subs.FollowAll(s)
	}

	const writeFor = 3 * time.Second
	deadline := time.Now().Add(writeFor)
	var writers, readers sync.WaitGroup
	stopReaders := make(chan struct{})
	for i, s := range stores {
		for g := range 5 {
			w := stress.Writer{Store: s, State: st, Seed: uint64(i*100 + g), MaxLarge: 700, Failed: func(err error, ids []uuid.UUID) bool {
				return stressFailed(st, err, ids)
			}}
			writers.Go(func() { w.Run(ctx, t, deadline) })
		}
		readers.Go(func() { stress.ReadAll(ctx, t, s, st, uint64(i), stopReaders) })
	}
	// Soft deletes move meta_version, so that batches checked before one
	// are written nothing and checked again under the lock.
	writers.Go(func() {
		rng := rand.New(rand.NewPCG(99, 1))
		for time.Now().Before(deadline) {
			time.Sleep(time.Duration(5+rng.IntN(20)) * time.Millisecond)
			stream := stress.Stream(rng)
			err := stores[rng.IntN(len(stores))].Delete(ctx, stream, chronicle.Any)
			if err != nil && !errors.Is(err, chronicle.ErrStreamNotFound) {
				t.Errorf("delete %s: %v", stream, err)
				return
			}
		}
	})
	// Connections that fail: the writers' (so that batches fail at any
	// stage, some after their commit) and the LISTEN connections (so that
	// notifications are lost while they reconnect).
	admin := mustConnect(t)
	writers.Go(func() {
		rng := rand.New(rand.NewPCG(98, 1))
		for time.Now().Before(deadline) {
			time.Sleep(time.Duration(50+rng.IntN(150)) * time.Millisecond)
			var err error
			if rng.IntN(3) == 0 {
				_, err = admin.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = $1",
					"LISTEN "+pgx.Identifier{"chronicle:" + schema}.Sanitize())
			} else {
				var pid uint32
				if pid, err = postgres.WriterPID(ctx, stores[rng.IntN(len(stores))]); err == nil {
					time.Sleep(time.Duration(rng.IntN(3000)) * time.Microsecond)
					_, err = admin.Exec(ctx, "SELECT pg_terminate_backend($1)", int32(pid))
				}
			}
			if err != nil {
				t.Errorf("end a connection: %v", err)
				return
			}
			st.Count("connections ended")
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

	log, err := stress.Collect(stores[2].ReadAll(ctx, chronicle.ReadAllOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	st.Check(t, log)
	if t.Failed() {
		return
	}
	n := subs.Check(t, log, 20*time.Second)
	t.Logf("%d events; %s; %d subscribers; batches checked again under the lock: %d %d %d",
		len(log), st.Counts(), n,
		postgres.Relocked(stores[0]), postgres.Relocked(stores[1]), postgres.Relocked(stores[2]))
}

// stressFailed deals with an append's error other than a refusal, and
// reports whether the test expects it: one of a connection ended.
func stressFailed(st *stress.State, err error, ids []uuid.UUID) bool {
	switch {
	case strings.Contains(err.Error(), "may have been written"):
		// The connection failed as the batch committed, or not.
		st.Count("appends failed")
		st.Maybe(ids)
	case isConnectionEnded(err):
		// Said to have written nothing: none of it may be in the log.
		st.Count("appends failed")
		st.Refuse(ids, err.Error())
	case errors.Is(err, chronicle.ErrIdempotencyConflict):
		// A retry that found only part of its events, or the stream
		// deleted since: the first attempt's outcome stays unknown.
	default:
		return false
	}
	return true
}

// isConnectionEnded reports whether err comes of a connection that the
// server ended, or that broke.
func isConnectionEnded(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "57P01" // admin_shutdown: pg_terminate_backend
	}
	return pgconn.SafeToRetry(err) || strings.Contains(err.Error(), "conn closed") || strings.Contains(err.Error(), "unexpected EOF")
}
