package sqlite

import (
	"bytes"
	"slices"
	"sync"

	"github.com/chronicle-es/chronicle"
)

// streamCache keeps the events of streams that this process's writer
// created or has read whole, so that loading an aggregate that was just
// written (the next command on the same game, order, basket) costs no
// query: a stream read through the file costs more CPU than most
// commands spend deciding.
//
// An entry holds every event of its stream, revision 0 first, exactly as
// a read of the file would return them. So only streams that have
// neither metadata nor a deletion, which would hide some of their events,
// have entries: the writer makes one when an append creates a stream
// that had no events, no metadata and no next revision set, or when a
// read on its connection found a whole such stream (writer.refill); it
// extends the entry with each append it commits, and drops it when the
// stream's metadata is set or the stream is deleted. Events change in no
// other way through this store; any change made on another connection
// (another process, a scavenge, [Store.Update]) makes the writer drop
// every entry, as it already drops its other knowledge of the file (see
// writer.forget).
//
// Such a change is seen by the writer only when it next asks SQLite
// (data_version, on its own connection), so an entry may be served only
// when no other connection can have committed since it was last asked,
// which is while the writer holds SQLite's write lock (valid: the writer
// sets it once its transaction has checked, and clears it before it
// commits); or when the question was asked after the read began (each
// question is numbered before it is asked: started; checks is the number
// of the latest that found no such commit). In the second case the entry
// may have grown by the writer's commits since: what it holds then was
// the file's state at the moment just before another connection's first
// commit after the question, if any, since the writer's next check would
// have dropped every entry first; that moment lies within the read. See
// writer.cached for the reader's side.
type streamCache struct {
	maxEvents int // Options.CacheEvents; no entries when negative

	mu      sync.Mutex
	valid   bool
	started uint64 // the number of the latest check begun (see asking)
	checks  uint64 // the number of the latest check that found nothing
	streams map[string]*cachedStream
	// queue holds the streams in the order they were made, for eviction
	// when the bounds are passed: an entry appended to since it was
	// queued gets a second chance at the back.
	queue         []queued
	seq           uint64 // counts appends, for the second chance
	events, bytes int
}

type cachedStream struct {
	events []recentEvent
	bytes  int
	seq    uint64 // the append that last extended it
}

type queued struct {
	stream string
	seq    uint64
}

// Bounds of the cache, besides Options.CacheEvents. A stream longer than
// maxStreamCached, or with an event larger than maxCachedEvent, loses its
// entry, and is read from the file: a long stream is a bulk read, which
// the file serves at its best, and its copy would crowd out the others.
const (
	maxCachedBytes  = 16 << 20
	maxStreamCached = 1024
	maxCachedEvent  = maxCachedBytes / 16 // data and metadata
)

// has reports whether stream has an entry; whether it may be served is
// for lookup to say.
func (c *streamCache) has(stream string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.streams[stream]
	return ok
}

// asking numbers a check that is about to ask SQLite whether another
// connection has committed: only a check numbered after a read's first
// lookup was asked after the read began.
func (c *streamCache) asking() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.started++
	return c.started
}

// checked records that check n found no commit of another connection;
// valid says whether the writer still holds the write lock.
func (c *streamCache) checked(n uint64, valid bool) {
	c.mu.Lock()
	c.valid = valid
	c.checks = max(c.checks, n)
	c.mu.Unlock()
}

// invalidate clears valid: the writer is about to release the write lock.
func (c *streamCache) invalidate() {
	c.mu.Lock()
	c.valid = false
	c.mu.Unlock()
}

// clear drops every entry, and clears valid.
func (c *streamCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.valid = false
	c.streams, c.queue, c.events, c.bytes = nil, nil, 0, 0
}

// wants reports whether stream could get an entry: the cache is on, and
// has none for it.
func (c *streamCache) wants(stream string) bool {
	if c.maxEvents < 0 {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.streams[stream]
	return !ok
}

// fill gives stream, which has no entry, the entry evs: all its events,
// revision i at index i (see writer.refill).
func (c *streamCache) fill(stream string, evs []recentEvent) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.streams[stream]; ok {
		return
	}
	e := c.insert(stream, &cachedStream{events: evs})
	for _, re := range evs {
		e.bytes += len(re.Data) + len(re.metadata)
	}
	c.events += len(evs)
	c.bytes += e.bytes
	c.seq++
	c.evict()
}

// insert gives stream the entry e, queued for eviction; c.mu must be
// held.
func (c *streamCache) insert(stream string, e *cachedStream) *cachedStream {
	if c.streams == nil {
		c.streams = make(map[string]*cachedStream)
	}
	e.seq = c.seq
	c.streams[stream] = e
	c.queue = append(c.queue, queued{stream, c.seq})
	return e
}

// drop drops stream's entry.
func (c *streamCache) drop(stream string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.remove(stream)
}

// remove drops stream's entry; c.mu must be held.
func (c *streamCache) remove(stream string) {
	if e, ok := c.streams[stream]; ok {
		c.events -= len(e.events)
		c.bytes -= e.bytes
		delete(c.streams, stream)
	}
}

// add records the events of a committed batch, in position order: those
// of streams with an entry, and of the streams the batch created (fresh).
// The writer calls it after the commit and before it answers the
// batch's callers, so that a caller's next read finds its own events.
func (c *streamCache) add(evs []recentEvent, fresh map[string]bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range evs {
		entry, ok := c.streams[e.Stream]
		if !ok {
			if !fresh[e.Stream] || c.maxEvents < 0 {
				continue
			}
			entry = c.insert(e.Stream, &cachedStream{})
		}
		size := len(e.Data) + len(e.metadata)
		if uint64(len(entry.events)) != e.Revision || len(entry.events) == maxStreamCached || size > maxCachedEvent {
			// Not the next revision (which the rules above exclude), too
			// long, or too large: the file serves it.
			c.remove(e.Stream)
			delete(fresh, e.Stream)
			continue
		}
		entry.events = append(entry.events, e)
		entry.bytes += size
		entry.seq = c.seq
		c.events++
		c.bytes += size
	}
	c.seq++
	c.evict()
}

// evict drops the entries made longest ago, but for those appended to
// since, until the cache is within its bounds; c.mu must be held.
func (c *streamCache) evict() {
	for len(c.queue) > 0 && (c.events > c.maxEvents || c.bytes > maxCachedBytes) {
		q := c.queue[0]
		c.queue[0] = queued{}
		c.queue = c.queue[1:]
		e, ok := c.streams[q.stream]
		switch {
		case !ok:
		case e.seq > q.seq:
			c.queue = append(c.queue, queued{q.stream, e.seq})
		default:
			c.remove(q.stream)
		}
	}
	if len(c.queue) > 2*len(c.streams)+64 {
		// Dropped entries leave their names behind: keep the live ones.
		live := c.queue[:0:0]
		for _, q := range c.queue {
			if _, ok := c.streams[q.stream]; ok {
				live = append(live, q)
			}
		}
		c.queue = live
	}
}

// cacheRead is the outcome of streamCache.lookup.
type cacheRead int

const (
	served  cacheRead = iota
	missing           // stream has no entry: read the file
	unsure            // not now: the file may have changed unseen
)

// lookup returns stream's events, revision i at index i, when it has
// an entry that may be served: valid holds, or a check numbered after
// since found no other connection's commit (see streamCache). It returns
// the number of the latest check begun, which is since for the caller's
// next lookup; a first lookup passes noCheck. The slice is the caller's
// to read without c.mu: an entry only grows, past its length.
func (c *streamCache) lookup(stream string, since uint64) ([]recentEvent, cacheRead, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.streams[stream]
	switch {
	case !ok:
		return nil, missing, c.started
	case !c.valid && (since == noCheck || c.checks <= since):
		return nil, unsure, c.started
	}
	return e.events[:len(e.events):len(e.events)], served, c.started
}

// servable reports whether an entry may be served to a read whose
// lookups passed since (see lookup).
func (c *streamCache) servable(since uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.valid || since != noCheck && c.checks > since
}

// maxSharedData bounds the data of a read from the cache that shares
// one allocation (see readCached).
const maxSharedData = 4 << 10

// noCheck is the since of a read's first lookup.
const noCheck = ^uint64(0)

// readCached returns what ReadStream returns with opts, from all the
// events of a stream (see streamCache.lookup).
func readCached(evs []recentEvent, opts chronicle.ReadStreamOptions) ([]chronicle.RecordedEvent, error) {
	var sel []recentEvent
	if opts.Backwards {
		from := min(opts.From, uint64(len(evs)-1))
		sel = slices.Clone(evs[:from+1])
		slices.Reverse(sel)
	} else if opts.From < uint64(len(evs)) {
		sel = evs[opts.From:]
	}
	if opts.Limit > 0 && len(sel) > opts.Limit {
		sel = sel[:opts.Limit]
	}
	// The caller gets its own copy of the data, as from the file. When
	// the read's data is small, as an aggregate's events mostly are, one
	// allocation holds it all, each event's share capped so that an
	// append to it cannot reach the next; a larger read copies each
	// event apart, so that an event kept keeps no more than its own.
	size := 0
	for _, re := range sel {
		size += len(re.Data)
	}
	var buf []byte
	if size <= maxSharedData {
		buf = make([]byte, 0, size)
	}
	out := make([]chronicle.RecordedEvent, len(sel))
	for i, re := range sel {
		var data []byte
		switch {
		case len(re.Data) == 0:
		case buf != nil:
			start := len(buf)
			buf = append(buf, re.Data...)
			data = buf[start:len(buf):len(buf)]
		default:
			data = bytes.Clone(re.Data)
		}
		var err error
		if out[i], err = re.recordedWith(data); err != nil {
			return nil, err
		}
	}
	return out, nil
}
