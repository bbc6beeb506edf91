package kurrentserver

import (
	"context"
	"errors"

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
// from its last visible event.
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
	return chronicle.StreamState{}, nil
}
