// Package sqlnum converts Chronicle's unsigned positions, revisions and
// counts to the signed 64-bit integers that SQL columns hold, as the
// sqlite and postgres stores keep them (a max age: see package maxage).
package sqlnum

import (
	"math"
)

// Clamp is v as a column's integer: values past the largest one, which no
// log reaches, saturate rather than wrap round to negative numbers.
func Clamp(v uint64) int64 {
	if v > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(v)
}
