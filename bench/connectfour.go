package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/examples/connectfour"
)

// The Connect Four workloads play real games through the example's own
// Service: every move is a full command, which loads the game from the
// store (no snapshot, and no cache of games in the harness or the service; the
// sqlite store serves the streams it created from its own stream cache,
// as the figures say, unless opened without it), decides, and appends
// with the expected revision it loaded.

// c4Run is what a batch of games did.
type c4Run struct {
	games    int
	commands int // CreateGame and MakeMove calls: each is one append
	moves    int
	events   int // as the commands reported them
	elapsed  time.Duration
	cpu      time.Duration // the process's CPU time, user and system, over elapsed
	moveLat  []time.Duration
}

func (r c4Run) movesPerSec() float64 { return float64(r.moves) / r.elapsed.Seconds() }

// cpuNote says how much CPU the run's moves took, and how many of the
// machine's cores that kept busy: a store that waits leaves them idle.
func (r c4Run) cpuNote() string {
	if r.cpu <= 0 || r.moves == 0 {
		return ""
	}
	return fmt.Sprintf("; the process used %.0f us of CPU per move, %.2f of %d cores", float64(r.cpu.Microseconds())/float64(r.moves), r.cpu.Seconds()/r.elapsed.Seconds(), runtime.NumCPU())
}

// gameRand returns the column chooser of game number i: a PRNG seeded
// with 42 (and the game's number, so that every game is its own but the
// same in every run and every store, whatever the concurrency).
func gameRand(i int) *rand.Rand { return rand.New(rand.NewPCG(42, uint64(i))) }

// pickColumn chooses uniformly among the columns that are not full.
func pickColumn(rng *rand.Rand, b connectfour.Board) connectfour.Column {
	var open [connectfour.Columns]int
	n := 0
	for c := range connectfour.Columns {
		if b.Height(c) < connectfour.Rows {
			open[n] = c
			n++
		}
	}
	return connectfour.ColumnAt(open[rng.IntN(n)])
}

// playGames plays games games on svc, conc at a time, each in its own
// goroutine, and reports what the commands did. bar, if not nil, counts
// finished games.
func playGames(ctx context.Context, svc *connectfour.Service, games, conc int, bar *tracker) (c4Run, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var next atomic.Int64
	var mu sync.Mutex
	var total c4Run
	var firstErr error
	var wg sync.WaitGroup
	start, cpu0 := time.Now(), cpuTime()
	for range min(conc, games) {
		wg.Go(func() {
			var mine c4Run
			defer func() {
				mu.Lock()
				defer mu.Unlock()
				total.games += mine.games
				total.commands += mine.commands
				total.moves += mine.moves
				total.events += mine.events
				total.moveLat = append(total.moveLat, mine.moveLat...)
			}()
			for {
				i := int(next.Add(1)) - 1
				if i >= games {
					return
				}
				if err := playGame(ctx, svc, i, &mine); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					cancel()
					return
				}
				if bar != nil {
					bar.add(1)
				}
			}
		})
	}
	wg.Wait()
	total.elapsed = time.Since(start)
	if cpu0 > 0 {
		total.cpu = cpuTime() - cpu0
	}
	return total, firstErr
}

// playGame plays game number i to its end. The player keeps the state
// each move returns, as a user interface would, only to choose the next
// column: the service itself loads the game from the store every time.
func playGame(ctx context.Context, svc *connectfour.Service, i int, run *c4Run) error {
	rng := gameRand(i)
	id, err := svc.CreateGame(ctx, "red", "yellow")
	if err != nil {
		return err
	}
	run.commands++
	run.events++ // GameStarted
	var g connectfour.Game
	players := [2]string{"red", "yellow"}
	for turn := 0; !g.Finished(); turn++ {
		if turn >= connectfour.Cells {
			return fmt.Errorf("game %s: still not finished after %d moves", id, turn)
		}
		col := pickColumn(rng, g.Board)
		t0 := time.Now()
		g, err = svc.MakeMove(ctx, id, players[turn%2], col)
		run.moveLat = append(run.moveLat, time.Since(t0))
		if err != nil {
			return err
		}
		run.commands++
		run.moves++
		run.events++ // MoveMade
		if g.Finished() {
			run.events++ // GameFinished, in the same append
		}
		if g.Moves != turn+1 {
			return fmt.Errorf("game %s: the move returned a game with %d moves, want %d", id, g.Moves, turn+1)
		}
	}
	run.games++
	return nil
}

// countEvents counts the events of the global log, to check them against
// what the commands reported.
func countEvents(ctx context.Context, s chronicle.Store) (int, error) {
	n := 0
	for _, err := range s.ReadAll(ctx, chronicle.ReadAllOptions{}) {
		if err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// c4 runs C4-SEQ (conc 1) or C4-PAR on a new store.
func (h *harness) c4(ctx context.Context, t target, workload string, games, conc int) (c4Run, error) {
	s, err := t.open(ctx, workload, h.cfg.keep)
	if err != nil {
		return c4Run{}, err
	}
	defer s.Close()
	bar := track(h.log, fmt.Sprintf("%s %s", t.kind, workload), "games", uint64(games))
	run, err := playGames(ctx, connectfour.NewService(s.Store), games, conc, bar)
	bar.finish()
	if err != nil {
		return run, fmt.Errorf("%s on %s: %w", workload, t.kind, err)
	}
	got, err := countEvents(ctx, s)
	if err != nil {
		return run, fmt.Errorf("%s on %s: count events: %w", workload, t.kind, err)
	}
	if got != run.events {
		return run, fmt.Errorf("%s on %s: the store holds %d events, but the commands reported %d", workload, t.kind, got, run.events)
	}
	return run, nil
}

// SUB: a subscriber on the global log while C4-PAR runs with 64 games in
// flight. timedStore notes when each append returned, per position; the
// subscriber notes when each event arrived; latency is the difference.

// timedStore is a store that notes when its appends return.
type timedStore struct {
	chronicle.Store
	base     time.Time
	returned []atomic.Int64 // by position: when its append returned, since base; 0 = not yet
}

// Append implements [chronicle.Store.Append].
func (t *timedStore) Append(ctx context.Context, stream string, expected chronicle.ExpectedRevision, events ...chronicle.EventData) (chronicle.AppendResult, error) {
	res, err := t.Store.Append(ctx, stream, expected, events...)
	if err == nil {
		at := int64(time.Since(t.base))
		for p := res.FirstPosition; p <= res.LastPosition && p < uint64(len(t.returned)); p++ {
			t.returned[p].Store(at)
		}
	}
	return res, err
}

// subCatchUp is how long SUB waits, once the games are over, for the
// subscriber to receive every event appended.
var subCatchUp = 10 * time.Second

// subRun is what the subscriber saw.
type subRun struct {
	c4Run
	received int
	inOrder  bool
	early    int // events that arrived before their append returned
	missing  int // events appended that never arrived
	lat      []time.Duration
}

func (h *harness) sub(ctx context.Context, t target, games int) (subRun, error) {
	s, err := t.open(ctx, "sub", h.cfg.keep)
	if err != nil {
		return subRun{}, err
	}
	defer s.Close()
	out, err := h.subOn(ctx, s.Store, games, t.kind)
	if err != nil {
		return out, fmt.Errorf("sub on %s: %w", t.kind, err)
	}
	return out, nil
}

// subOn is SUB on s, a new store of the kind named kind.
func (h *harness) subOn(ctx context.Context, s chronicle.Store, games int, kind string) (subRun, error) {
	// A game has at most one event per cell and two more.
	limit := games*(connectfour.Cells+2) + 1
	ts := &timedStore{Store: s, base: time.Now(), returned: make([]atomic.Int64, limit)}
	arrived := make([]int64, limit)

	subCtx, stopSub := context.WithCancel(ctx)
	defer stopSub()
	var seen atomic.Int64
	var out subRun
	out.inOrder = true
	subDone := make(chan error, 1)
	go func() {
		next := uint64(1)
		for rec, err := range s.Subscribe(subCtx, chronicle.SubscribeOptions{From: 1}) {
			if err != nil {
				if subCtx.Err() != nil {
					err = nil
				}
				subDone <- err
				return
			}
			at := max(int64(time.Since(ts.base)), 1) // 0 is "not arrived"
			if rec.Position != next {
				out.inOrder = false
			}
			next = rec.Position + 1
			if rec.Position < uint64(limit) && arrived[rec.Position] == 0 {
				arrived[rec.Position] = at // a repeat keeps the first arrival
			}
			seen.Add(1)
		}
		subDone <- nil
	}()

	bar := track(h.log, kind+" sub (C4-PAR C=64)", "games", uint64(games))
	run, err := playGames(ctx, connectfour.NewService(ts), games, 64, bar)
	bar.finish()
	if err != nil {
		// The subscriber writes to out until it has stopped.
		stopSub()
		<-subDone
		return out, err
	}
	out.c4Run = run
	// Give the subscriber time to catch up with the last commits.
	deadline := time.Now().Add(subCatchUp)
	for seen.Load() < int64(run.events) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	// A few more milliseconds, so that an event delivered twice or
	// beyond the last would be seen.
	time.Sleep(20 * time.Millisecond)
	stopSub()
	if err := <-subDone; err != nil {
		return out, fmt.Errorf("subscriber: %w", err)
	}
	out.received = int(seen.Load())
	// Each event appended is timed once if it arrived, however many times
	// it arrived; one that never arrived is counted apart.
	for p := 1; p <= min(run.events, limit-1); p++ {
		ret := ts.returned[p].Load()
		if ret == 0 {
			return out, fmt.Errorf("event %d: no append returned it", p)
		}
		if arrived[p] == 0 {
			out.missing++
			continue
		}
		d := time.Duration(arrived[p] - ret)
		if d < 0 {
			// The store wakes subscribers at commit, before it hands the
			// result back to the appender: the event was there first.
			out.early++
			d = 0
		}
		out.lat = append(out.lat, d)
	}
	// A count that differs from the commands', or a position out of
	// turn, is a result to report, not a failure of the harness.
	return out, nil
}
