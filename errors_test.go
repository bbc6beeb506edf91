package chronicle_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/chronicle-es/chronicle"
)

func TestWrongExpectedRevisionError(t *testing.T) {
	var err error = &chronicle.WrongExpectedRevisionError{
		Stream:   "account-1",
		Expected: chronicle.Exact(2),
		Actual:   chronicle.Exact(5),
	}
	wrapped := fmt.Errorf("handle deposit: %w", err)

	for _, e := range []error{err, wrapped} {
		if !errors.Is(e, chronicle.ErrWrongExpectedRevision) {
			t.Errorf("errors.Is(%v, ErrWrongExpectedRevision) = false", e)
		}
		for _, other := range []error{chronicle.ErrStreamNotFound, chronicle.ErrInvalidEvent, chronicle.ErrIdempotencyConflict} {
			if errors.Is(e, other) {
				t.Errorf("errors.Is(%v, %v) = true", e, other)
			}
		}
		var wrong *chronicle.WrongExpectedRevisionError
		if !errors.As(e, &wrong) {
			t.Fatalf("errors.As(%v) = false", e)
		}
		if wrong.Stream != "account-1" || wrong.Expected != chronicle.Exact(2) || wrong.Actual != chronicle.Exact(5) {
			t.Errorf("errors.As gave %+v", wrong)
		}
	}
	for _, want := range []string{`"account-1"`, "expected revision 2", "at revision 5"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Error() = %q, lacks %q", err.Error(), want)
		}
	}

	noStream := &chronicle.WrongExpectedRevisionError{Stream: "s", Expected: chronicle.StreamExists, Actual: chronicle.NoStream}
	if msg := noStream.Error(); !strings.Contains(msg, "expected the stream to exist") || !strings.Contains(msg, "has no events") {
		t.Errorf("Error() = %q", msg)
	}
}

func TestStreamNotFoundError(t *testing.T) {
	var err error = &chronicle.StreamNotFoundError{Stream: "game-9"}
	wrapped := fmt.Errorf("load: %w", err)
	for _, e := range []error{err, wrapped} {
		if !errors.Is(e, chronicle.ErrStreamNotFound) {
			t.Errorf("errors.Is(%v, ErrStreamNotFound) = false", e)
		}
		if errors.Is(e, chronicle.ErrWrongExpectedRevision) {
			t.Errorf("errors.Is(%v, ErrWrongExpectedRevision) = true", e)
		}
		var nf *chronicle.StreamNotFoundError
		if !errors.As(e, &nf) || nf.Stream != "game-9" {
			t.Errorf("errors.As(%v) gave %+v", e, nf)
		}
	}
	if !strings.Contains(err.Error(), `"game-9"`) {
		t.Errorf("Error() = %q, lacks the stream", err.Error())
	}
}

func TestSentinelsAreDistinct(t *testing.T) {
	sentinels := []error{
		chronicle.ErrWrongExpectedRevision, chronicle.ErrStreamNotFound, chronicle.ErrInvalidStreamName,
		chronicle.ErrInvalidEvent, chronicle.ErrEventTooLarge, chronicle.ErrNoEvents,
		chronicle.ErrIdempotencyConflict, chronicle.ErrClosed, chronicle.ErrUnknownEventType,
	}
	seen := map[string]bool{}
	for i, a := range sentinels {
		if !strings.HasPrefix(a.Error(), "chronicle: ") {
			t.Errorf("%q lacks the package prefix", a)
		}
		if seen[a.Error()] {
			t.Errorf("two sentinels read %q", a)
		}
		seen[a.Error()] = true
		for j, b := range sentinels {
			if i != j && errors.Is(a, b) {
				t.Errorf("errors.Is(%v, %v) = true", a, b)
			}
		}
	}
}
