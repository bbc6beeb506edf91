// Package projection keeps read models up to date from a store's global
// log: a [Runner] hands each event to a [Projection] and records how far
// it got, its checkpoint.
//
// # Guarantees
//
// A projection whose read model lives in the store's own database (its
// Apply function takes a *sql.Tx, and the store is a [TxStore], such as
// the embedded SQLite store or PostgreSQL) is exactly-once: the read
// model's writes and the checkpoint commit in one transaction, so after
// any crash the read model reflects every event up to the checkpoint,
// once.
//
// A projection whose read model lives elsewhere (its Handle function takes
// no transaction) is at-least-once: the checkpoint is saved after the
// events are handled, so a crash in between hands those events again.
// Its Handle must be idempotent, for example by keying writes on the
// event's ID or position.
//
// # Failures
//
// An event that fails is retried with backoff. When it still fails, the
// runner stops that projection and reports an [*Error] naming the event;
// the other projections keep running. Nothing is skipped. An error that
// no retry can mend, such as an event that does not decode, is better
// marked with [Permanent]: the projection then stops at once, and its
// error matches [ErrPermanent]. It stops at once too when the store
// refuses a handler's write with [chronicle.ErrSchemaUpgraded], and when
// Apply or Handle panics: the panic is then a permanent error, with its
// stack, rather than the end of the process. A read of the log that
// fails, as on a broken connection, is retried the same way, from the
// checkpoint; when it still fails, or when the store is closed, the
// projection stops with that error. While a projection waits to try
// again, [Runner.Status] shows it [Retrying], with the last error, so that
// a failure shows before the projection stops.
package projection

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/chronicle-es/chronicle"
)

// Projection is a read model fed by events. Set Apply (exactly-once, in
// the store's database) or Handle (at-least-once, anywhere), not both.
type Projection struct {
	// Name identifies the projection and its checkpoint. Renaming a
	// projection rebuilds it: under its new name it has no checkpoint, so
	// it starts from the first event, and the runner that first meets the
	// name calls Reset before (in its setup, with the checkpoint at 0). A
	// Handle projection's ResetHandled is not called: its Handle, which is
	// idempotent, gets every event again over its read model as it is.
	Name string

	// Filter selects the events the projection sees.
	Filter chronicle.Filter

	// Setup prepares the read model, typically with CREATE TABLE IF NOT
	// EXISTS. It runs in a transaction when the runner starts, and must be
	// safe to run again.
	Setup func(ctx context.Context, tx *sql.Tx) error

	// Apply applies one event to the read model inside tx, the transaction
	// that also records the checkpoint.
	Apply func(ctx context.Context, tx *sql.Tx, e chronicle.RecordedEvent) error

	// Reset empties the read model before a rebuild, inside the
	// transaction that sets the checkpoint back to the start. It also
	// runs when the projection has no checkpoint yet (it is new, or was
	// renamed), so it must empty this projection's read model alone.
	Reset func(ctx context.Context, tx *sql.Tx) error

	// Handle applies one event to a read model outside the store's
	// database. It must be idempotent.
	Handle func(ctx context.Context, e chronicle.RecordedEvent) error

	// ResetHandled empties a Handle projection's read model before a
	// rebuild. While it runs, the Runner's follows of the projection wait
	// before saving a checkpoint, so it must not itself call that
	// Runner's CatchUp, Run or Rebuild: they would wait for it.
	ResetHandled func(ctx context.Context) error
}

// transactional reports whether p commits with its checkpoint.
func (p *Projection) transactional() bool { return p.Apply != nil }

func (p *Projection) validate(txStore bool) error {
	switch {
	case p.Name == "":
		return fmt.Errorf("projection without a name")
	case p.Apply != nil && p.Handle != nil:
		return fmt.Errorf("projection %q: set Apply or Handle, not both", p.Name)
	case p.Apply == nil && p.Handle == nil:
		return fmt.Errorf("projection %q: set Apply or Handle", p.Name)
	case p.Apply != nil && !txStore:
		return fmt.Errorf("projection %q: Apply needs a database with transactions: a store that is a projection.TxStore, such as *sqlite.Store, or Options.DB; use Handle with this store", p.Name)
	case (p.Setup != nil || p.Reset != nil) && !txStore:
		return fmt.Errorf("projection %q: Setup and Reset need a database with transactions", p.Name)
	}
	// Every read of the log would refuse it, and its projection would
	// retry in vain.
	if err := p.Filter.Validate(); err != nil {
		return fmt.Errorf("projection %q: %w", p.Name, err)
	}
	return nil
}

// DB is a database that runs transactions, where read models and their
// checkpoints can live. The embedded SQLite store and the PostgreSQL
// store are ones; a DB of your own must keep the promise of their
// Update below.
type DB interface {
	// Update runs fn in a write transaction and commits if it returns nil.
	// Updates must run one at a time, across every process that uses the
	// database (or fail rather than interleave, as SERIALIZABLE ones may):
	// a projection reads its checkpoint in fn and writes past it, and two
	// Updates that both read the same checkpoint would both apply the
	// events after it, twice. A DB that retries a failed transaction
	// must run fn again from the start, in the new transaction.
	Update(ctx context.Context, fn func(*sql.Tx) error) error
	// View runs fn in a read-only transaction.
	View(ctx context.Context, fn func(*sql.Tx) error) error
}

// TxStore is a store whose database can also hold read models. The
// embedded SQLite store and the PostgreSQL store are ones.
type TxStore interface {
	chronicle.Store
	DB
}

// Error reports the event that stopped a projection.
type Error struct {
	// Projection names the projection that stopped.
	Projection string
	// Event is the event it could not apply.
	Event chronicle.RecordedEvent
	// Err is the last error the handler returned for it.
	Err error
}

// Error names the projection and the event, and says how to go on.
func (e *Error) Error() string {
	how := ""
	if errors.Is(e.Err, ErrPermanent) {
		how = ", without retrying, as the failure is permanent"
	}
	return fmt.Sprintf("projection %q stopped at position %d (%s in %q at revision %d)%s: %v; fix the cause and run it again: it resumes at this event",
		e.Projection, e.Event.Position, e.Event.Type, e.Event.Stream, e.Event.Revision, how, e.Err)
}

// Unwrap returns the handler's error, for [errors.Is] and [errors.As].
func (e *Error) Unwrap() error { return e.Err }

// ErrPermanent marks an error of Apply or Handle that no retry can mend,
// such as an event that does not decode: the runner stops the projection
// at once, without the retries and waits of [Options.Retries], with an
// [*Error] that matches ErrPermanent, as [Status.Err] does then. Return
// [Permanent](err), or an error whose Is method matches ErrPermanent.
var ErrPermanent = errors.New("permanent failure")

// Permanent returns err marked as permanent: it matches [ErrPermanent] and
// err, with [errors.Is] and [errors.As], and reads as err. Permanent(nil)
// is nil, so that Apply may return Permanent(err) whatever err is.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err}
}

// permanentError is an error marked by [Permanent].
type permanentError struct{ err error }

func (e *permanentError) Error() string        { return e.err.Error() }
func (e *permanentError) Unwrap() error        { return e.err }
func (e *permanentError) Is(target error) bool { return target == ErrPermanent }
