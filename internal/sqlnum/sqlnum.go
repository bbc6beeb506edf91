// Package sqlnum converts Chronicle's unsigned positions, revisions and
// counts, and its durations, to and from the signed 64-bit integers that
// SQL columns hold, as the sqlite and postgres stores keep them.
package sqlnum

import (
	"math"
	"time"
)

// Clamp is v as a column's integer: values past the largest one, which no
// log reaches, saturate rather than wrap round to negative numbers.
func Clamp(v uint64) int64 {
	if v > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(v)
}

// Micros is d in whole microseconds, as the stores keep a max age, rounded
// up: rounded down, an age under a microsecond would read as 0, no limit
// at all.
func Micros(d time.Duration) int64 {
	us := d.Microseconds()
	if d%time.Microsecond > 0 {
		us++
	}
	return us
}

// Duration is us microseconds (see Micros), or the longest time.Duration
// when it is longer: rounded up to a microsecond, the longest durations
// no longer fit one.
func Duration(us int64) time.Duration {
	if us > math.MaxInt64/int64(time.Microsecond) {
		return math.MaxInt64
	}
	return time.Duration(us) * time.Microsecond
}
