package kurrentserver_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/internal/esdbpb"
	"github.com/chronicle-es/chronicle/kurrentserver"
	"github.com/chronicle-es/chronicle/memory"
	"github.com/chronicle-es/chronicle/shred"
	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

func TestBatchAppend(t *testing.T) {
	store := memory.New(nil)
	c := esdbpb.NewStreamsClient(conn(t, store, nil))
	s, err := c.BatchAppend(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	msg := func(typ string) *esdbpb.BatchAppendReq_ProposedMessage {
		return &esdbpb.BatchAppendReq_ProposedMessage{
			Id:       &esdbpb.UUID{Value: &esdbpb.UUID_String_{String_: uuid.NewString()}},
			Metadata: map[string]string{"type": typ, "content-type": "application/json"},
			Data:     []byte(`{}`),
		}
	}
	corr := &esdbpb.UUID{Value: &esdbpb.UUID_String_{String_: uuid.NewString()}}
	// One append in two chunks.
	send := func(r *esdbpb.BatchAppendReq) {
		t.Helper()
		if err := s.Send(r); err != nil {
			t.Fatal(err)
		}
	}
	send(&esdbpb.BatchAppendReq{CorrelationId: corr, Options: &esdbpb.BatchAppendReq_Options{
		StreamIdentifier:       sid("b-1"),
		ExpectedStreamPosition: &esdbpb.BatchAppendReq_Options_NoStream{},
	}, ProposedMessages: []*esdbpb.BatchAppendReq_ProposedMessage{msg("A"), msg("A")}})
	send(&esdbpb.BatchAppendReq{CorrelationId: corr, ProposedMessages: []*esdbpb.BatchAppendReq_ProposedMessage{msg("A")}, IsFinal: true})
	r, err := s.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if r.GetCorrelationId().GetString_() != corr.GetString_() || r.GetSuccess().GetCurrentRevision() != 2 || r.GetSuccess().GetPosition().GetCommitPosition() != 3 {
		t.Fatalf("first append: %v", r)
	}
	// A conflict is an answer with a status whose detail says it all;
	// the stream goes on.
	corr2 := &esdbpb.UUID{Value: &esdbpb.UUID_String_{String_: uuid.NewString()}}
	send(&esdbpb.BatchAppendReq{CorrelationId: corr2, Options: &esdbpb.BatchAppendReq_Options{
		StreamIdentifier:       sid("b-1"),
		ExpectedStreamPosition: &esdbpb.BatchAppendReq_Options_StreamPosition{StreamPosition: 0},
	}, ProposedMessages: []*esdbpb.BatchAppendReq_ProposedMessage{msg("A")}, IsFinal: true})
	r, err = s.Recv()
	if err != nil {
		t.Fatal(err)
	}
	st := r.GetError()
	if st == nil || codes.Code(st.GetCode()) != codes.FailedPrecondition || len(st.GetDetails()) != 1 {
		t.Fatalf("conflict: %v", r)
	}
	if got := st.GetDetails()[0].GetTypeUrl(); got != "type.googleapis.com/event_store.client.WrongExpectedVersion" {
		t.Fatalf("detail type %q", got)
	}
	var w esdbpb.WrongExpectedVersion
	if err := st.GetDetails()[0].UnmarshalTo(&w); err != nil {
		t.Fatal(err)
	}
	if w.GetCurrentStreamRevision() != 2 || w.GetExpectedStreamPosition() != 0 {
		t.Fatalf("detail %v", &w)
	}
	if string(r.GetStreamIdentifier().GetStreamName()) != "b-1" || r.GetStreamPosition() != 0 {
		t.Fatalf("conflict names %v", r)
	}
	if err := s.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Recv(); err != io.EOF {
		t.Fatalf("after CloseSend: %v, want EOF", err)
	}
}

// TestBatchAppendHalfClosed: when a client closes its side of a
// BatchAppend stream, every append it sent a chunk of is answered before
// the stream ends: the finished ones as usual, and one whose final chunk
// never came with an error saying that nothing of it was written, which
// is so. The server ended the stream with status OK and never answered
// the unfinished append, so that its client could not tell whether its
// events were written.
func TestBatchAppendHalfClosed(t *testing.T) {
	for _, tc := range []struct {
		name     string
		finished bool // whether the append sent last had its final chunk
	}{
		{"Unfinished", false},
		{"FinalThenClose", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := memory.New(nil)
			c := esdbpb.NewStreamsClient(conn(t, store, nil))
			s, err := c.BatchAppend(ctxT(t))
			if err != nil {
				t.Fatal(err)
			}
			whole := &esdbpb.UUID{Value: &esdbpb.UUID_String_{String_: uuid.NewString()}}
			last := &esdbpb.UUID{Value: &esdbpb.UUID_String_{String_: uuid.NewString()}}
			for _, r := range []*esdbpb.BatchAppendReq{batchReq(whole, "whole", true), batchReq(last, "last", tc.finished)} {
				if err := s.Send(r); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.CloseSend(); err != nil {
				t.Fatal(err)
			}
			answers := map[string]*esdbpb.BatchAppendResp{}
			for {
				r, err := s.Recv()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("the stream ended with %v, want OK once each append is answered", err)
				}
				answers[r.GetCorrelationId().GetString_()] = r
			}
			if r := answers[whole.GetString_()]; r.GetSuccess() == nil {
				t.Errorf("the finished append: %v, want success", r)
			}
			r := answers[last.GetString_()]
			switch {
			case r == nil:
				t.Fatalf("the append sent last was never answered; answers: %v", answers)
			case tc.finished && r.GetSuccess() == nil:
				t.Errorf("the finished append sent last: %v, want success", r)
			case !tc.finished && (codes.Code(r.GetError().GetCode()) != codes.InvalidArgument ||
				!strings.Contains(r.GetError().GetMessage(), "nothing of it was written") ||
				string(r.GetStreamIdentifier().GetStreamName()) != "last"):
				t.Errorf("the unfinished append: %v, want InvalidArgument for stream last, saying that nothing of it was written", r)
			}
			var streams []string
			for e, err := range store.ReadAll(ctxT(t), chronicle.ReadAllOptions{}) {
				if err != nil {
					t.Fatal(err)
				}
				streams = append(streams, e.Stream)
			}
			want := []string{"whole"}
			if tc.finished {
				want = append(want, "last")
			}
			if !equal(streams, want) {
				t.Errorf("the store holds events of %v, want %v", streams, want)
			}
		})
	}
}

// sub reads a subscription's answers as they come.
type sub struct {
	t *testing.T
	s grpc.ServerStreamingClient[esdbpb.ReadResp]
}

func subscribe(t *testing.T, ctx context.Context, c esdbpb.StreamsClient, o *esdbpb.ReadReq_Options) *sub {
	t.Helper()
	o.CountOption = &esdbpb.ReadReq_Options_Subscription{Subscription: &esdbpb.ReadReq_Options_SubscriptionOptions{}}
	s, err := c.Read(ctx, &esdbpb.ReadReq{Options: o})
	if err != nil {
		t.Fatal(err)
	}
	return &sub{t, s}
}

func (s *sub) next() *esdbpb.ReadResp {
	s.t.Helper()
	r, err := s.s.Recv()
	if err != nil {
		s.t.Fatal(err)
	}
	return r
}

// events reads n events, and reports what else came between them.
func (s *sub) events(n int) (evs []*esdbpb.ReadResp_ReadEvent_RecordedEvent, checkpoints []uint64, caughtUp int) {
	s.t.Helper()
	for len(evs) < n {
		r := s.next()
		switch {
		case r.GetEvent() != nil:
			evs = append(evs, r.GetEvent().GetEvent())
		case r.GetCheckpoint() != nil:
			checkpoints = append(checkpoints, r.GetCheckpoint().GetCommitPosition())
		case r.GetCaughtUp() != nil:
			caughtUp++
		}
	}
	return evs, checkpoints, caughtUp
}

func TestSubscribeToStream(t *testing.T) {
	store := memory.New(nil)
	ctx := ctxT(t)
	c := esdbpb.NewStreamsClient(conn(t, store, nil))
	add := func(stream string, n int) {
		t.Helper()
		for range n {
			if _, err := store.Append(ctx, stream, chronicle.Any, chronicle.EventData{Type: "N", Data: []byte(`{}`)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	add("s-1", 3)
	add("other-1", 2)
	s := subscribe(t, ctx, c, streamOpts("s-1", false, ptr[uint64](0), 0))
	if s.next().GetConfirmation().GetSubscriptionId() == "" {
		t.Fatal("no confirmation first")
	}
	evs, _, _ := s.events(2)
	if evs[0].GetStreamRevision() != 1 || evs[1].GetStreamRevision() != 2 {
		t.Fatalf("catch-up from after revision 0: %v", evs)
	}
	up := s.next().GetCaughtUp()
	if up == nil || up.GetStreamRevision() != 2 {
		t.Fatalf("want caught up at revision 2, got %v", up)
	}
	add("other-1", 1)
	add("s-1", 2)
	evs, _, _ = s.events(2)
	if evs[0].GetStreamRevision() != 3 || evs[1].GetStreamRevision() != 4 || string(evs[1].GetStreamIdentifier().GetStreamName()) != "s-1" {
		t.Fatalf("live: %v", evs)
	}

	// From the end: only events appended later, in a stream not yet written.
	s2 := subscribe(t, ctx, c, streamOpts("later-1", true, nil, 0))
	s2.next() // confirmation
	if up := s2.next().GetCaughtUp(); up == nil || up.StreamRevision != nil {
		t.Fatalf("caught up on an empty stream: %v", up)
	}
	add("later-1", 1)
	if evs, _, _ := s2.events(1); evs[0].GetStreamRevision() != 0 {
		t.Fatalf("later-1: %v", evs)
	}
}

// serveEvents serves a memory store in which stream holds n events, and
// returns the store, a context for the test and a client.
func serveEvents(t *testing.T, stream string, n int) (*memory.Store, context.Context, esdbpb.StreamsClient) {
	t.Helper()
	store := memory.New(nil)
	ctx := ctxT(t)
	for range n {
		if _, err := store.Append(ctx, stream, chronicle.Any, chronicle.EventData{Type: "N"}); err != nil {
			t.Fatal(err)
		}
	}
	return store, ctx, esdbpb.NewStreamsClient(conn(t, store, nil))
}

// A stream whose metadata hides every event still has its last
// revision, against which an append is checked: an append without
// events, which clients send to check an expected revision, and a
// subscription from the end see it too, after a scavenge as well.
func TestHiddenEventsStillCount(t *testing.T) {
	store, ctx, c := serveEvents(t, "h-1", 3)
	if err := store.SetStreamMetadata(ctx, "h-1", chronicle.StreamMetadata{TruncateBefore: 10}); err != nil {
		t.Fatal(err)
	}
	for _, when := range []string{"hidden", "scavenged"} {
		resp, err := appendRaw(t, c, optsRev("h-1", 2))
		if err != nil || resp.GetSuccess() == nil || resp.GetSuccess().GetCurrentRevision() != 2 {
			t.Errorf("%s: empty append expecting revision 2: %v, %v; want success at 2", when, resp, err)
		}
		resp, err = appendRaw(t, c, optsNoStream("h-1"))
		if err != nil || resp.GetWrongExpectedVersion().GetCurrentRevision() != 2 {
			t.Errorf("%s: empty append expecting no stream: %v, %v; want wrong expected version, at 2", when, resp, err)
		}
		s := subscribe(t, ctx, c, streamOpts("h-1", true, nil, 0))
		s.next() // confirmation
		if up := s.next().GetCaughtUp(); up == nil || up.StreamRevision == nil || *up.StreamRevision != 2 {
			t.Errorf("%s: subscription from the end: %v, want caught up at revision 2", when, up)
		}
		if _, err := store.Scavenge(ctx, nil); err != nil {
			t.Fatal(err)
		}
	}
	// A real append sees the same.
	if _, err := store.Append(ctx, "h-1", chronicle.Exact(2), chronicle.EventData{Type: "N"}); err != nil {
		t.Errorf("the store refused an append expecting revision 2: %v", err)
	}
}

// setMeta writes a stream's metadata through the server, as clients do:
// a $metadata event appended to its "$$" stream.
func setMeta(t *testing.T, c esdbpb.StreamsClient, stream, data string) {
	t.Helper()
	resp, err := appendRaw(t, c, optsAny("$$"+stream), proposed("$metadata", data))
	if err != nil || resp.GetSuccess() == nil {
		t.Fatalf("set the metadata of %s to %s: %v, %v", stream, data, resp, err)
	}
}

// revisions are the revisions of events.
func revisions(evs []*esdbpb.ReadResp_ReadEvent_RecordedEvent) []uint64 {
	out := make([]uint64, len(evs))
	for i, e := range evs {
		out[i] = e.GetStreamRevision()
	}
	return out
}

// sendsWhatReadsShow checks that the next events that s sends are those
// that a read of stream shows after revision last, and returns the last
// of them.
func (s *sub) sendsWhatReadsShow(c esdbpb.StreamsClient, stream string, last uint64, step string) uint64 {
	s.t.Helper()
	var want []uint64
	for _, rev := range revisions(readStream(s.t, c, stream, nil)) {
		if rev > last {
			want = append(want, rev)
		}
	}
	if len(want) == 0 {
		s.t.Fatalf("%s: a read of %s shows nothing after revision %d", step, stream, last)
	}
	evs, _, _ := s.events(len(want))
	if got := revisions(evs); !equal(got, want) {
		s.t.Fatalf("%s: the subscription sent revisions %v, where a read of %s shows %v", step, got, stream, want)
	}
	return want[len(want)-1]
}

// A subscription to a stream sends its live events as a read of the
// stream shows them: not those that its metadata or a soft delete hides.
func TestSubscribeToStreamHidesWhatReadsHide(t *testing.T) {
	store, ctx, c := serveEvents(t, "h-1", 3)
	// add appends n events at once: a read never shows some of them
	// alone, which the metadata would hide when the rest come.
	add := func(n int) {
		t.Helper()
		events := make([]chronicle.EventData, n)
		for i := range events {
			events[i].Type = "N"
		}
		if _, err := store.Append(ctx, "h-1", chronicle.Any, events...); err != nil {
			t.Fatal(err)
		}
	}
	s := subscribe(t, ctx, c, streamOpts("h-1", false, ptr[uint64](0), 0))
	s.next() // confirmation
	last := s.sendsWhatReadsShow(c, "h-1", 0, "catch-up")
	if up := s.next().GetCaughtUp(); up == nil || up.GetStreamRevision() != 2 {
		t.Fatalf("want caught up at revision 2, got %v", up)
	}

	setMeta(t, c, "h-1", `{"$maxCount":2}`)
	add(3) // 3 to 5, of which a read shows 4 and 5
	last = s.sendsWhatReadsShow(c, "h-1", last, "max count 2")

	setMeta(t, c, "h-1", `{"$tb":8}`)
	add(3) // 6 to 8, of which a read shows 8
	last = s.sendsWhatReadsShow(c, "h-1", last, "truncate before 8")

	if err := store.Delete(ctx, "h-1", chronicle.Any); err != nil {
		t.Fatal(err)
	}
	add(2) // 9 and 10, which start the stream again
	s.sendsWhatReadsShow(c, "h-1", last, "soft delete and append")
}

// A subscription from past the end waits for later events; one from the
// largest revision or position must not wrap around to the start and
// replay the whole stream or log.
func TestSubscribeFromTheLargestPosition(t *testing.T) {
	_, ctx, c := serveEvents(t, "s-1", 3)
	largest := ptr(uint64(math.MaxUint64))
	for _, o := range []*esdbpb.ReadReq_Options{allOpts(false, largest, 0), streamOpts("s-1", false, largest, 0)} {
		s := subscribe(t, ctx, c, o)
		s.next() // confirmation
		r := s.next()
		if up := r.GetCaughtUp(); up == nil || up.GetStreamRevision() < 0 {
			t.Errorf("subscription from the largest revision or position of %v: %v first, want caught up (at no negative revision)", o.GetStreamOption(), r)
		}
	}
}

func TestSubscribeToAllFiltered(t *testing.T) {
	store := memory.New(nil)
	ctx := ctxT(t)
	c := esdbpb.NewStreamsClient(conn(t, store, nil))
	add := func(stream, typ string) {
		t.Helper()
		if _, err := store.Append(ctx, stream, chronicle.Any, chronicle.EventData{Type: typ, Data: []byte(`{}`)}); err != nil {
			t.Fatal(err)
		}
	}
	add("game-1", "MoveMade")              // 1
	add("user-1", "Joined")                // 2
	add("game-2", "MoveMade")              // 3
	add("user-2", "Joined")                // 4
	add("user-3", "Joined")                // 5
	o := allOpts(false, ptr[uint64](1), 0) // after position 1
	o.FilterOption = &esdbpb.ReadReq_Options_Filter{Filter: &esdbpb.ReadReq_Options_FilterOptions{
		Filter:                       &esdbpb.ReadReq_Options_FilterOptions_EventType{EventType: &esdbpb.ReadReq_Options_FilterOptions_Expression{Regex: "^Move"}},
		Window:                       &esdbpb.ReadReq_Options_FilterOptions_Max{Max: 2},
		CheckpointIntervalMultiplier: 1,
	}}
	s := subscribe(t, ctx, c, o)
	s.next() // confirmation
	evs, cps, _ := s.events(1)
	if evs[0].GetCommitPosition() != 3 {
		t.Fatalf("first event at %d, want 3", evs[0].GetCommitPosition())
	}
	// Positions 2 and 3 looked at: a checkpoint at 3 is due, after the event.
	r := s.next()
	if r.GetCheckpoint().GetCommitPosition() != 3 {
		t.Fatalf("want checkpoint at 3, got %v (earlier: %v)", r, cps)
	}
	// 4 and 5 do not match: a checkpoint at 5, then caught up at 5.
	if r := s.next(); r.GetCheckpoint().GetCommitPosition() != 5 {
		t.Fatalf("want checkpoint at 5, got %v", r)
	}
	if r := s.next(); r.GetCaughtUp().GetPosition().GetCommitPosition() != 5 {
		t.Fatalf("want caught up at 5, got %v", r)
	}
	add("user-4", "Joined")   // 6
	add("game-1", "MoveMade") // 7
	evs, cps, _ = s.events(1)
	if evs[0].GetCommitPosition() != 7 || len(cps) != 0 {
		t.Fatalf("live: event at %d, checkpoints %v; want 7 and a checkpoint only after it", evs[0].GetCommitPosition(), cps)
	}
	if r := s.next(); r.GetCheckpoint().GetCommitPosition() != 7 {
		t.Fatalf("want checkpoint at 7, got %v", r)
	}

	// A bad regex is refused.
	o = allOpts(false, nil, 0)
	o.FilterOption = &esdbpb.ReadReq_Options_Filter{Filter: &esdbpb.ReadReq_Options_FilterOptions{
		Filter: &esdbpb.ReadReq_Options_FilterOptions_StreamIdentifier{StreamIdentifier: &esdbpb.ReadReq_Options_FilterOptions_Expression{Regex: "("}},
	}}
	bad := subscribe(t, ctx, c, o)
	if _, err := bad.s.Recv(); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("bad regex: %v", err)
	}
}

func TestStreamMetadata(t *testing.T) {
	store := memory.New(nil)
	ctx := ctxT(t)
	c := esdbpb.NewStreamsClient(conn(t, store, nil))
	for range 5 {
		if _, err := store.Append(ctx, "m-1", chronicle.Any, chronicle.EventData{Type: "N", Data: []byte(`{}`)}); err != nil {
			t.Fatal(err)
		}
	}
	if r := readRaw(t, c, streamOpts("$$m-1", true, nil, 1)); len(r) != 1 || r[0].GetStreamNotFound() == nil {
		t.Fatalf("metadata before any is set: %v", r)
	}
	meta := func(data string) *esdbpb.AppendReq {
		return proposed("$metadata", data)
	}
	resp, err := appendRaw(t, c, optsNoStream("$$m-1"), meta(`{"$maxCount":2,"$maxAge":60,"$tb":1}`))
	if err != nil || resp.GetSuccess() == nil {
		t.Fatalf("set metadata: %v %v", resp, err)
	}
	got, err := store.StreamMetadata(ctx, "m-1")
	if err != nil {
		t.Fatal(err)
	}
	if want := (chronicle.StreamMetadata{MaxCount: 2, MaxAge: time.Minute, TruncateBefore: 1}); got != want {
		t.Fatalf("store has %+v, want %+v", got, want)
	}
	if revs := eventRevisions(readRaw(t, c, streamOpts("m-1", false, nil, 100))); !equal(revs, []uint64{3, 4}) {
		t.Fatalf("read under $maxCount 2: %v", revs)
	}
	evs := readStream(t, c, "$$m-1", nil)
	if len(evs) != 1 || evs[0].GetMetadata()["type"] != "$metadata" || string(evs[0].GetData()) != `{"$maxAge":60,"$maxCount":2,"$tb":1}` {
		t.Fatalf("metadata read back: %v", evs)
	}
	// The metadata stream exists now: expecting none is a conflict.
	resp, err = appendRaw(t, c, optsNoStream("$$m-1"), meta(`{}`))
	if err != nil || resp.GetWrongExpectedVersion() == nil {
		t.Fatalf("no stream on set metadata: %v %v", resp, err)
	}
	// Keys Chronicle cannot keep are refused, not lost.
	if _, err := appendRaw(t, c, optsAny("$$m-1"), meta(`{"$acl":{"$r":"$admins"}}`)); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("$acl: %v, want InvalidArgument", err)
	}
	// null clears a setting.
	if _, err := appendRaw(t, c, optsAny("$$m-1"), meta(`{"$maxCount":null}`)); err != nil {
		t.Fatal(err)
	}
	if got, _ := store.StreamMetadata(ctx, "m-1"); !got.IsZero() {
		t.Fatalf("after clearing: %+v", got)
	}
}

// A metadata stream holds one event, at revision 0, and reads as any
// stream with one event would: a read forwards from revision 1, the
// next page of a client that pages through it, finds nothing, where it
// found the event again (and such a client never ended).
func TestReadMetastreamFromARevision(t *testing.T) {
	store := memory.New(nil)
	c := esdbpb.NewStreamsClient(conn(t, store, nil))
	if err := store.SetStreamMetadata(ctxT(t), "m-1", chronicle.StreamMetadata{MaxCount: 3}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		opts *esdbpb.ReadReq_Options
		revs []uint64
	}{
		{"forwards from the start", streamOpts("$$m-1", false, nil, 1), []uint64{0}},
		{"forwards from 0", streamOpts("$$m-1", false, ptr[uint64](0), 1), []uint64{0}},
		{"forwards from 1", streamOpts("$$m-1", false, ptr[uint64](1), 1), nil},
		{"backwards from the end", streamOpts("$$m-1", true, nil, 1), []uint64{0}},
		{"backwards from 5", streamOpts("$$m-1", true, ptr[uint64](5), 1), []uint64{0}},
	} {
		if revs := eventRevisions(readRaw(t, c, tc.opts)); !equal(revs, tc.revs) {
			t.Errorf("$$m-1 %s: revisions %v, want %v", tc.name, revs, tc.revs)
		}
	}
	o := streamOpts("$$m-1", false, nil, 1)
	o.GetStream().RevisionOption = &esdbpb.ReadReq_Options_StreamOptions_End{End: &esdbpb.Empty{}}
	if resps := readRaw(t, c, o); len(resps) != 0 {
		t.Errorf("$$m-1 forwards from the end: %v, want nothing", resps)
	}
	// Without metadata, the metadata stream is not found, from anywhere.
	if resps := readRaw(t, c, streamOpts("$$none-1", false, ptr[uint64](1), 1)); len(resps) != 1 || resps[0].GetStreamNotFound() == nil {
		t.Errorf("$$none-1 forwards from 1: %v, want stream not found", resps)
	}
}

func TestServerFeaturesAndGossip(t *testing.T) {
	cc := conn(t, memory.New(nil), nil)
	ctx := ctxT(t)
	sm, err := esdbpb.NewServerFeaturesClient(cc).GetSupportedMethods(ctx, &esdbpb.Empty{})
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, m := range sm.GetMethods() {
		have["/"+m.GetServiceName()+"/"+m.GetMethodName()] = true
	}
	for _, want := range []string{"/event_store.client.streams.streams/batchappend", "/event_store.client.streams.streams/read", "/event_store.client.streams.streams/append"} {
		if !have[want] {
			t.Errorf("supported methods lack %s: %v", want, have)
		}
	}
	if have["/event_store.client.persistent_subscriptions.persistentsubscriptions/read"] {
		t.Error("persistent subscriptions listed, but not served")
	}
	ci, err := esdbpb.NewGossipClient(cc).Read(ctx, &esdbpb.Empty{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ci.GetMembers()) != 1 {
		t.Fatalf("members: %v", ci)
	}
	m := ci.GetMembers()[0]
	host, port, _ := net.SplitHostPort(cc.Target())
	if m.GetState() != esdbpb.MemberInfo_Leader || !m.GetIsAlive() || m.GetHttpEndPoint().GetAddress() != host {
		t.Fatalf("member %v, want the leader at %s:%s", m, host, port)
	}
	// Persistent subscriptions are not served: the call fails plainly.
	err = cc.Invoke(ctx, "/event_store.client.persistent_subscriptions.PersistentSubscriptions/Create", &esdbpb.Empty{}, &esdbpb.Empty{})
	if status.Code(err) != codes.Unimplemented {
		t.Fatalf("persistent subscription call: %v, want Unimplemented", err)
	}
}

func TestBasicAuth(t *testing.T) {
	cc := conn(t, memory.New(nil), &kurrentserver.Options{Authorize: kurrentserver.BasicAuth("admin", "changeit")})
	c := esdbpb.NewStreamsClient(cc)
	read := func(ctx context.Context) error {
		_, err := tryRead(ctx, c, streamOpts("x-1", false, nil, 1))
		return err
	}
	basic := func(user, pass string) context.Context {
		return metadata.AppendToOutgoingContext(ctxT(t), "authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(user+":"+pass)))
	}
	if err := read(ctxT(t)); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("no credentials: %v", err)
	}
	if err := read(basic("admin", "wrong")); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("wrong password: %v", err)
	}
	if err := read(basic("admin", "changeit")); err != nil {
		t.Fatalf("right password: %v", err)
	}
	// Clients ask for the server's features before they send credentials.
	if _, err := esdbpb.NewServerFeaturesClient(cc).GetSupportedMethods(ctxT(t), &esdbpb.Empty{}); err != nil {
		t.Fatalf("server features without credentials: %v", err)
	}
}

// TestAuthorizeByAccess checks that each call is asked for with the
// access it needs: reads open here, appends for writers, deletes and
// metadata writes for admins, as "chronicle serve --auth" sets it up.
func TestAuthorizeByAccess(t *testing.T) {
	roles := map[string]kurrentserver.Access{"wanda": kurrentserver.Write, "ada": kurrentserver.Admin}
	authorize := func(_ context.Context, access kurrentserver.Access, c *kurrentserver.Credentials) error {
		if access == kurrentserver.Read {
			return nil
		}
		if c == nil {
			return kurrentserver.ErrUnauthenticated
		}
		role, known := roles[c.User]
		if !known || c.Password != "pw" {
			return kurrentserver.ErrUnauthenticated
		}
		if role < access {
			return fmt.Errorf("%s may not %s", c.User, access)
		}
		return nil
	}
	cc := conn(t, memory.New(nil), &kurrentserver.Options{Authorize: authorize})
	c := esdbpb.NewStreamsClient(cc)
	as := func(user string) context.Context {
		if user == "" {
			return ctxT(t)
		}
		return metadata.AppendToOutgoingContext(ctxT(t), "authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(user+":pw")))
	}
	appendAs := func(user, stream string) error {
		s, err := c.Append(as(user))
		if err != nil {
			return err
		}
		// A server that refuses the call may end the stream before the
		// client's sends: they then fail with io.EOF, and the refusal is
		// the status that CloseAndRecv returns.
		if err := s.Send(&esdbpb.AppendReq{Content: &esdbpb.AppendReq_Options_{Options: optsAny(stream)}}); err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		if err := s.Send(proposed("$metadata", `{"$maxCount":5}`)); err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		_, err = s.CloseAndRecv()
		return err
	}
	deleteAs := func(user string) error {
		_, err := c.Delete(as(user), &esdbpb.DeleteReq{Options: &esdbpb.DeleteReq_Options{
			StreamIdentifier: sid("a-1"), ExpectedStreamRevision: &esdbpb.DeleteReq_Options_Any{Any: &esdbpb.Empty{}},
		}})
		return err
	}
	for _, tc := range []struct {
		what string
		err  error
		want codes.Code
	}{
		{"append without credentials", appendAs("", "a-1"), codes.Unauthenticated},
		{"append with a wrong password", appendAs("nobody", "a-1"), codes.Unauthenticated},
		{"append as a writer", appendAs("wanda", "a-1"), codes.OK},
		{"metadata as a writer", appendAs("wanda", "$$a-1"), codes.PermissionDenied},
		{"metadata as an admin", appendAs("ada", "$$a-1"), codes.OK},
		{"delete as a writer", deleteAs("wanda"), codes.PermissionDenied},
		{"delete as an admin", deleteAs("ada"), codes.OK},
	} {
		if status.Code(tc.err) != tc.want {
			t.Errorf("%s: %v, want %v", tc.what, tc.err, tc.want)
		}
	}
	if _, err := tryRead(ctxT(t), c, streamOpts("a-1", false, nil, 1)); err != nil {
		t.Errorf("read without credentials: %v, want it allowed", err)
	}
}

func TestHandlerServesTheUIBesideGRPC(t *testing.T) {
	cc := conn(t, memory.New(nil), nil)
	resp, err := http.Get("http://" + cc.Target() + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(body) != "ui" {
		t.Fatalf("GET /: %d %q", resp.StatusCode, body)
	}
	// A plain gRPC server, without net/http, serves the same services.
	srv := kurrentserver.New(memory.New(nil), nil)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	defer srv.Stop()
	direct, err := grpc.NewClient(l.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close()
	if _, err := esdbpb.NewServerFeaturesClient(direct).GetSupportedMethods(ctxT(t), &esdbpb.Empty{}); err != nil {
		t.Fatal(err)
	}
}

// TestFilterRefusesWhatNoNameHolds: a filter of $all whose prefixes hold
// what no stream name (or event type) may hold is refused with
// InvalidArgument and the exception of the store's error for it, whether
// the store applies the filter (one stream prefix on a read) or the
// server does (several prefixes, type prefixes, subscriptions), so that
// package kurrent turns it into the error that every store gives.
func TestFilterRefusesWhatNoNameHolds(t *testing.T) {
	store := memory.New(nil)
	ctx := ctxT(t)
	for _, s := range []string{"a-1", "b-1"} {
		if _, err := store.Append(ctx, s, chronicle.Any, chronicle.EventData{Type: "E", Data: []byte(`{}`)}); err != nil {
			t.Fatal(err)
		}
	}
	c := esdbpb.NewStreamsClient(conn(t, store, nil))
	onStreams := func(prefixes ...string) *esdbpb.ReadReq_Options_FilterOptions {
		return &esdbpb.ReadReq_Options_FilterOptions{Filter: &esdbpb.ReadReq_Options_FilterOptions_StreamIdentifier{
			StreamIdentifier: &esdbpb.ReadReq_Options_FilterOptions_Expression{Prefix: prefixes}}}
	}
	onTypes := func(prefixes ...string) *esdbpb.ReadReq_Options_FilterOptions {
		return &esdbpb.ReadReq_Options_FilterOptions{Filter: &esdbpb.ReadReq_Options_FilterOptions_EventType{
			EventType: &esdbpb.ReadReq_Options_FilterOptions_Expression{Prefix: prefixes}}}
	}
	for _, tt := range []struct {
		name      string
		f         *esdbpb.ReadReq_Options_FilterOptions
		exception string
	}{
		{"StreamPrefix", onStreams("a\x00"), "invalid-stream-name"},
		{"StreamPrefixes", onStreams("a", "b\u200b"), "invalid-stream-name"},
		{"TypePrefix", onTypes("E\n"), "invalid-event"},
	} {
		for _, subscription := range []bool{false, true} {
			o := allOpts(false, nil, 100)
			o.FilterOption = &esdbpb.ReadReq_Options_Filter{Filter: tt.f}
			if subscription {
				o.CountOption = &esdbpb.ReadReq_Options_Subscription{Subscription: &esdbpb.ReadReq_Options_SubscriptionOptions{}}
			}
			sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			var resps []*esdbpb.ReadResp
			code, md := trailerError(t, func(opt grpc.CallOption) error {
				var err error
				resps, err = tryRead(sctx, c, o, opt)
				return err
			})
			cancel()
			if code != codes.InvalidArgument || first(md, "exception") != tt.exception || len(resps) != 0 {
				t.Errorf("%s (subscription %v): %v, exception %q, %d messages; want InvalidArgument, %q and none",
					tt.name, subscription, code, first(md, "exception"), len(resps), tt.exception)
			}
		}
	}
}

// TestSystemStreamMetadataNotFound: the metadata stream of a system stream
// ("$$$all", which a client reads for the metadata of $all, or
// "$$$ce-order") reads as not found, as a "$" stream itself does: Chronicle
// has no system streams, and so no metadata of one. The store refuses the
// name as invalid; the read must not pass that on as InvalidArgument.
func TestSystemStreamMetadataNotFound(t *testing.T) {
	c := esdbpb.NewStreamsClient(conn(t, memory.New(nil), nil))
	for _, name := range []string{"$$$all", "$$$ce-order", "$$$settings"} {
		for _, backwards := range []bool{true, false} {
			resps, err := tryRead(ctxT(t), c, streamOpts(name, backwards, nil, 1))
			if err != nil || len(resps) != 1 || resps[0].GetStreamNotFound() == nil {
				t.Errorf("read %s (backwards %v): %v, %v; want stream not found", name, backwards, resps, err)
			}
		}
	}
}

// plainStore hides every ability of its store but chronicle.Store.
type plainStore struct{ chronicle.Store }

// TestUnsupportedAbilities: a store that wraps one without retention or
// deletion, whose methods for them report errors.ErrUnsupported, is
// served as a store without them.
func TestUnsupportedAbilities(t *testing.T) {
	ctx := ctxT(t)
	// What each call gives: its gRPC code, and what it read.
	calls := func(store chronicle.Store) []string {
		c := esdbpb.NewStreamsClient(conn(t, store, nil))
		if _, err := appendRaw(t, c, optsAny("d-1"), proposed("A", `{}`)); err != nil {
			t.Fatal(err)
		}
		var out []string
		r, err := tryRead(ctx, c, streamOpts("$$d-1", false, nil, 1))
		out = append(out, fmt.Sprintf("read metadata: %v %d not found: %t", status.Code(err), len(r), len(r) == 1 && r[0].GetStreamNotFound() != nil))
		_, err = appendRaw(t, c, optsAny("$$d-1"), proposed("$metadata", `{"$maxCount":2}`))
		out = append(out, fmt.Sprintf("set metadata (any): %v", status.Code(err)))
		_, err = appendRaw(t, c, optsNoStream("$$d-1"), proposed("$metadata", `{"$maxCount":2}`))
		out = append(out, fmt.Sprintf("set metadata (no stream): %v", status.Code(err)))
		_, err = c.Delete(ctx, &esdbpb.DeleteReq{Options: &esdbpb.DeleteReq_Options{
			StreamIdentifier: sid("d-1"), ExpectedStreamRevision: &esdbpb.DeleteReq_Options_Any{Any: &esdbpb.Empty{}}}})
		out = append(out, fmt.Sprintf("delete: %v", status.Code(err)))
		_, err = c.Tombstone(ctx, &esdbpb.TombstoneReq{Options: &esdbpb.TombstoneReq_Options{
			StreamIdentifier: sid("d-1"), ExpectedStreamRevision: &esdbpb.TombstoneReq_Options_Any{Any: &esdbpb.Empty{}}}})
		out = append(out, fmt.Sprintf("tombstone: %v", status.Code(err)))
		return out
	}
	want := calls(plainStore{memory.New(nil)})
	// shred.Store wraps a store: with a schema of no types, it stores the
	// events as they are given.
	schema, _ := shred.NewSchema()
	got := calls(shred.New(plainStore{memory.New(nil)}, shred.NewMemoryKeys(), schema))
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("%s, want %s, as without the ability", got[i], want[i])
		}
	}
	t.Logf("without the abilities: %q", want)
}
