package sqlite

import (
	"context"
	"slices"
	"sync"

	"github.com/chronicle-es/chronicle"
)

// writeLock is the store's own lock on SQLite's write lock, which its
// write connections take: the writer's, for appends and the other writes
// ordered with them, the update connection's, for Update and Scavenge,
// and the checkpoint connection's, to empty the write-ahead log. Each
// holds it from BEGIN IMMEDIATE (or the statement that takes SQLite's
// lock) until COMMIT or ROLLBACK, and the writer until its transaction
// has ended even when that ROLLBACK failed (see writer.rollback), and
// after a COMMIT until it has kept the batch's events in memory (see
// writer.commit).
//
// SQLite's busy handler looks for its lock between sleeps. A connection
// that takes it again as soon as it has let it go (Update or Scavenge
// called in a loop) may hold it whenever the other looks, for the whole
// busy timeout: appends failed with "database is locked" while the
// process itself was the one holding the lock. Here the two connections
// take turns, first come first served, and SQLite's busy handler only
// ever waits for other processes.
type writeLock struct {
	mu      sync.Mutex
	held    bool
	waiting []chan struct{} // first come first served; closed to hand the lock over
	closed  chan struct{}   // closed when the store closes
}

func newWriteLock() *writeLock {
	return &writeLock{closed: make(chan struct{})}
}

// lockOrQueue takes the lock and returns nil if it is free; otherwise it
// queues for it and returns a ticket, which is closed when the lock is
// handed over. A caller that stops waiting must withdraw its ticket.
func (l *writeLock) lockOrQueue() (ticket chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.held {
		l.held = true
		return nil
	}
	ticket = make(chan struct{})
	l.waiting = append(l.waiting, ticket)
	return ticket
}

// withdraw takes back the ticket of a caller that stopped waiting. Should
// the lock have been handed over to it meanwhile, it passes it on.
func (l *writeLock) withdraw(ticket chan struct{}) {
	l.mu.Lock()
	if i := slices.Index(l.waiting, ticket); i >= 0 {
		l.waiting = slices.Delete(l.waiting, i, i+1)
		l.mu.Unlock()
		return
	}
	l.mu.Unlock()
	l.unlock()
}

// unlock hands the lock over to the first caller queued, or frees it.
func (l *writeLock) unlock() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.waiting) == 0 {
		l.held = false
		return
	}
	next := l.waiting[0]
	l.waiting = slices.Delete(l.waiting, 0, 1)
	close(next)
}

// lock takes the lock, waiting for it until ctx ends or the store closes;
// the writer, whose batches Close waits for, waits in its own way (see
// writer.begin). Before it waits, and again whenever the channel that
// heal returned is closed, it calls heal, which lets the lock go should
// the writer keep it for a transaction that it could not end (see
// writer.healIdle); an error from heal ends the wait.
func (l *writeLock) lock(ctx context.Context, heal func() (<-chan struct{}, error)) error {
	select {
	case <-l.closed:
		return chronicle.ErrClosed
	default:
	}
	ticket := l.lockOrQueue()
	if ticket == nil {
		return nil
	}
	for {
		stranded, err := heal()
		if err != nil {
			l.withdraw(ticket)
			return err
		}
		select {
		case <-ticket:
			return nil
		case <-stranded:
		case <-ctx.Done():
			l.withdraw(ticket)
			return ctx.Err()
		case <-l.closed:
			l.withdraw(ticket)
			return chronicle.ErrClosed
		}
	}
}

// close makes the callers of lock that wait, and those to come, fail with
// [chronicle.ErrClosed].
func (l *writeLock) close() {
	close(l.closed)
}
