package server

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/examples/connectfour"
	"github.com/chronicle-es/chronicle/memory"
	"github.com/google/uuid"
	"golang.org/x/crypto/bcrypt"
)

// sseClient reads a subscription's messages.
type sseClient struct {
	cancel context.CancelFunc
	lines  *bufio.Scanner
}

func subscribe(t *testing.T, base, path string, header map[string]string) *sseClient {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	r, _ := http.NewRequestWithContext(ctx, "GET", base+path, nil)
	for k, v := range header {
		r.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("subscribe %s: %s %s", path, resp.Status, resp.Header.Get("Content-Type"))
	}
	return &sseClient{cancel: cancel, lines: bufio.NewScanner(resp.Body)}
}

// next returns the id and data of the next message, within a time limit.
func (c *sseClient) next(t *testing.T) (id, data string) {
	t.Helper()
	timer := time.AfterFunc(10*time.Second, c.cancel)
	defer timer.Stop()
	for c.lines.Scan() {
		line := c.lines.Text()
		switch {
		case strings.HasPrefix(line, "id: "):
			id = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "data: "):
			data = strings.TrimPrefix(line, "data: ")
		case line == "" && data != "":
			return id, data
		}
	}
	t.Fatalf("the subscription ended or stalled before a message: %v", c.lines.Err())
	return "", ""
}

// TestSubscriptionSendsDataAsStored checks that a subscription sends an
// event's data as it is stored: the live tail shows that text, so
// escaping <, > and & for HTML (json.Marshal's way) would show
// escapes the event does not hold.
func TestSubscriptionSendsDataAsStored(t *testing.T) {
	_, ts := newTestServer(t, nil, nil)
	data := `{"html":"<b>&amp;</b>","escaped":"\u003c","sep":"\u2028` + "\u2028" + `"}`
	post(t, ts, "/api/streams/a", fmt.Sprintf(`{"expectedRevision":"any","events":[{"id":%q,"type":"E","data":%s}]}`, uuid.NewString(), data)).want(t, 201, "")
	for _, path := range []string{"/api/all/subscribe", "/api/streams/a/subscribe"} {
		if _, got := subscribe(t, ts.URL, path, nil).next(t); !strings.Contains(got, `"data":`+data) {
			t.Errorf("%s sends %s: want the data as stored, %s", path, got, data)
		}
	}
}

func TestSubscribeAllResumes(t *testing.T) {
	_, ts := newTestServer(t, nil, nil)
	post(t, ts, "/api/streams/a", appendBody(`"any"`, "E", 2)).want(t, 201, "")
	c := subscribe(t, ts.URL, "/api/all/subscribe", nil)
	for want := 1; want <= 2; want++ {
		if id, _ := c.next(t); id != fmt.Sprint(want) {
			t.Fatalf("message id %s, want %d", id, want)
		}
	}
	// Live: an append arrives at once.
	post(t, ts, "/api/streams/b", appendBody(`"any"`, "Live", 1)).want(t, 201, "")
	if id, data := c.next(t); id != "3" || !strings.Contains(data, `"type":"Live"`) || !strings.Contains(data, `"stream":"b"`) {
		t.Fatalf("live message %s %s", id, data)
	}
	c.cancel()
	post(t, ts, "/api/streams/b", appendBody(`"any"`, "Missed", 1)).want(t, 201, "")
	// A reconnecting EventSource sends the last id it saw.
	c = subscribe(t, ts.URL, "/api/all/subscribe?from=1", map[string]string{"Last-Event-ID": "3"})
	if id, data := c.next(t); id != "4" || !strings.Contains(data, `"type":"Missed"`) {
		t.Fatalf("after resuming from 3: %s %s", id, data)
	}
	// from, and filters.
	c = subscribe(t, ts.URL, "/api/all/subscribe?from=2&prefix=b", nil)
	if id, _ := c.next(t); id != "3" {
		t.Fatalf("from 2, prefix b: first id %s, want 3", id)
	}
}

func TestSubscribeStream(t *testing.T) {
	_, ts := newTestServer(t, nil, nil)
	post(t, ts, "/api/streams/game-1", appendBody(`"any"`, "E", 3)).want(t, 201, "")
	post(t, ts, "/api/streams/game-10", appendBody(`"any"`, "Other", 1)).want(t, 201, "")
	c := subscribe(t, ts.URL, "/api/streams/game-1/subscribe?from=1", nil)
	for want := 1; want <= 2; want++ {
		if id, _ := c.next(t); id != fmt.Sprint(want) {
			t.Fatalf("message id %s, want revision %d", id, want)
		}
	}
	post(t, ts, "/api/streams/game-10", appendBody(`"any"`, "Other", 1)).want(t, 201, "")
	post(t, ts, "/api/streams/game-1", appendBody(`"any"`, "Live", 1)).want(t, 201, "")
	if id, data := c.next(t); id != "3" || !strings.Contains(data, `"type":"Live"`) {
		t.Fatalf("live message %s %s: want revision 3 of game-1 only", id, data)
	}
	// A stream without events yet: its first event arrives live.
	c = subscribe(t, ts.URL, "/api/streams/later/subscribe", nil)
	post(t, ts, "/api/streams/later", appendBody(`"any"`, "First", 1)).want(t, 201, "")
	if id, _ := c.next(t); id != "0" {
		t.Fatalf("first event of a new stream: id %s", id)
	}
	// Resuming with Last-Event-ID, a revision.
	c = subscribe(t, ts.URL, "/api/streams/game-1/subscribe", map[string]string{"Last-Event-ID": "2"})
	if id, _ := c.next(t); id != "3" {
		t.Fatalf("resumed after revision 2: id %s", id)
	}
}

func TestSubscriptionLimit(t *testing.T) {
	s, ts := newTestServer(t, nil, &Options{MaxSubscribers: 1})
	subscribe(t, ts.URL, "/api/all/subscribe", nil)
	get(t, ts, "/api/all/subscribe").want(t, 503, "too_many_subscriptions")
	s.Close() // shutting down ends the open subscription
}

// TestSubscribeHead: a HEAD of a subscription gets its headers and ends,
// as a HEAD answer has no body: following the log for it would hold a
// subscription and stall the next request on the same connection.
func TestSubscribeHead(t *testing.T) {
	s, ts := newTestServer(t, nil, &Options{MaxSubscribers: 1})
	client := &http.Client{Transport: ts.Client().Transport, Timeout: 5 * time.Second}
	for _, path := range []string{"/api/all/subscribe", "/api/streams/s/subscribe"} {
		r, _ := http.NewRequest("HEAD", ts.URL+path, nil)
		resp, err := client.Do(r)
		if err != nil {
			t.Fatalf("HEAD %s: %v", path, err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
			t.Fatalf("HEAD %s: %s %s", path, resp.Status, resp.Header.Get("Content-Type"))
		}
		// The same connection serves the next request.
		resp, err = client.Get(ts.URL + "/health/live")
		if err != nil {
			t.Fatalf("after HEAD %s: %v", path, err)
		}
		resp.Body.Close()
		if n := len(s.subscribers); n != 0 {
			t.Fatalf("after HEAD %s: %d subscriptions open, want 0", path, n)
		}
	}
	// The one subscription allowed is still free.
	subscribe(t, ts.URL, "/api/all/subscribe", nil)
}

func testUsers(t *testing.T) *Users {
	t.Helper()
	var lines []string
	for _, u := range []struct{ name, role, password string }{{"wanda", "writer", "w-pass"}, {"ada", "admin", "a-pass"}} {
		h, err := bcrypt.GenerateFromPassword([]byte(u.password), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, u.name+":"+u.role+":"+string(h))
	}
	users, err := ParseUsers(strings.NewReader("# users\n\n" + strings.Join(lines, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	return users
}

func basic(user, password string) map[string]string {
	r, _ := http.NewRequest("GET", "/", nil)
	r.SetBasicAuth(user, password)
	return map[string]string{"Authorization": r.Header.Get("Authorization")}
}

func TestAuth(t *testing.T) {
	_, ts := newTestServer(t, nil, &Options{Users: testUsers(t)})
	body := appendBody(`"any"`, "E", 1)
	a := do(t, ts, req{method: "POST", path: "/api/streams/s", body: body}).want(t, 401, "unauthorized")
	if !strings.HasPrefix(a.header.Get("WWW-Authenticate"), "Basic") {
		t.Errorf("401 without a Basic challenge: %v", a.header)
	}
	do(t, ts, req{method: "POST", path: "/api/streams/s", body: body, header: basic("wanda", "nope")}).want(t, 401, "unauthorized")
	do(t, ts, req{method: "POST", path: "/api/streams/s", body: body, header: basic("nobody", "w-pass")}).want(t, 401, "unauthorized")
	do(t, ts, req{method: "POST", path: "/api/streams/s", body: body, header: basic("wanda", "w-pass")}).want(t, 201, "")
	// Twice: the second is answered from the cache of verified passwords.
	do(t, ts, req{method: "POST", path: "/api/streams/s", body: appendBody(`"any"`, "E", 1), header: basic("wanda", "w-pass")}).want(t, 201, "")
	do(t, ts, req{method: "POST", path: "/api/games", body: `{"playerOne":"a","playerTwo":"b"}`}).want(t, 401, "unauthorized")
	// Reads stay open.
	get(t, ts, "/api/streams/s").want(t, 200, "")
	// Administration needs an admin.
	do(t, ts, req{method: "DELETE", path: "/api/streams/s", header: basic("wanda", "w-pass")}).want(t, 403, "forbidden")
	do(t, ts, req{method: "PUT", path: "/api/streams/s/metadata", body: `{"maxAge":"","maxCount":1,"truncateBefore":0}`, header: basic("wanda", "w-pass")}).want(t, 403, "forbidden")
	do(t, ts, req{method: "DELETE", path: "/api/streams/s", header: basic("ada", "a-pass")}).want(t, 204, "")
}

func TestParseUsersRefusesBadLines(t *testing.T) {
	for input, says := range map[string]string{
		"":                       "no users",
		"ada:admin":              "line 1",
		"ada:boss:$2a$10$abc":    `role "boss"`,
		"ada:admin:plaintext":    "not a bcrypt hash",
		"a d a:admin:$2a$10$abc": "user name",
		"# c\nada:writer:x\n":    "line 2",
	} {
		if _, err := ParseUsers(strings.NewReader(input)); err == nil || !strings.Contains(err.Error(), says) {
			t.Errorf("ParseUsers(%q) = %v, want an error saying %q", input, err, says)
		}
	}
}

func TestReadOnly(t *testing.T) {
	store := memory.New(nil)
	// A game played before the server became read-only.
	game, err := connectfour.NewService(store).CreateGame(context.Background(), "ada", "alan")
	if err != nil {
		t.Fatal(err)
	}
	_, ts := newTestServer(t, store, &Options{ReadOnly: true})
	post(t, ts, "/api/streams/s", appendBody(`"any"`, "E", 1)).want(t, 403, "read_only")
	post(t, ts, "/api/games", `{"playerOne":"a","playerTwo":"b"}`).want(t, 403, "read_only")
	do(t, ts, req{method: "DELETE", path: "/api/streams/s"}).want(t, 403, "read_only")
	get(t, ts, "/api/all").want(t, 200, "")
	if page := get(t, ts, "/").want(t, 200, "").body; !strings.Contains(page, "read-only") {
		t.Error("the UI does not say the server is read-only")
	}
	// The UI offers no writes that would be refused: no new game form,
	// and a game is watched, not played.
	if page := get(t, ts, "/games").want(t, 200, "").body; strings.Contains(page, `id="new-game"`) || !strings.Contains(page, `id="read-only"`) {
		t.Errorf("the read-only games page offers to start a game:\n%s", page)
	}
	if page := get(t, ts, "/games/"+game.String()+"?as=ada").want(t, 200, "").body; !strings.Contains(page, `data-as=""`) || strings.Contains(page, `href="?as=ada"`) {
		t.Errorf("the read-only game page offers to play:\n%s", page)
	}
}

func TestLoopbackOnlyRefusesOtherHosts(t *testing.T) {
	_, ts := newTestServer(t, nil, &Options{LoopbackOnly: true})
	for _, host := range []string{"localhost:2113", "127.0.0.1", "[::1]:80", "app.localhost"} {
		do(t, ts, req{path: "/api/all", header: map[string]string{"Host": host}}).want(t, 200, "")
	}
	// A name that resolves to loopback for a moment (DNS rebinding) is
	// still not a loopback name.
	for _, host := range []string{"evil.example:2113", "10.0.0.1"} {
		do(t, ts, req{path: "/api/all", header: map[string]string{"Host": host}}).want(t, 421, "not_loopback")
	}
}

func TestCrossOriginWritesRefused(t *testing.T) {
	_, ts := newTestServer(t, nil, nil)
	do(t, ts, req{method: "POST", path: "/api/streams/s", body: appendBody(`"any"`, "E", 1),
		header: map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}}).want(t, 403, "cross_origin")
	do(t, ts, req{method: "POST", path: "/api/streams/s", body: appendBody(`"any"`, "E", 1),
		header: map[string]string{"Sec-Fetch-Site": "same-origin"}}).want(t, 201, "")
}

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:2113": true, "localhost:80": true, "[::1]:2113": true, "127.8.0.1:1": true,
		":2113": false, "0.0.0.0:2113": false, "192.168.1.2:2113": false, "example.com:80": false, "nonsense": false,
	} {
		if got := IsLoopback(addr); got != want {
			t.Errorf("IsLoopback(%q) = %v, want %v", addr, got, want)
		}
	}
}

// TestUIEscapesEventContents appends events whose stream name, type,
// data and metadata carry markup, and checks every page shows them as
// text.
func TestUIEscapesEventContents(t *testing.T) {
	_, ts := newTestServer(t, nil, nil)
	const evil = `<script>alert(1)</script>`
	stream := `x-` + evil
	body := fmt.Sprintf(`{"expectedRevision":"any","events":[{"id":%q,"type":%q,"data":{"html":%q},"metadata":{"k":%q}},{"id":%q,"type":"Text","dataBase64":"PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg=="}]}`,
		"0190f1c2-7a3b-7c4d-8e5f-0a1b2c3d4e5f", evil, evil, evil, "0190f1c2-7a3b-7c4d-8e5f-0a1b2c3d4e50")
	post(t, ts, "/api/streams/"+url.PathEscape(stream), body).want(t, 201, "")
	game := post(t, ts, "/api/games", fmt.Sprintf(`{"playerOne":%q,"playerTwo":"bob"}`, evil)).want(t, 201, "").json(t)

	for _, path := range []string{
		"/", "/streams", "/streams?prefix=" + url.QueryEscape(evil), "/streams/" + url.PathEscape(stream),
		"/streams/" + url.PathEscape(stream) + "?direction=forwards",
		"/tail", "/tail?stream=" + url.QueryEscape(stream), "/games", "/games/" + game["id"].(string),
		"/games/" + game["id"].(string) + "?as=" + url.QueryEscape(evil),
		"/streams/" + url.PathEscape(evil+"-missing"), "/nothing/" + url.PathEscape(evil),
	} {
		a := get(t, ts, path)
		if strings.Contains(a.body, "<script>alert") {
			t.Errorf("%s (status %d) shows the markup unescaped:\n%s", path, a.status, a.body)
		}
		if !strings.Contains(a.body, "&lt;script&gt;alert(1)") && a.status == 200 && path != "/" {
			t.Errorf("%s does not show the contents escaped:\n%s", path, a.body)
		}
		if csp := a.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
			t.Errorf("%s: Content-Security-Policy %q", path, csp)
		}
	}
}

// TestUIShowsMetadataAsStored checks that a stream's page shows an
// event's metadata as it holds it: <, > and & are the template's to
// escape, as markup; escaped for JSON too, they showed as \u003c.
func TestUIShowsMetadataAsStored(t *testing.T) {
	_, ts := newTestServer(t, nil, nil)
	post(t, ts, "/api/streams/order-1", fmt.Sprintf(`{"expectedRevision":"any","events":[{"id":%q,"type":"E","data":{},"metadata":{"note":"<b>R&D</b>"}}]}`,
		uuid.NewString())).want(t, 201, "")
	page := get(t, ts, "/streams/order-1").want(t, 200, "").body
	if shown := "&#34;note&#34;: &#34;&lt;b&gt;R&amp;D&lt;/b&gt;&#34;"; !strings.Contains(page, shown) {
		t.Errorf("the stream's page does not show the metadata as stored, %s:\n%s", shown, page)
	}
}

// grpcRecorder is a GRPCServer that notes the calls it was given.
type grpcRecorder struct{ calls int }

func (g *grpcRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) { g.calls++ }
func (g *grpcRecorder) GracefulStop()                                    {}

// TestLoopbackOnlyRefusesOtherHostsOverGRPC: the gRPC calls that share
// the server's port are refused for a host that is not loopback too, in
// gRPC's terms (PermissionDenied), as the web's requests are.
func TestLoopbackOnlyRefusesOtherHostsOverGRPC(t *testing.T) {
	g := &grpcRecorder{}
	s, err := New(memory.New(nil), &Options{LoopbackOnly: true, GRPC: g})
	if err != nil {
		t.Fatal(err)
	}
	call := func(host string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, "/event_store.client.streams.Streams/Read", nil)
		r.ProtoMajor, r.ProtoMinor, r.Host = 2, 0, host
		r.Header.Set("Content-Type", "application/grpc")
		w := httptest.NewRecorder()
		s.Handler().ServeHTTP(w, r)
		return w
	}
	if w := call("evil.example:2113"); g.calls != 0 || w.Header().Get("Grpc-Status") != "7" {
		t.Errorf("a gRPC call for evil.example: passed on %d times, grpc-status %q; want it refused with 7", g.calls, w.Header().Get("Grpc-Status"))
	}
	if call("127.0.0.1:2113"); g.calls != 1 {
		t.Errorf("a gRPC call for 127.0.0.1: passed on %d times, want once", g.calls)
	}
}

// TestSubscribeStreamHidesWhatReadsHide: a stream's subscription shows
// what a read of the stream shows, live too: the events that its metadata
// hides (a truncate-before past its end, a max count) are not sent.
func TestSubscribeStreamHidesWhatReadsHide(t *testing.T) {
	_, ts := newTestServer(t, nil, nil)
	post(t, ts, "/api/streams/s", appendBody(`"no-stream"`, "Old", 5)).want(t, 201, "")
	do(t, ts, req{method: "PUT", path: "/api/streams/s/metadata", body: `{"maxAge":"","maxCount":0,"truncateBefore":7}`}).want(t, 200, "")
	c := subscribe(t, ts.URL, "/api/streams/s/subscribe", nil)
	// Revisions 5 and 6 are hidden, as a read shows; 7 is the first seen.
	post(t, ts, "/api/streams/s", appendBody(`4`, "New", 3)).want(t, 201, "")
	var read struct{ Events []struct{ Revision uint64 } }
	if err := json.Unmarshal([]byte(get(t, ts, "/api/streams/s").want(t, 200, "").body), &read); err != nil {
		t.Fatal(err)
	}
	if len(read.Events) != 1 || read.Events[0].Revision != 7 {
		t.Fatalf("a read of the stream shows %+v, want revision 7 alone", read.Events)
	}
	if id, _ := c.next(t); id != "7" {
		t.Fatalf("live, the subscription sent revision %s, which a read hides: want 7", id)
	}
	// A max count hides all but the newest of one append.
	do(t, ts, req{method: "PUT", path: "/api/streams/s/metadata", body: `{"maxAge":"","maxCount":1,"truncateBefore":0}`}).want(t, 200, "")
	post(t, ts, "/api/streams/s", appendBody(`7`, "Batch", 3)).want(t, 201, "")
	if id, _ := c.next(t); id != "10" {
		t.Fatalf("live, after max count 1 and an append of 8-10, the subscription sent revision %s: want 10", id)
	}
}

// noFlush is an embedder's ResponseWriter that cannot flush.
type noFlush struct{ w http.ResponseWriter }

func (n noFlush) Header() http.Header         { return n.w.Header() }
func (n noFlush) Write(b []byte) (int, error) { return n.w.Write(b) }
func (n noFlush) WriteHeader(code int)        { n.w.WriteHeader(code) }

// TestSubscribeCannotFlush: behind a ResponseWriter that cannot flush, the
// events would stay in a buffer: a subscription is refused at its start,
// with a status that says why, rather than ended after its first event.
func TestSubscribeCannotFlush(t *testing.T) {
	s, err := New(memory.New(nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.Handler().ServeHTTP(noFlush{w}, r)
	}))
	t.Cleanup(func() { s.Close(); ts.Close() })
	post(t, ts, "/api/streams/s", appendBody(`"no-stream"`, "E", 2)).want(t, 201, "")
	for _, path := range []string{"/api/all/subscribe", "/api/streams/s/subscribe"} {
		a := get(t, ts, path).want(t, 500, "streaming_unsupported")
		if ct := a.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("%s: Content-Type %q, want JSON", path, ct)
		}
		if msg := a.json(t)["error"].(string); !strings.Contains(msg, "flush") {
			t.Errorf("%s: message %q does not say that the writer cannot flush", path, msg)
		}
	}
	if n := len(s.subscribers); n != 0 {
		t.Errorf("%d subscriptions still held, want 0", n)
	}
}

// readsSignalled is a memory store that says when a stream is read.
type readsSignalled struct {
	*memory.Store
	reads chan string
}

func (s readsSignalled) ReadStream(ctx context.Context, stream string, o chronicle.ReadStreamOptions) iter.Seq2[chronicle.RecordedEvent, error] {
	s.reads <- stream
	return s.Store.ReadStream(ctx, stream, o)
}

// TestSubscribeStreamSendsWhatReadsShowAgain: events that the stream's
// metadata hid when they came, and that it shows again by the next live
// event, are sent before it, as a read and a reconnection show them. The
// subscription passed over them for good.
func TestSubscribeStreamSendsWhatReadsShowAgain(t *testing.T) {
	store := readsSignalled{memory.New(nil), make(chan string, 100)}
	_, ts := newTestServer(t, store, nil)
	post(t, ts, "/api/streams/s", appendBody(`"no-stream"`, "Old", 5)).want(t, 201, "")
	c := subscribe(t, ts.URL, "/api/streams/s/subscribe", nil)
	for want := range 5 {
		if id, _ := c.next(t); id != strconv.Itoa(want) {
			t.Fatalf("the subscription sent revision %s, want %d", id, want)
		}
	}
	do(t, ts, req{method: "PUT", path: "/api/streams/s/metadata", body: `{"maxAge":"","maxCount":0,"truncateBefore":7}`}).want(t, 200, "")
	for len(store.reads) > 0 {
		<-store.reads
	}
	post(t, ts, "/api/streams/s", appendBody(`4`, "Hidden", 2)).want(t, 201, "")
	// The subscription reads the stream for each of 5 and 6, and finds
	// them hidden.
	for n := 0; n < 2; {
		if <-store.reads == "s" {
			n++
		}
	}
	do(t, ts, req{method: "PUT", path: "/api/streams/s/metadata", body: `{"maxAge":"","maxCount":0,"truncateBefore":0}`}).want(t, 200, "")
	post(t, ts, "/api/streams/s", appendBody(`6`, "New", 1)).want(t, 201, "")
	for _, want := range []string{"5", "6", "7"} {
		if id, _ := c.next(t); id != want {
			t.Fatalf("after revisions 5 and 6 were shown again and 7 was appended, the subscription sent revision %s, want %s (5, 6 and 7, as a reconnection sends)", id, want)
		}
	}
}

// readsCounted is a memory store that counts the reads of each stream.
type readsCounted struct {
	*memory.Store
	mu    sync.Mutex
	reads map[string]int
}

func (s *readsCounted) ReadStream(ctx context.Context, stream string, o chronicle.ReadStreamOptions) iter.Seq2[chronicle.RecordedEvent, error] {
	s.mu.Lock()
	s.reads[stream]++
	s.mu.Unlock()
	return s.Store.ReadStream(ctx, stream, o)
}

func (s *readsCounted) readsOf(stream string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reads[stream]
}

// TestSubscribersOfAStreamShareItsReads: the subscriptions to one stream
// read it once for an append between them, not once each, and each still
// sends every event once, in order.
func TestSubscribersOfAStreamShareItsReads(t *testing.T) {
	const subscribers, appends = 4, 10
	store := &readsCounted{Store: memory.New(nil), reads: map[string]int{}}
	_, ts := newTestServer(t, store, nil)
	post(t, ts, "/api/streams/s", appendBody(`"no-stream"`, "E", 1)).want(t, 201, "")
	var subs []*sseClient
	for range subscribers {
		c := subscribe(t, ts.URL, "/api/streams/s/subscribe", nil)
		if id, _ := c.next(t); id != "0" {
			t.Fatalf("the subscription sent revision %s first, want 0", id)
		}
		subs = append(subs, c)
	}
	before := store.readsOf("s")
	for i := 1; i <= appends; i++ {
		post(t, ts, "/api/streams/s", appendBody(strconv.Itoa(i-1), "E", 1)).want(t, 201, "")
		for n, c := range subs {
			if id, _ := c.next(t); id != strconv.Itoa(i) {
				t.Fatalf("subscriber %d sent revision %s, want %d", n, id, i)
			}
		}
	}
	// Each subscription may read once more as it joins the others, and
	// once more again if it joins during one of their reads, as well as
	// once for each append between them.
	if n, most := store.readsOf("s")-before, appends+2*subscribers; n > most {
		t.Errorf("%d subscriptions read the stream %d times for %d appends, want at most %d", subscribers, n, appends, most)
	}
}

// TestSubscribeStreamEndsWhenTombstoned: a tombstone writes nothing to the
// log; a live subscription to the stream still ends, within seconds, with
// the stream_deleted error that a new subscription gets, rather than
// wait for events that can never come.
func TestSubscribeStreamEndsWhenTombstoned(t *testing.T) {
	_, ts := newTestServer(t, nil, nil)
	post(t, ts, "/api/streams/s", appendBody(`"no-stream"`, "E", 1)).want(t, 201, "")
	c := subscribe(t, ts.URL, "/api/streams/s/subscribe", nil)
	if id, _ := c.next(t); id != "0" {
		t.Fatalf("first message id %s, want revision 0", id)
	}
	do(t, ts, req{method: "DELETE", path: "/api/streams/s?tombstone=true"}).want(t, 204, "")
	if _, data := c.next(t); !strings.Contains(data, `"code":"stream_deleted"`) {
		t.Fatalf("after the tombstone the subscription sent %s, want the stream_deleted error", data)
	}
}
