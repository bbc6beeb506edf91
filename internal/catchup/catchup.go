// Package catchup turns a store's paged reads of the global log into
// [chronicle.Store.ReadAll] and [chronicle.Store.Subscribe] iterators, so
// that every store follows the same rules for reading forwards, for the
// switch from catch-up to live, and for waiting.
package catchup

import (
	"context"
	"iter"
	"time"

	"github.com/chronicle-es/chronicle"
)

// PageSize is how many events a read fetches at a time. It bounds the
// memory a read holds, whatever the size of the store.
const PageSize = 512

// Source is a store's global log, as seen by this package.
type Source interface {
	// Page returns up to limit events at positions >= from that f
	// selects, in position order, and the position to read from next: one
	// past the last position it examined, whether or not f selected it.
	// It reads from one consistent view of the log.
	Page(ctx context.Context, from uint64, limit int, f chronicle.Filter) (events []chronicle.RecordedEvent, next uint64, err error)

	// Changed returns a channel that is closed once events have been
	// committed after the call. A store that cannot tell (writes from
	// other processes) relies on the poll interval given to [Subscribe].
	Changed() <-chan struct{}
}

// ReadAll reads the log forwards from opts.From to the last event
// committed when the read reached it.
func ReadAll(ctx context.Context, src Source, opts chronicle.ReadAllOptions) iter.Seq2[chronicle.RecordedEvent, error] {
	return func(yield func(chronicle.RecordedEvent, error) bool) {
		err := readPages(ctx, src, opts, yieldPage(yield))
		if err != nil {
			yield(chronicle.RecordedEvent{}, err)
		}
	}
}

// yieldPage returns an emit function that yields a page's events and
// reports whether yield took them all.
func yieldPage(yield func(chronicle.RecordedEvent, error) bool) func([]chronicle.RecordedEvent) bool {
	return func(page []chronicle.RecordedEvent) bool {
		for _, e := range page {
			if !yield(e, nil) {
				return false
			}
		}
		return true
	}
}

// readPages reads the pages of a forward ReadAll and hands each to emit,
// until the end of the log, an error, or emit returning false.
func readPages(ctx context.Context, src Source, opts chronicle.ReadAllOptions, emit func([]chronicle.RecordedEvent) bool) error {
	from, left := max(opts.From, 1), opts.Limit
	for {
		limit := PageSize
		if opts.Limit > 0 {
			limit = min(limit, left)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		page, next, err := src.Page(ctx, from, limit, opts.Filter)
		if err != nil {
			return err
		}
		if len(page) > 0 && !emit(page) {
			return nil
		}
		left -= len(page)
		if next <= from || (opts.Limit > 0 && left <= 0) || len(page) < limit {
			return nil
		}
		from = next
	}
}

// Subscribe reads the log from opts.From, then waits for more, forever:
// it pages while there are events, and sleeps until src reports a commit
// or, when poll is positive, until poll has passed. A subscription
// without a filter to a source that implements [Ranges] catches up as
// [ReadAhead] reads, [Readers] ranges at a time.
func Subscribe(ctx context.Context, src Source, opts chronicle.SubscribeOptions, poll time.Duration) iter.Seq2[chronicle.RecordedEvent, error] {
	return func(yield func(chronicle.RecordedEvent, error) bool) {
		var tick <-chan time.Time
		if poll > 0 {
			t := time.NewTicker(poll)
			defer t.Stop()
			tick = t.C
		}
		from := max(opts.From, 1)
		if r, ok := src.(Ranges); ok && opts.Filter.IsZero() {
			// Catch up by ranges, several at once, as ReadAll does; the
			// loop below takes over once a read is short.
			next, more, err := readRanges(ctx, r, from, yieldPage(yield))
			if err != nil {
				yield(chronicle.RecordedEvent{}, err)
				return
			}
			if !more {
				return
			}
			from = next
		}
		for {
			// Take the channel before reading: a commit that lands after the
			// read closes it, so no wake-up is lost between read and wait.
			changed := src.Changed()
			if err := ctx.Err(); err != nil {
				yield(chronicle.RecordedEvent{}, err)
				return
			}
			page, next, err := src.Page(ctx, from, PageSize, opts.Filter)
			if err != nil {
				yield(chronicle.RecordedEvent{}, err)
				return
			}
			for _, e := range page {
				if !yield(e, nil) {
					return
				}
			}
			if next > from {
				from = next
			}
			if len(page) == PageSize {
				continue
			}
			select {
			case <-changed:
			case <-tick:
			case <-ctx.Done():
				yield(chronicle.RecordedEvent{}, ctx.Err())
				return
			}
		}
	}
}

// Refused is the sequence of a read or subscription that its options
// made fail before it began, such as one whose filter
// [chronicle.Filter.Validate] refuses: it yields err alone.
func Refused(err error) iter.Seq2[chronicle.RecordedEvent, error] {
	return func(yield func(chronicle.RecordedEvent, error) bool) {
		yield(chronicle.RecordedEvent{}, err)
	}
}
