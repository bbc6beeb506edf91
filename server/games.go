package server

import (
	"fmt"
	"net/http"

	"github.com/chronicle-es/chronicle/examples/connectfour"
	"github.com/google/uuid"
)

// gameJSON is a game as the API and the game page show it.
type gameJSON struct {
	ID        string `json:"id"`
	Stream    string `json:"stream"`
	PlayerOne string `json:"playerOne"`
	PlayerTwo string `json:"playerTwo"`
	// Next is whose turn it is, "" once the game is over.
	Next    string `json:"next"`
	Moves   int    `json:"moves"`
	Result  string `json:"result"`
	Outcome string `json:"outcome"`
	// Revision is the revision of the game's last event.
	Revision uint64 `json:"revision"`
	// Board is the board now, top row first: "", "red" or "yellow".
	Board [][]string `json:"board"`
	// Win lists the cells of the winning line, as [column, row from the
	// top].
	Win [][2]int `json:"win"`
	// Steps are the game's events, each with the board after it: the
	// replay that the time-travel slider shows.
	Steps []stepJSON `json:"steps"`
}

type stepJSON struct {
	Event       eventJSON  `json:"event"`
	Description string     `json:"description"`
	Board       [][]string `json:"board"`
}

func boardJSON(b connectfour.Board) [][]string {
	out := make([][]string, connectfour.Rows)
	for i := range out {
		row := connectfour.Rows - 1 - i
		out[i] = make([]string, connectfour.Columns)
		for col := range connectfour.Columns {
			switch b.At(col, row) {
			case connectfour.Red:
				out[i][col] = "red"
			case connectfour.Yellow:
				out[i][col] = "yellow"
			}
		}
	}
	return out
}

func describe(e connectfour.Event) string {
	switch e := e.(type) {
	case connectfour.GameStarted:
		return fmt.Sprintf("%s (red) and %s (yellow) start a game", e.PlayerOne, e.PlayerTwo)
	case connectfour.MoveMade:
		return fmt.Sprintf("%s plays column %s", e.Player, e.Column)
	case connectfour.GameFinished:
		return map[connectfour.Result]string{
			connectfour.PlayerOneWon: "player one wins",
			connectfour.PlayerTwoWon: "player two wins",
			connectfour.Tied:         "the board is full: a tie",
		}[e.Result]
	}
	return ""
}

// loadGame replays game id from its events.
func (s *Server) loadGame(r *http.Request, id uuid.UUID) (gameJSON, error) {
	steps, err := s.games.Replay(r.Context(), id)
	if err != nil {
		return gameJSON{}, err
	}
	var g connectfour.Game
	out := gameJSON{ID: id.String(), Stream: connectfour.StreamName(id), Steps: make([]stepJSON, len(steps)), Win: [][2]int{}}
	for i, st := range steps {
		g = st.Game
		out.Steps[i] = stepJSON{Event: toJSON(st.Recorded), Description: describe(st.Event), Board: boardJSON(g.Board)}
		out.Revision = st.Recorded.Revision
	}
	out.PlayerOne, out.PlayerTwo, out.Next, out.Moves = g.PlayerOne, g.PlayerTwo, g.NextPlayer(), g.Moves
	out.Result, out.Outcome, out.Board = string(g.Result), g.Outcome(), boardJSON(g.Board)
	if w := g.Winner(); w != "" {
		for _, c := range g.Board.FourInARow(g.TokenOf(w)) {
			out.Win = append(out.Win, [2]int{c.Column, connectfour.Rows - 1 - c.Row})
		}
	}
	return out, nil
}

func parseGameID(r *http.Request) (uuid.UUID, error) {
	raw := r.PathValue("id")
	id, err := uuid.Parse(raw)
	if err != nil {
		return uuid.Nil, &Error{Status: http.StatusNotFound, Code: "game_not_found",
			Message: fmt.Sprintf("there is no game %q: a game id is a UUID", raw)}
	}
	return id, nil
}

func (s *Server) apiGetGame(w http.ResponseWriter, r *http.Request) {
	if err := checkQuery(r); err != nil {
		s.apiFail(w, r, err)
		return
	}
	id, err := parseGameID(r)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	g, err := s.loadGame(r, id)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, g)
}

func (s *Server) apiCreateGame(w http.ResponseWriter, r *http.Request) {
	if err := checkQuery(r); err != nil {
		s.apiFail(w, r, err)
		return
	}
	var req struct {
		PlayerOne *string `json:"playerOne"`
		PlayerTwo *string `json:"playerTwo"`
	}
	if err := decodeBody(r, &req); err != nil {
		s.apiFail(w, r, err)
		return
	}
	if req.PlayerOne == nil || req.PlayerTwo == nil {
		s.apiFail(w, r, badRequest("give both players' names: playerOne and playerTwo"))
		return
	}
	id, err := s.games.CreateGame(r.Context(), *req.PlayerOne, *req.PlayerTwo)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	s.m.appends.Inc()
	s.m.appendedEvents.Inc()
	g, err := s.loadGame(r, id)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/games/"+id.String())
	writeJSON(w, http.StatusCreated, g)
}

func (s *Server) apiMove(w http.ResponseWriter, r *http.Request) {
	if err := checkQuery(r); err != nil {
		s.apiFail(w, r, err)
		return
	}
	id, err := parseGameID(r)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	var req struct {
		Player *string `json:"player"`
		Column *string `json:"column"`
	}
	if err := decodeBody(r, &req); err != nil {
		s.apiFail(w, r, err)
		return
	}
	if req.Player == nil || req.Column == nil {
		s.apiFail(w, r, badRequest("give the player who moves and the column, A to G: player and column"))
		return
	}
	col, err := connectfour.ParseColumn(*req.Column)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	after, err := s.games.MakeMove(r.Context(), id, *req.Player, col)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	s.m.appends.Inc()
	// A move into a finished game is refused, so a game finished now was
	// finished by this move, whose append also holds GameFinished.
	if after.Finished() {
		s.m.appendedEvents.Add(2)
	} else {
		s.m.appendedEvents.Inc()
	}
	g, err := s.loadGame(r, id)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, g)
}

// gameSummaryJSON is a game in the games list.
type gameSummaryJSON struct {
	ID        string `json:"id"`
	PlayerOne string `json:"playerOne"`
	PlayerTwo string `json:"playerTwo"`
	Moves     int    `json:"moves"`
	Result    string `json:"result"`
	Outcome   string `json:"outcome"`
	Created   string `json:"created"`
	Updated   string `json:"updated"`
}

func (s *Server) gameSummaries(r *http.Request) ([]gameSummaryJSON, error) {
	games, err := s.games.ListGames(r.Context())
	if err != nil {
		return nil, err
	}
	out := make([]gameSummaryJSON, len(games))
	for i, g := range games {
		out[i] = gameSummaryJSON{ID: g.ID.String(), PlayerOne: g.Game.PlayerOne, PlayerTwo: g.Game.PlayerTwo,
			Moves: g.Game.Moves, Result: string(g.Game.Result), Outcome: g.Game.Outcome(),
			Created: g.Created.UTC().Format(recordedFormat), Updated: g.Updated.UTC().Format(recordedFormat)}
	}
	return out, nil
}

func (s *Server) apiListGames(w http.ResponseWriter, r *http.Request) {
	if err := checkQuery(r); err != nil {
		s.apiFail(w, r, err)
		return
	}
	games, err := s.gameSummaries(r)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"games": games, "readModels": s.runner != nil})
}

type playerJSON struct {
	Name   string `json:"name"`
	Games  int    `json:"games"`
	Wins   int    `json:"wins"`
	Losses int    `json:"losses"`
	Ties   int    `json:"ties"`
}

func (s *Server) leaderboard(r *http.Request) ([]playerJSON, error) {
	stats, err := s.games.Leaderboard(r.Context())
	if err != nil {
		return nil, err
	}
	out := make([]playerJSON, len(stats))
	for i, p := range stats {
		out[i] = playerJSON{Name: p.Name, Games: p.Games, Wins: p.Wins, Losses: p.Losses, Ties: p.Ties}
	}
	return out, nil
}

func (s *Server) apiLeaderboard(w http.ResponseWriter, r *http.Request) {
	if err := checkQuery(r); err != nil {
		s.apiFail(w, r, err)
		return
	}
	players, err := s.leaderboard(r)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"players": players, "readModels": s.runner != nil})
}
