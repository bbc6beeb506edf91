package chronicle

// Decider is an aggregate written as three pure functions: the state
// before anything happened, how a command turns state into new events,
// and how an event changes state. S is the state, C the commands and E
// the events, usually interfaces that the concrete commands and events
// implement.
//
// Deciders do no I/O, so they are tested by giving events and a command
// and checking the events that come out (see package
// [github.com/chronicle-es/chronicle/chronicletest]), and a
// [Repository] runs them against any [Store].
type Decider[S, C, E any] struct {
	// Initial returns the state of a stream without events. A nil Initial
	// means the zero S. It is a function so that states holding maps or
	// slices never share them.
	Initial func() S

	// Decide returns the events that cmd causes in state, or an error
	// when cmd is refused. Returning no events and no error is allowed:
	// the command changed nothing.
	Decide func(state S, cmd C) ([]E, error)

	// Evolve returns the state after event. It must not fail: events are
	// facts, already decided.
	Evolve func(state S, event E) S
}

// InitialState returns the state of a stream without events.
func (d Decider[S, C, E]) InitialState() S {
	if d.Initial == nil {
		var zero S
		return zero
	}
	return d.Initial()
}

// Fold returns the state after events, starting from state.
func (d Decider[S, C, E]) Fold(state S, events ...E) S {
	for _, e := range events {
		state = d.Evolve(state, e)
	}
	return state
}
