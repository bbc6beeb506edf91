package memory_test

import (
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
