package connectfour_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	cf "github.com/chronicle-es/chronicle/examples/connectfour"
)

// started is the first event of every game in these tests.
var started = cf.GameStarted{PlayerOne: "alice", PlayerTwo: "bob"}

// played returns the events of a game started by alice and bob in which
// the players took turns dropping tokens into cols, one letter a move.
// It does not check the rules: tests use it to set a board up.
func played(cols string) []cf.Event {
	events := []cf.Event{started}
	for i, c := range cols {
		events = append(events, cf.MoveMade{Player: playerAt(i), Column: cf.Column(c)})
	}
	return events
}

// playerAt returns who makes move i (from 0) in a game of alice and bob.
func playerAt(i int) string {
	if i%2 == 0 {
		return "alice"
	}
	return "bob"
}

// move is the command for move i (from 0) into col.
func move(i int, col string) cf.MakeMove {
	return cf.MakeMove{Player: playerAt(i), Column: cf.Column(col)}
}

// decide is one given/when/then case: the game's past events, a command,
// and the new events or the refusal expected.
type decide struct {
	name    string
	given   []cf.Event
	when    cf.Command
	then    []cf.Event
	wantErr error
	wantMsg string // a part of the error message, for people
}

func (tt decide) run(t *testing.T) {
	t.Helper()
	state := cf.NewDecider().Fold(cf.Game{}, tt.given...)
	got, err := cf.Decide(state, tt.when)
	if tt.wantErr != nil {
		if !errors.Is(err, tt.wantErr) {
			t.Fatalf("Decide(%#v) error = %v, want %v", tt.when, err, tt.wantErr)
		}
		var rule *cf.RuleError
		if !errors.As(err, &rule) {
			t.Fatalf("Decide(%#v) error %T is not a *RuleError", tt.when, err)
		}
		if !strings.Contains(err.Error(), tt.wantMsg) {
			t.Fatalf("Decide(%#v) error = %q, want it to say %q", tt.when, err, tt.wantMsg)
		}
		if got != nil {
			t.Fatalf("Decide(%#v) refused but emitted %v", tt.when, got)
		}
		return
	}
	if err != nil {
		t.Fatalf("Decide(%#v): %v", tt.when, err)
	}
	if !reflect.DeepEqual(got, tt.then) {
		t.Fatalf("Decide(%#v) = %#v, want %#v", tt.when, got, tt.then)
	}
}

func TestStartGame(t *testing.T) {
	for _, tt := range []decide{
		{name: "OK", when: cf.StartGame{PlayerOne: "alice", PlayerTwo: "bob"},
			then: []cf.Event{started}},
		{name: "NamesTrimmed", when: cf.StartGame{PlayerOne: "  alice ", PlayerTwo: "bob\n"},
			then: []cf.Event{started}},
		{name: "ErrAlreadyStarted", given: []cf.Event{started}, when: cf.StartGame{PlayerOne: "carol", PlayerTwo: "dave"},
			wantErr: cf.ErrAlreadyStarted, wantMsg: "already started, between alice and bob"},
		{name: "ErrAlreadyStartedAfterEnd", given: append(played("ABABABA"), cf.GameFinished{Result: cf.PlayerOneWon}),
			when: cf.StartGame{PlayerOne: "alice", PlayerTwo: "bob"}, wantErr: cf.ErrAlreadyStarted},
		{name: "ErrEmptyName", when: cf.StartGame{PlayerOne: "alice", PlayerTwo: "  "},
			wantErr: cf.ErrInvalidPlayerName, wantMsg: "needs a name"},
		{name: "ErrEmptyFirstName", when: cf.StartGame{PlayerTwo: "bob"},
			wantErr: cf.ErrInvalidPlayerName, wantMsg: "needs a name"},
		{name: "ErrControlCharacter", when: cf.StartGame{PlayerOne: "al\x1b[31mice", PlayerTwo: "bob"},
			wantErr: cf.ErrInvalidPlayerName, wantMsg: "control characters"},
		// Characters that cannot be seen, or that turn the text around,
		// would let two names that look alike name two players (and
		// play each other), or one name draw another on the board.
		{name: "ErrZeroWidthSpace", when: cf.StartGame{PlayerOne: "alice", PlayerTwo: "alice\u200b"},
			wantErr: cf.ErrInvalidPlayerName, wantMsg: "cannot be seen"},
		{name: "ErrRightToLeftOverride", when: cf.StartGame{PlayerOne: "al\u202eecila", PlayerTwo: "bob"},
			wantErr: cf.ErrInvalidPlayerName, wantMsg: "cannot be seen"},
		{name: "ErrLineSeparator", when: cf.StartGame{PlayerOne: "ali\u2028ce", PlayerTwo: "bob"},
			wantErr: cf.ErrInvalidPlayerName, wantMsg: "cannot be seen"},
		// Joiners are part of how some scripts and emoji are written.
		{name: "JoinersAllowed", when: cf.StartGame{PlayerOne: "\u0645\u06cc\u200c\u0631\u0627", PlayerTwo: "\U0001F469\u200d\U0001F52C"},
			then: []cf.Event{cf.GameStarted{PlayerOne: "\u0645\u06cc\u200c\u0631\u0627", PlayerTwo: "\U0001F469\u200d\U0001F52C"}}},
		{name: "ErrNotUTF8", when: cf.StartGame{PlayerOne: "al\xffice", PlayerTwo: "bob"},
			wantErr: cf.ErrInvalidPlayerName, wantMsg: "UTF-8"},
		{name: "ErrTooLong", when: cf.StartGame{PlayerOne: strings.Repeat("a", cf.MaxNameLength+1), PlayerTwo: "bob"},
			wantErr: cf.ErrInvalidPlayerName, wantMsg: "at most 40"},
		{name: "LongestName", when: cf.StartGame{PlayerOne: strings.Repeat("é", cf.MaxNameLength), PlayerTwo: "bob"},
			then: []cf.Event{cf.GameStarted{PlayerOne: strings.Repeat("é", cf.MaxNameLength), PlayerTwo: "bob"}}},
		{name: "ErrSamePlayers", when: cf.StartGame{PlayerOne: "alice", PlayerTwo: "alice"},
			wantErr: cf.ErrSamePlayers, wantMsg: "both players are called alice"},
		{name: "ErrSamePlayersIgnoresCase", when: cf.StartGame{PlayerOne: "Alice", PlayerTwo: " alice"},
			wantErr: cf.ErrSamePlayers},
	} {
		t.Run(tt.name, tt.run)
	}
}

func TestMakeMove(t *testing.T) {
	fullA := played("AAAAAA") // alice and bob alternate in column A until it is full
	for _, tt := range []decide{
		{name: "OK", given: played(""), when: move(0, "D"),
			then: []cf.Event{cf.MoveMade{Player: "alice", Column: "D"}}},
		{name: "PlayerTwoAnswers", given: played("D"), when: move(1, "D"),
			then: []cf.Event{cf.MoveMade{Player: "bob", Column: "D"}}},
		{name: "NonFinishingMoveEmitsNoEndEvent", given: played("ABABAB"), when: move(6, "C"),
			then: []cf.Event{cf.MoveMade{Player: "alice", Column: "C"}}},
		{name: "ErrNotStarted", when: move(0, "A"),
			wantErr: cf.ErrNotStarted, wantMsg: "has not started"},
		{name: "ErrGameOver", given: append(played("ABABABA"), cf.GameFinished{Result: cf.PlayerOneWon}), when: move(7, "C"),
			wantErr: cf.ErrGameOver, wantMsg: "the game is over: alice won"},
		{name: "ErrGameOverTied", given: append(tiedGameEvents(), cf.GameFinished{Result: cf.Tied}), when: move(0, "A"),
			wantErr: cf.ErrGameOver, wantMsg: "it is a tie"},
		{name: "ErrPlayerTwoFirst", given: played(""), when: move(1, "A"),
			wantErr: cf.ErrNotYourTurn, wantMsg: "it is alice's turn, not bob's"},
		{name: "ErrSamePlayerTwice", given: played("A"), when: move(0, "B"),
			wantErr: cf.ErrNotYourTurn, wantMsg: "it is bob's turn, not alice's"},
		{name: "ErrStranger", given: played(""), when: cf.MakeMove{Player: "carol", Column: "A"},
			wantErr: cf.ErrNotYourTurn, wantMsg: `"carol" does not play in this game`},
		{name: "ErrInvalidColumn", given: played(""), when: move(0, "H"),
			wantErr: cf.ErrInvalidColumn, wantMsg: `there is no column "H": columns go from A to G`},
		{name: "ErrLowercaseColumn", given: played(""), when: move(0, "a"), wantErr: cf.ErrInvalidColumn},
		{name: "ErrEmptyColumn", given: played(""), when: move(0, ""), wantErr: cf.ErrInvalidColumn},
		{name: "ErrColumnFull", given: fullA, when: move(6, "A"),
			wantErr: cf.ErrColumnFull, wantMsg: "column A is full"},
		// The refusals come in the order the rules give them.
		{name: "NotStartedBeforeEverything", when: cf.MakeMove{Player: "carol", Column: "Z"}, wantErr: cf.ErrNotStarted},
		{name: "GameOverBeforeTurn", given: append(played("ABABABA"), cf.GameFinished{Result: cf.PlayerOneWon}),
			when: cf.MakeMove{Player: "alice", Column: "Z"}, wantErr: cf.ErrGameOver},
		{name: "TurnBeforeColumn", given: played(""), when: cf.MakeMove{Player: "bob", Column: "Z"}, wantErr: cf.ErrNotYourTurn},
		{name: "TurnBeforeFullColumn", given: fullA, when: move(7, "A"), wantErr: cf.ErrNotYourTurn},
	} {
		t.Run(tt.name, tt.run)
	}
}

func TestWins(t *testing.T) {
	won := func(player string, col cf.Column, result cf.Result) []cf.Event {
		return []cf.Event{cf.MoveMade{Player: player, Column: col}, cf.GameFinished{Result: result}}
	}
	for _, tt := range []decide{
		// Alice plays A B C D on the bottom row; bob answers on the row above.
		{name: "Row", given: played("AABBCC"), when: move(6, "D"), then: won("alice", "D", cf.PlayerOneWon)},
		// The gap in the middle of the row is filled last.
		{name: "RowWithGapFilledLast", given: played("AABBDD"), when: move(6, "C"), then: won("alice", "C", cf.PlayerOneWon)},
		{name: "RowOfFiveByGap", given: played("AABBDDEE"), when: move(8, "C"), then: won("alice", "C", cf.PlayerOneWon)},
		{name: "Column", given: played("ABABAB"), when: move(6, "A"), then: won("alice", "A", cf.PlayerOneWon)},
		{name: "ColumnPlayerTwo", given: played("GAGAGAC"), when: move(7, "A"), then: won("bob", "A", cf.PlayerTwoWon)},
		// Rising to the right: A1 B2 C3 D4, all alice's.
		{name: "DiagonalUp", given: played("ABBCCDCDDG"), when: move(10, "D"), then: won("alice", "D", cf.PlayerOneWon)},
		// Falling to the right: D1 C2 B3 A4, all alice's.
		{name: "DiagonalDown", given: played("DCCBBABAAG"), when: move(10, "A"), then: won("alice", "A", cf.PlayerOneWon)},
		// A1 C3 D4 are alice's; B2, in the middle of the diagonal, comes last.
		{name: "DiagonalGapFilledLast", given: played("ACCDCBDDDG"), when: move(10, "B"), then: won("alice", "B", cf.PlayerOneWon)},
		{name: "NoWinWithThreeAndAGap", given: played("AABBDD"), when: move(6, "G"),
			then: []cf.Event{cf.MoveMade{Player: "alice", Column: "G"}}},
		{name: "NoWinAcrossPlayers", given: played("ABCDEF"), when: move(6, "G"),
			then: []cf.Event{cf.MoveMade{Player: "alice", Column: "G"}}},
		{name: "41stMoveDoesNotTie", given: played(tieGame[:cf.Cells-2]), when: move(cf.Cells-2, tieGame[cf.Cells-2:cf.Cells-1]),
			then: []cf.Event{cf.MoveMade{Player: "alice", Column: cf.Column(tieGame[cf.Cells-2])}}},
		{name: "42ndMoveTies", given: played(tieGame[:cf.Cells-1]), when: move(cf.Cells-1, tieGame[cf.Cells-1:]),
			then: []cf.Event{cf.MoveMade{Player: "bob", Column: "G"}, cf.GameFinished{Result: cf.Tied}}},
		// A win on the last cell of the board is a win, not a tie.
		{name: "42ndMoveWins", given: played(lastMoveWins[:cf.Cells-1]), when: move(cf.Cells-1, lastMoveWins[cf.Cells-1:]),
			then: won("bob", cf.Column(lastMoveWins[cf.Cells-1:]), cf.PlayerTwoWon)},
	} {
		t.Run(tt.name, tt.run)
	}
}

// tieGame fills the board without four in a row anywhere, at any move.
const tieGame = "FDCDBFDBABEBCFAFGGCAGAECDADECDCGAEBBFEEFGG"

// tiedGameEvents is tieGame's moves, without the end event.
func tiedGameEvents() []cf.Event { return played(tieGame) }

// lastMoveWins fills the board, and bob's 42nd move, into C, connects
// four: nobody won before it.
const lastMoveWins = "GGEFAFFFBADEGEFFDCDAGDAAEAGGDDBEECBBBBCCCC"

func TestRebuiltFromHistory(t *testing.T) {
	d := cf.NewDecider()
	t.Run("Players", func(t *testing.T) {
		g := d.Fold(d.InitialState(), played("")...)
		if !g.Started || g.PlayerOne != "alice" || g.PlayerTwo != "bob" || g.NextPlayer() != "alice" {
			t.Fatalf("rebuilt game = %+v, want alice and bob, alice to play", g)
		}
	})
	t.Run("FinishedWithResult", func(t *testing.T) {
		g := d.Fold(d.InitialState(), append(played("ABABABA"), cf.GameFinished{Result: cf.PlayerOneWon})...)
		if !g.Finished() || g.Result != cf.PlayerOneWon || g.Winner() != "alice" || g.NextPlayer() != "" {
			t.Fatalf("rebuilt game = %+v, want finished, won by alice", g)
		}
		if line := g.Board.FourInARow(cf.Red); len(line) != 4 || line[0] != (cf.Cell{Column: 0, Row: 0}) {
			t.Fatalf("FourInARow(Red) = %v, want A1 to A4", line)
		}
	})
	t.Run("Tied", func(t *testing.T) {
		g := d.Fold(d.InitialState(), append(tiedGameEvents(), cf.GameFinished{Result: cf.Tied})...)
		if !g.Finished() || g.Result != cf.Tied || g.Winner() != "" || g.Moves != cf.Cells || g.Outcome() != "it is a tie" {
			t.Fatalf("rebuilt game = %+v, want tied after 42 moves", g)
		}
	})
	t.Run("MovesWithoutEndEventAreNotFinished", func(t *testing.T) {
		g := d.Fold(d.InitialState(), played("ABABABA")...)
		if g.Finished() {
			t.Fatalf("a game whose history has no GameFinished is finished: %+v", g)
		}
	})
	t.Run("BoardFromMoves", func(t *testing.T) {
		g := d.Fold(d.InitialState(), played("DDC")...)
		want := cf.Board{}
		want[0][3], want[1][3], want[0][2] = cf.Red, cf.Yellow, cf.Red
		if g.Board != want || g.Moves != 3 || g.LastMove != (cf.Cell{Column: 2, Row: 0}) || g.NextPlayer() != "bob" {
			t.Fatalf("rebuilt game = %+v, want D1 red, D2 yellow, C1 red, bob to play", g)
		}
	})
	t.Run("BrokenMovesDoNotPanic", func(t *testing.T) {
		// Events are facts even when written by a buggy program: Evolve
		// must take them without panicking.
		events := append(played("AAAAAAA"), cf.MoveMade{Player: "zed", Column: "Q"}, cf.MoveMade{Column: ""})
		g := d.Fold(d.InitialState(), events...)
		if g.Moves != 9 || g.Board.Height(0) != cf.Rows {
			t.Fatalf("rebuilt game = %+v", g)
		}
	})
}

// TestOutcomeOfAResultItDoesNotKnow reads a game that ended with a result
// that is none of the three this version knows, as a newer version may
// write: it is over, so Outcome, which is "" only while a game goes on,
// must say how it ended, and so must the refusal of a move in it.
func TestOutcomeOfAResultItDoesNotKnow(t *testing.T) {
	g := cf.NewDecider().Fold(cf.Game{}, append(played("AB"), cf.GameFinished{Result: "ABANDONED"})...)
	if !g.Finished() || g.Outcome() != "it ended as ABANDONED" {
		t.Fatalf("Finished() = %v, Outcome() = %q; want true, %q", g.Finished(), g.Outcome(), "it ended as ABANDONED")
	}
	decide{given: append(played("AB"), cf.GameFinished{Result: "ABANDONED"}), when: move(2, "C"),
		wantErr: cf.ErrGameOver, wantMsg: "the game is over: it ended as ABANDONED"}.run(t)
}

func TestParseColumn(t *testing.T) {
	for in, want := range map[string]cf.Column{"A": "A", "g": "G", "  c\r\n": "C", "\td ": "D"} {
		if got, err := cf.ParseColumn(in); err != nil || got != want {
			t.Errorf("ParseColumn(%q) = %q, %v, want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", " ", "H", "AB", "1", "é", "\x00", "a b"} {
		if _, err := cf.ParseColumn(in); !errors.Is(err, cf.ErrInvalidColumn) {
			t.Errorf("ParseColumn(%q) error = %v, want ErrInvalidColumn", in, err)
		}
	}
}

func TestDraw(t *testing.T) {
	g := cf.NewDecider().Fold(cf.Game{}, played("DDC")...)
	want := `  A   B   C   D   E   F   G
┌───┬───┬───┬───┬───┬───┬───┐
│   │   │   │   │   │   │   │
│   │   │   │   │   │   │   │
│   │   │   │   │   │   │   │
│   │   │   │   │   │   │   │
│   │   │   │ O │   │   │   │
│   │   │ X │ X │   │   │   │
└───┴───┴───┴───┴───┴───┴───┘
`
	if got := g.Board.String(); got != want {
		t.Fatalf("Board.String() =\n%s\nwant\n%s", got, want)
	}
	hl := g.Board.Draw(cf.DrawOptions{Highlight: []cf.Cell{{Column: 3, Row: 0}}})
	if !strings.Contains(hl, "│   │   │ X │[X]│") {
		t.Fatalf("highlighted D1 not in brackets:\n%s", hl)
	}
	col := g.Board.Draw(cf.DrawOptions{Colour: true})
	if !strings.Contains(col, "\x1b[1;31m●\x1b[0m") || !strings.Contains(col, "\x1b[1;33m●\x1b[0m") || strings.Contains(col, "X") {
		t.Fatalf("coloured board has no red and yellow discs:\n%q", col)
	}
	if strings.Contains(want, "\x1b") {
		t.Fatal("plain board holds escape codes")
	}
}
