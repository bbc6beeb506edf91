package sqlnum

import (
	"math"
	"testing"
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
