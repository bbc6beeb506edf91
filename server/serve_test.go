package server

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/internal/esdbpb"
	"github.com/chronicle-es/chronicle/kurrentserver"
	"github.com/chronicle-es/chronicle/memory"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// heldStore is a memory store whose reads of the stream "held", and of
// the global log when holdLog is set, hold their request in flight: they
// wait until their context ends, or the store is closed, or release is
// closed, and then find nothing. It says when such a read starts, and
// counts, at Close, the reads still under way.
type heldStore struct {
	*memory.Store
	holdLog   bool
	held      chan struct{} // a read held has started
	release   chan struct{}
	closed    chan struct{}
	closeOnce sync.Once

	mu             sync.Mutex
	reading        int
	readingAtClose int
}

func newHeldStore(t *testing.T) *heldStore {
	s := &heldStore{Store: memory.New(nil), held: make(chan struct{}, 10), release: make(chan struct{}), closed: make(chan struct{})}
	// Also ends a read that a test left waiting.
	t.Cleanup(func() { s.Close() })
	return s
}

func (s *heldStore) ReadStream(ctx context.Context, stream string, o chronicle.ReadStreamOptions) iter.Seq2[chronicle.RecordedEvent, error] {
	if stream != "held" {
		return s.Store.ReadStream(ctx, stream, o)
	}
	return s.hold(ctx)
}

func (s *heldStore) ReadAll(ctx context.Context, o chronicle.ReadAllOptions) iter.Seq2[chronicle.RecordedEvent, error] {
	if !s.holdLog {
		return s.Store.ReadAll(ctx, o)
	}
	return s.hold(ctx)
}

// hold returns a read that waits until ctx ends or the store is closed.
func (s *heldStore) hold(ctx context.Context) iter.Seq2[chronicle.RecordedEvent, error] {
	return func(yield func(chronicle.RecordedEvent, error) bool) {
		s.mu.Lock()
		s.reading++
		s.mu.Unlock()
		defer func() {
			s.mu.Lock()
			s.reading--
			s.mu.Unlock()
		}()
		s.held <- struct{}{}
		select {
		case <-ctx.Done():
			yield(chronicle.RecordedEvent{}, ctx.Err())
		case <-s.closed:
			yield(chronicle.RecordedEvent{}, errors.New("read of a closed store"))
		case <-s.release:
		}
	}
}

// Close closes the store, as "chronicle serve" does once Serve returns.
func (s *heldStore) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.readingAtClose = s.reading
		s.mu.Unlock()
		close(s.closed)
	})
	return nil
}

// serving runs s.Serve with grace on a loopback port until stop is
// called, and returns the port's address and a function that waits for
// Serve to return, and returns its error.
func serving(t *testing.T, s *Server, grace time.Duration) (addr string, stop context.CancelFunc, served func() error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln, grace) }()
	served = sync.OnceValue(func() error { return <-done })
	t.Cleanup(func() {
		stop()
		s.Abort()
		served()
	})
	return ln.Addr().String(), stop, served
}

// heldCall starts a call that the store holds in flight, over HTTP or
// over gRPC (the KurrentDB protocol that "chronicle serve" serves on the
// same port), and names it as a *CutOffError does.
type heldCall struct {
	name         string
	method, path string
	start        func(t *testing.T, addr string)
}

var heldCalls = []heldCall{
	{"HTTP", "GET", "/api/streams/held", func(t *testing.T, addr string) {
		go func() {
			if resp, err := http.Get("http://" + addr + "/api/streams/held"); err == nil {
				resp.Body.Close()
			}
		}()
	}},
	{"GRPC", "POST", "/event_store.client.streams.Streams/Read", func(t *testing.T, addr string) {
		c := streamsClient(t, addr)
		go func() {
			if call, err := c.Read(context.Background(), readReq("held", false)); err == nil {
				call.Recv()
			}
		}()
	}},
}

// newKurrentServer returns a server of store that serves the KurrentDB
// protocol too, as "chronicle serve" does.
func newKurrentServer(t *testing.T, store chronicle.Store) *Server {
	t.Helper()
	s, err := New(store, &Options{GRPC: kurrentserver.New(store, nil)})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// streamsClient returns a client of the KurrentDB protocol at addr.
func streamsClient(t *testing.T, addr string) esdbpb.StreamsClient {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return esdbpb.NewStreamsClient(cc)
}

// readReq asks for a read of stream from its start, or a subscription to
// it.
func readReq(stream string, subscribe bool) *esdbpb.ReadReq {
	o := &esdbpb.ReadReq_Options{
		StreamOption: &esdbpb.ReadReq_Options_Stream{Stream: &esdbpb.ReadReq_Options_StreamOptions{
			StreamIdentifier: &esdbpb.StreamIdentifier{StreamName: []byte(stream)},
			RevisionOption:   &esdbpb.ReadReq_Options_StreamOptions_Start{Start: &esdbpb.Empty{}},
		}},
		CountOption: &esdbpb.ReadReq_Options_Count{Count: 100},
	}
	if subscribe {
		o.CountOption = &esdbpb.ReadReq_Options_Subscription{Subscription: &esdbpb.ReadReq_Options_SubscriptionOptions{}}
	}
	return &esdbpb.ReadReq{Options: o}
}

// TestServeNamesWhatItCutsOff: a server whose grace period runs out, or
// whose wait Abort ends, with a request in flight, returns a
// *CutOffError that names the request and the grace period, and returns
// once the request's handler has, so that the store is not closed under
// it. It returned the bare context.DeadlineExceeded, which the command
// showed as "context deadline exceeded". And a gRPC call was cut off
// at once, when the server began to stop, left out of the error, and
// its handler left running: Serve returned nil.
func TestServeNamesWhatItCutsOff(t *testing.T) {
	for _, tt := range []struct {
		name    string
		grace   time.Duration
		aborted bool
		is      error
		says    string
	}{
		{"GraceRunsOut", time.Millisecond, false, context.DeadlineExceeded, "when the grace period of 1ms ran out: "},
		{"Aborted", time.Hour, true, context.Canceled, "without waiting out the grace period of 1h0m0s: "},
	} {
		for _, call := range heldCalls {
			t.Run(tt.name+"/"+call.name, func(t *testing.T) {
				store := newHeldStore(t)
				s := newKurrentServer(t, store)
				addr, stop, served := serving(t, s, tt.grace)
				call.start(t, addr)
				<-store.held
				stop()
				if tt.aborted {
					s.Abort()
				}
				err := served()
				store.Close()
				var cut *CutOffError
				if !errors.As(err, &cut) {
					t.Fatalf("Serve = %v (%T), want a *CutOffError", err, err)
				}
				if cut.Grace != tt.grace || cut.Aborted != tt.aborted || len(cut.Requests) != 1 ||
					cut.Requests[0].Method != call.method || cut.Requests[0].Path != call.path {
					t.Errorf("Serve = %#v, want grace %v, aborted %v, and the read cut off", cut, tt.grace, tt.aborted)
				}
				if !errors.Is(err, tt.is) {
					t.Errorf("Serve = %v, does not match %v", err, tt.is)
				}
				says := "cut off 1 request in flight " + tt.says + call.method + " " + call.path + " (running "
				if msg := err.Error(); !strings.Contains(msg, says) {
					t.Errorf("Serve = %q, want it to say %q", msg, says)
				}
				if store.readingAtClose != 0 {
					t.Errorf("Serve returned before the handler of the read it cut off had ended: the store was closed under it")
				}
			})
		}
	}
}

// TestServeGivesGRPCCallsTheGrace: a stopping server treats the gRPC
// calls it serves as it treats the web's requests: a read in flight gets
// the grace period to end, and ends well; a subscription ends at once,
// with Unavailable and a message that says why; and a call made then is
// refused with Unavailable. Serve stopped the gRPC server as soon as it
// began to stop, which cut every call off at once, with an answer that
// clients took for a malformed one ("malformed header: missing HTTP
// content-type").
func TestServeGivesGRPCCallsTheGrace(t *testing.T) {
	store := newHeldStore(t)
	s := newKurrentServer(t, store)
	addr, stop, served := serving(t, s, time.Minute)
	c := streamsClient(t, addr)
	ctx := t.Context()
	sub, err := c.Read(ctx, readReq("s", true))
	if err != nil {
		t.Fatal(err)
	}
	if r, err := sub.Recv(); err != nil || r.GetConfirmation() == nil {
		t.Fatalf("subscribe: %v, %v; want a confirmation", r, err)
	}
	read := make(chan error, 1)
	go func() {
		call, err := c.Read(ctx, readReq("held", false))
		for err == nil {
			_, err = call.Recv()
		}
		if err == io.EOF {
			err = nil
		}
		read <- err
	}()
	<-store.held
	stop()
	for {
		if _, err := sub.Recv(); err != nil {
			if st := status.Convert(err); st.Code() != codes.Unavailable || !strings.Contains(st.Message(), "stopping") {
				t.Errorf("the subscription ended with %v; want Unavailable, with a message that the server is stopping", err)
			}
			break
		}
	}
	// The subscription's end says that the gRPC server is stopping.
	call, err := c.Read(ctx, readReq("s", false))
	if err == nil {
		_, err = call.Recv()
	}
	if status.Code(err) != codes.Unavailable {
		t.Errorf("a read started as the server stops: %v, want it refused with Unavailable", err)
	}
	close(store.release)
	if err := <-read; err != nil {
		t.Errorf("the read in flight as the server began to stop: %v, want it to end well, within the grace period", err)
	}
	if err := served(); err != nil {
		t.Errorf("Serve = %v, want nil: the calls in flight ended within the grace period", err)
	}
}

// TestCutOffErrorMessage: the message counts the requests cut off, names
// a few, and says when none was under way.
func TestCutOffErrorMessage(t *testing.T) {
	var reqs []Request
	for i := range 7 {
		reqs = append(reqs, Request{Method: "GET", Path: "/api/streams/s" + string(rune('0'+i)), Running: time.Second})
	}
	for _, tt := range []struct {
		err  *CutOffError
		want string
	}{
		{&CutOffError{Grace: time.Second},
			"cut off the connections still open, with no request under way on them, when the grace period of 1s ran out"},
		{&CutOffError{Grace: 10 * time.Second, Aborted: true, Requests: reqs[:2]},
			"cut off 2 requests in flight without waiting out the grace period of 10s: GET /api/streams/s0 (running 1s), GET /api/streams/s1 (running 1s)"},
		{&CutOffError{Grace: time.Second, Requests: reqs},
			"cut off 7 requests in flight when the grace period of 1s ran out: GET /api/streams/s0 (running 1s), " +
				"GET /api/streams/s1 (running 1s), GET /api/streams/s2 (running 1s), GET /api/streams/s3 (running 1s), " +
				"GET /api/streams/s4 (running 1s), and 2 more"},
	} {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() =\n%s\nwant\n%s", got, tt.want)
		}
	}
}

// syncBuffer is a log's output, which a test reads while the server
// writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestServeReturnsAfterItsHandlers: Serve returns, and so the store is
// closed after it, only once the handlers of the requests it cut off have
// returned. It returned as soon as it had closed their connections, with
// a handler still reading the store, which was then closed under it.
func TestServeReturnsAfterItsHandlers(t *testing.T) {
	store := newHeldStore(t)
	var log syncBuffer
	s, err := New(store, &Options{Logger: slog.New(slog.NewTextHandler(&log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	addr, stop, served := serving(t, s, time.Millisecond)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// A body that never comes: net/http ends the request's context when
	// its connection closes only once the body has been read, so that
	// only Serve can end this read.
	fmt.Fprintf(conn, "GET /api/streams/held HTTP/1.1\r\nHost: %s\r\nContent-Length: 10\r\n\r\n", addr)
	<-store.held
	stop()
	if err := served(); !errors.As(err, new(*CutOffError)) {
		t.Fatalf("Serve = %v, want a *CutOffError", err)
	}
	// What "chronicle serve" does once Serve returns.
	logged := log.String()
	store.Close()
	if store.readingAtClose != 0 {
		t.Errorf("the store was closed under %d reads of requests that Serve had cut off", store.readingAtClose)
	}
	if !strings.Contains(logged, "path=/api/streams/held") {
		t.Errorf("Serve returned before the handler of the read it cut off had ended (it logs the request as it ends):\n%s", logged)
	}
}

// TestServeEndsSubscriptions: a stopping server ends its subscriptions
// (the API's, which the web UI's live tail follows too), over HTTP/1.1
// and HTTP/2, rather than wait for them: its shutdown is graceful however
// long its grace period, and each subscription ends cleanly.
func TestServeEndsSubscriptions(t *testing.T) {
	for _, tt := range []struct {
		name  string
		h2c   bool
		proto int
	}{{"HTTP1", false, 1}, {"HTTP2", true, 2}} {
		t.Run(tt.name, func(t *testing.T) {
			opts := &Options{}
			client := &http.Client{Transport: &http.Transport{}}
			if tt.h2c {
				// Options.GRPC makes Serve speak HTTP/2 in plain text.
				opts.GRPC = &grpcRecorder{}
				p := new(http.Protocols)
				p.SetUnencryptedHTTP2(true)
				client.Transport.(*http.Transport).Protocols = p
			}
			s, err := New(memory.New(nil), opts)
			if err != nil {
				t.Fatal(err)
			}
			// Long enough that a subscription left open fails the test
			// with a *CutOffError that names it, rather than a hang.
			addr, stop, served := serving(t, s, time.Minute)
			var subs []*http.Response
			for _, path := range []string{"/api/all/subscribe", "/api/streams/s/subscribe"} {
				resp, err := client.Get("http://" + addr + path)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				// The server sends "retry:" once it follows the log.
				line, err := bufio.NewReader(resp.Body).ReadString('\n')
				if resp.ProtoMajor != tt.proto || !strings.HasPrefix(line, "retry:") {
					t.Fatalf("subscribe %s: %s, first line %q, %v", path, resp.Proto, line, err)
				}
				subs = append(subs, resp)
			}
			stop()
			if err := served(); err != nil {
				t.Fatalf("Serve = %v, want nil: the subscriptions should not keep a shutdown waiting", err)
			}
			for _, resp := range subs {
				if _, err := io.ReadAll(resp.Body); err != nil {
					t.Errorf("subscription %s: %v, want it ended cleanly", resp.Request.URL.Path, err)
				}
			}
		})
	}
}

// TestServeEndsTheStatsItCutsOff: the dashboard's figures, which a
// request computes for the requests after it too and so outlive it, end
// when Serve cuts off the requests, and Serve returns. They went on, on
// a store slow to count, for up to statsLimit (5 minutes), which Serve
// waited out, after a grace period run out or a forced stop.
func TestServeEndsTheStatsItCutsOff(t *testing.T) {
	store := newHeldStore(t)
	store.holdLog = true
	s, err := New(store, nil)
	if err != nil {
		t.Fatal(err)
	}
	addr, stop, served := serving(t, s, time.Millisecond)
	// Runs before serving's cleanup, which waits for Serve: a test
	// that fails ends the read, and so Serve, rather than wait.
	t.Cleanup(func() { store.Close() })
	go func() {
		if resp, err := http.Get("http://" + addr + "/api/stats"); err == nil {
			resp.Body.Close()
		}
	}()
	<-store.held
	stop()
	returned := make(chan error, 1)
	go func() { returned <- served() }()
	select {
	case err := <-returned:
		var cut *CutOffError
		if !errors.As(err, &cut) || len(cut.Requests) != 1 || cut.Requests[0].Path != "/api/stats" {
			t.Fatalf("Serve = %v, want a *CutOffError that names GET /api/stats", err)
		}
	case <-time.After(30 * time.Second):
		// A bound on a hang, not a measure of speed: Serve has nothing
		// left to wait for but the stats.
		t.Fatal("Serve still waits for the stats it cut off, which go on reading the store")
	}
}
