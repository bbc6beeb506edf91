package sqlite_test

import (
	"testing"
	"time"

	"github.com/chronicle-es/chronicle/sqlite"
	"github.com/chronicle-es/chronicle/storetest"
)

// TestPanicInTransaction: a panic of the function that Update or View
// runs, which a server may recover from, ends its transaction, so that
// SQLite's write lock, which every append needs too, is free for what
// follows. A short busy timeout makes a lock left held fail fast.
func TestPanicInTransaction(t *testing.T) {
	storetest.PanicInTransaction(t, mustOpen(t, &sqlite.Options{BusyTimeout: 500 * time.Millisecond}))
}
