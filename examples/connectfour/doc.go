// Package connectfour is Connect Four written with event sourcing on
// Chronicle: the game of the Connect Four event-sourcing tutorial, in Go.
//
// # Events
//
// A game is the stream "game-<uuid>". Its events are facts, stored with
// the same type names and JSON shapes as the original tutorial's Python
// code, so that either can read what the other wrote:
//
//	GameStarted   {"player_one": "alice", "player_two": "bob"}
//	MoveMade      {"player": "alice", "column": "D"}
//	GameFinished  {"result": "PLAYER_ONE_WON"}   (or PLAYER_TWO_WON, TIED)
//
// # Rules
//
// The board has seven columns, A to G, and six rows; a token falls to the
// lowest free cell of its column. Player one plays red and starts, then
// turns alternate. Four of a player's tokens in a row, a column or either
// diagonal win; a full board without a win is a tie.
//
// The rules are a [chronicle.Decider] (see [NewDecider]): pure functions
// that turn a command and the state rebuilt from past events into new
// events, or refuse it with one of the errors listed in errors.go, which
// [errors.Is] matches. A refused command emits no event.
//
// # Playing
//
// [Service] runs the rules against any [chronicle.Store]: it creates
// games, makes moves with optimistic concurrency, and reads games back.
// The command cmd/connectfour plays it in a terminal.
package connectfour
