package kurrentserver

import (
	"context"
	"errors"
	"iter"
	"math"
	"regexp"
	"strings"
	"time"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/internal/esdbpb"
	"github.com/chronicle-es/chronicle/projection"
	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// reader sends the messages of one Read call.
type reader struct {
	st         *streams
	srv        grpc.ServerStreamingServer[esdbpb.ReadResp]
	structured bool // the client wants UUIDs as two int64s
}

// Read serves reads of a stream or of $all and, when the count option is
// a subscription, subscriptions to them. A subscription ends when the
// server begins to stop, with the status that says so, since it would
// never end by itself; a read gets the time that the server gives the
// calls in flight.
func (st *streams) Read(req *esdbpb.ReadReq, srv grpc.ServerStreamingServer[esdbpb.ReadResp]) error {
	o := req.GetOptions()
	_, subscribe := o.GetCountOption().(*esdbpb.ReadReq_Options_Subscription)
	if !subscribe {
		return st.read(srv.Context(), o, false, srv)
	}
	ctx, stop := st.s.untilStopping(srv.Context())
	defer stop()
	err := st.read(ctx, o, true, srv)
	if errors.Is(context.Cause(ctx), errStopping) {
		return errStopping
	}
	return err
}

// read serves Read with ctx in place of the call's context, which a
// subscription's ends when the server begins to stop; subscribe says
// whether o asks for one.
func (st *streams) read(ctx context.Context, o *esdbpb.ReadReq_Options, subscribe bool, srv grpc.ServerStreamingServer[esdbpb.ReadResp]) error {
	r := &reader{st: st, srv: srv, structured: o.GetUuidOption().GetStructured() != nil}
	backwards := o.GetReadDirection() == esdbpb.ReadReq_Options_Backwards
	if d := o.GetReadDirection(); !backwards && d != esdbpb.ReadReq_Options_Forwards {
		return status.Errorf(codes.InvalidArgument, "unknown read direction %d: read forwards (0) or backwards (1)", d)
	}
	switch so := o.GetStreamOption().(type) {
	case *esdbpb.ReadReq_Options_Stream:
		if o.GetFilter() != nil {
			// Served unfiltered, it would send the events the filter
			// leaves out.
			return status.Error(codes.InvalidArgument, "a filter applies to reads and subscriptions of $all: read a stream with no_filter")
		}
		if subscribe {
			return r.subscribeStream(ctx, so.Stream)
		}
		return r.readStream(ctx, so.Stream, backwards, o.GetCount())
	case *esdbpb.ReadReq_Options_All:
		f, err := newFilter(o.GetFilter())
		if err != nil {
			return rpcError(ctx, err, "$all")
		}
		if subscribe {
			return r.subscribeAll(ctx, so.All, f)
		}
		return r.readAll(ctx, so.All, backwards, o.GetCount(), f)
	}
	return status.Error(codes.InvalidArgument, "a read names a stream or $all")
}

func (r *reader) send(e chronicle.RecordedEvent) error {
	ev := &esdbpb.ReadResp_ReadEvent{Event: recordedEvent(e, r.structured)}
	if e.Position > 0 {
		ev.Position = &esdbpb.ReadResp_ReadEvent_CommitPosition{CommitPosition: e.Position}
	} else {
		ev.Position = &esdbpb.ReadResp_ReadEvent_NoPosition{NoPosition: &esdbpb.Empty{}}
	}
	return r.srv.Send(&esdbpb.ReadResp{Content: &esdbpb.ReadResp_Event{Event: ev}})
}

func (r *reader) notFound(stream string) error {
	return r.srv.Send(&esdbpb.ReadResp{Content: &esdbpb.ReadResp_StreamNotFound_{
		StreamNotFound: &esdbpb.ReadResp_StreamNotFound{StreamIdentifier: streamID(stream)},
	}})
}

func (r *reader) readStream(ctx context.Context, o *esdbpb.ReadReq_Options_StreamOptions, backwards bool, count uint64) error {
	stream := string(o.GetStreamIdentifier().GetStreamName())
	if target, ok := metastreamOf(stream); ok {
		// Its one event is at revision 0: a read forwards from a later
		// revision, or from the end, starts past it.
		pastEnd := !backwards && (o.GetRevision() > 0 || o.GetEnd() != nil)
		return r.readMetastream(ctx, stream, target, pastEnd)
	}
	if strings.HasPrefix(stream, "$") {
		// Chronicle has no system streams: $all is read with AllOptions.
		return r.notFound(stream)
	}
	opts := chronicle.ReadStreamOptions{Backwards: backwards, Limit: limit(count)}
	switch rev := o.GetRevisionOption().(type) {
	case *esdbpb.ReadReq_Options_StreamOptions_Revision:
		opts.From = rev.Revision
	case *esdbpb.ReadReq_Options_StreamOptions_End:
		opts.From = chronicle.End
	}
	if opts.From == chronicle.End && !backwards {
		// Forwards from the end reads nothing, but still tells a missing
		// stream apart.
		for _, err := range r.st.s.store.ReadStream(ctx, stream, chronicle.ReadStreamOptions{Backwards: true, From: chronicle.End, Limit: 1}) {
			if errors.Is(err, chronicle.ErrStreamNotFound) {
				return r.notFound(stream)
			}
			if err != nil {
				return rpcError(ctx, err, stream)
			}
		}
		return nil
	}
	for e, err := range r.st.s.store.ReadStream(ctx, stream, opts) {
		if errors.Is(err, chronicle.ErrStreamNotFound) {
			return r.notFound(stream)
		}
		if err != nil {
			return rpcError(ctx, err, stream)
		}
		if err := r.send(e); err != nil {
			return err
		}
	}
	return nil
}

// readMetastream shows a stream's metadata as the one event of its
// metadata stream, or the metadata stream as not found when none is set.
// A read that starts pastEnd finds nothing, as past the end of any
// stream, but still tells a missing metadata stream apart.
func (r *reader) readMetastream(ctx context.Context, name, target string, pastEnd bool) error {
	m, err := r.st.s.metadata(ctx, target)
	if status.Code(err) == codes.Unimplemented || err == nil && m.IsZero() {
		return r.notFound(name)
	}
	if err != nil {
		return rpcError(ctx, err, target)
	}
	if pastEnd {
		return nil
	}
	data := metadataJSON(m)
	return r.send(chronicle.RecordedEvent{
		Stream: name,
		// The same metadata always reads as the same event.
		ID:       uuid.NewSHA1(uuid.NameSpaceURL, append([]byte(name+"\x00"), data...)),
		Type:     metadataEventType,
		Data:     data,
		Recorded: time.Unix(0, 0),
	})
}

// allFrom is where a read of $all starts. Forwards reads include the
// event at the given position; backwards reads start before it, so that
// paging backwards from the last event read does not repeat it.
func allFrom(o *esdbpb.ReadReq_Options_AllOptions, backwards bool) uint64 {
	switch a := o.GetAllOption().(type) {
	case *esdbpb.ReadReq_Options_AllOptions_Position:
		p := a.Position.GetCommitPosition()
		if backwards {
			if p == 0 {
				return 0
			}
			return p - 1
		}
		return p
	case *esdbpb.ReadReq_Options_AllOptions_End:
		return chronicle.End
	}
	return 0
}

func (r *reader) readAll(ctx context.Context, o *esdbpb.ReadReq_Options_AllOptions, backwards bool, count uint64, f *filter) error {
	from := allFrom(o, backwards)
	if backwards && from == 0 {
		return nil
	}
	if !backwards && from == chronicle.End {
		return nil
	}
	n, max := 0, limit(count)
	opts := chronicle.ReadAllOptions{Backwards: backwards, From: from, Filter: f.storeFilter()}
	if f == nil {
		opts.Limit = max
	}
	for e, err := range r.st.s.store.ReadAll(ctx, opts) {
		if err != nil {
			return rpcError(ctx, err, "$all")
		}
		if !f.match(e) {
			continue
		}
		if err := r.send(e); err != nil {
			return err
		}
		if n++; max > 0 && n >= max {
			return nil
		}
	}
	return nil
}

func (r *reader) confirm() error {
	return r.srv.Send(&esdbpb.ReadResp{Content: &esdbpb.ReadResp_Confirmation{
		Confirmation: &esdbpb.ReadResp_SubscriptionConfirmation{SubscriptionId: newID().String()},
	}})
}

// subscribeStream sends a stream's events after the requested revision,
// then CaughtUp, then its new events as they commit, until the client
// leaves: what a read of the stream shows, live events too (streamsub
// follows the stream).
func (r *reader) subscribeStream(ctx context.Context, o *esdbpb.ReadReq_Options_StreamOptions) error {
	stream := string(o.GetStreamIdentifier().GetStreamName())
	if strings.HasPrefix(stream, "$") {
		return status.Errorf(codes.Unimplemented, "cannot subscribe to %q: Chronicle serves subscriptions to user streams and $all", stream)
	}
	if err := chronicle.ValidateStreamName(stream); err != nil {
		return rpcError(ctx, err, stream)
	}
	follow, err := r.st.s.streams.Start(ctx, stream)
	if err != nil {
		return rpcError(ctx, err, stream)
	}
	var from uint64 // the first revision to send
	switch rev := o.GetRevisionOption().(type) {
	case *esdbpb.ReadReq_Options_StreamOptions_Revision:
		from = after(rev.Revision)
	case *esdbpb.ReadReq_Options_StreamOptions_End:
		state, err := r.st.s.streamState(ctx, stream)
		if err != nil {
			return rpcError(ctx, err, stream)
		}
		if state.Exists {
			from = state.LastRevision + 1
		}
	}
	if err := r.confirm(); err != nil {
		return err
	}
	if err := r.sendAll(ctx, follow.CatchUp(ctx, from), stream); err != nil {
		return err
	}
	caught := &esdbpb.ReadResp_CaughtUp{Timestamp: timestamppb.Now()}
	if next := follow.Next(); next > 0 && next-1 <= math.MaxInt64 {
		// A revision beyond int64, asked for and never reached, has no
		// place in the field.
		rev := int64(next - 1)
		caught.StreamRevision = &rev
	}
	if err := r.srv.Send(&esdbpb.ReadResp{Content: &esdbpb.ReadResp_CaughtUp_{CaughtUp: caught}}); err != nil {
		return err
	}
	return r.sendAll(ctx, follow.Live(ctx), stream)
}

// sendAll sends the events of seq, and fails with its first error, as
// one about stream.
func (r *reader) sendAll(ctx context.Context, seq iter.Seq2[chronicle.RecordedEvent, error], stream string) error {
	for e, err := range seq {
		if err != nil {
			return rpcError(ctx, err, stream)
		}
		if err := r.send(e); err != nil {
			return err
		}
	}
	return nil
}

// subscribeAll sends the events of $all after the requested position that
// pass the filter, then CaughtUp, then new ones as they commit. A filtered
// subscription also gets a Checkpoint every so many events looked at, so
// that a client whose filter matches rarely can still save its place.
func (r *reader) subscribeAll(ctx context.Context, o *esdbpb.ReadReq_Options_AllOptions, f *filter) error {
	head, err := projection.Head(ctx, r.st.s.store)
	if err != nil {
		return rpcError(ctx, err, "$all")
	}
	var from uint64 // the first position to look at
	switch a := o.GetAllOption().(type) {
	case *esdbpb.ReadReq_Options_AllOptions_Position:
		from = after(a.Position.GetCommitPosition())
	case *esdbpb.ReadReq_Options_AllOptions_End:
		from = head + 1
	}
	if err := r.confirm(); err != nil {
		return err
	}
	cursor := max(from, 1) - 1 // the last position looked at
	seen := 0                  // events looked at since the last checkpoint
	look := func(seq iter.Seq2[chronicle.RecordedEvent, error]) error {
		for e, err := range seq {
			if err != nil {
				return rpcError(ctx, err, "$all")
			}
			if e.Position <= cursor {
				continue
			}
			cursor = e.Position
			if f.match(e) {
				if err := r.send(e); err != nil {
					return err
				}
			}
			if seen++; f.checkpointDue(seen) {
				seen = 0
				if err := r.checkpoint(cursor); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := look(r.st.s.store.ReadAll(ctx, chronicle.ReadAllOptions{From: from})); err != nil {
		return err
	}
	// The catch-up read ended at the head of its time, at least head.
	cursor = max(cursor, head)
	if f != nil && seen > 0 {
		seen = 0
		if err := r.checkpoint(cursor); err != nil {
			return err
		}
	}
	caught := &esdbpb.ReadResp_CaughtUp{Timestamp: timestamppb.Now()}
	if cursor > 0 {
		caught.Position = &esdbpb.ReadResp_Position{CommitPosition: cursor, PreparePosition: cursor}
	}
	if err := r.srv.Send(&esdbpb.ReadResp{Content: &esdbpb.ReadResp_CaughtUp_{CaughtUp: caught}}); err != nil {
		return err
	}
	return look(r.st.s.store.Subscribe(ctx, chronicle.SubscribeOptions{From: cursor + 1}))
}

// after is where a subscription from revision or position n starts:
// n+1, or n itself when n is the largest, which no stream or log reaches.
// n+1 would wrap to 0 there, and replay everything instead of nothing.
func after(n uint64) uint64 {
	if n == math.MaxUint64 {
		return n
	}
	return n + 1
}

func (r *reader) checkpoint(pos uint64) error {
	return r.srv.Send(&esdbpb.ReadResp{Content: &esdbpb.ReadResp_Checkpoint_{Checkpoint: &esdbpb.ReadResp_Checkpoint{
		CommitPosition: pos, PreparePosition: pos, Timestamp: timestamppb.Now(),
	}}})
}

// filter is a server-side filter of $all: on stream names or on event
// types, by prefixes or by a regular expression. A nil *filter keeps
// every event.
type filter struct {
	onType   bool
	prefixes []string
	re       *regexp.Regexp
	// every is how many events looked at make a checkpoint due.
	every int
}

func newFilter(o *esdbpb.ReadReq_Options_FilterOptions) (*filter, error) {
	if o == nil {
		return nil, nil
	}
	f := &filter{}
	var expr *esdbpb.ReadReq_Options_FilterOptions_Expression
	switch x := o.GetFilter().(type) {
	case *esdbpb.ReadReq_Options_FilterOptions_StreamIdentifier:
		expr = x.StreamIdentifier
	case *esdbpb.ReadReq_Options_FilterOptions_EventType:
		f.onType, expr = true, x.EventType
	default:
		// Served unfiltered, it would send every event of the log to a
		// client that asked for some.
		return nil, status.Error(codes.InvalidArgument,
			"a filter filters on stream names (stream_identifier) or on event types (event_type); this one names neither: send no_filter to read everything")
	}
	f.prefixes = expr.GetPrefix()
	if len(f.prefixes) > 0 && expr.GetRegex() != "" {
		return nil, status.Error(codes.InvalidArgument,
			"a filter has prefixes or a regular expression, not both: give the prefixes as a regular expression, or leave one out")
	}
	// A prefix is refused as a store refuses it in a chronicle.Filter,
	// with the same error, whether the store applies it or the server
	// does (several prefixes, type prefixes, subscriptions).
	for _, p := range f.prefixes {
		sel := chronicle.Filter{StreamPrefix: p}
		if f.onType {
			sel = chronicle.Filter{Types: []string{p}}
		}
		if err := sel.Validate(); err != nil {
			return nil, err
		}
	}
	if len(f.prefixes) == 0 {
		re, err := regexp.Compile(expr.GetRegex())
		if err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "bad filter regex: %v", err)
		}
		f.re = re
	}
	// The window is how many events the server may look at between two
	// checkpoints; the multiplier stretches it.
	window := uint64(o.GetMax())
	if window == 0 {
		window = 32
	}
	// Two uint32s multiply within a uint64; as an int the product could
	// wrap to a negative number, and make every event a checkpoint.
	f.every = int(min(window*uint64(max(1, o.GetCheckpointIntervalMultiplier())), math.MaxInt))
	return f, nil
}

func (f *filter) match(e chronicle.RecordedEvent) bool {
	if f == nil {
		return true
	}
	s := e.Stream
	if f.onType {
		s = e.Type
	}
	if f.re != nil {
		return f.re.MatchString(s)
	}
	for _, p := range f.prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

func (f *filter) checkpointDue(seen int) bool { return f != nil && seen >= f.every }

// storeFilter is the part of f that the store can apply itself, with an
// index where it has one: a single stream-name prefix. Subscriptions do
// not use it: they count the events the filter leaves out, for
// checkpoints, so they must see them.
func (f *filter) storeFilter() chronicle.Filter {
	if f == nil || f.onType || len(f.prefixes) != 1 {
		return chronicle.Filter{}
	}
	return chronicle.Filter{StreamPrefix: f.prefixes[0]}
}
