package projection

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/chronicle-es/chronicle"
)

// Defaults for [Options].
const (
	DefaultBatchSize  = 256
	DefaultRetries    = 5
	DefaultBackoff    = 100 * time.Millisecond
	DefaultMaxBackoff = 5 * time.Second
	DefaultIdleCheck  = time.Second
)

// Options configures a [Runner]. A nil *Options gives the defaults.
type Options struct {
	// BatchSize is the most events handled in one transaction. Batches
	// fill up during catch-up and stay small when live, so catch-up is
	// fast and live events are not held back. Zero means [DefaultBatchSize].
	BatchSize int

	// Retries is how many times a failing event, or a failed read of the
	// log, is tried again before its projection stops. Zero means
	// [DefaultRetries]; negative, none. An event whose error matches
	// [ErrPermanent], or [chronicle.ErrSchemaUpgraded] (a write refused
	// until the process runs a newer Chronicle), is not tried again.
	Retries int

	// Backoff is the wait before the first retry; it doubles each time, up
	// to MaxBackoff. Zero means [DefaultBackoff] and [DefaultMaxBackoff].
	Backoff, MaxBackoff time.Duration

	// DB is where Apply projections write, with their checkpoints. Nil
	// means the store itself, when it is a [TxStore]. Set it when the
	// store is a wrapper, such as a store that decrypts (package shred),
	// over the store that holds the database.
	DB DB

	// Checkpoints keeps the checkpoints when there is no DB. Nil means in
	// memory, which suits a read model that is in memory too.
	Checkpoints Checkpoints

	// Logger receives a line when a projection retries or stops. Nil
	// means no logging.
	Logger *slog.Logger

	// IdleCheck is how long a projection with a Filter waits without an
	// event to apply before it checks whether the log has moved on with
	// events its filter leaves out. If so, and none of the events after
	// its checkpoint is one it handles, its checkpoint moves up to the
	// last event of the log: its lag reads 0, and a restart does not read
	// those events again. While it stays idle, it checks again each time
	// IdleCheck passes. Zero means [DefaultIdleCheck]; negative, never.
	IdleCheck time.Duration
}

// Runner keeps projections up to date. It is safe for concurrent use,
// but run each projection from one Runner (one process) at a time.
type Runner struct {
	store       chronicle.Store
	tx          DB // nil when there is no database with transactions
	projections []*Projection
	opts        Options
	checkpoints Checkpoints

	setupMu   sync.Mutex
	setupDone bool

	mu     sync.Mutex
	status map[string]*Status
	// rebuilding holds the projections that Rebuild is replaying, which
	// go back to Building, not Running, when a retry succeeds.
	rebuilding map[string]bool
	// following counts, for each projection, the follows of the log under
	// way (of Run, CatchUp or Rebuild): it is Idle only once none is.
	following map[string]int

	// resets keeps, for each projection, the count of the rebuilds that
	// have reset it (see handled).
	resets map[string]*resetCount
}

// resetCount is how many times a Handle projection's read model has been
// emptied for a rebuild. A follow of the projection notes it when it
// loads the checkpoint, and saves a checkpoint only while it is still
// the same: after a reset, the events that the follow handled may be gone
// from the read model, and its checkpoint would tell the rebuild, and the
// next run, that they are there. Apply projections need none of this:
// their events and checkpoint commit together, and so does their reset.
type resetCount struct {
	// lock is held by a reset from the save of checkpoint 0 to the end of
	// ResetHandled, and by each save of a checkpoint: a channel of one
	// token rather than a mutex, so that a follow waiting for a reset,
	// which lasts as long as ResetHandled wants, gives up when its
	// context ends.
	lock chan struct{}
	n    uint64
	// saved is the highest checkpoint that a follow of this runner has
	// saved since the last reset (see handled).
	saved uint64
}

func newResetCount() *resetCount { return &resetCount{lock: make(chan struct{}, 1)} }

// acquire takes rc's lock, or returns ctx's error once ctx ends first.
func (rc *resetCount) acquire(ctx context.Context) error {
	select {
	case rc.lock <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (rc *resetCount) release() { <-rc.lock }

// State is what a projection is doing.
type State string

// The states of a projection.
const (
	Idle     State = "idle"     // not running
	Running  State = "running"  // following the log
	Retrying State = "retrying" // running or being rebuilt, but an event or a read failed and is tried again
	Stopped  State = "stopped"  // stopped by an event or a read that kept failing, or a closed store
	Building State = "building" // being rebuilt
)

// Status describes one projection at one moment.
type Status struct {
	Name string
	// Checkpoint is the position of the last event the read model
	// reflects.
	Checkpoint uint64
	// Head is the position of the last event in the store, and Lag is
	// Head - Checkpoint: how many positions the read model is behind.
	// For a filtered projection, the lag includes events it does not
	// handle until it handles a newer one, catches up, or, while it runs,
	// finds after [Options.IdleCheck] that none is left for it.
	Head, Lag uint64
	State     State
	// Err is why the projection stopped: an [*Error] for an event that
	// kept failing, or that failed with an error matching [ErrPermanent]
	// (as Err does then), else the error of the read of the log that kept
	// failing, or of the closed store. While it is Retrying, Err is the
	// last failure: of the event, which it names, or of the read of the
	// log or of the checkpoint. The projection is Running (or Building)
	// again, without Err, once the event is applied, or once the
	// checkpoint and the head of the log are read again.
	Err error
}

// NewRunner returns a runner for projections over store. opts may be nil.
func NewRunner(store chronicle.Store, opts *Options, projections ...Projection) (*Runner, error) {
	r := &Runner{store: store, status: map[string]*Status{}, rebuilding: map[string]bool{}, following: map[string]int{}, resets: map[string]*resetCount{}}
	if opts != nil {
		r.opts = *opts
	}
	o := &r.opts
	if o.BatchSize <= 0 {
		o.BatchSize = DefaultBatchSize
	}
	if o.Retries == 0 {
		o.Retries = DefaultRetries
	}
	o.Retries = max(o.Retries, 0)
	if o.Backoff <= 0 {
		o.Backoff = DefaultBackoff
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = DefaultMaxBackoff
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.IdleCheck == 0 {
		o.IdleCheck = DefaultIdleCheck
	}
	if r.tx = o.DB; r.tx == nil {
		if ts, ok := store.(TxStore); ok {
			r.tx = ts
		}
	}
	switch {
	case r.tx != nil:
		r.checkpoints = sqlCheckpoints{r.tx}
	case o.Checkpoints != nil:
		r.checkpoints = o.Checkpoints
	default:
		r.checkpoints = NewMemoryCheckpoints()
	}
	for _, p := range projections {
		if err := p.validate(r.tx != nil); err != nil {
			return nil, fmt.Errorf("new projection runner: %w", err)
		}
		if _, dup := r.status[p.Name]; dup {
			return nil, fmt.Errorf("new projection runner: two projections are named %q", p.Name)
		}
		r.projections = append(r.projections, &p)
		r.status[p.Name] = &Status{Name: p.Name, State: Idle}
		r.resets[p.Name] = newResetCount()
	}
	return r, nil
}

// setup creates the checkpoint table, runs each projection's Setup and
// resets a projection that has no checkpoint (resetNew), once per Runner.
// A failure is not kept: it may be no more than the end of the caller's
// ctx (a Status with a deadline), and the next call tries again.
func (r *Runner) setup(ctx context.Context) error {
	r.setupMu.Lock()
	defer r.setupMu.Unlock()
	if r.setupDone || r.tx == nil {
		return nil
	}
	err := r.tx.Update(ctx, func(tx *sql.Tx) error {
		if err := createCheckpointTable(ctx, tx); err != nil {
			return err
		}
		for _, p := range r.projections {
			if p.Setup != nil {
				if err := p.Setup(ctx, tx); err != nil {
					return fmt.Errorf("set up projection %q: %w", p.Name, err)
				}
			}
			if err := resetNew(ctx, tx, p); err != nil {
				return err
			}
		}
		return nil
	})
	r.setupDone = err == nil
	return err
}

// resetNew empties the read model of an Apply projection that has no
// checkpoint, and gives it checkpoint 0. Without a checkpoint it starts
// from the first event, and when it was renamed, its read model still
// holds what its old name applied: every event would count twice. (A new
// projection's Reset empties empty tables.) Of two runners that start at
// once, only the first finds no checkpoint: their Updates run one at a
// time, and the insert of the checkpoint would conflict anyway.
func resetNew(ctx context.Context, tx *sql.Tx, p *Projection) error {
	if !p.transactional() || p.Reset == nil {
		return nil
	}
	isNew, err := newCheckpointTx(ctx, tx, p.Name)
	if err != nil || !isNew {
		return err
	}
	if err := p.Reset(ctx, tx); err != nil {
		return fmt.Errorf("reset projection %q, which has no checkpoint: %w", p.Name, err)
	}
	return nil
}

// Run keeps every projection up to date until ctx ends: each catches up
// from its checkpoint, then follows new events as they commit. A
// projection stopped by a failing event does not stop the others, nor
// does one stopped by reads of the log that kept failing (each read is
// tried again as a failing event is). Run returns when all have ended:
// nil when ctx ended them, else the errors that stopped them (an [*Error]
// for an event that kept failing).
func (r *Runner) Run(ctx context.Context) error {
	if err := r.setup(ctx); err != nil {
		return unlessEnded(ctx, err)
	}
	return r.each(ctx, func(ctx context.Context, p *Projection) error {
		return unlessEnded(ctx, r.follow(ctx, p, 0, nil))
	})
}

// unlessEnded returns err, or nil when err is the end of ctx: for Run,
// the end of its ctx is how it is meant to stop.
func unlessEnded(ctx context.Context, err error) error {
	if err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return nil
	}
	return err
}

// CatchUp brings every projection up to the last event committed when it
// is called, then returns. It suits programs that run briefly, such as a
// CLI that updates its read models before it queries them. When ctx ends
// before they are all up to date, it returns ctx's error: read models
// that are behind are not to be read as current.
func (r *Runner) CatchUp(ctx context.Context) error {
	head, err := Head(ctx, r.store)
	if err != nil {
		return err
	}
	if err := r.setup(ctx); err != nil || head == 0 {
		return err
	}
	return r.each(ctx, func(ctx context.Context, p *Projection) error {
		return r.follow(ctx, p, head, nil)
	})
}

// each runs fn for every projection at once, and returns their errors.
func (r *Runner) each(ctx context.Context, fn func(context.Context, *Projection) error) error {
	errs := make([]error, len(r.projections))
	var wg sync.WaitGroup
	for i, p := range r.projections {
		wg.Go(func() { errs[i] = fn(ctx, p) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Progress reports how far a rebuild has come, in positions of the log:
// for a filtered projection, they include the events it passes over.
type Progress struct {
	Projection string
	// Done of Total positions have been read since the rebuild started.
	Done, Total uint64
	Elapsed     time.Duration
}

// Rebuild empties the named projection's read model and replays the log
// into it, up to the last event committed when it is called. progress,
// if not nil, is called after each batch. Do not run the projection
// elsewhere meanwhile; a Run or CatchUp of this Runner may go on, and
// goes on from where the rebuild got.
func (r *Runner) Rebuild(ctx context.Context, name string, progress func(Progress)) error {
	p := r.projection(name)
	if p == nil {
		return fmt.Errorf("rebuild: no projection named %q", name)
	}
	if err := r.setup(ctx); err != nil {
		return err
	}
	head, err := Head(ctx, r.store)
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.rebuilding[name] = true
	r.mu.Unlock()
	r.setState(name, Building, nil)
	defer func() {
		// Done, failed or cut short, it is no longer being rebuilt, nor
		// retrying; an event that kept failing leaves it Stopped. A Run
		// beside the rebuild still follows the log: it is Running then,
		// or Retrying as that Run's retry set it.
		r.mu.Lock()
		defer r.mu.Unlock()
		delete(r.rebuilding, name)
		st := r.status[name]
		switch {
		case r.following[name] > 0 && st.State == Building:
			st.State, st.Err = Running, nil
		case r.following[name] == 0 && (st.State == Building || st.State == Retrying):
			st.State, st.Err = Idle, nil
		}
	}()
	if err := r.reset(ctx, p); err != nil {
		return fmt.Errorf("rebuild %q: %w", name, err)
	}
	start := time.Now()
	report := func(pos uint64) {
		if progress != nil {
			progress(Progress{Projection: name, Done: pos, Total: head, Elapsed: time.Since(start)})
		}
	}
	report(0)
	// With no events there is nothing to replay (and follow would take
	// head 0 for "follow forever").
	if head > 0 {
		if err := r.follow(ctx, p, head, report); err != nil {
			return err
		}
	}
	return nil
}

func (r *Runner) reset(ctx context.Context, p *Projection) error {
	if p.transactional() {
		return r.tx.Update(ctx, func(tx *sql.Tx) error {
			if p.Reset != nil {
				if err := p.Reset(ctx, tx); err != nil {
					return err
				}
			}
			return saveCheckpointTx(ctx, tx, p.Name, 0)
		})
	}
	// Checkpoint first: should the process die before the read model is
	// emptied, the replay goes over the old one, which an idempotent
	// Handle tolerates. The other order would leave events missing.
	// Follows of p under way (a Run beside the rebuild) save no checkpoint
	// from now on, and those that start wait for the read model to be
	// empty.
	rs := r.resets[p.Name]
	if err := rs.acquire(ctx); err != nil {
		return err
	}
	defer rs.release()
	rs.n, rs.saved = rs.n+1, 0
	if err := r.checkpoints.Save(ctx, p.Name, 0); err != nil {
		return err
	}
	if p.ResetHandled != nil {
		return p.ResetHandled(ctx)
	}
	return nil
}

func (r *Runner) projection(name string) *Projection {
	for _, p := range r.projections {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// Status reports every projection's checkpoint, lag and state.
func (r *Runner) Status(ctx context.Context) ([]Status, error) {
	if err := r.setup(ctx); err != nil {
		return nil, err
	}
	head, err := Head(ctx, r.store)
	if err != nil {
		return nil, err
	}
	out := make([]Status, 0, len(r.projections))
	for _, p := range r.projections {
		cp, err := r.checkpoints.Load(ctx, p.Name)
		if err != nil {
			return nil, err
		}
		r.mu.Lock()
		st := *r.status[p.Name]
		r.mu.Unlock()
		st.Checkpoint, st.Head = cp, head
		if head > cp {
			st.Lag = head - cp
		}
		out = append(out, st)
	}
	return out, nil
}

func (r *Runner) setState(name string, s State, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.status[name].State, r.status[name].Err = s, err
}

// recovered reports that what failed worked again: a Retrying projection
// goes back to Building during a rebuild, else to Running.
func (r *Runner) recovered(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.status[name]
	if st.State != Retrying {
		return
	}
	st.State, st.Err = Running, nil
	if r.rebuilding[name] {
		st.State = Building
	}
}

// Head returns the position of the last event in store, or 0 when it has
// none.
func Head(ctx context.Context, store chronicle.Store) (uint64, error) {
	for e, err := range store.ReadAll(ctx, chronicle.ReadAllOptions{Backwards: true, From: chronicle.End, Limit: 1}) {
		if err != nil {
			return 0, fmt.Errorf("read head: %w", err)
		}
		return e.Position, nil
	}
	return 0, nil
}
