package sqlite_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chronicle-es/chronicle"
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

// TestCheckpointLetsAppendsThrough: while a reader keeps a Checkpoint
// waiting, appends go on, of this process and of another one whose busy
// timeout is short; once the reader is done, the Checkpoint empties the
// log. Checkpoint held the write lock while SQLite waited for the readers,
// for the whole busy timeout at each of its attempts: appends of another
// process failed with "database is locked", and this process's with "held
// the write lock for the whole busy timeout".
func TestCheckpointLetsAppendsThrough(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "events.db")
	s, err := sqlite.Open(ctx, path, &sqlite.Options{BusyTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	other, err := sqlite.Open(ctx, path, &sqlite.Options{BusyTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	appendN(t, s, "before", 3)
	release := holdRead(t, s)
	// Frames the reader's snapshot does not have, which it keeps from
	// being copied into the file.
	appendN(t, s, "after", 1)

	checkpointed := make(chan error, 1)
	go func() { checkpointed <- s.Checkpoint(ctx) }()
	for i := range 20 {
		if _, err := other.Append(ctx, "other", chronicle.Any, chronicle.EventData{Type: "E"}); err != nil {
			t.Fatalf("append %d of another process while a reader kept Checkpoint waiting: %v", i, err)
		}
		if _, err := s.Append(ctx, "same", chronicle.Any, chronicle.EventData{Type: "E"}); err != nil {
			t.Fatalf("append %d while a reader kept Checkpoint waiting: %v", i, err)
		}
	}
	select {
	case err := <-checkpointed:
		t.Fatalf("Checkpoint returned %v while a reader still used the log", err)
	default:
	}
	release()
	if err := <-checkpointed; err != nil {
		t.Fatalf("Checkpoint once the reader was done: %v", err)
	}
	if n := walSize(t, path); n != 0 {
		t.Fatalf("after Checkpoint the write-ahead log holds %d bytes, want 0", n)
	}
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
