package catchup

import (
	"context"
	"errors"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/internal/repanic"
)

// Ranges is a [Source] that can also read the log by ranges of
// positions, each on a connection of its own. [ReadAhead], and
// [Subscribe] while it catches up, then read several ranges at once:
// reading a page of SQLite's log costs more CPU than decoding it does,
// so one reader leaves a core idle that a second one fills.
type Ranges interface {
	Source

	// Head returns the position of the last event committed: every
	// event at or below it has been committed, or deleted.
	Head(ctx context.Context) (uint64, error)

	// Range returns the events at positions from to to, both included,
	// in position order: at most to-from+1, fewer where events were
	// deleted.
	Range(ctx context.Context, from, to uint64) ([]chronicle.RecordedEvent, error)

	// After returns the first position after after that holds an event,
	// or 0 if none does: a read that finds a range empty skips the rest
	// of the hole a scavenge left, in one query rather than one a page.
	After(ctx context.Context, after uint64) (uint64, error)
}

// Readers is how many ranges of a [Ranges] are read at once.
// Two is what a machine of two cores gains from: one more reader than
// the first, while the caller decodes. More would hold more pages and
// take connections from other work for no gain there.
const Readers = 2

// rangeResult is what reading one range gave.
type rangeResult struct {
	hi       uint64 // the range's last position
	page     []chronicle.RecordedEvent
	err      error
	panicked any
}

// errExited is the error of a read, or of a range, whose goroutine
// exited without returning or panicking (runtime.Goexit, as t.FailNow
// calls): its events were not read, and the read must not go on as if
// they had been.
var errExited = errors.New("a read exited its goroutine without returning")

// readRanges reads the log from from to its head as ranges of PageSize
// positions, Readers at a time, and hands their events to emit in
// order; then on from past that head, until it has read less than a
// page of positions, as a short page ends readPages: a read under a
// steady stream of appends ends once it has caught up. It returns the
// position to read from next and whether emit took every page, and it
// waits for every range it started before it returns.
func readRanges(ctx context.Context, src Ranges, from uint64, emit func([]chronicle.RecordedEvent) bool) (next uint64, more bool, err error) {
	for {
		if err := ctx.Err(); err != nil {
			return from, false, err
		}
		head, err := src.Head(ctx)
		if err != nil {
			return from, false, err
		}
		if head < from {
			return from, true, nil
		}
		if more, err := readUpTo(ctx, src, from, head, emit); !more || err != nil {
			return from, more, err
		}
		short := head-from+1 < PageSize
		from = head + 1
		if short {
			return from, true, nil
		}
	}
}

// readUpTo reads the positions from to head, as readRanges does, and
// reports whether emit took every page.
func readUpTo(ctx context.Context, src Ranges, from, head uint64, emit func([]chronicle.RecordedEvent) bool) (more bool, err error) {
	// cancel ends the ranges under way when one fails or emit stops.
	ctx, cancel := context.WithCancel(ctx)
	var queue []chan rangeResult // the ranges under way, in position order
	next := from                 // the first position not yet asked for
	start := func() {
		lo := next
		hi := min(head, lo+PageSize-1)
		next = hi + 1
		done := make(chan rangeResult, 1)
		queue = append(queue, done)
		go func() {
			res := rangeResult{hi: hi, err: errExited}
			defer func() {
				if p := recover(); p != nil {
					res = rangeResult{panicked: repanic.Recovered(p)}
				}
				done <- res
			}()
			res.page, res.err = src.Range(ctx, lo, hi)
		}()
	}
	defer func() {
		// Wait for the ranges still under way, so that no read outlives
		// the iterator.
		cancel()
		for _, done := range queue {
			<-done
		}
	}()
	for next <= head && len(queue) < Readers {
		start()
	}
	for len(queue) > 0 {
		res := <-queue[0]
		queue = queue[1:]
		switch {
		case res.panicked != nil:
			panic(res.panicked)
		case res.err != nil:
			return false, res.err
		}
		if len(res.page) == 0 && next <= head {
			// A hole: go on from the next event, wherever it is.
			after, err := src.After(ctx, res.hi)
			if err != nil {
				return false, err
			}
			switch {
			case after == 0 || after > head:
				next = head + 1
			case after > next:
				next = after
			}
		}
		if next <= head && ctx.Err() == nil {
			start()
		}
		if len(res.page) > 0 && !emit(res.page) {
			return false, nil
		}
	}
	if next <= head {
		// ctx ended before every range was started.
		return false, ctx.Err()
	}
	return true, nil
}
