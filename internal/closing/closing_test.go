package closing_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/internal/closing"
)

func TestErr(t *testing.T) {
	dbClosed := errors.New("sql: database is closed")
	for _, tt := range []struct {
		name   string
		closed bool
		err    error
		want   bool // matches ErrClosed
	}{
		{"Nil", true, nil, false},
		{"Open", false, dbClosed, false},
		{"DriverClosed", true, fmt.Errorf("read all: %w", dbClosed), true},
		{"AlreadyClosed", true, fmt.Errorf("append: %w", chronicle.ErrClosed), true},
		{"NotFound", true, &chronicle.StreamNotFoundError{Stream: "s"}, false},
		{"WrongRevision", true, &chronicle.WrongExpectedRevisionError{Stream: "s", Expected: chronicle.NoStream, Actual: chronicle.Exact(1)}, false},
		{"Deleted", true, &chronicle.StreamDeletedError{Stream: "s"}, false},
		// A write refused because another process upgraded the schema: the
		// process must restart, whether or not it was closing.
		{"SchemaUpgraded", true, fmt.Errorf("update: %w", chronicle.ErrSchemaUpgraded), false},
		{"Canceled", true, fmt.Errorf("read: %w", context.Canceled), false},
		{"Deadline", true, context.DeadlineExceeded, false},
		// The pool's own context, cancelled by Close, while the caller's
		// goes on.
		{"PoolsContext", true, fmt.Errorf("connect: %w", context.Canceled), true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			if tt.name == "Canceled" || tt.name == "Deadline" {
				c, cancel := context.WithCancel(ctx)
				cancel()
				ctx = c
			}
			got := closing.Err(ctx, tt.closed, tt.err)
			if errors.Is(got, chronicle.ErrClosed) != tt.want {
				t.Fatalf("Err(%v, %v) = %v: matches ErrClosed %v, want %v", tt.closed, tt.err, got, !tt.want, tt.want)
			}
			if tt.err != nil && !errors.Is(got, tt.err) {
				t.Fatalf("Err(%v, %v) = %v: lost the error it was given", tt.closed, tt.err, got)
			}
			if !tt.want && got != tt.err {
				t.Fatalf("Err(%v, %v) = %v: changed an error it should leave alone", tt.closed, tt.err, got)
			}
		})
	}
}
