package main

import (
	"context"
	"fmt"
	"time"

	"github.com/chronicle-es/chronicle"
)

// LOAD needs streams far longer than a Connect Four game (42 moves at
// most), so it loads an aggregate of its own: a tally, whose events each
// add an amount. Its state is small, so a snapshot of it is cheap and the
// figure shows what the store and the repository cost, not the domain.

// tally is the state of a tally stream.
type tally struct {
	Count int   `json:"count"`
	Sum   int64 `json:"sum"`
}

// addCmd asks to add Amount to a tally.
type addCmd struct{ Amount int }

// added is a tally's only event.
type added struct {
	Amount int `json:"amount"`
}

func tallyDecider() chronicle.Decider[tally, addCmd, added] {
	return chronicle.Decider[tally, addCmd, added]{
		Decide: func(_ tally, c addCmd) ([]added, error) { return []added{{Amount: c.Amount}}, nil },
		Evolve: func(s tally, e added) tally { return tally{Count: s.Count + 1, Sum: s.Sum + int64(e.Amount)} },
	}
}

func tallyCodec() *chronicle.Codec[added] {
	return chronicle.MustCodec[added](chronicle.JSON[added]("Added"))
}

// loadRun is what LOAD measured for one stream length.
type loadRun struct {
	length              int
	plain, snap, raw    time.Duration // medians; raw is 0 without a raw reader
	plainN, snapN, rawN int           // how many times each was repeated
}

// load fills a new store with one tally stream of each length, then
// times loading each through a repository: replaying every event, and
// from a snapshot at its last event. Each load is repeated for about
// cfg.loadFor, at least 3 times, and the median kept. The sqlite store
// is opened without its stream cache, which would otherwise serve the
// streams of up to 1,024 events that it created from memory: LOAD
// measures reads of the file, as its baseline, the raw SELECT, does.
func (h *harness) load(ctx context.Context, t target, lengths []int) ([]loadRun, error) {
	t.noCache = true
	s, err := t.open(ctx, "load", h.cfg.keep)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	codec := tallyCodec()
	repo := chronicle.NewRepository(s.Store, codec, tallyDecider(), nil)
	snaps, err := repo.WithSnapshots(chronicle.Snapshots[tally]{Version: 1})
	if err != nil {
		return nil, err
	}
	total := 0
	for _, l := range lengths {
		total += l
	}
	bar := track(h.log, t.kind+" load: fill", "events", uint64(total))
	for _, l := range lengths {
		if err := fillTally(ctx, s, codec, stream(l), l, bar); err != nil {
			bar.finish()
			return nil, err
		}
	}
	bar.finish()
	raw, err := openRaw(ctx, t, s)
	if err != nil {
		return nil, err
	}
	if raw != nil {
		defer raw.close()
	}
	var out []loadRun
	for _, l := range lengths {
		name := stream(l)
		if err := snaps.SaveSnapshot(ctx, name); err != nil {
			return nil, err
		}
		r := loadRun{length: l}
		check := func(st tally, rev chronicle.ExpectedRevision) error {
			if last, ok := rev.Revision(); st.Count != l || !ok || last != uint64(l-1) {
				return fmt.Errorf("load %s: %d events at revision %v, want %d", name, st.Count, rev, l)
			}
			return nil
		}
		r.plain, r.plainN, err = h.repeat(func() error {
			st, rev, err := repo.Load(ctx, name)
			if err != nil {
				return err
			}
			return check(st, rev)
		})
		if err != nil {
			return nil, err
		}
		r.snap, r.snapN, err = h.repeat(func() error {
			st, rev, err := snaps.Load(ctx, name)
			if err != nil {
				return err
			}
			return check(st, rev)
		})
		if err != nil {
			return nil, err
		}
		if raw != nil {
			r.raw, r.rawN, err = h.repeat(func() error {
				n, err := raw.stream(ctx, name)
				if err == nil && n != l {
					err = fmt.Errorf("raw select of %s: %d rows, want %d", name, n, l)
				}
				return err
			})
			if err != nil {
				return nil, err
			}
		}
		out = append(out, r)
	}
	return out, nil
}

func stream(length int) string { return fmt.Sprintf("tally-%d", length) }

// fillTally appends length events to stream, a thousand at a time, with
// exact expected revisions.
func fillTally(ctx context.Context, s chronicle.Store, codec *chronicle.Codec[added], stream string, length int, bar *tracker) error {
	expected := chronicle.NoStream
	for done := 0; done < length; {
		n := min(1000, length-done)
		evs := make([]chronicle.EventData, n)
		for i := range evs {
			d, err := codec.Encode(added{Amount: done + i})
			if err != nil {
				return err
			}
			evs[i] = d
		}
		res, err := s.Append(ctx, stream, expected, evs...)
		if err != nil {
			return fmt.Errorf("fill %s: %w", stream, err)
		}
		expected = res.NextExpected()
		done += n
		bar.add(n)
	}
	return nil
}

// repeat runs fn for about cfg.loadFor, at least 3 times, and returns the
// median time of one run.
func (h *harness) repeat(fn func() error) (time.Duration, int, error) {
	var ds []time.Duration
	start := time.Now()
	for len(ds) < 3 || (time.Since(start) < h.cfg.loadFor && len(ds) < 10_000) {
		t0 := time.Now()
		if err := fn(); err != nil {
			return 0, len(ds), err
		}
		ds = append(ds, time.Since(t0))
	}
	l := summarise(ds)
	return time.Duration(l.P50 * float64(time.Millisecond)), len(ds), nil
}
