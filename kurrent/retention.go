package kurrent

import (
	"context"
	"errors"
	"fmt"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/internal/esdbpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// Delete implements [chronicle.Deleter].
func (s *Store) Delete(ctx context.Context, stream string, expected chronicle.ExpectedRevision) error {
	if err := chronicle.ValidateStreamName(stream); err != nil {
		return err
	}
	o := &esdbpb.DeleteReq_Options{StreamIdentifier: streamID(stream)}
	switch {
	case expected.IsNoStream():
		o.ExpectedStreamRevision = &esdbpb.DeleteReq_Options_NoStream{NoStream: empty}
	case expected.IsStreamExists():
		o.ExpectedStreamRevision = &esdbpb.DeleteReq_Options_StreamExists{StreamExists: empty}
	case expected.IsAny():
		o.ExpectedStreamRevision = &esdbpb.DeleteReq_Options_Any{Any: empty}
	default:
		rev, _ := expected.Revision()
		o.ExpectedStreamRevision = &esdbpb.DeleteReq_Options_Revision{Revision: rev}
	}
	done, err := s.enter()
	if err != nil {
		return fmt.Errorf("kurrent: delete %q: %w", stream, err)
	}
	defer done()
	var trailer metadata.MD
	_, err = s.streams.Delete(ctx, &esdbpb.DeleteReq{Options: o}, grpc.Trailer(&trailer))
	return s.fromStatus(ctx, err, "delete", stream, expected, trailer)
}

// Tombstone implements [chronicle.Deleter].
func (s *Store) Tombstone(ctx context.Context, stream string, expected chronicle.ExpectedRevision) error {
	if err := chronicle.ValidateStreamName(stream); err != nil {
		return err
	}
	o := &esdbpb.TombstoneReq_Options{StreamIdentifier: streamID(stream)}
	switch {
	case expected.IsNoStream():
		o.ExpectedStreamRevision = &esdbpb.TombstoneReq_Options_NoStream{NoStream: empty}
	case expected.IsStreamExists():
		o.ExpectedStreamRevision = &esdbpb.TombstoneReq_Options_StreamExists{StreamExists: empty}
	case expected.IsAny():
		o.ExpectedStreamRevision = &esdbpb.TombstoneReq_Options_Any{Any: empty}
	default:
		rev, _ := expected.Revision()
		o.ExpectedStreamRevision = &esdbpb.TombstoneReq_Options_Revision{Revision: rev}
	}
	done, err := s.enter()
	if err != nil {
		return fmt.Errorf("kurrent: tombstone %q: %w", stream, err)
	}
	defer done()
	var trailer metadata.MD
	_, err = s.streams.Tombstone(ctx, &esdbpb.TombstoneReq{Options: o}, grpc.Trailer(&trailer))
	return s.fromStatus(ctx, err, "tombstone", stream, expected, trailer)
}

// SetStreamMetadata implements [chronicle.Retention] by appending a
// "$metadata" event to the stream's metadata stream, "$$" + stream, as
// the official clients do. On a KurrentDB server the event replaces the
// whole metadata, so ACLs and custom keys set by other tools are lost.
func (s *Store) SetStreamMetadata(ctx context.Context, stream string, m chronicle.StreamMetadata) error {
	if err := chronicle.ValidateStreamName(stream); err != nil {
		return err
	}
	if err := m.Validate(); err != nil {
		return fmt.Errorf("set metadata of %q: %w", stream, err)
	}
	events, err := chronicle.PrepareAppend("meta", []chronicle.EventData{{Type: "$metadata", Data: metadataJSON(m)}}, 0)
	if err != nil {
		return err
	}
	_, err = s.append(ctx, "$$"+stream, chronicle.Any, events)
	var deleted *chronicle.StreamDeletedError
	if errors.As(err, &deleted) {
		return &chronicle.StreamDeletedError{Stream: stream}
	}
	return err
}

// StreamMetadata implements [chronicle.Retention]: it reads the last
// event of the stream's metadata stream.
func (s *Store) StreamMetadata(ctx context.Context, stream string) (chronicle.StreamMetadata, error) {
	if err := chronicle.ValidateStreamName(stream); err != nil {
		return chronicle.StreamMetadata{}, err
	}
	so := &esdbpb.ReadReq_Options_StreamOptions{
		StreamIdentifier: streamID("$$" + stream),
		RevisionOption:   &esdbpb.ReadReq_Options_StreamOptions_End{End: empty},
	}
	o := &esdbpb.ReadReq_Options{
		StreamOption:  &esdbpb.ReadReq_Options_Stream{Stream: so},
		ReadDirection: esdbpb.ReadReq_Options_Backwards,
		CountOption:   count(1),
		FilterOption:  &esdbpb.ReadReq_Options_NoFilter{NoFilter: empty},
	}
	var m chronicle.StreamMetadata
	var err error
	s.read(ctx, stream, o, nil, 1, func(e chronicle.RecordedEvent, rerr error) bool {
		if rerr != nil {
			if !errors.Is(rerr, chronicle.ErrStreamNotFound) {
				err = rerr
			}
			return false
		}
		m, err = parseMetadata(e.Data)
		return false
	})
	return m, err
}
