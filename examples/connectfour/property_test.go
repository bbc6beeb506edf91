package connectfour_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"testing"

	cf "github.com/chronicle-es/chronicle/examples/connectfour"
	"github.com/chronicle-es/chronicle/memory"
	"github.com/google/uuid"
)

// TestRandomGames plays random games, some legal moves and some not,
// through the service, and checks after every command that no invariant
// of the game breaks and that the state rebuilt from the store equals
// the state the service returned. The seeds are fixed so that a failure
// is reproducible: the failing seed is in the subtest's name.
func TestRandomGames(t *testing.T) {
	games := 300
	if testing.Short() {
		games = 50
	}
	ctx := context.Background()
	store := memory.New(nil)
	svc := cf.NewService(store)
	for seed := range uint64(games) {
		rng := rand.New(rand.NewPCG(seed, 0xc0ffee))
		id, err := svc.CreateGame(ctx, "alice", "bob")
		if err != nil {
			t.Fatal(err)
		}
		live, err := svc.GetGame(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		for step := 0; !live.Finished(); step++ {
			if step > 10*cf.Cells {
				t.Fatalf("seed %d: game not over after %d commands", seed, step)
			}
			player, col := randomCommand(rng, live)
			next, err := svc.MakeMove(ctx, id, player, col)
			legal := player == live.NextPlayer() && validColumn(col) && live.Board.Height(mustIndex(col)) < cf.Rows
			switch {
			case legal && err != nil:
				t.Fatalf("seed %d: legal move %s %s refused: %v", seed, player, col, err)
			case !legal && err == nil:
				t.Fatalf("seed %d: illegal move %s %s accepted on\n%s", seed, player, col, live.Board)
			case !legal:
				var rule *cf.RuleError
				if !errors.As(err, &rule) {
					t.Fatalf("seed %d: refusal is not a *RuleError: %v", seed, err)
				}
				if next != live {
					t.Fatalf("seed %d: a refused move changed the game", seed)
				}
			}
			if legal {
				checkMove(t, seed, live, next, col)
			}
			live = next
			checkInvariants(t, seed, live)
			checkRebuilt(t, seed, svc, id, live)
		}
		if _, err := svc.MakeMove(ctx, id, "alice", "A"); !errors.Is(err, cf.ErrGameOver) {
			t.Fatalf("seed %d: move after the end: error = %v, want ErrGameOver", seed, err)
		}
	}
}

// randomCommand mostly plays the right player into a random column, and
// sometimes tries what the rules refuse.
func randomCommand(rng *rand.Rand, g cf.Game) (string, cf.Column) {
	player, col := g.NextPlayer(), cf.ColumnAt(rng.IntN(cf.Columns))
	switch rng.IntN(20) {
	case 0:
		player = g.PlayerOne
		if g.NextPlayer() == g.PlayerOne {
			player = g.PlayerTwo
		}
	case 1:
		player = "mallory"
	case 2:
		col = []cf.Column{"", "H", "a", "AA", "0"}[rng.IntN(5)]
	}
	return player, col
}

func validColumn(c cf.Column) bool { _, ok := c.Index(); return ok }

func mustIndex(c cf.Column) int { i, _ := c.Index(); return i }

// checkMove checks what one legal move did.
func checkMove(t *testing.T, seed uint64, before, after cf.Game, col cf.Column) {
	t.Helper()
	i := mustIndex(col)
	want := before.Board
	want[before.Board.Height(i)][i] = before.TokenOf(before.NextPlayer())
	if after.Board != want || after.Moves != before.Moves+1 {
		t.Fatalf("seed %d: move into %s gave\n%s, want\n%s", seed, col, after.Board, want)
	}
	if after.LastMove != (cf.Cell{Column: i, Row: before.Board.Height(i)}) {
		t.Fatalf("seed %d: LastMove = %v after a move into %s", seed, after.LastMove, col)
	}
}

// checkInvariants checks what holds of every game, however it was played.
func checkInvariants(t *testing.T, seed uint64, g cf.Game) {
	t.Helper()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("seed %d: "+format+"\n%s", append([]any{seed}, append(args, g.Board)...)...)
	}
	red, yellow := 0, 0
	for col := range cf.Columns {
		h := g.Board.Height(col)
		for row := range cf.Rows {
			switch tok := g.Board.At(col, row); {
			case tok == cf.Empty && row < h, tok != cf.Empty && row >= h:
				fail("column %s has a hole at row %d: tokens must fall", cf.ColumnAt(col), row)
			case tok == cf.Red:
				red++
			case tok == cf.Yellow:
				yellow++
			}
		}
	}
	if red+yellow != g.Moves || red-yellow < 0 || red-yellow > 1 {
		fail("%d red and %d yellow tokens after %d moves", red, yellow, g.Moves)
	}
	redWins, yellowWins := hasFour(g.Board, cf.Red), hasFour(g.Board, cf.Yellow)
	if redWins && yellowWins {
		fail("both players have four in a row")
	}
	var want cf.Result
	switch {
	case redWins:
		want = cf.PlayerOneWon
	case yellowWins:
		want = cf.PlayerTwoWon
	case g.Moves == cf.Cells:
		want = cf.Tied
	}
	if g.Result != want {
		fail("result = %q, want %q", g.Result, want)
	}
	if g.Finished() != (g.NextPlayer() == "") {
		fail("finished = %v but next player = %q", g.Finished(), g.NextPlayer())
	}
	if w := g.Winner(); w != "" && g.Board.FourInARow(g.TokenOf(w)) == nil {
		fail("winner %s has no four in a row", w)
	}
}

// hasFour looks for four in a row by brute force, independently of the
// package's own search.
func hasFour(b cf.Board, t cf.Token) bool {
	for row := range cf.Rows {
		for col := range cf.Columns {
			for _, d := range [][2]int{{1, 0}, {0, 1}, {1, 1}, {1, -1}} {
				n := 0
				for k := range 4 {
					if b.At(col+k*d[0], row+k*d[1]) == t {
						n++
					}
				}
				if n == 4 {
					return true
				}
			}
		}
	}
	return false
}

// checkRebuilt checks that the game rebuilt from the store is the game
// the service returned.
func checkRebuilt(t *testing.T, seed uint64, svc *cf.Service, id uuid.UUID, live cf.Game) {
	t.Helper()
	rebuilt, err := svc.GetGame(context.Background(), id)
	if err != nil {
		t.Fatalf("seed %d: %v", seed, err)
	}
	if rebuilt != live {
		t.Fatalf("seed %d: rebuilt state\n%+v\ndiffers from live state\n%+v", seed, rebuilt, live)
	}
}
