package kurrent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"math"
	"regexp"
	"strings"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/internal/esdbpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

var empty = &esdbpb.Empty{}

// Append implements [chronicle.Store.Append].
func (s *Store) Append(ctx context.Context, stream string, expected chronicle.ExpectedRevision, events ...chronicle.EventData) (chronicle.AppendResult, error) {
	events, err := chronicle.PrepareAppend(stream, events, s.maxEventSize)
	if err != nil {
		return chronicle.AppendResult{}, err
	}
	return s.append(ctx, stream, expected, events)
}

func (s *Store) append(ctx context.Context, stream string, expected chronicle.ExpectedRevision, events []chronicle.EventData) (chronicle.AppendResult, error) {
	opts := &esdbpb.AppendReq_Options{StreamIdentifier: streamID(stream)}
	switch {
	case expected.IsNoStream():
		opts.ExpectedStreamRevision = &esdbpb.AppendReq_Options_NoStream{NoStream: empty}
	case expected.IsStreamExists():
		opts.ExpectedStreamRevision = &esdbpb.AppendReq_Options_StreamExists{StreamExists: empty}
	case expected.IsAny():
		opts.ExpectedStreamRevision = &esdbpb.AppendReq_Options_Any{Any: empty}
	default:
		rev, _ := expected.Revision()
		opts.ExpectedStreamRevision = &esdbpb.AppendReq_Options_Revision{Revision: rev}
	}
	msgs := make([]*esdbpb.AppendReq, 0, len(events)+1)
	msgs = append(msgs, &esdbpb.AppendReq{Content: &esdbpb.AppendReq_Options_{Options: opts}})
	for _, e := range events {
		m, err := proposedMessage(e)
		if err != nil {
			return chronicle.AppendResult{}, fmt.Errorf("append to %q: %w", stream, err)
		}
		msgs = append(msgs, &esdbpb.AppendReq{Content: &esdbpb.AppendReq_ProposedMessage_{ProposedMessage: m}})
	}
	// Entered once the events are checked, as the other stores do: bad
	// input is refused as such, whether the store is closed or not.
	done, err := s.enter()
	if err != nil {
		return chronicle.AppendResult{}, fmt.Errorf("kurrent: append to %q: %w", stream, err)
	}
	defer done()
	var trailer metadata.MD
	resp, err := s.appendCall(ctx, msgs, grpc.Trailer(&trailer))
	if err != nil && ctx.Err() == nil && status.Code(err) == codes.ResourceExhausted && len(trailer.Get("exception")) == 0 {
		// gRPC refused a message over the server's limit before the
		// server read it: an event that the client's MaxEventSize let
		// through, but too large for the server.
		return chronicle.AppendResult{}, fmt.Errorf("kurrent: append to %q: %w for the server; it said: %s", stream, chronicle.ErrEventTooLarge, status.Convert(err).Message())
	}
	if err != nil {
		return chronicle.AppendResult{}, s.fromStatus(ctx, err, "append to", stream, expected, trailer)
	}
	if w := resp.GetWrongExpectedVersion(); w != nil {
		actual := chronicle.NoStream
		if _, ok := w.GetCurrentRevisionOption().(*esdbpb.AppendResp_WrongExpectedVersion_CurrentRevision); ok {
			actual = chronicle.Exact(w.GetCurrentRevision())
		}
		return chronicle.AppendResult{}, &chronicle.WrongExpectedRevisionError{Stream: stream, Expected: expected, Actual: actual}
	}
	ok := resp.GetSuccess()
	if ok == nil {
		return chronicle.AppendResult{}, fmt.Errorf("kurrent: append to %q: the server answered neither success nor conflict", stream)
	}
	n := uint64(len(events))
	res := chronicle.AppendResult{
		LastRevision: ok.GetCurrentRevision(),
		LastPosition: ok.GetPosition().GetCommitPosition(),
	}
	res.FirstRevision = res.LastRevision + 1 - n
	if s.gapless {
		res.FirstPosition = res.LastPosition + 1 - n
	} else {
		// KurrentDB's positions are offsets in its log: ask where the
		// first event went.
		res.FirstPosition = res.LastPosition
		if n > 1 {
			for e, err := range s.ReadStream(ctx, stream, chronicle.ReadStreamOptions{From: res.FirstRevision, Limit: 1}) {
				if err != nil {
					return res, err
				}
				res.FirstPosition = e.Position
			}
		}
	}
	return res, nil
}

func (s *Store) appendCall(ctx context.Context, msgs []*esdbpb.AppendReq, opts ...grpc.CallOption) (*esdbpb.AppendResp, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	call, err := s.streams.Append(ctx, opts...)
	if err != nil {
		return nil, err
	}
	for _, m := range msgs {
		if err := call.Send(m); err != nil {
			if errors.Is(err, io.EOF) {
				break // the server ended the call: CloseAndRecv says why
			}
			return nil, err
		}
	}
	return call.CloseAndRecv()
}

// count turns a Chronicle limit into a read count: 0 means no limit.
func count(limit int) *esdbpb.ReadReq_Options_Count {
	if limit <= 0 {
		return &esdbpb.ReadReq_Options_Count{Count: math.MaxInt64}
	}
	return &esdbpb.ReadReq_Options_Count{Count: uint64(limit)}
}

// ReadStream implements [chronicle.Store.ReadStream].
func (s *Store) ReadStream(ctx context.Context, stream string, opts chronicle.ReadStreamOptions) iter.Seq2[chronicle.RecordedEvent, error] {
	return func(yield func(chronicle.RecordedEvent, error) bool) {
		if err := chronicle.ValidateStreamName(stream); err != nil {
			yield(chronicle.RecordedEvent{}, err)
			return
		}
		so := &esdbpb.ReadReq_Options_StreamOptions{StreamIdentifier: streamID(stream)}
		if opts.From == chronicle.End {
			so.RevisionOption = &esdbpb.ReadReq_Options_StreamOptions_End{End: empty}
		} else {
			so.RevisionOption = &esdbpb.ReadReq_Options_StreamOptions_Revision{Revision: opts.From}
		}
		o := &esdbpb.ReadReq_Options{
			StreamOption: &esdbpb.ReadReq_Options_Stream{Stream: so},
			CountOption:  count(opts.Limit),
			FilterOption: &esdbpb.ReadReq_Options_NoFilter{NoFilter: empty},
		}
		if opts.Backwards {
			o.ReadDirection = esdbpb.ReadReq_Options_Backwards
		}
		s.read(ctx, stream, o, nil, 0, yield)
	}
}

// read runs a read or subscription and yields its events that pass keep
// (all when nil), at most limit of them (0: no limit).
func (s *Store) read(ctx context.Context, stream string, o *esdbpb.ReadReq_Options, keep func(chronicle.RecordedEvent) bool, limit int, yield func(chronicle.RecordedEvent, error) bool) {
	// Ending the call's context is how a loop that breaks early stops
	// the read on the server.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	o.UuidOption = &esdbpb.ReadReq_Options_UUIDOption{Content: &esdbpb.ReadReq_Options_UUIDOption_String_{String_: empty}}
	var trailer metadata.MD
	var call grpc.ServerStreamingClient[esdbpb.ReadResp]
	// recv opens the call, the first time, and receives its next
	// message, as a call under way that Close waits for; the caller's
	// loop body, between them, is not.
	recv := func() (*esdbpb.ReadResp, error) {
		done, err := s.enter()
		if err != nil {
			return nil, err
		}
		defer done()
		if call == nil {
			if call, err = s.streams.Read(ctx, &esdbpb.ReadReq{Options: o}, grpc.Trailer(&trailer)); err != nil {
				return nil, err
			}
		}
		return call.Recv()
	}
	n := 0
	for {
		resp, err := recv()
		if errors.Is(err, io.EOF) {
			return
		}
		if errors.Is(err, chronicle.ErrClosed) {
			// Refused by enter, not by gRPC: the call may be open
			// still, and gRPC may be writing its trailer as Close
			// ends it, so the trailer is not read.
			yield(chronicle.RecordedEvent{}, fmt.Errorf("kurrent: read %q: %w", stream, err))
			return
		}
		if err != nil {
			yield(chronicle.RecordedEvent{}, s.fromStatus(ctx, err, "read", stream, chronicle.Any, trailer))
			return
		}
		if nf := resp.GetStreamNotFound(); nf != nil {
			yield(chronicle.RecordedEvent{}, &chronicle.StreamNotFoundError{Stream: stream})
			return
		}
		ev := resp.GetEvent()
		if ev == nil {
			continue // confirmation, checkpoint, caught up
		}
		e, err := recorded(ev.GetEvent())
		if err != nil {
			yield(chronicle.RecordedEvent{}, fmt.Errorf("kurrent: read %q: %w", stream, err))
			return
		}
		if keep != nil && !keep(e) {
			continue
		}
		if !yield(e, nil) {
			return
		}
		if n++; limit > 0 && n >= limit {
			return
		}
	}
}

// serverFilter is the part of f that the server applies: one condition,
// as a prefix or a regular expression. exact reports whether it is all of
// f, so that the server may also apply the limit.
func serverFilter(f chronicle.Filter) (o *esdbpb.ReadReq_Options_FilterOptions, exact bool) {
	o = &esdbpb.ReadReq_Options_FilterOptions{
		Window: &esdbpb.ReadReq_Options_FilterOptions_Max{Max: 32},
		// Checkpoints are of no use here: the subscriber keeps its own.
		CheckpointIntervalMultiplier: 1 << 20,
	}
	quoted := func(xs []string) string {
		q := make([]string, len(xs))
		for i, x := range xs {
			q[i] = regexp.QuoteMeta(x)
		}
		return strings.Join(q, "|")
	}
	switch {
	case f.StreamPrefix != "":
		o.Filter = &esdbpb.ReadReq_Options_FilterOptions_StreamIdentifier{StreamIdentifier: &esdbpb.ReadReq_Options_FilterOptions_Expression{Prefix: []string{f.StreamPrefix}}}
		return o, len(f.Categories) == 0 && len(f.Types) == 0
	case len(f.Categories) > 0:
		o.Filter = &esdbpb.ReadReq_Options_FilterOptions_StreamIdentifier{StreamIdentifier: &esdbpb.ReadReq_Options_FilterOptions_Expression{Regex: "^(?:" + quoted(f.Categories) + ")(?:-|$)"}}
		return o, len(f.Types) == 0
	default:
		o.Filter = &esdbpb.ReadReq_Options_FilterOptions_EventType{EventType: &esdbpb.ReadReq_Options_FilterOptions_Expression{Regex: "^(?:" + quoted(f.Types) + ")$"}}
		return o, true
	}
}

// allOptions builds the options of a read of $all with filter f.
func allOptions(f chronicle.Filter, limit int) (o *esdbpb.ReadReq_Options, keep func(chronicle.RecordedEvent) bool, clientLimit int) {
	o = &esdbpb.ReadReq_Options{}
	if f.IsZero() {
		o.FilterOption = &esdbpb.ReadReq_Options_NoFilter{NoFilter: empty}
		o.CountOption = count(limit)
		return o, nil, 0
	}
	fo, exact := serverFilter(f)
	o.FilterOption = &esdbpb.ReadReq_Options_Filter{Filter: fo}
	keep = func(e chronicle.RecordedEvent) bool { return f.Match(e.Stream, e.Type) }
	if exact {
		o.CountOption = count(limit)
		return o, keep, 0
	}
	o.CountOption = count(0)
	return o, keep, limit
}

// ReadAll implements [chronicle.Store.ReadAll].
func (s *Store) ReadAll(ctx context.Context, opts chronicle.ReadAllOptions) iter.Seq2[chronicle.RecordedEvent, error] {
	return func(yield func(chronicle.RecordedEvent, error) bool) {
		// Refused here, not by the server: a string that is not UTF-8
		// cannot be sent at all, and what KurrentDB makes of the others
		// is not Chronicle's rule.
		if err := opts.Filter.Validate(); err != nil {
			yield(chronicle.RecordedEvent{}, err)
			return
		}
		o, keep, limit := allOptions(opts.Filter, opts.Limit)
		ao := &esdbpb.ReadReq_Options_AllOptions{}
		switch {
		case opts.Backwards && opts.From == chronicle.End:
			ao.AllOption = &esdbpb.ReadReq_Options_AllOptions_End{End: empty}
		case opts.Backwards:
			if opts.From == 0 {
				return
			}
			// A backwards read starts before the position it is given;
			// ours includes From.
			ao.AllOption = &esdbpb.ReadReq_Options_AllOptions_Position{Position: position(opts.From + 1)}
		case opts.From <= 1:
			ao.AllOption = &esdbpb.ReadReq_Options_AllOptions_Start{Start: empty}
		default:
			ao.AllOption = &esdbpb.ReadReq_Options_AllOptions_Position{Position: position(opts.From)}
		}
		o.StreamOption = &esdbpb.ReadReq_Options_All{All: ao}
		if opts.Backwards {
			o.ReadDirection = esdbpb.ReadReq_Options_Backwards
		}
		s.read(ctx, "$all", o, keep, limit, yield)
	}
}

func position(p uint64) *esdbpb.ReadReq_Options_Position {
	return &esdbpb.ReadReq_Options_Position{CommitPosition: p, PreparePosition: p}
}

// Subscribe implements [chronicle.Store.Subscribe] with a subscription to
// $all.
func (s *Store) Subscribe(ctx context.Context, opts chronicle.SubscribeOptions) iter.Seq2[chronicle.RecordedEvent, error] {
	return func(yield func(chronicle.RecordedEvent, error) bool) {
		if err := opts.Filter.Validate(); err != nil {
			yield(chronicle.RecordedEvent{}, err)
			return
		}
		o, keep, _ := allOptions(opts.Filter, 0)
		ao := &esdbpb.ReadReq_Options_AllOptions{}
		if opts.From <= 1 {
			ao.AllOption = &esdbpb.ReadReq_Options_AllOptions_Start{Start: empty}
		} else {
			// A subscription starts after the position it is given; ours
			// includes From.
			ao.AllOption = &esdbpb.ReadReq_Options_AllOptions_Position{Position: position(opts.From - 1)}
		}
		o.StreamOption = &esdbpb.ReadReq_Options_All{All: ao}
		o.CountOption = &esdbpb.ReadReq_Options_Subscription{Subscription: &esdbpb.ReadReq_Options_SubscriptionOptions{}}
		var stopped, failed bool
		s.read(ctx, "$all", o, keep, 0, func(e chronicle.RecordedEvent, err error) bool {
			failed = err != nil
			stopped = !yield(e, err)
			return !stopped
		})
		if stopped || failed {
			return
		}
		// A subscription ends only when the caller leaves, or on an
		// error; a server that ends it cleanly is an error too.
		if err := ctx.Err(); err != nil {
			yield(chronicle.RecordedEvent{}, err)
			return
		}
		yield(chronicle.RecordedEvent{}, errors.New("kurrent: the server ended the subscription"))
	}
}
