package server

import (
	"strings"
	"testing"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/memory"
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
