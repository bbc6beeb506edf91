package connectfour_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/chronicle-es/chronicle"
	cf "github.com/chronicle-es/chronicle/examples/connectfour"
	"github.com/chronicle-es/chronicle/internal/pgtest"
	"github.com/chronicle-es/chronicle/memory"
	"github.com/chronicle-es/chronicle/projection"
	"github.com/chronicle-es/chronicle/projection/projectiontest"
	"github.com/chronicle-es/chronicle/sqlite"
)

func projectionNamed(t *testing.T, name string) projection.Projection {
	t.Helper()
	for _, p := range cf.Projections() {
		if p.Name == name {
			return p
		}
	}
	t.Fatalf("no projection %q", name)
	return projection.Projection{}
}

const (
	game1 = "game-6f1d0e4c-0d6b-4d6c-9a37-2f8e8c1b1a01"
	game2 = "game-6f1d0e4c-0d6b-4d6c-9a37-2f8e8c1b1a02"
	game3 = "game-6f1d0e4c-0d6b-4d6c-9a37-2f8e8c1b1a03"
)

// givenGames stores three games: alice beats bob, bob and carol tie, and
// carol and alice have just started.
func givenGames(fx *projectiontest.Fixture) *projectiontest.Fixture {
	fx.GivenJSON(game1, "GameStarted", map[string]string{"player_one": "alice", "player_two": "bob"})
	fx.GivenJSON(game2, "GameStarted", map[string]string{"player_one": "bob", "player_two": "carol"})
	for i := range 7 {
		fx.GivenJSON(game1, "MoveMade", map[string]string{"player": []string{"alice", "bob"}[i%2], "column": "A"})
	}
	fx.GivenJSON(game1, "GameFinished", map[string]string{"result": "PLAYER_ONE_WON"})
	fx.GivenJSON(game2, "GameFinished", map[string]string{"result": "TIED"})
	fx.GivenJSON(game3, "GameStarted", map[string]string{"player_one": "carol", "player_two": "alice"})
	fx.GivenJSON("gamebox-1", "GameStarted", map[string]string{"player_one": "not", "player_two": "a game"})
	return fx
}

func TestGamesReadModel(t *testing.T) {
	givenGames(projectiontest.New(t, projectionNamed(t, cf.GamesProjection))).
		ThenRows(`SELECT id, player_one, player_two, moves, result FROM connectfour_games ORDER BY id`, [][]any{
			{game1[5:], "alice", "bob", 7, "PLAYER_ONE_WON"},
			{game2[5:], "bob", "carol", 0, "TIED"},
			{game3[5:], "carol", "alice", 0, ""},
		})
}

func TestLeaderboardReadModel(t *testing.T) {
	givenGames(projectiontest.New(t, projectionNamed(t, cf.LeaderboardProjection))).
		ThenRows(`SELECT name, games, wins, losses, ties FROM connectfour_players ORDER BY name`, [][]any{
			{"alice", 2, 1, 0, 0},
			{"bob", 2, 0, 1, 1},
			{"carol", 2, 0, 0, 1},
		})
}

// leaderboardStores returns new stores of every kind: the embedded store
// and PostgreSQL (when CHRONICLE_POSTGRES_URL is set), where the
// leaderboard is a read model, and the memory store, where it is
// computed from the log.
func leaderboardStores(t *testing.T) []chronicle.Store {
	t.Helper()
	lite, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "c.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lite.Close() })
	stores := []chronicle.Store{memory.New(nil), lite}
	if os.Getenv(pgtest.Env) != "" {
		stores = append(stores, pgtest.Open(t))
	} else {
		t.Log(pgtest.Env + " is not set: the leaderboard is not checked on PostgreSQL")
	}
	return stores
}

// TestLeaderboardOnEveryStore plays the same games on the embedded store
// and on PostgreSQL (when CHRONICLE_POSTGRES_URL is set), where the
// leaderboard is a read model, and on the memory store, where it is
// computed from the log: all must agree.
func TestLeaderboardOnEveryStore(t *testing.T) {
	ctx := context.Background()
	var boards [][]cf.PlayerStats
	for _, store := range leaderboardStores(t) {
		svc := cf.NewService(store)
		play := func(one, two, moves string) {
			id, err := svc.CreateGame(ctx, one, two)
			if err != nil {
				t.Fatal(err)
			}
			for i, c := range moves {
				if _, err := svc.MakeMove(ctx, id, []string{one, two}[i%2], cf.Column(string(c))); err != nil {
					t.Fatal(err)
				}
			}
		}
		play("ann", "bo", "ABABABA")
		play("bo", "cy", "ABABABA")
		play("cy", "ann", "AB")
		play("ann", "cy", "ABABABA")
		board, err := svc.Leaderboard(ctx)
		if err != nil {
			t.Fatal(err)
		}
		boards = append(boards, board)
	}
	want := []cf.PlayerStats{
		{Name: "ann", Games: 3, Wins: 2},
		{Name: "bo", Games: 2, Wins: 1, Losses: 1},
		{Name: "cy", Games: 3, Losses: 2},
	}
	for i, b := range boards {
		if !slices.Equal(b, want) {
			t.Fatalf("leaderboard on store %d = %+v, want %+v", i, b, want)
		}
	}
}

// TestLeaderboardSamePlayers reads games that old versions of the
// tutorial stored, before it refused two players of the same name
// (REFERENCE.md): each counts once among that player's games, on every
// store, as a read model and from the log. Such a game counted twice. A
// game against oneself that one player won is as much lost: it counts as
// neither; a tie counts once.
func TestLeaderboardSamePlayers(t *testing.T) {
	ctx := context.Background()
	for i, store := range leaderboardStores(t) {
		for stream, events := range map[string][]string{
			game1: {`{"player_one": "dora", "player_two": "dora"}`, `{"result": "PLAYER_ONE_WON"}`},
			game2: {`{"player_one": "dora", "player_two": "dora"}`, `{"result": "TIED"}`},
			game3: {`{"player_one": "dora", "player_two": "dora"}`},
			"game-6f1d0e4c-0d6b-4d6c-9a37-2f8e8c1b1a04": {`{"player_one": "dora", "player_two": "eve"}`, `{"result": "PLAYER_TWO_WON"}`},
		} {
			for j, data := range events {
				typ := []string{cf.TypeGameStarted, cf.TypeGameFinished}[j]
				if _, err := store.Append(ctx, stream, chronicle.Any, chronicle.EventData{Type: typ, Data: []byte(data)}); err != nil {
					t.Fatal(err)
				}
			}
		}
		board, err := cf.NewService(store).Leaderboard(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := []cf.PlayerStats{
			{Name: "eve", Games: 1, Wins: 1},
			{Name: "dora", Games: 4, Losses: 1, Ties: 1},
		}
		if !slices.Equal(board, want) {
			t.Errorf("leaderboard on store %d = %+v, want %+v", i, board, want)
		}
	}
}

// TestReadModelsTakeGamesThatBrokeTheRules lists and ranks games next to
// two that no service of this package writes, on every store: one whose
// history was appended twice, as the Python tutorial's third exercise
// does before its fix (a second GameStarted, of the same players), and
// one whose start is no longer stored, as after retention metadata and a
// scavenge removed a finished game's first events. Evolve takes both, so
// the read models must too: a projection that stops on either stops
// ListGames and Leaderboard for every game of the store, for good. The
// game without its start names no players: it is neither listed nor
// ranked.
func TestReadModelsTakeGamesThatBrokeTheRules(t *testing.T) {
	ctx := context.Background()
	for i, store := range leaderboardStores(t) {
		svc := cf.NewService(store)
		won, err := svc.CreateGame(ctx, "ann", "bo")
		if err != nil {
			t.Fatal(err)
		}
		for j, c := range "ABABABA" {
			if _, err := svc.MakeMove(ctx, won, []string{"ann", "bo"}[j%2], cf.Column(string(c))); err != nil {
				t.Fatal(err)
			}
		}
		start := chronicle.EventData{Type: cf.TypeGameStarted, Data: []byte(`{"player_one": "cy", "player_two": "dee"}`)}
		moveA := chronicle.EventData{Type: cf.TypeMoveMade, Data: []byte(`{"player": "cy", "column": "A"}`)}
		twice := []chronicle.EventData{start, moveA, start, moveA,
			{Type: cf.TypeMoveMade, Data: []byte(`{"player": "dee", "column": "B"}`)}}
		if _, err := store.Append(ctx, game2, chronicle.NoStream, twice...); err != nil {
			t.Fatal(err)
		}
		headless := []chronicle.EventData{moveA, {Type: cf.TypeGameFinished, Data: []byte(`{"result": "TIED"}`)}}
		if _, err := store.Append(ctx, game3, chronicle.NoStream, headless...); err != nil {
			t.Fatal(err)
		}

		games, err := svc.ListGames(ctx)
		if err != nil {
			t.Fatalf("store %d: ListGames: %v", i, err)
		}
		var listed []string
		for _, g := range games {
			listed = append(listed, fmt.Sprintf("%s %s-%s %d %s", g.ID, g.Game.PlayerOne, g.Game.PlayerTwo, g.Game.Moves, g.Game.Result))
		}
		want := []string{game2[5:] + " cy-dee 3 ", won.String() + " ann-bo 7 PLAYER_ONE_WON"}
		if !slices.Equal(listed, want) {
			t.Errorf("store %d: ListGames = %q, want %q", i, listed, want)
		}
		board, err := svc.Leaderboard(ctx)
		if err != nil {
			t.Fatalf("store %d: Leaderboard: %v", i, err)
		}
		wantBoard := []cf.PlayerStats{
			{Name: "ann", Games: 1, Wins: 1},
			{Name: "cy", Games: 1},
			{Name: "dee", Games: 1},
			{Name: "bo", Games: 1, Losses: 1},
		}
		if !slices.Equal(board, wantBoard) {
			t.Errorf("store %d: Leaderboard = %+v, want %+v", i, board, wantBoard)
		}
	}
}

// TestLeaderboardTakesAResultItDoesNotKnow ranks a game that ended with a
// result that is none of the three this version knows, as a newer version
// or another program may write: Evolve takes it, so the read model must,
// rather than stop the leaderboard of every game; and it is neither a
// win, a loss nor a tie of either player, on every store alike.
func TestLeaderboardTakesAResultItDoesNotKnow(t *testing.T) {
	ctx := context.Background()
	for i, store := range leaderboardStores(t) {
		events := []chronicle.EventData{
			{Type: cf.TypeGameStarted, Data: []byte(`{"player_one": "ann", "player_two": "bo"}`)},
			{Type: cf.TypeGameFinished, Data: []byte(`{"result": "ABANDONED"}`)},
		}
		if _, err := store.Append(ctx, game1, chronicle.NoStream, events...); err != nil {
			t.Fatal(err)
		}
		board, err := cf.NewService(store).Leaderboard(ctx)
		if err != nil {
			t.Fatalf("store %d: Leaderboard: %v", i, err)
		}
		want := []cf.PlayerStats{{Name: "ann", Games: 1}, {Name: "bo", Games: 1}}
		if !slices.Equal(board, want) {
			t.Errorf("store %d: Leaderboard = %+v, want %+v", i, board, want)
		}
	}
}
