package maxage

import (
	"math"
	"testing"
	"time"
)

// TestRoundTrip: a max age survives the trip through whole units no
// shorter than it went in, from under a unit to the longest duration.
func TestRoundTrip(t *testing.T) {
	for _, unit := range []time.Duration{time.Microsecond, time.Second} {
		for _, d := range []time.Duration{0, 1, 999, time.Microsecond, 1500, time.Second + 1, time.Hour, math.MaxInt64 - 500, math.MaxInt64} {
			n := In(d, unit)
			back := Of(n, unit)
			if back < d {
				t.Errorf("%d ns -> %d x %v -> %d ns, shorter than it went in", d, n, unit, back)
			}
			if d > 0 && n == 0 {
				t.Errorf("%d ns kept as 0 x %v, no limit", d, unit)
			}
			if d < math.MaxInt64-unit && back-d >= unit {
				t.Errorf("%d ns -> %d ns, a whole %v longer", d, back, unit)
			}
		}
	}
}

func TestOfUnsigned(t *testing.T) {
	for _, n := range []uint64{math.MaxInt64, math.MaxInt64 + 1, math.MaxUint64} {
		if got := OfUnsigned(n, time.Second); got != math.MaxInt64 {
			t.Errorf("OfUnsigned(%d s) = %d, want the longest duration", n, got)
		}
	}
	if got := OfUnsigned(90, time.Second); got != 90*time.Second {
		t.Errorf("OfUnsigned(90 s) = %v", got)
	}
}
