package kurrent_test

import (
	"bytes"
	"context"
	"errors"
	"math"
	"net"
	"testing"
	"time"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/kurrent"
	"github.com/chronicle-es/chronicle/kurrentserver"
	"github.com/chronicle-es/chronicle/memory"
	"github.com/chronicle-es/chronicle/server"
	"github.com/chronicle-es/chronicle/storetest"
)

// serve starts Chronicle's protocol server over a fresh memory store on a
// loopback port and returns its address and store.
func serve(tb testing.TB, opts *kurrentserver.Options) (string, *memory.Store) {
	tb.Helper()
	store := memory.New(nil)
	return serveStore(tb, store, opts), store
}

// serveStore starts Chronicle's protocol server over store on a loopback
// port and returns its address.
func serveStore(tb testing.TB, store chronicle.Store, opts *kurrentserver.Options) string {
	tb.Helper()
	srv := kurrentserver.New(store, opts)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	go srv.Serve(l)
	tb.Cleanup(srv.Stop)
	return l.Addr().String()
}

func dial(tb testing.TB, conn string) *kurrent.Store {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := kurrent.Dial(ctx, conn, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// The client passes the conformance suite against Chronicle's server.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(tb testing.TB) chronicle.Store {
		addr, _ := serve(tb, nil)
		return dial(tb, "kurrentdb://"+addr+"?tls=false")
	})
}

// The client passes it too through the HTTP server of "chronicle serve",
// which shares its port between the web UI and the protocol (plain-text
// HTTP/2), wired as the program wires it.
func TestConformanceThroughTheHTTPServer(t *testing.T) {
	storetest.Run(t, func(tb testing.TB) chronicle.Store {
		store := memory.New(nil)
		srv, err := server.New(store, &server.Options{
			GRPC:         kurrentserver.New(store, nil),
			LoopbackOnly: true,
		})
		if err != nil {
			tb.Fatal(err)
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		ctx, stop := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- srv.Serve(ctx, l, time.Second) }()
		tb.Cleanup(func() {
			stop()
			if err := <-done; err != nil {
				tb.Errorf("Serve: %v", err)
			}
		})
		return dial(tb, "kurrentdb://"+l.Addr().String()+"?tls=false")
	})
}

// An event of 5 MiB, over gRPC's default limit on a message received
// (4 MiB) but well within what stores take, goes through the client to
// the server (whose limit refused it), and back in a read and a
// subscription (where the client's limit refused it).
func TestEventOverGRPCsDefaultMessageLimit(t *testing.T) {
	addr, backing := serve(t, nil)
	s := dial(t, "kurrentdb://"+addr+"?tls=false")
	// The deadline only bounds a hang: the four trips of 5 MiB take about
	// a second under the race detector, and several on a busy machine.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	data := bytes.Repeat([]byte("x"), 5<<20)
	if _, err := s.Append(ctx, "big-1", chronicle.NoStream, chronicle.EventData{Type: "Big", Data: data}); err != nil {
		t.Fatalf("append of a 5 MiB event: %v", err)
	}
	for e, err := range backing.ReadStream(ctx, "big-1", chronicle.ReadStreamOptions{}) {
		if err != nil || !bytes.Equal(e.Data, data) {
			t.Fatalf("the server's store holds %d bytes, %v", len(e.Data), err)
		}
	}
	n := 0
	for e, err := range s.ReadStream(ctx, "big-1", chronicle.ReadStreamOptions{}) {
		if err != nil {
			t.Fatalf("read of a 5 MiB event: %v", err)
		}
		if n++; !bytes.Equal(e.Data, data) {
			t.Fatalf("read %d bytes", len(e.Data))
		}
	}
	if n != 1 {
		t.Fatalf("read %d events, want 1", n)
	}
	for e, err := range s.Subscribe(ctx, chronicle.SubscribeOptions{}) {
		if err != nil {
			t.Fatalf("subscription to a 5 MiB event: %v", err)
		}
		if !bytes.Equal(e.Data, data) {
			t.Fatalf("the subscription got %d bytes", len(e.Data))
		}
		break
	}
}

// An event that the server's store refuses as too large, its limit
// being lower than the client's, is refused with an error that matches
// ErrEventTooLarge, as with any store.
func TestEventTooLargeForTheServersStore(t *testing.T) {
	addr := serveStore(t, memory.New(&memory.Options{MaxEventSize: 1000}), nil)
	s := dial(t, "kurrentdb://"+addr+"?tls=false")
	_, err := s.Append(context.Background(), "s-1", chronicle.Any, chronicle.EventData{Type: "E", Data: make([]byte, 2000)})
	if !errors.Is(err, chronicle.ErrEventTooLarge) {
		t.Fatalf("append refused by the server's store as too large: %v; want an error matching ErrEventTooLarge", err)
	}
}

// An event within the client's MaxEventSize but over what the server
// takes in one gRPC message (by default the stores' largest event and
// 1 MiB more) is refused by gRPC itself, before the server's store sees
// it: still an error that matches ErrEventTooLarge, which says so.
func TestEventTooLargeForTheServersMessages(t *testing.T) {
	addr, _ := serve(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := kurrent.Dial(ctx, "kurrentdb://"+addr+"?tls=false", &kurrent.Options{MaxEventSize: 32 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = s.Append(ctx, "s-1", chronicle.Any, chronicle.EventData{Type: "E", Data: make([]byte, chronicle.DefaultMaxEventSize+2<<20)})
	if !errors.Is(err, chronicle.ErrEventTooLarge) {
		t.Fatalf("append of an event over the server's message limit: %v; want an error matching ErrEventTooLarge", err)
	}
}

func TestDeleteAndMetadata(t *testing.T) {
	addr, backing := serve(t, nil)
	s := dial(t, "esdb://"+addr+"?tls=false")
	ctx := context.Background()
	for range 4 {
		if _, err := s.Append(ctx, "m-1", chronicle.Any, chronicle.EventData{Type: "N"}); err != nil {
			t.Fatal(err)
		}
	}
	if m, err := s.StreamMetadata(ctx, "m-1"); err != nil || !m.IsZero() {
		t.Fatalf("metadata before any: %+v, %v", m, err)
	}
	want := chronicle.StreamMetadata{MaxCount: 2, MaxAge: time.Hour}
	if err := s.SetStreamMetadata(ctx, "m-1", want); err != nil {
		t.Fatal(err)
	}
	if got, err := backing.StreamMetadata(ctx, "m-1"); err != nil || got != want {
		t.Fatalf("server store has %+v, %v; want %+v", got, err, want)
	}
	if got, err := s.StreamMetadata(ctx, "m-1"); err != nil || got != want {
		t.Fatalf("read back %+v, %v; want %+v", got, err, want)
	}
	var revs []uint64
	for e, err := range s.ReadStream(ctx, "m-1", chronicle.ReadStreamOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		revs = append(revs, e.Revision)
	}
	if len(revs) != 2 || revs[0] != 2 {
		t.Fatalf("read under $maxCount 2: %v", revs)
	}

	err := s.Delete(ctx, "m-1", chronicle.Exact(0))
	var wrong *chronicle.WrongExpectedRevisionError
	if !errors.As(err, &wrong) || wrong.Op != "delete" || wrong.Actual != chronicle.Exact(3) {
		t.Fatalf("delete at a stale revision: %v", err)
	}
	if err := s.Delete(ctx, "m-1", chronicle.Exact(3)); err != nil {
		t.Fatal(err)
	}
	for _, err := range s.ReadStream(ctx, "m-1", chronicle.ReadStreamOptions{}) {
		if !errors.Is(err, chronicle.ErrStreamNotFound) {
			t.Fatalf("read after delete: %v", err)
		}
	}
	if err := s.Tombstone(ctx, "m-1", chronicle.Any); err != nil {
		t.Fatal(err)
	}
	_, err = s.Append(ctx, "m-1", chronicle.Any, chronicle.EventData{Type: "N"})
	if !errors.Is(err, chronicle.ErrStreamDeleted) {
		t.Fatalf("append after tombstone: %v", err)
	}
	if err := s.Delete(ctx, "nope-1", chronicle.Any); !errors.Is(err, chronicle.ErrStreamNotFound) {
		t.Fatalf("delete of a missing stream: %v", err)
	}
}

func TestCredentials(t *testing.T) {
	addr, _ := serve(t, &kurrentserver.Options{Authorize: kurrentserver.BasicAuth("admin", "changeit")})
	ctx := context.Background()
	ok := dial(t, "kurrentdb://admin:changeit@"+addr+"?tls=false")
	if _, err := ok.Append(ctx, "a-1", chronicle.Any, chronicle.EventData{Type: "N"}); err != nil {
		t.Fatalf("with the right password: %v", err)
	}
	bad := dial(t, "kurrentdb://admin:nope@"+addr+"?tls=false")
	if _, err := bad.Append(ctx, "a-1", chronicle.Any, chronicle.EventData{Type: "N"}); err == nil {
		t.Fatal("append with a wrong password succeeded")
	}
	if _, err := kurrent.Dial(ctx, "http://"+addr, nil); !errors.Is(err, kurrent.ErrConnectionString) {
		t.Fatalf("http:// scheme: %v", err)
	}
}

// TestLongestMaxAge: the longest time.Duration, which Go code may use for
// "for ever", goes through the protocol (whose $maxAge counts seconds) and
// back no shorter, both ways: set through the client, and set on the
// server's store. A client that reads it back as a negative age could not
// set the metadata it read, which StreamMetadata.Validate refuses.
func TestLongestMaxAge(t *testing.T) {
	addr, backing := serve(t, nil)
	s := dial(t, "kurrentdb://"+addr+"?tls=false")
	ctx := context.Background()
	for _, age := range []time.Duration{math.MaxInt64, math.MaxInt64 - 500, math.MaxInt64 - time.Second + 1} {
		if err := s.SetStreamMetadata(ctx, "through-client", chronicle.StreamMetadata{MaxAge: age}); err != nil {
			t.Errorf("set MaxAge %d through the client: %v", age, err)
		} else if got, err := backing.StreamMetadata(ctx, "through-client"); err != nil || got.MaxAge < age {
			t.Errorf("set MaxAge %d through the client: the server's store holds %d, %v", age, got.MaxAge, err)
		}
		if err := backing.SetStreamMetadata(ctx, "on-server", chronicle.StreamMetadata{MaxAge: age}); err != nil {
			t.Fatal(err)
		}
		got, err := s.StreamMetadata(ctx, "on-server")
		if err != nil || got.MaxAge < age {
			t.Errorf("MaxAge %d set on the server's store reads back through the client as %d, %v", age, got.MaxAge, err)
			continue
		}
		// What was read can be set again, as "chronicle meta" does.
		got.MaxCount = 5
		if err := s.SetStreamMetadata(ctx, "on-server", got); err != nil {
			t.Errorf("setting back the metadata read (%+v): %v", got, err)
		}
	}
}

// A Dial whose ctx ends before the server answers fails with an error
// that matches ctx's error, as every call of the store does, and as a
// Dial that discovers a cluster does: here the server accepts the
// connection but never speaks.
func TestDialEndsWithItsContext(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	conn := "kurrentdb://" + l.Addr().String() + "?tls=false"
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := kurrent.Dial(ctx, conn, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Dial past its deadline: %v, want an error matching context.DeadlineExceeded", err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	if _, err := kurrent.Dial(ctx, conn, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("Dial with a cancelled context: %v, want an error matching context.Canceled", err)
	}
}

// The protocol carries an event's custom metadata as one value: the
// bytes under the reserved key $customMetadata, or a JSON object of the
// other keys, not both. An append whose metadata holds both is refused,
// as ErrInvalidEvent, rather than written without the other keys.
func TestRawMetadataWithOtherKeys(t *testing.T) {
	addr, backing := serve(t, nil)
	s := dial(t, "kurrentdb://"+addr+"?tls=false")
	ctx := context.Background()
	md := chronicle.Metadata{"$customMetadata": "aGVsbG8=", "user": "bob"}
	_, err := s.Append(ctx, "s-1", chronicle.Any, chronicle.EventData{Type: "E", Metadata: md})
	if !errors.Is(err, chronicle.ErrInvalidEvent) {
		for e, rerr := range backing.ReadStream(ctx, "s-1", chronicle.ReadStreamOptions{}) {
			t.Logf("the server's store holds metadata %v, %v", e.Metadata, rerr)
		}
		t.Fatalf("append with metadata %v: %v, want an error matching ErrInvalidEvent", md, err)
	}
	for _, err := range backing.ReadStream(ctx, "s-1", chronicle.ReadStreamOptions{}) {
		if !errors.Is(err, chronicle.ErrStreamNotFound) {
			t.Fatalf("the refused append wrote: %v", err)
		}
	}
	// With the content type alone beside it, it goes through whole.
	md = chronicle.Metadata{"$customMetadata": "aGVsbG8=", "$contentType": "application/octet-stream"}
	if _, err := s.Append(ctx, "s-2", chronicle.Any, chronicle.EventData{Type: "E", Metadata: md}); err != nil {
		t.Fatal(err)
	}
	for e, err := range s.ReadStream(ctx, "s-2", chronicle.ReadStreamOptions{}) {
		if err != nil || len(e.Metadata) != 2 || e.Metadata["$customMetadata"] != md["$customMetadata"] || e.Metadata["$contentType"] != md["$contentType"] {
			t.Fatalf("read back %v, %v; want %v", e.Metadata, err, md)
		}
	}
}
