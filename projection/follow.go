package projection

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"iter"
	"runtime/debug"
	"time"

	"github.com/chronicle-es/chronicle"
)

// item is what the reader hands the applier: an event or the error that
// ended the read.
type item struct {
	e   chronicle.RecordedEvent
	err error
}

// follow applies events to p from its checkpoint on. With until > 0 it
// stops after position until (catch-up); with 0 it follows the log until
// ctx ends. progress, if not nil, is told the checkpoint after each batch.
//
// A read that fails (of the log or of the checkpoint, as on a broken
// connection) is tried again from the checkpoint, with the backoff and
// the Retries of a failing event, counted afresh once the projection got
// further. Meanwhile p is Retrying, with the read's error, until the
// checkpoint and the head of the log are read again (see followFrom).
// When the reads still fail, or the store is closed, which no retry
// mends, p stops with that error.
func (r *Runner) follow(ctx context.Context, p *Projection, until uint64, progress func(uint64)) error {
	r.mu.Lock()
	r.following[p.Name]++
	if st := r.status[p.Name]; st.State != Building {
		st.State, st.Err = Running, nil
	}
	r.mu.Unlock()
	// Ended by ctx or done, whether retrying or not, p is Idle; Stopped
	// stays, and so does the state of a rebuild that is still going on,
	// which Rebuild sets when it is done, and that of another follow of p
	// that goes on (a Run beside a CatchUp). A follow that started while
	// p was being rebuilt (a CatchUp beside Rebuild) may outlast the
	// rebuild, and its retry leaves p Retrying or, once recovered,
	// Running: it is Idle after it too. One lock for the check and the
	// change, so that no state set in between is lost.
	defer func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.following[p.Name]--
		if st := r.status[p.Name]; (st.State == Running || st.State == Retrying) && !r.rebuilding[p.Name] && r.following[p.Name] == 0 {
			st.State, st.Err = Idle, nil
		}
	}()
	wait, failures := r.opts.Backoff, 0
	for {
		err := r.followFrom(ctx, p, until, progress)
		if errors.Is(err, errMoved) {
			// Another runner moved the checkpoint: go on from where it got.
			continue
		}
		var read *readError
		switch {
		case err == nil:
			return nil
		case ctx.Err() != nil && errors.As(err, &read):
			// A read broken as ctx ended, by its ending as a rule, whatever
			// the error says (a connection closed under it, say): for Run,
			// that is how it is meant to stop.
			return ctx.Err()
		case ctx.Err() != nil:
			var stopped *Error
			if errors.As(err, &stopped) || errors.Is(err, ctx.Err()) {
				// p stopped for good, which is the news; or err is ctx's
				// own end already.
				return err
			}
			// A handler or a save cut short as ctx ended may fail with an
			// error of its own rather than ctx's: still the end that Run
			// is meant to have. Nothing half-done stays (the event is
			// handled again from the checkpoint); the error is kept beside.
			return errors.Join(ctx.Err(), err)
		}
		closed := errors.Is(err, chronicle.ErrClosed)
		if !closed && !errors.As(err, &read) {
			// An *Error, which stopped p already, or the failed move that
			// ends a catch-up, which its caller sees.
			return err
		}
		if read != nil && read.progressed {
			wait, failures = r.opts.Backoff, 0
		}
		if closed || failures >= r.opts.Retries {
			r.setState(p.Name, Stopped, err)
			r.opts.Logger.Error("projection stopped", "projection", p.Name, "err", err)
			return err
		}
		failures++
		r.setState(p.Name, Retrying, err)
		r.opts.Logger.Warn("projection retrying", "projection", p.Name, "attempt", failures, "wait", wait, "err", err)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return ctx.Err()
		}
		wait = min(2*wait, r.opts.MaxBackoff)
	}
}

// readError is a read that failed, and progressed says whether the
// projection got further before it failed.
type readError struct {
	err        error
	progressed bool
}

func (e *readError) Error() string { return e.err.Error() }
func (e *readError) Unwrap() error { return e.err }

// errMoved means the stored checkpoint is not where this runner left it:
// another process is running the projection too, or a rebuild reset it.
// The batch is dropped, and the runner resumes from the stored
// checkpoint, so that no event is applied twice, nor counted as handled
// in a read model that the reset emptied.
var errMoved = errors.New("checkpoint moved by another runner")

func (r *Runner) followFrom(ctx context.Context, p *Projection, until uint64, progress func(uint64)) error {
	// Noted before the checkpoint is loaded, and once a reset under way
	// is done: see resetCount.
	rs := r.resets[p.Name]
	if err := rs.acquire(ctx); err != nil {
		return err
	}
	resets := rs.n
	rs.release()
	cp, err := r.checkpoints.Load(ctx, p.Name)
	if err != nil {
		return &readError{err: err}
	}
	if until > 0 && cp >= until {
		return nil
	}
	if r.state(p.Name) == Retrying {
		// A retry after a failed read: once the checkpoint and the head of
		// the log are read, p no longer shows the failure. Waiting for an
		// event instead would show it for as long as no event comes.
		if _, err := Head(ctx, r.store); err != nil {
			return &readError{err: fmt.Errorf("projection %q: %w", p.Name, err)}
		}
		r.recovered(p.Name)
	}

	// A reader goroutine keeps up to a batch of events ready, so that the
	// applier finds full batches while catching up and single events when
	// live, without waiting for a batch to fill.
	ctx, cancel := context.WithCancel(ctx)
	ch := make(chan item, r.opts.BatchSize)
	readerDone := make(chan struct{})
	defer func() {
		cancel()
		<-readerDone
	}()
	go func() {
		defer close(readerDone)
		defer close(ch)
		var events iter.Seq2[chronicle.RecordedEvent, error]
		if until > 0 {
			events = r.store.ReadAll(ctx, chronicle.ReadAllOptions{From: cp + 1, Filter: p.Filter})
		} else {
			events = r.store.Subscribe(ctx, chronicle.SubscribeOptions{From: cp + 1, Filter: p.Filter})
		}
		for e, err := range events {
			if until > 0 && err == nil && e.Position > until {
				return
			}
			select {
			case ch <- item{e, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()

	// A filtered projection that has had nothing to apply for a while
	// looks whether the log has moved on without it: see skip.
	var idle *time.Timer
	var idleC <-chan time.Time
	if r.opts.IdleCheck > 0 && !p.Filter.IsZero() {
		idle = time.NewTimer(r.opts.IdleCheck)
		defer idle.Stop()
		idleC = idle.C
	}

	start := cp
	batch := make([]chronicle.RecordedEvent, 0, r.opts.BatchSize)
	for {
		var it item
		var ok bool
		select {
		case it, ok = <-ch:
		case <-idleC:
			to, err := r.skip(ctx, p, resets, cp, until)
			if err != nil {
				return err
			}
			if to > cp {
				cp = to
				if progress != nil {
					progress(cp)
				}
			}
			idle.Reset(r.opts.IdleCheck)
			continue
		}
		if !ok {
			break
		}
		var readErr error
		batch = batch[:0]
	fill:
		for {
			if it.err != nil {
				readErr = it.err
				break
			}
			// The reader never yields a position twice, and skip moves cp
			// only past positions without an event for p, so an event at
			// or below cp is one that was removed (scavenged) from the log
			// after the reader read it and before skip did: as skip saw the
			// log, it is not there.
			if it.e.Position > cp {
				batch = append(batch, it.e)
			}
			if len(batch) == cap(batch) {
				break
			}
			select {
			case it, ok = <-ch:
				if !ok {
					break fill
				}
			default:
				break fill
			}
		}
		if len(batch) > 0 {
			if err := r.apply(ctx, p, resets, cp, batch); err != nil {
				return err
			}
			cp = batch[len(batch)-1].Position
			if progress != nil {
				progress(cp)
			}
		}
		if readErr != nil {
			err := fmt.Errorf("projection %q: read events after position %d: %w", p.Name, cp, readErr)
			return &readError{err: err, progressed: cp > start}
		}
		if idle != nil {
			idle.Reset(r.opts.IdleCheck)
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// The read covered every position up to until, whether the filter
	// kept it or not: record that, so that the lag reads 0.
	if until > cp {
		if err := r.move(ctx, p, resets, cp, until); err != nil {
			return err
		}
		if progress != nil {
			progress(until)
		}
	}
	return nil
}

// apply commits a batch of the events after checkpoint after. When the
// batch fails, its events are applied one at a time, each with retries,
// so that the events before the failing one are kept and the failing one
// is named. resets is what the follow noted of p's resets.
func (r *Runner) apply(ctx context.Context, p *Projection, resets, after uint64, batch []chronicle.RecordedEvent) error {
	if len(batch) > 1 {
		if err := r.commit(ctx, p, resets, after, batch); err == nil || ctx.Err() != nil || errors.Is(err, errMoved) {
			return err
		}
	}
	for i := range batch {
		if err := r.retrying(ctx, p, resets, after, batch[i:i+1]); err != nil {
			return err
		}
		after = batch[i].Position
	}
	return nil
}

func (r *Runner) retrying(ctx context.Context, p *Projection, resets, after uint64, events []chronicle.RecordedEvent) error {
	wait := r.opts.Backoff
	for attempt := 0; ; attempt++ {
		err := r.commit(ctx, p, resets, after, events)
		if err == nil && attempt > 0 {
			r.recovered(p.Name)
		}
		// A closed store fails every try, and through no fault of the
		// event: follow stops p at once, naming no event.
		if err == nil || ctx.Err() != nil || errors.Is(err, errMoved) || errors.Is(err, chronicle.ErrClosed) {
			return err
		}
		e := events[0]
		// A permanent error would fail every retry too: p stops at once.
		// So would a write that the store refuses because a newer
		// Chronicle has migrated its schema, until this process runs it.
		permanent := errors.Is(err, ErrPermanent) || errors.Is(err, chronicle.ErrSchemaUpgraded)
		if attempt >= r.opts.Retries || permanent {
			perr := &Error{Projection: p.Name, Event: e, Err: err}
			r.setState(p.Name, Stopped, perr)
			r.opts.Logger.Error("projection stopped", "projection", p.Name, "position", e.Position, "stream", e.Stream, "type", e.Type,
				"permanent", permanent, "err", err)
			return perr
		}
		r.setState(p.Name, Retrying, fmt.Errorf("projection %q: event at position %d (%s in %q at revision %d): %w",
			p.Name, e.Position, e.Type, e.Stream, e.Revision, err))
		r.opts.Logger.Warn("projection retrying", "projection", p.Name, "position", e.Position, "attempt", attempt+1, "wait", wait, "err", err)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return ctx.Err()
		}
		wait = min(2*wait, r.opts.MaxBackoff)
	}
}

// commit applies events, which follow checkpoint after, and records the
// new checkpoint: in one transaction for Apply, one after the other for
// Handle, unless a reset came since the follow noted resets.
func (r *Runner) commit(ctx context.Context, p *Projection, resets, after uint64, events []chronicle.RecordedEvent) error {
	last := events[len(events)-1].Position
	if p.transactional() {
		return r.tx.Update(ctx, func(tx *sql.Tx) error {
			// The transaction serialises runners: only the one that finds
			// the checkpoint where it left it may apply these events.
			if stored, err := loadCheckpointTx(ctx, tx, p.Name); err != nil || stored != after {
				if err == nil {
					err = errMoved
				}
				return err
			}
			for _, e := range events {
				if err := unpanic(func() error { return p.Apply(ctx, tx, e) }); err != nil {
					return err
				}
			}
			return saveCheckpointTx(ctx, tx, p.Name, last)
		})
	}
	for _, e := range events {
		if err := unpanic(func() error { return p.Handle(ctx, e) }); err != nil {
			return err
		}
	}
	return r.handled(ctx, p, resets, last, func() error { return r.checkpoints.Save(ctx, p.Name, last) })
}

// unpanic runs a projection's Apply or Handle, and returns its panic as
// a permanent error, with the stack: a bug that every try would meet
// again stops that projection at the event, as the package doc says a
// failing event does, rather than the process with every projection
// (Run's and CatchUp's run in goroutines of their own, out of their
// callers' reach).
func unpanic(fn func() error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			verr, ok := v.(error)
			if !ok {
				verr = fmt.Errorf("%v", v)
			}
			err = Permanent(fmt.Errorf("panic: %w\n%s", verr, debug.Stack()))
		}
	}()
	return fn()
}

// handled runs save, which saves a Handle projection's checkpoint at
// pos, unless p has been reset since the follow noted resets: then it
// returns [errMoved], and the follow goes on from the checkpoint of the
// reset. A save that would take the checkpoint back is left out: another
// follow of p in this runner (a Run beside a Rebuild or a CatchUp), begun
// since the same reset, has handled every event up to a later one, and
// the checkpoint moved back would leave the events between to be handled
// again, by the next run only.
func (r *Runner) handled(ctx context.Context, p *Projection, resets, pos uint64, save func() error) error {
	rs := r.resets[p.Name]
	if err := rs.acquire(ctx); err != nil {
		return err
	}
	defer rs.release()
	if rs.n != resets {
		return errMoved
	}
	if pos <= rs.saved {
		return nil
	}
	if err := save(); err != nil {
		return err
	}
	rs.saved = pos
	return nil
}

func (r *Runner) state(name string) State {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.status[name].State
}

// skip moves p's checkpoint past the events its filter leaves out: from
// after, the checkpoint the caller holds, up to the last event of the log
// (no further than until, when that is set), provided that none of the
// events in between is one for p. It returns the new checkpoint, or after
// when the checkpoint stays. A failure to look is logged and leaves the
// checkpoint where it is, for the next look; only a moved checkpoint
// ([errMoved]) or the end of ctx is returned.
//
// This never skips an event for p. Positions follow commit order: once
// the head H has been read, every event at or below H has committed, and
// every event that commits later gets a position above H. So the read of
// p's events after the checkpoint, which starts after H is known, sees
// every one of them at or below H; when it finds none, the checkpoint may
// move to H, and the subscription, which delivers every event for p in
// position order, has none below H left to deliver. H is an event's
// position, from which every store can resume.
func (r *Runner) skip(ctx context.Context, p *Projection, resets, after, until uint64) (uint64, error) {
	head, err := Head(ctx, r.store)
	if err != nil {
		return after, r.skipFailed(ctx, p, err)
	}
	if until > 0 {
		head = min(head, until)
	}
	if head <= after {
		return after, nil
	}
	for e, err := range r.store.ReadAll(ctx, chronicle.ReadAllOptions{From: after + 1, Filter: p.Filter, Limit: 1}) {
		if err != nil {
			return after, r.skipFailed(ctx, p, fmt.Errorf("read events after position %d: %w", after, err))
		}
		if e.Position <= head {
			// An event for p is on its way to the applier: the
			// checkpoint moves when it is applied, not before.
			return after, nil
		}
	}
	if err := r.move(ctx, p, resets, after, head); err != nil {
		return after, r.skipFailed(ctx, p, err)
	}
	return head, nil
}

func (r *Runner) skipFailed(ctx context.Context, p *Projection, err error) error {
	if errors.Is(err, errMoved) || ctx.Err() != nil {
		return err
	}
	r.opts.Logger.Warn("projection could not move its checkpoint past the events it skips", "projection", p.Name, "err", err)
	return nil
}

// move moves p's checkpoint from after to pos, with no event. On a
// database, it does so only if the stored checkpoint is still after, and
// else returns [errMoved], as commit does: another runner got elsewhere,
// or a rebuild started over. So it does when a rebuild of this runner
// reset a Handle projection since the follow noted resets.
func (r *Runner) move(ctx context.Context, p *Projection, resets, after, pos uint64) error {
	if !p.transactional() {
		return r.handled(ctx, p, resets, pos, func() error { return r.moveStored(ctx, p, after, pos) })
	}
	return r.moveStored(ctx, p, after, pos)
}

func (r *Runner) moveStored(ctx context.Context, p *Projection, after, pos uint64) error {
	if r.tx == nil {
		return r.checkpoints.Save(ctx, p.Name, pos)
	}
	return r.tx.Update(ctx, func(tx *sql.Tx) error {
		stored, err := loadCheckpointTx(ctx, tx, p.Name)
		if err != nil {
			return err
		}
		if stored != after {
			return errMoved
		}
		return saveCheckpointTx(ctx, tx, p.Name, pos)
	})
}
