// Package archive copies events out of a [chronicle.Store] into a JSON
// Lines file, and back in, so that events can be kept elsewhere before a
// scavenge removes them from the store (see [chronicle.Scavenger]).
//
// # Format
//
// An archive is UTF-8 text with one event per line, each a JSON object
// (shown here on two lines):
//
//	{"stream":"game-42","revision":0,"position":17,"id":"0190f0c2-…","type":"GameStarted",
//	 "recorded":"2025-01-02T03:04:05.123456Z","metadata":{"$correlationId":"…"},"data":{"players":["ann","bob"]}}
//
// Its fields come in this order:
//
//   - stream, revision, position: where the event was in the store it
//     was exported from.
//   - id: the event's ID, a UUID in its canonical form.
//   - type: the event's type.
//   - recorded: when that store committed it, RFC 3339 in UTC with
//     exactly six digits of fraction (microseconds).
//   - metadata: an object of strings; left out when the event has none.
//   - data: the event's data, embedded as it is when it is valid JSON in
//     compact form, so that the file stays readable and the bytes read
//     back are exactly the bytes stored; otherwise (binary data, or JSON
//     with spaces, which embedding would change) it is data_base64, the
//     bytes in standard base64. An event without data has neither.
//
// Lines end with '\n'. [Import] also takes "\r\n", skips blank lines,
// and refuses unknown fields (names are case-sensitive), so that a
// misspelt field is not silently dropped, and a field or metadata key
// given twice, so that neither value is.
//
// # What an archive holds
//
// Events only: not stream metadata, deletions or snapshots. Importing
// an archive appends its events to streams of the same names; the
// importing store gives them new revisions (from the stream's end),
// positions and recorded times. See [Import].
package archive

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/chronicle-es/chronicle"
)

// RecordedFormat is the layout of the recorded field: RFC 3339 in UTC
// with a fixed six-digit fraction, the precision stores keep, so that
// every line has the same shape and the value sorts as text.
const RecordedFormat = "2006-01-02T15:04:05.000000Z07:00"

// line is one event as a line of an archive. The field order is the
// order of the file's keys.
type line struct {
	Stream     string             `json:"stream"`
	Revision   *uint64            `json:"revision"`
	Position   *uint64            `json:"position"`
	ID         string             `json:"id"`
	Type       string             `json:"type"`
	Recorded   string             `json:"recorded"`
	Metadata   chronicle.Metadata `json:"metadata,omitempty"`
	Data       json.RawMessage    `json:"data,omitempty"`
	DataBase64 *string            `json:"data_base64,omitempty"`
}

// newLine returns the line of e.
func newLine(e chronicle.RecordedEvent) line {
	l := line{
		Stream:   e.Stream,
		Revision: &e.Revision,
		Position: &e.Position,
		ID:       e.ID.String(),
		Type:     e.Type,
		Recorded: e.Recorded.UTC().Format(RecordedFormat),
		Metadata: e.Metadata,
	}
	switch {
	case len(e.Data) == 0:
	case embeddable(e.Data):
		l.Data = e.Data
	default:
		s := base64.StdEncoding.EncodeToString(e.Data)
		l.DataBase64 = &s
	}
	return l
}

// embeddable reports whether data can be written as a JSON value and
// read back as the same bytes: valid UTF-8 JSON that compacting leaves
// as it is. Data with spaces or newlines is not, because encoding/json
// compacts a json.RawMessage as it writes it (and a newline would end
// the line).
func embeddable(data []byte) bool {
	return utf8.Valid(data) && json.Valid(data) && !hasSpaceOutsideStrings(data)
}

// hasSpaceOutsideStrings reports whether valid JSON data has whitespace
// between its tokens.
func hasSpaceOutsideStrings(data []byte) bool {
	inString, escaped := false, false
	for _, c := range data {
		switch {
		case escaped:
			escaped = false
		case inString && c == '\\':
			escaped = true
		case c == '"':
			inString = !inString
		case !inString && (c == ' ' || c == '\t' || c == '\n' || c == '\r'):
			return true
		}
	}
	return false
}

// LineError reports a line of an archive that [Import] could not import,
// and why. Nothing of that line was written.
type LineError struct {
	// Line is the 1-based line number in the input.
	Line int
	// Err says what is wrong with the line, or why the store refused it.
	Err error
}

// Error names the line.
func (e *LineError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }

// Unwrap returns the cause, so that [errors.Is] sees, for example,
// [chronicle.ErrStreamDeleted] or [context.Canceled].
func (e *LineError) Unwrap() error { return e.Err }

// parseRecorded reads the recorded field, which must be RFC 3339 (any
// number of fraction digits is accepted, for hand-written lines).
func parseRecorded(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("recorded %q is not an RFC 3339 time such as 2025-01-02T03:04:05.123456Z", s)
	}
	return t.UTC(), nil
}
