package memory_test

import (
	"testing"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/memory"
	"github.com/chronicle-es/chronicle/storetest"
)

// BenchmarkStore runs the shared store benchmarks with no I/O: the code's
// own overhead, the baseline beside the other stores' figures.
func BenchmarkStore(b *testing.B) {
	storetest.Bench(b, func(testing.TB) chronicle.Store { return memory.New(nil) })
}
