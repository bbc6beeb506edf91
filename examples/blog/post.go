package blog

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/chronicle-es/chronicle"
)

// MaxTitleLength is the longest title, in characters: a title is a line,
// not an article.
const MaxTitleLength = 200

// Errors for refused commands and bad input; match them with
// [errors.Is].
var (
	// ErrPostNotFound refuses a command on a post that was never
	// created, and is returned by queries for an unknown post. The
	// examples word it "Post does not exist".
	ErrPostNotFound = errors.New("post does not exist")
	// ErrAlreadyPublished refuses to publish a post twice. The examples
	// word it "Post is already published".
	ErrAlreadyPublished = errors.New("post is already published")
	// ErrPostExists refuses to create a post whose stream has events.
	ErrPostExists = errors.New("post already exists")
	// ErrInvalidTitle refuses a title that is blank, too long, or holds
	// control characters such as a line break.
	ErrInvalidTitle = errors.New("invalid title")
	// ErrInvalidContent refuses content that is not valid UTF-8, which
	// the event's JSON would change, or that holds a NUL character,
	// which the read model cannot keep in PostgreSQL.
	ErrInvalidContent = errors.New("invalid content")
	// ErrInvalidID means that a string is not a post id.
	ErrInvalidID = errors.New("invalid post id")
)

// Command is a command on a post: [CreatePost] or [PublishPost].
type Command interface{ isCommand() }

// CreatePost asks to write a post, as a draft.
type CreatePost struct {
	Title, Content string
}

// PublishPost asks to publish a post.
type PublishPost struct{}

func (CreatePost) isCommand()  {}
func (PublishPost) isCommand() {}

// Post is the state of a post as its commands need it.
type Post struct {
	Created   bool
	Published bool
}

// NewDecider returns the rules of posts as a [chronicle.Decider].
func NewDecider() chronicle.Decider[Post, Command, Event] {
	return chronicle.Decider[Post, Command, Event]{Decide: Decide, Evolve: Evolve}
}

// Decide returns the events that cmd causes on post p, or why it is
// refused: [ErrInvalidTitle], [ErrInvalidContent], [ErrPostExists],
// [ErrPostNotFound] or [ErrAlreadyPublished]. A refused command decides
// no event.
func Decide(p Post, cmd Command) ([]Event, error) {
	switch cmd := cmd.(type) {
	case CreatePost:
		if p.Created {
			return nil, ErrPostExists
		}
		if err := ValidateTitle(cmd.Title); err != nil {
			return nil, err
		}
		switch {
		case !utf8.ValidString(cmd.Content):
			return nil, fmt.Errorf("%w: it is not valid UTF-8", ErrInvalidContent)
		case strings.IndexByte(cmd.Content, 0) >= 0:
			return nil, fmt.Errorf("%w: it holds a NUL character", ErrInvalidContent)
		}
		return []Event{PostWasCreated(cmd)}, nil
	case PublishPost:
		switch {
		case !p.Created:
			return nil, ErrPostNotFound
		case p.Published:
			return nil, ErrAlreadyPublished
		}
		return []Event{PostWasPublished{}}, nil
	default:
		return nil, fmt.Errorf("blog: unknown command %T", cmd)
	}
}

// ValidateTitle reports whether title can be a post's title: not blank,
// at most [MaxTitleLength] characters of valid UTF-8, without control
// characters. The error matches [ErrInvalidTitle].
func ValidateTitle(title string) error {
	switch {
	case strings.TrimSpace(title) == "":
		return fmt.Errorf("%w: a post needs a title", ErrInvalidTitle)
	case !utf8.ValidString(title):
		return fmt.Errorf("%w: %q is not valid UTF-8", ErrInvalidTitle, title)
	case utf8.RuneCountInString(title) > MaxTitleLength:
		return fmt.Errorf("%w: the title is %d characters long, over the limit of %d",
			ErrInvalidTitle, utf8.RuneCountInString(title), MaxTitleLength)
	case strings.IndexFunc(title, unicode.IsControl) >= 0:
		return fmt.Errorf("%w: %q holds a control character, such as a line break", ErrInvalidTitle, title)
	}
	return nil
}

// Evolve returns the post after event e.
func Evolve(p Post, e Event) Post {
	switch e.(type) {
	case PostWasCreated:
		p.Created = true
	case PostWasPublished:
		p.Published = true
	}
	return p
}
