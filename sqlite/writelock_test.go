package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/chronicle-es/chronicle"
)

// TestWriteLockWithdrawnAfterHandOver: a waiter that gives up just as the
// lock is handed over to it passes the lock on, rather than keep it for
// good with no one to let it go.
func TestWriteLockWithdrawnAfterHandOver(t *testing.T) {
	l := newWriteLock()
	if l.lockOrQueue() != nil {
		t.Fatal("a free lock was not taken at once")
	}
	ticket := l.lockOrQueue()
	next := l.lockOrQueue()
	l.unlock() // to ticket, whose caller has given up
	select {
	case <-ticket:
	default:
		t.Fatal("unlock did not hand the lock over to the first waiter")
	}
	l.withdraw(ticket)
	select {
	case <-next:
	default:
		t.Fatal("the lock handed over to a waiter that withdrew was not passed on")
	}
	l.unlock()
	if l.lockOrQueue() != nil {
		t.Fatal("the lock was not free once its last holder let it go")
	}
}

// TestUpdateWaitingForTheLockEndsAtClose: an Update that waits for the
// store's write lock, held by another Update, fails with ErrClosed once
// Close begins, rather than wait for the other to end.
func TestUpdateWaitingForTheLockEndsAtClose(t *testing.T) {
	s, err := Open(context.Background(), t.TempDir()+"/events.db", nil)
	if err != nil {
		t.Fatal(err)
	}
	release := holdLock(t, s)
	waited := make(chan error, 1)
	go func() {
		waited <- s.Update(context.Background(), func(*sql.Tx) error { return nil })
	}()
	for !waiting(s.writes) {
		runtime.Gosched()
	}
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	select {
	case err := <-waited:
		if !errors.Is(err, chronicle.ErrClosed) {
			t.Errorf("an Update waiting for the lock at Close: %v, want ErrClosed", err)
		}
	case <-time.After(time.Minute):
		t.Error("an Update waiting for the lock at Close still waits, for the Update that holds it")
	}
	release()
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if err := s.Update(context.Background(), func(*sql.Tx) error { return nil }); !errors.Is(err, chronicle.ErrClosed) {
		t.Fatalf("an Update after Close: %v, want ErrClosed", err)
	}
}

// waiting reports whether a caller waits for l.
func waiting(l *writeLock) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.waiting) > 0
}
