package cli

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"syscall"
)

// Exit statuses of a program stopped by a signal, as shells report them
// (128 plus the signal's number), so that scripts can tell them apart.
const (
	// ExitInterrupted is for SIGINT: Ctrl-C.
	ExitInterrupted = 130
	// ExitTerminated is for SIGTERM, as a service manager or kill sends.
	ExitTerminated = 143
)

// Signalled is the cause of the context that [NotifyContext] returns,
// once a signal has stopped the program: it keeps which signal it was.
type Signalled struct{ Signal os.Signal }

func (s Signalled) Error() string { return "stopped by " + s.Signal.String() }

// forcedKey is the key of the context that [Forced] returns, in the
// context that [NotifyContext] returns.
type forcedKey struct{}

// NotifyContext returns a context that SIGINT (Ctrl-C) or SIGTERM
// cancels, with a [Signalled] as its cause, for [Stopped] to tell the
// user which it was. A second signal cancels the context that [Forced]
// returns, and a third stops the program at once, by the signal's own
// action, as if it were not caught: a program that waits, after a forced
// stop, for work that does not end (a store that does not answer) is
// still stopped by its user. stop ends the handling of the signals.
func NotifyContext(parent context.Context) (ctx context.Context, stop func()) {
	signalled, cancel := context.WithCancelCause(parent)
	forced, force := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		select {
		case sig := <-sigs:
			cancel(Signalled{sig})
		case <-signalled.Done():
		}
		select {
		case sig := <-sigs:
			// Before force, so that the next signal stops a program
			// that has seen the forced stop, rather than go unheard.
			signal.Stop(sigs)
			force(Signalled{sig})
		case <-forced.Done():
		}
	}()
	return context.WithValue(signalled, forcedKey{}, forced), func() {
		signal.Stop(sigs)
		cancel(context.Canceled)
		force(context.Canceled)
	}
}

// Forced returns a context that a second SIGINT or SIGTERM cancels, once
// the first has cancelled ctx, a context that [NotifyContext] returned
// (or one made from it), with a [Signalled] as its cause. A program that
// stops gracefully, waiting for work under way, stops at once when it is
// done: the user who signals again does not want to wait. For a ctx not
// from NotifyContext, it returns a context that is never cancelled.
func Forced(ctx context.Context) context.Context {
	if forced, ok := ctx.Value(forcedKey{}).(context.Context); ok {
		return forced
	}
	return context.Background()
}

// Stopped reports whether err, what a command returned, is the command
// stopped by a signal: err is [context.Canceled] and cause, the cause of
// the command's context, a [Signalled]. It returns then what to tell the
// user in place of "context canceled", which says nothing of what
// happened: "interrupted (Ctrl-C, SIGINT)" or "stopped by SIGTERM", and
// the exit status, [ExitInterrupted] or [ExitTerminated].
func Stopped(cause, err error) (how string, code int, ok bool) {
	var sig Signalled
	if !errors.Is(err, context.Canceled) || !errors.As(cause, &sig) {
		return "", 0, false
	}
	if sig.Signal == syscall.SIGTERM {
		return "stopped by SIGTERM", ExitTerminated, true
	}
	return "interrupted (Ctrl-C, SIGINT)", ExitInterrupted, true
}
