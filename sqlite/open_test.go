package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chronicle-es/chronicle/sqlite"
)

// holdLock holds SQLite's write lock on s's file, through an Update,
// until the returned function is called.
func holdLock(t *testing.T, s *sqlite.Store) (release func()) {
	t.Helper()
	return holdTx(t, s.Update)
}

// holdRead keeps a read transaction of s open, on a snapshot of the file
// as it is now, until the returned function is called.
func holdRead(t *testing.T, s *sqlite.Store) (release func()) {
	t.Helper()
	return holdTx(t, s.View)
}

// holdTx keeps a transaction of run (Update or View) open, once it has
// read the file, until release is called, or the test ends.
func holdTx(t *testing.T, run func(context.Context, func(*sql.Tx) error) error) (release func()) {
	t.Helper()
	reading, unblock := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- run(context.Background(), func(tx *sql.Tx) error {
			var n int
			// A read transaction takes its snapshot at its first read,
			// not at BEGIN.
			if err := tx.QueryRow("SELECT count(*) FROM events").Scan(&n); err != nil {
				return err
			}
			close(reading)
			<-unblock
			return nil
		})
	}()
	select {
	case <-reading:
	case err := <-done:
		t.Fatalf("hold a transaction: %v", err)
	}
	var once sync.Once
	release = func() {
		once.Do(func() {
			close(unblock)
			if err := <-done; err != nil {
				t.Error(err)
			}
		})
	}
	t.Cleanup(release)
	return release
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
