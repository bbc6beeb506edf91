package chronicle

import (
	"context"
	"time"
)

// StreamInfo describes one stream as a [StreamLister] lists it.
type StreamInfo struct {
	// Stream is the stream's name.
	Stream string
	// LastRevision is the revision of its last event, LastPosition that
	// event's global position and LastRecorded when it was recorded.
	LastRevision, LastPosition uint64
	LastRecorded               time.Time
}

// ListStreamsOptions selects the streams a [StreamLister] lists.
type ListStreamsOptions struct {
	// Prefix keeps the streams whose name starts with it.
	Prefix string
	// Category keeps the streams of one category (see [Category]).
	Category string
	// Before keeps the streams last written before this global position,
	// for paging: pass the LastPosition of the last stream of the previous
	// page. Zero starts at the most recently written stream.
	Before uint64
	// Limit is the most streams to return; 0, or less, means no limit.
	Limit int
}

// StreamLister is a [Store] that can enumerate its streams without reading
// the whole global log. Stores implement it optionally, as they do
// [Retention]; a program that needs the list from any store can fall back
// to reading the global log.
type StreamLister interface {
	// ListStreams returns the streams with events, the most recently
	// written first. Deleted streams are left out.
	ListStreams(ctx context.Context, opts ListStreamsOptions) ([]StreamInfo, error)
	// CountStreams returns how many streams have events, and how many
	// events the store holds (including those that retention hides but no
	// scavenge has removed yet).
	CountStreams(ctx context.Context) (streams, events uint64, err error)
}
