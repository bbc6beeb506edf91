package kurrentserver_test

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/chronicle-es/chronicle/internal/esdbpb"
	"github.com/chronicle-es/chronicle/memory"
	"github.com/chronicle-es/chronicle/projection"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// FuzzAppendAndRead sends an append, of options and one proposed event,
// and a read (or subscription), each decoded from the fuzzer's bytes, and
// checks that the server never panics (gRPC-Go does not recover a
// handler's panic: the test binary would crash), never answers Unknown or
// Internal, which are for the server's own faults, and that an append it
// refuses writes nothing.
func FuzzAppendAndRead(f *testing.F) {
	seed := func(o *esdbpb.AppendReq_Options, m *esdbpb.AppendReq_ProposedMessage, r *esdbpb.ReadReq_Options) {
		ob, _ := proto.Marshal(o)
		mb, _ := proto.Marshal(m)
		rb, _ := proto.Marshal(r)
		f.Add(ob, mb, rb)
	}
	good := proposed("E", `{}`).GetProposedMessage()
	badID := proto.Clone(good).(*esdbpb.AppendReq_ProposedMessage)
	badID.Id = &esdbpb.UUID{Value: &esdbpb.UUID_String_{String_: "not-a-uuid"}}
	noType := proto.Clone(good).(*esdbpb.AppendReq_ProposedMessage)
	delete(noType.Metadata, "type")
	meta := proposed("$metadata", `{"$maxCount":2}`).GetProposedMessage()
	sub := allOpts(false, nil, 0)
	sub.CountOption = &esdbpb.ReadReq_Options_Subscription{Subscription: &esdbpb.ReadReq_Options_SubscriptionOptions{}}
	seed(optsAny("s-1"), good, streamOpts("s-1", false, nil, 10))
	seed(optsNoStream("s-1"), badID, allOpts(true, nil, ^uint64(0)))
	seed(optsRev("s-1", ^uint64(0)), noType, streamOpts("", true, nil, 0))
	seed(optsExists(""), good, &esdbpb.ReadReq_Options{})
	seed(optsAny("$$s-1"), meta, streamOpts("$$s-1", false, ptr(uint64(5)), 1))
	seed(optsAny("$x"), good, sub)
	seed(&esdbpb.AppendReq_Options{}, &esdbpb.AppendReq_ProposedMessage{}, allOpts(false, ptr(^uint64(0)), 0))

	store := memory.New(nil)
	c := esdbpb.NewStreamsClient(conn(f, store, nil))
	head := func(t *testing.T) uint64 {
		h, err := projection.Head(context.Background(), store)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	serverFault := func(err error) bool {
		code := status.Code(err)
		return code == codes.Unknown || code == codes.Internal
	}
	f.Fuzz(func(t *testing.T, optsBytes, msgBytes, readBytes []byte) {
		var o esdbpb.AppendReq_Options
		var m esdbpb.AppendReq_ProposedMessage
		var r esdbpb.ReadReq_Options
		if proto.Unmarshal(optsBytes, &o) != nil || proto.Unmarshal(msgBytes, &m) != nil || proto.Unmarshal(readBytes, &r) != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		before := head(t)
		resp, err := appendOnce(ctx, c, &o, &m)
		if serverFault(err) {
			t.Fatalf("append %v %v: %v, want a status for bad input", &o, &m, err)
		}
		if after := head(t); (err != nil || resp.GetSuccess() == nil) && after != before {
			t.Fatalf("append %v %v refused (%v %v), but the log went from %d to %d", &o, &m, resp, err, before, after)
		}
		// A subscription that is not refused runs until this ends.
		rctx, rcancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer rcancel()
		if _, err := tryRead(rctx, c, &r); serverFault(err) {
			t.Fatalf("read %v: %v, want a status for bad input", &r, err)
		}
	})
}

// appendOnce sends an append of one event, as a client does.
func appendOnce(ctx context.Context, c esdbpb.StreamsClient, o *esdbpb.AppendReq_Options, m *esdbpb.AppendReq_ProposedMessage) (*esdbpb.AppendResp, error) {
	s, err := c.Append(ctx)
	if err != nil {
		return nil, err
	}
	for _, req := range []*esdbpb.AppendReq{
		{Content: &esdbpb.AppendReq_Options_{Options: o}},
		{Content: &esdbpb.AppendReq_ProposedMessage_{ProposedMessage: m}},
	} {
		if err := s.Send(req); errors.Is(err, io.EOF) {
			break // refused: CloseAndRecv has the status
		} else if err != nil {
			return nil, err
		}
	}
	return s.CloseAndRecv()
}
