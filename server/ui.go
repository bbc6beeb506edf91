package server

import (
	"bytes"
	"embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/chronicle-es/chronicle"
)

// The UI's templates and assets are embedded, so that the binary is all a
// user needs, and the pages load nothing from elsewhere.
//
//go:embed ui/templates/*.html ui/static/*
var uiFiles embed.FS

// ui renders the web UI's pages. Every value shown goes through
// html/template, which escapes it for where it appears, so that event
// contents cannot inject markup or scripts.
type ui struct {
	s      *Server
	pages  map[string]*template.Template
	assets fs.FS // the files under /static/
}

func newUI(s *Server) (*ui, error) {
	funcs := template.FuncMap{
		"pretty":     prettyData,
		"prettyMeta": prettyMeta,
		"time":       shownTime,
		// apiTime shows a time as the API writes it (recordedFormat) as
		// "time" does; anything else as it is.
		"apiTime": func(s string) string {
			t, err := time.Parse(recordedFormat, s)
			if err != nil {
				return s
			}
			return shownTime(t)
		},
		"streamURL": func(stream string) string { return "/streams/" + url.PathEscape(stream) },
	}
	u := &ui{s: s, pages: map[string]*template.Template{}}
	layout, err := template.New("layout.html").Funcs(funcs).ParseFS(uiFiles, "ui/templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("parse the UI's layout: %w", err)
	}
	names, err := fs.Glob(uiFiles, "ui/templates/*.html")
	if err != nil {
		return nil, err
	}
	for _, name := range names {
		base := path.Base(name)
		if base == "layout.html" {
			continue
		}
		t, err := template.Must(layout.Clone()).ParseFS(uiFiles, name)
		if err != nil {
			return nil, fmt.Errorf("parse the UI's page %s: %w", base, err)
		}
		u.pages[base] = t
	}
	static, err := fs.Sub(uiFiles, "ui/static")
	if err != nil {
		return nil, err
	}
	u.assets = static
	return u, nil
}

// page is what every page's template gets.
type page struct {
	Title     string
	Nav       string
	StoreName string
	ReadOnly  bool
	Data      any
}

func (u *ui) render(w http.ResponseWriter, r *http.Request, status int, name, title, nav string, data any) {
	var buf bytes.Buffer
	p := page{Title: title, Nav: nav, StoreName: u.s.opts.StoreName, ReadOnly: u.s.opts.ReadOnly, Data: data}
	if err := u.pages[name].ExecuteTemplate(&buf, "layout.html", p); err != nil {
		u.s.log.Error("render page", "page", name, "err", err)
		http.Error(w, "the page could not be shown; the details are in the server's log", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	// Scripts and styles come from this server only: even if something
	// slipped past escaping, an injected inline script would not run.
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

func (u *ui) errorPage(w http.ResponseWriter, r *http.Request, e *Error) {
	u.render(w, r, e.Status, "error.html", http.StatusText(e.Status), "", e)
}

func (u *ui) fail(w http.ResponseWriter, r *http.Request, err error) {
	u.s.fail(w, r, route{pattern: "/"}, err)
}

// static serves one of the UI's assets. It serves files alone: a
// directory, which a file server would list, is not found, and neither is
// a file's name with a slash after it.
func (u *ui) static(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	if st, err := fs.Stat(u.assets, name); err != nil || !st.Mode().IsRegular() {
		u.fail(w, r, &Error{Status: http.StatusNotFound, Code: "not_found",
			Message: fmt.Sprintf("nothing here: %s is not a file of the UI", r.URL.Path)})
		return
	}
	w.Header().Set("Cache-Control", "public, max-age=300")
	http.ServeFileFS(w, r, u.assets, name)
}

// shownTime shows a time as the pages do, in UTC.
func shownTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05.000000 UTC") }

// maxShownData is how much of an event's data a page shows. Events may
// be many MiB (16 by default), and a page of them, or a tail of 500, would
// take the server and the browser gigabytes; the API reads them whole.
const maxShownData = 64 << 10

// prettyData shows event data for people: JSON indented, other text as
// it is, and binary data in base64; data over maxShownData is shortened.
// Escaping is the template's job.
func prettyData(data []byte) string {
	if len(data) > maxShownData {
		return shortened(data)
	}
	switch {
	case len(data) == 0:
		return ""
	case utf8.Valid(data) && json.Valid(data):
		var buf bytes.Buffer
		if json.Indent(&buf, data, "", "  ") == nil {
			return buf.String()
		}
	case utf8.Valid(data):
		return string(data)
	}
	return "base64: " + base64.StdEncoding.EncodeToString(data)
}

// shortened shows the first maxShownData bytes of data, cut where a
// character starts, as text if they are UTF-8 and else in base64 (not
// indented: a part of JSON is not JSON), and says how long the data is.
// The live tail's script shortens the same way.
func shortened(data []byte) string {
	note := fmt.Sprintf("\n… shortened: the data is %d bytes; the API's read of the event has it all", len(data))
	for cut := range utf8.UTFMax {
		if head := data[:maxShownData-cut]; utf8.Valid(head) {
			return string(head) + note
		}
	}
	return "base64: " + base64.StdEncoding.EncodeToString(data[:maxShownData]) + note
}

// prettyMeta shows event metadata for people, as indented JSON. Its text
// is not escaped for HTML, as json.Marshal would (a "<" would show as
// \u003c): that is the template's job.
func prettyMeta(m chronicle.Metadata) string {
	if len(m) == 0 {
		return ""
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	enc.Encode(m) // a map of strings: nothing to fail on
	return strings.TrimSuffix(buf.String(), "\n")
}

// bar is one bar of the append-rate chart.
type bar struct {
	X, Y, W, H float64
	Label      string
}

// chart lays out the append rate as bars in a 300×80 box.
func chart(rate []uint64, now time.Time) []bar {
	const width, height = 300.0, 80.0
	var top uint64 = 1
	for _, n := range rate {
		top = max(top, n)
	}
	w := width / float64(len(rate))
	out := make([]bar, len(rate))
	start := now.Truncate(time.Minute).Add(-time.Duration(len(rate)-1) * time.Minute)
	for i, n := range rate {
		h := height * float64(n) / float64(top)
		if n > 0 {
			h = max(h, 1)
		}
		out[i] = bar{X: float64(i) * w, Y: height - h, W: w - 2, H: h,
			Label: fmt.Sprintf("%s: %d events", start.Add(time.Duration(i)*time.Minute).UTC().Format("15:04 UTC"), n)}
	}
	return out
}

func (u *ui) dashboard(w http.ResponseWriter, r *http.Request) {
	st, err := u.s.Stats(r.Context())
	if err != nil {
		u.fail(w, r, err)
		return
	}
	var total uint64
	for _, n := range st.Rate {
		total += n
	}
	u.render(w, r, http.StatusOK, "dashboard.html", "Dashboard", "dashboard", map[string]any{
		"Stats": st, "Bars": chart(st.Rate, time.Now()), "RateTotal": total, "Minutes": len(st.Rate),
		"ReadModels": u.s.runner != nil,
	})
}

func (u *ui) streams(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if err := checkQuery(r, "prefix", "category", "before", "limit"); err != nil {
		u.fail(w, r, err)
		return
	}
	opts, err := parseListStreams(q)
	if err != nil {
		u.fail(w, r, err)
		return
	}
	list, err := u.s.listStreams(r, opts)
	if err != nil {
		u.fail(w, r, err)
		return
	}
	var next string
	if list.NextBefore != nil {
		v := url.Values{"before": {strconv.FormatUint(*list.NextBefore, 10)}}
		if opts.Prefix != "" {
			v.Set("prefix", opts.Prefix)
		}
		if opts.Category != "" {
			v.Set("category", opts.Category)
		}
		next = "/streams?" + v.Encode()
	}
	u.render(w, r, http.StatusOK, "streams.html", "Streams", "streams", map[string]any{
		"List": list, "Prefix": opts.Prefix, "Category": opts.Category, "Next": next, "Paged": opts.Before > 0,
	})
}

func (u *ui) stream(w http.ResponseWriter, r *http.Request) {
	stream := r.PathValue("stream")
	q := r.URL.Query()
	if err := checkQuery(r, "from", "direction", "limit"); err != nil {
		u.fail(w, r, err)
		return
	}
	p, err := parsePage(q, "revision")
	if err != nil {
		u.fail(w, r, err)
		return
	}
	if q.Get("direction") == "" && q.Get("from") == "" {
		// Newest first by default: what was written last is usually
		// what one looks for.
		p.backwards, p.from = true, chronicle.End
	}
	if err := chronicle.ValidateStreamName(stream); err != nil {
		u.fail(w, r, err)
		return
	}
	var events []chronicle.RecordedEvent
	for e, err := range u.s.store.ReadStream(r.Context(), stream, chronicle.ReadStreamOptions{Backwards: p.backwards, From: p.from, Limit: p.limit}) {
		if err != nil {
			u.fail(w, r, err)
			return
		}
		events = append(events, e)
	}
	var meta *metadataJSON
	if ret, ok := u.s.store.(chronicle.Retention); ok {
		if m, err := ret.StreamMetadata(r.Context(), stream); err == nil {
			mj := metadataToJSON(m)
			meta = &mj
		}
	}
	pg := newPage(p, stream)
	if len(events) > 0 {
		pg.next(p, events[len(events)-1].Revision, len(events) == p.limit)
	}
	var next string
	if pg.NextFrom != nil {
		next = fmt.Sprintf("/streams/%s?direction=%s&from=%d&limit=%d", url.PathEscape(stream), pg.Direction, *pg.NextFrom, p.limit)
	}
	u.render(w, r, http.StatusOK, "stream.html", stream, "streams", map[string]any{
		"Stream": stream, "Events": events, "Meta": meta, "Next": next, "Backwards": p.backwards,
	})
}

func (u *ui) tail(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if err := checkQuery(r, "stream"); err != nil {
		u.fail(w, r, err)
		return
	}
	stream := q.Get("stream")
	if stream != "" {
		if err := chronicle.ValidateStreamName(stream); err != nil {
			u.fail(w, r, err)
			return
		}
	}
	// Start with the latest events, then follow from the next position.
	var recent []chronicle.RecordedEvent
	var err error
	src := ""
	if stream == "" {
		src = "/api/all/subscribe"
		for e, rerr := range u.s.store.ReadAll(r.Context(), chronicle.ReadAllOptions{Backwards: true, From: chronicle.End, Limit: 20}) {
			if err = rerr; err != nil {
				break
			}
			recent = append(recent, e)
		}
		from := uint64(1)
		if len(recent) > 0 {
			from = recent[0].Position + 1
		}
		src += "?from=" + strconv.FormatUint(from, 10)
	} else {
		src = "/api/streams/" + url.PathEscape(stream) + "/subscribe"
		for e, rerr := range u.s.store.ReadStream(r.Context(), stream, chronicle.ReadStreamOptions{Backwards: true, From: chronicle.End, Limit: 20}) {
			if rerr != nil && !isNotFound(rerr) {
				err = rerr
			}
			if rerr != nil {
				break
			}
			recent = append(recent, e)
		}
		var from uint64
		if len(recent) > 0 {
			from = recent[0].Revision + 1
		}
		src += "?from=" + strconv.FormatUint(from, 10)
	}
	if err != nil {
		u.fail(w, r, err)
		return
	}
	u.render(w, r, http.StatusOK, "tail.html", "Live tail", "tail", map[string]any{
		"Stream": stream, "Recent": recent, "Source": src,
	})
}

func (u *ui) gamesPage(w http.ResponseWriter, r *http.Request) {
	if err := checkQuery(r); err != nil {
		u.fail(w, r, err)
		return
	}
	games, err := u.s.gameSummaries(r)
	if err != nil {
		u.fail(w, r, err)
		return
	}
	players, err := u.s.leaderboard(r)
	if err != nil {
		u.fail(w, r, err)
		return
	}
	u.render(w, r, http.StatusOK, "games.html", "Connect Four", "games", map[string]any{
		"Games": games, "Players": players, "ReadModels": u.s.runner != nil,
	})
}

func (u *ui) game(w http.ResponseWriter, r *http.Request) {
	if err := checkQuery(r, "as"); err != nil {
		u.fail(w, r, err)
		return
	}
	id, err := parseGameID(r)
	if err != nil {
		u.fail(w, r, err)
		return
	}
	g, err := u.s.loadGame(r, id)
	if err != nil {
		u.fail(w, r, err)
		return
	}
	as := r.URL.Query().Get("as")
	if as != g.PlayerOne && as != g.PlayerTwo || u.s.opts.ReadOnly {
		// Watching: the page offers no moves, which would be refused.
		as = ""
	}
	state, err := json.Marshal(g)
	if err != nil {
		u.fail(w, r, err)
		return
	}
	u.render(w, r, http.StatusOK, "game.html", g.PlayerOne+" v "+g.PlayerTwo, "games", map[string]any{
		"Game": g, "As": as, "State": string(state), "Columns": []string{"A", "B", "C", "D", "E", "F", "G"},
	})
}
