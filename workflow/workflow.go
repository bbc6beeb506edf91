// Package workflow runs processes that span several steps: a workflow
// reacts to events by issuing commands, whose events trigger its next
// steps, and so on, surviving restarts.
//
// # The guarantee
//
// Every step writes its commands' events and its own events once, even
// when the process dies between doing a step and recording that it was
// done; its side effects outside the store happen at least once (see
// below). Steps are delivered at least once, like events to a
// projection's Handle (package projection), and a redelivered step
// changes nothing, because everything a step writes carries IDs derived
// from the event that triggered it:
//
//   - a command on an aggregate goes through [chronicle.Repository.HandleOnce]
//     with [Step.CommandID]: the second time, the repository finds the
//     command's events in the stream and does not run it again;
//   - events the workflow appends itself get IDs from [Step.EventID]; the
//     store acknowledges a repeated append without writing it twice when
//     it expects what the first delivery's append expected:
//     [chronicle.Any], [chronicle.StreamExists], [chronicle.NoStream] or
//     the same exact revision, also when the stream was soft-deleted
//     between two deliveries, which leaves it deleted (see
//     [chronicle.Store.Append]). An exact revision read from the stream
//     at each delivery is not the same: the second delivery reads the
//     revision of the first one's events, expects it, and writes them
//     again. Once a scavenge has removed the deleted events, a
//     redelivery writes them again; so does one to a KurrentDB node,
//     which recognises such a retry only in some cases (see
//     docs/kurrent.md).
//
// A stream tombstoned between two deliveries refuses the second one's
// append, or command, with an error matching [chronicle.ErrStreamDeleted],
// as it refuses any: the step was done, yet the workflow stops at it,
// unless React decides what such an error means for the step.
//
// Those IDs come from the trigger's ID, not from its stream, and a store
// keeps an event's ID unique only within its stream: events of different
// streams may share one (those that a step appends to several streams
// under one key do, see [Step.EventID]), and the steps they trigger then
// share their IDs too. The command of the second such step, on a stream
// that holds the first one's events, is taken for a redelivery and not
// run.
//
// A side effect outside the store (an e-mail, an HTTP call) cannot be
// undone or recognised by the store, so it is at-least-once: give the
// receiver [Step.CommandID] as an idempotency key, or write the effect to
// an outbox table in a transactional projection (exactly once) and send
// from there.
package workflow

import (
	"context"
	"fmt"
	"strings"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/projection"
	"github.com/google/uuid"
)

// Workflow is a process that reacts to events.
type Workflow struct {
	// Name identifies the workflow, its checkpoint, and its steps' IDs:
	// renaming a workflow makes it run every step again.
	Name string
	// Filter selects the events that trigger steps.
	Filter chronicle.Filter
	// React does the step that event e triggers, keyed on s (see the
	// package documentation). An error is retried with backoff; a step that
	// keeps failing stops the workflow at that event, as a projection stops.
	React func(ctx context.Context, s Step, e chronicle.RecordedEvent) error
}

// Step is one reaction of a workflow to one event.
type Step struct {
	// Workflow is the name of the workflow.
	Workflow string
	// Trigger is the event the step reacts to.
	Trigger chronicle.RecordedEvent
}

// CommandID returns the ID of the step's command named key, the same on
// every delivery of the step. Pass it to [chronicle.Repository.HandleOnce].
// Distinct keys give distinct IDs, for a step that issues several commands,
// and so do distinct workflows, whatever '/' their names and keys hold.
// The ID is a name-based UUID (SHA-1) of the workflow's name and key
// under the trigger's ID; the name's '\' and '/' are escaped, so that the
// IDs of a workflow whose name has neither are those it always had.
// The trigger's stream is not in the ID: triggers of different streams
// that share an ID (see the package documentation) share their steps'
// command IDs.
func (s Step) CommandID(key string) uuid.UUID {
	// The first '/' that is not escaped ends the name: workflow "a/b"
	// with key "c" is not workflow "a" with key "b/c".
	name := nameEscaper.Replace(s.Workflow)
	return uuid.NewSHA1(s.Trigger.ID, []byte(name+"/"+key))
}

var nameEscaper = strings.NewReplacer(`\`, `\\`, `/`, `\/`)

// EventID returns the ID of the i-th event that the step appends under
// key, the same on every delivery. It is the ID that
// [chronicle.Repository.HandleOnce] gives the i-th event of the command
// [Step.CommandID](key): give the step's own events and its commands
// different keys, or, in a stream that holds both, one is taken for the
// other and not written. The ID does not depend on the stream the event
// goes to: a step that appends to several streams under one key gives
// their events the same IDs, and the steps that those events trigger, in
// any workflow, the same IDs too, so that a command of the second one on
// a stream that holds the first one's is skipped. Give each stream
// its own key, such as one that ends with the stream's name.
func (s Step) EventID(key string, i int) uuid.UUID {
	return chronicle.EventID(s.CommandID(key), i)
}

// Projection returns the workflow as a projection, to run with the other
// projections in a [projection.Runner]: its checkpoint records the steps
// done. A workflow without a Name, or without React, gives a projection
// that [projection.NewRunner] refuses (without a name, or without
// Handle), rather than one that fails at its first event.
func (w Workflow) Projection() projection.Projection {
	p := projection.Projection{Filter: w.Filter}
	if w.Name != "" {
		p.Name = "workflow:" + w.Name
	}
	if w.React != nil {
		p.Handle = func(ctx context.Context, e chronicle.RecordedEvent) error {
			if err := w.React(ctx, Step{Workflow: w.Name, Trigger: e}, e); err != nil {
				return fmt.Errorf("workflow %q: step for %s@%d in %q: %w", w.Name, e.Type, e.Revision, e.Stream, err)
			}
			return nil
		}
	}
	return p
}
