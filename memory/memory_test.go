package memory_test

import (
	"context"
	"errors"
	"testing"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/memory"
	"github.com/chronicle-es/chronicle/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(testing.TB) chronicle.Store { return memory.New(nil) })
}

// withoutDeleter is a memory store that shows, of the lifecycle
// abilities, Retention and Scavenger alone, as a store that cannot
// delete streams does, and finds events.
type withoutDeleter struct {
	chronicle.Store
	chronicle.Retention
	chronicle.Scavenger
	chronicle.EventFinder
}

// TestConformanceWithoutDeleter: the scavenges, and the finds of hidden
// events, that need no Deleter are checked on a store that has none.
func TestConformanceWithoutDeleter(t *testing.T) {
	storetest.Run(t, func(testing.TB) chronicle.Store {
		s := memory.New(nil)
		return withoutDeleter{s, s, s, s}
	})
}

// TestReadAllBackwardsEndedContextOnEmptyStore: a backwards read with an
// ended context fails as such even when the log has no events to read,
// as a forward one does: reading nothing would tell a caller that gave
// up that the store is empty.
func TestReadAllBackwardsEndedContextOnEmptyStore(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s := memory.New(nil)
	for _, opts := range []chronicle.ReadAllOptions{{}, {Backwards: true, From: chronicle.End}} {
		var got error
		for _, err := range s.ReadAll(ctx, opts) {
			got = err
		}
		if !errors.Is(got, context.Canceled) {
			t.Errorf("ReadAll(%+v) of an empty store with an ended context: error = %v, want one matching context.Canceled", opts, got)
		}
	}
}
