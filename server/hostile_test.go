package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/memory"
	"github.com/chronicle-es/chronicle/sqlite"
	"github.com/google/uuid"
)

// TestMalformedQueryRefused: a query string that cannot be read, such as
// one with a bare '%' or a ';', is refused with 400, rather than read
// without the parameters it garbles: a delete whose expectedRevision was
// lost went ahead as if it expected any revision.
func TestMalformedQueryRefused(t *testing.T) {
	_, ts := newTestServer(t, nil, nil)
	post(t, ts, "/api/streams/s", appendBody(`"no-stream"`, "E", 3)).want(t, 201, "")
	for _, tt := range []struct{ method, path string }{
		{"DELETE", "/api/streams/s?expectedRevision=1%"},
		{"DELETE", "/api/streams/s?expectedRevision=1;tombstone=true"},
		{"GET", "/api/all?prefix=50%"},
		{"GET", "/api/streams/s?limit=1;from=2"},
		{"GET", "/api/streams?category=%zz"},
		{"GET", "/api/all/subscribe?from=%"},
		{"GET", "/api/streams/s/subscribe?from=1%"},
	} {
		a := do(t, ts, req{method: tt.method, path: tt.path}).want(t, 400, "bad_request")
		if msg := a.json(t)["error"].(string); !strings.Contains(msg, "query") || !strings.Contains(msg, "%25") {
			t.Errorf("%s %s: message %q does not say that the query cannot be read, and how to write a %%", tt.method, tt.path, msg)
		}
	}
	if a := get(t, ts, "/streams?prefix=%"); a.status != 400 || !strings.Contains(a.header.Get("Content-Type"), "text/html") {
		t.Errorf("GET /streams?prefix=%%: %d %s, want 400 and a page", a.status, a.header.Get("Content-Type"))
	}
	// The refused delete deleted nothing.
	p := get(t, ts, "/api/streams/s").want(t, 200, "").json(t)
	if n := len(p["events"].([]any)); n != 3 {
		t.Errorf("after the refused deletes the stream has %d events, want 3", n)
	}
}

// TestBodyNotUTF8Refused: JSON is UTF-8, and a body with other bytes is
// refused, rather than stored with each of them replaced by U+FFFD, as
// encoding/json reads them into strings: an event's type or metadata, or
// a player's name, would be written other than sent, on a 201.
func TestBodyNotUTF8Refused(t *testing.T) {
	id := uuid.NewString()
	for name, open := range map[string]func(t *testing.T) chronicle.Store{
		"Memory": func(t *testing.T) chronicle.Store { return memory.New(nil) },
		"SQLite": func(t *testing.T) chronicle.Store { return sqliteStore(t) },
	} {
		t.Run(name, func(t *testing.T) {
			_, ts := newTestServer(t, open(t), nil)
			for _, tt := range []struct{ method, path, body string }{
				{"POST", "/api/streams/s", `{"expectedRevision":"any","events":[{"id":"` + id + `","type":"Caf` + "\xe9" + `"}]}`},
				{"POST", "/api/streams/s", `{"expectedRevision":"any","events":[{"id":"` + id + `","type":"E","metadata":{"k` + "\xff" + `":"v"}}]}`},
				{"POST", "/api/streams/s", `{"expectedRevision":"any","events":[{"id":"` + id + `","type":"E","data":"` + "\xc3" + `"}]}`},
				{"POST", "/api/games", `{"playerOne":"Ren` + "\xe9" + `e","playerTwo":"Bob"}`},
			} {
				a := do(t, ts, req{method: tt.method, path: tt.path, body: tt.body}).want(t, 400, "bad_request")
				if msg := a.json(t)["error"].(string); !strings.Contains(msg, "UTF-8") {
					t.Errorf("%s %s: message %q does not say that the body is not UTF-8", tt.method, tt.path, msg)
				}
			}
			get(t, ts, "/api/streams/s").want(t, 404, "stream_not_found")
			if g := get(t, ts, "/api/games").want(t, 200, "").json(t)["games"].([]any); len(g) != 0 {
				t.Errorf("a refused game was started: %v", g)
			}
		})
	}
}

// TestContentTypeIsAMediaType: a media type's name is case-insensitive
// (RFC 9110), so that APPLICATION/JSON is JSON, and is a whole name, so
// that application/jsonx is not.
func TestContentTypeIsAMediaType(t *testing.T) {
	_, ts := newTestServer(t, nil, nil)
	for ct, status := range map[string]int{
		"application/json":                 201,
		"APPLICATION/JSON":                 201,
		"Application/Json; charset=UTF-8":  201,
		"application/json ; charset=utf-8": 201,
		"application/jsonx":                415,
		"application/json-seq":             415,
		"text/plain":                       415,
	} {
		a := do(t, ts, req{method: "POST", path: "/api/streams/s", body: appendBody(`"any"`, "E", 1), header: map[string]string{"Content-Type": ct}})
		if a.status != status {
			t.Errorf("Content-Type %q: %d, want %d\n%s", ct, a.status, status, a.body)
		}
	}
	p := get(t, ts, "/api/streams/s").want(t, 200, "").json(t)
	if n := len(p["events"].([]any)); n != 4 {
		t.Errorf("%d events written, want 4 (one per append accepted)", n)
	}
}

// storeState sums up what a request could change in store: every
// event of the log, the streams and their last revisions, and the
// metadata of stream s, so that a refused request can be shown to have
// changed none of it.
func storeState(t *testing.T, store chronicle.Store) string {
	t.Helper()
	ctx := context.Background()
	var b strings.Builder
	for e, err := range store.ReadAll(ctx, chronicle.ReadAllOptions{}) {
		if err != nil {
			t.Fatalf("read the log: %v", err)
		}
		fmt.Fprintf(&b, "%d %s %d %s %s %x %v\n", e.Position, e.Stream, e.Revision, e.ID, e.Type, e.Data, e.Metadata)
	}
	infos, err := store.(chronicle.StreamLister).ListStreams(ctx, chronicle.ListStreamsOptions{})
	if err != nil {
		t.Fatalf("list the streams: %v", err)
	}
	for _, in := range infos {
		fmt.Fprintf(&b, "stream %s at %d\n", in.Stream, in.LastRevision)
	}
	m, err := store.(chronicle.Retention).StreamMetadata(ctx, "s")
	fmt.Fprintf(&b, "metadata of s: %+v %v\n", m, err)
	return b.String()
}

// FuzzRequests sends any request to the server, over a memory store and
// a SQLite one, and checks what the project promises of bad input: the
// server does not panic (the handler is called directly, so a panic
// fails the test rather than being recovered by net/http), answers no
// 5xx, answers a refusal on the API in JSON with an error and a code,
// and writes nothing when it refuses.
func FuzzRequests(f *testing.F) {
	id := "0b8e3c4e-1d2a-4c77-9a52-0c8f0f1d2e3a"
	for _, seed := range []struct{ method, target, contentType, body, lastEventID string }{
		{"POST", "/api/streams/s", "application/json", `{"expectedRevision":2,"events":[{"id":"` + id + `","type":"E","data":{"n":1}}]}`, ""},
		{"POST", "/api/streams/s", "application/json", `{"expectedRevision":"no-stream","events":[{"id":"` + id + `","type":"E"},{"id":"` + id + `","type":"E"}]}`, ""},
		{"POST", "/api/streams/s", "application/json", `{"expectedRevision":18446744073709551616,"events":[{"id":"x","type":"\u0000"}]}`, ""},
		{"POST", "/api/streams/a%2Fb%00", "", `{"expectedRevision":"any","events":[{"id":"` + id + `","type":"E","dataBase64":"!"}]}`, ""},
		{"POST", "/api/streams/s", "APPLICATION/JSON", `{"expectedRevision":`, ""},
		{"DELETE", "/api/streams/s?expectedRevision=1%&tombstone=true", "", "", ""},
		{"DELETE", "/api/streams/s?expectedRevision=-1", "", "", ""},
		{"PUT", "/api/streams/s/metadata", "application/json", `{"maxAge":"-1h","maxCount":1.5,"truncateBefore":-1}`, ""},
		{"GET", "/api/streams/s?from=18446744073709551615&direction=backwards&limit=1001", "", "", ""},
		{"GET", "/api/all?prefix=%FF&type=&category=a-b", "", "", ""},
		{"GET", "/api/streams?before=0&limit=x", "", "", ""},
		{"GET", "/api/all/subscribe?from=18446744073709551615", "", "", "18446744073709551615"},
		{"GET", "/api/streams/s/subscribe", "", "", "-1"},
		{"POST", "/api/games/" + id + "/moves", "application/json", `{"player":"\u202e","column":"Z"}`, ""},
		{"PATCH", "/streams/%E2%80%8B?before=1;limit=2", "", "", ""},
	} {
		f.Add(seed.method, seed.target, seed.contentType, seed.body, seed.lastEventID)
	}
	type served struct {
		store   chronicle.Store
		handler http.Handler
	}
	var servers []served
	for _, open := range []func() chronicle.Store{
		func() chronicle.Store { return memory.New(nil) },
		func() chronicle.Store {
			st, err := sqlite.Open(context.Background(), filepath.Join(f.TempDir(), "events.db"), &sqlite.Options{Durability: sqlite.Relaxed})
			if err != nil {
				f.Fatal(err)
			}
			f.Cleanup(func() { st.Close() })
			return st
		},
	} {
		store := open()
		if _, err := store.Append(context.Background(), "s", chronicle.NoStream,
			chronicle.EventData{ID: uuid.New(), Type: "E"}, chronicle.EventData{ID: uuid.New(), Type: "E"}, chronicle.EventData{ID: uuid.New(), Type: "E"}); err != nil {
			f.Fatal(err)
		}
		s, err := New(store, &Options{MaxBodyBytes: 64 << 10})
		if err != nil {
			f.Fatal(err)
		}
		f.Cleanup(s.Close)
		servers = append(servers, served{store, s.Handler()})
	}
	f.Fuzz(func(t *testing.T, method, target, contentType, body, lastEventID string) {
		if !strings.HasPrefix(target, "/") {
			target = "/" + target
		}
		for _, v := range []string{contentType, lastEventID} {
			if strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 && r != '\t' || r == 0x7f }) {
				return // no server reads such a header: net/http refuses it
			}
		}
		for _, sv := range servers {
			// A subscription that is taken runs until its request ends.
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			r, err := http.NewRequestWithContext(ctx, method, "http://127.0.0.1"+target, strings.NewReader(body))
			if err != nil {
				cancel()
				return // not a request that reaches a server
			}
			r.RemoteAddr = "127.0.0.1:1"
			if contentType != "" {
				r.Header.Set("Content-Type", contentType)
			}
			if lastEventID != "" {
				r.Header.Set("Last-Event-ID", lastEventID)
			}
			before := storeState(t, sv.store)
			w := httptest.NewRecorder()
			sv.handler.ServeHTTP(w, r)
			cancel()
			status, answer := w.Code, w.Body.String()
			if status >= 500 {
				t.Fatalf("%s %q: %d for user input\n%s", method, target, status, answer)
			}
			if status < 300 {
				continue
			}
			if after := storeState(t, sv.store); after != before {
				t.Fatalf("%s %q: refused with %d, but the store changed:\nbefore:\n%s\nafter:\n%s", method, target, status, before, after)
			}
			if !strings.HasPrefix(r.URL.Path, "/api/") || status < 400 {
				continue
			}
			var e struct{ Error, Code string }
			if err := json.Unmarshal([]byte(answer), &e); err != nil || e.Error == "" || e.Code == "" ||
				!strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") {
				t.Fatalf("%s %q: %d without a JSON error and code (%s)\n%s", method, target, status, w.Header().Get("Content-Type"), answer)
			}
		}
	})
}

// TestAPIRootAnswersJSON: /api, without its slash, is the API's, and
// its "not found" is JSON, as under /api/, not the UI's page; so is that
// of a path that cleans to it, such as /api/streams/.., which the mux
// redirects there.
func TestAPIRootAnswersJSON(t *testing.T) {
	_, ts := newTestServer(t, nil, nil)
	for _, path := range []string{"/api", "/api/streams/.."} {
		for _, method := range []string{"GET", "DELETE"} {
			a := do(t, ts, req{method: method, path: path}).want(t, 404, "not_found")
			if !strings.HasPrefix(a.header.Get("Content-Type"), "application/json") {
				t.Errorf("%s %s: Content-Type %q, want JSON", method, path, a.header.Get("Content-Type"))
			}
		}
	}
}

// TestEmptyTypeFilterRefused: no event has an empty type, so a read or
// a subscription of the log filtered by type= (as a form with the field
// left blank sends) selected nothing: an empty page, or a subscription
// that never sent an event, without a word. It is refused, with what to
// do, as a prefix or category left blank means no filter.
func TestEmptyTypeFilterRefused(t *testing.T) {
	_, ts := newTestServer(t, nil, nil)
	post(t, ts, "/api/streams/s", appendBody(`"any"`, "E", 2)).want(t, 201, "")
	for _, path := range []string{"/api/all?type=", "/api/all?type=E&type=", "/api/all/subscribe?type=", "/api/all/subscribe?from=1&type=&type=E"} {
		a := get(t, ts, path).want(t, 400, "bad_request")
		if msg := a.json(t)["error"].(string); !strings.Contains(msg, "type") || !strings.Contains(msg, "leave it out") {
			t.Errorf("%s: message %q does not say that a type is empty, and what to do", path, msg)
		}
	}
	p := get(t, ts, "/api/all?type=E&category=&prefix=").want(t, 200, "").json(t)
	if n := len(p["events"].([]any)); n != 2 {
		t.Errorf("type=E with a blank prefix and category: %d events, want 2", n)
	}
}
