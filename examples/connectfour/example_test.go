package connectfour_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/chronicle-es/chronicle"
	cf "github.com/chronicle-es/chronicle/examples/connectfour"
	"github.com/chronicle-es/chronicle/memory"
	"github.com/google/uuid"
)

// Exercise 1 of the tutorial: a command, decided on the state of a game
// without events, gives the event GameStarted. Deciding it again on the
// state that event leads to is refused.
func Example_startTheGame() {
	var game cf.Game // no events yet: the game has not started
	events, err := cf.Decide(game, cf.StartGame{PlayerOne: "alice", PlayerTwo: "bob"})
	fmt.Println(events, err)

	game = cf.Evolve(game, events[0])
	_, err = cf.Decide(game, cf.StartGame{PlayerOne: "carol", PlayerTwo: "dave"})
	fmt.Println(errors.Is(err, cf.ErrAlreadyStarted), err)
	// Output:
	// [{alice bob}] <nil>
	// true this game has already started, between alice and bob
}

// Exercise 2 of the tutorial: the state is rebuilt by folding the past
// events, and a winning move gives two events.
func Example_playTheGame() {
	decider := cf.NewDecider()
	game := decider.Fold(decider.InitialState(),
		cf.GameStarted{PlayerOne: "alice", PlayerTwo: "bob"},
		cf.MoveMade{Player: "alice", Column: "A"},
		cf.MoveMade{Player: "bob", Column: "B"},
		cf.MoveMade{Player: "alice", Column: "A"},
		cf.MoveMade{Player: "bob", Column: "B"},
		cf.MoveMade{Player: "alice", Column: "A"},
		cf.MoveMade{Player: "bob", Column: "B"},
	)
	fmt.Print(game.Board)

	_, err := cf.Decide(game, cf.MakeMove{Player: "bob", Column: "C"})
	fmt.Println(err)

	events, _ := cf.Decide(game, cf.MakeMove{Player: "alice", Column: "A"})
	fmt.Println(events)
	// Output:
	//   A   B   C   D   E   F   G
	// ┌───┬───┬───┬───┬───┬───┬───┐
	// │   │   │   │   │   │   │   │
	// │   │   │   │   │   │   │   │
	// │   │   │   │   │   │   │   │
	// │ X │ O │   │   │   │   │   │
	// │ X │ O │   │   │   │   │   │
	// │ X │ O │   │   │   │   │   │
	// └───┴───┴───┴───┴───┴───┴───┘
	// it is alice's turn, not bob's
	// [{alice A} {PLAYER_ONE_WON}]
}

// Exercise 3 of the tutorial: a repository runs the decider against a
// store. It appends only the new events, and only if nobody appended in
// between.
func Example_persistTheEvents() {
	ctx := context.Background()
	store := memory.New(nil) // or sqlite.Open(ctx, path, nil)
	games := chronicle.NewRepository(store, cf.NewCodec(), cf.NewDecider(), nil)

	stream := cf.StreamName(uuid.MustParse("0b0e1f3c-3a6f-4d6e-9d2a-2f6f0a4f3b11"))
	_, err := games.Handle(ctx, stream, cf.StartGame{PlayerOne: "alice", PlayerTwo: "bob"})
	if err != nil {
		fmt.Println(err)
		return
	}
	out, err := games.Handle(ctx, stream, cf.MakeMove{Player: "alice", Column: "D"})
	fmt.Println(out.State.NextPlayer(), out.Revision, err)

	for e, err := range store.ReadStream(ctx, stream, chronicle.ReadStreamOptions{}) {
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(e.Stream, e.Revision, e.Type, string(e.Data))
	}
	// Output:
	// bob 1 <nil>
	// game-0b0e1f3c-3a6f-4d6e-9d2a-2f6f0a4f3b11 0 GameStarted {"player_one":"alice","player_two":"bob"}
	// game-0b0e1f3c-3a6f-4d6e-9d2a-2f6f0a4f3b11 1 MoveMade {"player":"alice","column":"D"}
}

// The service is what a user interface calls. Two moves made at once
// never both apply: the second is decided again on the game after the
// first, and refused.
func ExampleService() {
	ctx := context.Background()
	svc := cf.NewService(memory.New(nil))
	id, _ := svc.CreateGame(ctx, "alice", "bob")

	game, err := svc.MakeMove(ctx, id, "alice", "D")
	fmt.Println(game.NextPlayer(), err)

	_, err = svc.MakeMove(ctx, id, "alice", "E") // alice again, from another window
	fmt.Println(errors.Is(err, cf.ErrNotYourTurn))
	// Output:
	// bob <nil>
	// true
}
