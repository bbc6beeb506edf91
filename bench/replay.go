package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

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
// need be) to s, one append per game, from 8 writers, and returns the
// bytes of event data it appended.
func fillGames(ctx context.Context, s chronicle.Store, n int, bar *tracker) (int64, error) {
	pool, err := gamePool(500)
	if err != nil {
		return 0, err
	}
	var next atomic.Int64 // events handed out
	var data atomic.Int64 // bytes of event data appended
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
				for _, e := range evs {
					data.Add(int64(len(e.Data)))
				}
				bar.add(len(evs))
			}
		})
	}
	wg.Wait()
	close(errs)
	return data.Load(), <-errs
}

// replayRun is what REPLAY measured at one size.
type replayRun struct {
	events          int
	data            int64         // bytes of event data in the store
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
	data, err := fillGames(ctx, s, n, bar)
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
	out := replayRun{events: n, data: data}
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
		got, err := replayRead(ctx, s, codec, bar)
		out.replay = best(out.replay, time.Since(t0))
		bar.finish()
		if err != nil {
			return out, err
		}
		if measured {
			_, out.peak, _ = memStatus()
		}
		if got != n {
			return out, fmt.Errorf("replay: %d events, want %d", got, n)
		}
	}
	return out, nil
}

// replayRead is REPLAY's read: the whole global log of s, from its
// start and in order, each event decoded into its Go type. It returns
// how many events it read, and counts them on bar. An event whose
// position does not come after the one before it fails the read: a
// read out of order, or one that repeats an event in place of another,
// hands out as many events as the log holds, and the count that the
// caller checks would not tell.
func replayRead(ctx context.Context, s chronicle.Store, codec *chronicle.Codec[connectfour.Event], bar *tracker) (int, error) {
	got := 0
	defer func() { bar.add(got % 4096) }()
	var last uint64
	for rec, err := range s.ReadAll(ctx, chronicle.ReadAllOptions{}) {
		if err != nil {
			return got, err
		}
		if rec.Position <= last {
			return got, fmt.Errorf("the log's event at position %d came after the one at %d: not in order", rec.Position, last)
		}
		last = rec.Position
		if _, err := codec.Decode(rec); err != nil {
			return got, fmt.Errorf("decode event %d: %w", rec.Position, err)
		}
		got++
		if got%4096 == 0 {
			bar.add(4096)
		}
	}
	return got, nil
}

// best is the shorter of two timings, where 0 is no timing yet.
func best(a, b time.Duration) time.Duration {
	if a == 0 || b < a {
		return b
	}
	return a
}

// growth is how far the process's resident memory rose during the
// decoding read: its peak less its size when the read began. The peak
// is the whole process's high-water mark, reset just before the read,
// so what the read holds shows here and nothing that came before it.
func (r replayRun) growth() int64 { return max(0, r.peak-r.rssBefore) }

// replayMemory judges the other half of REPLAY's target, that the read
// be streamed: memory must not grow with the size of the store. It
// compares the growth during the read at the largest size measured with
// that at the smallest, its baseline, and returns nil when fewer than
// two sizes ran or the resident size could not be measured (off Linux).
//
// The rule: the larger store's growth may exceed the smaller's by at
// most half of the least that holding the extra events would take. A
// read that keeps every event it hands out needs, per event, at least a
// RecordedEvent (its stream name and type may be shared between events)
// and the event's data: with Connect Four's events some 150 bytes, 11.5
// MiB for the 80,000 more events of --quick (100k against 20k), 130 MiB
// for 900,000 (1M against 100k), 1.3 GiB for 9M (10M against 1M). A
// streamed read holds a few pages, its connections' caches, and the
// garbage collector's slack, which follows the live heap: none of them
// grows past a bound with a log kept on disk, so its growth moves
// between sizes by a few MiB (in the recorded runs of the SQLite store,
// under 2 MiB between 20k and 100k, 8 between 100k and 1M, and 17 MiB
// at 10M against 12-16 at 1M). Half is the point between a read that
// holds nothing more at the larger size and the cheapest read that
// holds it all: a read that holds the log exceeds the smaller's growth
// by twice the allowance at least, and misses; a streamed one meets it
// with a margin that widens with the sizes. The allowance is derived
// from the events that the two stores hold, not chosen to fit this
// machine's figures.
func replayMemory(runs []replayRun) *Figure {
	if len(runs) < 2 {
		return nil
	}
	small, large := runs[0], runs[0]
	for _, r := range runs {
		if r.peak <= 0 {
			return nil
		}
		if r.events < small.events {
			small = r
		}
		if r.events > large.events {
			large = r
		}
	}
	if large.events == small.events {
		return nil
	}
	extra := large.events - small.events
	held := int64(extra)*recordSize + large.data - small.data
	allowance := held / 2
	const mb = 1 << 20
	return &Figure{Workload: "REPLAY", Case: fmt.Sprintf("N=%d growth during the read", large.events),
		Value: float64(large.growth()) / mb, Unit: "MiB", LowerIsBetter: true,
		Baseline: fmt.Sprintf("growth during the read at N=%d, MiB", small.events), BaselineValue: float64(small.growth()) / mb,
		Target: &Target{Absolute: true, AtMost: true, OrEqual: true, Bound: float64(small.growth()+allowance) / mb},
		Note: fmt.Sprintf("memory must not grow with the store: the growth during the read (peak RSS less the RSS before it) may exceed N=%d's by at most %s, half of the least that holding the %s more events would take (%s: a %d-byte RecordedEvent and %.0f bytes of data each); a read that holds the log exceeds it by that at least",
			small.events, mibPrec(allowance), group(int64(extra)), mibPrec(held), recordSize, float64(large.data-small.data)/float64(extra))}
}

// recordSize is the bytes of a RecordedEvent itself, without what its
// strings, data and metadata point to.
const recordSize = int64(unsafe.Sizeof(chronicle.RecordedEvent{}))

// mibPrec formats a size in MiB with a decimal, for sizes of a few MiB.
func mibPrec(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
