package connectfour_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chronicle-es/chronicle"
	cf "github.com/chronicle-es/chronicle/examples/connectfour"
	"github.com/chronicle-es/chronicle/internal/pgtest"
	"github.com/chronicle-es/chronicle/internal/sqlitetest"
	"github.com/chronicle-es/chronicle/memory"
	"github.com/chronicle-es/chronicle/projection"
	"github.com/chronicle-es/chronicle/shred"
	"github.com/chronicle-es/chronicle/sqlite"
	"github.com/google/uuid"
)

// stores are the stores the service is tested on. Each test gets a new,
// empty one.
var stores = []struct {
	name string
	open func(t *testing.T) chronicle.Store
}{
	{"memory", func(t *testing.T) chronicle.Store { return memory.New(nil) }},
	{"sqlite", func(t *testing.T) chronicle.Store {
		s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "games.db"), nil)
		if err != nil {
			t.Fatalf("open sqlite store: %v", err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}},
	// The read models run on PostgreSQL too, in a schema of each test's
	// own; without CHRONICLE_POSTGRES_URL these tests skip.
	{"postgres", func(t *testing.T) chronicle.Store { return pgtest.Open(t) }},
}

// TestService runs the service's tests on every store.
func TestService(t *testing.T) {
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) {
			t.Run("WritesTheTutorialsEvents", func(t *testing.T) { testWritesTheTutorialsEvents(t, s.open(t)) })
			t.Run("ReadsPythonEvents", func(t *testing.T) { testReadsPythonEvents(t, s.open(t)) })
			t.Run("RefusedMoveWritesNothing", func(t *testing.T) { testRefusedMoveWritesNothing(t, s.open(t)) })
			t.Run("ConcurrentMoves", func(t *testing.T) { testConcurrentMoves(t, s.open(t)) })
			t.Run("ListGames", func(t *testing.T) { testListGames(t, s.open(t)) })
			t.Run("NotFound", func(t *testing.T) { testNotFound(t, s.open(t)) })
			t.Run("HiddenGame", func(t *testing.T) { testHiddenGame(t, s.open(t)) })
			t.Run("Forget", func(t *testing.T) { testForget(t, s.open(t)) })
			t.Run("OtherSpellingsOfAnID", func(t *testing.T) { testOtherSpellingsOfAnID(t, s.open(t)) })
		})
	}
}

// recorder is a store that remembers the size of every append, to check
// that a move and the end of the game are written together.
type recorder struct {
	chronicle.Store
	mu      sync.Mutex
	appends []int
}

func (r *recorder) Append(ctx context.Context, stream string, expected chronicle.ExpectedRevision, events ...chronicle.EventData) (chronicle.AppendResult, error) {
	res, err := r.Store.Append(ctx, stream, expected, events...)
	if err == nil {
		r.mu.Lock()
		r.appends = append(r.appends, len(events))
		r.mu.Unlock()
	}
	return res, err
}

func mustCreate(t *testing.T, svc *cf.Service, one, two string) uuid.UUID {
	t.Helper()
	id, err := svc.CreateGame(context.Background(), one, two)
	if err != nil {
		t.Fatalf("CreateGame(%q, %q): %v", one, two, err)
	}
	return id
}

// mustPlay makes the moves of cols in game id of alice and bob.
func mustPlay(t *testing.T, svc *cf.Service, id uuid.UUID, cols string) cf.Game {
	t.Helper()
	g, err := svc.GetGame(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cols {
		if g, err = svc.MakeMove(context.Background(), id, g.NextPlayer(), cf.Column(c)); err != nil {
			t.Fatalf("MakeMove %c: %v", c, err)
		}
	}
	return g
}

// written is an event as the test expects to find it in the store.
type written struct {
	Stream   string
	Revision uint64
	Type     string
	Data     string
}

func readAll(t *testing.T, store chronicle.Store) []written {
	t.Helper()
	var got []written
	for rec, err := range store.ReadAll(context.Background(), chronicle.ReadAllOptions{}) {
		if err != nil {
			t.Fatalf("ReadAll: %v", err)
		}
		got = append(got, written{rec.Stream, rec.Revision, rec.Type, string(rec.Data)})
	}
	return got
}

func testWritesTheTutorialsEvents(t *testing.T, store chronicle.Store) {
	rec := &recorder{Store: store}
	svc := cf.NewService(rec)
	id := mustCreate(t, svc, "alice", "bob")
	g := mustPlay(t, svc, id, "ABABABA")
	if g.Result != cf.PlayerOneWon {
		t.Fatalf("result = %q, want %q", g.Result, cf.PlayerOneWon)
	}
	stream := "game-" + id.String()
	want := []written{
		{stream, 0, "GameStarted", `{"player_one":"alice","player_two":"bob"}`},
		{stream, 1, "MoveMade", `{"player":"alice","column":"A"}`},
		{stream, 2, "MoveMade", `{"player":"bob","column":"B"}`},
		{stream, 3, "MoveMade", `{"player":"alice","column":"A"}`},
		{stream, 4, "MoveMade", `{"player":"bob","column":"B"}`},
		{stream, 5, "MoveMade", `{"player":"alice","column":"A"}`},
		{stream, 6, "MoveMade", `{"player":"bob","column":"B"}`},
		{stream, 7, "MoveMade", `{"player":"alice","column":"A"}`},
		{stream, 8, "GameFinished", `{"result":"PLAYER_ONE_WON"}`},
	}
	got := readAll(t, store)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("store holds\n%v\nwant\n%v", got, want)
	}
	// The start and each move are one append; the winning move and the
	// end of the game are one append of two events.
	if want := []int{1, 1, 1, 1, 1, 1, 1, 2}; fmt.Sprint(rec.appends) != fmt.Sprint(want) {
		t.Fatalf("append sizes = %v, want %v", rec.appends, want)
	}
}

// testReadsPythonEvents reads events as the tutorial's Python code writes
// them: json.dumps puts spaces after ':' and ','.
func testReadsPythonEvents(t *testing.T, store chronicle.Store) {
	ctx := context.Background()
	id := uuid.New()
	var events []chronicle.EventData
	for _, e := range []struct{ typ, data string }{
		{"GameStarted", `{"player_one": "alice", "player_two": "bob"}`},
		{"MoveMade", `{"player": "alice", "column": "C"}`},
		{"MoveMade", `{"player": "bob", "column": "C"}`},
	} {
		events = append(events, chronicle.EventData{Type: e.typ, Data: []byte(e.data)})
	}
	if _, err := store.Append(ctx, cf.StreamName(id), chronicle.NoStream, events...); err != nil {
		t.Fatal(err)
	}
	svc := cf.NewService(store)
	g, err := svc.GetGame(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if g.PlayerOne != "alice" || g.PlayerTwo != "bob" || g.Moves != 2 || g.Board.Height(2) != 2 || g.NextPlayer() != "alice" {
		t.Fatalf("game = %+v", g)
	}
	if _, err := svc.MakeMove(ctx, id, "alice", "D"); err != nil {
		t.Fatal(err)
	}
}

func testRefusedMoveWritesNothing(t *testing.T, store chronicle.Store) {
	ctx := context.Background()
	svc := cf.NewService(store)
	id := mustCreate(t, svc, "alice", "bob")
	mustPlay(t, svc, id, "AAAAAA")
	before := len(readAll(t, store))
	for _, tt := range []struct {
		player string
		col    cf.Column
		want   error
	}{
		{"bob", "B", cf.ErrNotYourTurn},
		{"alice", "A", cf.ErrColumnFull},
		{"alice", "Z", cf.ErrInvalidColumn},
	} {
		g, err := svc.MakeMove(ctx, id, tt.player, tt.col)
		if !errors.Is(err, tt.want) {
			t.Fatalf("MakeMove(%s, %s) error = %v, want %v", tt.player, tt.col, err, tt.want)
		}
		if g.Moves != 6 {
			t.Fatalf("MakeMove(%s, %s) returned a game with %d moves, want the 6 it has", tt.player, tt.col, g.Moves)
		}
	}
	if _, err := svc.MakeMove(ctx, uuid.New(), "alice", "A"); !errors.Is(err, cf.ErrNotStarted) {
		t.Fatalf("move in a game that does not exist: error = %v, want ErrNotStarted", err)
	}
	if _, err := svc.CreateGame(ctx, "carol", "CAROL"); !errors.Is(err, cf.ErrSamePlayers) {
		t.Fatalf("CreateGame with one name twice: error = %v, want ErrSamePlayers", err)
	}
	if after := len(readAll(t, store)); after != before {
		t.Fatalf("refused commands wrote %d events", after-before)
	}
}

// barrier is a store whose first n stream reads wait for each other, so
// that n moves are all decided on the same state before any is saved.
type barrier struct {
	chronicle.Store
	n       int32
	reads   atomic.Int32
	arrived chan struct{}
}

func (b *barrier) ReadStream(ctx context.Context, stream string, opts chronicle.ReadStreamOptions) iter.Seq2[chronicle.RecordedEvent, error] {
	switch k := b.reads.Add(1); {
	case k == b.n:
		close(b.arrived)
	case k < b.n:
		<-b.arrived
	}
	return b.Store.ReadStream(ctx, stream, opts)
}

func testConcurrentMoves(t *testing.T, store chronicle.Store) {
	ctx := context.Background()
	id := mustCreate(t, cf.NewService(store), "alice", "bob")
	const n = 6
	svc := cf.NewService(&barrier{Store: store, n: n, arrived: make(chan struct{})})
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			// Alice, in six windows at once, plays six different columns.
			_, errs[i] = svc.MakeMove(ctx, id, "alice", cf.ColumnAt(i))
		})
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, cf.ErrNotYourTurn), errors.Is(err, cf.ErrConcurrentMove):
		default:
			t.Errorf("concurrent move: unexpected error %v", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d of %d concurrent moves applied, want exactly 1 (errors: %v)", ok, n, errs)
	}
	g, err := cf.NewService(store).GetGame(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if g.Moves != 1 || g.NextPlayer() != "bob" {
		t.Fatalf("after concurrent moves the game has %d moves, %s to play; want 1, bob", g.Moves, g.NextPlayer())
	}
}

// conflicted is a store where every append finds that another writer
// came first.
type conflicted struct{ chronicle.Store }

func (c conflicted) Append(ctx context.Context, stream string, expected chronicle.ExpectedRevision, events ...chronicle.EventData) (chronicle.AppendResult, error) {
	return chronicle.AppendResult{}, &chronicle.WrongExpectedRevisionError{Stream: stream, Expected: expected, Actual: chronicle.Exact(99)}
}

func TestMakeMoveGivesUpOnEndlessConflicts(t *testing.T) {
	store := memory.New(nil)
	id := mustCreate(t, cf.NewService(store), "alice", "bob")
	_, err := cf.NewService(conflicted{store}).MakeMove(context.Background(), id, "alice", "A")
	if !errors.Is(err, cf.ErrConcurrentMove) {
		t.Fatalf("error = %v, want ErrConcurrentMove", err)
	}
}

func testListGames(t *testing.T, store chronicle.Store) {
	ctx := context.Background()
	svc := cf.NewService(store)
	first := mustCreate(t, svc, "alice", "bob")
	second := mustCreate(t, svc, "carol", "dave")
	mustPlay(t, svc, first, "ABABABA")
	mustPlay(t, svc, second, "DD")
	// Streams that are not games, or events the service does not know,
	// do not stop the listing.
	for stream, typ := range map[string]string{"game-not-a-uuid": "MoveMade", "chat-1": "Said", cf.StreamName(second): "Renamed"} {
		if _, err := store.Append(ctx, stream, chronicle.Any, chronicle.EventData{Type: typ, Data: []byte(`{}`)}); err != nil {
			t.Fatal(err)
		}
	}
	games, err := svc.ListGames(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(games) != 2 {
		t.Fatalf("ListGames returned %d games, want 2: %+v", len(games), games)
	}
	// The most recently started comes first.
	if games[0].ID != second || games[0].Game.PlayerOne != "carol" || games[0].Game.Moves != 2 || games[0].Game.Finished() {
		t.Errorf("games[0] = %+v, want carol and dave's game, 2 moves, going on", games[0])
	}
	if games[1].ID != first || games[1].Game.Winner() != "alice" || games[1].Game.Moves != 7 {
		t.Errorf("games[1] = %+v, want alice and bob's game, won by alice in 7", games[1])
	}
	for _, g := range games {
		if g.Created.IsZero() || g.Updated.Before(g.Created) {
			t.Errorf("game %s: created %v, updated %v", g.ID, g.Created, g.Updated)
		}
	}
}

func testNotFound(t *testing.T, store chronicle.Store) {
	svc := cf.NewService(store)
	if _, err := svc.GetGame(context.Background(), uuid.New()); !errors.Is(err, cf.ErrGameNotFound) {
		t.Fatalf("GetGame error = %v, want ErrGameNotFound", err)
	}
	if _, err := svc.History(context.Background(), uuid.New()); !errors.Is(err, cf.ErrGameNotFound) {
		t.Fatalf("History error = %v, want ErrGameNotFound", err)
	}
	if games, err := svc.ListGames(context.Background()); err != nil || len(games) != 0 {
		t.Fatalf("ListGames on an empty store = %v, %v", games, err)
	}
}

// testHiddenGame reads a game whose stream's metadata hides every event,
// as "chronicle meta --truncate-before" can: it is not found, by History
// and Replay as by GetGame, rather than a game without events.
func testHiddenGame(t *testing.T, store chronicle.Store) {
	ctx := context.Background()
	svc := cf.NewService(store)
	id := mustCreate(t, svc, "alice", "bob")
	mustPlay(t, svc, id, "DD")
	if err := store.(chronicle.Retention).SetStreamMetadata(ctx, cf.StreamName(id), chronicle.StreamMetadata{TruncateBefore: 10}); err != nil {
		t.Fatal(err)
	}
	if g, err := svc.GetGame(ctx, id); !errors.Is(err, cf.ErrGameNotFound) {
		t.Errorf("GetGame = %+v, %v; want ErrGameNotFound", g, err)
	}
	if events, err := svc.History(ctx, id); !errors.Is(err, cf.ErrGameNotFound) {
		t.Errorf("History = %d events, %v; want ErrGameNotFound", len(events), err)
	}
	if steps, err := svc.Replay(ctx, id); !errors.Is(err, cf.ErrGameNotFound) {
		t.Errorf("Replay = %d steps, %v; want ErrGameNotFound", len(steps), err)
	}
}

func TestReplay(t *testing.T) {
	svc := cf.NewService(memory.New(nil))
	id := mustCreate(t, svc, "alice", "bob")
	live := mustPlay(t, svc, id, "ABABABA")
	steps, err := svc.Replay(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) != 9 || steps[len(steps)-1].Game != live {
		t.Fatalf("Replay gave %d steps ending in %+v, want 9 ending in %+v", len(steps), steps[len(steps)-1].Game, live)
	}
	for i, s := range steps {
		if s.Recorded.Revision != uint64(i) {
			t.Fatalf("step %d is revision %d", i, s.Recorded.Revision)
		}
	}
}

func TestStreamName(t *testing.T) {
	id := uuid.MustParse("0b0e1f3c-3a6f-4d6e-9d2a-2f6f0a4f3b11")
	if got := cf.StreamName(id); got != "game-0b0e1f3c-3a6f-4d6e-9d2a-2f6f0a4f3b11" {
		t.Fatalf("StreamName = %q", got)
	}
	if got, err := cf.ParseStreamName(cf.StreamName(id)); err != nil || got != id {
		t.Fatalf("ParseStreamName = %v, %v", got, err)
	}
	for _, bad := range []string{"game-", "game-42", "chat-0b0e1f3c-3a6f-4d6e-9d2a-2f6f0a4f3b11", ""} {
		if _, err := cf.ParseStreamName(bad); err == nil {
			t.Errorf("ParseStreamName(%q) succeeded", bad)
		}
	}
}

// testOtherSpellingsOfAnID lists games beside streams of the category
// whose names spell a UUID otherwise than StreamName does, as another
// program may write them: in upper case, which the id of a game of ours
// shares, and without dashes. Such a stream is not a game that GetGame
// reads, so the list leaves it out. It listed them under the id they
// spell, which GetGame did not find, and the read model's table refused
// the second stream of one id, which stopped list and stats for good.
func testOtherSpellingsOfAnID(t *testing.T, store chronicle.Store) {
	ctx := context.Background()
	svc := cf.NewService(store)
	id := mustCreate(t, svc, "alice", "bob")
	started := chronicle.EventData{Type: cf.TypeGameStarted, Data: []byte(`{"player_one":"carol","player_two":"dave"}`)}
	for _, stream := range []string{
		cf.Category + "-" + strings.ToUpper(id.String()),
		cf.Category + "-" + strings.ReplaceAll(uuid.NewString(), "-", ""),
	} {
		if _, err := store.Append(ctx, stream, chronicle.NoStream, started); err != nil {
			t.Fatal(err)
		}
	}
	games, err := svc.ListGames(ctx)
	if err != nil {
		t.Fatalf("ListGames: %v", err)
	}
	if len(games) != 1 || games[0].ID != id || games[0].Game.PlayerOne != "alice" {
		t.Fatalf("ListGames = %+v, want only the game of alice and bob, %s", games, id)
	}
	if _, err := svc.Leaderboard(ctx); err != nil {
		t.Fatalf("Leaderboard: %v", err)
	}
	for _, bad := range []string{"game-" + strings.ToUpper(id.String()), "game-" + strings.ReplaceAll(id.String(), "-", "")} {
		if got, err := cf.ParseStreamName(bad); err == nil {
			t.Errorf("ParseStreamName(%q) = %v, want an error: StreamName(%v) is another stream", bad, got, got)
		}
	}
}

// testForget forgets a player of a service with forgettable names: the
// games, their history and the read models must all show the name as
// forgotten, and the other player's name as it was.
func testForget(t *testing.T, store chronicle.Store) {
	ctx := context.Background()
	svc := cf.NewService(store, cf.WithForgettableNames())
	id := mustCreate(t, svc, "Wilhelmina", "bob")
	mustPlay(t, svc, id, "ABABABA")
	if board, err := svc.Leaderboard(ctx); err != nil || len(board) != 2 {
		t.Fatalf("leaderboard before forgetting = %+v, %v", board, err)
	}
	if err := svc.Forget(ctx, "Wilhelmina"); err != nil {
		t.Fatal(err)
	}
	g, err := svc.GetGame(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if g.PlayerOne == "Wilhelmina" || g.PlayerTwo != "bob" || g.Moves != 7 {
		t.Fatalf("after forgetting, the game is %+v", g)
	}
	games, err := svc.ListGames(ctx)
	if err != nil || len(games) != 1 || games[0].Game.PlayerOne == "Wilhelmina" || games[0].Game.PlayerTwo != "bob" {
		t.Fatalf("after forgetting, ListGames = %+v, %v", games, err)
	}
	board, err := svc.Leaderboard(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range board {
		if p.Name == "Wilhelmina" {
			t.Fatalf("after forgetting, the leaderboard still names her: %+v", board)
		}
	}
	// The store underneath never held the name in the clear.
	for e, err := range store.ReadAll(ctx, chronicle.ReadAllOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(e.Data), "Wilhelmina") {
			t.Fatalf("event at %d holds the name in the clear: %s", e.Position, e.Data)
		}
	}
}

// reads counts the streams read from the store it wraps, which keeps
// its database, so that the services over it keep their keys there.
type reads struct {
	projection.TxStore
	n atomic.Int64
}

func (r *reads) ReadStream(ctx context.Context, stream string, opts chronicle.ReadStreamOptions) iter.Seq2[chronicle.RecordedEvent, error] {
	r.n.Add(1)
	return r.TxStore.ReadStream(ctx, stream, opts)
}

// TestMovesStoreNamesAsTheGameStarted plays each kind of game with each
// kind of service in one database: the moves store the players' names as
// the game's first event stored them, whoever makes them. A move that
// the server (WithClearNames) made in a game of the CLI's
// (WithForgettableNames) was stored in the clear, so that forgetting the
// player left her name in that game; a service without keys, as the CLI
// over kurrentdb://, moved in such a game as "[encrypted]", for good.
func TestMovesStoreNamesAsTheGameStarted(t *testing.T) {
	for _, s := range stores {
		if s.name == "memory" {
			continue // no database for the keys, which a CLI keeps in memory there
		}
		t.Run(s.name, func(t *testing.T) {
			ctx := context.Background()
			store := &reads{TxStore: s.open(t).(projection.TxStore)}
			cli := cf.NewService(store, cf.WithForgettableNames())
			server := cf.NewService(store, cf.WithClearNames())
			noKeys := cf.NewService(struct{ chronicle.Store }{store})
			stored := func(id uuid.UUID) []string {
				t.Helper()
				var data []string
				for e, err := range store.TxStore.ReadStream(ctx, cf.StreamName(id), chronicle.ReadStreamOptions{}) {
					if err != nil {
						t.Fatal(err)
					}
					data = append(data, string(e.Data))
				}
				return data
			}

			// The CLI's game, its names encrypted: the server's move is
			// encrypted too, after the one read of its load.
			sealed := mustCreate(t, cli, "alice", "bobby")
			store.n.Store(0)
			if _, err := server.MakeMove(ctx, sealed, "alice", "D"); err != nil {
				t.Fatal(err)
			}
			if n := store.n.Load(); n != 1 {
				t.Errorf("a move read %d streams, want 1: the game's load tells how its names are stored", n)
			}
			mustPlay(t, cli, sealed, "E")
			// Names of five letters or more: a shorter one turns up in the
			// random base64 of a ciphertext now and then.
			for i, data := range stored(sealed) {
				if strings.Contains(data, "alice") || strings.Contains(data, "bobby") {
					t.Errorf("event %d of the CLI's game holds a name in the clear: %s", i, data)
				}
			}
			// A service without keys reads it, and refuses to move in it.
			g, err := noKeys.GetGame(ctx, sealed)
			if err != nil || g.NextPlayer() != shred.Encrypted {
				t.Fatalf("a service without keys reads the CLI's game as %+v, %v", g, err)
			}
			if err := noKeys.CanMove(ctx, sealed); !errors.Is(err, cf.ErrNamesEncrypted) {
				t.Errorf("CanMove without keys in the CLI's game: %v, want ErrNamesEncrypted", err)
			}
			if _, err := noKeys.MakeMove(ctx, sealed, g.NextPlayer(), "D"); !errors.Is(err, cf.ErrNamesEncrypted) {
				t.Errorf("a move without keys in the CLI's game: %v, want ErrNamesEncrypted", err)
			}
			if n := len(stored(sealed)); n != 3 {
				t.Errorf("the CLI's game has %d events after the refused move, want 3", n)
			}
			// Forgetting alice erases her from every event of her game.
			if err := cli.Forget(ctx, "alice"); err != nil {
				t.Fatal(err)
			}
			steps, err := server.Replay(ctx, sealed)
			if err != nil {
				t.Fatal(err)
			}
			if mv, ok := steps[1].Event.(cf.MoveMade); !ok || mv.Player != shred.Forgotten {
				t.Errorf("after forgetting alice, the server's move in her game reads as %+v", steps[1].Event)
			}

			// The server's game, its names in the clear: every move is
			// in the clear, the CLI's too, and a service without keys
			// plays it.
			plain := mustCreate(t, server, "carol", "dave")
			mustPlay(t, cli, plain, "A")
			if err := noKeys.CanMove(ctx, plain); err != nil {
				t.Errorf("CanMove without keys in the server's game: %v", err)
			}
			mustPlay(t, noKeys, plain, "B")
			want := []string{`{"player_one":"carol","player_two":"dave"}`, `{"player":"carol","column":"A"}`, `{"player":"dave","column":"B"}`}
			if got := stored(plain); !slices.Equal(got, want) {
				t.Errorf("the server's game is stored as\n%q\nwant\n%q", got, want)
			}

			// An append through the store of a service that has not
			// loaded the game reads its first event to tell.
			other := mustCreate(t, cli, "erika", "frank")
			move := chronicle.EventData{Type: cf.TypeMoveMade, Data: []byte(`{"player":"erika","column":"C"}`)}
			if _, err := cf.NewService(store, cf.WithClearNames()).Store().Append(ctx, cf.StreamName(other), chronicle.StreamExists, move); err != nil {
				t.Fatal(err)
			}
			if got := stored(other); len(got) != 2 || strings.Contains(got[1], "erika") {
				t.Errorf("an append through the server's store to the CLI's game stored %q", got)
			}
		})
	}
}

// TestForgetWhileReadersUseTheLog: a Forget whose key store could not
// yet erase the key from the disk (another process's reader kept the
// log in use) has still deleted it, and must still take the name out of
// the read models, then say what is left to do.
func TestForgetWhileReadersUseTheLog(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "games.db")
	store, err := sqlite.Open(ctx, path, &sqlite.Options{BusyTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	svc := cf.NewService(store, cf.WithForgettableNames())
	id := mustCreate(t, svc, "Wilhelmina", "bob")
	mustPlay(t, svc, id, "ABABABA")
	if board, err := svc.Leaderboard(ctx); err != nil || len(board) != 2 {
		t.Fatalf("leaderboard before forgetting = %+v, %v", board, err)
	}

	release := sqlitetest.HoldRead(t, path)
	err = svc.Forget(ctx, "Wilhelmina")
	release()
	if !errors.Is(err, shred.ErrKeyOnDisk) {
		t.Fatalf("Forget while a reader used the log = %v, want an error matching shred.ErrKeyOnDisk", err)
	}
	board, err := svc.Leaderboard(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range board {
		if p.Name == "Wilhelmina" {
			t.Fatalf("after a Forget that deleted the key, the leaderboard still names her: %+v", board)
		}
	}
	games, err := svc.ListGames(ctx)
	if err != nil || len(games) != 1 || games[0].Game.PlayerOne == "Wilhelmina" {
		t.Fatalf("after a Forget that deleted the key, ListGames = %+v, %v", games, err)
	}
	if err := svc.Forget(ctx, "Wilhelmina"); err != nil {
		t.Fatalf("Forget again, once the reader is done: %v", err)
	}
}
