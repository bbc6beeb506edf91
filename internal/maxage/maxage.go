// Package maxage converts a stream's max age to and from the whole units
// in which a store keeps it (microseconds in the SQL stores, seconds in
// KurrentDB's $maxAge), as chronicle.StreamMetadata allows: rounded up,
// never down, and read back without wrapping round.
package maxage

import (
	"math"
	"time"
)

// In is d in whole units, rounded up: rounded down, an age under one unit
// would read as 0, no limit at all. It does not add a unit less a
// nanosecond first, which the longest durations would overflow.
func In(d, unit time.Duration) int64 {
	n := int64(d / unit)
	if d%unit > 0 {
		n++
	}
	return n
}

// Of is a max age of n units, or the longest time.Duration when it is
// longer: rounded up by In, the longest durations no longer fit one, and
// multiplied they would wrap round to a negative age.
func Of(n int64, unit time.Duration) time.Duration {
	if n > int64(math.MaxInt64/unit) {
		return math.MaxInt64
	}
	return time.Duration(n) * unit
}

// OfUnsigned is Of for a count that may pass the largest int64, as a
// $maxAge read from JSON may.
func OfUnsigned(n uint64, unit time.Duration) time.Duration {
	return Of(int64(min(n, math.MaxInt64)), unit)
}
