package shred

import (
	"context"
	"errors"
	"fmt"

	"github.com/chronicle-es/chronicle"
	"github.com/google/uuid"
)

var (
	_ chronicle.EventFinder  = (*Store)(nil)
	_ chronicle.Retention    = (*Store)(nil)
	_ chronicle.Deleter      = (*Store)(nil)
	_ chronicle.Scavenger    = (*Store)(nil)
	_ chronicle.StreamLister = (*Store)(nil)
)

// beneath returns the store beneath s as a T, or an error matching
// [errors.ErrUnsupported] that says what could not be done.
func beneath[T any](s *Store, what string) (T, error) {
	a, ok := s.inner.(T)
	if !ok {
		return a, fmt.Errorf("%s: the store that the shredding store wraps (%T) cannot: %w", what, s.inner, errors.ErrUnsupported)
	}
	return a, nil
}

// HasEvent implements [chronicle.EventFinder] with the store beneath.
func (s *Store) HasEvent(ctx context.Context, stream string, id uuid.UUID) (bool, error) {
	f, err := beneath[chronicle.EventFinder](s, "find an event by ID")
	if err != nil {
		return false, err
	}
	return f.HasEvent(ctx, stream, id)
}

// SetStreamMetadata implements [chronicle.Retention] with the store
// beneath.
func (s *Store) SetStreamMetadata(ctx context.Context, stream string, m chronicle.StreamMetadata) error {
	r, err := beneath[chronicle.Retention](s, "set stream metadata")
	if err != nil {
		return err
	}
	return r.SetStreamMetadata(ctx, stream, m)
}

// StreamMetadata implements [chronicle.Retention] with the store beneath.
func (s *Store) StreamMetadata(ctx context.Context, stream string) (chronicle.StreamMetadata, error) {
	r, err := beneath[chronicle.Retention](s, "read stream metadata")
	if err != nil {
		return chronicle.StreamMetadata{}, err
	}
	return r.StreamMetadata(ctx, stream)
}

// Delete implements [chronicle.Deleter] with the store beneath.
func (s *Store) Delete(ctx context.Context, stream string, expected chronicle.ExpectedRevision) error {
	d, err := beneath[chronicle.Deleter](s, "delete a stream")
	if err != nil {
		return err
	}
	return d.Delete(ctx, stream, expected)
}

// Tombstone implements [chronicle.Deleter] with the store beneath.
func (s *Store) Tombstone(ctx context.Context, stream string, expected chronicle.ExpectedRevision) error {
	d, err := beneath[chronicle.Deleter](s, "tombstone a stream")
	if err != nil {
		return err
	}
	return d.Tombstone(ctx, stream, expected)
}

// Scavenge implements [chronicle.Scavenger] with the store beneath.
func (s *Store) Scavenge(ctx context.Context, progress func(chronicle.ScavengeProgress)) (chronicle.ScavengeProgress, error) {
	sc, err := beneath[chronicle.Scavenger](s, "scavenge")
	if err != nil {
		return chronicle.ScavengeProgress{}, err
	}
	return sc.Scavenge(ctx, progress)
}

// ListStreams implements [chronicle.StreamLister] with the store beneath.
func (s *Store) ListStreams(ctx context.Context, opts chronicle.ListStreamsOptions) ([]chronicle.StreamInfo, error) {
	l, err := beneath[chronicle.StreamLister](s, "list streams")
	if err != nil {
		return nil, err
	}
	return l.ListStreams(ctx, opts)
}

// CountStreams implements [chronicle.StreamLister] with the store beneath.
func (s *Store) CountStreams(ctx context.Context) (streams, events uint64, err error) {
	l, err := beneath[chronicle.StreamLister](s, "count streams")
	if err != nil {
		return 0, 0, err
	}
	return l.CountStreams(ctx)
}
