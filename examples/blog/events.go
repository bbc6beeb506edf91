package blog

import (
	"errors"
	"fmt"
	"strings"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/projection"
	"github.com/google/uuid"
)

// Event is one of a post's events: [PostWasCreated] or
// [PostWasPublished].
type Event interface{ isEvent() }

// PostWasCreated records that a post was written, as a draft.
type PostWasCreated struct {
	Title   string `json:"title"`
	Content string `json:"content"`
}

// PostWasPublished records that a post was published.
type PostWasPublished struct{}

func (PostWasCreated) isEvent()   {}
func (PostWasPublished) isEvent() {}

// Event type names, as stored: the names the examples give their event
// classes.
const (
	TypePostWasCreated   = "PostWasCreated"
	TypePostWasPublished = "PostWasPublished"
)

// NewCodec returns the codec that stores a post's events as JSON under
// their type names. A new one is built at each call, so that nothing is
// shared behind the caller's back.
func NewCodec() *chronicle.Codec[Event] {
	return chronicle.MustCodec[Event](
		chronicle.JSON[PostWasCreated](TypePostWasCreated),
		chronicle.JSON[PostWasPublished](TypePostWasPublished),
	)
}

// Category is the category of the posts' streams.
const Category = "post"

// StreamName returns the name of the stream of post id: "post-" followed
// by the UUID.
func StreamName(id uuid.UUID) string {
	return Category + "-" + id.String()
}

// ParseID returns the post id in s, which is the UUID or the stream name
// that [StreamName] makes of it. An error matches [ErrInvalidID].
func ParseID(s string) (uuid.UUID, error) {
	rest := strings.TrimPrefix(strings.TrimSpace(s), Category+"-")
	id, err := uuid.Parse(rest)
	if err != nil {
		return uuid.Nil, fmt.Errorf("%w: %q is not a post id (a UUID such as %s)", ErrInvalidID, s, uuid.Nil)
	}
	return id, nil
}

// parseStream returns the post id of a stream, and false for a stream
// of the category that is not a post's, such as "post-office", or one
// that spells a post's UUID otherwise than [StreamName] does (without
// dashes, in braces, in upper case), which uuid.Parse reads too.
func parseStream(stream string) (uuid.UUID, bool) {
	rest, ok := strings.CutPrefix(stream, Category+"-")
	if !ok {
		return uuid.Nil, false
	}
	id, err := uuid.Parse(rest)
	return id, err == nil && id.String() == rest
}

// ErrUnreadableEvent means that a post's stream holds an event that this
// version of the blog cannot read: of a type it does not know, of a
// schema version newer than it knows, or with data that does not decode.
// A newer version of the blog may have written it, or another tool. The
// projections stop on it, rather than pass over what may change a post,
// with a [*projection.Error] that names it; they resume at it once it
// reads. They stop at once, without the runner's retries, which could
// not make it read: the error also matches [projection.ErrPermanent].
// To go on, run a version of the blog that reads it; or, when the event
// is none of the blog's, remove the post: delete its stream (see
// [chronicle.Deleter]), scavenge the store ([chronicle.Scavenger]) and
// rebuild the read model ([Blog.Rebuild]).
var ErrUnreadableEvent = errors.New("the blog cannot read this event")

// postsFilter selects the events of the posts' streams, of every type:
// an event of a type that the codec does not know must reach the
// projections, which stop on it (see [ErrUnreadableEvent]). A new one at
// each call, as [NewCodec], so that no projection shares its slice.
func postsFilter() chronicle.Filter { return chronicle.Filter{Categories: []string{Category}} }

// readEvent returns the post that rec is an event of, and the event; ok
// is false for a stream of the category that is not a post's. An event
// that the codec cannot decode gives an error matching
// [ErrUnreadableEvent], marked [projection.Permanent]: decoding it again
// would fail again.
//
// A NUL character in a title or content, which the rules refuse but
// another tool may write, comes back as U+FFFD, the replacement
// character: PostgreSQL keeps no NUL in text, and would stop the read
// models on a post that they can show well enough without it. It is
// replaced on every store, so that the read models are the same on each.
func readEvent(codec *chronicle.Codec[Event], rec chronicle.RecordedEvent) (id uuid.UUID, e Event, ok bool, err error) {
	if id, ok = parseStream(rec.Stream); !ok {
		return uuid.Nil, nil, false, nil
	}
	if e, err = codec.Decode(rec); err != nil {
		return uuid.Nil, nil, false, projection.Permanent(fmt.Errorf("%w: %w; run a version of the blog that reads it, "+
			"or, if the event is none of the blog's, delete the post's stream, scavenge the store and rebuild the read model",
			ErrUnreadableEvent, err))
	}
	if c, ok := e.(PostWasCreated); ok {
		c.Title = strings.ReplaceAll(c.Title, "\x00", "\uFFFD")
		c.Content = strings.ReplaceAll(c.Content, "\x00", "\uFFFD")
		e = c
	}
	return id, e, true, nil
}
