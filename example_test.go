package chronicle_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/memory"
)

// Append events to a stream and read them back.
func Example() {
	ctx := context.Background()
	store := memory.New(nil)

	// A new stream: expect that it does not exist yet.
	res, err := store.Append(ctx, "order-1", chronicle.NoStream,
		chronicle.EventData{Type: "OrderPlaced", Data: []byte(`{"item":"tea","qty":2}`)},
		chronicle.EventData{Type: "OrderPaid", Data: []byte(`{"amount":8}`)},
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	// The next append expects the stream where this one left it.
	_, err = store.Append(ctx, "order-1", res.NextExpected(),
		chronicle.EventData{Type: "OrderShipped", Data: []byte(`{}`)})
	if err != nil {
		fmt.Println(err)
		return
	}

	for e, err := range store.ReadStream(ctx, "order-1", chronicle.ReadStreamOptions{}) {
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(e.Revision, e.Type, string(e.Data))
	}

	// The last event only: read backwards from the end.
	for e, err := range store.ReadStream(ctx, "order-1", chronicle.ReadStreamOptions{Backwards: true, From: chronicle.End, Limit: 1}) {
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println("last:", e.Type)
	}

	// A stream without events is not found, rather than empty.
	for _, err := range store.ReadStream(ctx, "order-2", chronicle.ReadStreamOptions{}) {
		fmt.Println(errors.Is(err, chronicle.ErrStreamNotFound))
	}
	// Output:
	// 0 OrderPlaced {"item":"tea","qty":2}
	// 1 OrderPaid {"amount":8}
	// 2 OrderShipped {}
	// last: OrderShipped
	// true
}

// Read the global log: every stream's events in commit order, optionally
// filtered.
func ExampleStore_ReadAll() {
	ctx := context.Background()
	store := memory.New(nil)
	store.Append(ctx, "order-1", chronicle.Any, chronicle.EventData{Type: "OrderPlaced"})
	store.Append(ctx, "user-7", chronicle.Any, chronicle.EventData{Type: "UserRegistered"})
	store.Append(ctx, "order-2", chronicle.Any, chronicle.EventData{Type: "OrderPlaced"})
	store.Append(ctx, "order-1", chronicle.Any, chronicle.EventData{Type: "OrderPaid"})

	for e, err := range store.ReadAll(ctx, chronicle.ReadAllOptions{}) {
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(e.Position, e.Stream, e.Revision, e.Type)
	}

	fmt.Println("orders only:")
	orders := chronicle.ReadAllOptions{Filter: chronicle.Filter{Categories: []string{"order"}}}
	for e, err := range store.ReadAll(ctx, orders) {
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(e.Position, e.Stream, e.Type)
	}
	// Output:
	// 1 order-1 0 OrderPlaced
	// 2 user-7 0 UserRegistered
	// 3 order-2 0 OrderPlaced
	// 4 order-1 1 OrderPaid
	// orders only:
	// 1 order-1 OrderPlaced
	// 3 order-2 OrderPlaced
	// 4 order-1 OrderPaid
}

// Subscribe to the global log: first the events already stored, then new
// ones as they commit, until the context ends.
func ExampleStore_Subscribe() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	store := memory.New(nil)
	store.Append(ctx, "order-1", chronicle.Any, chronicle.EventData{Type: "OrderPlaced"})
	store.Append(ctx, "user-7", chronicle.Any, chronicle.EventData{Type: "UserRegistered"})

	// Another part of the program places an order while we listen.
	go store.Append(ctx, "order-2", chronicle.Any, chronicle.EventData{Type: "OrderPlaced"})

	opts := chronicle.SubscribeOptions{Filter: chronicle.Filter{Types: []string{"OrderPlaced"}}}
	for e, err := range store.Subscribe(ctx, opts) {
		if err != nil {
			// The sequence ends with the context's error.
			fmt.Println("stopped:", err)
			break
		}
		fmt.Println(e.Position, e.Stream, e.Type)
		if e.Stream == "order-2" {
			cancel() // seen enough; a real subscriber runs until shutdown
		}
	}
	// Output:
	// 1 order-1 OrderPlaced
	// 3 order-2 OrderPlaced
	// stopped: context canceled
}

// A counter as an aggregate: a Decider says which events a command
// causes, a Codec stores them, and a Repository runs commands against a
// stream, retrying when another writer got there first.
func ExampleRepository() {
	// The command, the event and an error of the domain.
	type Add struct{ N int }
	type Added struct {
		N int `json:"n"`
	}
	errTooMuch := errors.New("the counter cannot go above 10")

	counter := chronicle.Decider[int, Add, Added]{
		Decide: func(total int, cmd Add) ([]Added, error) {
			if total+cmd.N > 10 {
				return nil, errTooMuch
			}
			return []Added{{N: cmd.N}}, nil
		},
		Evolve: func(total int, e Added) int { return total + e.N },
	}
	codec := chronicle.MustCodec[Added](chronicle.JSON[Added]("Added"))

	ctx := context.Background()
	store := memory.New(nil)
	repo := chronicle.NewRepository(store, codec, counter, nil)

	for _, n := range []int{3, 4, 5} {
		out, err := repo.Handle(ctx, "counter-1", Add{N: n})
		if errors.Is(err, errTooMuch) {
			fmt.Printf("add %d: refused: %v\n", n, err)
			continue
		}
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("add %d: total %d at revision %v\n", n, out.State, out.Revision)
	}

	total, rev, err := repo.Load(ctx, "counter-1")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("loaded: total %d at revision %v\n", total, rev)

	for e, err := range store.ReadStream(ctx, "counter-1", chronicle.ReadStreamOptions{}) {
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(e.Revision, e.Type, string(e.Data))
	}
	// Output:
	// add 3: total 3 at revision 0
	// add 4: total 7 at revision 1
	// add 5: refused: the counter cannot go above 10
	// loaded: total 7 at revision 1
	// 0 Added {"n":3}
	// 1 Added {"n":4}
}

// A command that starts a stream under a new name need not read it
// first. HandleNew decides on the initial state and appends expecting no
// stream; when that does not simply succeed (the stream exists, or the
// decider refuses the command on the initial state), it loads the stream
// and decides again, as Handle would.
func ExampleRepository_HandleNew() {
	type Open struct{ Owner string }
	type Opened struct {
		Owner string `json:"owner"`
	}
	errOpen := errors.New("the account is already open")

	// An account's state is its owner, "" until it is opened.
	accounts := chronicle.Decider[string, Open, Opened]{
		Decide: func(owner string, cmd Open) ([]Opened, error) {
			if owner != "" {
				return nil, errOpen
			}
			return []Opened{{Owner: cmd.Owner}}, nil
		},
		Evolve: func(_ string, e Opened) string { return e.Owner },
	}
	codec := chronicle.MustCodec[Opened](chronicle.JSON[Opened]("Opened"))

	ctx := context.Background()
	repo := chronicle.NewRepository(memory.New(nil), codec, accounts, nil)

	out, err := repo.HandleNew(ctx, "account-1", Open{Owner: "ann"})
	fmt.Printf("opened for %s at revision %v, err %v\n", out.State, out.Revision, err)

	// The stream exists: the append expecting none is refused, and the
	// decider, on the state loaded, refuses the command.
	_, err = repo.HandleNew(ctx, "account-1", Open{Owner: "bob"})
	fmt.Println(err)
	// Output:
	// opened for ann at revision 0, err <nil>
	// the account is already open
}

// Two writers decide from the same revision; the second append is
// refused, and errors.As tells where the stream really is.
func ExampleWrongExpectedRevisionError() {
	ctx := context.Background()
	store := memory.New(nil)
	store.Append(ctx, "account-1", chronicle.NoStream, chronicle.EventData{Type: "AccountOpened"})

	// Both writers read the stream at revision 0.
	expected := chronicle.Exact(0)
	_, err := store.Append(ctx, "account-1", expected, chronicle.EventData{Type: "MoneyDeposited"})
	fmt.Println("first writer:", err)
	_, err = store.Append(ctx, "account-1", expected, chronicle.EventData{Type: "MoneyWithdrawn"})

	fmt.Println("second writer conflicts:", errors.Is(err, chronicle.ErrWrongExpectedRevision))
	var wrong *chronicle.WrongExpectedRevisionError
	if errors.As(err, &wrong) {
		fmt.Printf("stream %s: expected %v, actual %v\n", wrong.Stream, wrong.Expected, wrong.Actual)
	}

	// Creating a stream that exists conflicts too.
	_, err = store.Append(ctx, "account-1", chronicle.NoStream, chronicle.EventData{Type: "AccountOpened"})
	if errors.As(err, &wrong) {
		fmt.Printf("stream %s: expected %v, actual %v\n", wrong.Stream, wrong.Expected, wrong.Actual)
	}
	// Output:
	// first writer: <nil>
	// second writer conflicts: true
	// stream account-1: expected 0, actual 1
	// stream account-1: expected no stream, actual 1
}

// Events caused by other events carry the chain's correlation ID and
// their cause's ID, for tracing a request through the system.
func ExampleCausedBy() {
	ctx := context.Background()
	store := memory.New(nil)
	placed := chronicle.EventData{Type: "OrderPlaced", Metadata: chronicle.Metadata{}.WithCorrelationID("request-42")}
	store.Append(ctx, "order-1", chronicle.NoStream, placed)

	for e, err := range store.ReadStream(ctx, "order-1", chronicle.ReadStreamOptions{}) {
		if err != nil {
			fmt.Println(err)
			return
		}
		// A process manager reacts to OrderPlaced with a command whose
		// events it marks as caused by it.
		md := chronicle.CausedBy(e)
		fmt.Println(md.CorrelationID(), md.CausationID() == e.ID.String())
	}
	// Output:
	// request-42 true
}
