package chronicle

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Limits on names and sizes.
const (
	// MaxNameLength is the longest stream name or event type, in bytes.
	MaxNameLength = 255
	// DefaultMaxEventSize is the default limit on an event's data and
	// metadata together, in bytes. Stores let it be configured.
	DefaultMaxEventSize = 16 << 20
)

// ValidateStreamName reports whether name can name a stream. A name is
// valid UTF-8, from 1 to [MaxNameLength] bytes long, free of control,
// format (such as a zero-width space, which would make two names look
// alike) and line or paragraph separator characters, and does not start
// with '$', which is reserved for streams that Chronicle itself keeps.
// The error matches [ErrInvalidStreamName].
func ValidateStreamName(name string) error {
	if err := validateName(name); err != nil {
		return fmt.Errorf("%w: %s", ErrInvalidStreamName, err)
	}
	if strings.HasPrefix(name, "$") {
		return fmt.Errorf("%w: %q starts with '$', which is reserved for system streams", ErrInvalidStreamName, name)
	}
	return nil
}

func validateName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("name is empty")
	case len(name) > MaxNameLength:
		return fmt.Errorf("name %.20q... is %d bytes long, over the limit of %d", name, len(name), MaxNameLength)
	}
	if why := badText(name); why != "" {
		return fmt.Errorf("name %q %s", name, why)
	}
	return nil
}

// badText returns why s holds what no stream name or event type may hold,
// anywhere in it: bytes that are not UTF-8, or a character that
// invisible reports. It returns "" when s holds none of that.
func badText(s string) string {
	switch {
	case printableASCII(s):
		// Almost every name: no need for the Unicode tables, which cost
		// a store a tenth of its CPU on short appends and reads.
		return ""
	case !utf8.ValidString(s):
		return "is not valid UTF-8"
	}
	if i := strings.IndexFunc(s, invisible); i >= 0 {
		r, _ := utf8.DecodeRuneInString(s[i:])
		return fmt.Sprintf("has an invisible or control character (%U) at byte %d", r, i)
	}
	return ""
}

// selectorError is the error of a prefix, category or type to select by,
// option, whose value holds what no stream name or event type (holder)
// may hold, for the reason why, which badText gave.
func selectorError(sentinel error, option, value, why, holder string) error {
	// A value is shown whole unless it is longer than any name.
	shown := fmt.Sprintf("%q", value)
	if len(value) > MaxNameLength {
		shown = fmt.Sprintf("%.*q...", MaxNameLength, value)
	}
	return fmt.Errorf("%w: %s %s %s, which no %s can hold", sentinel, option, shown, why, holder)
}

// printableASCII reports whether name is all ASCII without control
// characters: such a name is valid UTF-8 and has no rune that invisible
// reports, since the format and separator categories have no ASCII
// members.
func printableASCII(name string) bool {
	for i := 0; i < len(name); i++ {
		if c := name[i]; c < 0x20 || c >= 0x7f {
			return false
		}
	}
	return true
}

// invisible reports whether r would make a name look like another: a
// control, format (such as a zero-width space) or line separator character.
func invisible(r rune) bool {
	return unicode.IsControl(r) || unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp)
}

// PrepareAppend checks an append's input and returns the events as they
// will be stored: a copy in which every zero ID has been replaced by a new
// UUIDv7. maxEventSize limits the size of each event's data plus the
// lengths of its metadata keys and values; zero means
// [DefaultMaxEventSize]. Metadata keys and values that are not valid
// UTF-8 are refused with an error matching [ErrInvalidEvent]. Stores call
// it before writing anything, so that bad input is refused whole.
func PrepareAppend(stream string, events []EventData, maxEventSize int) ([]EventData, error) {
	if err := ValidateStreamName(stream); err != nil {
		return nil, err
	}
	if len(events) == 0 {
		return nil, fmt.Errorf("append to %q: %w", stream, ErrNoEvents)
	}
	if maxEventSize <= 0 {
		maxEventSize = DefaultMaxEventSize
	}
	out := make([]EventData, len(events))
	seen := make(map[uuid.UUID]int, len(events))
	for i, e := range events {
		if err := validateName(e.Type); err != nil {
			return nil, fmt.Errorf("append to %q: event %d: %w: type: %s", stream, i, ErrInvalidEvent, err)
		}
		size := len(e.Data)
		for k, v := range e.Metadata {
			size += len(k) + len(v)
			// Metadata is a JSON object wherever it goes (a store's
			// column, an archive), whose strings are UTF-8: other bytes
			// would come back as U+FFFD on some stores and not others.
			if !utf8.ValidString(k) {
				return nil, fmt.Errorf("append to %q: event %d (%s): %w: metadata key %q is not valid UTF-8", stream, i, e.Type, ErrInvalidEvent, k)
			}
			if !utf8.ValidString(v) {
				return nil, fmt.Errorf("append to %q: event %d (%s): %w: the value of metadata %q is not valid UTF-8", stream, i, e.Type, ErrInvalidEvent, k)
			}
		}
		if size > maxEventSize {
			return nil, fmt.Errorf("append to %q: event %d (%s) has %d bytes of data and metadata: %w (limit %d bytes)",
				stream, i, e.Type, size, ErrEventTooLarge, maxEventSize)
		}
		if e.ID == uuid.Nil {
			id, err := uuid.NewV7()
			if err != nil {
				return nil, fmt.Errorf("append to %q: new event ID: %w", stream, err)
			}
			e.ID = id
		} else if j, dup := seen[e.ID]; dup {
			return nil, fmt.Errorf("append to %q: %w: events %d and %d share ID %s", stream, ErrInvalidEvent, j, i, e.ID)
		}
		seen[e.ID] = i
		out[i] = e
	}
	return out, nil
}
