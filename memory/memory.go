// Package memory provides a [chronicle.Store] that keeps its events in
// memory: for tests, examples and demos. It follows every rule of the
// conformance suite in package storetest; it just forgets everything
// when the process ends.
package memory

import (
	"bytes"
	"context"
	"iter"
	"maps"
	"sync"
	"time"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/internal/appendcheck"
	"github.com/chronicle-es/chronicle/internal/catchup"
	"github.com/google/uuid"
)

var _ chronicle.Store = (*Store)(nil)

// Options configures a [Store]. The zero value, like a nil *Options,
// gives the defaults.
type Options struct {
	// MaxEventSize limits each event's data and metadata, in bytes.
	// Zero means [chronicle.DefaultMaxEventSize].
	MaxEventSize int
}

// Store is an in-memory event store. It is safe for concurrent use.
type Store struct {
	maxEventSize int
	changed      catchup.Notifier

	mu sync.RWMutex
	// log holds every event; position p is at index p-1. Entries are
	// never changed once written, so readers may keep a slice of it and
	// walk it without the lock.
	log       []chronicle.RecordedEvent
	streams   map[string][]uint64 // stream name -> positions, by revision
	snapshots map[string]chronicle.Snapshot
	meta      map[string]streamMeta // streams with metadata, or deleted

	// next is the copy of log that the scavenges under way remove events
	// from; it is swapped in as each of them returns. scavenges counts
	// them.
	next      []chronicle.RecordedEvent
	scavenges int
}

// New returns an empty store. opts may be nil.
func New(opts *Options) *Store {
	s := &Store{
		streams:   make(map[string][]uint64),
		snapshots: make(map[string]chronicle.Snapshot),
		meta:      make(map[string]streamMeta),
	}
	if opts != nil {
		s.maxEventSize = opts.MaxEventSize
	}
	return s
}

// Append implements [chronicle.Store.Append].
func (s *Store) Append(ctx context.Context, stream string, expected chronicle.ExpectedRevision, events ...chronicle.EventData) (chronicle.AppendResult, error) {
	events, err := chronicle.PrepareAppend(stream, events, s.maxEventSize)
	if err != nil {
		return chronicle.AppendResult{}, err
	}
	if err := ctx.Err(); err != nil {
		return chronicle.AppendResult{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	positions := s.streams[stream]
	meta := s.meta[stream]
	if meta.deleted == tombstoned {
		return chronicle.AppendResult{}, &chronicle.StreamDeletedError{Stream: stream}
	}
	st := appendcheck.State{StreamState: s.state(stream), SoftDeleted: meta.deleted == softDeleted, Restart: meta.restart}
	ack, err := appendcheck.Check(stream, expected, st, events, streamView{s, positions})
	if err != nil {
		return chronicle.AppendResult{}, err
	}
	if ack != nil {
		return *ack, nil
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	res := chronicle.AppendResult{
		FirstRevision: uint64(len(positions)),
		FirstPosition: uint64(len(s.log)) + 1,
	}
	for i, e := range events {
		pos := res.FirstPosition + uint64(i)
		s.log = append(s.log, chronicle.RecordedEvent{
			Stream:   stream,
			Revision: res.FirstRevision + uint64(i),
			Position: pos,
			ID:       e.ID,
			Type:     e.Type,
			Data:     bytes.Clone(e.Data),
			Metadata: maps.Clone(e.Metadata),
			Recorded: now,
		})
		positions = append(positions, pos)
	}
	s.streams[stream] = positions
	if meta.deleted == softDeleted {
		meta.deleted = notDeleted
		s.meta[stream] = meta
	}
	res.LastRevision = res.FirstRevision + uint64(len(events)) - 1
	res.LastPosition = res.FirstPosition + uint64(len(events)) - 1
	s.changed.Notify()
	return res, nil
}

// streamView shows one stream to the append rules. It is used with s.mu held.
type streamView struct {
	s         *Store
	positions []uint64
}

func (v streamView) At(from uint64, n int) ([]appendcheck.Recorded, error) {
	var out []appendcheck.Recorded
	for rev := from; rev < uint64(len(v.positions)) && len(out) < n; rev++ {
		e := v.s.log[v.positions[rev]-1]
		if removed(e) {
			break
		}
		out = append(out, appendcheck.Recorded{ID: e.ID, Position: e.Position, Revision: rev})
	}
	return out, nil
}

func (v streamView) Find(id uuid.UUID) (uint64, bool, error) {
	for rev, pos := range v.positions {
		if e := v.s.log[pos-1]; !removed(e) && e.ID == id {
			return uint64(rev), true, nil
		}
	}
	return 0, false, nil
}

// snapshot returns the log, and one stream's positions and metadata, as
// they are now.
func (s *Store) snapshot(stream string) ([]chronicle.RecordedEvent, []uint64, streamMeta) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.log, s.streams[stream], s.meta[stream]
}

// ReadStream implements [chronicle.Store.ReadStream].
func (s *Store) ReadStream(ctx context.Context, stream string, opts chronicle.ReadStreamOptions) iter.Seq2[chronicle.RecordedEvent, error] {
	return func(yield func(chronicle.RecordedEvent, error) bool) {
		if err := chronicle.ValidateStreamName(stream); err != nil {
			yield(chronicle.RecordedEvent{}, err)
			return
		}
		// Before the stream's state: a caller that gave up must not be
		// told that the stream has no events.
		if err := ctx.Err(); err != nil {
			yield(chronicle.RecordedEvent{}, err)
			return
		}
		log, positions, meta := s.snapshot(stream)
		switch {
		case meta.deleted == tombstoned:
			yield(chronicle.RecordedEvent{}, &chronicle.StreamDeletedError{Stream: stream})
			return
		case len(positions) == 0 || meta.deleted == softDeleted:
			yield(chronicle.RecordedEvent{}, &chronicle.StreamNotFoundError{Stream: stream})
			return
		}
		last := uint64(len(positions) - 1)
		now := time.Now()
		n := 0
		emit := func(rev uint64) bool {
			if err := ctx.Err(); err != nil {
				yield(chronicle.RecordedEvent{}, err)
				return false
			}
			e := log[positions[rev]-1]
			if removed(e) || !meta.m.Visible(rev, last, e.Recorded, now) {
				return true
			}
			n++
			return yield(clone(e), nil)
		}
		limited := func() bool { return opts.Limit > 0 && n >= opts.Limit }
		if opts.Backwards {
			for rev := min(opts.From, last); !limited(); rev-- {
				if !emit(rev) || rev == 0 {
					return
				}
			}
			return
		}
		for rev := opts.From; rev <= last && !limited(); rev++ {
			if !emit(rev) {
				return
			}
		}
	}
}

// ReadAll implements [chronicle.Store.ReadAll].
func (s *Store) ReadAll(ctx context.Context, opts chronicle.ReadAllOptions) iter.Seq2[chronicle.RecordedEvent, error] {
	if err := opts.Filter.Validate(); err != nil {
		return catchup.Refused(err)
	}
	if !opts.Backwards {
		return catchup.ReadAll(ctx, source{s}, opts)
	}
	return func(yield func(chronicle.RecordedEvent, error) bool) {
		// Before the log's length, as a forward read does: a caller that
		// gave up must not be told that there is nothing to read.
		if err := ctx.Err(); err != nil {
			yield(chronicle.RecordedEvent{}, err)
			return
		}
		log, _, _ := s.snapshot("")
		n := 0
		// A limit below zero is no limit, as it is forwards.
		for p := min(opts.From, uint64(len(log))); p >= 1 && (opts.Limit <= 0 || n < opts.Limit); p-- {
			if err := ctx.Err(); err != nil {
				yield(chronicle.RecordedEvent{}, err)
				return
			}
			e := log[p-1]
			if removed(e) || !opts.Filter.Match(e.Stream, e.Type) {
				continue
			}
			n++
			if !yield(clone(e), nil) {
				return
			}
		}
	}
}

// Subscribe implements [chronicle.Store.Subscribe].
func (s *Store) Subscribe(ctx context.Context, opts chronicle.SubscribeOptions) iter.Seq2[chronicle.RecordedEvent, error] {
	if err := opts.Filter.Validate(); err != nil {
		return catchup.Refused(err)
	}
	return catchup.Subscribe(ctx, source{s}, opts, 0)
}

// source shows the store to package catchup.
type source struct{ s *Store }

func (src source) Page(ctx context.Context, from uint64, limit int, f chronicle.Filter) ([]chronicle.RecordedEvent, uint64, error) {
	log, _, _ := src.s.snapshot("")
	var out []chronicle.RecordedEvent
	p := max(from, 1)
	for ; p <= uint64(len(log)) && len(out) < limit; p++ {
		if e := log[p-1]; !removed(e) && f.Match(e.Stream, e.Type) {
			out = append(out, clone(e))
		}
	}
	return out, p, nil
}

func (src source) Changed() <-chan struct{} { return src.s.changed.Changed() }

// clone copies what a caller could change through a RecordedEvent, so
// that changing an event read does not change the store.
func clone(e chronicle.RecordedEvent) chronicle.RecordedEvent {
	e.Data = bytes.Clone(e.Data)
	e.Metadata = maps.Clone(e.Metadata)
	return e
}
