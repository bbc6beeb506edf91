package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chronicle-es/chronicle/sqlite"
)

// holdLock holds SQLite's write lock on s's file, through an Update,
// until the returned function is called.
func holdLock(t *testing.T, s *sqlite.Store) (release func()) {
	t.Helper()
	locked, unlock := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- s.Update(context.Background(), func(*sql.Tx) error {
			close(locked)
			<-unlock
			return nil
		})
	}()
	<-locked
	return func() {
		close(unlock)
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

// TestOpenWhileLocked: Open, which takes the write lock to bring the
// schema up to date, gives up when its context ends while another
// connection holds the lock, not at the end of the busy timeout; and it
// waits, up to the busy timeout, for a lock held longer than the
// writer's 50 ms waits.
func TestOpenWhileLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	s := mustOpenPath(t, path)

	release := holdLock(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	other, err := sqlite.Open(ctx, path, &sqlite.Options{BusyTimeout: 10 * time.Second})
	took := time.Since(start)
	release()
	if err == nil {
		other.Close()
	}
	if !errors.Is(err, context.DeadlineExceeded) || took > 5*time.Second {
		t.Fatalf("Open while the lock was held: %v after %v, want context.DeadlineExceeded at the deadline", err, took)
	}

	release = holdLock(t, s)
	other, err = sqlite.Open(context.Background(), path, &sqlite.Options{BusyTimeout: 200 * time.Millisecond})
	release()
	if err == nil {
		other.Close()
	}
	if err == nil || !strings.Contains(err.Error(), "held the write lock for the whole busy timeout (200ms)") {
		t.Fatalf("Open while the lock was held past the busy timeout: %v, want an error that says so", err)
	}

	release = holdLock(t, s)
	time.AfterFunc(300*time.Millisecond, release)
	other, err = sqlite.Open(context.Background(), path, &sqlite.Options{BusyTimeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("Open while the lock was held for 300 ms: %v", err)
	}
	other.Close()
}

// TestOpenNewFileAtOnce: stores that open one new file at once, as
// processes started together do, all open it, and it is migrated once.
func TestOpenNewFileAtOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	errs := make(chan error, 8)
	for range cap(errs) {
		go func() {
			s, err := sqlite.Open(context.Background(), path, nil)
			if err == nil {
				err = s.Close()
			}
			errs <- err
		}()
	}
	for range cap(errs) {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
