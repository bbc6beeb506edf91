package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

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

// TestConformance runs the suite on stores whose subscribers poll the
// file once an hour: only a commit's wake-up, or Close's, can bring them
// the events the suite waits for, so that a lost wake-up fails at the
// suite's timeouts rather than passing at the next poll.
// TestConformanceRelaxed keeps the default poll.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(tb testing.TB) chronicle.Store { return mustOpen(tb, &sqlite.Options{PollInterval: time.Hour}) })
}
