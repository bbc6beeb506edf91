package kurrent_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/kurrent"
	"github.com/chronicle-es/chronicle/memory"
	"github.com/chronicle-es/chronicle/storetest"
	"google.golang.org/grpc"
)

// stuckAppends is a server's store whose appends wait until their call
// ends, so that an append sent through it is under way until the client
// gives it up.
type stuckAppends struct {
	chronicle.Store
	entered chan struct{}
}

func (s stuckAppends) Append(ctx context.Context, _ string, _ chronicle.ExpectedRevision, _ ...chronicle.EventData) (chronicle.AppendResult, error) {
	s.entered <- struct{}{}
	<-ctx.Done()
	return chronicle.AppendResult{}, ctx.Err()
}

// grpcTracker counts the gRPC operations of a client under way: opening
// a call, and each send and receive on it.
type grpcTracker struct{ busy atomic.Int64 }

func (t *grpcTracker) intercept(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	t.busy.Add(1)
	defer t.busy.Add(-1)
	cs, err := streamer(ctx, desc, cc, method, opts...)
	if err != nil {
		return nil, err
	}
	return trackedStream{cs, t}, nil
}

type trackedStream struct {
	grpc.ClientStream
	t *grpcTracker
}

func (s trackedStream) SendMsg(m any) error {
	s.t.busy.Add(1)
	defer s.t.busy.Add(-1)
	return s.ClientStream.SendMsg(m)
}

func (s trackedStream) RecvMsg(m any) error {
	s.t.busy.Add(1)
	defer s.t.busy.Add(-1)
	return s.ClientStream.RecvMsg(m)
}

func (s trackedStream) CloseSend() error {
	s.t.busy.Add(1)
	defer s.t.busy.Add(-1)
	return s.ClientStream.CloseSend()
}

// TestCloseWaitsForCalls: Close returns once the calls under way (appends
// the server holds, subscriptions waiting for events) have left gRPC, as
// the other stores' Close waits for theirs; they end with an error
// matching ErrClosed, and later calls fail with one without using the
// connection. Each round races Close with the calls' wake-up anew.
func TestCloseWaitsForCalls(t *testing.T) {
	for round := range 20 {
		closeUnderCalls(t, round)
	}
}

func closeUnderCalls(t *testing.T, round int) {
	const n = 4 // appends, and as many subscriptions
	backing := memory.New(nil)
	if _, err := backing.Append(context.Background(), "s-1", chronicle.NoStream, chronicle.EventData{Type: "E"}); err != nil {
		t.Fatal(err)
	}
	entered := make(chan struct{})
	addr := serveStore(t, stuckAppends{backing, entered}, nil)
	var tr grpcTracker
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := kurrent.Dial(ctx, "kurrentdb://"+addr+"?tls=false", &kurrent.Options{
		DialOptions: []grpc.DialOption{grpc.WithChainStreamInterceptor(tr.intercept)},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ended := make(chan error, 2*n)
	for range n {
		go func() {
			_, err := s.Append(ctx, "s-1", chronicle.Any, chronicle.EventData{Type: "E"})
			ended <- err
		}()
		<-entered
	}
	for range n {
		caughtUp := make(chan struct{})
		go func() {
			first := true
			for _, err := range s.Subscribe(ctx, chronicle.SubscribeOptions{}) {
				if err != nil {
					ended <- err
					return
				}
				if first {
					close(caughtUp) // the next event will not come
					first = false
				}
			}
		}()
		<-caughtUp
	}
	if err := s.Close(); err != nil {
		t.Fatalf("round %d: Close: %v", round, err)
	}
	if busy := tr.busy.Load(); busy != 0 {
		t.Errorf("round %d: %d gRPC operations of the calls under way still ran once Close returned", round, busy)
	}
	for range 2 * n {
		if err := <-ended; !errors.Is(err, chronicle.ErrClosed) {
			t.Errorf("round %d: a call under way at Close ended with %v, want an error matching ErrClosed", round, err)
		}
	}
	_, err = s.Append(ctx, "s-1", chronicle.Any, chronicle.EventData{Type: "E"})
	if !errors.Is(err, chronicle.ErrClosed) {
		t.Errorf("round %d: an append after Close: %v, want an error matching ErrClosed", round, err)
	}
	if busy := tr.busy.Load(); busy != 0 {
		t.Errorf("round %d: an append after Close left %d gRPC operations running", round, busy)
	}
}

// TestCloseInLoopBody: a subscriber may close the store from its loop
// body, which Close does not wait for (it would wait for itself); the
// subscription's next step ends with ErrClosed.
func TestCloseInLoopBody(t *testing.T) {
	addr, backing := serve(t, nil)
	if _, err := backing.Append(context.Background(), "s-1", chronicle.NoStream, chronicle.EventData{Type: "E"}, chronicle.EventData{Type: "E"}); err != nil {
		t.Fatal(err)
	}
	s := dial(t, "kurrentdb://"+addr+"?tls=false")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n := 0
	for _, err := range s.Subscribe(ctx, chronicle.SubscribeOptions{}) {
		if err != nil {
			if !errors.Is(err, chronicle.ErrClosed) {
				t.Errorf("the subscription ended with %v, want an error matching ErrClosed", err)
			}
			break
		}
		if n++; n == 1 {
			if err := s.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
		}
	}
	if n != 1 {
		t.Errorf("%d events after Close, want none", n-1)
	}
}

// TestCloseEndsSubscriptions: a subscriber that has caught up waits for
// the server to push the next event, which only Close can end here; it
// ends at once, with ErrClosed, as the polling stores' subscribers do.
func TestCloseEndsSubscriptions(t *testing.T) {
	addr, _ := serve(t, nil)
	storetest.CloseEndsSubscriptions(t, dial(t, "kurrentdb://"+addr+"?tls=false"))
}

// TestBadMetadataAfterClose: an event whose "$customMetadata" is not
// base64 is refused as invalid, before any look at the connection, so
// that a closed store refuses it as an open one does, as every store
// refuses bad input whether closed or not.
func TestBadMetadataAfterClose(t *testing.T) {
	addr, _ := serve(t, nil)
	s := dial(t, "kurrentdb://"+addr+"?tls=false")
	bad := chronicle.EventData{Type: "E", Metadata: chronicle.Metadata{"$customMetadata": "not base64!"}}
	ctx := context.Background()
	for _, when := range []string{"open", "closed"} {
		if when == "closed" {
			if err := s.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
		}
		_, err := s.Append(ctx, "s-1", chronicle.Any, bad)
		if !errors.Is(err, chronicle.ErrInvalidEvent) || errors.Is(err, chronicle.ErrClosed) {
			t.Errorf("an append with bad $customMetadata to the %s store: %v, want an error matching ErrInvalidEvent alone", when, err)
		}
	}
}
