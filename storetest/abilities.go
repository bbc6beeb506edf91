package storetest

import (
	"context"
	"errors"
	"reflect"

	"github.com/chronicle-es/chronicle"
	"github.com/google/uuid"
)

// has returns s as a T, an interface of optional abilities, and whether
// s has them all: it implements T, and none of T's abilities says that
// it is unsupported, as a store that wraps one without the ability does
// (see [chronicle.Store]).
func has[T any](s chronicle.Store) (T, bool) {
	a, ok := s.(T)
	if !ok {
		return a, false
	}
	t := reflect.TypeFor[T]()
	// Each ability is asked with a context that has ended: a store that
	// has it fails with the context's error and changes nothing, as
	// testCanceledContext checks; a wrapping store over one without it
	// says so first.
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	for _, p := range probes {
		if t.Implements(p.ability) && errors.Is(p.ask(ended, s), errors.ErrUnsupported) {
			return a, false
		}
	}
	return a, true
}

// probeStream is the stream that has asks about.
const probeStream = "storetest_probe-1"

// probes ask a store for each optional ability, changing nothing.
var probes = []struct {
	ability reflect.Type
	ask     func(context.Context, chronicle.Store) error
}{
	{reflect.TypeFor[chronicle.EventFinder](), func(ctx context.Context, s chronicle.Store) error {
		_, err := s.(chronicle.EventFinder).HasEvent(ctx, probeStream, uuid.Nil)
		return err
	}},
	{reflect.TypeFor[chronicle.SnapshotStore](), func(ctx context.Context, s chronicle.Store) error {
		_, _, err := s.(chronicle.SnapshotStore).LoadSnapshot(ctx, probeStream)
		return err
	}},
	{reflect.TypeFor[chronicle.Retention](), func(ctx context.Context, s chronicle.Store) error {
		_, err := s.(chronicle.Retention).StreamMetadata(ctx, probeStream)
		return err
	}},
	{reflect.TypeFor[chronicle.Deleter](), func(ctx context.Context, s chronicle.Store) error {
		return s.(chronicle.Deleter).Delete(ctx, probeStream, chronicle.StreamExists)
	}},
	{reflect.TypeFor[chronicle.Scavenger](), func(ctx context.Context, s chronicle.Store) error {
		_, err := s.(chronicle.Scavenger).Scavenge(ctx, nil)
		return err
	}},
	{reflect.TypeFor[chronicle.StreamLister](), func(ctx context.Context, s chronicle.Store) error {
		_, _, err := s.(chronicle.StreamLister).CountStreams(ctx)
		return err
	}},
}
