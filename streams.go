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
//
// Prefix and Category are text of the kind that stream names hold: a
// store refuses them, as [ListStreamsOptions.Validate] does, when they
// hold bytes that are not UTF-8 or a character that no stream name may
// hold, rather than list nothing. Other values select what they say, even
// when no stream can match them.
type ListStreamsOptions struct {
	// Prefix keeps the streams whose name starts with it.
	Prefix string
	// Category keeps the streams of one category (see [Category]). A
	// category holds no '-': one that does keeps no stream.
	Category string
	// Before keeps the streams last written before this global position,
	// for paging: pass the LastPosition of the last stream of the previous
	// page. Zero starts at the most recently written stream.
	Before uint64
	// Limit is the most streams to return; 0, or less, means no limit.
	Limit int
}

// Validate reports whether o's Prefix and Category hold only what a
// stream name may hold: none of the bytes or characters that
// [ValidateStreamName] refuses anywhere in a name (bytes that are not
// UTF-8; control, format, line and paragraph separator characters). The
// error matches [ErrInvalidStreamName] and names the option and its
// value. A [StreamLister] calls it once per ListStreams.
func (o ListStreamsOptions) Validate() error {
	if why := badText(o.Prefix); why != "" {
		return selectorError(ErrInvalidStreamName, "ListStreamsOptions.Prefix", o.Prefix, why, "stream name")
	}
	if why := badText(o.Category); why != "" {
		return selectorError(ErrInvalidStreamName, "ListStreamsOptions.Category", o.Category, why, "stream name")
	}
	return nil
}

// StreamLister is a [Store] that can enumerate its streams without reading
// the whole global log. Stores implement it optionally, as they do
// [Retention]; a program that needs the list from any store can fall back
// to reading the global log.
type StreamLister interface {
	// ListStreams returns the streams with events, the most recently
	// written first. Deleted streams are left out. Options that
	// [ListStreamsOptions.Validate] refuses get its error.
	ListStreams(ctx context.Context, opts ListStreamsOptions) ([]StreamInfo, error)
	// CountStreams returns how many streams have events, and how many
	// events the store holds (including those that retention hides but no
	// scavenge has removed yet).
	CountStreams(ctx context.Context) (streams, events uint64, err error)
}
