//go:build race

package blog_test

// The race detector slows the processes that the crash test starts
// tenfold; it projects fewer posts under it, and still kills each run
// mid-way, since it waits for a run's first commit before killing it.
const raceEnabled = true
