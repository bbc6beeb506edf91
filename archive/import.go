package archive

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/chronicle-es/chronicle"
	"github.com/google/uuid"
)

// Defaults for [ImportOptions].
const (
	// DefaultBatchSize is how many consecutive events of one stream are
	// appended together: enough to make appends cheap, few enough that an
	// interrupted import loses little work.
	DefaultBatchSize = 100
	// DefaultMaxLineSize is the longest line accepted, in bytes: room for
	// the line of any event of [chronicle.DefaultMaxEventSize], and a
	// stop for a file that is not an archive at all, such as a binary
	// without newlines. A line takes up to eight times its event's size:
	// data in base64 takes a third more, but a control character in
	// metadata takes six bytes (\u0001), and each metadata entry six more
	// (its quotes, colon and comma), which keys of three control
	// characters bring to eight bytes per byte; the few shorter keys, and
	// the other fields, take less than the 64 KiB added.
	DefaultMaxLineSize = 8*chronicle.DefaultMaxEventSize + 64<<10
)

// maxBatchBytes ends a batch early when its events are large, so that one
// append does not carry hundreds of megabytes.
const maxBatchBytes = 4 << 20

// Metadata keys that [ImportOptions.KeepOrigin] adds.
const (
	// MetadataOriginalPosition is the event's position in the store it
	// was exported from, in decimal.
	MetadataOriginalPosition = "$originalPosition"
	// MetadataOriginalRecorded is when that store recorded it, in the
	// archive's format ([RecordedFormat]).
	MetadataOriginalRecorded = "$originalRecorded"
)

// ImportOptions configures [Import]. A nil *ImportOptions gives the
// defaults.
type ImportOptions struct {
	// BatchSize is the most events appended in one append. Zero means
	// [DefaultBatchSize]. One checks every event by its ID on its own:
	// slower, but see [Import] for the one case where that matters with
	// a store that is not a [chronicle.EventFinder].
	BatchSize int

	// MaxLineSize is the longest line accepted, in bytes, not counting
	// its end ("\n" or "\r\n"). Zero means [DefaultMaxLineSize].
	MaxLineSize int

	// KeepOrigin adds to each imported event's metadata where and when
	// the exporting store recorded it, under [MetadataOriginalPosition]
	// and [MetadataOriginalRecorded], which the importing store would
	// otherwise replace with its own. Keys already there are kept, so an
	// event archived and restored twice keeps its first origin. It is off
	// by default because it changes the metadata: without it an import
	// restores each event exactly as it was appended.
	KeepOrigin bool

	// Progress, if not nil, is called after each append.
	Progress func(ImportResult)
}

// ImportResult tells how far [Import] went.
type ImportResult struct {
	// Lines is the number of input lines dealt with: every line up to
	// and including this one is in the store.
	Lines int
	// Events is the number of events in those lines.
	Events int
	// Written counts the events that this import appended, and Existing
	// those that the store held already (from an earlier run of the same
	// import, say). Events = Written + Existing.
	Written, Existing int
}

// Import reads an archive that [Export] wrote, or one in the same
// format, from r, and appends its events to store: to streams of the
// same names, in the order of the file, keeping each event's ID, type,
// data and metadata. The store gives them new revisions (counted from
// the stream's end, so a stream exported without its first events
// starts again at revision 0), new positions, and the time of the
// import as their recorded time; the original position and time are
// kept only with [ImportOptions.KeepOrigin]. Stream metadata, deletions
// and snapshots are not part of an archive.
//
// # Idempotence and resuming
//
// Import appends runs of consecutive events of one stream together, with
// [chronicle.Any], and relies on the store's idempotent appends: events
// whose IDs the stream already holds where they would go are
// acknowledged, not written again. So importing the same file twice
// writes nothing the second time ([ImportResult.Existing] counts those
// events), and an import that stopped, for whatever reason, is resumed
// by running it again on the same file from its start. When a run holds
// some events already but not all, the store reports
// [chronicle.ErrIdempotencyConflict] and Import appends that run one
// event at a time, which sorts out which ones are new.
//
// A run whose first event is new would be appended whole, and the events
// of it that the store holds written twice, when a later event of the run
// is in the store but not the first: in the store the archive came from,
// after a scavenge removed a stream's oldest events, or in one that
// imported an archive of a stream's newest events before one of all of
// them. A store that is a [chronicle.EventFinder] (the memory, SQLite and
// PostgreSQL stores) tells Import so, which then appends that run one
// event at a time; with another store, set [ImportOptions.BatchSize] to 1
// to guard against it. Either way, the events that are new follow those
// that the stream holds: a stream restored into the store that lost its
// oldest events has them after its newest.
//
// # Bad input
//
// A line that is not a valid event (not UTF-8, not a JSON object, a
// field missing or of the wrong type, an unknown field, an ID that is
// not a UUID, data that is not valid base64, a line over
// [ImportOptions.MaxLineSize])
// stops the import with a [*LineError] that names it. Nothing of that
// line, or of the lines after it, is written; the lines before it are
// imported. [ImportResult.Lines] tells how far the import got. Fix the
// line and run the import again: the lines already imported are not
// written twice. A line that the store refuses (a tombstoned stream, an
// event over the store's size limit) is reported the same way. A read of
// r that fails stops the import with the read's error, not a
// [*LineError], even in the middle of a line: the complete lines before
// it are imported.
//
// Written and Existing are told apart by the positions that the store
// reports: they are exact unless another process imports the same
// events at the same time.
func Import(ctx context.Context, store chronicle.Store, r io.Reader, opts *ImportOptions) (ImportResult, error) {
	var o ImportOptions
	if opts != nil {
		o = *opts
	}
	if o.BatchSize <= 0 {
		o.BatchSize = DefaultBatchSize
	}
	if o.MaxLineSize <= 0 {
		o.MaxLineSize = DefaultMaxLineSize
	}
	im := &importer{store: store, opts: o}
	// Every position the store holds now is at most the last one; new
	// appends get higher positions. See ImportResult.Written.
	for e, err := range store.ReadAll(ctx, chronicle.ReadAllOptions{Backwards: true, From: chronicle.End, Limit: 1}) {
		if err != nil {
			return im.res, fmt.Errorf("import: read the end of the log: %w", err)
		}
		im.high = e.Position
	}

	src := &failedReader{r: r}
	sc := bufio.NewScanner(src)
	// The scanner takes the larger of max and the buffer's capacity as
	// its limit, so the buffer must not start larger than the limit. Its
	// limit holds the line's end too, "\r\n" at most: a longer line than
	// MaxLineSize that fits is refused below.
	limit := o.MaxLineSize + min(2, math.MaxInt-o.MaxLineSize)
	sc.Buffer(make([]byte, 0, min(64<<10, limit)), limit)
	sc.Split(src.scanLines)
	n := 0
	for sc.Scan() {
		n++
		if len(sc.Bytes()) > o.MaxLineSize {
			if err := im.flush(ctx, n-1); err != nil {
				return im.res, err
			}
			return im.res, tooLong(n, o.MaxLineSize)
		}
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 {
			if len(im.batch) == 0 {
				im.res.Lines = n
			}
			continue
		}
		ev, err := parseLine(text, o.KeepOrigin)
		if err != nil {
			// The lines before this one are imported, as documented.
			if ferr := im.flush(ctx, n-1); ferr != nil {
				return im.res, ferr
			}
			return im.res, &LineError{Line: n, Err: err}
		}
		ev.line = n
		if im.breaks(ev) {
			if err := im.flush(ctx, n-1); err != nil {
				return im.res, err
			}
		}
		im.batch = append(im.batch, ev)
		im.size += ev.size()
	}
	if err := sc.Err(); err != nil {
		if ferr := im.flush(ctx, n); ferr != nil {
			return im.res, ferr
		}
		if errors.Is(err, bufio.ErrTooLong) {
			return im.res, tooLong(n+1, o.MaxLineSize)
		}
		return im.res, fmt.Errorf("import: read line %d: %w", n+1, err)
	}
	if err := im.flush(ctx, n); err != nil {
		return im.res, err
	}
	return im.res, nil
}

// tooLong is the error of a line over the limit, which says how to
// import it.
func tooLong(line, limit int) error {
	return &LineError{Line: line, Err: fmt.Errorf("line is longer than the limit of %d bytes: if it is an event that the store took, set ImportOptions.MaxLineSize higher to import it", limit)}
}

// failedReader remembers the error of a read that failed, so that the
// part of a line read before it is not taken for a line of the file.
type failedReader struct {
	r   io.Reader
	err error // the first error other than io.EOF
}

func (f *failedReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) && f.err == nil {
		f.err = err
	}
	return n, err
}

// scanLines splits as bufio.ScanLines does, but a last line without its
// end after a failed read gives the read's error: the scanner would hand
// it over as a line, whose JSON is cut short, and the error would blame
// the file.
func (f *failedReader) scanLines(data []byte, atEOF bool) (int, []byte, error) {
	if atEOF && f.err != nil && len(data) > 0 && bytes.IndexByte(data, '\n') < 0 {
		return 0, nil, f.err
	}
	return bufio.ScanLines(data, atEOF)
}

// event is one parsed line.
type event struct {
	line     int
	stream   string
	revision uint64
	data     chronicle.EventData
}

func (e event) size() int {
	n := len(e.data.Data)
	for k, v := range e.data.Metadata {
		n += len(k) + len(v)
	}
	return n
}

// importer is one run of [Import].
type importer struct {
	store chronicle.Store
	opts  ImportOptions
	res   ImportResult
	// high is the highest position the store has reported so far: an
	// append that reports a higher first position wrote its events.
	high uint64
	// batch holds consecutive events of one stream, not yet appended.
	batch []event
	size  int
}

// breaks reports whether ev must start a new batch: it belongs to another
// stream, does not follow the last event in its stream's revisions (a
// new run, such as a second file concatenated to the first), or the batch
// is full.
func (im *importer) breaks(ev event) bool {
	if len(im.batch) == 0 {
		return false
	}
	last := im.batch[len(im.batch)-1]
	return ev.stream != last.stream || ev.revision != last.revision+1 ||
		len(im.batch) >= im.opts.BatchSize || im.size+ev.size() > maxBatchBytes
}

// flush appends the batch, after which every line up to line upTo is
// done: the batch's, and blank lines among and after them.
func (im *importer) flush(ctx context.Context, upTo int) error {
	batch := im.batch
	if len(batch) == 0 {
		im.res.Lines = upTo
		return nil
	}
	im.batch, im.size = im.batch[:0], 0
	whole, err := im.whole(ctx, batch)
	if whole {
		err = im.append(ctx, batch)
	}
	if len(batch) > 1 && (!whole && err == nil || errors.Is(err, chronicle.ErrIdempotencyConflict) ||
		errors.Is(err, chronicle.ErrInvalidEvent) || errors.Is(err, chronicle.ErrEventTooLarge)) {
		// Part of the batch is in the store already, or one of its events
		// is refused: one event at a time finds which, and imports the
		// events before a refused one, as a line error promises.
		for i := range batch {
			if err := im.append(ctx, batch[i:i+1]); err != nil {
				return err
			}
		}
		err = nil
	}
	if err != nil {
		return err
	}
	im.res.Lines = upTo
	if im.opts.Progress != nil {
		im.opts.Progress(im.res)
	}
	return nil
}

// whole reports whether batch can be appended in one append. The store
// recognises events it holds by the first event of an append: a batch
// whose first event it does not hold, but whose last one it does, would
// be written whole, those it holds a second time. That is the case of a
// store whose scavenge removed a stream's oldest events, and of one that
// imported an archive of a stream's newest events before one of all of
// them. A store that is not a [chronicle.EventFinder] cannot tell.
func (im *importer) whole(ctx context.Context, batch []event) (bool, error) {
	finder, ok := im.store.(chronicle.EventFinder)
	if !ok || len(batch) < 2 {
		return true, nil
	}
	has := func(e event) (bool, error) {
		ok, err := finder.HasEvent(ctx, e.stream, e.data.ID)
		if err != nil && !errors.Is(err, errors.ErrUnsupported) {
			// Named by the batch's first line, the first not imported.
			return false, &LineError{Line: batch[0].line, Err: err}
		}
		return ok || err != nil, nil
	}
	// What a store holds of a batch is a run of its first events (an
	// import that stopped), or of its last (the cases above): when the
	// last is new, or the first is held, the store tells them apart.
	if ok, err := has(batch[len(batch)-1]); !ok || err != nil {
		return err == nil, err
	}
	return has(batch[0])
}

// append appends events, all of one stream, and counts them.
func (im *importer) append(ctx context.Context, events []event) error {
	data := make([]chronicle.EventData, len(events))
	for i, e := range events {
		data[i] = e.data
	}
	res, err := im.store.Append(ctx, events[0].stream, chronicle.Any, data...)
	if err != nil {
		return &LineError{Line: events[0].line, Err: err}
	}
	if res.FirstPosition > im.high {
		im.res.Written += len(events)
	} else {
		im.res.Existing += len(events)
	}
	im.high = max(im.high, res.LastPosition)
	im.res.Events += len(events)
	im.res.Lines = events[len(events)-1].line
	return nil
}

// parseLine reads one line of an archive.
func parseLine(text []byte, keepOrigin bool) (event, error) {
	switch {
	case bytes.HasPrefix(text, []byte("\ufeff")):
		// Some editors write one; it is invisible, so the line would look
		// like the object that the error says it is not.
		return event{}, errors.New("starts with a byte order mark (U+FEFF): an archive is UTF-8 text without one; save the file without it")
	case bytes.HasPrefix(text, []byte{0xff, 0xfe}) || bytes.HasPrefix(text, []byte{0xfe, 0xff}):
		return event{}, errors.New("starts with a UTF-16 byte order mark: an archive is UTF-8 text; convert the file to UTF-8")
	case text[0] != '{':
		return event{}, errors.New("not a JSON object: an archive has one event per line, each a {...} object")
	}
	// encoding/json reads bytes that are not UTF-8 in a string as U+FFFD:
	// the event would be imported with another type, stream or metadata
	// than the line's, without a word. Export writes UTF-8 only.
	if !utf8.Valid(text) {
		return event{}, fmt.Errorf("not valid UTF-8 (at byte %d): an archive is UTF-8 text", invalidUTF8(text)+1)
	}
	dec := json.NewDecoder(bytes.NewReader(text))
	dec.DisallowUnknownFields()
	var l line
	if err := dec.Decode(&l); err != nil {
		return event{}, jsonError(err)
	}
	if rest := bytes.TrimSpace(text[dec.InputOffset():]); len(rest) > 0 {
		return event{}, errors.New("not valid JSON: something follows the object on the same line")
	}
	if err := checkKeys(text); err != nil {
		return event{}, err
	}
	for _, f := range []struct {
		name    string
		missing bool
	}{
		{"stream", l.Stream == ""},
		{"revision", l.Revision == nil},
		{"position", l.Position == nil},
		{"id", l.ID == ""},
		{"type", l.Type == ""},
		{"recorded", l.Recorded == ""},
	} {
		if f.missing {
			return event{}, fmt.Errorf("field %q is missing or empty", f.name)
		}
	}
	id, err := uuid.Parse(l.ID)
	if err != nil {
		return event{}, fmt.Errorf("id %q is not a UUID", l.ID)
	}
	if id == uuid.Nil {
		// A store gives a nil ID a new one, so it could not be recognised
		// when the import runs again.
		return event{}, errors.New("id is the nil UUID: events need their own ID to be imported once only")
	}
	recorded, err := parseRecorded(l.Recorded)
	if err != nil {
		return event{}, err
	}
	ev := event{stream: l.Stream, revision: *l.Revision, data: chronicle.EventData{ID: id, Type: l.Type}}
	switch {
	case l.Data != nil && l.DataBase64 != nil:
		return event{}, errors.New(`both "data" and "data_base64" are given: an event has one data`)
	case l.DataBase64 != nil:
		ev.data.Data, err = base64.StdEncoding.DecodeString(*l.DataBase64)
		if err != nil {
			return event{}, fmt.Errorf("data_base64 is not valid standard base64: %w", err)
		}
	case l.Data != nil:
		ev.data.Data = l.Data
	}
	if len(l.Metadata) > 0 {
		ev.data.Metadata = l.Metadata
	}
	if keepOrigin {
		m := ev.data.Metadata.With(MetadataOriginalPosition, strconv.FormatUint(*l.Position, 10))
		m[MetadataOriginalRecorded] = recorded.Format(RecordedFormat)
		// Keep a first origin that is already there.
		for _, k := range []string{MetadataOriginalPosition, MetadataOriginalRecorded} {
			if v, ok := ev.data.Metadata[k]; ok {
				m[k] = v
			}
		}
		ev.data.Metadata = m
	}
	// Check the stream name and type now, as the store would, so that
	// the error names this line; MaxInt leaves the size to the store,
	// whose limit may differ from the default.
	if _, err := chronicle.PrepareAppend(ev.stream, []chronicle.EventData{ev.data}, math.MaxInt); err != nil {
		return event{}, err
	}
	return ev, nil
}

// fieldNames are the keys of a line, spelt as the format spells them.
var fieldNames = []string{"stream", "revision", "position", "id", "type", "recorded", "metadata", "data", "data_base64"}

// checkKeys refuses the keys of a line that encoding/json takes, but not
// as written, so that nothing of the line is lost without a word: a key
// given twice, of the line or of its metadata, of which it keeps the
// last value, and a field spelt in another case, such as "DATA", which it
// matches to "data". Keys inside data are the event's own. text is the
// line, which decoded: valid JSON, one object.
func checkKeys(text []byte) error {
	depth, field := 0, "" // field is the line's key whose value is read
	fields, metadata := make(map[string]bool), make(map[string]bool)
	for i := 0; i < len(text); i++ {
		switch text[i] {
		case '{', '[':
			depth++
		case '}', ']':
			depth--
		case '"':
			end := stringEnd(text, i)
			raw := text[i : end+1]
			i = end
			if rest := bytes.TrimLeft(text[end+1:], " \t\r\n"); len(rest) == 0 || rest[0] != ':' {
				continue // a value, not a key
			}
			if depth != 1 && (depth != 2 || field != "metadata") {
				continue
			}
			key := string(raw[1 : len(raw)-1])
			if bytes.IndexByte(raw, '\\') >= 0 {
				if err := json.Unmarshal(raw, &key); err != nil {
					return fmt.Errorf("not valid JSON: key %s: %v", raw, err)
				}
			}
			switch {
			case depth == 2 && metadata[key]:
				return fmt.Errorf("metadata key %q is given twice: a key has one value", key)
			case depth == 2:
				metadata[key] = true
			case !slices.Contains(fieldNames, key):
				return fmt.Errorf("unknown field %q", key)
			case fields[key]:
				return fmt.Errorf("field %q is given twice: a line has each field once", key)
			default:
				fields[key], field = true, key
			}
		}
	}
	return nil
}

// stringEnd returns the index of the quote that ends the JSON string that
// starts at text[start].
func stringEnd(text []byte, start int) int {
	for j := start + 1; j < len(text); j++ {
		switch text[j] {
		case '\\':
			j++
		case '"':
			return j
		}
	}
	return len(text) - 1
}

// invalidUTF8 returns the index of the first byte of b that is not part
// of valid UTF-8, or -1 when b is valid.
func invalidUTF8(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return -1
}

// jsonError turns an error of encoding/json into words about the line,
// without the Go type names that it uses.
func jsonError(err error) error {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return fmt.Errorf("not valid JSON: %v (at byte %d)", syntax, syntax.Offset)
	case errors.As(err, &typ) && typ.Field == "metadata":
		return fmt.Errorf("metadata values must be strings, but one is a JSON %s", typ.Value)
	case errors.As(err, &typ):
		want := "a string"
		switch typ.Type.Kind() {
		case reflect.Uint64:
			want = "a non-negative integer"
		case reflect.Map:
			want = "an object of strings"
		}
		return fmt.Errorf("field %q is a JSON %s, want %s", typ.Field, typ.Value, want)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("not valid JSON: the object is cut short")
	}
	if msg, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return fmt.Errorf("unknown field %s", msg)
	}
	return fmt.Errorf("not valid JSON: %w", err)
}
