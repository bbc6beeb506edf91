package cli_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/chronicle-es/chronicle/internal/cli"
)

// TestNotifyContext sends the process each signal that NotifyContext
// catches: the context ends with the signal as its cause, and Stopped
// words it and gives the exit status that shells report for it.
func TestNotifyContext(t *testing.T) {
	for _, tt := range []struct {
		sig  syscall.Signal
		how  string
		code int
	}{
		{syscall.SIGINT, "interrupted (Ctrl-C, SIGINT)", cli.ExitInterrupted},
		{syscall.SIGTERM, "stopped by SIGTERM", cli.ExitTerminated},
	} {
		t.Run(tt.sig.String(), func(t *testing.T) {
			ctx, stop := cli.NotifyContext(context.Background())
			defer stop()
			if err := syscall.Kill(syscall.Getpid(), tt.sig); err != nil {
				t.Fatal(err)
			}
			<-ctx.Done()
			err := fmt.Errorf("read: %w", ctx.Err())
			how, code, ok := cli.Stopped(context.Cause(ctx), err)
			if !ok || how != tt.how || code != tt.code {
				t.Errorf("Stopped = %q, %d, %v; want %q, %d, true", how, code, ok, tt.how, tt.code)
			}
		})
	}
}

// TestForced: the first signal cancels the context of NotifyContext
// alone; the second, whichever it is, cancels the one of Forced, with
// that signal as its cause.
func TestForced(t *testing.T) {
	ctx, stop := cli.NotifyContext(context.Background())
	defer stop()
	forced := cli.Forced(ctx)
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	<-ctx.Done()
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-forced.Done()
	how, code, ok := cli.Stopped(context.Cause(forced), forced.Err())
	if !ok || how != "stopped by SIGTERM" || code != cli.ExitTerminated {
		t.Errorf("Stopped after a second signal = %q, %d, %v; want SIGTERM's", how, code, ok)
	}
	if how, _, _ := cli.Stopped(context.Cause(ctx), ctx.Err()); how != "interrupted (Ctrl-C, SIGINT)" {
		t.Errorf("the first signal became %q", how)
	}
	if cli.Forced(context.Background()).Done() != nil {
		t.Error("Forced of a context without signals can end")
	}
}

// TestStoppedOnlyBySignals: an error that is not a cancellation, or a
// context cancelled by something other than a signal, is not a command
// stopped by a signal, and keeps its own message.
func TestStoppedOnlyBySignals(t *testing.T) {
	for name, tt := range map[string]struct{ cause, err error }{
		"not cancelled":      {cli.Signalled{Signal: syscall.SIGINT}, errors.New("disk full")},
		"cancelled, no sign": {context.Canceled, context.Canceled},
		"still running":      {nil, context.Canceled},
	} {
		if how, code, ok := cli.Stopped(tt.cause, tt.err); ok {
			t.Errorf("%s: Stopped = %q, %d, true; want false", name, how, code)
		}
	}
	ctx, stop := cli.NotifyContext(context.Background())
	stop()
	if _, _, ok := cli.Stopped(context.Cause(ctx), ctx.Err()); ok {
		t.Error("a context that stop ended counts as stopped by a signal")
	}
	if forced := cli.Forced(ctx); forced.Err() == nil {
		t.Error("stop left the context of Forced running")
	} else if _, _, ok := cli.Stopped(context.Cause(forced), forced.Err()); ok {
		t.Error("a Forced context that stop ended counts as forced by a signal")
	}
}

// signalChild names the environment variable that makes
// TestThirdSignalExits's process, run again by the test, the program
// that it signals.
const signalChild = "CHRONICLE_CLI_SIGNAL_CHILD"

// TestThirdSignalExits: a program whose stop, forced by a second signal,
// still waits for work that does not end, is stopped by a third, at once
// and by the signal itself, as a program that does not catch it is. The
// third signal was caught and ignored: only SIGKILL stopped it.
func TestThirdSignalExits(t *testing.T) {
	if os.Getenv(signalChild) != "" {
		// The program: it says where it is, and after the forced stop
		// waits for ever, as for a handler that ignores its context.
		ctx, stop := cli.NotifyContext(context.Background())
		defer stop()
		fmt.Println("started")
		<-ctx.Done()
		fmt.Println("stopping")
		<-cli.Forced(ctx).Done()
		fmt.Println("forced")
		io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestThirdSignalExits$")
			cmd.Env = append(os.Environ(), signalChild+"=1")
			stdin, err := cmd.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			defer stdin.Close()
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			out := bufio.NewReader(stdout)
			for _, want := range []string{"started\n", "stopping\n", "forced\n"} {
				if line, err := out.ReadString('\n'); line != want {
					cmd.Process.Kill()
					cmd.Wait()
					t.Fatalf("the program said %q, %v; want %q", line, err, want)
				}
				cmd.Process.Signal(sig)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				// A bound on a hang, not a measure of speed.
				cmd.Process.Kill()
				<-done
				t.Fatalf("the program still ran after a third %v", sig)
			}
			ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
			if !ok || !ws.Signaled() || ws.Signal() != sig {
				t.Errorf("after a third %v the program ended with %v; want it stopped by %v itself", sig, cmd.ProcessState, sig)
			}
		})
	}
}
