package connectfour

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/projection"
	"github.com/google/uuid"
)

// The read models of Connect Four: a table of games and a leaderboard of
// players, kept by projections in the store's own database, so that
// listing games and ranking players read a few rows instead of replaying
// every game.

// Projection names, which are also the names of their checkpoints.
const (
	GamesProjection       = "connectfour-games"
	LeaderboardProjection = "connectfour-leaderboard"
)

// Projections returns the read models' projections, for a
// [projection.Runner] over a store with transactions. Where names may be
// stored encrypted ([WithForgettableNames]), run them over
// [Service.Store], with the store's database as the runner's
// [projection.Options] DB: they cannot decode the encrypted events.
func Projections() []projection.Projection {
	codec := NewCodec()
	filter := chronicle.Filter{Categories: []string{Category}, Types: codec.TypeNames()}
	return []projection.Projection{
		{
			Name:   GamesProjection,
			Filter: filter,
			Setup: exec(`CREATE TABLE IF NOT EXISTS connectfour_games (
				id         TEXT PRIMARY KEY,
				player_one TEXT NOT NULL,
				player_two TEXT NOT NULL,
				moves      INTEGER NOT NULL DEFAULT 0,
				result     TEXT NOT NULL DEFAULT '',
				created    BIGINT NOT NULL,
				updated    BIGINT NOT NULL)`),
			Reset: exec(`DELETE FROM connectfour_games`),
			Apply: func(ctx context.Context, tx *sql.Tx, rec chronicle.RecordedEvent) error {
				id, err := ParseStreamName(rec.Stream)
				if err != nil {
					return nil // a stream of the category that is not a game
				}
				e, err := codec.Decode(rec)
				if err != nil {
					return err
				}
				at := rec.Recorded.UnixMicro()
				switch e := e.(type) {
				case GameStarted:
					// A second start, which only a program that broke the
					// rules writes (the Python tutorial's third exercise
					// appends the history again), names the players from
					// then on, as Evolve reads it, and keeps the moves.
					_, err = tx.ExecContext(ctx, `INSERT INTO connectfour_games (id, player_one, player_two, created, updated)
						VALUES ($1, $2, $3, $4, $4)
						ON CONFLICT (id) DO UPDATE SET player_one = excluded.player_one, player_two = excluded.player_two,
							updated = excluded.updated`, id.String(), e.PlayerOne, e.PlayerTwo, at)
				case MoveMade:
					_, err = tx.ExecContext(ctx, `UPDATE connectfour_games SET moves = moves + 1, updated = $2 WHERE id = $1`, id.String(), at)
				case GameFinished:
					_, err = tx.ExecContext(ctx, `UPDATE connectfour_games SET result = $2, updated = $3 WHERE id = $1`, id.String(), string(e.Result), at)
				}
				return err
			},
		},
		{
			Name:   LeaderboardProjection,
			Filter: chronicle.Filter{Categories: []string{Category}, Types: []string{TypeGameStarted, TypeGameFinished}},
			Setup: exec(`CREATE TABLE IF NOT EXISTS connectfour_players (
				name   TEXT PRIMARY KEY,
				games  INTEGER NOT NULL DEFAULT 0,
				wins   INTEGER NOT NULL DEFAULT 0,
				losses INTEGER NOT NULL DEFAULT 0,
				ties   INTEGER NOT NULL DEFAULT 0)`,
				`CREATE TABLE IF NOT EXISTS connectfour_leaderboard_games (
				id         TEXT PRIMARY KEY,
				player_one TEXT NOT NULL,
				player_two TEXT NOT NULL)`),
			Reset: exec(`DELETE FROM connectfour_players`, `DELETE FROM connectfour_leaderboard_games`),
			Apply: func(ctx context.Context, tx *sql.Tx, rec chronicle.RecordedEvent) error {
				id, err := ParseStreamName(rec.Stream)
				if err != nil {
					return nil
				}
				e, err := codec.Decode(rec)
				if err != nil {
					return err
				}
				switch e := e.(type) {
				case GameStarted:
					// The leaderboard keeps its own note of who plays each game,
					// so that it never depends on another projection's progress.
					// A game started again, which only a program that broke
					// the rules writes, counts once, for its first players.
					res, err := tx.ExecContext(ctx, `INSERT INTO connectfour_leaderboard_games VALUES ($1, $2, $3)
						ON CONFLICT (id) DO NOTHING`, id.String(), e.PlayerOne, e.PlayerTwo)
					if err != nil {
						return err
					}
					if n, err := res.RowsAffected(); err != nil || n == 0 {
						return err
					}
					for _, p := range players(e.PlayerOne, e.PlayerTwo) {
						if _, err := tx.ExecContext(ctx, `INSERT INTO connectfour_players (name, games) VALUES ($1, 1)
							ON CONFLICT (name) DO UPDATE SET games = connectfour_players.games + 1`, p); err != nil {
							return err
						}
					}
				case GameFinished:
					var one, two string
					err := tx.QueryRowContext(ctx, `SELECT player_one, player_two FROM connectfour_leaderboard_games WHERE id = $1`,
						id.String()).Scan(&one, &two)
					if errors.Is(err, sql.ErrNoRows) {
						// Its start is not stored (retention and a scavenge
						// removed the game's first events): no player to
						// credit, as the games table has no row to update.
						return nil
					}
					if err != nil {
						return fmt.Errorf("players of finished game %s: %w", id, err)
					}
					updates := map[Result][2]string{
						PlayerOneWon: {"wins", "losses"},
						PlayerTwoWon: {"losses", "wins"},
						Tied:         {"ties", "ties"},
					}[e.Result]
					if updates[0] == "" {
						// A result this version does not know, as a newer
						// one may write: the game counts among the games
						// only, as the listing from the log counts it.
						return nil
					}
					if one == two && e.Result != Tied {
						return nil // see PlayerStats
					}
					for i, p := range players(one, two) {
						col := updates[i]
						if _, err := tx.ExecContext(ctx, `UPDATE connectfour_players SET `+col+` = `+col+` + 1 WHERE name = $1`, p); err != nil {
							return err
						}
					}
				}
				return nil
			},
		},
	}
}

// players returns the players of a game, each once: a game stored before
// the rules refused two players of the same name has one.
func players(one, two string) []string {
	if one == two {
		return []string{one}
	}
	return []string{one, two}
}

// exec returns a function that runs statements in a transaction.
func exec(statements ...string) func(context.Context, *sql.Tx) error {
	return func(ctx context.Context, tx *sql.Tx) error {
		for _, s := range statements {
			if _, err := tx.ExecContext(ctx, s); err != nil {
				return err
			}
		}
		return nil
	}
}

// PlayerStats is one line of the leaderboard.
//
// Games stored before the rules refused two players of the same name
// ([ErrSamePlayers]) may have one player twice: such a game counts once
// among the player's games, a tie once among the ties, and a win as
// neither a win nor a loss, since the player lost it as much as won it.
// A game that a program breaking the rules started twice counts once, and
// one whose start is no longer stored (retention removed it) not at all.
// A result other than the three this version knows, as a newer version
// may write, is neither a win, a loss nor a tie.
type PlayerStats struct {
	Name                      string
	Games, Wins, Losses, Ties int
}

// readModels is the service's access to the read models, when its store
// keeps them.
type readModels struct {
	db     projection.DB
	runner *projection.Runner
}

// newReadModels keeps the read models in db, from the events of store
// (which may decrypt what db's store holds).
func newReadModels(store chronicle.Store, db projection.DB) *readModels {
	runner, err := projection.NewRunner(store, &projection.Options{DB: db}, Projections()...)
	if err != nil {
		// The projections are constants of this package: an error is a bug.
		panic(err)
	}
	return &readModels{db: db, runner: runner}
}

// rebuild rebuilds every read model.
func (rm *readModels) rebuild(ctx context.Context) error {
	for _, p := range Projections() {
		if err := rm.runner.Rebuild(ctx, p.Name, nil); err != nil {
			return err
		}
	}
	return nil
}

// checkpoint empties the embedded store's write-ahead log, so that the
// rows a rebuild replaced are gone from the disk too, not only from the
// tables.
func (rm *readModels) checkpoint(ctx context.Context) error {
	if c, ok := rm.db.(interface{ Checkpoint(context.Context) error }); ok {
		return c.Checkpoint(ctx)
	}
	return nil
}

// listGames reads the games table, after bringing it up to date.
func (rm *readModels) listGames(ctx context.Context) ([]GameSummary, error) {
	if err := rm.runner.CatchUp(ctx); err != nil {
		return nil, err
	}
	var games []GameSummary
	err := rm.db.View(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT id, player_one, player_two, moves, result, created, updated
			FROM connectfour_games ORDER BY created DESC, id`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id, result string
			var created, updated int64
			g := Game{Started: true}
			if err := rows.Scan(&id, &g.PlayerOne, &g.PlayerTwo, &g.Moves, &result, &created, &updated); err != nil {
				return err
			}
			g.Result = Result(result)
			sum := GameSummary{Game: g, Created: time.UnixMicro(created).UTC(), Updated: time.UnixMicro(updated).UTC()}
			if sum.ID, err = uuid.Parse(id); err != nil {
				return err
			}
			games = append(games, sum)
		}
		return rows.Err()
	})
	return games, err
}

// leaderboard reads the players table, after bringing it up to date.
func (rm *readModels) leaderboard(ctx context.Context) ([]PlayerStats, error) {
	if err := rm.runner.CatchUp(ctx); err != nil {
		return nil, err
	}
	var out []PlayerStats
	err := rm.db.View(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT name, games, wins, losses, ties FROM connectfour_players
			ORDER BY wins DESC, ties DESC, losses, name`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var p PlayerStats
			if err := rows.Scan(&p.Name, &p.Games, &p.Wins, &p.Losses, &p.Ties); err != nil {
				return err
			}
			out = append(out, p)
		}
		return rows.Err()
	})
	return out, err
}
