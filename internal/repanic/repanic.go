// Package repanic carries a recovered panic to where it is raised again:
// on another goroutine, or on the same one once the panicking frames are
// gone. The runtime then prints the stack of the second panic, which
// does not show where the first happened; the value raised again says
// it.
package repanic

import (
	"fmt"
	"runtime/debug"
)

// Error is a panic recovered where it happened, to be raised again
// elsewhere: its value, and the stack of the goroutine that panicked.
// Its message holds both, so that a program that dies of it shows where
// the fault was. Unwrap gives the value when it is an error, so that
// errors.Is and errors.As still find it.
type Error struct {
	// Value is what was passed to panic.
	Value any
	// Stack is the stack of the panicking goroutine, from the deferred
	// function that recovered it: it holds the frames of the fault.
	Stack []byte
}

// Recovered returns what to raise again for p, a value that recover
// returned: an *Error with p and the stack of the calling goroutine. It
// must be called in the deferred function that recovered p, where the
// panicking frames are still on the stack. A p that is an *Error
// already, a panic carried once before, is returned as it is, with the
// stack of where it happened; nil, no panic, stays nil.
func Recovered(p any) any {
	if _, ok := p.(*Error); ok || p == nil {
		return p
	}
	return &Error{Value: p, Stack: debug.Stack()}
}

// Value returns the value passed to panic for p, a value that recover
// returned: an *Error's own, or else p. An error that names a panic for
// a person, such as the one given to the other reads of a batch, says
// this rather than the stack that an *Error carries.
func Value(p any) any {
	if e, ok := p.(*Error); ok {
		return e.Value
	}
	return p
}

func (e *Error) Error() string {
	return fmt.Sprintf("%v [recovered, raised again elsewhere]\n\nthe panic happened here:\n%s", e.Value, e.Stack)
}

// Unwrap returns the panic's value when it is an error, else nil.
func (e *Error) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}
