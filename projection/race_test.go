//go:build race

package projection_test

// The race detector slows the processes that the crash tests start
// tenfold; they do less work under it, and still kill them mid-way.
const raceEnabled = true

// startDelay is how long, in milliseconds, a started process lives at least
// before it is killed: the race detector slows its start too.
const startDelay = 200
