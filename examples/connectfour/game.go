package connectfour

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/chronicle-es/chronicle"
)

// Command is something a player asks of a game: [StartGame] or
// [MakeMove].
type Command interface{ isCommand() }

// StartGame asks to start a game between two players. Player one moves
// first.
type StartGame struct {
	PlayerOne, PlayerTwo string
}

// MakeMove asks to drop Player's token into Column.
type MakeMove struct {
	Player string
	Column Column
}

func (StartGame) isCommand() {}
func (MakeMove) isCommand()  {}

// Game is the state of one game, rebuilt from its events. It is a plain
// value: copying it copies the board, and two Games are equal (==) when
// they show the same game.
type Game struct {
	// Started is true once GameStarted has happened.
	Started bool
	// PlayerOne plays red and moves first; PlayerTwo plays yellow.
	PlayerOne, PlayerTwo string
	Board                Board
	// Moves counts the moves made.
	Moves int
	// LastMove is the cell of the latest move, when Moves > 0.
	LastMove Cell
	// Result is how the game ended, or "" while it goes on.
	Result Result
}

// Finished reports whether the game has ended.
func (g Game) Finished() bool { return g.Result != "" }

// NextPlayer returns the name of the player whose turn it is, or "" when
// the game has not started or is over.
func (g Game) NextPlayer() string {
	switch {
	case !g.Started || g.Finished():
		return ""
	case g.Moves%2 == 0:
		return g.PlayerOne
	default:
		return g.PlayerTwo
	}
}

// Winner returns the name of the winner, or "" when nobody has won (yet).
func (g Game) Winner() string {
	switch g.Result {
	case PlayerOneWon:
		return g.PlayerOne
	case PlayerTwoWon:
		return g.PlayerTwo
	}
	return ""
}

// TokenOf returns the token that player plays, or Empty for someone who
// does not play in the game.
func (g Game) TokenOf(player string) Token {
	switch player {
	case "":
		return Empty
	case g.PlayerOne:
		return Red
	case g.PlayerTwo:
		return Yellow
	}
	return Empty
}

// Outcome describes the end of the game in a sentence, such as "alice
// won" or "it is a tie", or "" while the game goes on. A result this
// version does not know, as a newer one may store, reads "it ended as"
// followed by the result.
func (g Game) Outcome() string {
	switch g.Result {
	case "":
		return ""
	case PlayerOneWon, PlayerTwoWon:
		return g.Winner() + " won"
	case Tied:
		return "it is a tie"
	}
	return "it ended as " + string(g.Result)
}

// MaxNameLength is the longest player name, in characters: names are
// drawn next to the board and should fit on a line.
const MaxNameLength = 40

// ValidatePlayerName reports whether name, once trimmed of spaces, can
// name a player. The error matches [ErrInvalidPlayerName].
func ValidatePlayerName(name string) error {
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		return refuse(ErrInvalidPlayerName, "a player needs a name")
	case !utf8.ValidString(name):
		return refuse(ErrInvalidPlayerName, "a name must be text (it is not valid UTF-8)")
	case strings.ContainsFunc(name, unicode.IsControl):
		return refuse(ErrInvalidPlayerName, "a name cannot hold control characters")
	case strings.ContainsFunc(name, unseen):
		return refuse(ErrInvalidPlayerName, "a name cannot hold characters that cannot be seen or that turn text around (zero-width spaces, direction marks, line separators)")
	case utf8.RuneCountInString(name) > MaxNameLength:
		return refuse(ErrInvalidPlayerName, fmt.Sprintf("a name has at most %d characters", MaxNameLength))
	}
	return nil
}

// unseen reports whether r is a character that cannot be seen, or that
// changes how the text around it is drawn: with one, two names that look
// alike would name two players, and a name could draw another. The
// joiners (U+200C, U+200D), which some scripts and emoji are written
// with, are not among them.
func unseen(r rune) bool {
	switch {
	case r == '\u200b', r == '\u2060', r == '\ufeff': // zero-width space, word joiner, BOM
		return true
	case r == '\u061c', r == '\u200e', r == '\u200f': // direction marks
		return true
	case r >= '\u202a' && r <= '\u202e', r >= '\u2066' && r <= '\u2069': // direction embeddings, overrides, isolates
		return true
	case r == '\u2028', r == '\u2029': // line and paragraph separators
		return true
	}
	return false
}

// SamePlayers reports whether two names would name the same player. Case
// is ignored so that "Alice" and "alice" do not play each other: the
// board could not tell them apart for a person.
func SamePlayers(a, b string) bool {
	return strings.EqualFold(strings.TrimSpace(a), strings.TrimSpace(b))
}

// NewDecider returns the rules of Connect Four as a [chronicle.Decider],
// for a [chronicle.Repository] to run. The initial state is the zero
// [Game]: a game not started.
func NewDecider() chronicle.Decider[Game, Command, Event] {
	return chronicle.Decider[Game, Command, Event]{
		Decide: Decide,
		Evolve: Evolve,
	}
}

// Decide returns the events that cmd causes in game g, or the reason it
// is refused: an error wrapping one of this package's Err variables.
// A refused command causes no event.
func Decide(g Game, cmd Command) ([]Event, error) {
	switch cmd := cmd.(type) {
	case StartGame:
		return startGame(g, cmd)
	case MakeMove:
		return makeMove(g, cmd)
	default:
		return nil, fmt.Errorf("connectfour: unknown command %T", cmd)
	}
}

func startGame(g Game, cmd StartGame) ([]Event, error) {
	if g.Started {
		return nil, refuse(ErrAlreadyStarted, fmt.Sprintf("this game has already started, between %s and %s", g.PlayerOne, g.PlayerTwo))
	}
	for _, name := range []string{cmd.PlayerOne, cmd.PlayerTwo} {
		if err := ValidatePlayerName(name); err != nil {
			return nil, err
		}
	}
	if SamePlayers(cmd.PlayerOne, cmd.PlayerTwo) {
		return nil, refuse(ErrSamePlayers, fmt.Sprintf("both players are called %s: give them different names", strings.TrimSpace(cmd.PlayerTwo)))
	}
	return []Event{GameStarted{
		PlayerOne: strings.TrimSpace(cmd.PlayerOne),
		PlayerTwo: strings.TrimSpace(cmd.PlayerTwo),
	}}, nil
}

// makeMove checks the rules in the order the game states them: started,
// not over, the player's turn, a real column, room in it.
func makeMove(g Game, cmd MakeMove) ([]Event, error) {
	if !g.Started {
		return nil, refuse(ErrNotStarted, "this game has not started yet")
	}
	if g.Finished() {
		return nil, refuse(ErrGameOver, "the game is over: "+g.Outcome())
	}
	if next := g.NextPlayer(); cmd.Player != next {
		if g.TokenOf(cmd.Player) == Empty {
			return nil, refuse(ErrNotYourTurn, fmt.Sprintf("%q does not play in this game (%s and %s do); it is %s's turn", cmd.Player, g.PlayerOne, g.PlayerTwo, next))
		}
		return nil, refuse(ErrNotYourTurn, fmt.Sprintf("it is %s's turn, not %s's", next, cmd.Player))
	}
	col, ok := cmd.Column.Index()
	if !ok {
		return nil, invalidColumn(string(cmd.Column))
	}
	board := g.Board
	cell, ok := board.drop(col, g.nextToken())
	if !ok {
		return nil, refuse(ErrColumnFull, fmt.Sprintf("column %s is full: choose another column", cmd.Column))
	}
	events := []Event{MoveMade{Player: cmd.Player, Column: cmd.Column}}
	switch {
	case board.connectsFour(cell) && g.nextToken() == Red:
		events = append(events, GameFinished{Result: PlayerOneWon})
	case board.connectsFour(cell):
		events = append(events, GameFinished{Result: PlayerTwoWon})
	case g.Moves+1 == Cells:
		events = append(events, GameFinished{Result: Tied})
	}
	return events, nil
}

// nextToken returns the token of the player whose turn it is. It follows
// the turn order rather than the name, which is the same in a game that
// kept the rules, and still right for data written by an older version
// that let both players have one name.
func (g Game) nextToken() Token {
	return Red + Token(g.Moves%2)
}

// Evolve returns game g after event e. It never fails, because events
// are facts: a move it cannot place (only possible in data written by
// something that broke the rules) still counts as a move, and leaves the
// board as it was.
func Evolve(g Game, e Event) Game {
	switch e := e.(type) {
	case GameStarted:
		g.Started = true
		g.PlayerOne, g.PlayerTwo = e.PlayerOne, e.PlayerTwo
	case MoveMade:
		if col, ok := e.Column.Index(); ok {
			if cell, ok := g.Board.drop(col, g.nextToken()); ok {
				g.LastMove = cell
			}
		}
		g.Moves++
	case GameFinished:
		g.Result = e.Result
	}
	return g
}
