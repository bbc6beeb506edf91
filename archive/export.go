package archive

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"unicode/utf8"

	"github.com/chronicle-es/chronicle"
)

// ExportOptions selects what [Export] writes. A nil *ExportOptions
// exports the whole store.
type ExportOptions struct {
	// Streams lists the streams to export, each in revision order, one
	// after the other in the order given (a name given twice is exported
	// once). They are read as [chronicle.Store.ReadStream] shows them:
	// without the events that retention hides. A stream that is deleted,
	// or was never written, is an error; one whose events retention hides,
	// every one of them, is not, and adds no line.
	//
	// Empty Streams exports the whole store: the global log in position
	// order, as [chronicle.Store.ReadAll] shows it, which includes the
	// events that retention or deletion hide but that no scavenge has
	// removed yet. That is what makes "export, then scavenge" keep a
	// copy of everything the scavenge removes.
	Streams []string

	// From is the first position to export from the whole store,
	// inclusive, so that archives can be made one after another, each
	// from the last one's LastPosition+1. It cannot be used with Streams.
	From uint64

	// Filter keeps only the events it matches, in either mode. One that
	// [chronicle.Filter.Validate] refuses is refused with its error
	// before anything is written.
	Filter chronicle.Filter

	// Progress, if not nil, is called after each event written.
	Progress func(ExportResult)
}

// ExportResult tells what [Export] wrote.
type ExportResult struct {
	// Events is the number of events (lines) written.
	Events int
	// Streams is the number of distinct streams they belong to.
	Streams int
	// LastPosition is the highest global position written; 0 when none.
	LastPosition uint64
}

// Export writes events of store to w as JSON Lines, in the format the
// package documentation describes. It buffers its writes, and returns
// once they are all flushed to w.
//
// Named streams are checked before anything is written: one that is
// tombstoned gives an error matching [chronicle.ErrStreamDeleted], one
// that does not exist (or is soft-deleted) one matching
// [chronicle.ErrStreamNotFound]. Other errors, such as a failing write or
// a cancelled ctx, can come after some lines were written: the result
// says how many, and the output should then be thrown away. So can an
// event whose metadata is not valid UTF-8, which an archive, being JSON,
// cannot hold unchanged: stores refuse to append such metadata, but may
// hold some written before they did; the error matches
// [chronicle.ErrInvalidEvent].
func Export(ctx context.Context, store chronicle.Store, w io.Writer, opts *ExportOptions) (ExportResult, error) {
	var o ExportOptions
	if opts != nil {
		o = *opts
	}
	e := &exporter{opts: o, w: bufio.NewWriterSize(w, 64<<10), streams: make(map[string]bool)}
	e.enc = json.NewEncoder(e.w)
	// Event data that is JSON is embedded as it is: escaping <, > and &
	// would change its bytes, and the file is not HTML.
	e.enc.SetEscapeHTML(false)

	// ReadAll refuses a filter that Validate refuses; the named streams'
	// reads take none, so it is checked here for them too, before
	// anything is written, rather than match what it can.
	if err := o.Filter.Validate(); err != nil {
		return e.res, fmt.Errorf("export: %w", err)
	}
	if len(o.Streams) == 0 {
		if err := e.events(store.ReadAll(ctx, chronicle.ReadAllOptions{From: o.From, Filter: o.Filter})); err != nil {
			return e.res, fmt.Errorf("export the store: %w", err)
		}
		return e.res, e.flush()
	}
	if o.From != 0 {
		return e.res, errors.New("export: From is a position of the global log: it cannot be used with Streams")
	}
	var names []string
	for _, s := range o.Streams {
		if !slices.Contains(names, s) {
			names = append(names, s)
		}
	}
	// Refuse a stream that cannot be read before writing anything, so that
	// a typo does not leave half an archive behind.
	for _, s := range names {
		for _, err := range store.ReadStream(ctx, s, chronicle.ReadStreamOptions{Limit: 1}) {
			if err != nil {
				return e.res, fmt.Errorf("export stream %q: %w", s, err)
			}
		}
	}
	for _, s := range names {
		if err := e.events(store.ReadStream(ctx, s, chronicle.ReadStreamOptions{})); err != nil {
			return e.res, fmt.Errorf("export stream %q: %w", s, err)
		}
	}
	return e.res, e.flush()
}

// exporter is one run of [Export].
type exporter struct {
	opts    ExportOptions
	w       *bufio.Writer
	enc     *json.Encoder
	res     ExportResult
	streams map[string]bool // streams written, to count them
}

func (e *exporter) events(seq func(func(chronicle.RecordedEvent, error) bool)) error {
	for ev, err := range seq {
		if err != nil {
			return err
		}
		if !e.opts.Filter.Match(ev.Stream, ev.Type) {
			continue
		}
		// JSON strings are UTF-8: encoding/json would write U+FFFD for
		// other bytes, and the archive would restore other metadata.
		// Appends refuse such metadata, but a store may hold some from
		// before they did.
		for k, v := range ev.Metadata {
			if !utf8.ValidString(k) || !utf8.ValidString(v) {
				return fmt.Errorf("event %d of %q: %w: metadata %q is not valid UTF-8, which an archive cannot hold as it is", ev.Revision, ev.Stream, chronicle.ErrInvalidEvent, k)
			}
		}
		// Encode ends each value with '\n', which makes it a line.
		if err := e.enc.Encode(newLine(ev)); err != nil {
			return fmt.Errorf("write event %d of %q: %w", ev.Revision, ev.Stream, err)
		}
		e.res.Events++
		e.res.LastPosition = max(e.res.LastPosition, ev.Position)
		if !e.streams[ev.Stream] {
			e.streams[ev.Stream] = true
			e.res.Streams++
		}
		if e.opts.Progress != nil {
			e.opts.Progress(e.res)
		}
	}
	return nil
}

func (e *exporter) flush() error {
	if err := e.w.Flush(); err != nil {
		return fmt.Errorf("export: write: %w", err)
	}
	return nil
}
