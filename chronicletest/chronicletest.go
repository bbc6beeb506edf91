// Package chronicletest tests domain code written as a [chronicle.Decider]
// the way its users describe it: given these events, when this command,
// then these events, or this error.
//
//	func TestWithdraw(t *testing.T) {
//		chronicletest.For(t, account).
//			Given(Opened{Owner: "ann"}, Deposited{Amount: 10}).
//			When(Withdraw{Amount: 4}).
//			Then(Withdrawn{Amount: 4}).
//			ThenState(Account{Open: true, Owner: "ann", Balance: 6})
//	}
//
//	func TestOverdraw(t *testing.T) {
//		chronicletest.For(t, account).
//			Given(Opened{Owner: "ann"}).
//			When(Withdraw{Amount: 4}).
//			ThenError(ErrInsufficientFunds)
//	}
//
// Events, commands and states are compared with [reflect.DeepEqual] and
// printed as their Go type name followed by their JSON, one per line:
//
//	Withdrawn{"amount":4}
//
// A failure shows the given events, the command, and what was wanted and
// got; for events, a diff marks each one that differs by its index.
//
// # Checks that come for free
//
// Besides what a test asks, a [Scenario] checks rules that are easy to
// break and hard to notice:
//
//   - Decide must not change the state it is given: a [chronicle.Repository]
//     folds the new events into that same state. Changing a map or slice of
//     the state in Decide fails the test, even one that the state shares
//     with a given event.
//   - With [Scenario.WithCodec], every given and decided event must
//     survive encoding and decoding by the application's codec unchanged,
//     so an event with an unexported field, or a missing type, fails the
//     test rather than production.
//   - A command must be checked: a scenario that calls When but none of
//     Then, ThenError, ThenNothing or ThenState (or reads State, Events
//     or Err) fails when the test ends, rather than pass having checked
//     nothing.
package chronicletest

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/chronicle-es/chronicle"
)

// Scenario is one test of a decider: the events given, the command, and
// what the command decided. Make one with [For]; its methods return the
// Scenario so that calls chain. A Scenario is not safe for concurrent use.
//
// Then, ThenError, ThenNothing and ThenState report a mismatch with the
// test's Errorf, so that every check of one scenario reports; misuse
// (Then before When, When twice) stops the test with Fatalf.
type Scenario[S, C, E any] struct {
	tb      testing.TB
	decider chronicle.Decider[S, C, E]
	codec   *chronicle.Codec[E]

	given []E
	// when is set once When has run, and holds the command.
	when    *C
	decided []E
	err     error
	// checked is set once something looked at what When decided.
	checked bool
}

// For starts a scenario for decider, reporting to tb (usually the test's
// *testing.T).
func For[S, C, E any](tb testing.TB, decider chronicle.Decider[S, C, E]) *Scenario[S, C, E] {
	tb.Helper()
	if decider.Decide == nil || decider.Evolve == nil {
		tb.Fatalf("chronicletest: the decider needs both Decide and Evolve")
	}
	return &Scenario[S, C, E]{tb: tb, decider: decider}
}

// WithCodec makes the scenario check that every event given and decided,
// including those given already, comes back unchanged from encoding and
// decoding by codec: the check that the events can be stored at all.
func (s *Scenario[S, C, E]) WithCodec(codec *chronicle.Codec[E]) *Scenario[S, C, E] {
	s.tb.Helper()
	s.codec = codec
	s.roundTrip("given", s.given)
	s.roundTrip("decided", s.decided)
	return s
}

// Given adds events that happened before the command, in order. It may be
// called more than once, but not after [Scenario.When].
func (s *Scenario[S, C, E]) Given(events ...E) *Scenario[S, C, E] {
	s.tb.Helper()
	if s.when != nil {
		s.tb.Fatalf("chronicletest: Given after When: give every event before the command")
		return s
	}
	s.given = append(s.given, events...)
	s.roundTrip("given", events)
	return s
}

// When runs cmd against the state that the given events lead to. Call it
// once, then check what it decided with Then, ThenError, ThenNothing or
// ThenState; a scenario whose command nobody checks fails when the test
// ends.
func (s *Scenario[S, C, E]) When(cmd C) *Scenario[S, C, E] {
	s.tb.Helper()
	if s.when != nil {
		s.tb.Fatalf("chronicletest: When called twice: write one scenario per command")
		return s
	}
	s.when = &cmd
	s.tb.Cleanup(func() {
		// A test that failed already has its message; this one would only
		// add noise.
		if !s.checked && !s.tb.Failed() {
			s.tb.Errorf("chronicletest: When(%s) was never checked: end the scenario with Then, ThenError or ThenNothing", format(cmd))
		}
	})
	// Decide's changes are seen two ways: against a state folded apart
	// (which follows pointers), and against what the state printed before
	// (which sees a change to a map or slice that the state shares with
	// the given events, and so with the state folded apart).
	state, control := s.fold(), s.fold()
	deterministic := reflect.DeepEqual(state, control)
	before := fmt.Sprintf("%#v", state)
	s.decided, s.err = s.decider.Decide(state, cmd)
	const changed = "chronicletest: Decide changed the state it was given; it must not (copy maps and slices before changing them)\n%s%s"
	if deterministic && !reflect.DeepEqual(state, control) {
		s.tb.Errorf(changed, s.context(), diffLines("state", []string{format(control)}, []string{format(state)}))
	} else if after := fmt.Sprintf("%#v", state); after != before {
		s.tb.Errorf("chronicletest: Decide changed the state it was given, and with it the given events whose maps or slices the state shares; it must not (copy maps and slices before changing them)\n%s%s",
			s.context(), diffLines("state", []string{before}, []string{after}))
	}
	s.roundTrip("decided", s.decided)
	return s
}

// Then checks that the command succeeded and decided exactly events, in
// order. Then with no events is [Scenario.ThenNothing].
func (s *Scenario[S, C, E]) Then(events ...E) *Scenario[S, C, E] {
	s.tb.Helper()
	if !s.ran("Then") {
		return s
	}
	if s.err != nil {
		s.tb.Errorf("chronicletest: Decide returned an error, want %s\n%sgot error: %v\n%s",
			countEvents(len(events)), s.context(), s.err, listEvents("want", events))
		return s
	}
	if equalEvents(s.decided, events) {
		return s
	}
	s.tb.Errorf("chronicletest: Decide returned other events than wanted\n%s%s",
		s.context(), diffEvents(events, s.decided))
	return s
}

// ThenNothing checks that the command succeeded and decided no events: it
// was accepted but changed nothing.
func (s *Scenario[S, C, E]) ThenNothing() *Scenario[S, C, E] {
	s.tb.Helper()
	return s.Then()
}

// ThenError checks that the command was refused with an error that
// [errors.Is] matches to target.
func (s *Scenario[S, C, E]) ThenError(target error) *Scenario[S, C, E] {
	s.tb.Helper()
	if target == nil {
		s.tb.Fatalf("chronicletest: ThenError(nil): use Then or ThenNothing to check a command that succeeds")
		return s
	}
	if !s.ran("ThenError") {
		return s
	}
	switch {
	case s.err == nil:
		s.tb.Errorf("chronicletest: Decide returned no error, want one matching %q\n%s%s",
			target, s.context(), listEvents("got", s.decided))
	case !errors.Is(s.err, target):
		s.tb.Errorf("chronicletest: Decide returned the wrong error\n%sgot error:  %v\nwant error: %v (by errors.Is)\n",
			s.context(), s.err, target)
	}
	return s
}

// ThenState checks the state after the given events and, once
// [Scenario.When] has run, the events it decided: the check of Evolve.
// When the command was refused, the state is the one it was refused in.
func (s *Scenario[S, C, E]) ThenState(want S) *Scenario[S, C, E] {
	s.tb.Helper()
	got := s.State() // a check of what was decided, too
	if reflect.DeepEqual(got, want) {
		return s
	}
	g, w := format(got), format(want)
	if g == w {
		g, w = fmt.Sprintf("%#v", got), fmt.Sprintf("%#v", want)
	}
	s.tb.Errorf("chronicletest: wrong state\n%s%s%s",
		s.context(), s.decidedLines(), diffLines("state", []string{w}, []string{g}))
	return s
}

// State returns the state after the given events and the events the
// command decided, for checks that ThenState cannot express. When the
// command was refused, it is the state the command was refused in, even
// if Decide returned events with its error: a [chronicle.Repository]
// keeps none of them.
func (s *Scenario[S, C, E]) State() S {
	s.checked = true
	if s.err != nil {
		return s.fold()
	}
	return s.decider.Fold(s.fold(), s.decided...)
}

// Events returns the events the command decided, for checks that Then
// cannot express.
func (s *Scenario[S, C, E]) Events() []E {
	s.checked = true
	return s.decided
}

// Err returns the error that Decide returned, or nil, for checks that
// ThenError cannot express, such as [errors.As].
func (s *Scenario[S, C, E]) Err() error {
	s.checked = true
	return s.err
}

// fold returns the state after the given events, freshly built.
func (s *Scenario[S, C, E]) fold() S {
	return s.decider.Fold(s.decider.InitialState(), s.given...)
}

// ran reports whether When has run, and stops the test if not.
func (s *Scenario[S, C, E]) ran(method string) bool {
	s.tb.Helper()
	if s.when == nil {
		s.tb.Fatalf("chronicletest: %s before When: say which command to run", method)
		return false
	}
	s.checked = true
	return true
}

// roundTrip checks, when there is a codec, that events survive it.
func (s *Scenario[S, C, E]) roundTrip(what string, events []E) {
	s.tb.Helper()
	if s.codec == nil {
		return
	}
	for i, e := range events {
		d, err := s.codec.Encode(e)
		if err != nil {
			s.tb.Errorf("chronicletest: %s event %d, %s, cannot be encoded: %v", what, i, format(e), err)
			continue
		}
		// With its metadata, which holds the schema version of a versioned
		// type: without it, Decode would take the event for version 1 and
		// upcast data that is already of the current version.
		back, err := s.codec.Decode(chronicle.RecordedEvent{Stream: "chronicletest", ID: d.ID, Type: d.Type, Data: d.Data, Metadata: d.Metadata})
		if err != nil {
			s.tb.Errorf("chronicletest: %s event %d, %s, is encoded as %s %s but cannot be decoded: %v",
				what, i, format(e), d.Type, d.Data, err)
			continue
		}
		if !reflect.DeepEqual(any(back), any(e)) {
			s.tb.Errorf("chronicletest: %s event %d does not survive the codec (unexported fields? json tags?)\nbefore: %#v\nstored: %s %s\nafter:  %#v",
				what, i, e, d.Type, d.Data, back)
		}
	}
}

// context describes the scenario: the given events and the command.
func (s *Scenario[S, C, E]) context() string {
	var b strings.Builder
	b.WriteString(listEvents("given", s.given))
	if s.when != nil {
		fmt.Fprintf(&b, "when:\n    %s\n", format(*s.when))
	}
	return b.String()
}

// decidedLines describes what the command did, for ThenState.
func (s *Scenario[S, C, E]) decidedLines() string {
	switch {
	case s.when == nil:
		return ""
	case s.err != nil:
		return fmt.Sprintf("decided: error: %v\n", s.err)
	default:
		return listEvents("decided", s.decided)
	}
}

func countEvents(n int) string {
	if n == 1 {
		return "1 event"
	}
	return fmt.Sprintf("%d events", n)
}

// listEvents prints events under a label, one per line.
func listEvents[E any](label string, events []E) string {
	if len(events) == 0 {
		return label + ": no events\n"
	}
	var b strings.Builder
	b.WriteString(label + ":\n")
	for _, e := range events {
		fmt.Fprintf(&b, "    %s\n", format(e))
	}
	return b.String()
}

func equalEvents[E any](a, b []E) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !reflect.DeepEqual(a[i], b[i]) {
			return false
		}
	}
	return true
}

// diffEvents compares want and got index by index. Lines that match are
// shown plain; a differing index shows the wanted event with "-" and the
// one got with "+".
func diffEvents[E any](want, got []E) string {
	var b strings.Builder
	fmt.Fprintf(&b, "events (- want, + got): want %s, got %d\n", countEvents(len(want)), len(got))
	for i := range max(len(want), len(got)) {
		switch {
		case i >= len(got):
			fmt.Fprintf(&b, "  - %d: %s\n", i, format(want[i]))
		case i >= len(want):
			fmt.Fprintf(&b, "  + %d: %s\n", i, format(got[i]))
		case reflect.DeepEqual(want[i], got[i]):
			fmt.Fprintf(&b, "    %d: %s\n", i, format(got[i]))
		default:
			w, g := format(want[i]), format(got[i])
			if w == g {
				// Equal as JSON, so the difference is in what JSON does not
				// show: unexported fields, nil against empty, types.
				w, g = fmt.Sprintf("%#v", want[i]), fmt.Sprintf("%#v", got[i])
			}
			fmt.Fprintf(&b, "  - %d: %s\n  + %d: %s\n", i, w, i, g)
		}
	}
	return b.String()
}

// diffLines shows want with "-" and got with "+" under a label.
func diffLines(label string, want, got []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (- want, + got):\n", label)
	for _, w := range want {
		fmt.Fprintf(&b, "  - %s\n", w)
	}
	for _, g := range got {
		fmt.Fprintf(&b, "  + %s\n", g)
	}
	return b.String()
}

// format prints v as its Go type name and its JSON: Withdrawn{"amount":4}.
// A value that JSON cannot encode is printed with %+v instead.
func format(v any) string {
	if v == nil {
		return "nil"
	}
	name := typeName(reflect.TypeOf(v))
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%s(%+v)", name, v)
	}
	if len(b) > 0 && b[0] != '{' {
		return name + "(" + string(b) + ")"
	}
	return name + string(b)
}

// typeName returns t's name without its package path: Withdrawn, or
// *Withdrawn for a pointer.
func typeName(t reflect.Type) string {
	switch {
	case t.Name() != "":
		return t.Name()
	case t.Kind() == reflect.Pointer && t.Elem().Name() != "":
		return "*" + t.Elem().Name()
	default:
		return t.String()
	}
}
