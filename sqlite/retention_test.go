package sqlite_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/chronicle-es/chronicle"
)

// TestLongestMaxAge: a max age of the longest duration, which Go code
// may use for "for ever", hides nothing, reads back as that duration
// rather than as a negative one, and a scavenge removes nothing for it:
// kept in microseconds, rounded up, it no longer fits a time.Duration.
func TestLongestMaxAge(t *testing.T) {
	s := mustOpen(t, nil)
	ctx := context.Background()
	appendN(t, s, "kept", 3)
	for _, age := range []time.Duration{math.MaxInt64, math.MaxInt64 - 500} {
		if err := s.SetStreamMetadata(ctx, "kept", chronicle.StreamMetadata{MaxAge: age}); err != nil {
			t.Fatal(err)
		}
		m, err := s.StreamMetadata(ctx, "kept")
		if err != nil {
			t.Fatal(err)
		}
		if m.MaxAge < age {
			t.Errorf("max age %d read back as %d, want it rounded up, not down", age, m.MaxAge)
		}
		if _, err := s.Scavenge(ctx, nil); err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, err := range s.ReadStream(ctx, "kept", chronicle.ReadStreamOptions{}) {
			if err != nil {
				t.Fatalf("max age %d: after a scavenge: %v", age, err)
			}
			n++
		}
		if n != 3 {
			t.Fatalf("max age %d: after a scavenge, %d events read, want 3", age, n)
		}
	}
}
