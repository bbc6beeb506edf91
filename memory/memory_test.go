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
