package projection_test

import (
	"context"
	"database/sql"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/projection"
	"github.com/chronicle-es/chronicle/sqlite"
)

// A read model in the store's own database: the number of moves of each
// game, kept by a projection whose writes commit with its checkpoint.
func ExampleRunner() {
	dir, _ := os.MkdirTemp("", "chronicle-example")
	defer os.RemoveAll(dir)
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(dir, "events.db"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	moves := projection.Projection{
		Name:   "moves",
		Filter: chronicle.Filter{Categories: []string{"game"}, Types: []string{"MoveMade"}},
		Setup: func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS moves (game TEXT PRIMARY KEY, n INTEGER NOT NULL)`)
			return err
		},
		Apply: func(ctx context.Context, tx *sql.Tx, e chronicle.RecordedEvent) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO moves VALUES (?, 1) ON CONFLICT (game) DO UPDATE SET n = n + 1`, e.Stream)
			return err
		},
		Reset: func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `DELETE FROM moves`)
			return err
		},
	}
	runner, err := projection.NewRunner(store, nil, moves)
	if err != nil {
		log.Fatal(err)
	}

	for _, stream := range []string{"game-1", "game-2", "game-1"} {
		if _, err := store.Append(ctx, stream, chronicle.Any, chronicle.EventData{Type: "MoveMade"}); err != nil {
			log.Fatal(err)
		}
	}
	if err := runner.CatchUp(ctx); err != nil {
		log.Fatal(err)
	}
	err = store.View(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT game, n FROM moves ORDER BY game`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var game string
			var n int
			if err := rows.Scan(&game, &n); err != nil {
				return err
			}
			fmt.Println(game, n)
		}
		return rows.Err()
	})
	if err != nil {
		log.Fatal(err)
	}
	status, _ := runner.Status(ctx)
	fmt.Printf("%s: checkpoint %d, lag %d\n", status[0].Name, status[0].Checkpoint, status[0].Lag)
	// Output:
	// game-1 2
	// game-2 1
	// moves: checkpoint 3, lag 0
}
