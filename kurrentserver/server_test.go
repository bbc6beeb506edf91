package kurrentserver_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
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
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// conn serves store on a loopback port, the way `chronicle serve` does
// (gRPC beside an HTTP page, net/http plain-text HTTP/2), and returns a
// client connection to it.
func conn(t testing.TB, store chronicle.Store, opts *kurrentserver.Options) *grpc.ClientConn {
	t.Helper()
	srv := kurrentserver.New(store, opts)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	page := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ui") })
	go func() { done <- srv.ServeWithHTTP(ctx, l, page) }()
	cc, err := grpc.NewClient(l.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cc.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ServeWithHTTP: %v", err)
		}
	})
	return cc
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func sid(name string) *esdbpb.StreamIdentifier {
	return &esdbpb.StreamIdentifier{StreamName: []byte(name)}
}

func proposed(typ, data string) *esdbpb.AppendReq {
	return &esdbpb.AppendReq{Content: &esdbpb.AppendReq_ProposedMessage_{ProposedMessage: &esdbpb.AppendReq_ProposedMessage{
		Id:       &esdbpb.UUID{Value: &esdbpb.UUID_String_{String_: uuid.NewString()}},
		Metadata: map[string]string{"type": typ, "content-type": "application/json"},
		Data:     []byte(data),
	}}}
}

// appendRaw sends an append with the given options and events. A server
// that refuses the call may end the stream before the client's sends:
// they then fail with io.EOF, and the refusal is the status that
// CloseAndRecv returns.
func appendRaw(t *testing.T, c esdbpb.StreamsClient, opts *esdbpb.AppendReq_Options, events ...*esdbpb.AppendReq) (*esdbpb.AppendResp, error) {
	t.Helper()
	return appendCall(t, c, nil, opts, events)
}

// appendTrailer sends an append as appendRaw does, and returns the status
// and trailer of its refusal.
func appendTrailer(t *testing.T, c esdbpb.StreamsClient, opts *esdbpb.AppendReq_Options, events ...*esdbpb.AppendReq) (codes.Code, metadata.MD) {
	t.Helper()
	return trailerError(t, func(opt grpc.CallOption) error {
		_, err := appendCall(t, c, []grpc.CallOption{opt}, opts, events)
		return err
	})
}

func appendCall(t *testing.T, c esdbpb.StreamsClient, callOpts []grpc.CallOption, opts *esdbpb.AppendReq_Options, events []*esdbpb.AppendReq) (*esdbpb.AppendResp, error) {
	t.Helper()
	s, err := c.Append(ctxT(t), callOpts...)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range append([]*esdbpb.AppendReq{{Content: &esdbpb.AppendReq_Options_{Options: opts}}}, events...) {
		if err := s.Send(m); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
	return s.CloseAndRecv()
}

func optsAny(stream string) *esdbpb.AppendReq_Options {
	return &esdbpb.AppendReq_Options{StreamIdentifier: sid(stream), ExpectedStreamRevision: &esdbpb.AppendReq_Options_Any{Any: &esdbpb.Empty{}}}
}

func optsRev(stream string, rev uint64) *esdbpb.AppendReq_Options {
	return &esdbpb.AppendReq_Options{StreamIdentifier: sid(stream), ExpectedStreamRevision: &esdbpb.AppendReq_Options_Revision{Revision: rev}}
}

func optsNoStream(stream string) *esdbpb.AppendReq_Options {
	return &esdbpb.AppendReq_Options{StreamIdentifier: sid(stream), ExpectedStreamRevision: &esdbpb.AppendReq_Options_NoStream{NoStream: &esdbpb.Empty{}}}
}

func optsExists(stream string) *esdbpb.AppendReq_Options {
	return &esdbpb.AppendReq_Options{StreamIdentifier: sid(stream), ExpectedStreamRevision: &esdbpb.AppendReq_Options_StreamExists{StreamExists: &esdbpb.Empty{}}}
}

func TestAppendExpectedStates(t *testing.T) {
	store := memory.New(nil)
	c := esdbpb.NewStreamsClient(conn(t, store, nil))

	resp, err := appendRaw(t, c, optsNoStream("a-1"), proposed("A", `{"n":0}`), proposed("A", `{"n":1}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.GetSuccess().GetCurrentRevision(); got != 1 {
		t.Fatalf("current revision = %d, want 1", got)
	}
	if got := resp.GetSuccess().GetPosition().GetCommitPosition(); got != 2 {
		t.Fatalf("commit position = %d, want 2", got)
	}

	cases := []struct {
		name     string
		opts     *esdbpb.AppendReq_Options
		wantOK   bool
		wantCurr uint64
	}{
		{"no stream on existing", optsNoStream("a-1"), false, 1},
		{"stale revision", optsRev("a-1", 0), false, 1},
		{"exact revision", optsRev("a-1", 1), true, 2},
		{"stream exists", optsExists("a-1"), true, 3},
		{"any", optsAny("a-1"), true, 4},
	}
	for _, tc := range cases {
		resp, err := appendRaw(t, c, tc.opts, proposed("A", `{}`))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if tc.wantOK {
			if resp.GetSuccess() == nil || resp.GetSuccess().GetCurrentRevision() != tc.wantCurr {
				t.Fatalf("%s: got %v, want success at %d", tc.name, resp, tc.wantCurr)
			}
			continue
		}
		w := resp.GetWrongExpectedVersion()
		if w == nil {
			t.Fatalf("%s: got %v, want wrong expected version", tc.name, resp)
		}
		if w.GetCurrentRevision() != tc.wantCurr || w.GetCurrentRevision_20_6_0() != tc.wantCurr {
			t.Fatalf("%s: current = %d (old field %d), want %d", tc.name, w.GetCurrentRevision(), w.GetCurrentRevision_20_6_0(), tc.wantCurr)
		}
	}

	// Expecting an existing stream where there is none names both states.
	resp, err = appendRaw(t, c, optsExists("missing-1"), proposed("A", `{}`))
	if err != nil {
		t.Fatal(err)
	}
	w := resp.GetWrongExpectedVersion()
	if w.GetCurrentNoStream() == nil || w.GetExpectedStreamExists() == nil {
		t.Fatalf("got %v, want current no stream, expected stream exists", resp)
	}
	// The old fields say the same, in their own form.
	if w.GetNoStream_20_6_0() == nil || w.GetStreamExists_20_6_0() == nil {
		t.Fatalf("old fields of %v", w)
	}

	// An append without events checks the expected state only.
	resp, err = appendRaw(t, c, optsRev("a-1", 4))
	if err != nil || resp.GetSuccess().GetCurrentRevision() != 4 {
		t.Fatalf("empty append at 4 = %v, %v", resp, err)
	}
	resp, err = appendRaw(t, c, optsRev("a-1", 3))
	if err != nil || resp.GetWrongExpectedVersion().GetCurrentRevision() != 4 {
		t.Fatalf("empty append at 3 = %v, %v; want wrong expected version", resp, err)
	}

	// Bad input is an RPC error, not an answer.
	if _, err := appendRaw(t, c, optsAny("$system"), proposed("A", `{}`)); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("append to $system: %v, want InvalidArgument", err)
	}
	// The store's refusals of bad input name themselves in the
	// "exception" trailer, KurrentDB's for an event too large, so that
	// clients can tell them apart.
	small := esdbpb.NewStreamsClient(conn(t, memory.New(&memory.Options{MaxEventSize: 10}), nil))
	for _, tc := range []struct {
		name      string
		c         esdbpb.StreamsClient
		stream    string
		event     *esdbpb.AppendReq
		exception string
	}{
		{"an event without type", c, "a-1", proposed("", `{}`), "invalid-event"},
		{"an event too large", small, "a-1", proposed("A", `{"too":"large"}`), "maximum-append-size-exceeded"},
		{"an empty stream name", c, "", proposed("A", `{}`), "invalid-stream-name"},
	} {
		code, md := appendTrailer(t, tc.c, optsAny(tc.stream), tc.event)
		if code != codes.InvalidArgument || first(md, "exception") != tc.exception || first(md, "stream-name") != tc.stream {
			t.Errorf("append of %s: %v, %v; want InvalidArgument and the exception %s", tc.name, code, md, tc.exception)
		}
	}
}

// The server takes an event over gRPC's default limit on a message
// received (4 MiB) and within what stores take; Options.GRPCOptions can
// still set another limit.
func TestAppendOverGRPCsDefaultMessageLimit(t *testing.T) {
	big := proposed("Big", strings.Repeat("x", 5<<20))
	c := esdbpb.NewStreamsClient(conn(t, memory.New(nil), nil))
	if _, err := appendRaw(t, c, optsAny("big-1"), big); err != nil {
		t.Fatalf("append of a 5 MiB event: %v", err)
	}
	small := &kurrentserver.Options{GRPCOptions: []grpc.ServerOption{grpc.MaxRecvMsgSize(1 << 20)}}
	c = esdbpb.NewStreamsClient(conn(t, memory.New(nil), small))
	if _, err := appendRaw(t, c, optsAny("big-1"), big); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("append of a 5 MiB event with a limit of 1 MiB in GRPCOptions: %v, want ResourceExhausted", err)
	}
}

func TestEventsRoundTrip(t *testing.T) {
	store := memory.New(nil)
	c := esdbpb.NewStreamsClient(conn(t, store, nil))
	id := uuid.New()
	raw := []byte{0, 1, 2, 0xff}
	msg := func(custom []byte, ct string, data []byte) *esdbpb.AppendReq {
		return &esdbpb.AppendReq{Content: &esdbpb.AppendReq_ProposedMessage_{ProposedMessage: &esdbpb.AppendReq_ProposedMessage{
			Id:             &esdbpb.UUID{Value: &esdbpb.UUID_String_{String_: id.String()}},
			Metadata:       map[string]string{"type": "T", "content-type": ct},
			CustomMetadata: custom,
			Data:           data,
		}}}
	}
	if _, err := appendRaw(t, c, optsAny("rt-1"), msg([]byte(`{"k":1}`), "application/octet-stream", raw)); err != nil {
		t.Fatal(err)
	}
	// Chronicle applications see the event as a Chronicle event.
	for e, err := range store.ReadStream(ctxT(t), "rt-1", chronicle.ReadStreamOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		if e.ID != id || e.Type != "T" || string(e.Data) != string(raw) {
			t.Fatalf("stored %+v", e)
		}
	}
	evs := readStream(t, c, "rt-1", &esdbpb.ReadReq_Options_UUIDOption{Content: &esdbpb.ReadReq_Options_UUIDOption_Structured{Structured: &esdbpb.Empty{}}})
	if len(evs) != 1 {
		t.Fatalf("read %d events", len(evs))
	}
	e := evs[0]
	if string(e.GetCustomMetadata()) != `{"k":1}` {
		t.Fatalf("custom metadata %q, want it as written", e.GetCustomMetadata())
	}
	if e.GetMetadata()["content-type"] != "application/octet-stream" || e.GetMetadata()["type"] != "T" {
		t.Fatalf("metadata %v", e.GetMetadata())
	}
	if string(e.GetData()) != string(raw) {
		t.Fatalf("data %q", e.GetData())
	}
	st := e.GetId().GetStructured()
	var got uuid.UUID
	for i := range 8 {
		got[i] = byte(uint64(st.GetMostSignificantBits()) >> (56 - 8*i))
		got[8+i] = byte(uint64(st.GetLeastSignificantBits()) >> (56 - 8*i))
	}
	if got != id {
		t.Fatalf("structured id %v, want %v", got, id)
	}
	created := e.GetMetadata()["created"]
	if len(created) < 17 || !strings.HasPrefix(created, "1") {
		// .NET ticks since 1970 have 18 digits in this century.
		t.Fatalf("created = %q, want ticks since the epoch", created)
	}
}

// readStream reads a whole stream forwards.
func readStream(t *testing.T, c esdbpb.StreamsClient, stream string, uuidOpt *esdbpb.ReadReq_Options_UUIDOption) []*esdbpb.ReadResp_ReadEvent_RecordedEvent {
	t.Helper()
	resps := readRaw(t, c, &esdbpb.ReadReq_Options{
		StreamOption: &esdbpb.ReadReq_Options_Stream{Stream: &esdbpb.ReadReq_Options_StreamOptions{
			StreamIdentifier: sid(stream),
			RevisionOption:   &esdbpb.ReadReq_Options_StreamOptions_Start{Start: &esdbpb.Empty{}},
		}},
		CountOption: &esdbpb.ReadReq_Options_Count{Count: 1000},
		UuidOption:  uuidOpt,
	})
	var out []*esdbpb.ReadResp_ReadEvent_RecordedEvent
	for _, r := range resps {
		if e := r.GetEvent(); e != nil {
			out = append(out, e.GetEvent())
		}
	}
	return out
}

// readRaw sends a read and gathers its answers until the server ends it.
func readRaw(t *testing.T, c esdbpb.StreamsClient, o *esdbpb.ReadReq_Options) []*esdbpb.ReadResp {
	t.Helper()
	resps, err := tryRead(ctxT(t), c, o)
	if err != nil {
		t.Fatal(err)
	}
	return resps
}

func tryRead(ctx context.Context, c esdbpb.StreamsClient, o *esdbpb.ReadReq_Options, callOpts ...grpc.CallOption) ([]*esdbpb.ReadResp, error) {
	s, err := c.Read(ctx, &esdbpb.ReadReq{Options: o}, callOpts...)
	if err != nil {
		return nil, err
	}
	var out []*esdbpb.ReadResp
	for {
		r, err := s.Recv()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, r)
	}
}

func streamOpts(stream string, backwards bool, from *uint64, count uint64) *esdbpb.ReadReq_Options {
	so := &esdbpb.ReadReq_Options_StreamOptions{StreamIdentifier: sid(stream)}
	switch {
	case from != nil:
		so.RevisionOption = &esdbpb.ReadReq_Options_StreamOptions_Revision{Revision: *from}
	case backwards:
		so.RevisionOption = &esdbpb.ReadReq_Options_StreamOptions_End{End: &esdbpb.Empty{}}
	default:
		so.RevisionOption = &esdbpb.ReadReq_Options_StreamOptions_Start{Start: &esdbpb.Empty{}}
	}
	o := &esdbpb.ReadReq_Options{StreamOption: &esdbpb.ReadReq_Options_Stream{Stream: so}, CountOption: &esdbpb.ReadReq_Options_Count{Count: count}}
	if backwards {
		o.ReadDirection = esdbpb.ReadReq_Options_Backwards
	}
	return o
}

func allOpts(backwards bool, from *uint64, count uint64) *esdbpb.ReadReq_Options {
	ao := &esdbpb.ReadReq_Options_AllOptions{}
	switch {
	case from != nil:
		ao.AllOption = &esdbpb.ReadReq_Options_AllOptions_Position{Position: &esdbpb.ReadReq_Options_Position{CommitPosition: *from, PreparePosition: *from}}
	case backwards:
		ao.AllOption = &esdbpb.ReadReq_Options_AllOptions_End{End: &esdbpb.Empty{}}
	default:
		ao.AllOption = &esdbpb.ReadReq_Options_AllOptions_Start{Start: &esdbpb.Empty{}}
	}
	o := &esdbpb.ReadReq_Options{StreamOption: &esdbpb.ReadReq_Options_All{All: ao}, CountOption: &esdbpb.ReadReq_Options_Count{Count: count}}
	if backwards {
		o.ReadDirection = esdbpb.ReadReq_Options_Backwards
	}
	return o
}

func eventRevisions(resps []*esdbpb.ReadResp) []uint64 {
	var out []uint64
	for _, r := range resps {
		if e := r.GetEvent(); e != nil {
			out = append(out, e.GetEvent().GetStreamRevision())
		}
	}
	return out
}

func eventPositions(resps []*esdbpb.ReadResp) []uint64 {
	var out []uint64
	for _, r := range resps {
		if e := r.GetEvent(); e != nil {
			out = append(out, e.GetCommitPosition())
		}
	}
	return out
}

func equal[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func ptr[T any](v T) *T { return &v }

func TestRead(t *testing.T) {
	store := memory.New(nil)
	ctx := ctxT(t)
	for i := range 5 {
		for _, s := range []string{"r-1", "r-2"} {
			if _, err := store.Append(ctx, s, chronicle.Any, chronicle.EventData{Type: "N", Data: []byte(`{}`)}); err != nil {
				t.Fatal(i, err)
			}
		}
	}
	// r-1 is at positions 1, 3, 5, 7, 9; r-2 at 2, 4, 6, 8, 10.
	c := esdbpb.NewStreamsClient(conn(t, store, nil))
	tests := []struct {
		name string
		opts *esdbpb.ReadReq_Options
		revs []uint64
		pos  []uint64
	}{
		{"stream forwards", streamOpts("r-1", false, nil, 100), []uint64{0, 1, 2, 3, 4}, nil},
		{"stream forwards from 3", streamOpts("r-1", false, ptr[uint64](3), 100), []uint64{3, 4}, nil},
		{"stream forwards limit", streamOpts("r-1", false, nil, 2), []uint64{0, 1}, nil},
		{"stream backwards from end", streamOpts("r-1", true, nil, 2), []uint64{4, 3}, nil},
		{"stream backwards from 1", streamOpts("r-1", true, ptr[uint64](1), 100), []uint64{1, 0}, nil},
		{"all forwards", allOpts(false, nil, 3), nil, []uint64{1, 2, 3}},
		{"all forwards from 9, inclusive", allOpts(false, ptr[uint64](9), 100), nil, []uint64{9, 10}},
		{"all backwards from end", allOpts(true, nil, 3), nil, []uint64{10, 9, 8}},
		{"all backwards from 3, exclusive", allOpts(true, ptr[uint64](3), 100), nil, []uint64{2, 1}},
	}
	for _, tc := range tests {
		resps := readRaw(t, c, tc.opts)
		if tc.revs != nil && !equal(eventRevisions(resps), tc.revs) {
			t.Errorf("%s: revisions %v, want %v", tc.name, eventRevisions(resps), tc.revs)
		}
		if tc.pos != nil && !equal(eventPositions(resps), tc.pos) {
			t.Errorf("%s: positions %v, want %v", tc.name, eventPositions(resps), tc.pos)
		}
	}

	// Filters on $all: a stream-name prefix, and an event-type regex.
	o := allOpts(false, nil, 100)
	o.FilterOption = &esdbpb.ReadReq_Options_Filter{Filter: &esdbpb.ReadReq_Options_FilterOptions{
		Filter: &esdbpb.ReadReq_Options_FilterOptions_StreamIdentifier{StreamIdentifier: &esdbpb.ReadReq_Options_FilterOptions_Expression{Prefix: []string{"r-2"}}},
	}}
	if got := eventPositions(readRaw(t, c, o)); !equal(got, []uint64{2, 4, 6, 8, 10}) {
		t.Errorf("prefix filter: positions %v", got)
	}
	o.FilterOption = &esdbpb.ReadReq_Options_Filter{Filter: &esdbpb.ReadReq_Options_FilterOptions{
		Filter: &esdbpb.ReadReq_Options_FilterOptions_EventType{EventType: &esdbpb.ReadReq_Options_FilterOptions_Expression{Regex: "^X"}},
	}}
	if got := eventPositions(readRaw(t, c, o)); len(got) != 0 {
		t.Errorf("type filter ^X: positions %v, want none", got)
	}

	// A missing stream is an answer in the stream, not an error.
	resps := readRaw(t, c, streamOpts("nope-1", false, nil, 10))
	if len(resps) != 1 || string(resps[0].GetStreamNotFound().GetStreamIdentifier().GetStreamName()) != "nope-1" {
		t.Fatalf("read of a missing stream: %v", resps)
	}
}

// trailerError runs call and returns its status and trailer.
func trailerError(t *testing.T, call func(opt grpc.CallOption) error) (codes.Code, metadata.MD) {
	t.Helper()
	var md metadata.MD
	err := call(grpc.Trailer(&md))
	return status.Code(err), md
}

func TestDeleteAndTombstone(t *testing.T) {
	store := memory.New(nil)
	c := esdbpb.NewStreamsClient(conn(t, store, nil))
	ctx := ctxT(t)
	if _, err := appendRaw(t, c, optsAny("d-1"), proposed("A", `{}`), proposed("A", `{}`)); err != nil {
		t.Fatal(err)
	}
	code, md := trailerError(t, func(opt grpc.CallOption) error {
		_, err := c.Delete(ctx, &esdbpb.DeleteReq{Options: &esdbpb.DeleteReq_Options{
			StreamIdentifier: sid("d-1"), ExpectedStreamRevision: &esdbpb.DeleteReq_Options_Revision{Revision: 0},
		}}, opt)
		return err
	})
	if code != codes.FailedPrecondition || first(md, "exception") != "wrong-expected-version" ||
		first(md, "stream-name") != "d-1" || first(md, "expected-version") != "0" || first(md, "actual-version") != "1" {
		t.Fatalf("delete at a stale revision: %v %v", code, md)
	}
	if _, err := c.Delete(ctx, &esdbpb.DeleteReq{Options: &esdbpb.DeleteReq_Options{
		StreamIdentifier: sid("d-1"), ExpectedStreamRevision: &esdbpb.DeleteReq_Options_Revision{Revision: 1},
	}}); err != nil {
		t.Fatal(err)
	}
	if r := readRaw(t, c, streamOpts("d-1", false, nil, 10)); len(r) != 1 || r[0].GetStreamNotFound() == nil {
		t.Fatalf("read after delete: %v", r)
	}
	resp, err := appendRaw(t, c, optsNoStream("d-1"), proposed("A", `{}`))
	if err != nil || resp.GetSuccess().GetCurrentRevision() != 2 {
		t.Fatalf("append after delete: %v %v; want it at revision 2", resp, err)
	}

	if _, err := c.Tombstone(ctx, &esdbpb.TombstoneReq{Options: &esdbpb.TombstoneReq_Options{
		StreamIdentifier: sid("d-1"), ExpectedStreamRevision: &esdbpb.TombstoneReq_Options_Any{Any: &esdbpb.Empty{}},
	}}); err != nil {
		t.Fatal(err)
	}
	code, md = trailerError(t, func(opt grpc.CallOption) error {
		_, err := tryRead(ctx, c, streamOpts("d-1", false, nil, 10), opt)
		return err
	})
	if code != codes.FailedPrecondition || first(md, "exception") != "stream-deleted" || first(md, "stream-name") != "d-1" {
		t.Fatalf("read of a tombstoned stream: %v %v", code, md)
	}
	code, md = appendTrailer(t, c, optsAny("d-1"), proposed("A", `{}`))
	if code != codes.FailedPrecondition || first(md, "exception") != "stream-deleted" {
		t.Fatalf("append to a tombstoned stream: %v %v", code, md)
	}
}

func first(md metadata.MD, key string) string {
	if v := md.Get(key); len(v) > 0 {
		return v[0]
	}
	return ""
}
