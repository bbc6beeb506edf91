package server

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/memory"
	"github.com/chronicle-es/chronicle/shred"
	"github.com/chronicle-es/chronicle/sqlite"
	"github.com/google/uuid"
)

// newTestServer serves store (a memory store when nil) with opts.
func newTestServer(t *testing.T, store chronicle.Store, opts *Options) (*Server, *httptest.Server) {
	t.Helper()
	if store == nil {
		store = memory.New(nil)
	}
	s, err := New(store, opts)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		s.Close()
		ts.Close()
	})
	return s, ts
}

func sqliteStore(t *testing.T) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "events.db"), &sqlite.Options{Durability: sqlite.Relaxed})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// answer is a response, read.
type answer struct {
	status int
	header http.Header
	body   string
}

func (a answer) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(a.body), &m); err != nil {
		t.Fatalf("answer is not a JSON object: %v\n%s", err, a.body)
	}
	return m
}

// want fails unless the answer has status and, for an error, code.
func (a answer) want(t *testing.T, status int, code string) answer {
	t.Helper()
	if a.status != status {
		t.Fatalf("status %d, want %d\n%s", a.status, status, a.body)
	}
	if code != "" {
		if got := a.json(t)["code"]; got != code {
			t.Fatalf("code %v, want %q\n%s", got, code, a.body)
		}
		if msg, _ := a.json(t)["error"].(string); msg == "" {
			t.Fatalf("error without a message:\n%s", a.body)
		}
	}
	return a
}

type req struct {
	method, path, body string
	header             map[string]string
}

func do(t *testing.T, ts *httptest.Server, r req) answer {
	t.Helper()
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	method := r.method
	if method == "" {
		method = "GET"
	}
	hr, err := http.NewRequest(method, ts.URL+r.path, body)
	if err != nil {
		t.Fatal(err)
	}
	if r.body != "" {
		hr.Header.Set("Content-Type", "application/json")
	}
	for k, v := range r.header {
		hr.Header.Set(k, v)
		if k == "Host" {
			hr.Host = v
		}
	}
	resp, err := ts.Client().Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{resp.StatusCode, resp.Header, string(b)}
}

func get(t *testing.T, ts *httptest.Server, path string) answer {
	t.Helper()
	return do(t, ts, req{path: path})
}

func post(t *testing.T, ts *httptest.Server, path, body string) answer {
	t.Helper()
	return do(t, ts, req{method: "POST", path: path, body: body})
}

// appendBody returns an append request of n events of type typ.
func appendBody(expected string, typ string, n int) string {
	var evs []string
	for i := range n {
		evs = append(evs, fmt.Sprintf(`{"id":%q,"type":%q,"data":{"n":%d}}`, uuid.NewString(), typ, i))
	}
	return fmt.Sprintf(`{"expectedRevision":%s,"events":[%s]}`, expected, strings.Join(evs, ","))
}

func TestAppendAndReadStream(t *testing.T) {
	_, ts := newTestServer(t, nil, nil)
	res := post(t, ts, "/api/streams/order-1", appendBody(`"no-stream"`, "Placed", 5)).want(t, 201, "").json(t)
	if res["firstRevision"] != 0.0 || res["lastRevision"] != 4.0 || res["lastPosition"] != 5.0 || res["nextExpectedRevision"] != 4.0 {
		t.Fatalf("append result %v", res)
	}
	post(t, ts, "/api/streams/order-1", appendBody(`4`, "Paid", 1)).want(t, 201, "")

	type page struct {
		Events []struct {
			Revision uint64
			Type     string
			Data     map[string]any
		}
		NextFrom *uint64
	}
	read := func(path string) page {
		t.Helper()
		var p page
		if err := json.Unmarshal([]byte(get(t, ts, path).want(t, 200, "").body), &p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	revs := func(p page) (out []uint64) {
		for _, e := range p.Events {
			out = append(out, e.Revision)
		}
		return out
	}
	p := read("/api/streams/order-1?limit=4")
	if fmt.Sprint(revs(p)) != "[0 1 2 3]" || p.NextFrom == nil || *p.NextFrom != 4 {
		t.Fatalf("first page: %v next %v", revs(p), p.NextFrom)
	}
	p = read("/api/streams/order-1?limit=4&from=4")
	if fmt.Sprint(revs(p)) != "[4 5]" || p.NextFrom != nil || p.Events[1].Type != "Paid" {
		t.Fatalf("last page: %v next %v", revs(p), p.NextFrom)
	}
	p = read("/api/streams/order-1?direction=backwards&limit=4")
	if fmt.Sprint(revs(p)) != "[5 4 3 2]" || p.NextFrom == nil || *p.NextFrom != 1 {
		t.Fatalf("backwards page: %v next %v", revs(p), p.NextFrom)
	}
	p = read("/api/streams/order-1?direction=backwards&from=1&limit=4")
	if fmt.Sprint(revs(p)) != "[1 0]" || p.NextFrom != nil || p.Events[0].Data["n"] != 1.0 {
		t.Fatalf("backwards last page: %+v", p)
	}
	get(t, ts, "/api/streams/nothing-here").want(t, 404, "stream_not_found")
}

func TestAppendConflict(t *testing.T) {
	_, ts := newTestServer(t, nil, nil)
	post(t, ts, "/api/streams/s", appendBody(`"no-stream"`, "E", 3)).want(t, 201, "")
	for _, expected := range []string{`"no-stream"`, `1`, `"7"`} {
		res := post(t, ts, "/api/streams/s", appendBody(expected, "E", 1)).want(t, 409, "wrong_expected_revision").json(t)
		if res["actualRevision"] != 2.0 || res["stream"] != "s" {
			t.Errorf("expected %s: conflict %v, want actualRevision 2", expected, res)
		}
	}
	res := post(t, ts, "/api/streams/new", appendBody(`"exists"`, "E", 1)).want(t, 409, "wrong_expected_revision").json(t)
	if res["actualRevision"] != "no-stream" {
		t.Errorf("conflict on a new stream: actualRevision %v, want no-stream", res["actualRevision"])
	}
	// A retry with the same IDs is acknowledged, not written twice.
	body := appendBody(`2`, "E", 2)
	first := post(t, ts, "/api/streams/s", body).want(t, 201, "").json(t)
	again := post(t, ts, "/api/streams/s", body).want(t, 201, "").json(t)
	if first["lastPosition"] != again["lastPosition"] {
		t.Errorf("retry wrote again: %v then %v", first, again)
	}
}

func TestAppendValidation(t *testing.T) {
	_, ts := newTestServer(t, nil, &Options{MaxBodyBytes: 4096})
	id := uuid.NewString()
	for _, tt := range []struct {
		name, path, body, contentType string
		status                        int
		code, says                    string
	}{
		{"NoBody", "/api/streams/s", "", "", 400, "bad_request", "no body"},
		{"NotJSON", "/api/streams/s", "{", "", 400, "bad_request", "not valid JSON"},
		{"TwoValues", "/api/streams/s", `{"expectedRevision":"any","events":[{"id":"` + id + `","type":"E"}]} {}`, "", 400, "bad_request", "more than one"},
		{"UnknownField", "/api/streams/s", `{"expectedRevision":"any","event":[]}`, "", 400, "bad_request", `"event"`},
		{"NoExpected", "/api/streams/s", `{"events":[{"id":"` + id + `","type":"E"}]}`, "", 400, "bad_request", "expectedRevision is missing"},
		{"NullExpected", "/api/streams/s", `{"expectedRevision":null,"events":[{"id":"` + id + `","type":"E"}]}`, "", 400, "bad_request", "expectedRevision is missing"},
		{"BadExpected", "/api/streams/s", `{"expectedRevision":"soon","events":[{"id":"` + id + `","type":"E"}]}`, "", 400, "bad_request", `"soon"`},
		{"NegativeExpected", "/api/streams/s", `{"expectedRevision":-1,"events":[{"id":"` + id + `","type":"E"}]}`, "", 400, "bad_request", "revision number"},
		{"NoEvents", "/api/streams/s", `{"expectedRevision":"any","events":[]}`, "", 400, "bad_request", "at least one event"},
		{"NoID", "/api/streams/s", `{"expectedRevision":"any","events":[{"type":"E"}]}`, "", 400, "bad_request", "events[0] has no id"},
		{"BadID", "/api/streams/s", `{"expectedRevision":"any","events":[{"id":"x","type":"E"}]}`, "", 400, "bad_request", `"x" is not a UUID`},
		{"NoType", "/api/streams/s", `{"expectedRevision":"any","events":[{"id":"` + id + `"}]}`, "", 400, "bad_request", "no type"},
		{"WrongType", "/api/streams/s", `{"expectedRevision":"any","events":[{"id":"` + id + `","type":7}]}`, "", 400, "bad_request", "events.type"},
		{"BothData", "/api/streams/s", `{"expectedRevision":"any","events":[{"id":"` + id + `","type":"E","data":1,"dataBase64":"AA=="}]}`, "", 400, "bad_request", "both data and dataBase64"},
		{"BadBase64", "/api/streams/s", `{"expectedRevision":"any","events":[{"id":"` + id + `","type":"E","dataBase64":"!"}]}`, "", 400, "bad_request", "not base64"},
		{"ReservedStream", "/api/streams/$all", appendBody(`"any"`, "E", 1), "", 400, "invalid_stream_name", "$"},
		{"TooLarge", "/api/streams/s", `{"expectedRevision":"any","events":[{"id":"` + id + `","type":"E","data":"` + strings.Repeat("x", 5000) + `"}]}`, "", 413, "body_too_large", "4096 bytes"},
		{"NotJSONContent", "/api/streams/s", appendBody(`"any"`, "E", 1), "text/plain", 415, "unsupported_media_type", "Content-Type: application/json"},
		{"UnknownQuery", "/api/streams/s?force=1", appendBody(`"any"`, "E", 1), "", 400, "bad_request", `"force"`},
		// A value of the wrong kind is named in JSON's words, not Go's.
		{"BodyNotObject", "/api/streams/s", `[]`, "", 400, "bad_request", "the body is a JSON array: send a JSON object"},
		{"EventsNotArray", "/api/streams/s", `{"expectedRevision":"any","events":{}}`, "", 400, "bad_request", `field "events": want a JSON array, not a JSON object`},
		{"EventNotObject", "/api/streams/s", `{"expectedRevision":"any","events":["E"]}`, "", 400, "bad_request", `field "events": want a JSON object, not a JSON string`},
		{"MetadataNotStrings", "/api/streams/s", `{"expectedRevision":"any","events":[{"id":"` + id + `","type":"E","metadata":{"a":1}}]}`, "", 400, "bad_request", `field "events.metadata": want a string, not a JSON number`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := map[string]string{}
			if tt.contentType != "" {
				h["Content-Type"] = tt.contentType
			}
			a := do(t, ts, req{method: "POST", path: tt.path, body: tt.body, header: h}).want(t, tt.status, tt.code)
			if msg := a.json(t)["error"].(string); !strings.Contains(msg, tt.says) {
				t.Errorf("message %q does not say %q", msg, tt.says)
			}
		})
	}
	// Nothing of the refused appends was written.
	get(t, ts, "/api/streams/s").want(t, 404, "stream_not_found")
}

func TestReadValidation(t *testing.T) {
	_, ts := newTestServer(t, nil, nil)
	for path, says := range map[string]string{
		"/api/streams/s?limit=0":           "limit",
		"/api/streams/s?limit=1001":        "1 to 1000",
		"/api/streams/s?limit=x":           "limit",
		"/api/streams/s?from=-1":           "from",
		"/api/streams/s?direction=up":      "forwards or backwards",
		"/api/streams/s?limit=1&limit=2":   "once",
		"/api/streams/s?offset=3":          `"offset"`,
		"/api/all?from=x":                  "position",
		"/api/all?colour=red":              `"colour"`,
		"/api/streams?before=0":            "before",
		"/api/streams?limit=-2":            "limit",
		"/api/all/subscribe?from=x":        "from",
		"/api/streams/s/subscribe?from=-1": "from",
	} {
		a := get(t, ts, path).want(t, 400, "bad_request")
		if msg := a.json(t)["error"].(string); !strings.Contains(msg, says) {
			t.Errorf("%s: message %q does not say %q", path, msg, says)
		}
	}
	get(t, ts, "/api/nothing").want(t, 404, "not_found")
	get(t, ts, "/api/streams/"+strings.Repeat("x", 300)).want(t, 400, "invalid_stream_name")
}

func TestReadAll(t *testing.T) {
	_, ts := newTestServer(t, nil, nil)
	post(t, ts, "/api/streams/order-1", appendBody(`"any"`, "Placed", 2)).want(t, 201, "")
	post(t, ts, "/api/streams/cart-1", appendBody(`"any"`, "Added", 2)).want(t, 201, "")
	post(t, ts, "/api/streams/order-2", appendBody(`"any"`, "Placed", 1)).want(t, 201, "")
	positions := func(path string) string {
		var p struct {
			Events []struct {
				Position uint64
				Stream   string
			}
			NextFrom *uint64
		}
		json.Unmarshal([]byte(get(t, ts, path).want(t, 200, "").body), &p)
		var out []string
		for _, e := range p.Events {
			out = append(out, fmt.Sprintf("%d:%s", e.Position, e.Stream))
		}
		if p.NextFrom != nil {
			out = append(out, fmt.Sprintf("next=%d", *p.NextFrom))
		}
		return strings.Join(out, " ")
	}
	for path, want := range map[string]string{
		"/api/all":                              "1:order-1 2:order-1 3:cart-1 4:cart-1 5:order-2",
		"/api/all?limit=2":                      "1:order-1 2:order-1 next=3",
		"/api/all?from=3&limit=2":               "3:cart-1 4:cart-1 next=5",
		"/api/all?direction=backwards&limit=2":  "5:order-2 4:cart-1 next=3",
		"/api/all?category=order":               "1:order-1 2:order-1 5:order-2",
		"/api/all?prefix=cart":                  "3:cart-1 4:cart-1",
		"/api/all?type=Added&type=Nothing":      "3:cart-1 4:cart-1",
		"/api/all?direction=backwards&from=end": "5:order-2 4:cart-1 3:cart-1 2:order-1 1:order-1",
	} {
		if got := positions(path); got != want {
			t.Errorf("%s: %s, want %s", path, got, want)
		}
	}
}

func TestListStreams(t *testing.T) {
	for name, store := range map[string]chronicle.Store{
		"Lister": memory.New(nil),
		// A store that cannot list: the server walks the log instead.
		"Scan": plainStore{memory.New(nil)},
	} {
		t.Run(name, func(t *testing.T) {
			_, ts := newTestServer(t, store, nil)
			for _, s := range []string{"order-1", "cart-1", "order-2", "order-1"} {
				post(t, ts, "/api/streams/"+s, appendBody(`"any"`, "E", 1)).want(t, 201, "")
			}
			streams := func(path string) string {
				var l struct {
					Streams []struct {
						Stream       string
						LastRevision uint64
					}
					NextBefore *uint64
				}
				json.Unmarshal([]byte(get(t, ts, path).want(t, 200, "").body), &l)
				var out []string
				for _, s := range l.Streams {
					out = append(out, fmt.Sprintf("%s@%d", s.Stream, s.LastRevision))
				}
				if l.NextBefore != nil {
					out = append(out, fmt.Sprintf("before=%d", *l.NextBefore))
				}
				return strings.Join(out, " ")
			}
			for path, want := range map[string]string{
				"/api/streams":                  "order-1@1 order-2@0 cart-1@0",
				"/api/streams?limit=2":          "order-1@1 order-2@0 before=3",
				"/api/streams?before=3&limit=2": "cart-1@0",
				"/api/streams?category=order":   "order-1@1 order-2@0",
				"/api/streams?prefix=cart":      "cart-1@0",
			} {
				if got := streams(path); got != want {
					t.Errorf("%s: %s, want %s", path, got, want)
				}
			}
		})
	}
}

// TestSelectionValidation: a prefix, category or type that holds what no
// name may hold is a bad request, with the store's error code, whether
// the store lists streams or the server reads its log instead, and for a
// subscription before its stream of events starts.
func TestSelectionValidation(t *testing.T) {
	for name, store := range map[string]chronicle.Store{
		"Lister": memory.New(nil),
		"Scan":   plainStore{memory.New(nil)},
	} {
		t.Run(name, func(t *testing.T) {
			_, ts := newTestServer(t, store, nil)
			post(t, ts, "/api/streams/a-1", appendBody(`"any"`, "E", 1)).want(t, 201, "")
			for path, want := range map[string]struct{ code, says string }{
				"/api/streams?prefix=a%00":           {"invalid_stream_name", `ListStreamsOptions.Prefix "a\x00"`},
				"/api/streams?category=%C3":          {"invalid_stream_name", `ListStreamsOptions.Category "\xc3"`},
				"/api/all?prefix=a%E2%80%8B":         {"invalid_stream_name", `Filter.StreamPrefix "a\u200b"`},
				"/api/all?category=a%0A":             {"invalid_stream_name", `Filter.Categories[0] "a\n"`},
				"/api/all?type=E&type=%FF":           {"invalid_event", `Filter.Types[1] "\xff"`},
				"/api/all/subscribe?prefix=a%00":     {"invalid_stream_name", `Filter.StreamPrefix "a\x00"`},
				"/api/all/subscribe?type=E%E2%80%A8": {"invalid_event", `Filter.Types[0] "E\u2028"`},
			} {
				a := get(t, ts, path).want(t, 400, want.code)
				if msg := a.json(t)["error"].(string); !strings.Contains(msg, want.says) {
					t.Errorf("%s: message %q does not say %q", path, msg, want.says)
				}
			}
		})
	}
}

// plainStore hides every ability of a store but chronicle.Store.
type plainStore struct{ s chronicle.Store }

func (p plainStore) Append(ctx context.Context, stream string, e chronicle.ExpectedRevision, evs ...chronicle.EventData) (chronicle.AppendResult, error) {
	return p.s.Append(ctx, stream, e, evs...)
}
func (p plainStore) ReadStream(ctx context.Context, stream string, o chronicle.ReadStreamOptions) iter.Seq2[chronicle.RecordedEvent, error] {
	return p.s.ReadStream(ctx, stream, o)
}
func (p plainStore) ReadAll(ctx context.Context, o chronicle.ReadAllOptions) iter.Seq2[chronicle.RecordedEvent, error] {
	return p.s.ReadAll(ctx, o)
}
func (p plainStore) Subscribe(ctx context.Context, o chronicle.SubscribeOptions) iter.Seq2[chronicle.RecordedEvent, error] {
	return p.s.Subscribe(ctx, o)
}

// stuckStore reads nothing until its context ends.
type stuckStore struct{ plainStore }

func (stuckStore) ReadStream(ctx context.Context, _ string, _ chronicle.ReadStreamOptions) iter.Seq2[chronicle.RecordedEvent, error] {
	return func(yield func(chronicle.RecordedEvent, error) bool) {
		<-ctx.Done()
		yield(chronicle.RecordedEvent{}, ctx.Err())
	}
}

func TestRequestTimeout(t *testing.T) {
	_, ts := newTestServer(t, stuckStore{plainStore{memory.New(nil)}}, &Options{RequestTimeout: 50 * time.Millisecond})
	start := time.Now()
	get(t, ts, "/api/streams/s").want(t, 503, "timeout")
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the request took %v, past its 50ms limit", d)
	}
}

func TestMetadataAndDelete(t *testing.T) {
	_, ts := newTestServer(t, nil, nil)
	post(t, ts, "/api/streams/s", appendBody(`"any"`, "E", 5)).want(t, 201, "")
	m := do(t, ts, req{method: "PUT", path: "/api/streams/s/metadata", body: `{"maxAge":"","maxCount":2,"truncateBefore":0}`}).want(t, 200, "").json(t)
	if m["maxCount"] != 2.0 {
		t.Fatalf("metadata after PUT: %v", m)
	}
	if got := get(t, ts, "/api/streams/s/metadata").want(t, 200, "").json(t); got["maxCount"] != 2.0 {
		t.Fatalf("metadata read back: %v", got)
	}
	if p := get(t, ts, "/api/streams/s").want(t, 200, "").json(t); len(p["events"].([]any)) != 2 {
		t.Fatalf("max count 2 shows %d events", len(p["events"].([]any)))
	}
	do(t, ts, req{method: "PUT", path: "/api/streams/s/metadata", body: `{"maxAge":"soon","maxCount":0,"truncateBefore":0}`}).want(t, 400, "bad_request")
	a := do(t, ts, req{method: "PUT", path: "/api/streams/s/metadata", body: `{"maxAge":"","maxCount":-1,"truncateBefore":0}`}).want(t, 400, "bad_request")
	if msg, want := a.json(t)["error"], `field "maxCount": want a whole number, 0 or more, not a JSON number -1`; msg != want {
		t.Errorf("a negative maxCount: message %q, want %q", msg, want)
	}
	// PUT replaces the whole metadata: a field left out would clear
	// what it held without the client saying so.
	a = do(t, ts, req{method: "PUT", path: "/api/streams/s/metadata", body: `{"maxCount":3}`}).want(t, 400, "bad_request")
	if msg, want := a.json(t)["error"], `the body lacks maxAge and truncateBefore: PUT replaces all the stream's metadata, so give every field ("" or 0 for none)`; msg != want {
		t.Errorf("a PUT without every field: message %q, want %q", msg, want)
	}
	if got := get(t, ts, "/api/streams/s/metadata").want(t, 200, "").json(t); got["maxCount"] != 2.0 {
		t.Fatalf("metadata after a refused PUT: %v", got)
	}
	do(t, ts, req{method: "DELETE", path: "/api/streams/s?expectedRevision=1"}).want(t, 409, "wrong_expected_revision")
	do(t, ts, req{method: "DELETE", path: "/api/streams/s?expectedRevision=4&tombstone=true"}).want(t, 204, "")
	get(t, ts, "/api/streams/s").want(t, 410, "stream_deleted")
	post(t, ts, "/api/streams/s", appendBody(`"any"`, "E", 1)).want(t, 410, "stream_deleted")
}

func TestHealthAndMetrics(t *testing.T) {
	_, ts := newTestServer(t, nil, nil)
	get(t, ts, "/health/live").want(t, 200, "")
	if r := get(t, ts, "/health/ready").want(t, 200, "").json(t); r["status"] != "ready" {
		t.Fatalf("ready: %v", r)
	}
	post(t, ts, "/api/streams/s", appendBody(`"any"`, "E", 3)).want(t, 201, "")
	post(t, ts, "/api/streams/s", appendBody(`"no-stream"`, "E", 1)).want(t, 409, "")
	get(t, ts, "/api/streams/s").want(t, 200, "")
	body := get(t, ts, "/metrics").want(t, 200, "").body
	for _, want := range []string{
		"chronicle_appends_total 1\n",
		"chronicle_appended_events_total 3\n",
		`chronicle_append_errors_total{code="wrong_expected_revision"} 1`,
		`chronicle_read_events_total{source="stream"} 3`,
		`chronicle_http_request_duration_seconds_count{route="POST /api/streams/{stream}",code="2xx"} 1`,
		`chronicle_http_request_duration_seconds_count{route="POST /api/streams/{stream}",code="4xx"} 1`,
		"# TYPE chronicle_subscription_lag_seconds histogram",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}
}

func TestProjectionLagMetric(t *testing.T) {
	s, ts := newTestServer(t, sqliteStore(t), nil)
	if !s.ReadModels() {
		t.Fatal("a SQLite store should keep read models")
	}
	post(t, ts, "/api/games", `{"playerOne":"ada","playerTwo":"alan"}`).want(t, 201, "")
	body := get(t, ts, "/metrics").want(t, 200, "").body
	if !strings.Contains(body, `chronicle_projection_lag_positions{projection="connectfour-games"} 1`) {
		t.Errorf("before the projections run, the games projection lags one position:\n%s", body)
	}
	get(t, ts, "/api/games").want(t, 200, "") // catches the read models up
	body = get(t, ts, "/metrics").want(t, 200, "").body
	if !strings.Contains(body, `chronicle_projection_lag_positions{projection="connectfour-games"} 0`) {
		t.Errorf("after a catch-up, the games projection has no lag:\n%s", body)
	}
	// Events of other streams leave the projections nothing to do: once
	// the read models catch up, their checkpoint moves past them and they
	// do not lag.
	post(t, ts, "/api/streams/order-1", appendBody(`"any"`, "OrderPlaced", 3)).want(t, 201, "")
	get(t, ts, "/api/games").want(t, 200, "")
	body = get(t, ts, "/metrics").want(t, 200, "").body
	if !strings.Contains(body, `chronicle_projection_lag_positions{projection="connectfour-games"} 0`) {
		t.Errorf("after events the projections do not handle, the games projection should not lag:\n%s", body)
	}
	stats := get(t, ts, "/api/stats").want(t, 200, "").json(t)
	for _, p := range stats["projections"].([]any) {
		if p := p.(map[string]any); p["lag"] != 0.0 || p["checkpoint"] != 4.0 {
			t.Errorf("the dashboard's projection %v: want lag 0 at checkpoint 4", p)
		}
	}
	// A game event after them is to be applied: the lag counts it.
	post(t, ts, "/api/games", `{"playerOne":"ada","playerTwo":"alan"}`).want(t, 201, "")
	body = get(t, ts, "/metrics").want(t, 200, "").body
	if !strings.Contains(body, `chronicle_projection_lag_positions{projection="connectfour-games"} 1`) {
		t.Errorf("with a game event to apply, the games projection lags 1 position:\n%s", body)
	}
}

// slowCounter is a store whose count of streams takes a while, as the
// embedded store's does when it holds millions of events. With hold set,
// the first count waits for hold to close, so that a test decides when
// it ends rather than a race against the clock; later ones, which would
// be a fault, do not wait, so that the test fails rather than hangs.
type slowCounter struct {
	*memory.Store
	took   time.Duration
	hold   chan struct{}
	counts atomic.Int32
}

func (s *slowCounter) CountStreams(ctx context.Context) (uint64, uint64, error) {
	if s.counts.Add(1) == 1 && s.hold != nil {
		<-s.hold
	}
	time.Sleep(s.took)
	return s.Store.CountStreams(ctx)
}

func TestStatsStay(t *testing.T) {
	for _, tt := range []struct{ took, want time.Duration }{
		{10 * time.Millisecond, statsTTL},
		{150 * time.Millisecond, 3 * time.Second},
		{10 * time.Second, statsMaxTTL},
	} {
		if got := statsStay(tt.took); got != tt.want {
			t.Errorf("figures that took %v to compute stay %v, want %v", tt.took, got, tt.want)
		}
	}
}

// TestStatsOnce: requests that arrive while the figures are computed
// wait for that computation rather than start their own, and a request
// that gives up does not stop it: its result is kept for the next.
func TestStatsOnce(t *testing.T) {
	// The count goes on until the waiting request has given up: were it
	// to end first, that request would get its figures instead.
	store := &slowCounter{Store: memory.New(nil), took: 200 * time.Millisecond, hold: make(chan struct{})}
	s, _ := newTestServer(t, store, nil)
	var wg sync.WaitGroup
	// The first request computes, and gives up meanwhile.
	first, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	wg.Go(func() {
		if _, err := s.Stats(first); err != nil {
			t.Errorf("Stats of the request that computes: %v", err)
		}
	})
	for computing := false; !computing; time.Sleep(time.Millisecond) {
		s.stats.mu.Lock()
		computing = s.stats.running != nil
		s.stats.mu.Unlock()
	}
	// A second one waits for it, and gives up too.
	second, cancel2 := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel2()
	if _, err := s.Stats(second); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stats of a waiting request that gave up: %v, want its deadline's error", err)
	}
	close(store.hold)
	for range 4 {
		wg.Go(func() {
			if _, err := s.Stats(context.Background()); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := store.counts.Load(); n != 1 {
		t.Fatalf("the store counted its streams %d times for six requests, want 1", n)
	}
}

// TestStatsCostBounded: the dashboard's figures stay for at least twenty
// times as long as they took to compute, so that a dashboard left open
// on a large store costs the server a small share of a core.
func TestStatsCostBounded(t *testing.T) {
	store := &slowCounter{Store: memory.New(nil), took: 150 * time.Millisecond}
	s, _ := newTestServer(t, store, nil)
	ctx := context.Background()
	if _, err := s.Stats(ctx); err != nil {
		t.Fatal(err)
	}
	if s.stats.ttl < statsCost*store.took {
		t.Fatalf("figures that took at least %v to compute stay %v, want at least %v", store.took, s.stats.ttl, statsCost*store.took)
	}
	// Later than the shortest stay, sooner than this one: from the cache.
	s.stats.at = time.Now().Add(-statsTTL - time.Millisecond)
	if _, err := s.Stats(ctx); err != nil {
		t.Fatal(err)
	}
	if store.counts.Load() != 1 {
		t.Fatalf("the store counted its streams %d times, want 1", store.counts.Load())
	}
	// Once the stay is over, they are computed again.
	s.stats.at = time.Now().Add(-s.stats.ttl)
	if _, err := s.Stats(ctx); err != nil {
		t.Fatal(err)
	}
	if store.counts.Load() != 2 {
		t.Fatalf("the store counted its streams %d times after the stay, want 2", store.counts.Load())
	}
}

// TestStreamScanPartial: a store that cannot list its streams has them
// listed from the newest scanLimit events of its log, and the list says
// it is partial only when the log holds more than that.
func TestStreamScanPartial(t *testing.T) {
	ctx := context.Background()
	store := memory.New(nil)
	_, ts := newTestServer(t, plainStore{store}, nil)
	// Fewer streams than a page lists, so that the scan reads on to
	// the end of its limit.
	events := make([]chronicle.EventData, 4000)
	for i := range events {
		events[i] = chronicle.EventData{Type: "E"}
	}
	for i := range scanLimit / len(events) {
		if _, err := store.Append(ctx, fmt.Sprintf("s-%d", i), chronicle.NoStream, events...); err != nil {
			t.Fatal(err)
		}
	}
	partial := func() bool {
		var l struct{ Partial bool }
		json.Unmarshal([]byte(get(t, ts, "/api/streams").want(t, 200, "").body), &l)
		return l.Partial
	}
	if partial() {
		t.Errorf("a log of exactly %d events listed as partial", scanLimit)
	}
	if _, err := store.Append(ctx, "s-0", chronicle.Any, chronicle.EventData{Type: "E"}); err != nil {
		t.Fatal(err)
	}
	if !partial() {
		t.Errorf("a log of %d events listed as complete", scanLimit+1)
	}
}

// TestUnsupportedAbilities: a store that wraps one without abilities,
// whose optional methods report errors.ErrUnsupported, is served as a
// store without them: streams are
// listed from the log, the dashboard does without counts, and metadata
// and deletes are answered 501.
func TestUnsupportedAbilities(t *testing.T) {
	ctx := context.Background()
	// shred.Store wraps a store: with a schema of no types, it stores the
	// events as they are given.
	schema, _ := shred.NewSchema()
	s, ts := newTestServer(t, shred.New(plainStore{memory.New(nil)}, shred.NewMemoryKeys(), schema), nil)
	for _, stream := range []string{"order-1", "cart-1"} {
		post(t, ts, "/api/streams/"+stream, appendBody(`"any"`, "E", 1)).want(t, 201, "")
	}
	var l struct{ Streams []struct{ Stream string } }
	json.Unmarshal([]byte(get(t, ts, "/api/streams").want(t, 200, "").body), &l)
	if len(l.Streams) != 2 || l.Streams[0].Stream != "cart-1" || l.Streams[1].Stream != "order-1" {
		t.Errorf("streams %+v, want cart-1 and order-1 from the log", l.Streams)
	}
	st, err := s.Stats(ctx)
	if err != nil || st.Counted || st.Events != 2 {
		t.Errorf("Stats = %+v, %v; want 2 events, not counted", st, err)
	}
	get(t, ts, "/api/streams/cart-1/metadata").want(t, 501, "not_supported")
	do(t, ts, req{method: "PUT", path: "/api/streams/cart-1/metadata", body: `{"maxAge":"","maxCount":2,"truncateBefore":0}`}).want(t, 501, "not_supported")
	do(t, ts, req{method: "DELETE", path: "/api/streams/cart-1"}).want(t, 501, "not_supported")
	do(t, ts, req{method: "DELETE", path: "/api/streams/cart-1?tombstone=true"}).want(t, 501, "not_supported")
	get(t, ts, "/streams/cart-1").want(t, 200, "")
}

// TestMethodNotAllowed: a path that a route serves, asked with another
// method, is answered 405 with the methods it takes, in the format of
// its part of the server (JSON for the API, a page for the UI); a path
// that no route serves stays a 404.
func TestMethodNotAllowed(t *testing.T) {
	_, ts := newTestServer(t, nil, nil)
	for _, tt := range []struct{ method, path, allow string }{
		{"PATCH", "/api/streams/s", "DELETE, GET, HEAD, POST"},
		{"POST", "/api/stats", "GET, HEAD"},
		{"DELETE", "/api/streams/s/metadata", "GET, HEAD, PUT"},
		{"GET", "/api/games/0b8e3c4e-1d2a-4c77-9a52-0c8f0f1d2e3a/moves", "POST"},
		{"PUT", "/metrics", "GET, HEAD"},
	} {
		a := do(t, ts, req{method: tt.method, path: tt.path}).want(t, 405, "method_not_allowed")
		if got := a.header.Get("Allow"); got != tt.allow {
			t.Errorf("%s %s: Allow %q, want %q", tt.method, tt.path, got, tt.allow)
		}
		if msg := a.json(t)["error"].(string); !strings.Contains(msg, tt.allow) {
			t.Errorf("%s %s: message %q does not name the methods allowed", tt.method, tt.path, msg)
		}
	}
	a := do(t, ts, req{method: "POST", path: "/streams"})
	if a.status != 405 || a.header.Get("Allow") != "GET, HEAD" || !strings.Contains(a.header.Get("Content-Type"), "text/html") {
		t.Errorf("POST /streams: %d, Allow %q, %s; want 405, GET, HEAD, a page", a.status, a.header.Get("Allow"), a.header.Get("Content-Type"))
	}
	do(t, ts, req{method: "PATCH", path: "/api/nothing"}).want(t, 404, "not_found")
	if a := get(t, ts, "/nothing"); a.status != 404 || a.header.Get("Allow") != "" {
		t.Errorf("GET /nothing: %d, Allow %q; want 404 without Allow", a.status, a.header.Get("Allow"))
	}
}

// TestAppendMetrics: the append counters say what their help says. Every
// refused append counts as an error, by code, whether the store refused
// it or the server did (bad input, no user); a retry of an append already
// written succeeds, and counts as an append and a retry, but its events,
// which it does not write, are not counted as written.
func TestAppendMetrics(t *testing.T) {
	_, ts := newTestServer(t, nil, &Options{Users: testUsers(t)})
	writer := basic("wanda", "w-pass")
	body := appendBody(`"no-stream"`, "E", 3)
	do(t, ts, req{method: "POST", path: "/api/streams/s", body: body, header: writer}).want(t, 201, "")
	do(t, ts, req{method: "POST", path: "/api/streams/s", body: body, header: writer}).want(t, 201, "")
	do(t, ts, req{method: "POST", path: "/api/streams/s", body: `{"expectedRevision":"any","events":[]}`, header: writer}).want(t, 400, "bad_request")
	do(t, ts, req{method: "POST", path: "/api/streams/$s", body: appendBody(`"any"`, "E", 1), header: writer}).want(t, 400, "invalid_stream_name")
	do(t, ts, req{method: "POST", path: "/api/streams/s", body: appendBody(`"any"`, "E", 1)}).want(t, 401, "unauthorized")
	do(t, ts, req{method: "POST", path: "/api/streams/s", body: appendBody(`"no-stream"`, "E", 1), header: writer}).want(t, 409, "wrong_expected_revision")
	body2 := get(t, ts, "/metrics").want(t, 200, "").body
	for _, want := range []string{
		"chronicle_appends_total 2\n",
		"chronicle_appended_events_total 3\n",
		"chronicle_append_retries_total 1\n",
		`chronicle_append_errors_total{code="bad_request"} 1`,
		`chronicle_append_errors_total{code="invalid_stream_name"} 1`,
		`chronicle_append_errors_total{code="unauthorized"} 1`,
		`chronicle_append_errors_total{code="wrong_expected_revision"} 1`,
	} {
		if !strings.Contains(body2, want) {
			var got []string
			for _, l := range strings.Split(body2, "\n") {
				if strings.HasPrefix(l, "chronicle_append") {
					got = append(got, l)
				}
			}
			t.Errorf("metrics lack %q:\n%s", want, strings.Join(got, "\n"))
		}
	}
}

// TestPrettyDataShortensLargeData: a page shows at most maxShownData
// bytes of an event's data, cut where a character starts, and says how
// long it is; smaller data is shown whole.
func TestPrettyDataShortensLargeData(t *testing.T) {
	note := func(n int) string {
		return fmt.Sprintf("\n… shortened: the data is %d bytes; the API's read of the event has it all", n)
	}
	// A JSON string of two-byte characters: the cut falls inside one.
	str := []byte(`"` + strings.Repeat("é", maxShownData) + `"`)
	binary := bytes.Repeat([]byte{0xff, 0x00}, maxShownData)
	for _, tt := range []struct {
		name string
		data []byte
		want string
	}{
		{"json", str, `"` + strings.Repeat("é", maxShownData/2-1) + note(len(str))},
		{"binary", binary, "base64: " + base64.StdEncoding.EncodeToString(binary[:maxShownData]) + note(len(binary))},
		{"at the limit", bytes.Repeat([]byte("a"), maxShownData), strings.Repeat("a", maxShownData)},
	} {
		if got := prettyData(tt.data); got != tt.want {
			t.Errorf("%s: prettyData of %d bytes gave %d bytes, ending %q; want %d, ending %q", tt.name, len(tt.data), len(got), got[max(len(got)-90, 0):], len(tt.want), tt.want[max(len(tt.want)-90, 0):])
		}
	}
}
