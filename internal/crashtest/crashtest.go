// Package crashtest runs a test's child process again and again, killing
// each run with SIGKILL at a random moment shortly after it has made
// progress, until a run is left to finish. A kill timed from a run's
// start lands before its first commit on a slow machine (or under the
// race detector) and after the end of its work on a fast one; timed from
// its first commit, it lands mid-way however fast the machine is.
package crashtest

import (
	"math/rand/v2"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Options say how to start a run and how to see its progress.
type Options struct {
	// Command returns a new command that starts a run.
	Command func() *exec.Cmd
	// Progress tells how far the work has got, as a number that grows
	// with it, such as a checkpoint or the head of the log.
	Progress func() uint64
	// Kills is how many runs are killed; the run after them is left to
	// finish.
	Kills int
	// Rand draws the moment of each kill, up to MaxDelay after the run's
	// progress first moved.
	Rand *rand.Rand
	// MaxDelay is the latest moment of a kill after the run's progress
	// first moved; 0 means 40 ms.
	MaxDelay time.Duration
}

// lookEvery is how often Run looks at a run's progress until it moves.
const lookEvery = 2 * time.Millisecond

// finishWithin bounds the run that is left to finish.
const finishWithin = time.Minute

// Run starts runs until one exits 0, and returns the progress at each
// kill, in order: o.Kills of them, or fewer if a run finished before its
// kill came. A run that fails, or the last one that does not finish
// within a minute, fails the test with its output.
func Run(t testing.TB, o Options) (killedAt []uint64) {
	t.Helper()
	maxDelay := o.MaxDelay
	if maxDelay <= 0 {
		maxDelay = 40 * time.Millisecond
	}
	for {
		from := o.Progress()
		cmd := o.Command()
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()

		last := len(killedAt) == o.Kills
		look := time.NewTicker(lookEvery)
		var kill, hang <-chan time.Time
		if last {
			look.Stop()
			hang = time.After(finishWithin)
		}
		killed := false
	wait:
		for {
			select {
			case err := <-exited:
				if err != nil {
					look.Stop()
					t.Fatalf("run %d failed: %v\n%s", len(killedAt)+1, err, out.String())
				}
				break wait
			case <-look.C:
				if o.Progress() > from {
					look.Stop()
					kill = time.After(time.Duration(o.Rand.Int64N(int64(maxDelay))))
				}
			case <-kill:
				cmd.Process.Signal(syscall.SIGKILL)
				// A run that exited 0 before the signal finished the work.
				if err := <-exited; err != nil {
					killed = true
				}
				break wait
			case <-hang:
				cmd.Process.Signal(syscall.SIGKILL)
				<-exited
				t.Fatalf("the run left to finish did not finish within %v\n%s", finishWithin, out.String())
			}
		}
		look.Stop()
		if !killed {
			return killedAt
		}
		killedAt = append(killedAt, o.Progress())
	}
}
