package connectfour

import "errors"

// Errors for refused commands. Decide wraps them in a [*RuleError] whose
// message says what happened to this game, in words a player
// understands; match them with [errors.Is].
var (
	// ErrAlreadyStarted refuses to start a game twice.
	ErrAlreadyStarted = errors.New("connectfour: game already started")
	// ErrInvalidPlayerName refuses a player name that is empty, too long
	// or holds control characters.
	ErrInvalidPlayerName = errors.New("connectfour: invalid player name")
	// ErrSamePlayers refuses a game whose two players have the same name:
	// moves name their player, so the names must tell them apart.
	ErrSamePlayers = errors.New("connectfour: both players have the same name")
	// ErrNotStarted refuses a move in a game that has not started.
	ErrNotStarted = errors.New("connectfour: game not started")
	// ErrGameOver refuses a move in a game that has finished.
	ErrGameOver = errors.New("connectfour: game is over")
	// ErrNotYourTurn refuses a move by a player whose turn it is not,
	// including someone who does not play in the game.
	ErrNotYourTurn = errors.New("connectfour: not this player's turn")
	// ErrInvalidColumn refuses a column other than A to G.
	ErrInvalidColumn = errors.New("connectfour: no such column")
	// ErrColumnFull refuses a move into a column that holds six tokens.
	ErrColumnFull = errors.New("connectfour: column is full")

	// ErrGameNotFound means that no game has the id asked for: its stream
	// has no events.
	ErrGameNotFound = errors.New("connectfour: game not found")
	// ErrConcurrentMove means that other moves kept changing the game
	// while a move was being saved, more often than the service retries.
	ErrConcurrentMove = errors.New("connectfour: the game changed while the move was being made")
)

// RuleError is a command refused by the rules of the game. Its message is
// for people ("it is bob's turn, not alice's"); the rule it breaks is one
// of the Err variables of this package, which [errors.Is] finds.
type RuleError struct {
	// Rule is the sentinel error of the rule broken, such as
	// [ErrNotYourTurn].
	Rule error
	// Message explains the refusal in this game's terms.
	Message string
}

// Error returns the message for people, or the rule's when there is none.
func (e *RuleError) Error() string {
	if e.Message == "" {
		return e.Rule.Error()
	}
	return e.Message
}

// Unwrap returns the rule broken, so that errors.Is(err, ErrColumnFull)
// and the like work.
func (e *RuleError) Unwrap() error { return e.Rule }

func refuse(rule error, message string) error {
	return &RuleError{Rule: rule, Message: message}
}
