package kurrentserver

import (
	"context"
	"errors"
	"io"
	"strings"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/internal/esdbpb"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	grpcstatus "google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/emptypb"
)

// streams serves the Streams service.
type streams struct {
	esdbpb.UnimplementedStreamsServer
	s *Server
}

// appendEvents appends to stream, or to the metadata of the stream named
// by a "$$stream" name.
func (st *streams) appendEvents(ctx context.Context, stream string, exp chronicle.ExpectedRevision, events []chronicle.EventData) (chronicle.AppendResult, error) {
	if target, ok := metastreamOf(stream); ok {
		if err := st.s.authorize(ctx, Admin); err != nil {
			return chronicle.AppendResult{}, err
		}
		return st.s.setMetadata(ctx, target, exp, events)
	}
	if strings.HasPrefix(stream, "$") {
		return chronicle.AppendResult{}, grpcstatus.Errorf(codes.InvalidArgument,
			"cannot append to %q: Chronicle keeps no system streams other than $$stream metadata", stream)
	}
	return st.s.store.Append(ctx, stream, exp, events...)
}

// Append serves an append: options, then the events, then the answer. A
// refused expected revision is answered in the response, as servers do.
func (st *streams) Append(srv grpc.ClientStreamingServer[esdbpb.AppendReq, esdbpb.AppendResp]) error {
	ctx := srv.Context()
	first, err := srv.Recv()
	if err != nil {
		return err
	}
	opts := first.GetOptions()
	if opts == nil {
		return grpcstatus.Error(codes.InvalidArgument, "an append starts with its options")
	}
	stream := string(opts.GetStreamIdentifier().GetStreamName())
	_, isRev := opts.GetExpectedStreamRevision().(*esdbpb.AppendReq_Options_Revision)
	exp := expected(opts, isRev)
	var events []chronicle.EventData
	size := 0
	for {
		req, err := srv.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		msg := req.GetProposedMessage()
		if msg == nil {
			return grpcstatus.Error(codes.InvalidArgument, "options may be sent once, first")
		}
		if size += proto.Size(msg); size > st.s.opts.MaxAppendSize {
			err := appendTooLarge{st.s.opts.MaxAppendSize}
			setExceptionTrailer(ctx, err)
			return err
		}
		e, err := eventData(msg)
		if err != nil {
			setExceptionTrailer(ctx, err)
			return err
		}
		events = append(events, e)
	}
	if len(events) == 0 {
		// Clients send empty appends to check an expected revision, or
		// to create nothing; the store refuses empty appends, so answer
		// from the stream's state.
		return st.emptyAppend(srv, stream, exp)
	}
	res, err := st.appendEvents(ctx, stream, exp, events)
	var wrong *chronicle.WrongExpectedRevisionError
	if errors.As(err, &wrong) {
		return srv.SendAndClose(&esdbpb.AppendResp{Result: &esdbpb.AppendResp_WrongExpectedVersion_{
			WrongExpectedVersion: wrongExpectedVersion(wrong),
		}})
	}
	if err != nil {
		return rpcError(ctx, err, stream)
	}
	return srv.SendAndClose(appendSuccess(res))
}

func appendSuccess(res chronicle.AppendResult) *esdbpb.AppendResp {
	ok := &esdbpb.AppendResp_Success{
		CurrentRevisionOption: &esdbpb.AppendResp_Success_CurrentRevision{CurrentRevision: res.LastRevision},
		PositionOption: &esdbpb.AppendResp_Success_Position{Position: &esdbpb.AppendResp_Position{
			CommitPosition: res.LastPosition, PreparePosition: res.LastPosition,
		}},
	}
	if res.LastPosition == 0 {
		// Metadata writes have no place in the global log.
		ok.PositionOption = &esdbpb.AppendResp_Success_NoPosition{NoPosition: &esdbpb.Empty{}}
	}
	return &esdbpb.AppendResp{Result: &esdbpb.AppendResp_Success_{Success: ok}}
}

// emptyAppend answers an append without events: success if the stream
// is in the expected state, else wrong expected version.
func (st *streams) emptyAppend(srv grpc.ClientStreamingServer[esdbpb.AppendReq, esdbpb.AppendResp], stream string, exp chronicle.ExpectedRevision) error {
	state, err := st.s.streamState(srv.Context(), stream)
	if err != nil {
		return rpcError(srv.Context(), err, stream)
	}
	if !exp.Matches(state) {
		return srv.SendAndClose(&esdbpb.AppendResp{Result: &esdbpb.AppendResp_WrongExpectedVersion_{
			WrongExpectedVersion: wrongExpectedVersion(&chronicle.WrongExpectedRevisionError{
				Stream: stream, Expected: exp, Actual: state.Actual(),
			}),
		}})
	}
	ok := &esdbpb.AppendResp_Success{PositionOption: &esdbpb.AppendResp_Success_NoPosition{NoPosition: &esdbpb.Empty{}}}
	if state.Exists {
		ok.CurrentRevisionOption = &esdbpb.AppendResp_Success_CurrentRevision{CurrentRevision: state.LastRevision}
	} else {
		ok.CurrentRevisionOption = &esdbpb.AppendResp_Success_NoStream{NoStream: &esdbpb.Empty{}}
	}
	return srv.SendAndClose(&esdbpb.AppendResp{Result: &esdbpb.AppendResp_Success_{Success: ok}})
}

// wrongExpectedVersion fills both the current fields and those that
// clients of servers before 20.6.1 read.
func wrongExpectedVersion(w *chronicle.WrongExpectedRevisionError) *esdbpb.AppendResp_WrongExpectedVersion {
	out := &esdbpb.AppendResp_WrongExpectedVersion{}
	empty := &esdbpb.Empty{}
	if rev, ok := w.Actual.Revision(); ok {
		out.CurrentRevisionOption = &esdbpb.AppendResp_WrongExpectedVersion_CurrentRevision{CurrentRevision: rev}
		out.CurrentRevisionOption_20_6_0 = &esdbpb.AppendResp_WrongExpectedVersion_CurrentRevision_20_6_0{CurrentRevision_20_6_0: rev}
	} else {
		out.CurrentRevisionOption = &esdbpb.AppendResp_WrongExpectedVersion_CurrentNoStream{CurrentNoStream: empty}
		out.CurrentRevisionOption_20_6_0 = &esdbpb.AppendResp_WrongExpectedVersion_NoStream_20_6_0{NoStream_20_6_0: empty}
	}
	switch e := w.Expected; {
	case e.IsNoStream():
		out.ExpectedRevisionOption = &esdbpb.AppendResp_WrongExpectedVersion_ExpectedNoStream{ExpectedNoStream: empty}
		// Servers before 20.6.1 had no "no stream" case here: they sent
		// the number -1 in the revision field, as a uint64.
		out.ExpectedRevisionOption_20_6_0 = &esdbpb.AppendResp_WrongExpectedVersion_ExpectedRevision_20_6_0{ExpectedRevision_20_6_0: ^uint64(0)}
	case e.IsStreamExists():
		out.ExpectedRevisionOption = &esdbpb.AppendResp_WrongExpectedVersion_ExpectedStreamExists{ExpectedStreamExists: empty}
		out.ExpectedRevisionOption_20_6_0 = &esdbpb.AppendResp_WrongExpectedVersion_StreamExists_20_6_0{StreamExists_20_6_0: empty}
	case e.IsAny():
		out.ExpectedRevisionOption = &esdbpb.AppendResp_WrongExpectedVersion_ExpectedAny{ExpectedAny: empty}
		out.ExpectedRevisionOption_20_6_0 = &esdbpb.AppendResp_WrongExpectedVersion_Any_20_6_0{Any_20_6_0: empty}
	default:
		rev, _ := e.Revision()
		out.ExpectedRevisionOption = &esdbpb.AppendResp_WrongExpectedVersion_ExpectedRevision{ExpectedRevision: rev}
		out.ExpectedRevisionOption_20_6_0 = &esdbpb.AppendResp_WrongExpectedVersion_ExpectedRevision_20_6_0{ExpectedRevision_20_6_0: rev}
	}
	return out
}

// batch is one append of a BatchAppend stream, as its chunks arrive.
type batch struct {
	corr   *esdbpb.UUID
	opts   *esdbpb.BatchAppendReq_Options
	events []chronicle.EventData
	size   int // of the events received, as sent (see Options.MaxAppendSize)
	held   int // of those events still held, counted in the stream's bound (see MaxPendingAppends)
	// bad is why a chunk was refused: the append stays pending, its
	// later chunks dropped, until its final chunk, so that it gets one
	// answer and none of its events are written as another append.
	bad error
}

// BatchAppend serves many appends over one bidirectional stream. Each
// append is one or more chunks with the same correlation ID, the last
// marked final; each gets one answer, with errors as google.rpc.Status
// details rather than as the call's status, so that the stream goes on.
//
// A client that closes its side of the stream still has each append it
// sent a chunk of answered before the stream ends: one whose final chunk
// never came with an error, as nothing of it is written.
//
// Clients keep the stream open for all their appends, so that it would
// never end by itself: when the server begins to stop, it ends as a
// subscription does, once the appends begun on it are answered.
func (st *streams) BatchAppend(srv grpc.BidiStreamingServer[esdbpb.BatchAppendReq, esdbpb.BatchAppendResp]) error {
	ctx := srv.Context()
	// Chunks are received apart, so that the wait for the next one
	// also sees the server stop.
	type received struct {
		req *esdbpb.BatchAppendReq
		err error
	}
	reqs := make(chan received)
	// Once ctx ends, the receiver drops what it received rather than
	// wait for a loop that may have returned; the loop watches ctx
	// too, so that it never waits for the receiver that has gone.
	go func() {
		for {
			req, err := srv.Recv()
			select {
			case reqs <- received{req, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	pending := make(map[string]*batch)
	held := 0 // bytes of the events that pending holds (see MaxPendingAppends)
	for {
		stopping := st.s.stopping
		if len(pending) > 0 {
			stopping = nil // the rest of an append begun is awaited
		}
		var in received
		select {
		case in = <-reqs:
		case <-stopping:
			return errStopping
		case <-ctx.Done():
			return grpcstatus.FromContextError(ctx.Err()).Err()
		}
		req, err := in.req, in.err
		if errors.Is(err, io.EOF) {
			return st.abandon(ctx, srv, pending)
		}
		if err != nil {
			return err
		}
		corr, err := parseUUID(req.GetCorrelationId())
		if err != nil {
			return grpcstatus.Errorf(codes.InvalidArgument, "bad correlation ID: %v", err)
		}
		key := corr.String()
		b := pending[key]
		if b == nil {
			if len(pending) >= MaxPendingAppends {
				return grpcstatus.Errorf(codes.ResourceExhausted, "%d appends begun and not ended on this BatchAppend stream, the most it holds: "+
					"send each append's final chunk (is_final) before beginning more; nothing of those appends was written", len(pending))
			}
			b = &batch{corr: req.GetCorrelationId()}
			pending[key] = b
		}
		if req.GetOptions() != nil {
			b.opts = req.GetOptions()
		}
		// refuse drops what b holds: it will be answered with err alone.
		refuse := func(err error) {
			held -= b.held
			b.bad, b.events, b.held = err, nil, 0
		}
		for _, m := range req.GetProposedMessages() {
			if b.bad != nil {
				break
			}
			n := proto.Size(m)
			if b.size += n; b.size > st.s.opts.MaxAppendSize {
				refuse(appendTooLarge{st.s.opts.MaxAppendSize})
				break
			}
			if held+n > pendingBytes(st.s.opts.MaxAppendSize) {
				refuse(errPendingBytes(st.s.opts.MaxAppendSize))
				break
			}
			e, err := eventData(m)
			if err != nil {
				refuse(err)
				break
			}
			b.events = append(b.events, e)
			b.held += n
			held += n
		}
		if !req.GetIsFinal() {
			continue
		}
		delete(pending, key)
		held -= b.held
		resp := st.batchAppend(ctx, b, b.bad)
		resp.CorrelationId = req.GetCorrelationId()
		if err := srv.Send(resp); err != nil {
			return err
		}
	}
}

// abandon answers the appends whose final chunk never came, once their
// client has closed its side of the stream, so that it knows that none
// of their events were written rather than wait for answers that would
// never come, or guess.
func (st *streams) abandon(ctx context.Context, srv grpc.BidiStreamingServer[esdbpb.BatchAppendReq, esdbpb.BatchAppendResp], pending map[string]*batch) error {
	for _, b := range pending {
		bad := b.bad
		if bad == nil {
			bad = grpcstatus.Error(codes.InvalidArgument,
				"the client closed the stream before the final chunk of this append (is_final): nothing of it was written; send it again, ending with a final chunk")
		}
		resp := st.batchAppend(ctx, b, bad)
		resp.CorrelationId = b.corr
		if err := srv.Send(resp); err != nil {
			return err
		}
	}
	return nil
}

func (st *streams) batchAppend(ctx context.Context, b *batch, bad error) *esdbpb.BatchAppendResp {
	resp := &esdbpb.BatchAppendResp{}
	if b.opts == nil {
		resp.Result = &esdbpb.BatchAppendResp_Error{Error: &status.Status{
			Code: int32(codes.InvalidArgument), Message: "the first chunk of an append carries its options",
		}}
		return resp
	}
	stream := string(b.opts.GetStreamIdentifier().GetStreamName())
	resp.StreamIdentifier = b.opts.GetStreamIdentifier()
	var exp chronicle.ExpectedRevision
	switch o := b.opts.GetExpectedStreamPosition().(type) {
	case *esdbpb.BatchAppendReq_Options_StreamPosition:
		exp = chronicle.Exact(o.StreamPosition)
		resp.ExpectedStreamPosition = &esdbpb.BatchAppendResp_StreamPosition{StreamPosition: o.StreamPosition}
	case *esdbpb.BatchAppendReq_Options_NoStream:
		exp = chronicle.NoStream
		resp.ExpectedStreamPosition = &esdbpb.BatchAppendResp_NoStream{NoStream: &emptypb.Empty{}}
	case *esdbpb.BatchAppendReq_Options_StreamExists:
		exp = chronicle.StreamExists
		resp.ExpectedStreamPosition = &esdbpb.BatchAppendResp_StreamExists{StreamExists: &emptypb.Empty{}}
	default:
		exp = chronicle.Any
		resp.ExpectedStreamPosition = &esdbpb.BatchAppendResp_Any{Any: &emptypb.Empty{}}
	}
	if bad == nil && len(b.events) == 0 {
		bad = grpcstatus.Error(codes.InvalidArgument, "an append needs at least one event")
	}
	var res chronicle.AppendResult
	err := bad
	if err == nil {
		res, err = st.appendEvents(ctx, stream, exp, b.events)
	}
	if err != nil {
		resp.Result = &esdbpb.BatchAppendResp_Error{Error: batchError(err, stream)}
		return resp
	}
	ok := &esdbpb.BatchAppendResp_Success{
		CurrentRevisionOption: &esdbpb.BatchAppendResp_Success_CurrentRevision{CurrentRevision: res.LastRevision},
		PositionOption: &esdbpb.BatchAppendResp_Success_Position{Position: &esdbpb.AllStreamPosition{
			CommitPosition: res.LastPosition, PreparePosition: res.LastPosition,
		}},
	}
	if res.LastPosition == 0 {
		ok.PositionOption = &esdbpb.BatchAppendResp_Success_NoPosition{NoPosition: &emptypb.Empty{}}
	}
	resp.Result = &esdbpb.BatchAppendResp_Success_{Success: ok}
	return resp
}

// batchError is a refused batch append as the clients decode it: a
// status whose detail is one of the protocol's error messages, which
// they recognise by its type name.
func batchError(err error, stream string) *status.Status {
	st := &status.Status{Code: int32(codes.Unknown), Message: err.Error()}
	var detail proto.Message
	var wrong *chronicle.WrongExpectedRevisionError
	switch {
	case errors.As(err, &wrong):
		st.Code = int32(codes.FailedPrecondition)
		w := &esdbpb.WrongExpectedVersion{}
		if rev, ok := wrong.Actual.Revision(); ok {
			w.CurrentStreamRevisionOption = &esdbpb.WrongExpectedVersion_CurrentStreamRevision{CurrentStreamRevision: rev}
		} else {
			w.CurrentStreamRevisionOption = &esdbpb.WrongExpectedVersion_CurrentNoStream{CurrentNoStream: &emptypb.Empty{}}
		}
		switch e := wrong.Expected; {
		case e.IsNoStream():
			w.ExpectedStreamPositionOption = &esdbpb.WrongExpectedVersion_ExpectedNoStream{ExpectedNoStream: &emptypb.Empty{}}
		case e.IsStreamExists():
			w.ExpectedStreamPositionOption = &esdbpb.WrongExpectedVersion_ExpectedStreamExists{ExpectedStreamExists: &emptypb.Empty{}}
		case e.IsAny():
			w.ExpectedStreamPositionOption = &esdbpb.WrongExpectedVersion_ExpectedAny{ExpectedAny: &emptypb.Empty{}}
		default:
			rev, _ := e.Revision()
			w.ExpectedStreamPositionOption = &esdbpb.WrongExpectedVersion_ExpectedStreamPosition{ExpectedStreamPosition: rev}
		}
		detail = w
	case errors.Is(err, chronicle.ErrStreamDeleted):
		st.Code = int32(codes.FailedPrecondition)
		detail = &esdbpb.StreamDeleted{StreamIdentifier: streamID(stream)}
	default:
		if s, ok := grpcstatus.FromError(err); ok && s.Code() != codes.Unknown {
			st.Code = int32(s.Code())
			st.Message = s.Message()
		}
		if st.Code == int32(codes.Unknown) || st.Code == int32(codes.Internal) {
			detail = &esdbpb.Unknown{}
		} else {
			detail = &esdbpb.BadRequest{Message: st.Message}
		}
		if errors.Is(err, chronicle.ErrInvalidStreamName) || errors.Is(err, chronicle.ErrInvalidEvent) ||
			errors.Is(err, chronicle.ErrEventTooLarge) || errors.Is(err, chronicle.ErrIdempotencyConflict) {
			st.Code = int32(codes.InvalidArgument)
			detail = &esdbpb.BadRequest{Message: err.Error()}
		}
	}
	if a, err := anypb.New(detail); err == nil {
		st.Details = []*anypb.Any{a}
	}
	return st
}

// pendingBytes is how many bytes the events of the appends begun on one
// BatchAppend stream may take in all (see MaxPendingAppends).
func pendingBytes(maxAppend int) int { return 4 * maxAppend }

// errPendingBytes refuses an append whose chunk would make the appends
// begun on its BatchAppend stream hold more than pendingBytes.
func errPendingBytes(maxAppend int) error {
	return grpcstatus.Errorf(codes.ResourceExhausted, "the appends begun and not ended on this BatchAppend stream would take more than %d bytes, "+
		"four times the most this server takes in one append: send each append's final chunk (is_final) before beginning more; nothing of this append was written",
		pendingBytes(maxAppend))
}
