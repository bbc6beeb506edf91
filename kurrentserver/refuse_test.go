package kurrentserver_test

import (
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/internal/esdbpb"
	"github.com/chronicle-es/chronicle/kurrentserver"
	"github.com/chronicle-es/chronicle/memory"
	"github.com/chronicle-es/chronicle/sqlite"
	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// eachStore runs test over a memory store and a SQLite store.
func eachStore(t *testing.T, test func(t *testing.T, store chronicle.Store)) {
	t.Run("memory", func(t *testing.T) { test(t, memory.New(nil)) })
	t.Run("sqlite", func(t *testing.T) {
		s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "db"), nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		test(t, s)
	})
}

// storedStreams lists the stream of every event in store, in order.
func storedStreams(t *testing.T, store chronicle.Store) []string {
	t.Helper()
	var streams []string
	for e, err := range store.ReadAll(ctxT(t), chronicle.ReadAllOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		streams = append(streams, e.Stream)
	}
	return streams
}

// TestBatchAppendRefusedChunkWritesNothing: an append of a BatchAppend
// stream whose first chunk holds a bad event is refused whole, with one
// answer, however many chunks follow. The server answered the bad chunk,
// forgot the append, and took the chunks after it as a new append: the
// client was told that its append failed, and then either got a second
// answer for it (no options) or had the rest of its events written.
func TestBatchAppendRefusedChunkWritesNothing(t *testing.T) {
	for _, withOptions := range []bool{false, true} {
		t.Run(map[bool]string{false: "OptionsFirst", true: "OptionsRepeated"}[withOptions], func(t *testing.T) {
			eachStore(t, func(t *testing.T, store chronicle.Store) {
				c := esdbpb.NewStreamsClient(conn(t, store, nil))
				s, err := c.BatchAppend(ctxT(t))
				if err != nil {
					t.Fatal(err)
				}
				corr := &esdbpb.UUID{Value: &esdbpb.UUID_String_{String_: uuid.NewString()}}
				bad := batchReq(corr, "split", false)
				bad.ProposedMessages[0].Id = &esdbpb.UUID{Value: &esdbpb.UUID_String_{String_: "not-a-uuid"}}
				rest := batchReq(corr, "split", true)
				if !withOptions {
					rest.Options = nil
				}
				for _, r := range []*esdbpb.BatchAppendReq{bad, rest} {
					if err := s.Send(r); err != nil {
						t.Fatal(err)
					}
				}
				if err := s.CloseSend(); err != nil {
					t.Fatal(err)
				}
				var answers []*esdbpb.BatchAppendResp
				for {
					r, err := s.Recv()
					if err == io.EOF {
						break
					}
					if err != nil {
						t.Fatal(err)
					}
					answers = append(answers, r)
				}
				if len(answers) != 1 || codes.Code(answers[0].GetError().GetCode()) != codes.InvalidArgument {
					t.Errorf("options on the last chunk %v: answers %v, want one, InvalidArgument", withOptions, answers)
				}
				if got := storedStreams(t, store); len(got) != 0 {
					t.Errorf("options on the last chunk %v: the store holds events of %v, want none", withOptions, got)
				}
			})
		})
	}
}

// TestMetadataAppendRefusesEveryBadEvent: an append to a "$$stream" of
// several events is refused, and sets nothing, when any of them is not a
// "$metadata" event Chronicle can keep, not only when the last is not.
// The server looked at the last event only, and dropped the others
// without a word, whatever they held.
func TestMetadataAppendRefusesEveryBadEvent(t *testing.T) {
	eachStore(t, func(t *testing.T, store chronicle.Store) {
		c := esdbpb.NewStreamsClient(conn(t, store, nil))
		for name, first := range map[string]*esdbpb.AppendReq{
			"OtherType":  proposed("Renamed", `{"$maxCount":3}`),
			"NotJSON":    proposed("$metadata", `not json`),
			"UnknownKey": proposed("$metadata", `{"$acl":{"$r":"$admins"}}`),
		} {
			_, err := appendRaw(t, c, optsAny("$$m-"+name), first, proposed("$metadata", `{"$maxCount":2}`))
			if status.Code(err) != codes.InvalidArgument {
				t.Errorf("%s then a good $metadata event: %v, want InvalidArgument", name, err)
			}
			if m, err := store.(chronicle.Retention).StreamMetadata(ctxT(t), "m-"+name); err != nil || !m.IsZero() {
				t.Errorf("%s then a good $metadata event: the store holds metadata %+v (%v), want none", name, m, err)
			}
		}
	})
}

// TestAppendRefusesMissingRequiredMetadata: a proposed event without the
// "type" or "content-type" key of its metadata, both of which the
// protocol requires, is refused, as KurrentDB refuses it: with
// InvalidArgument, a message naming the key, the exception that clients
// turn into their error for it, and nothing written, by Append and by
// BatchAppend alike. Without a content type the event was taken as
// JSON, and read back claiming to be, whatever its data.
func TestAppendRefusesMissingRequiredMetadata(t *testing.T) {
	eachStore(t, func(t *testing.T, store chronicle.Store) {
		c := esdbpb.NewStreamsClient(conn(t, store, nil))
		for missing, md := range map[string]map[string]string{
			"content-type": {"type": "T"},
			"type":         {"content-type": "application/octet-stream"},
		} {
			ev := proposed("T", `{}`)
			ev.GetProposedMessage().Metadata = md
			code, trailer := appendTrailer(t, c, optsAny("s"), ev)
			if code != codes.InvalidArgument || first(trailer, "exception") != "missing-required-metadata-property" {
				t.Errorf("append without %q: %v, trailer %v; want InvalidArgument, missing-required-metadata-property", missing, code, trailer)
			}
			_, err := appendRaw(t, c, optsAny("s"), ev)
			if !strings.Contains(status.Convert(err).Message(), `"`+missing+`"`) {
				t.Errorf("append without %q: %q does not name the key", missing, status.Convert(err).Message())
			}
			b, err := c.BatchAppend(ctxT(t))
			if err != nil {
				t.Fatal(err)
			}
			req := batchReq(nil, "s", true)
			req.ProposedMessages[0].Metadata = md
			if err := b.Send(req); err != nil {
				t.Fatal(err)
			}
			r, err := b.Recv()
			if err != nil || codes.Code(r.GetError().GetCode()) != codes.InvalidArgument || !strings.Contains(r.GetError().GetMessage(), `"`+missing+`"`) {
				t.Errorf("batch append without %q: %v %v; want InvalidArgument naming the key", missing, r, err)
			}
			b.CloseSend()
		}
		if got := storedStreams(t, store); len(got) != 0 {
			t.Errorf("the store holds events of %v, want none", got)
		}
	})
}

// readAndSubscribeRefused checks that a read with o, and a subscription
// with o, are refused with InvalidArgument before they send an event; a
// subscription that is not refused fails the check after a second.
func readAndSubscribeRefused(t *testing.T, c esdbpb.StreamsClient, o *esdbpb.ReadReq_Options, name string) {
	t.Helper()
	for _, subscription := range []bool{false, true} {
		o := proto.Clone(o).(*esdbpb.ReadReq_Options)
		if subscription {
			o.CountOption = &esdbpb.ReadReq_Options_Subscription{Subscription: &esdbpb.ReadReq_Options_SubscriptionOptions{}}
		}
		ctx, cancel := context.WithTimeout(ctxT(t), time.Second)
		resps, err := tryRead(ctx, c, o)
		cancel()
		events := 0
		for _, r := range resps {
			if r.GetEvent() != nil {
				events++
			}
		}
		if status.Code(err) != codes.InvalidArgument || events != 0 {
			t.Errorf("%s (subscription %v): %v, %d events; want InvalidArgument and none", name, subscription, err, events)
		}
	}
}

// TestFilterThatCannotBeReadRefused: a read or subscription of $all whose
// filter names neither stream names nor event types, or gives both
// prefixes and a regular expression, is refused with InvalidArgument and
// sends no event. The first was served unfiltered, every event of the
// log; the second by its prefixes alone, where KurrentDB goes by the
// regular expression.
func TestFilterThatCannotBeReadRefused(t *testing.T) {
	eachStore(t, func(t *testing.T, store chronicle.Store) {
		for _, s := range []string{"a-1", "b-1"} {
			if _, err := store.Append(ctxT(t), s, chronicle.Any, chronicle.EventData{Type: "E", Data: []byte(`{}`)}); err != nil {
				t.Fatal(err)
			}
		}
		c := esdbpb.NewStreamsClient(conn(t, store, nil))
		for name, f := range map[string]*esdbpb.ReadReq_Options_FilterOptions{
			"NoFilter": {},
			"PrefixesAndRegex": {Filter: &esdbpb.ReadReq_Options_FilterOptions_StreamIdentifier{
				StreamIdentifier: &esdbpb.ReadReq_Options_FilterOptions_Expression{Prefix: []string{"a"}, Regex: "^b"}}},
		} {
			o := allOpts(false, nil, 100)
			o.FilterOption = &esdbpb.ReadReq_Options_Filter{Filter: f}
			readAndSubscribeRefused(t, c, o, name)
		}
	})
}

// TestGossipAuthorityWithoutPort: a client whose :authority has no port
// (a host name alone, as a URI may give it) is told this node's address:
// the host it named, at the port it reached; one whose port is not a
// number is refused with InvalidArgument, which names it. The server
// failed both calls with Internal, and the first client could not
// connect.
func TestGossipAuthorityWithoutPort(t *testing.T) {
	for _, serve := range []string{"ServeWithHTTP", "Serve"} {
		t.Run(serve, func(t *testing.T) {
			var target string
			if serve == "Serve" {
				_, cc, _ := serveAlone(t, memory.New(nil))
				target = cc.Target()
			} else {
				target = conn(t, memory.New(nil), nil).Target()
			}
			cc, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithAuthority("db.example"))
			if err != nil {
				t.Fatal(err)
			}
			defer cc.Close()
			ci, err := esdbpb.NewGossipClient(cc).Read(ctxT(t), &esdbpb.Empty{})
			_, port, _ := net.SplitHostPort(target)
			if err != nil || len(ci.GetMembers()) != 1 {
				t.Fatalf("gossip: %v %v, want this node at db.example:%s", ci, err, port)
			}
			ep := ci.GetMembers()[0].GetHttpEndPoint()
			if ep.GetAddress() != "db.example" || fmt.Sprint(ep.GetPort()) != port {
				t.Errorf("gossip: %v, want db.example:%s", ci, port)
			}
			bad, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithAuthority("db.example:http"))
			if err != nil {
				t.Fatal(err)
			}
			defer bad.Close()
			_, err = esdbpb.NewGossipClient(bad).Read(ctxT(t), &esdbpb.Empty{})
			if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), "db.example:http") {
				t.Errorf("gossip for :authority db.example:http: %v, want InvalidArgument naming it", err)
			}
		})
	}
}

// TestStreamReadWithFilterRefused: a read or subscription of one stream
// that carries a filter is refused with InvalidArgument, as KurrentDB
// refuses it, and sends no event. Filters apply to $all: the server
// served the stream unfiltered, events the filter leaves out included.
func TestStreamReadWithFilterRefused(t *testing.T) {
	eachStore(t, func(t *testing.T, store chronicle.Store) {
		if _, err := store.Append(ctxT(t), "a-1", chronicle.Any, chronicle.EventData{Type: "E", Data: []byte(`{}`)}); err != nil {
			t.Fatal(err)
		}
		c := esdbpb.NewStreamsClient(conn(t, store, nil))
		o := streamOpts("a-1", false, nil, 100)
		o.FilterOption = &esdbpb.ReadReq_Options_Filter{Filter: &esdbpb.ReadReq_Options_FilterOptions{Filter: &esdbpb.ReadReq_Options_FilterOptions_EventType{
			EventType: &esdbpb.ReadReq_Options_FilterOptions_Expression{Prefix: []string{"Other"}}}}}
		readAndSubscribeRefused(t, c, o, "a-1 filtered")
	})
}

// TestCheckpointWindowAtItsLargest: a filtered subscription of $all whose
// window and multiplier are both the largest a client can send gets no
// checkpoint before it catches up, over a few events: the window is far
// beyond them. Their product, past the largest int, wrapped to a negative
// number, and a checkpoint came after every event looked at.
func TestCheckpointWindowAtItsLargest(t *testing.T) {
	store := memory.New(nil)
	for _, s := range []string{"a-1", "a-2", "a-3"} {
		if _, err := store.Append(ctxT(t), s, chronicle.Any, chronicle.EventData{Type: "E", Data: []byte(`{}`)}); err != nil {
			t.Fatal(err)
		}
	}
	c := esdbpb.NewStreamsClient(conn(t, store, nil))
	o := allOpts(false, nil, 0)
	o.FilterOption = &esdbpb.ReadReq_Options_Filter{Filter: &esdbpb.ReadReq_Options_FilterOptions{
		Filter: &esdbpb.ReadReq_Options_FilterOptions_EventType{
			EventType: &esdbpb.ReadReq_Options_FilterOptions_Expression{Prefix: []string{"Other"}}},
		Window:                       &esdbpb.ReadReq_Options_FilterOptions_Max{Max: math.MaxUint32},
		CheckpointIntervalMultiplier: math.MaxUint32,
	}}
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	s := subscribe(t, ctx, c, o)
	var checkpoints []uint64
	for r := s.next(); r.GetCaughtUp() == nil; r = s.next() {
		if cp := r.GetCheckpoint(); cp != nil {
			checkpoints = append(checkpoints, cp.GetCommitPosition())
		}
	}
	if len(checkpoints) > 1 {
		t.Errorf("checkpoints before catching up: %v, want at most the one at catching up", checkpoints)
	}
}

// TestReadDirectionUnknownRefused: a read whose direction is neither
// forwards nor backwards (a value from a later protocol, or a bad one) is
// refused with InvalidArgument, as KurrentDB refuses it. It was read as
// forwards.
func TestReadDirectionUnknownRefused(t *testing.T) {
	store := memory.New(nil)
	if _, err := store.Append(ctxT(t), "a-1", chronicle.Any, chronicle.EventData{Type: "E", Data: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	c := esdbpb.NewStreamsClient(conn(t, store, nil))
	for name, o := range map[string]*esdbpb.ReadReq_Options{"Stream": streamOpts("a-1", false, nil, 10), "All": allOpts(false, nil, 10)} {
		o.ReadDirection = 7
		readAndSubscribeRefused(t, c, o, name)
	}
}

// TestAppendOverMaxAppendSizeRefused sends appends whose events hold more
// than Options.MaxAppendSize in all, none of them larger than it alone:
// each is refused, with the exception the official clients know, and
// nothing of it is written, so that no client can make the server hold
// an append of any size in memory.
func TestAppendOverMaxAppendSizeRefused(t *testing.T) {
	eachStore(t, func(t *testing.T, store chronicle.Store) {
		const limit = 64 << 10
		c := esdbpb.NewStreamsClient(conn(t, store, &kurrentserver.Options{MaxAppendSize: limit}))
		data := `"` + strings.Repeat("x", 10<<10) + `"`
		var events []*esdbpb.AppendReq
		for range 8 {
			events = append(events, proposed("T", data))
		}
		code, trailer := appendTrailer(t, c, optsAny("s"), events...)
		if code != codes.InvalidArgument || first(trailer, "exception") != "maximum-append-size-exceeded" {
			t.Errorf("an append of 80 KiB over a limit of 64: %v, trailer %v; want InvalidArgument, maximum-append-size-exceeded", code, trailer)
		}
		if _, err := appendRaw(t, c, optsAny("s"), events[:4]...); err != nil {
			t.Errorf("an append of 40 KiB under a limit of 64: %v", err)
		}
		b, err := c.BatchAppend(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		corr := &esdbpb.UUID{Value: &esdbpb.UUID_String_{String_: uuid.NewString()}}
		for i := range 8 {
			req := batchReq(corr, "b", i == 7)
			req.ProposedMessages[0].Data = []byte(data)
			if err := b.Send(req); err != nil {
				t.Fatal(err)
			}
		}
		r, err := b.Recv()
		if err != nil || codes.Code(r.GetError().GetCode()) != codes.InvalidArgument || !strings.Contains(r.GetError().GetMessage(), "MaxAppendSize") {
			t.Errorf("a batch append of 80 KiB in 8 chunks over a limit of 64: %v %v; want InvalidArgument naming MaxAppendSize", r, err)
		}
		b.CloseSend()
		if got := storedStreams(t, store); fmt.Sprint(got) != "[s s s s]" {
			t.Errorf("the store holds events of %v, want the four of s alone", got)
		}
	})
}

// TestBatchAppendPendingBounded: a BatchAppend stream holds the appends
// begun on it until their final chunk. Their events in all are bounded
// (four times Options.MaxAppendSize): the append whose chunk would pass
// that is refused, with one answer at its final chunk, nothing of it
// written, while the others go on. Their number is bounded too
// (MaxPendingAppends): a client that begins more without ending them
// has its call ended, and nothing of them is written. Without either, one
// client could make the server hold appends until it ran out of memory.
func TestBatchAppendPendingBounded(t *testing.T) {
	newCorr := func() *esdbpb.UUID { return &esdbpb.UUID{Value: &esdbpb.UUID_String_{String_: uuid.NewString()}} }
	// open serves a memory store with a MaxAppendSize of 64 KiB, and
	// begins a BatchAppend call; data is an event's data of 60 KiB.
	open := func(t *testing.T) (chronicle.Store, grpc.BidiStreamingClient[esdbpb.BatchAppendReq, esdbpb.BatchAppendResp]) {
		t.Helper()
		store := memory.New(nil)
		c := esdbpb.NewStreamsClient(conn(t, store, &kurrentserver.Options{MaxAppendSize: 64 << 10}))
		b, err := c.BatchAppend(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		return store, b
	}
	data := []byte(`"` + strings.Repeat("x", 60<<10) + `"`)
	t.Run("Bytes", func(t *testing.T) {
		store, b := open(t)
		corrs := make([]*esdbpb.UUID, 5) // 5 x 60 KiB begun: over 4 x 64 KiB
		for i := range corrs {
			corrs[i] = newCorr()
			req := batchReq(corrs[i], fmt.Sprintf("p%d", i), false)
			req.ProposedMessages[0].Data = data
			if err := b.Send(req); err != nil {
				t.Fatal(err)
			}
		}
		for i := range corrs {
			if err := b.Send(&esdbpb.BatchAppendReq{CorrelationId: corrs[i], IsFinal: true}); err != nil {
				t.Fatal(err)
			}
		}
		b.CloseSend()
		refused := 0
		for range corrs {
			r, err := b.Recv()
			if err != nil {
				t.Fatalf("answer: %v", err)
			}
			if r.GetError() != nil {
				refused++
				if !strings.Contains(r.GetError().GetMessage(), "begun and not ended") {
					t.Errorf("refusal %q does not say why", r.GetError().GetMessage())
				}
			}
		}
		if refused != 1 {
			t.Errorf("%d of 5 appends of 60 KiB each, begun together over a bound of 256 KiB, refused; want 1", refused)
		}
		if n := len(storedStreams(t, store)); n != 4 {
			t.Errorf("the store holds %d events, want the 4 appends that fitted", n)
		}
	})
	t.Run("RefusedFreeTheirBytes", func(t *testing.T) {
		// Appends refused for a bad event in their second chunk hold
		// nothing after, their first chunk's event included: the bound
		// counts only what is held.
		_, b := open(t)
		send := func(corr *esdbpb.UUID, stream string, final, bad bool) {
			t.Helper()
			req := batchReq(corr, stream, final)
			req.ProposedMessages[0].Data = data
			if bad {
				delete(req.ProposedMessages[0].Metadata, "type")
			}
			if err := b.Send(req); err != nil {
				t.Fatal(err)
			}
		}
		for range 6 {
			// A good event held, then one without a type: refused whole.
			corr := newCorr()
			send(corr, "bad", false, false)
			send(corr, "bad", true, true)
			if r, err := b.Recv(); err != nil || r.GetError() == nil {
				t.Fatalf("an append with an event without a type: %v, %v; want it refused", r, err)
			}
		}
		corrs := make([]*esdbpb.UUID, 4)
		for i := range corrs {
			corrs[i] = newCorr()
			send(corrs[i], "good", false, false)
		}
		for _, corr := range corrs {
			if err := b.Send(&esdbpb.BatchAppendReq{CorrelationId: corr, IsFinal: true}); err != nil {
				t.Fatal(err)
			}
			if r, err := b.Recv(); err != nil || r.GetSuccess() == nil {
				t.Errorf("an append of 60 KiB, with 4 begun together under a bound of 256 KiB, after refused ones: %v, %v; want success", r, err)
			}
		}
		b.CloseSend()
	})
	t.Run("Count", func(t *testing.T) {
		store := memory.New(nil)
		c := esdbpb.NewStreamsClient(conn(t, store, nil))
		b, err := c.BatchAppend(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		var sendErr error
		for i := 0; i <= kurrentserver.MaxPendingAppends && sendErr == nil; i++ {
			sendErr = b.Send(batchReq(newCorr(), "c", false))
		}
		_, err = b.Recv()
		if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "begun and not ended") {
			t.Errorf("%d appends begun and none ended: the call ended with %v, want ResourceExhausted saying why", kurrentserver.MaxPendingAppends+1, err)
		}
		if n := len(storedStreams(t, store)); n != 0 {
			t.Errorf("the store holds %d events, want none", n)
		}
	})
}
