package catchup

import (
	"context"
	"iter"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/internal/repanic"
)

// ReadAhead is [ReadAll] with the next page read while the caller works
// on the current one, in a goroutine of its own: when reading a page
// costs CPU (SQLite's pages do) and the caller decodes each event, the
// two use two cores instead of taking turns on one. It yields the same
// events, in the same order, with the same errors, and holds at most
// three pages: the caller's, one ready, and one being read.
//
// A source that implements [Ranges] is read [Readers] ranges at a time
// when the read selects every event and has no limit (a filter leaves
// the size of a page's range unknown; a limit would read ranges past
// it). It holds two pages more then, and while events are being
// appended it may end at another place than [ReadAll] would: each ends
// at the first head it reaches with less than a page left to read.
func ReadAhead(ctx context.Context, src Source, opts chronicle.ReadAllOptions) iter.Seq2[chronicle.RecordedEvent, error] {
	if r, ok := src.(Ranges); ok && opts.Filter.IsZero() && opts.Limit == 0 {
		return Ahead(ctx, func(ctx context.Context, emit func([]chronicle.RecordedEvent) bool) error {
			_, _, err := readRanges(ctx, r, max(opts.From, 1), emit)
			return err
		})
	}
	return Ahead(ctx, func(ctx context.Context, emit func([]chronicle.RecordedEvent) bool) error {
		return readPages(ctx, src, opts, emit)
	})
}

// Ahead yields the events of the pages that read passes to emit, in a
// goroutine of its own, one page ahead of the caller, as [ReadAhead]
// does for the global log. read stops when emit returns false, and
// returns its error, which Ahead yields after the events read before it;
// when ctx ends as read hands over a page, Ahead yields ctx's error.
func Ahead(ctx context.Context, read func(ctx context.Context, emit func([]chronicle.RecordedEvent) bool) error) iter.Seq2[chronicle.RecordedEvent, error] {
	return func(yield func(chronicle.RecordedEvent, error) bool) {
		// stop ends the reader when the caller stops early.
		readCtx, stop := context.WithCancel(ctx)
		pages := make(chan []chronicle.RecordedEvent, 1)
		// Written by the reader before it closes pages.
		var readErr error
		var cut bool // the reader stopped at the end of ctx, mid-log
		var panicked any
		go func() {
			defer close(pages)
			defer func() {
				// A panic is the caller's, as it would be without the
				// goroutine: it is raised again on the caller's goroutine,
				// telling where it happened on this one.
				if panicked = repanic.Recovered(recover()); panicked != nil {
					readErr = nil
				}
			}()
			// A read that exits its goroutine (runtime.Goexit) without
			// returning leaves this error: the events after its last page
			// were not read.
			readErr = errExited
			readErr = read(readCtx, func(page []chronicle.RecordedEvent) bool {
				select {
				case pages <- page:
					return true
				case <-readCtx.Done():
					cut = true
					return false
				}
			})
		}()
		// inBody tells the deferred function that the caller's loop body
		// is panicking (or exiting its goroutine): the reader's panic must
		// not replace that.
		inBody := false
		give := func(e chronicle.RecordedEvent, err error) bool {
			inBody = true
			more := yield(e, err)
			inBody = false
			return more
		}
		defer func() {
			stop()
			for range pages { // wait for the reader to end
			}
			if panicked != nil && !inBody {
				panic(panicked)
			}
		}()
		for page := range pages {
			for _, e := range page {
				if !give(e, nil) {
					return
				}
			}
		}
		switch {
		case readErr != nil:
			give(chronicle.RecordedEvent{}, readErr)
		case cut:
			// The caller's context ended while a page was on its way
			// (stop is called only after this loop).
			give(chronicle.RecordedEvent{}, ctx.Err())
		}
	}
}
