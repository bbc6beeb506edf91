package catchup

import "github.com/chronicle-es/chronicle"

// StreamPages walks a stream's revisions a page at a time for a store's
// ReadStream: forwards or backwards from opts.From, at most opts.Limit
// events in all, so that every store cuts a read into pages by the same
// rules.
type StreamPages struct {
	opts  chronicle.ReadStreamOptions
	from  uint64 // the revision the next page starts at
	limit int    // the most events the next page may hold
	n     int    // the events read so far
}

// NewStreamPages starts a walk for opts.
func NewStreamPages(opts chronicle.ReadStreamOptions) *StreamPages {
	return &StreamPages{opts: opts, from: opts.From}
}

// Next returns the revision the next page starts at, and the most events
// it may hold.
func (p *StreamPages) Next() (from uint64, limit int) {
	p.limit = PageSize
	if p.opts.Limit > 0 {
		p.limit = min(p.limit, p.opts.Limit-p.n)
	}
	return p.from, p.limit
}

// Read returns how many events the pages read so far held.
func (p *StreamPages) Read() int { return p.n }

// Done takes the page read for Next's answer and reports whether another
// may follow it.
func (p *StreamPages) Done(page []chronicle.RecordedEvent) bool {
	p.n += len(page)
	if len(page) < p.limit || (p.opts.Limit > 0 && p.n >= p.opts.Limit) {
		return false
	}
	last := page[len(page)-1].Revision
	switch {
	case !p.opts.Backwards:
		p.from = last + 1
	case last == 0:
		return false
	default:
		p.from = last - 1
	}
	return true
}
