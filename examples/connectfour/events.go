package connectfour

import (
	"fmt"
	"strings"

	"github.com/chronicle-es/chronicle"
	"github.com/google/uuid"
)

// Event is one of the game's events: [GameStarted], [MoveMade] or
// [GameFinished]. The method is unexported so that the three are the
// only events a game can have, which lets Evolve switch over them
// exhaustively.
type Event interface{ isEvent() }

// GameStarted records that two players started a game. Player one plays
// red and moves first.
type GameStarted struct {
	PlayerOne string `json:"player_one" chronicle:"personal"`
	PlayerTwo string `json:"player_two" chronicle:"personal"`
}

// MoveMade records that player dropped a token into column.
type MoveMade struct {
	Player string `json:"player" chronicle:"personal"`
	Column Column `json:"column"`
}

// GameFinished records how a game ended. It always follows, in the same
// append, the MoveMade that ended the game.
type GameFinished struct {
	Result Result `json:"result"`
}

func (GameStarted) isEvent()  {}
func (MoveMade) isEvent()     {}
func (GameFinished) isEvent() {}

// Result is how a game ended. Its values are the strings the tutorial
// stores.
type Result string

// The results of a finished game.
const (
	PlayerOneWon Result = "PLAYER_ONE_WON"
	PlayerTwoWon Result = "PLAYER_TWO_WON"
	Tied         Result = "TIED"
)

// Event type names, as stored: the tutorial names events after their
// class, and so do we.
const (
	TypeGameStarted  = "GameStarted"
	TypeMoveMade     = "MoveMade"
	TypeGameFinished = "GameFinished"
)

// NewCodec returns the codec that stores the game's events as JSON under
// their type names. It builds a new one at each call, rather than keeping
// one in a package variable, so that nothing is shared behind the
// caller's back; a codec is cheap and safe for concurrent use.
func NewCodec() *chronicle.Codec[Event] {
	return chronicle.MustCodec[Event](
		chronicle.JSON[GameStarted](TypeGameStarted),
		chronicle.JSON[MoveMade](TypeMoveMade),
		chronicle.JSON[GameFinished](TypeGameFinished),
	)
}

// Category is the category of the games' streams: every stream name
// starts with it and a '-', which is what a [chronicle.Filter] selects.
const Category = "game"

// StreamName returns the name of the stream that holds the events of the
// game id: "game-" followed by the UUID.
func StreamName(id uuid.UUID) string {
	return Category + "-" + id.String()
}

// ParseStreamName returns the game id in a stream name made by
// [StreamName], and an error for any other name: one that spells the
// UUID otherwise (in upper case, without dashes, in braces), which
// uuid.Parse reads too, names another stream than the game of that id.
func ParseStreamName(stream string) (uuid.UUID, error) {
	rest, ok := strings.CutPrefix(stream, Category+"-")
	if !ok {
		return uuid.Nil, fmt.Errorf("stream %q is not a game: its name does not start with %q", stream, Category+"-")
	}
	id, err := uuid.Parse(rest)
	if err != nil {
		return uuid.Nil, fmt.Errorf("stream %q is not a game: %w", stream, err)
	}
	if id.String() != rest {
		return uuid.Nil, fmt.Errorf("stream %q is not a game: a game's stream is %q", stream, StreamName(id))
	}
	return id, nil
}
