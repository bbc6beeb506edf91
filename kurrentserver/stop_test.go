package kurrentserver_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/internal/esdbpb"
	"github.com/chronicle-es/chronicle/kurrentserver"
	"github.com/chronicle-es/chronicle/memory"
	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// heldAppends is a memory store whose appends to the stream "held" say so
// on held, and then wait until release is closed.
type heldAppends struct {
	*memory.Store
	held    chan struct{}
	release chan struct{}
}

func (s *heldAppends) Append(ctx context.Context, stream string, exp chronicle.ExpectedRevision, events ...chronicle.EventData) (chronicle.AppendResult, error) {
	if stream == "held" {
		s.held <- struct{}{}
		select {
		case <-s.release:
		case <-ctx.Done():
			return chronicle.AppendResult{}, ctx.Err()
		}
	}
	return s.Store.Append(ctx, stream, exp, events...)
}

// subscribeAndHold opens a subscription, which it returns once it is
// confirmed, and an append to the stream "held", which it returns once
// store holds it: the error of the append comes on the channel when it
// ends.
func subscribeAndHold(t *testing.T, ctx context.Context, c esdbpb.StreamsClient, store *heldAppends) (*sub, <-chan error) {
	t.Helper()
	sub := subscribe(t, ctx, c, allOpts(false, nil, 0))
	if sub.next().GetConfirmation() == nil {
		t.Fatal("the subscription was not confirmed")
	}
	appended := make(chan error, 1)
	go func() { appended <- appendHeld(ctx, c) }()
	<-store.held
	return sub, appended
}

// endsStopping reads the rest of sub, and fails the test unless the
// subscription ends with the status of a stopping server.
func endsStopping(t *testing.T, sub *sub) {
	t.Helper()
	for {
		if _, err := sub.s.Recv(); err != nil {
			if !isStopping(err) {
				t.Errorf("the subscription ended with %v, want Unavailable, saying that the server is stopping", err)
			}
			return
		}
	}
}

// appendHeld appends an event to the stream "held", which heldAppends
// holds.
func appendHeld(ctx context.Context, c esdbpb.StreamsClient) error {
	call, err := c.Append(ctx)
	if err != nil {
		return err
	}
	for _, m := range []*esdbpb.AppendReq{{Content: &esdbpb.AppendReq_Options_{Options: optsAny("held")}}, proposed("E", `{}`)} {
		if err := call.Send(m); err != nil {
			return err
		}
	}
	_, err = call.CloseAndRecv()
	return err
}

// isStopping reports whether err is the status of a call that a stopping
// server ended or refused.
func isStopping(err error) bool {
	st := status.Convert(err)
	return st.Code() == codes.Unavailable && strings.Contains(st.Message(), "stopping")
}

// batchReq is one chunk of a BatchAppend, of one event, to stream.
func batchReq(corr *esdbpb.UUID, stream string, final bool) *esdbpb.BatchAppendReq {
	return &esdbpb.BatchAppendReq{
		CorrelationId: corr,
		Options: &esdbpb.BatchAppendReq_Options{
			StreamIdentifier:       sid(stream),
			ExpectedStreamPosition: &esdbpb.BatchAppendReq_Options_Any{},
		},
		ProposedMessages: []*esdbpb.BatchAppendReq_ProposedMessage{{
			Id:       &esdbpb.UUID{Value: &esdbpb.UUID_String_{String_: uuid.NewString()}},
			Metadata: map[string]string{"type": "E", "content-type": "application/json"},
			Data:     []byte(`{}`),
		}},
		IsFinal: final,
	}
}

// serveAlone serves store with [kurrentserver.Server.Serve] on a
// loopback port of its own, and returns the server, a client connection
// to it, and the channel that Serve's error comes on.
func serveAlone(t *testing.T, store chronicle.Store) (*kurrentserver.Server, *grpc.ClientConn, <-chan error) {
	t.Helper()
	srv := kurrentserver.New(store, nil)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	t.Cleanup(srv.Stop)
	cc, err := grpc.NewClient(l.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return srv, cc, served
}

// TestGracefulStop: GracefulStop ends the subscriptions at once, and
// refuses new calls, with Unavailable and a message that the server is
// stopping; it lets the appends in flight end, a batch append stream's
// too, even one whose chunks are still coming, and returns once they
// have. A BatchAppend stream then ends, as clients keep one open for
// their appends. The server had no graceful stop of its own, and a
// *grpc.Server's waited for the subscriptions forever.
func TestGracefulStop(t *testing.T) {
	store := &heldAppends{Store: memory.New(nil), held: make(chan struct{}), release: make(chan struct{})}
	srv, cc, served := serveAlone(t, store)
	c := esdbpb.NewStreamsClient(cc)
	ctx := ctxT(t)

	sub, appended := subscribeAndHold(t, ctx, c, store)
	// A batch append stream with an append under way, and another one
	// begun, whose last chunk has not come: the chunks are read in
	// order, so the first one has been when the append is held.
	batches, err := c.BatchAppend(ctx)
	if err != nil {
		t.Fatal(err)
	}
	begun := &esdbpb.UUID{Value: &esdbpb.UUID_String_{String_: uuid.NewString()}}
	for _, r := range []*esdbpb.BatchAppendReq{batchReq(begun, "b", false), batchReq(nil, "held", true)} {
		if err := batches.Send(r); err != nil {
			t.Fatal(err)
		}
	}
	<-store.held

	stopped := make(chan struct{})
	go func() {
		srv.GracefulStop()
		close(stopped)
	}()
	endsStopping(t, sub)
	if _, err := esdbpb.NewServerFeaturesClient(cc).GetSupportedMethods(ctx, &esdbpb.Empty{}); !isStopping(err) {
		t.Errorf("a call made once GracefulStop had begun: %v, want it refused with Unavailable, saying that the server is stopping", err)
	}
	select {
	case <-stopped:
		t.Fatal("GracefulStop returned before the appends in flight had ended")
	default:
	}

	close(store.release)
	if err := <-appended; err != nil {
		t.Errorf("the append in flight: %v, want it to end well", err)
	}
	if r, err := batches.Recv(); err != nil || r.GetSuccess() == nil {
		t.Errorf("the batch append in flight: %v, %v; want it to end well", r, err)
	}
	if err := batches.Send(batchReq(begun, "b", true)); err != nil {
		t.Fatal(err)
	}
	if r, err := batches.Recv(); err != nil || r.GetSuccess() == nil || r.GetCorrelationId().GetString_() != begun.GetString_() {
		t.Errorf("the batch append whose last chunk came once GracefulStop had begun: %v, %v; want it to end well", r, err)
	}
	if _, err := batches.Recv(); !isStopping(err) {
		t.Errorf("the batch append stream, once its appends had ended: %v, want it ended with Unavailable, saying that the server is stopping", err)
	}
	<-stopped
	if err := <-served; err != nil {
		t.Errorf("Serve = %v, want nil after GracefulStop", err)
	}
}

// TestServeHTTPRefusesOnceStopped: a call that comes through ServeHTTP
// once the server has stopped is refused with Unavailable, and a message
// that says why. The *grpc.Server, stopped, ended it without a word,
// which clients read as a malformed answer.
func TestServeHTTPRefusesOnceStopped(t *testing.T) {
	srv := kurrentserver.New(memory.New(nil), nil)
	srv.GracefulStop()
	r := httptest.NewRequest(http.MethodPost, "/event_store.client.streams.Streams/Read", nil)
	r.ProtoMajor, r.ProtoMinor = 2, 0
	r.Header.Set("Content-Type", "application/grpc")
	w := httptest.NewRecorder()
	srv.ServeHTTP(w, r)
	if got, msg := w.Header().Get("Grpc-Status"), w.Header().Get("Grpc-Message"); got != "14" || !strings.Contains(msg, "stopping") {
		t.Errorf("a call once stopped: grpc-status %q, grpc-message %q; want 14 (Unavailable), saying that the server is stopping", got, msg)
	}
}

// TestServeWithHTTPLetsCallsEnd: ServeWithHTTP, once its ctx ends, ends
// the subscriptions, with the status of a stopping server, and lets the
// calls in flight end, as its doc says. It stopped the *grpc.Server
// first, which cut them off at once, and ended the subscriptions
// without a status.
func TestServeWithHTTPLetsCallsEnd(t *testing.T) {
	store := &heldAppends{Store: memory.New(nil), held: make(chan struct{}), release: make(chan struct{})}
	srv := kurrentserver.New(store, nil)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	served := make(chan error, 1)
	go func() { served <- srv.ServeWithHTTP(ctx, l, nil) }()
	cc, err := grpc.NewClient(l.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	c := esdbpb.NewStreamsClient(cc)
	sub, appended := subscribeAndHold(t, ctxT(t), c, store)
	stop()
	endsStopping(t, sub)
	close(store.release)
	if err := <-appended; err != nil {
		t.Errorf("the append in flight: %v, want it to end well", err)
	}
	if err := <-served; err != nil {
		t.Errorf("ServeWithHTTP = %v, want nil", err)
	}
}

// TestGracefulStopAfterBatchAppendClientsLeft: the BatchAppend streams
// whose clients left with an append begun, its last chunk never sent,
// end, and GracefulStop returns. Each such stream's handler waited for
// a chunk that would never come, half the time (as Go's select chose),
// so that the server never stopped.
func TestGracefulStopAfterBatchAppendClientsLeft(t *testing.T) {
	srv, cc, _ := serveAlone(t, memory.New(nil))
	c := esdbpb.NewStreamsClient(cc)
	// Each stream's handler, wrong, waited forever with even odds:
	// enough of them that one at least would.
	for range 32 {
		ctx, leave := context.WithCancel(ctxT(t))
		batches, err := c.BatchAppend(ctx)
		if err != nil {
			t.Fatal(err)
		}
		begun := &esdbpb.UUID{Value: &esdbpb.UUID_String_{String_: uuid.NewString()}}
		done := &esdbpb.UUID{Value: &esdbpb.UUID_String_{String_: uuid.NewString()}}
		for _, r := range []*esdbpb.BatchAppendReq{batchReq(begun, "b", false), batchReq(done, "b", true)} {
			if err := batches.Send(r); err != nil {
				t.Fatal(err)
			}
		}
		// The chunks are read in order: the first append is begun.
		if r, err := batches.Recv(); err != nil || r.GetSuccess() == nil {
			t.Fatalf("the append after the one begun: %v, %v; want it to end well", r, err)
		}
		leave()
	}
	stopped := make(chan struct{})
	go func() {
		srv.GracefulStop()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("GracefulStop still waited 10 s after the clients of the BatchAppend streams had left")
	}
}
