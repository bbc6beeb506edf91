//go:build race

package workflow_test

// The race detector slows the processes that the crash tests start
// tenfold; they do less work under it, and still kill them mid-way.
const raceEnabled = true
