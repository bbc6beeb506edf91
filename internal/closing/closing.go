// Package closing labels the errors of calls that a store's Close cut
// short, so that callers can match them with [chronicle.ErrClosed]: the
// drivers' own errors only say that a pool or a connection is closed.
package closing

import (
	"context"
	"errors"
	"fmt"

	"github.com/chronicle-es/chronicle"
)

// Err returns err, made to match [chronicle.ErrClosed] when the store is
// closed. A call that was under way when Close began may still end with
// an answer that closing did not cause, and that is left as it is: one
// of Chronicle's own errors (a wrong expected revision, a stream not
// found or deleted, bad input, a schema that a newer Chronicle upgraded),
// or the end of ctx, the caller's context.
// A context error while ctx goes on is the store's own contexts ending
// as it closes: that is labelled.
func Err(ctx context.Context, closed bool, err error) error {
	if err == nil || !closed || answer(err) || ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		return err
	}
	return fmt.Errorf("%w: %w", chronicle.ErrClosed, err)
}

// answers are the errors a store gives for reasons of its own.
var answers = []error{
	chronicle.ErrClosed,
	chronicle.ErrWrongExpectedRevision, chronicle.ErrStreamNotFound, chronicle.ErrStreamDeleted,
	chronicle.ErrIdempotencyConflict, chronicle.ErrInvalidStreamName, chronicle.ErrInvalidEvent,
	chronicle.ErrEventTooLarge, chronicle.ErrNoEvents, chronicle.ErrUnknownEventType,
	// A supervisor restarts the process on this one; labelled as closing,
	// it would read as the process's own shutdown.
	chronicle.ErrSchemaUpgraded,
}

func answer(err error) bool {
	for _, a := range answers {
		if errors.Is(err, a) {
			return true
		}
	}
	return false
}
