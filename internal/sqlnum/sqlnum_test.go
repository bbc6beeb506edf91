package sqlnum

import (
	"math"
	"testing"
	"time"
)

func TestClamp(t *testing.T) {
	for _, tt := range []struct {
		in   uint64
		want int64
	}{{0, 0}, {42, 42}, {math.MaxInt64, math.MaxInt64}, {math.MaxInt64 + 1, math.MaxInt64}, {math.MaxUint64, math.MaxInt64}} {
		if got := Clamp(tt.in); got != tt.want {
			t.Errorf("Clamp(%d) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

// TestMaxAge: a max age survives the trip through microseconds no shorter
// than it went in, from under a microsecond to the longest duration.
func TestMaxAge(t *testing.T) {
	for _, d := range []time.Duration{0, 1, 999, time.Microsecond, 1500, time.Hour, math.MaxInt64 - 500, math.MaxInt64} {
		us := Micros(d)
		back := Duration(us)
		if back < d {
			t.Errorf("%d ns -> %d us -> %d ns, shorter than it went in", d, us, back)
		}
		if d > 0 && us == 0 {
			t.Errorf("%d ns kept as 0 us, no limit", d)
		}
		if d < math.MaxInt64-time.Microsecond && back-d >= time.Microsecond {
			t.Errorf("%d ns -> %d ns, more than a microsecond longer", d, back)
		}
	}
}
