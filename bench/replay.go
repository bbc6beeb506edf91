package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/examples/connectfour"
	"github.com/google/uuid"
)

// gamePool returns the events of n Connect Four games, played by the
// game's own rules with the workload's column choice, ready to append:
// the stores that REPLAY reads are filled with real games without paying
// for a command per move, which REPLAY does not measure.
func gamePool(n int) ([][]chronicle.EventData, error) {
	codec := connectfour.NewCodec()
	pool := make([][]chronicle.EventData, n)
	for i := range pool {
		rng := gameRand(i)
		var g connectfour.Game
		evs, err := connectfour.Decide(g, connectfour.StartGame{PlayerOne: "red", PlayerTwo: "yellow"})
		if err != nil {
			return nil, err
		}
		all := evs
		for _, e := range evs {
			g = connectfour.Evolve(g, e)
		}
		for !g.Finished() {
			evs, err := connectfour.Decide(g, connectfour.MakeMove{Player: g.NextPlayer(), Column: pickColumn(rng, g.Board)})
			if err != nil {
				return nil, err
			}
			for _, e := range evs {
				g = connectfour.Evolve(g, e)
			}
			all = append(all, evs...)
		}
		for _, e := range all {
			d, err := codec.Encode(e)
			if err != nil {
				return nil, err
			}
			pool[i] = append(pool[i], d)
		}
	}
	return pool, nil
}

// fillGames appends n events of whole games (the last one cut short if
// need be) to s, one append per game, from 8 writers.
func fillGames(ctx context.Context, s chronicle.Store, n int, bar *tracker) error {
	pool, err := gamePool(500)
	if err != nil {
		return err
	}
	var next atomic.Int64 // events handed out
	var game atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			for {
				evs := pool[int(game.Add(1))%len(pool)]
				end := next.Add(int64(len(evs)))
				if over := end - int64(n); over > 0 {
					if over >= int64(len(evs)) {
						return
					}
					evs = evs[:len(evs)-int(over)]
				}
				if _, err := s.Append(ctx, connectfour.StreamName(uuid.New()), chronicle.NoStream, evs...); err != nil {
					errs <- err
					return
				}
				bar.add(len(evs))
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// replayRun is what REPLAY measured at one size.
type replayRun struct {
	events          int
	replay, readAll time.Duration // the best of the passes
	raw             time.Duration // 0 when the store has no raw SELECT
	rawScan         time.Duration // 0 unless the raw SELECT can also run through database/sql's Scan
	rawSplit        time.Duration // 0 unless the raw SELECT can also run as two at once
	rssBefore, peak int64         // 0 when unknown
}

// replay fills a new store with n events of Connect Four games, then
// reads its whole log: in a raw SELECT, through ReadAll alone, and
// through ReadAll decoding every event into its Go type (the workload).
// The peak resident memory of the decoding read is measured on its own.
func (h *harness) replay(ctx context.Context, t target, n int) (replayRun, error) {
	s, err := t.open(ctx, fmt.Sprintf("replay-%d", n), h.cfg.keep)
	if err != nil {
		return replayRun{}, err
	}
	defer s.Close()
	bar := track(h.log, fmt.Sprintf("%s replay: fill", t.kind), "events", uint64(n))
	err = fillGames(ctx, s, n, bar)
	bar.finish()
	if err != nil {
		return replayRun{}, fmt.Errorf("fill %d events on %s: %w", n, t.kind, err)
	}
	raw, err := openRaw(ctx, t, s)
	if err != nil {
		return replayRun{}, err
	}
	if raw != nil {
		defer raw.close()
	}
	codec := connectfour.NewCodec()
	out := replayRun{events: n}
	// More passes smooth the noise of a shared machine (the best of two
	// moved by 0.2x between runs); large stores get one, as they take
	// long enough to average it out.
	passes := 3
	if n > 1_000_000 {
		passes = 1
	}
	// timed runs one whole read, keeps the best of its times in *into,
	// and checks that it read every event.
	timed := func(what string, into *time.Duration, read func(context.Context) (int, error)) error {
		t0 := time.Now()
		got, err := read(ctx)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		*into = best(*into, time.Since(t0))
		if got != n {
			return fmt.Errorf("%s: %d events, want %d", what, got, n)
		}
		return nil
	}
	scan, hasScan := raw.(interface {
		allScan(context.Context) (int, error)
	})
	split, hasSplit := raw.(interface {
		allSplit(context.Context) (int, error)
	})
	for pass := range passes {
		if raw != nil {
			if err := timed("raw select", &out.raw, raw.all); err != nil {
				return out, err
			}
		}
		if hasScan {
			if err := timed("raw select with Scan", &out.rawScan, scan.allScan); err != nil {
				return out, err
			}
		}
		if hasSplit {
			if err := timed("two raw selects at once", &out.rawSplit, split.allSplit); err != nil {
				return out, err
			}
		}
		if err := timed("read all", &out.readAll, func(ctx context.Context) (int, error) { return countEvents(ctx, s) }); err != nil {
			return out, err
		}

		measured := pass == 0 && resetPeak()
		if measured {
			out.rssBefore, _, _ = memStatus()
		}
		bar := track(h.log, fmt.Sprintf("%s replay %d", t.kind, n), "events", uint64(n))
		t0 := time.Now()
		got := 0
		for rec, err := range s.ReadAll(ctx, chronicle.ReadAllOptions{}) {
			if err != nil {
				bar.finish()
				return out, err
			}
			if _, err := codec.Decode(rec); err != nil {
				bar.finish()
				return out, fmt.Errorf("decode event %d: %w", rec.Position, err)
			}
			got++
			if got%4096 == 0 {
				bar.add(4096)
			}
		}
		out.replay = best(out.replay, time.Since(t0))
		bar.add(got % 4096)
		bar.finish()
		if measured {
			_, out.peak, _ = memStatus()
		}
		if got != n {
			return out, fmt.Errorf("replay: %d events, want %d", got, n)
		}
	}
	return out, nil
}

// best is the shorter of two timings, where 0 is no timing yet.
func best(a, b time.Duration) time.Duration {
	if a == 0 || b < a {
		return b
	}
	return a
}
