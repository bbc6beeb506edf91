package chronicle_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"maps"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/memory"
	"github.com/google/uuid"
)

type accountRepo = chronicle.Repository[account, accountCommand, accountEvent]

func newRepo(store chronicle.Store, opts *chronicle.RepositoryOptions) *accountRepo {
	return chronicle.NewRepository(store, accountCodec(), accountDecider(), opts)
}

// readStream returns a stream's events, failing the test on an error
// other than ErrStreamNotFound.
func readStream(t *testing.T, s chronicle.Store, stream string) []chronicle.RecordedEvent {
	t.Helper()
	var out []chronicle.RecordedEvent
	for e, err := range s.ReadStream(context.Background(), stream, chronicle.ReadStreamOptions{}) {
		if errors.Is(err, chronicle.ErrStreamNotFound) {
			return nil
		}
		if err != nil {
			t.Fatalf("read %q: %v", stream, err)
		}
		out = append(out, e)
	}
	return out
}

func types(events []chronicle.RecordedEvent) []string {
	var out []string
	for _, e := range events {
		out = append(out, e.Type)
	}
	return out
}

// mustAppend appends encoded account events to stream with Any.
func mustAppend(t *testing.T, s chronicle.Store, stream string, events ...accountEvent) {
	t.Helper()
	c := accountCodec()
	var data []chronicle.EventData
	for _, e := range events {
		d, err := c.Encode(e)
		if err != nil {
			t.Fatal(err)
		}
		data = append(data, d)
	}
	if _, err := s.Append(context.Background(), stream, chronicle.Any, data...); err != nil {
		t.Fatal(err)
	}
}

func TestRepositoryLoadMissingStream(t *testing.T) {
	repo := newRepo(memory.New(nil), nil)
	state, rev, err := repo.Load(context.Background(), "account-1")
	if err != nil {
		t.Fatal(err)
	}
	if state != (account{}) || rev != chronicle.NoStream {
		t.Errorf("Load = %+v, %v; want the initial state and no stream", state, rev)
	}

	// The initial state is the decider's, not just the zero value.
	d := accountDecider()
	d.Initial = func() account { return account{Owner: "nobody"} }
	state, _, err = chronicle.NewRepository(memory.New(nil), accountCodec(), d, nil).Load(context.Background(), "account-1")
	if err != nil || state.Owner != "nobody" {
		t.Errorf("Load = %+v, %v; want the decider's initial state", state, err)
	}
}

func TestRepositorySaveAndLoad(t *testing.T) {
	ctx := context.Background()
	store := memory.New(nil)
	repo := newRepo(store, nil)

	res, err := repo.Save(ctx, "account-1", chronicle.NoStream, opened{Owner: "ann"}, deposited{Amount: 10})
	if err != nil {
		t.Fatal(err)
	}
	if res.FirstRevision != 0 || res.LastRevision != 1 {
		t.Errorf("Save = %+v", res)
	}
	if _, err := repo.Save(ctx, "account-1", res.NextExpected(), withdrawn{Amount: 3}); err != nil {
		t.Fatal(err)
	}
	state, rev, err := repo.Load(ctx, "account-1")
	if err != nil {
		t.Fatal(err)
	}
	if want := (account{Open: true, Owner: "ann", Balance: 7, Seen: 3}); state != want || rev != chronicle.Exact(2) {
		t.Errorf("Load = %+v, %v; want %+v, 2", state, rev, want)
	}
	if got := types(readStream(t, store, "account-1")); !reflect.DeepEqual(got, []string{"Opened", "Deposited", "Withdrawn"}) {
		t.Errorf("stored types %q", got)
	}
}

func TestRepositorySaveRefuses(t *testing.T) {
	ctx := context.Background()
	store := memory.New(nil)
	repo := newRepo(store, nil)
	mustAppend(t, store, "account-1", opened{Owner: "ann"})

	_, err := repo.Save(ctx, "account-1", chronicle.NoStream, deposited{Amount: 1})
	var wrong *chronicle.WrongExpectedRevisionError
	if !errors.As(err, &wrong) || wrong.Actual != chronicle.Exact(0) {
		t.Errorf("Save with a stale revision = %v, want a WrongExpectedRevisionError at 0", err)
	}

	// An event the codec does not know is refused before anything is
	// written, even when it is not the first.
	_, err = repo.Save(ctx, "account-1", chronicle.Exact(0), deposited{Amount: 1}, alien{})
	if !errors.Is(err, chronicle.ErrUnknownEventType) {
		t.Errorf("Save of an unknown event = %v, want ErrUnknownEventType", err)
	}
	if n := len(readStream(t, store, "account-1")); n != 1 {
		t.Errorf("stream holds %d events after refused saves, want 1", n)
	}

	// Saving nothing does nothing, whatever the revision.
	res, err := repo.Save(ctx, "account-2", chronicle.Exact(99))
	if err != nil || res != (chronicle.AppendResult{}) {
		t.Errorf("Save of no events = %+v, %v", res, err)
	}
	if readStream(t, store, "account-2") != nil {
		t.Error("Save of no events created the stream")
	}

	if _, err := repo.Save(ctx, "$account", chronicle.Any, deposited{Amount: 1}); !errors.Is(err, chronicle.ErrInvalidStreamName) {
		t.Errorf("Save to a reserved name = %v", err)
	}
}

// alien is an account event that the codec does not know.
type alien struct{}

func (alien) isAccountEvent() {}

func TestRepositoryLoadErrors(t *testing.T) {
	ctx := context.Background()
	store := memory.New(nil)
	repo := newRepo(store, nil)

	if _, err := store.Append(ctx, "account-1", chronicle.Any, chronicle.EventData{Type: "Closed"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := repo.Load(ctx, "account-1"); !errors.Is(err, chronicle.ErrUnknownEventType) {
		t.Errorf("Load of an unknown event type = %v, want ErrUnknownEventType", err)
	}
	if _, _, err := repo.Load(ctx, ""); !errors.Is(err, chronicle.ErrInvalidStreamName) {
		t.Errorf("Load of an empty name = %v, want ErrInvalidStreamName", err)
	}
	mustAppend(t, store, "account-2", opened{Owner: "ann"})
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := repo.Load(cancelled, "account-2"); !errors.Is(err, context.Canceled) {
		t.Errorf("Load with a cancelled context = %v", err)
	}
}

func TestRepositoryHandle(t *testing.T) {
	ctx := context.Background()
	store := memory.New(nil)
	repo := newRepo(store, nil)

	out, err := repo.Handle(ctx, "account-1", open{Owner: "ann"})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(out.Events, []accountEvent{opened{Owner: "ann"}}) || out.Revision != chronicle.Exact(0) ||
		out.State != (account{Open: true, Owner: "ann", Seen: 1}) || out.Duplicate {
		t.Errorf("Handle(open) = %+v", out)
	}
	out, err = repo.Handle(ctx, "account-1", deposit{Amount: 5})
	if err != nil {
		t.Fatal(err)
	}
	if out.Revision != chronicle.Exact(1) || out.State.Balance != 5 {
		t.Errorf("Handle(deposit) = %+v", out)
	}
	// The outcome's state is what Load then rebuilds.
	state, rev, err := repo.Load(ctx, "account-1")
	if err != nil || state != out.State || rev != out.Revision {
		t.Errorf("Load = %+v, %v, %v; Handle said %+v, %v", state, rev, err, out.State, out.Revision)
	}
}

func TestRepositoryHandleNothingToDo(t *testing.T) {
	ctx := context.Background()
	store := memory.New(nil)
	repo := newRepo(store, nil)
	mustAppend(t, store, "account-1", opened{Owner: "ann"})

	out, err := repo.Handle(ctx, "account-1", deposit{Amount: 0})
	if err != nil {
		t.Fatal(err)
	}
	if out.Events != nil || out.Revision != chronicle.Exact(0) || out.State.Owner != "ann" {
		t.Errorf("Handle of a command that changes nothing = %+v", out)
	}
	if n := len(readStream(t, store, "account-1")); n != 1 {
		t.Errorf("stream holds %d events, want 1", n)
	}
}

func TestRepositoryHandleReturnsDomainErrorsAsTheyAre(t *testing.T) {
	ctx := context.Background()
	store := memory.New(nil)
	repo := newRepo(store, nil)
	mustAppend(t, store, "account-1", opened{Owner: "ann"}, deposited{Amount: 3})

	out, err := repo.Handle(ctx, "account-1", withdraw{Amount: 4})
	if err != errInsufficientFunds {
		t.Fatalf("Handle = %v, want errInsufficientFunds itself", err)
	}
	if out.Events != nil || out.State.Balance != 3 || out.Revision != chronicle.Exact(1) {
		t.Errorf("outcome of a refused command = %+v", out)
	}
	if n := len(readStream(t, store, "account-1")); n != 2 {
		t.Errorf("stream holds %d events after a refused command, want 2", n)
	}

	// On a missing stream too, and nothing creates it.
	if _, err := repo.Handle(ctx, "account-2", deposit{Amount: 1}); err != errNotOpen {
		t.Errorf("Handle = %v, want errNotOpen", err)
	}
	if readStream(t, store, "account-2") != nil {
		t.Error("a refused command created its stream")
	}
}

// racingStore is a Store in which another writer appends a competing
// event to the stream just before each of the first races appends, so
// that they find the stream moved on.
type racingStore struct {
	chronicle.Store
	t       *testing.T
	compete accountEvent
	races   int
	appends atomic.Int32
}

func (s *racingStore) Append(ctx context.Context, stream string, expected chronicle.ExpectedRevision, events ...chronicle.EventData) (chronicle.AppendResult, error) {
	if n := int(s.appends.Add(1)); n <= s.races {
		d, err := accountCodec().Encode(s.compete)
		if err != nil {
			s.t.Fatal(err)
		}
		if _, err := s.Store.Append(ctx, stream, chronicle.Any, d); err != nil {
			s.t.Fatal(err)
		}
	}
	return s.Store.Append(ctx, stream, expected, events...)
}

func TestRepositoryHandleRetriesAfterAConflict(t *testing.T) {
	ctx := context.Background()
	mem := memory.New(nil)
	mustAppend(t, mem, "account-1", opened{Owner: "ann"}, deposited{Amount: 10})
	store := &racingStore{Store: mem, t: t, compete: deposited{Amount: 100}, races: 1}
	repo := newRepo(store, nil)

	out, err := repo.Handle(ctx, "account-1", withdraw{Amount: 5})
	if err != nil {
		t.Fatalf("Handle after one conflict = %v, want success on the retry", err)
	}
	if got := store.appends.Load(); got != 2 {
		t.Errorf("%d appends, want 2", got)
	}
	// The retry decided on fresh state: it includes the competing deposit.
	if out.State.Balance != 105 || out.Revision != chronicle.Exact(3) || out.State.Seen != 4 {
		t.Errorf("outcome = %+v, want balance 105 at revision 3", out)
	}
	if got := types(readStream(t, mem, "account-1")); !reflect.DeepEqual(got, []string{"Opened", "Deposited", "Deposited", "Withdrawn"}) {
		t.Errorf("stream holds %q", got)
	}
}

func TestRepositoryHandleDecidesAgainOnFreshState(t *testing.T) {
	ctx := context.Background()
	mem := memory.New(nil)
	mustAppend(t, mem, "account-1", opened{Owner: "ann"}, deposited{Amount: 10})
	// Someone else withdraws 8 before our withdrawal of 5 lands: on fresh
	// state the command is refused, and nothing of ours is written.
	store := &racingStore{Store: mem, t: t, compete: withdrawn{Amount: 8}, races: 1}
	repo := newRepo(store, nil)

	_, err := repo.Handle(ctx, "account-1", withdraw{Amount: 5})
	if err != errInsufficientFunds {
		t.Fatalf("Handle = %v, want errInsufficientFunds from the second decision", err)
	}
	if got := types(readStream(t, mem, "account-1")); !reflect.DeepEqual(got, []string{"Opened", "Deposited", "Withdrawn"}) {
		t.Errorf("stream holds %q, want only the competitor's withdrawal", got)
	}
}

func TestRepositoryHandleGivesUp(t *testing.T) {
	for _, tc := range []struct {
		name     string
		opts     *chronicle.RepositoryOptions
		attempts int
	}{
		{"NilOptions", nil, chronicle.DefaultRetries + 1},
		{"ZeroMeansDefault", &chronicle.RepositoryOptions{}, chronicle.DefaultRetries + 1},
		{"Two", &chronicle.RepositoryOptions{Retries: 2}, 3},
		{"Negative", &chronicle.RepositoryOptions{Retries: -1}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem := memory.New(nil)
			mustAppend(t, mem, "account-1", opened{Owner: "ann"})
			store := &racingStore{Store: mem, t: t, compete: deposited{Amount: 1}, races: 1000}
			repo := newRepo(store, tc.opts)

			_, err := repo.Handle(context.Background(), "account-1", deposit{Amount: 50})
			if !errors.Is(err, chronicle.ErrWrongExpectedRevision) {
				t.Fatalf("Handle = %v, want ErrWrongExpectedRevision", err)
			}
			var wrong *chronicle.WrongExpectedRevisionError
			if !errors.As(err, &wrong) || wrong.Stream != "account-1" {
				t.Errorf("errors.As(%v) = %+v", err, wrong)
			}
			if got := int(store.appends.Load()); got != tc.attempts {
				t.Errorf("%d appends, want %d", got, tc.attempts)
			}
			for _, e := range readStream(t, mem, "account-1") {
				if string(e.Data) == `{"amount":50}` {
					t.Errorf("the command's event was written at %d", e.Revision)
				}
			}
		})
	}
}

func TestRepositoryMetadata(t *testing.T) {
	store := memory.New(nil)
	repo := newRepo(store, nil)
	ctx := chronicle.WithMetadata(context.Background(), chronicle.Metadata{}.WithCorrelationID("req-1"))
	ctx = chronicle.WithMetadata(ctx, chronicle.Metadata{"user": "ann"})

	if _, err := repo.Save(ctx, "account-1", chronicle.NoStream, opened{Owner: "ann"}, deposited{Amount: 2}); err != nil {
		t.Fatal(err)
	}
	if _, err := repo.Handle(ctx, "account-1", withdraw{Amount: 1}); err != nil {
		t.Fatal(err)
	}
	want := chronicle.Metadata{chronicle.MetadataCorrelationID: "req-1", "user": "ann"}
	events := readStream(t, store, "account-1")
	if len(events) != 3 {
		t.Fatalf("%d events, want 3", len(events))
	}
	for _, e := range events {
		if !maps.Equal(e.Metadata, want) {
			t.Errorf("event %d has metadata %v, want %v", e.Revision, e.Metadata, want)
		}
	}

	// Without metadata in the context, events have none.
	if _, err := repo.Handle(context.Background(), "account-1", withdraw{Amount: 1}); err != nil {
		t.Fatal(err)
	}
	if md := readStream(t, store, "account-1")[3].Metadata; len(md) != 0 {
		t.Errorf("event without metadata in ctx has %v", md)
	}
}

func TestRepositoryHandleOnce(t *testing.T) {
	ctx := context.Background()
	store := memory.New(nil)
	repo := newRepo(store, nil)
	mustAppend(t, store, "account-1", opened{Owner: "ann"})
	id := uuid.MustParse("0190a3e4-0000-7000-8000-0000000000c1")

	first, err := repo.HandleOnce(ctx, "account-1", deposit{Amount: 5}, id)
	if err != nil || first.Duplicate || len(first.Events) != 1 {
		t.Fatalf("first HandleOnce = %+v, %v", first, err)
	}
	again, err := repo.HandleOnce(ctx, "account-1", deposit{Amount: 5}, id)
	if err != nil || !again.Duplicate || again.Events != nil || again.State.Balance != 5 {
		t.Fatalf("second HandleOnce = %+v, %v; want a duplicate at balance 5", again, err)
	}
	events := readStream(t, store, "account-1")
	if len(events) != 2 || events[1].ID != chronicle.EventID(id, 0) {
		t.Errorf("stream holds %d events, the last with ID %s; want 2, the last %s", len(events), events[len(events)-1].ID, chronicle.EventID(id, 0))
	}
	if _, err := repo.HandleOnce(ctx, "account-1", deposit{Amount: 5}, uuid.Nil); !errors.Is(err, chronicle.ErrInvalidEvent) {
		t.Errorf("HandleOnce with the nil ID = %v", err)
	}
}

func TestRepositoryHandleConcurrently(t *testing.T) {
	ctx := context.Background()
	store := memory.New(nil)
	repo := newRepo(store, &chronicle.RepositoryOptions{Retries: 1000})
	mustAppend(t, store, "account-1", opened{Owner: "ann"})

	const writers = 16
	errs := make(chan error, writers)
	for i := range writers {
		go func() {
			_, err := repo.Handle(ctx, "account-1", deposit{Amount: i + 1})
			errs <- err
		}()
	}
	for range writers {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	state, rev, err := repo.Load(ctx, "account-1")
	if err != nil {
		t.Fatal(err)
	}
	if want := writers * (writers + 1) / 2; state.Balance != want || rev != chronicle.Exact(writers) {
		t.Errorf("after %d concurrent deposits: balance %d at %v, want %d at %d", writers, state.Balance, rev, want, writers)
	}
}

// callCountingStore counts the calls to read a stream and to append that
// reach its store.
type callCountingStore struct {
	chronicle.Store
	reads, appends atomic.Int32
}

func (s *callCountingStore) ReadStream(ctx context.Context, stream string, opts chronicle.ReadStreamOptions) iter.Seq2[chronicle.RecordedEvent, error] {
	s.reads.Add(1)
	return s.Store.ReadStream(ctx, stream, opts)
}

func (s *callCountingStore) Append(ctx context.Context, stream string, expected chronicle.ExpectedRevision, events ...chronicle.EventData) (chronicle.AppendResult, error) {
	s.appends.Add(1)
	return s.Store.Append(ctx, stream, expected, events...)
}

// TestRepositoryHandleNew runs each command with Handle and with
// HandleNew on two stores in the same state, and checks that HandleNew's
// outcome, error, stream and snapshot are Handle's.
func TestRepositoryHandleNew(t *testing.T) {
	// The deciders start from a state that is not Go's zero value, so
	// that an outcome built from the zero value shows.
	base := accountDecider()
	base.Initial = func() account { return account{Owner: "nobody"} }
	// lenient opens the account for a walk-in customer on a deposit to
	// an account that is not open: two events on the initial state.
	lenient := base
	lenient.Decide = func(a account, cmd accountCommand) ([]accountEvent, error) {
		if d, ok := cmd.(deposit); ok && !a.Open {
			//lint:ignore S1016 a command and an event that happen to share fields
			return []accountEvent{opened{Owner: "walk-in"}, deposited{Amount: d.Amount}}, nil
		}
		return base.Decide(a, cmd)
	}
	// ignoreClosed ignores deposits to an account that is not open
	// instead of refusing them: nothing decided on the initial state.
	ignoreClosed := base
	ignoreClosed.Decide = func(a account, cmd accountCommand) ([]accountEvent, error) {
		if _, ok := cmd.(deposit); ok && !a.Open {
			return nil, nil
		}
		return base.Decide(a, cmd)
	}
	long := string(make([]byte, 200)) // too large for the stores below
	deleteIt := func(t *testing.T, s *memory.Store) {
		if err := s.Delete(context.Background(), "account-1", chronicle.Any); err != nil {
			t.Fatal(err)
		}
	}
	tombstone := func(t *testing.T, s *memory.Store) {
		if err := s.Tombstone(context.Background(), "account-1", chronicle.Any); err != nil {
			t.Fatal(err)
		}
	}

	const any = -1 // no expectation
	for name, tc := range map[string]struct {
		before    []accountEvent // in the stream before the command
		then      func(t *testing.T, s *memory.Store)
		decider   chronicle.Decider[account, accountCommand, accountEvent]
		snapshots bool
		cancelled bool
		cmd       accountCommand
		reads     int32 // of the stream by HandleNew
		appends   int32 // by HandleNew
	}{
		"NewStream":          {decider: base, cmd: open{Owner: "ann"}, reads: 0, appends: 1},
		"NewStreamTwoEvents": {decider: lenient, cmd: deposit{Amount: 5}, reads: 0, appends: 1},
		"NewStreamSnapshot":  {decider: lenient, snapshots: true, cmd: deposit{Amount: 5}, reads: 0, appends: 1},
		// The guess is refused: on the account as it is, opening again
		// changes nothing.
		"Exists": {before: []accountEvent{opened{Owner: "ann"}}, decider: base, cmd: open{Owner: "bob"}, reads: 1, appends: 1},
		// Refused on the initial state, decided on the stream's.
		"RefusedWhenNew": {before: []accountEvent{opened{Owner: "ann"}, deposited{Amount: 9}}, decider: base, cmd: withdraw{Amount: 4}, reads: 1, appends: 1},
		"NothingWhenNew": {before: []accountEvent{opened{Owner: "ann"}}, decider: ignoreClosed, cmd: deposit{Amount: 5}, reads: 1, appends: 1},
		"RefusedBoth":    {decider: base, cmd: withdraw{Amount: 1}, reads: 1, appends: 0},
		"NothingBoth":    {decider: ignoreClosed, cmd: deposit{Amount: 1}, reads: 1, appends: 0},
		// A soft-deleted stream goes on after its old revisions.
		"SoftDeleted": {before: []accountEvent{opened{Owner: "ann"}, deposited{Amount: 1}}, then: deleteIt, decider: lenient, snapshots: true,
			cmd: deposit{Amount: 5}, reads: any, appends: any},
		"Tombstoned":     {before: []accountEvent{opened{Owner: "ann"}}, then: tombstone, decider: base, cmd: open{Owner: "bob"}, reads: any, appends: any},
		"TombstonedNew":  {then: tombstone, decider: base, cmd: open{Owner: "bob"}, reads: any, appends: any},
		"TooLarge":       {decider: base, cmd: open{Owner: long}, reads: any, appends: any},
		"TooLargeExists": {before: []accountEvent{opened{Owner: "ann"}}, decider: base, cmd: open{Owner: long}, reads: any, appends: any},
		"Cancelled":      {before: []accountEvent{opened{Owner: "ann"}}, decider: lenient, cancelled: true, cmd: deposit{Amount: 5}, reads: any, appends: any},
	} {
		t.Run(name, func(t *testing.T) {
			type result struct {
				out     chronicle.Outcome[account, accountEvent]
				err     string
				is      []bool // errors.Is of each sentinel below
				events  []string
				snap    string
				reads   int32
				appends int32
			}
			sentinels := []error{chronicle.ErrWrongExpectedRevision, chronicle.ErrStreamDeleted, chronicle.ErrEventTooLarge, context.Canceled, errNotOpen}
			var results []result
			for _, handleNew := range []bool{false, true} {
				mem := memory.New(&memory.Options{MaxEventSize: 128})
				if len(tc.before) > 0 {
					mustAppend(t, mem, "account-1", tc.before...)
				}
				if tc.then != nil {
					tc.then(t, mem)
				}
				store := &callCountingStore{Store: mem}
				repo := chronicle.NewRepository(store, accountCodec(), tc.decider, nil)
				if tc.snapshots {
					var err error
					if repo, err = repo.WithSnapshots(chronicle.Snapshots[account]{Every: 1, Store: mem}); err != nil {
						t.Fatal(err)
					}
				}
				handle := repo.Handle
				if handleNew {
					handle = repo.HandleNew
				}
				ctx, cancel := context.WithCancel(context.Background())
				if tc.cancelled {
					cancel()
				}
				out, err := handle(ctx, "account-1", tc.cmd)
				cancel()
				r := result{out: out, reads: store.reads.Load(), appends: store.appends.Load()}
				if err != nil {
					r.err = err.Error()
				}
				for _, target := range sentinels {
					r.is = append(r.is, errors.Is(err, target))
				}
				for e, err := range mem.ReadStream(context.Background(), "account-1", chronicle.ReadStreamOptions{}) {
					if err != nil {
						r.events = append(r.events, err.Error())
						break
					}
					r.events = append(r.events, fmt.Sprint(e.Revision, e.Type, string(e.Data)))
				}
				if snap, ok, err := mem.LoadSnapshot(context.Background(), "account-1"); err != nil {
					t.Fatal(err)
				} else if ok {
					r.snap = fmt.Sprint(snap.Revision, string(snap.Data))
				}
				results = append(results, r)
			}
			handle, handleNew := results[0], results[1]
			if !reflect.DeepEqual(handleNew.out, handle.out) || handleNew.err != handle.err || !reflect.DeepEqual(handleNew.is, handle.is) {
				t.Errorf("HandleNew = %+v, %q (errors.Is %v)\nHandle    = %+v, %q (errors.Is %v)", handleNew.out, handleNew.err, handleNew.is, handle.out, handle.err, handle.is)
			}
			if !reflect.DeepEqual(handleNew.events, handle.events) || handleNew.snap != handle.snap {
				t.Errorf("after HandleNew the stream holds %q, snapshot %q; after Handle %q, %q", handleNew.events, handleNew.snap, handle.events, handle.snap)
			}
			if tc.snapshots && handle.snap == "" {
				t.Error("no snapshot was saved")
			}
			if tc.reads != any && handleNew.reads != tc.reads {
				t.Errorf("HandleNew read the stream %d times, want %d", handleNew.reads, tc.reads)
			}
			if tc.appends != any && handleNew.appends != tc.appends {
				t.Errorf("HandleNew appended %d times, want %d", handleNew.appends, tc.appends)
			}
		})
	}
}

// A guess that finds the stream changed by others counts as one of
// Handle's attempts; without retries, an existing stream is still loaded
// once.
func TestRepositoryHandleNewRetries(t *testing.T) {
	decider := accountDecider()
	decider.Decide = func(a account, cmd accountCommand) ([]accountEvent, error) {
		if d, ok := cmd.(deposit); ok && !a.Open {
			//lint:ignore S1016 a command and an event that happen to share fields
			return []accountEvent{opened{Owner: "walk-in"}, deposited{Amount: d.Amount}}, nil
		}
		return accountDecider().Decide(a, cmd)
	}
	for _, tc := range []struct {
		name              string
		opts              *chronicle.RepositoryOptions
		handle, handleNew int32 // appends
	}{
		{name: "Default", handle: chronicle.DefaultRetries + 1, handleNew: chronicle.DefaultRetries + 1},
		{name: "None", opts: &chronicle.RepositoryOptions{Retries: -1}, handle: 1, handleNew: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var errs []string
			for i, want := range []int32{tc.handle, tc.handleNew} {
				mem := memory.New(nil)
				mustAppend(t, mem, "account-1", opened{Owner: "ann"})
				store := &racingStore{Store: mem, t: t, compete: deposited{Amount: 1}, races: 1000}
				repo := chronicle.NewRepository(store, accountCodec(), decider, tc.opts)
				handle := repo.Handle
				if i == 1 {
					handle = repo.HandleNew
				}
				_, err := handle(context.Background(), "account-1", deposit{Amount: 50})
				if !errors.Is(err, chronicle.ErrWrongExpectedRevision) {
					t.Fatalf("err = %v, want ErrWrongExpectedRevision", err)
				}
				errs = append(errs, err.Error())
				if got := store.appends.Load(); got != want {
					t.Errorf("handleNew %v: %d appends, want %d", i == 1, got, want)
				}
			}
			// The error counts the conflicts, the guess's among them.
			for i, n := range []int32{tc.handle, tc.handleNew} {
				want := fmt.Sprintf("other writers changed the stream first, %d times in a row", n)
				if n == 1 {
					want = "another writer changed the stream first:"
				}
				if !strings.Contains(errs[i], want) {
					t.Errorf("handleNew %v: error %q does not say %q", i == 1, errs[i], want)
				}
			}
		})
	}
}

// Of many HandleNew that race to start one stream, one starts it and the
// others find it started, as they would with Handle.
func TestRepositoryHandleNewConcurrently(t *testing.T) {
	ctx := context.Background()
	store := memory.New(nil)
	repo := newRepo(store, nil)

	const writers = 16
	type result struct {
		out chronicle.Outcome[account, accountEvent]
		err error
	}
	results := make(chan result, writers)
	for i := range writers {
		go func() {
			out, err := repo.HandleNew(ctx, "account-1", open{Owner: fmt.Sprint("owner-", i)})
			results <- result{out, err}
		}()
	}
	started := ""
	for range writers {
		r := <-results
		if r.err != nil {
			t.Error(r.err)
			continue
		}
		if r.out.Revision != chronicle.Exact(0) || !r.out.State.Open {
			t.Errorf("outcome %+v, want an open account at revision 0", r.out)
		}
		if len(r.out.Events) > 0 {
			if started != "" {
				t.Errorf("both %s and %s started the account", started, r.out.State.Owner)
			}
			started = r.out.State.Owner
		}
	}
	events := readStream(t, store, "account-1")
	if started == "" || len(events) != 1 || string(events[0].Data) != fmt.Sprintf(`{"owner":%q}`, started) {
		t.Errorf("the stream holds %d events, the started account is %q", len(events), started)
	}
}

// A stream whose metadata hides all its events reads as empty, but its
// revisions go on: Handle learns where it stands from the refused append
// and decides on the initial state, as a reader sees the stream.
func TestRepositoryHandleHiddenStream(t *testing.T) {
	ctx := context.Background()
	// MaxAge leaves the new event a second to be read back in.
	for _, md := range []chronicle.StreamMetadata{{TruncateBefore: 2}, {MaxAge: time.Second}} {
		for _, retries := range []int{0, -1} {
			for _, how := range []string{"Handle", "HandleNew", "HandleOnce"} {
				t.Run(fmt.Sprintf("%+v/retries=%d/%s", md, retries, how), func(t *testing.T) {
					t.Parallel()
					mem := memory.New(nil)
					mustAppend(t, mem, "account-1", opened{Owner: "ann"}, deposited{Amount: 3})
					if err := mem.SetStreamMetadata(ctx, "account-1", md); err != nil {
						t.Fatal(err)
					}
					time.Sleep(md.MaxAge + 20*time.Millisecond)
					if events := readStream(t, mem, "account-1"); len(events) != 0 {
						t.Fatalf("the stream shows %d events, want none", len(events))
					}
					store := &hookStore{Store: mem}
					repo := newRepo(store, &chronicle.RepositoryOptions{Retries: retries})
					out, err := handleBy(ctx, repo, how, open{Owner: "bob"})
					if err != nil {
						t.Fatal(err)
					}
					if out.Revision != chronicle.Exact(2) || out.State != (account{Open: true, Owner: "bob", Seen: 1}) {
						t.Errorf("outcome %+v, want bob's account, new, at revision 2", out)
					}
					events := readStream(t, mem, "account-1")
					if len(events) != 1 || events[0].Revision != 2 || events[0].Type != "Opened" {
						t.Errorf("the stream shows %+v, want one Opened at revision 2", events)
					}
					if want := []string{"no stream: refused at 1", "1: ok"}; !reflect.DeepEqual(store.appends, want) {
						t.Errorf("appends %q, want %q", store.appends, want)
					}
				})
			}
		}
	}
}

// handleBy runs cmd on account-1 by Handle, HandleNew or HandleOnce.
func handleBy(ctx context.Context, repo *accountRepo, how string, cmd accountCommand) (chronicle.Outcome[account, accountEvent], error) {
	switch how {
	case "HandleNew":
		return repo.HandleNew(ctx, "account-1", cmd)
	case "HandleOnce":
		return repo.HandleOnce(ctx, "account-1", cmd, uuid.MustParse("0190a3e4-0000-7000-8000-0000000000c2"))
	}
	return repo.Handle(ctx, "account-1", cmd)
}

// hookStore records each append's expected revision and result, runs
// before, if set, ahead of the n-th append (from 1), and lets after
// change its error. It finds events as its memory store does.
type hookStore struct {
	*memory.Store
	before  func(n int)
	after   func(err error) error
	appends []string
}

func (s *hookStore) Append(ctx context.Context, stream string, expected chronicle.ExpectedRevision, events ...chronicle.EventData) (chronicle.AppendResult, error) {
	if s.before != nil {
		s.before(len(s.appends) + 1)
	}
	res, err := s.Store.Append(ctx, stream, expected, events...)
	var wrong *chronicle.WrongExpectedRevisionError
	switch {
	case errors.As(err, &wrong):
		s.appends = append(s.appends, fmt.Sprintf("%v: refused at %v", expected, wrong.Actual))
	case err != nil:
		s.appends = append(s.appends, fmt.Sprintf("%v: %v", expected, err))
	default:
		s.appends = append(s.appends, fmt.Sprintf("%v: ok", expected))
	}
	if s.after != nil {
		err = s.after(err)
	}
	return res, err
}

// What goes on around a hidden stream while a command runs: each case
// failed, or appended where it should not, in a first version (from its
// review).
func TestRepositoryHandleHiddenStreamChanging(t *testing.T) {
	ctx := context.Background()
	id := uuid.MustParse("0190a3e4-0000-7000-8000-0000000000c2")
	hiddenAccount := func(t *testing.T) *memory.Store {
		mem := memory.New(nil)
		mustAppend(t, mem, "account-1", opened{Owner: "ann"}, deposited{Amount: 3})
		if err := mem.SetStreamMetadata(ctx, "account-1", chronicle.StreamMetadata{TruncateBefore: 2}); err != nil {
			t.Fatal(err)
		}
		return mem
	}

	t.Run("DeletedMeanwhile", func(t *testing.T) {
		// Soft-deleted after the first refusal: the stream starts again,
		// as it does when Handle finds it deleted.
		mem := hiddenAccount(t)
		store := &hookStore{Store: mem, before: func(n int) {
			if n == 2 {
				if err := mem.Delete(ctx, "account-1", chronicle.Any); err != nil {
					t.Fatal(err)
				}
			}
		}}
		out, err := newRepo(store, nil).Handle(ctx, "account-1", open{Owner: "bob"})
		if err != nil || out.Revision != chronicle.Exact(2) || out.State.Owner != "bob" {
			t.Errorf("Handle = %+v, %v; want bob's account at revision 2", out, err)
		}
		if want := []string{"no stream: refused at 1", "1: refused at no stream", "no stream: ok"}; !reflect.DeepEqual(store.appends, want) {
			t.Errorf("appends %q, want %q", store.appends, want)
		}
	})

	t.Run("UntrustedRefusal", func(t *testing.T) {
		// A refusal that does not say where the stream stands is not
		// taken for an exact revision (Any, its zero value, would append
		// unchecked), and another writer opened the account meanwhile.
		mem := hiddenAccount(t)
		store := &hookStore{Store: mem,
			before: func(n int) {
				if n == 2 {
					mustAppend(t, mem, "account-1", opened{Owner: "carol"})
				}
			},
			after: func(err error) error {
				var wrong *chronicle.WrongExpectedRevisionError
				if errors.As(err, &wrong) {
					return &chronicle.WrongExpectedRevisionError{Stream: wrong.Stream, Expected: wrong.Expected}
				}
				return err
			}}
		out, err := newRepo(store, nil).Handle(ctx, "account-1", open{Owner: "bob"})
		if err != nil || out.Events != nil || out.State.Owner != "carol" {
			t.Errorf("Handle = %+v, %v; want carol's account, and nothing more", out, err)
		}
		if got := types(readStream(t, mem, "account-1")); !reflect.DeepEqual(got, []string{"Opened"}) {
			t.Errorf("the stream shows %q, want carol's Opened alone", got)
		}
	})

	t.Run("HandleOnceRedelivered", func(t *testing.T) {
		// The command's events are there, hidden: its redelivery is a
		// duplicate, not a second run.
		mem := memory.New(nil)
		mustAppend(t, mem, "account-1", opened{Owner: "ann"})
		repo := newRepo(mem, nil)
		if _, err := repo.HandleOnce(ctx, "account-1", deposit{Amount: 5}, id); err != nil {
			t.Fatal(err)
		}
		if err := mem.SetStreamMetadata(ctx, "account-1", chronicle.StreamMetadata{TruncateBefore: 2}); err != nil {
			t.Fatal(err)
		}
		store := &callCountingStore{Store: mem}
		out, err := newRepo(findingStore{store, mem}, nil).HandleOnce(ctx, "account-1", open{Owner: "bob"}, id)
		if err != nil || !out.Duplicate || out.Events != nil {
			t.Errorf("HandleOnce = %+v, %v; want a duplicate", out, err)
		}
		if got := store.appends.Load(); got != 0 {
			t.Errorf("%d appends, want none", got)
		}
		n := 0
		for e, err := range mem.ReadAll(ctx, chronicle.ReadAllOptions{}) {
			if err != nil {
				t.Fatal(err)
			}
			if e.ID == chronicle.EventID(id, 0) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("the command's event is stored %d times", n)
		}
	})

	t.Run("HandleOncePartlyHidden", func(t *testing.T) {
		// The command's event is hidden, another writer's after it is
		// not: the redelivery is still a duplicate.
		mem := memory.New(nil)
		repo := newRepo(mem, nil)
		if _, err := repo.HandleOnce(ctx, "account-1", open{Owner: "bob"}, id); err != nil {
			t.Fatal(err)
		}
		mustAppend(t, mem, "account-1", deposited{Amount: 2})
		if err := mem.SetStreamMetadata(ctx, "account-1", chronicle.StreamMetadata{TruncateBefore: 1}); err != nil {
			t.Fatal(err)
		}
		out, err := repo.HandleOnce(ctx, "account-1", open{Owner: "bob"}, id)
		if err != nil || !out.Duplicate || out.Revision != chronicle.Exact(1) {
			t.Errorf("HandleOnce = %+v, %v; want a duplicate at revision 1", out, err)
		}
	})

	t.Run("SnapshotBeforeHidden", func(t *testing.T) {
		// A snapshot at revision 0, a deposit after it, hidden: the
		// command, decided on the snapshot, is refused, which tells of
		// events after it; decided again as a replay of the visible
		// events would (none: the account is not open), it is refused
		// (see TestSnapshotBeforeOnlyHiddenEventsIsDropped).
		mem := memory.New(nil)
		repo := snapshotted(t, mem, 1, 0)
		if _, err := repo.Handle(ctx, "account-1", open{Owner: "ann"}); err != nil {
			t.Fatal(err)
		}
		mustAppend(t, mem, "account-1", deposited{Amount: 3}) // no snapshot
		if err := mem.SetStreamMetadata(ctx, "account-1", chronicle.StreamMetadata{TruncateBefore: 2}); err != nil {
			t.Fatal(err)
		}
		store := &hookStore{Store: mem}
		repo, err := newRepo(store, nil).WithSnapshots(chronicle.Snapshots[account]{Every: 1, Store: mem})
		if err != nil {
			t.Fatal(err)
		}
		out, err := repo.Handle(ctx, "account-1", deposit{Amount: 5})
		if !errors.Is(err, errNotOpen) || out.Revision != chronicle.Exact(1) || out.State.Open {
			t.Errorf("Handle = %+v, %v; want errNotOpen on the initial state, at revision 1", out, err)
		}
		if want := []string{"0: refused at 1"}; !reflect.DeepEqual(store.appends, want) {
			t.Errorf("appends %q, want %q", store.appends, want)
		}
	})

	t.Run("CreatedAndDeletedMeanwhile", func(t *testing.T) {
		// Another writer starts the stream before our append, and
		// soft-deletes it before our reload: a conflict like any other,
		// and the stream starts again.
		mem := memory.New(nil)
		store := &hookStore{Store: mem, before: func(n int) {
			if n == 1 {
				mustAppend(t, mem, "account-1", opened{Owner: "carol"})
			}
		}}
		store.after = func(err error) error {
			if len(store.appends) == 1 {
				if err := mem.Delete(ctx, "account-1", chronicle.Any); err != nil {
					t.Fatal(err)
				}
			}
			return err
		}
		out, err := newRepo(store, nil).Handle(ctx, "account-1", open{Owner: "bob"})
		if err != nil || out.Revision != chronicle.Exact(1) || out.State.Owner != "bob" {
			t.Errorf("Handle = %+v, %v; want bob's account at revision 1", out, err)
		}
		if want := []string{"no stream: refused at 0", "no stream: ok"}; !reflect.DeepEqual(store.appends, want) {
			t.Errorf("appends %q, want %q", store.appends, want)
		}
	})

	for _, retries := range []int{1, -1} {
		t.Run(fmt.Sprint("SnapshotsMeanwhile/retries=", retries), func(t *testing.T) {
			// Another writer's events, each with its snapshot, before our
			// append and after its refusal: the refusal's revision is
			// older than the snapshot the reload finds, and a conflict.
			mem := memory.New(nil)
			other := snapshotted(t, mem, 1, 0)
			if _, err := other.Handle(ctx, "account-1", open{Owner: "ann"}); err != nil {
				t.Fatal(err)
			}
			deposit1 := func() {
				if _, err := other.Handle(ctx, "account-1", deposit{Amount: 1}); err != nil {
					t.Fatal(err)
				}
			}
			store := &hookStore{Store: mem, before: func(n int) {
				if n == 1 {
					deposit1()
				}
			}}
			store.after = func(err error) error {
				if len(store.appends) == 1 {
					deposit1()
				}
				return err
			}
			repo, err := newRepo(store, &chronicle.RepositoryOptions{Retries: retries}).WithSnapshots(chronicle.Snapshots[account]{Every: 1, Store: mem})
			if err != nil {
				t.Fatal(err)
			}
			out, err := repo.Handle(ctx, "account-1", deposit{Amount: 10})
			want := []string{"0: refused at 1", "2: ok"}
			if retries < 0 {
				want = want[:1]
				if !errors.Is(err, chronicle.ErrWrongExpectedRevision) || out.Revision != chronicle.Exact(0) || out.State.Balance != 0 {
					t.Errorf("Handle = %+v, %v; want a conflict, and the state at revision 0 it was decided on", out, err)
				}
			} else if err != nil || out.Revision != chronicle.Exact(3) || out.State.Balance != 12 {
				t.Errorf("Handle = %+v, %v; want balance 12 at revision 3", out, err)
			}
			if !reflect.DeepEqual(store.appends, want) {
				t.Errorf("appends %q, want %q", store.appends, want)
			}
		})
	}

	for _, restart := range []bool{false, true} {
		t.Run(fmt.Sprint("HandleOnceAfterDelete/restarted=", restart), func(t *testing.T) {
			// A command handled before its stream was soft-deleted is not
			// handled again, whether the stream was written since or not.
			mem := memory.New(nil)
			repo := newRepo(mem, nil)
			if _, err := repo.HandleOnce(ctx, "account-1", open{Owner: "bob"}, id); err != nil {
				t.Fatal(err)
			}
			if err := mem.Delete(ctx, "account-1", chronicle.Any); err != nil {
				t.Fatal(err)
			}
			if restart {
				mustAppend(t, mem, "account-1", deposited{Amount: 1})
			}
			store := &callCountingStore{Store: mem}
			out, err := newRepo(findingStore{store, mem}, nil).HandleOnce(ctx, "account-1", open{Owner: "bob"}, id)
			if err != nil || !out.Duplicate || store.appends.Load() != 0 {
				t.Errorf("HandleOnce = %+v, %v after %d appends; want a duplicate, and none", out, err, store.appends.Load())
			}
		})
	}

	for _, how := range []string{"Handle", "HandleNew"} {
		t.Run("AlwaysHidden/"+how, func(t *testing.T) {
			// Other writers' events are hidden too: the refusals they
			// cause count, and the command gives up as after any others.
			mem := memory.New(nil)
			mustAppend(t, mem, "account-1", opened{Owner: "ann"})
			if err := mem.SetStreamMetadata(ctx, "account-1", chronicle.StreamMetadata{TruncateBefore: 1000}); err != nil {
				t.Fatal(err)
			}
			store := &racingStore{Store: mem, t: t, compete: deposited{Amount: 1}, races: 1000}
			out, err := handleBy(ctx, newRepo(store, nil), how, open{Owner: "bob"})
			if !errors.Is(err, chronicle.ErrWrongExpectedRevision) {
				t.Errorf("err = %v, want ErrWrongExpectedRevision", err)
			}
			// What the last refused append was decided on: the initial
			// state, after the hidden events.
			if _, exact := out.Revision.Revision(); !exact || out.State != (account{}) {
				t.Errorf("outcome %+v, want the initial state at an exact revision", out)
			}
			// The first refusal only said where the hidden events end.
			if got := store.appends.Load(); got != chronicle.DefaultRetries+2 {
				t.Errorf("%d appends, want %d", got, chronicle.DefaultRetries+2)
			}
		})
	}
}

// findingStore is a Store whose HasEvent is its finder's.
type findingStore struct {
	chronicle.Store
	finder chronicle.EventFinder
}

func (s findingStore) HasEvent(ctx context.Context, stream string, id uuid.UUID) (bool, error) {
	return s.finder.HasEvent(ctx, stream, id)
}

// unsupportedFinder is the HasEvent of a store that wraps one without an
// EventFinder: it says so with an error matching errors.ErrUnsupported.
type unsupportedFinder struct{}

func (unsupportedFinder) HasEvent(context.Context, string, uuid.UUID) (bool, error) {
	return false, fmt.Errorf("has event: the store beneath cannot find events: %w", errors.ErrUnsupported)
}

// TestRepositoryHandleOnceUnsupportedFinder checks that HandleOnce over a
// store whose HasEvent reports errors.ErrUnsupported, as a wrapping store
// does over a store without the ability, goes on as over a store that is
// no EventFinder, rather than failing.
func TestRepositoryHandleOnceUnsupportedFinder(t *testing.T) {
	ctx := context.Background()
	id := uuid.MustParse("0190a3e4-0000-7000-8000-0000000000c3")
	for _, c := range []struct {
		name  string
		setup func(t *testing.T, mem *memory.Store)
	}{
		{"Snapshot", func(t *testing.T, mem *memory.Store) {
			// The command ran once, and left a snapshot after it.
			if _, err := snapshotted(t, mem, 1, 0).HandleOnce(ctx, "account-1", deposit{Amount: 5}, id); err != nil {
				t.Fatal(err)
			}
		}},
		{"Hidden", func(t *testing.T, mem *memory.Store) {
			// The command ran once, and its event is hidden.
			if _, err := newRepo(mem, nil).HandleOnce(ctx, "account-1", deposit{Amount: 5}, id); err != nil {
				t.Fatal(err)
			}
			mustAppend(t, mem, "account-1", deposited{Amount: 1})
			if err := mem.SetStreamMetadata(ctx, "account-1", chronicle.StreamMetadata{TruncateBefore: 2}); err != nil {
				t.Fatal(err)
			}
		}},
		{"Deleted", func(t *testing.T, mem *memory.Store) {
			if _, err := newRepo(mem, nil).HandleOnce(ctx, "account-1", deposit{Amount: 5}, id); err != nil {
				t.Fatal(err)
			}
			if err := mem.Delete(ctx, "account-1", chronicle.Any); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			run := func(wrap func(*memory.Store) chronicle.Store) (chronicle.Outcome[account, accountEvent], error) {
				mem := memory.New(nil)
				mustAppend(t, mem, "account-1", opened{Owner: "ann"})
				c.setup(t, mem)
				repo, err := newRepo(wrap(mem), nil).WithSnapshots(chronicle.Snapshots[account]{Every: 1, Store: mem})
				if err != nil {
					t.Fatal(err)
				}
				return repo.HandleOnce(ctx, "account-1", deposit{Amount: 5}, id)
			}
			// callCountingStore hides the memory store's HasEvent.
			want, wantErr := run(func(mem *memory.Store) chronicle.Store { return &callCountingStore{Store: mem} })
			got, err := run(func(mem *memory.Store) chronicle.Store { return findingStore{mem, unsupportedFinder{}} })
			if fmt.Sprint(err) != fmt.Sprint(wantErr) || !reflect.DeepEqual(got, want) {
				t.Errorf("HandleOnce = %+v, %v; want %+v, %v, as without an EventFinder", got, err, want, wantErr)
			}
		})
	}
}
