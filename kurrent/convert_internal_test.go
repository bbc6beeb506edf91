package kurrent

import (
	"context"
	"errors"
	"testing"

	"github.com/chronicle-es/chronicle"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// TestFromStatusWhileClosing: once Close has begun, an answer the server
// had already given stays that answer, and the caller's own context
// ending stays that; only what closing caused (gRPC's Canceled or
// Unavailable) matches ErrClosed.
func TestFromStatusWhileClosing(t *testing.T) {
	s := &Store{}
	s.closed.Store(true)
	ctx := context.Background()
	canceled := status.Error(codes.Canceled, "grpc: the client connection is closing")
	wrong := metadata.Pairs("exception", "wrong-expected-version", "actual-version", "4")
	if err := s.fromStatus(ctx, canceled, "append to", "s", chronicle.Exact(2), wrong); !errors.Is(err, chronicle.ErrWrongExpectedRevision) || errors.Is(err, chronicle.ErrClosed) {
		t.Errorf("the server's answer while closing: %v, want a wrong expected revision, not ErrClosed", err)
	}
	gone, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.fromStatus(gone, canceled, "read", "s", chronicle.Any, nil); !errors.Is(err, context.Canceled) || errors.Is(err, chronicle.ErrClosed) {
		t.Errorf("the caller's context ended while closing: %v, want context.Canceled, not ErrClosed", err)
	}
	for _, c := range []codes.Code{codes.Canceled, codes.Unavailable} {
		if err := s.fromStatus(ctx, status.Error(c, "closing"), "read", "s", chronicle.Any, nil); !errors.Is(err, chronicle.ErrClosed) {
			t.Errorf("%v while closing: %v, want ErrClosed", c, err)
		}
	}
	if err := s.fromStatus(ctx, status.Error(codes.Internal, "boom"), "read", "s", chronicle.Any, nil); errors.Is(err, chronicle.ErrClosed) {
		t.Errorf("a server fault while closing: %v, labelled as closing", err)
	}
	s.closed.Store(false)
	if err := s.fromStatus(ctx, canceled, "read", "s", chronicle.Any, nil); errors.Is(err, chronicle.ErrClosed) {
		t.Errorf("Canceled on an open store: %v, labelled as closing", err)
	}
}

// The exceptions by which a server refuses bad input turn back into
// Chronicle's errors for it.
func TestFromStatusBadInput(t *testing.T) {
	s := &Store{}
	refused := status.Error(codes.InvalidArgument, "refused")
	for exception, want := range map[string]error{
		"maximum-append-size-exceeded": chronicle.ErrEventTooLarge,
		"invalid-stream-name":          chronicle.ErrInvalidStreamName,
		"invalid-event":                chronicle.ErrInvalidEvent,
	} {
		err := s.fromStatus(context.Background(), refused, "append to", "s", chronicle.Any, metadata.Pairs("exception", exception))
		if !errors.Is(err, want) {
			t.Errorf("%s: %v, want an error matching %v", exception, err, want)
		}
	}
}
