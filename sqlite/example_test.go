package sqlite_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/sqlite"
)

func ExampleOpen() {
	dir, _ := os.MkdirTemp("", "chronicle-example")
	defer os.RemoveAll(dir)
	ctx := context.Background()

	store, err := sqlite.Open(ctx, filepath.Join(dir, "events.db"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	_, err = store.Append(ctx, "game-1", chronicle.NoStream,
		chronicle.EventData{Type: "GameStarted", Data: []byte(`{"player_one":"ada","player_two":"alan"}`)},
		chronicle.EventData{Type: "MoveMade", Data: []byte(`{"player":"ada","column":"D"}`)})
	if err != nil {
		log.Fatal(err)
	}
	for e, err := range store.ReadStream(ctx, "game-1", chronicle.ReadStreamOptions{}) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(e.Revision, e.Type, string(e.Data))
	}
	// Output:
	// 0 GameStarted {"player_one":"ada","player_two":"alan"}
	// 1 MoveMade {"player":"ada","column":"D"}
}
