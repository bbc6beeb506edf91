package kurrentserver

import (
	"context"
	"errors"
	"math"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/internal/esdbpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func (st *streams) deleter(stream string) (chronicle.Deleter, error) {
	d, ok := st.s.store.(chronicle.Deleter)
	if !ok {
		return nil, status.Error(codes.Unimplemented, "this store cannot delete streams")
	}
	if _, meta := metastreamOf(stream); meta {
		return nil, status.Errorf(codes.InvalidArgument, "cannot delete %q: delete the stream it describes", stream)
	}
	return d, nil
}

// Delete soft-deletes a stream: it reads as not found, and a new append
// starts it again after its old last revision.
func (st *streams) Delete(ctx context.Context, req *esdbpb.DeleteReq) (*esdbpb.DeleteResp, error) {
	o := req.GetOptions()
	stream := string(o.GetStreamIdentifier().GetStreamName())
	d, err := st.deleter(stream)
	if err != nil {
		return nil, err
	}
	_, isRev := o.GetExpectedStreamRevision().(*esdbpb.DeleteReq_Options_Revision)
	if err := d.Delete(ctx, stream, expected(o, isRev)); err != nil {
		return nil, rpcError(ctx, err, stream)
	}
	return &esdbpb.DeleteResp{PositionOption: &esdbpb.DeleteResp_NoPosition{NoPosition: &esdbpb.Empty{}}}, nil
}

// Tombstone deletes a stream for good.
func (st *streams) Tombstone(ctx context.Context, req *esdbpb.TombstoneReq) (*esdbpb.TombstoneResp, error) {
	o := req.GetOptions()
	stream := string(o.GetStreamIdentifier().GetStreamName())
	d, err := st.deleter(stream)
	if err != nil {
		return nil, err
	}
	_, isRev := o.GetExpectedStreamRevision().(*esdbpb.TombstoneReq_Options_Revision)
	if err := d.Tombstone(ctx, stream, expected(o, isRev)); err != nil {
		return nil, rpcError(ctx, err, stream)
	}
	return &esdbpb.TombstoneResp{PositionOption: &esdbpb.TombstoneResp_NoPosition{NoPosition: &esdbpb.Empty{}}}, nil
}

// streamState tells whether stream has events, and its last revision,
// as an append sees them: from its last visible event, or from the store's
// append check when metadata hides them all.
func (s *Server) streamState(ctx context.Context, stream string) (chronicle.StreamState, error) {
	if target, ok := metastreamOf(stream); ok {
		m, err := s.metadata(ctx, target)
		if err != nil {
			return chronicle.StreamState{}, err
		}
		return chronicle.StreamState{Exists: !m.IsZero()}, nil
	}
	for e, err := range s.store.ReadStream(ctx, stream, chronicle.ReadStreamOptions{Backwards: true, From: chronicle.End, Limit: 1}) {
		if errors.Is(err, chronicle.ErrStreamNotFound) {
			return chronicle.StreamState{}, nil
		}
		if err != nil {
			return chronicle.StreamState{}, err
		}
		return chronicle.StreamState{Exists: true, LastRevision: e.Revision}, nil
	}
	// No event and no error: the stream has events, and its metadata
	// hides them all. An append still counts them.
	return s.hiddenState(ctx, stream)
}

// unreachedRevision is a revision that no stream reaches, and that no
// protocol reads as a special case: KurrentDB reads a revision as a
// signed 64-bit number, where -1 (math.MaxUint64) means no stream.
const unreachedRevision = math.MaxInt64

// hiddenState tells the state of a stream whose events are all hidden,
// which no read shows, as an append sees it (StreamMetadata: hidden
// events still count). It asks the store's own append check, by an append
// that expects a revision no stream reaches: the store refuses it,
// writes nothing, and says where the stream is. That is one call on any
// store, and counts what an append counts, revisions a scavenge emptied
// included, where StreamLister.ListStreams leaves such a stream out and
// ReadAll no longer holds its events.
func (s *Server) hiddenState(ctx context.Context, stream string) (chronicle.StreamState, error) {
	_, err := s.store.Append(ctx, stream, chronicle.Exact(unreachedRevision), chronicle.EventData{Type: "$revision-check"})
	var wrong *chronicle.WrongExpectedRevisionError
	switch {
	case errors.As(err, &wrong):
		rev, exists := wrong.Actual.Revision()
		return chronicle.StreamState{Exists: exists, LastRevision: rev}, nil
	case err == nil:
		return chronicle.StreamState{}, status.Errorf(codes.Internal,
			"the store wrote an event to %q though the append expected revision %d, which no stream reaches", stream, unreachedRevision)
	}
	return chronicle.StreamState{}, err
}
