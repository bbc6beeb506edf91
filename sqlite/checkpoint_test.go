package sqlite_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chronicle-es/chronicle/sqlite"
)

// walSize returns the size of the store's write-ahead log.
func walSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path + "-wal")
	if errors.Is(err, os.ErrNotExist) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// TestCheckpointReportsReaders: a Checkpoint that readers keep from
// emptying the log gives up at the busy timeout, or when its context ends,
// and says that readers kept the log in use.
func TestCheckpointReportsReaders(t *testing.T) {
	for _, tt := range []struct {
		name      string
		busy      time.Duration
		ctxWait   time.Duration
		wantCause error
		newest    bool // the reader's snapshot has every commit
	}{
		{name: "BusyTimeout", busy: 300 * time.Millisecond},
		{name: "BusyTimeoutNewestSnapshot", busy: 300 * time.Millisecond, newest: true},
		{name: "Context", busy: time.Minute, ctxWait: 300 * time.Millisecond, wantCause: context.DeadlineExceeded},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "events.db")
			s, err := sqlite.Open(context.Background(), path, &sqlite.Options{BusyTimeout: tt.busy})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			appendN(t, s, "before", 3)
			release := holdRead(t, s)
			if !tt.newest {
				appendN(t, s, "after", 1)
			}
			ctx := context.Background()
			if tt.ctxWait > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.ctxWait)
				defer cancel()
			}
			err = s.Checkpoint(ctx)
			if !errors.Is(err, sqlite.ErrCheckpointBusy) {
				t.Fatalf("Checkpoint while a reader used the log: %v, want ErrCheckpointBusy", err)
			}
			if tt.wantCause != nil && !errors.Is(err, tt.wantCause) {
				t.Fatalf("Checkpoint while a reader used the log: %v, want it to match %v too", err, tt.wantCause)
			}
			release()
			if err := s.Checkpoint(context.Background()); err != nil {
				t.Fatalf("Checkpoint once the reader was done: %v", err)
			}
			if n := walSize(t, path); n != 0 {
				t.Fatalf("after Checkpoint the write-ahead log holds %d bytes, want 0", n)
			}
		})
	}
}
