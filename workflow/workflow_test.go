package workflow_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/internal/crashtest"
	"github.com/chronicle-es/chronicle/memory"
	"github.com/chronicle-es/chronicle/projection"
	"github.com/chronicle-es/chronicle/sqlite"
	"github.com/chronicle-es/chronicle/workflow"
	"github.com/google/uuid"
)

// The process under test: an order is placed; the workflow reserves its
// stock (a command on the stock aggregate, which refuses to reserve
// twice), and once the stock is reserved, requests a shipment (an event
// the workflow appends itself).

type stockEvent interface{ isStockEvent() }

// StockReserved is the stock aggregate's only event.
type StockReserved struct {
	Order string `json:"order"`
}

func (StockReserved) isStockEvent() {}

type reserve struct{ order string }

var errAlreadyReserved = errors.New("stock already reserved for this order")

var stock = chronicle.Decider[bool, reserve, stockEvent]{
	Decide: func(reserved bool, c reserve) ([]stockEvent, error) {
		if reserved {
			return nil, errAlreadyReserved
		}
		return []stockEvent{StockReserved{Order: c.order}}, nil
	},
	Evolve: func(bool, stockEvent) bool { return true },
}

func orderFlow(store chronicle.Store) workflow.Workflow {
	codec := chronicle.MustCodec[stockEvent](chronicle.JSON[StockReserved]("StockReserved"))
	stocks := chronicle.NewRepository(store, codec, stock, nil)
	return workflow.Workflow{
		Name:   "fulfil-order",
		Filter: chronicle.Filter{Types: []string{"OrderPlaced", "StockReserved"}},
		React: func(ctx context.Context, s workflow.Step, e chronicle.RecordedEvent) error {
			id := strings.TrimPrefix(strings.TrimPrefix(e.Stream, "order-"), "stock-")
			switch e.Type {
			case "OrderPlaced":
				_, err := stocks.HandleOnce(ctx, "stock-"+id, reserve{order: id}, s.CommandID("reserve"))
				return err
			case "StockReserved":
				_, err := store.Append(ctx, "shipment-"+id, chronicle.Any, chronicle.EventData{
					ID: s.EventID("ship", 0), Type: "ShipmentRequested", Data: []byte(`{}`),
				})
				return err
			}
			return nil
		},
	}
}

func placeOrders(tb testing.TB, s chronicle.Store, n int) {
	tb.Helper()
	for i := range n {
		if _, err := s.Append(context.Background(), fmt.Sprintf("order-%d", i), chronicle.NoStream,
			chronicle.EventData{Type: "OrderPlaced", Data: []byte(`{}`)}); err != nil {
			tb.Fatal(err)
		}
	}
}

// checkOnce fails unless every order has exactly one reservation and one
// shipment request.
func checkOnce(tb testing.TB, s chronicle.Store, n int) {
	tb.Helper()
	count := map[string]int{}
	for e, err := range s.ReadAll(context.Background(), chronicle.ReadAllOptions{}) {
		if err != nil {
			tb.Fatal(err)
		}
		count[e.Stream]++
	}
	for i := range n {
		for _, stream := range []string{"stock-%d", "shipment-%d"} {
			name := fmt.Sprintf(stream, i)
			if count[name] != 1 {
				tb.Fatalf("%s has %d events, want exactly 1", name, count[name])
			}
		}
	}
}

func openStore(tb testing.TB, path string) *sqlite.Store {
	tb.Helper()
	s, err := sqlite.Open(context.Background(), path, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// stores returns a new memory store and a new SQLite store, by name.
func stores(tb testing.TB) map[string]chronicle.Store {
	return map[string]chronicle.Store{
		"memory": memory.New(nil),
		"sqlite": openStore(tb, filepath.Join(tb.TempDir(), "events.db")),
	}
}

// TestStepsRedeliveredAfterTheirWork delivers every step twice: the first
// time, the step does its work and then fails, as a process that dies
// before its checkpoint would. The second delivery must change nothing.
func TestStepsRedeliveredAfterTheirWork(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), "events.db"))
	const orders = 20
	placeOrders(t, s, orders)
	wf := orderFlow(s)
	react := wf.React
	var mu sync.Mutex
	failed := map[uint64]bool{}
	wf.React = func(ctx context.Context, st workflow.Step, e chronicle.RecordedEvent) error {
		if err := react(ctx, st, e); err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		if !failed[e.Position] {
			failed[e.Position] = true
			return errors.New("crash after the step's work")
		}
		return nil
	}
	r, err := projection.NewRunner(s, &projection.Options{Backoff: time.Millisecond}, wf.Projection())
	if err != nil {
		t.Fatal(err)
	}
	// Each catch-up handles the steps that the previous one's events
	// triggered: orders, then reservations.
	for range 3 {
		if err := r.CatchUp(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if len(failed) != 2*orders {
		t.Fatalf("%d steps ran, want %d", len(failed), 2*orders)
	}
	checkOnce(t, s, orders)
}

const childEnv = "CHRONICLE_WORKFLOW_TEST_CHILD"

func TestMain(m *testing.M) {
	if path := os.Getenv(childEnv); path != "" {
		os.Exit(child(path))
	}
	os.Exit(m.Run())
}

// child runs the workflow until every order has its shipment request.
func child(path string) int {
	s, err := sqlite.Open(context.Background(), path, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer s.Close()
	r, err := projection.NewRunner(s, &projection.Options{BatchSize: 4}, orderFlow(s).Projection())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	for {
		if err := r.CatchUp(context.Background()); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		n := 0
		for _, err := range s.ReadAll(context.Background(), chronicle.ReadAllOptions{Filter: chronicle.Filter{Categories: []string{"shipment"}}}) {
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			n++
		}
		if n == childOrders {
			return 0
		}
	}
}

var childOrders = map[bool]int{false: 1000, true: 200}[raceEnabled]

// TestKilledBetweenSteps kills the process running the workflow with
// SIGKILL at random moments and restarts it, until the workflow is done;
// then every step must have happened exactly once.
func TestKilledBetweenSteps(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills processes")
	}
	path := filepath.Join(t.TempDir(), "events.db")
	s := openStore(t, path)
	placeOrders(t, s, childOrders)
	// Each run is killed shortly after its first append, which lands the
	// kill between steps however fast the machine; the ninth run
	// finishes.
	kills := len(crashtest.Run(t, crashtest.Options{
		Command: func() *exec.Cmd {
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), childEnv+"="+path)
			return cmd
		},
		Progress: func() uint64 {
			head, err := projection.Head(context.Background(), s)
			if err != nil {
				t.Fatal(err)
			}
			return head
		},
		Kills: 8,
		Rand:  rand.New(rand.NewPCG(1, 2)),
	}))
	t.Logf("finished after %d kills", kills)
	if kills < 2 {
		t.Fatalf("only %d kills before the workflow finished: the test proved too little", kills)
	}
	checkOnce(t, s, childOrders)
}

// TestCommandIDsOfWorkflowsDiffer checks that two workflows whose names
// and keys join to the same text get distinct command IDs: the second
// one's command was taken for a duplicate of the first's, and skipped.
func TestCommandIDsOfWorkflowsDiffer(t *testing.T) {
	trigger := chronicle.RecordedEvent{ID: uuid.MustParse("0190f0c2-0000-7000-8000-000000000001")}
	for _, pair := range [][2][2]string{ // {workflow, key} twice
		{{"billing", "invoice/send"}, {"billing/invoice", "send"}},
		{{`billing\`, "send"}, {"billing", `\send`}},
		{{`billing\`, "/send"}, {`billing\/`, "send"}},
		{{"a/b", "c"}, {`a\`, "b/c"}}, // with '\' escaped too
	} {
		a := workflow.Step{Workflow: pair[0][0], Trigger: trigger}.CommandID(pair[0][1])
		b := workflow.Step{Workflow: pair[1][0], Trigger: trigger}.CommandID(pair[1][1])
		if a == b {
			t.Errorf("workflow %q with key %q and workflow %q with key %q share command ID %s", pair[0][0], pair[0][1], pair[1][0], pair[1][1], a)
		}
	}
	// A name without '/' or '\' keeps the IDs it had, so that steps
	// delivered again across an upgrade are still recognised.
	step := workflow.Step{Workflow: "billing", Trigger: trigger}
	if got, want := step.CommandID("invoice/send"), uuid.NewSHA1(trigger.ID, []byte("billing/invoice/send")); got != want {
		t.Errorf("CommandID = %s, want %s as before", got, want)
	}
}

// TestIncompleteWorkflowIsRefused: a workflow without React, which would
// panic in the runner's goroutine at its first event and take the
// process down, or without a name, is refused when the runner is made.
func TestIncompleteWorkflowIsRefused(t *testing.T) {
	react := func(context.Context, workflow.Step, chronicle.RecordedEvent) error { return nil }
	for name, wf := range map[string]workflow.Workflow{
		"NoReact": {Name: "orders"},
		"NoName":  {React: react},
	} {
		if _, err := projection.NewRunner(memory.New(nil), nil, wf.Projection()); err == nil {
			t.Errorf("%s: NewRunner succeeded", name)
		}
	}
	if _, err := projection.NewRunner(memory.New(nil), nil, workflow.Workflow{Name: "orders", React: react}.Projection()); err != nil {
		t.Errorf("a complete workflow: %v", err)
	}
}

// TestStepRedeliveredAfterItsStreamWasDeleted: a step that appends its
// own event with chronicle.Any runs again after the stream it wrote to
// was soft-deleted (its process died before its checkpoint, and someone
// deleted the stream meanwhile). The redelivery must not bring the
// stream back with the step's event a second time: the step was done.
func TestStepRedeliveredAfterItsStreamWasDeleted(t *testing.T) {
	ctx := context.Background()
	for name, s := range map[string]interface {
		chronicle.Store
		chronicle.Deleter
	}{
		"memory": memory.New(nil),
		"sqlite": openStore(t, filepath.Join(t.TempDir(), "events.db")),
	} {
		t.Run(name, func(t *testing.T) {
			res, err := s.Append(ctx, "stock-1", chronicle.NoStream, chronicle.EventData{Type: "StockReserved", Data: []byte(`{"order":"1"}`)})
			if err != nil {
				t.Fatal(err)
			}
			var trigger chronicle.RecordedEvent
			for e, err := range s.ReadStream(ctx, "stock-1", chronicle.ReadStreamOptions{}) {
				if err != nil {
					t.Fatal(err)
				}
				trigger = e
			}
			wf := orderFlow(s)
			step := workflow.Step{Workflow: wf.Name, Trigger: trigger}
			if err := wf.React(ctx, step, trigger); err != nil {
				t.Fatal(err)
			}
			if err := s.Delete(ctx, "shipment-1", chronicle.Any); err != nil {
				t.Fatal(err)
			}
			if err := wf.React(ctx, step, trigger); err != nil {
				t.Fatalf("the step redelivered: %v", err)
			}
			for _, err := range s.ReadStream(ctx, "shipment-1", chronicle.ReadStreamOptions{}) {
				if !errors.Is(err, chronicle.ErrStreamNotFound) {
					t.Fatalf("after the step was redelivered, reading the deleted stream gives %v, want it still deleted", err)
				}
			}
			n := 0
			for e, err := range s.ReadAll(ctx, chronicle.ReadAllOptions{From: res.LastPosition + 1}) {
				if err != nil {
					t.Fatal(err)
				}
				if e.Type == "ShipmentRequested" {
					n++
				}
			}
			if n != 1 {
				t.Fatalf("the log holds %d shipment requests, want 1: the redelivered step did its work again", n)
			}
		})
	}
}

// TestStepAppendRedelivered checks what the package documentation says
// of a step that appends its own events: a redelivery writes nothing when
// its append expects what the first one did, but an exact revision read
// from the stream at each delivery is the revision of the first
// delivery's event, and the append goes ahead. The documentation said any
// expected revision was acknowledged.
func TestStepAppendRedelivered(t *testing.T) {
	ctx := context.Background()
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			for i, tt := range []struct {
				expect func(last uint64) chronicle.ExpectedRevision
				want   int // events the two deliveries leave
			}{
				{func(uint64) chronicle.ExpectedRevision { return chronicle.Any }, 1},
				{func(uint64) chronicle.ExpectedRevision { return chronicle.StreamExists }, 1},
				{func(uint64) chronicle.ExpectedRevision { return chronicle.Exact(0) }, 1},
				{chronicle.Exact, 2}, // read afresh: the first delivery's event
			} {
				stream := fmt.Sprintf("ledger-%d", i)
				res, err := s.Append(ctx, stream, chronicle.NoStream, chronicle.EventData{Type: "Opened"})
				if err != nil {
					t.Fatal(err)
				}
				trigger := chronicle.RecordedEvent{ID: uuid.New(), Stream: "order-1", Type: "OrderPlaced"}
				step := workflow.Step{Workflow: "post", Trigger: trigger}
				for range 2 {
					last := res.LastRevision
					for e, err := range s.ReadStream(ctx, stream, chronicle.ReadStreamOptions{Backwards: true, From: chronicle.End, Limit: 1}) {
						if err != nil {
							t.Fatal(err)
						}
						last = e.Revision
					}
					if _, err := s.Append(ctx, stream, tt.expect(last), chronicle.EventData{ID: step.EventID("post", 0), Type: "Posted"}); err != nil {
						t.Fatal(err)
					}
				}
				n := 0
				for e, err := range s.ReadStream(ctx, stream, chronicle.ReadStreamOptions{}) {
					if err != nil {
						t.Fatal(err)
					}
					if e.Type == "Posted" {
						n++
					}
				}
				if n != tt.want {
					t.Errorf("case %d: two deliveries wrote %d events, want %d", i, n, tt.want)
				}
			}
		})
	}
}

// TestEventIDIsThatOfTheCommandOfTheSameKey checks what EventID's
// documentation says: the events a step appends under a key have the IDs
// of the events of its command of that key, so that one is taken for the
// other in a stream that holds both.
func TestEventIDIsThatOfTheCommandOfTheSameKey(t *testing.T) {
	ctx := context.Background()
	s := memory.New(nil)
	trigger := chronicle.RecordedEvent{ID: uuid.New(), Stream: "order-1", Type: "OrderPlaced"}
	step := workflow.Step{Workflow: "fulfil-order", Trigger: trigger}
	codec := chronicle.MustCodec[stockEvent](chronicle.JSON[StockReserved]("StockReserved"))
	stocks := chronicle.NewRepository(s, codec, stock, nil)
	if _, err := stocks.HandleOnce(ctx, "stock-1", reserve{order: "1"}, step.CommandID("reserve")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, "stock-1", chronicle.Any, chronicle.EventData{ID: step.EventID("reserve", 0), Type: "Noted"}); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, err := range s.ReadStream(ctx, "stock-1", chronicle.ReadStreamOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 1 {
		t.Fatalf("stock-1 holds %d events: the step's own event under the command's key was written", n)
	}
}

// TestTriggersOfOneIDShareStepIDs checks what the documentation says of
// a step that appends to several streams under one key: its events share
// an ID, the steps they trigger share their command IDs, and the command
// of the second on the stream that holds the first one's is skipped. With
// a key for each stream, as EventID's documentation advises, each runs.
func TestTriggersOfOneIDShareStepIDs(t *testing.T) {
	ctx := context.Background()
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			// Every reservation is new: the stream of one SKU takes those
			// of many orders.
			sku := stock
			sku.Decide = func(_ bool, c reserve) ([]stockEvent, error) {
				return []stockEvent{StockReserved{Order: c.order}}, nil
			}
			codec := chronicle.MustCodec[stockEvent](chronicle.JSON[StockReserved]("StockReserved"))
			stocks := chronicle.NewRepository(s, codec, sku, nil)
			checkout := workflow.Step{Workflow: "checkout", Trigger: chronicle.RecordedEvent{ID: uuid.New(), Stream: "cart-1"}}
			for i, key := range []func(order string) string{
				func(string) string { return "place" },
				func(order string) string { return "place/" + order },
			} {
				orders := []string{fmt.Sprintf("order-%d-a", i), fmt.Sprintf("order-%d-b", i)}
				var placed []chronicle.RecordedEvent
				for _, order := range orders {
					res, err := s.Append(ctx, order, chronicle.NoStream, chronicle.EventData{ID: checkout.EventID(key(order), 0), Type: "OrderPlaced", Data: []byte(`{}`)})
					if err != nil {
						t.Fatal(err)
					}
					for e, err := range s.ReadAll(ctx, chronicle.ReadAllOptions{From: res.FirstPosition, Limit: 1}) {
						if err != nil {
							t.Fatal(err)
						}
						placed = append(placed, e)
					}
				}
				stream := fmt.Sprintf("sku-%d", i)
				var duplicates []bool
				for _, e := range placed {
					step := workflow.Step{Workflow: "reserve", Trigger: e}
					out, err := stocks.HandleOnce(ctx, stream, reserve{order: e.Stream}, step.CommandID("reserve"))
					if err != nil {
						t.Fatal(err)
					}
					duplicates = append(duplicates, out.Duplicate)
				}
				shared := placed[0].ID == placed[1].ID
				if want := i == 0; shared != want || duplicates[0] || duplicates[1] != want {
					t.Errorf("keys %q and %q: the orders share their ID: %v, want %v; the reservations are duplicates: %v, want [false %v]",
						key(orders[0]), key(orders[1]), shared, want, duplicates, want)
				}
			}
		})
	}
}

// TestStepRedeliveredAfterItsStreamWasTombstoned checks what the package
// documentation says of a step redelivered after the stream it wrote to
// was tombstoned: its append fails with ErrStreamDeleted, as any append
// to the stream does, and the workflow stops at the step, though the
// step was done.
func TestStepRedeliveredAfterItsStreamWasTombstoned(t *testing.T) {
	ctx := context.Background()
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			if _, err := s.Append(ctx, "stock-1", chronicle.NoStream, chronicle.EventData{Type: "StockReserved", Data: []byte(`{"order":"1"}`)}); err != nil {
				t.Fatal(err)
			}
			wf := orderFlow(s)
			first, err := projection.NewRunner(s, nil, wf.Projection())
			if err != nil {
				t.Fatal(err)
			}
			if err := first.CatchUp(ctx); err != nil {
				t.Fatal(err)
			}
			for _, err := range s.ReadStream(ctx, "shipment-1", chronicle.ReadStreamOptions{}) {
				if err != nil {
					t.Fatalf("the step was not done: %v", err)
				}
			}
			if err := s.(chronicle.Deleter).Tombstone(ctx, "shipment-1", chronicle.Any); err != nil {
				t.Fatal(err)
			}
			// The checkpoint was lost (the memory store keeps it in the
			// runner), or never saved: the step is delivered again.
			if name == "sqlite" {
				if err := s.(*sqlite.Store).Update(ctx, func(tx *sql.Tx) error {
					_, err := tx.ExecContext(ctx, "DELETE FROM chronicle_checkpoints")
					return err
				}); err != nil {
					t.Fatal(err)
				}
			}
			again, err := projection.NewRunner(s, &projection.Options{Retries: -1}, wf.Projection())
			if err != nil {
				t.Fatal(err)
			}
			err = again.CatchUp(ctx)
			var stopped *projection.Error
			if !errors.As(err, &stopped) || !errors.Is(err, chronicle.ErrStreamDeleted) || stopped.Event.Stream != "stock-1" {
				t.Fatalf("the step redelivered after its stream was tombstoned: CatchUp = %v, want the workflow stopped at it with ErrStreamDeleted", err)
			}
		})
	}
}
