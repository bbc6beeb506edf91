package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/sqlite"
	"github.com/chronicle-es/chronicle/storetest"
)

// mustOpen opens a store in a new file that the test removes.
func mustOpen(tb testing.TB, opts *sqlite.Options) *sqlite.Store {
	tb.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(tb.TempDir(), "events.db"), opts)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(tb testing.TB) chronicle.Store { return mustOpen(tb, nil) })
}
