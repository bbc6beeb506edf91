package server

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/chronicle-es/chronicle"
	"github.com/google/uuid"
)

// Paging limits of reads.
const (
	defaultPage = 20
	maxPage     = 1000
)

// eventJSON is an event as the API shows it. Data that is JSON is
// embedded as it is; other data is given in base64.
type eventJSON struct {
	Stream     string             `json:"stream"`
	Revision   uint64             `json:"revision"`
	Position   uint64             `json:"position"`
	ID         string             `json:"id"`
	Type       string             `json:"type"`
	Recorded   string             `json:"recorded"`
	Data       json.RawMessage    `json:"data,omitempty"`
	DataBase64 string             `json:"dataBase64,omitempty"`
	Metadata   chronicle.Metadata `json:"metadata,omitempty"`
}

// recordedFormat shows times as the stores keep them: UTC, microseconds.
const recordedFormat = "2006-01-02T15:04:05.000000Z07:00"

func toJSON(e chronicle.RecordedEvent) eventJSON {
	out := eventJSON{Stream: e.Stream, Revision: e.Revision, Position: e.Position, ID: e.ID.String(),
		Type: e.Type, Recorded: e.Recorded.UTC().Format(recordedFormat), Metadata: e.Metadata}
	switch {
	case len(e.Data) == 0:
	case utf8.Valid(e.Data) && json.Valid(e.Data):
		out.Data = json.RawMessage(e.Data)
	default:
		out.DataBase64 = base64.StdEncoding.EncodeToString(e.Data)
	}
	return out
}

// expectedJSON shows an expected revision as the API takes it: a number,
// or "any", "no-stream" or "exists".
func expectedJSON(e chronicle.ExpectedRevision) any {
	switch {
	case e.IsNoStream():
		return "no-stream"
	case e.IsStreamExists():
		return "exists"
	case e.IsAny():
		return "any"
	}
	rev, _ := e.Revision()
	return rev
}

// parseExpected reads an expected revision from JSON or a query string.
func parseExpected(raw json.RawMessage) (chronicle.ExpectedRevision, error) {
	const want = `want a revision number, or "any", "no-stream" or "exists"`
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		switch s {
		case "any":
			return chronicle.Any, nil
		case "no-stream":
			return chronicle.NoStream, nil
		case "exists":
			return chronicle.StreamExists, nil
		}
		if rev, err := strconv.ParseUint(s, 10, 64); err == nil {
			return chronicle.Exact(rev), nil
		}
		return chronicle.Any, fmt.Errorf("expectedRevision %q: %s", s, want)
	}
	var n json.Number
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	if err := dec.Decode(&n); err == nil {
		if rev, err := strconv.ParseUint(n.String(), 10, 64); err == nil {
			return chronicle.Exact(rev), nil
		}
	}
	return chronicle.Any, fmt.Errorf("expectedRevision %s: %s", raw, want)
}

// appendRequest is the body of an append.
type appendRequest struct {
	ExpectedRevision json.RawMessage `json:"expectedRevision"`
	Events           []appendEvent   `json:"events"`
}

type appendEvent struct {
	ID         string             `json:"id"`
	Type       string             `json:"type"`
	Data       json.RawMessage    `json:"data"`
	DataBase64 *string            `json:"dataBase64"`
	Metadata   chronicle.Metadata `json:"metadata"`
}

// maxEventsPerAppend bounds one append, so that a request's work is
// bounded by more than its size.
const maxEventsPerAppend = 10000

// decodeBody decodes a request's JSON body into v, strictly: unknown
// fields and trailing data are errors, so that a typo is not ignored.
func decodeBody(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !isJSON(ct) {
		return &Error{Status: http.StatusUnsupportedMediaType, Code: "unsupported_media_type",
			Message: fmt.Sprintf("the body is %s: send JSON, with Content-Type: application/json", ct)}
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		if tooBig := (*http.MaxBytesError)(nil); errors.As(err, &tooBig) {
			return err
		}
		return badRequest("the body cannot be read: %v", err)
	}
	// encoding/json reads bytes that are not UTF-8 into a string as
	// U+FFFD: an event's type, or a name, would be stored other than sent.
	if !utf8.Valid(body) {
		return badRequest("the body is not valid JSON: it holds bytes that are not UTF-8 (at byte %d): send text in UTF-8, and binary data in base64 (an event's dataBase64)", firstInvalid(body))
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var syntax *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.Is(err, io.EOF):
			return badRequest("the request has no body: send a JSON object")
		case errors.Is(err, io.ErrUnexpectedEOF):
			return badRequest("the body is not valid JSON: it ends too soon")
		case errors.As(err, &syntax):
			return badRequest("the body is not valid JSON: %v (at byte %d)", syntax, syntax.Offset)
		case errors.As(err, &typ) && typ.Field == "":
			return badRequest("the body is a JSON %s: send a JSON object", typ.Value)
		case errors.As(err, &typ):
			return badRequest("field %q: want %s, not a JSON %s", typ.Field, jsonKind(typ.Type), typ.Value)
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return badRequest("unknown field %s in the body", strings.TrimPrefix(err.Error(), "json: unknown field "))
		}
		return badRequest("the body cannot be read as JSON: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return badRequest("the body holds more than one JSON value")
	}
	return nil
}

// isJSON reports whether the media type of a Content-Type is JSON's,
// whose name, like any, is case-insensitive, whatever its parameters.
func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return (err == nil || errors.Is(err, mime.ErrInvalidMediaParameter)) && mt == "application/json"
}

// firstInvalid returns the offset of the first byte of b that is not
// part of valid UTF-8.
func firstInvalid(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return len(b)
}

// jsonKind says what JSON a field of type t takes, in the words of the
// JSON that a client sends rather than the server's Go types.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		return "a JSON object"
	case reflect.Slice, reflect.Array:
		return "a JSON array"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number, 0 or more"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "a whole number"
	case reflect.Pointer:
		return jsonKind(t.Elem())
	}
	return "another JSON value"
}

func (s *Server) apiAppend(w http.ResponseWriter, r *http.Request) {
	stream := r.PathValue("stream")
	if err := checkQuery(r); err != nil {
		s.apiFail(w, r, err)
		return
	}
	if err := chronicle.ValidateStreamName(stream); err != nil {
		s.apiFail(w, r, err)
		return
	}
	var req appendRequest
	if err := decodeBody(r, &req); err != nil {
		s.apiFail(w, r, err)
		return
	}
	expected, events, err := req.validate()
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	// A retry of an append already written succeeds without writing
	// anything, and reports where its events were written the first
	// time: at or below the head of the log before it, whereas an append
	// that writes puts its events after it, as positions follow commit
	// order. (A retry sent while the first attempt is still being
	// written may be counted as written; a head that cannot be read
	// counts the append as written.)
	head, headErr := s.head(r.Context())
	res, err := s.store.Append(r.Context(), stream, expected, events...)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	s.m.appends.Inc()
	if headErr == nil && res.LastPosition <= head {
		s.m.appendRetries.Inc()
	} else {
		s.m.appendedEvents.Add(float64(len(events)))
	}
	writeJSON(w, http.StatusCreated, map[string]any{
		"stream":               stream,
		"firstRevision":        res.FirstRevision,
		"lastRevision":         res.LastRevision,
		"firstPosition":        res.FirstPosition,
		"lastPosition":         res.LastPosition,
		"nextExpectedRevision": res.LastRevision,
	})
}

// validate checks an append request and returns what to append.
func (req appendRequest) validate() (chronicle.ExpectedRevision, []chronicle.EventData, error) {
	// A json.RawMessage holds a JSON null as the text "null".
	if req.ExpectedRevision == nil || string(req.ExpectedRevision) == "null" {
		return chronicle.Any, nil, badRequest(`expectedRevision is missing: give the stream's last revision, or "no-stream", "exists" or "any"`)
	}
	expected, err := parseExpected(req.ExpectedRevision)
	if err != nil {
		return chronicle.Any, nil, badRequest("%v", err)
	}
	switch {
	case len(req.Events) == 0:
		return expected, nil, badRequest("events is empty: give at least one event")
	case len(req.Events) > maxEventsPerAppend:
		return expected, nil, badRequest("%d events in one append: at most %d", len(req.Events), maxEventsPerAppend)
	}
	events := make([]chronicle.EventData, len(req.Events))
	for i, e := range req.Events {
		if e.ID == "" {
			return expected, nil, badRequest("events[%d] has no id: give each event a UUID, so that a retried append is not written twice", i)
		}
		id, err := uuid.Parse(e.ID)
		if err != nil || id == uuid.Nil {
			return expected, nil, badRequest("events[%d].id %q is not a UUID (such as %s)", i, e.ID, uuid.NewString())
		}
		if e.Type == "" {
			return expected, nil, badRequest("events[%d] has no type: name what happened, such as \"OrderPlaced\"", i)
		}
		if !utf8.ValidString(e.Type) || strings.ContainsFunc(e.Type, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return expected, nil, badRequest("events[%d].type %q holds control characters or invalid UTF-8", i, e.Type)
		}
		ed := chronicle.EventData{ID: id, Type: e.Type, Metadata: e.Metadata}
		switch {
		case e.Data != nil && e.DataBase64 != nil:
			return expected, nil, badRequest("events[%d] has both data and dataBase64: give one", i)
		case e.DataBase64 != nil:
			if ed.Data, err = base64.StdEncoding.DecodeString(*e.DataBase64); err != nil {
				return expected, nil, badRequest("events[%d].dataBase64 is not base64: %v", i, err)
			}
		case e.Data != nil && string(e.Data) != "null":
			ed.Data = e.Data
		}
		events[i] = ed
	}
	return expected, events, nil
}

// checkQuery refuses query parameters other than those allowed, so that
// a misspelt parameter is not silently ignored, and a query that cannot
// be read, whose garbled parameters r.URL.Query would leave out: a
// delete would go ahead without its expected revision.
func checkQuery(r *http.Request, allowed ...string) error {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return badRequest("the query %q cannot be read (%v): write a %% in a value as %%25, and separate parameters with &", r.URL.RawQuery, err)
	}
	for k, v := range q {
		if !slices.Contains(allowed, k) {
			if len(allowed) == 0 {
				return badRequest("unknown query parameter %q: this takes none", k)
			}
			return badRequest("unknown query parameter %q: this takes %s", k, strings.Join(allowed, ", "))
		}
		if len(v) > 1 && k != "type" {
			return badRequest("query parameter %q is given %d times: give it once", k, len(v))
		}
	}
	return nil
}

// pageQuery is the paging of a read: direction, start and size.
type pageQuery struct {
	backwards bool
	from      uint64
	limit     int
}

func parsePage(q url.Values, what string) (pageQuery, error) {
	p := pageQuery{limit: defaultPage}
	switch d := q.Get("direction"); d {
	case "", "forwards":
	case "backwards":
		p.backwards = true
		p.from = chronicle.End
	default:
		return p, badRequest("direction %q: want forwards or backwards", d)
	}
	if f := q.Get("from"); f != "" {
		if f == "end" {
			p.from = chronicle.End
		} else {
			n, err := strconv.ParseUint(f, 10, 64)
			if err != nil {
				return p, badRequest("from %q: want a %s (0 or more), or end", f, what)
			}
			p.from = n
		}
	}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > maxPage {
			return p, badRequest("limit %q: want a number of events from 1 to %d", l, maxPage)
		}
		p.limit = n
	}
	return p, nil
}

// pageJSON is a page of events, with where the next page starts.
type pageJSON struct {
	Stream    string      `json:"stream,omitempty"`
	Direction string      `json:"direction"`
	Events    []eventJSON `json:"events"`
	// NextFrom is the "from" of the next page, absent when this one is
	// not full; a full page may be the last, and the next one empty.
	NextFrom *uint64 `json:"nextFrom,omitempty"`
}

func newPage(p pageQuery, stream string) pageJSON {
	dir := "forwards"
	if p.backwards {
		dir = "backwards"
	}
	return pageJSON{Stream: stream, Direction: dir, Events: []eventJSON{}}
}

// next sets the start of the next page after the event at n (a revision
// or position), when the page was full.
func (pg *pageJSON) next(p pageQuery, n uint64, full bool) {
	switch {
	case !full:
	case p.backwards && n > 0:
		v := n - 1
		pg.NextFrom = &v
	case !p.backwards && n < math.MaxUint64:
		v := n + 1
		pg.NextFrom = &v
	}
}

func (s *Server) apiReadStream(w http.ResponseWriter, r *http.Request) {
	stream := r.PathValue("stream")
	q := r.URL.Query()
	if err := checkQuery(r, "from", "direction", "limit"); err != nil {
		s.apiFail(w, r, err)
		return
	}
	p, err := parsePage(q, "revision")
	if err == nil {
		err = chronicle.ValidateStreamName(stream)
	}
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	page, err := s.readStream(r, stream, p)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}

func (s *Server) readStream(r *http.Request, stream string, p pageQuery) (pageJSON, error) {
	page := newPage(p, stream)
	var last uint64
	for e, err := range s.store.ReadStream(r.Context(), stream, chronicle.ReadStreamOptions{Backwards: p.backwards, From: p.from, Limit: p.limit}) {
		if err != nil {
			return page, err
		}
		page.Events = append(page.Events, toJSON(e))
		last = e.Revision
	}
	s.m.reads.Inc("stream")
	s.m.readEvents.Add(float64(len(page.Events)), "stream")
	page.next(p, last, len(page.Events) == p.limit)
	return page, nil
}

func (s *Server) apiReadAll(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if err := checkQuery(r, "from", "direction", "limit", "prefix", "category", "type"); err != nil {
		s.apiFail(w, r, err)
		return
	}
	p, err := parsePage(q, "position")
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	f, err := filterOf(q)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	page, err := s.readAll(r, p, f)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}

// filterOf reads the filter of a read or a subscription of the log. A
// type left blank is refused: no event has an empty type, so it would
// select nothing, where a blank prefix or category selects everything.
func filterOf(q url.Values) (chronicle.Filter, error) {
	f := chronicle.Filter{StreamPrefix: q.Get("prefix"), Types: q["type"]}
	if c := q.Get("category"); c != "" {
		f.Categories = []string{c}
	}
	if slices.Contains(f.Types, "") {
		return f, badRequest("type is empty, and no event has an empty type: give an event type to select, or leave it out to select every type")
	}
	return f, nil
}

func (s *Server) readAll(r *http.Request, p pageQuery, f chronicle.Filter) (pageJSON, error) {
	page := newPage(p, "")
	var last uint64
	for e, err := range s.store.ReadAll(r.Context(), chronicle.ReadAllOptions{Backwards: p.backwards, From: p.from, Limit: p.limit, Filter: f}) {
		if err != nil {
			return page, err
		}
		page.Events = append(page.Events, toJSON(e))
		last = e.Position
	}
	s.m.reads.Inc("all")
	s.m.readEvents.Add(float64(len(page.Events)), "all")
	page.next(p, last, len(page.Events) == p.limit)
	return page, nil
}

// streamJSON is a stream as the stream list shows it.
type streamJSON struct {
	Stream       string `json:"stream"`
	LastRevision uint64 `json:"lastRevision"`
	LastPosition uint64 `json:"lastPosition"`
	LastRecorded string `json:"lastRecorded"`
}

// streamList is a page of the stream list.
type streamList struct {
	Streams []streamJSON `json:"streams"`
	// NextBefore is the "before" of the next page, absent after the last.
	NextBefore *uint64 `json:"nextBefore,omitempty"`
	// Partial says the list comes from the newest events only, on a store
	// that cannot list its streams.
	Partial bool `json:"partial,omitempty"`
}

func (s *Server) apiListStreams(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if err := checkQuery(r, "prefix", "category", "before", "limit"); err != nil {
		s.apiFail(w, r, err)
		return
	}
	opts, err := parseListStreams(q)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	list, err := s.listStreams(r, opts)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, list)
}

func parseListStreams(q url.Values) (chronicle.ListStreamsOptions, error) {
	opts := chronicle.ListStreamsOptions{Prefix: q.Get("prefix"), Category: q.Get("category"), Limit: 50}
	if b := q.Get("before"); b != "" {
		n, err := strconv.ParseUint(b, 10, 64)
		if err != nil || n == 0 {
			return opts, badRequest("before %q: want a global position, 1 or more", b)
		}
		opts.Before = n
	}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > maxPage {
			return opts, badRequest("limit %q: want a number of streams from 1 to %d", l, maxPage)
		}
		opts.Limit = n
	}
	// Refused as a StreamLister refuses them, also on a store that is
	// not one, whose log the server reads instead.
	return opts, opts.Validate()
}

// scanLimit bounds how many events a stream list reads from the global
// log on a store that cannot list its streams.
const scanLimit = 100_000

func (s *Server) listStreams(r *http.Request, opts chronicle.ListStreamsOptions) (streamList, error) {
	list := streamList{Streams: []streamJSON{}}
	var infos []chronicle.StreamInfo
	l, listed := s.store.(chronicle.StreamLister)
	if listed {
		var err error
		infos, err = l.ListStreams(r.Context(), opts)
		// A wrapping store says so when the store beneath cannot list.
		listed = !errors.Is(err, errors.ErrUnsupported)
		if listed && err != nil {
			return list, err
		}
	}
	if !listed {
		// Walk the log back from the newest event, keeping each stream's
		// first (newest) sighting. A stream seen is not listed again, and
		// one seen at or after Before was on an earlier page.
		seen := map[string]bool{}
		f := chronicle.Filter{StreamPrefix: opts.Prefix}
		if opts.Category != "" {
			f.Categories = []string{opts.Category}
		}
		n := 0
		// One event more than the scan reads tells whether there are more.
		for e, err := range s.store.ReadAll(r.Context(), chronicle.ReadAllOptions{Backwards: true, From: chronicle.End, Filter: f, Limit: scanLimit + 1}) {
			if err != nil {
				return list, err
			}
			if n++; n > scanLimit {
				list.Partial = true
				break
			}
			if seen[e.Stream] {
				continue
			}
			seen[e.Stream] = true
			if opts.Before > 0 && e.Position >= opts.Before {
				continue
			}
			infos = append(infos, chronicle.StreamInfo{Stream: e.Stream, LastRevision: e.Revision, LastPosition: e.Position, LastRecorded: e.Recorded})
			if len(infos) == opts.Limit {
				break
			}
		}
	}
	for _, in := range infos {
		list.Streams = append(list.Streams, streamJSON{Stream: in.Stream, LastRevision: in.LastRevision,
			LastPosition: in.LastPosition, LastRecorded: in.LastRecorded.UTC().Format(recordedFormat)})
	}
	if opts.Limit > 0 && len(infos) == opts.Limit {
		b := infos[len(infos)-1].LastPosition
		list.NextBefore = &b
	}
	return list, nil
}

// metadataJSON is a stream's retention metadata in the API.
type metadataJSON struct {
	// MaxAge is a Go duration, such as "720h"; "" for no limit.
	MaxAge         string `json:"maxAge"`
	MaxCount       uint64 `json:"maxCount"`
	TruncateBefore uint64 `json:"truncateBefore"`
}

func metadataToJSON(m chronicle.StreamMetadata) metadataJSON {
	out := metadataJSON{MaxCount: m.MaxCount, TruncateBefore: m.TruncateBefore}
	if m.MaxAge > 0 {
		out.MaxAge = m.MaxAge.String()
	}
	return out
}

var errNoRetention = &Error{Status: http.StatusNotImplemented, Code: "not_supported",
	Message: "this store keeps no stream metadata"}

func (s *Server) apiGetMetadata(w http.ResponseWriter, r *http.Request) {
	stream := r.PathValue("stream")
	if err := checkQuery(r); err != nil {
		s.apiFail(w, r, err)
		return
	}
	if err := chronicle.ValidateStreamName(stream); err != nil {
		s.apiFail(w, r, err)
		return
	}
	ret, ok := s.store.(chronicle.Retention)
	if !ok {
		s.apiFail(w, r, errNoRetention)
		return
	}
	m, err := ret.StreamMetadata(r.Context(), stream)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, metadataToJSON(m))
}

func (s *Server) apiSetMetadata(w http.ResponseWriter, r *http.Request) {
	stream := r.PathValue("stream")
	if err := checkQuery(r); err != nil {
		s.apiFail(w, r, err)
		return
	}
	if err := chronicle.ValidateStreamName(stream); err != nil {
		s.apiFail(w, r, err)
		return
	}
	ret, ok := s.store.(chronicle.Retention)
	if !ok {
		s.apiFail(w, r, errNoRetention)
		return
	}
	// Pointers, to tell a field left out from one set to its zero.
	var req struct {
		MaxAge         *string `json:"maxAge"`
		MaxCount       *uint64 `json:"maxCount"`
		TruncateBefore *uint64 `json:"truncateBefore"`
	}
	if err := decodeBody(r, &req); err != nil {
		s.apiFail(w, r, err)
		return
	}
	var missing []string
	for _, f := range []struct {
		name string
		set  bool
	}{{"maxAge", req.MaxAge != nil}, {"maxCount", req.MaxCount != nil}, {"truncateBefore", req.TruncateBefore != nil}} {
		if !f.set {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		s.apiFail(w, r, badRequest("the body lacks %s: PUT replaces all the stream's metadata, so give every field (\"\" or 0 for none)", strings.Join(missing, " and ")))
		return
	}
	m := chronicle.StreamMetadata{MaxCount: *req.MaxCount, TruncateBefore: *req.TruncateBefore}
	if *req.MaxAge != "" {
		d, err := time.ParseDuration(*req.MaxAge)
		if err != nil || d < 0 {
			s.apiFail(w, r, badRequest("maxAge %q: want a duration such as 720h or 90m, or \"\" for no limit", *req.MaxAge))
			return
		}
		m.MaxAge = d
	}
	if err := ret.SetStreamMetadata(r.Context(), stream, m); err != nil {
		s.apiFail(w, r, err)
		return
	}
	if m, err := ret.StreamMetadata(r.Context(), stream); err == nil {
		writeJSON(w, http.StatusOK, metadataToJSON(m))
		return
	}
	writeJSON(w, http.StatusOK, metadataToJSON(m))
}

func (s *Server) apiDelete(w http.ResponseWriter, r *http.Request) {
	stream := r.PathValue("stream")
	q := r.URL.Query()
	if err := checkQuery(r, "expectedRevision", "tombstone"); err != nil {
		s.apiFail(w, r, err)
		return
	}
	if err := chronicle.ValidateStreamName(stream); err != nil {
		s.apiFail(w, r, err)
		return
	}
	expected := chronicle.Any
	if e := q.Get("expectedRevision"); e != "" {
		var err error
		if expected, err = parseExpected(json.RawMessage(strconv.Quote(e))); err != nil {
			s.apiFail(w, r, badRequest("%v", err))
			return
		}
	}
	tomb := false
	switch t := q.Get("tombstone"); t {
	case "", "false":
	case "true":
		tomb = true
	default:
		s.apiFail(w, r, badRequest("tombstone %q: want true or false", t))
		return
	}
	d, ok := s.store.(chronicle.Deleter)
	if !ok {
		s.apiFail(w, r, &Error{Status: http.StatusNotImplemented, Code: "not_supported", Message: "this store cannot delete streams"})
		return
	}
	var err error
	if tomb {
		err = d.Tombstone(r.Context(), stream, expected)
	} else {
		err = d.Delete(r.Context(), stream, expected)
	}
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
