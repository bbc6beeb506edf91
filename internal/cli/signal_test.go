package cli_test

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"testing"

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
