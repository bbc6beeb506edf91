package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	cf "github.com/chronicle-es/chronicle/examples/connectfour"
	"github.com/chronicle-es/chronicle/internal/cli"
	"github.com/chronicle-es/chronicle/internal/dsn"
	"github.com/google/uuid"
)

// shortID is how many characters of a game id list shows: enough to be
// unique among a person's games, since the ids are random.
const shortID = 8

// findGame returns the game that arg names: a full id, its stream name,
// or the first characters of one id.
func (a *app) findGame(ctx context.Context, svc *cf.Service, arg string) (uuid.UUID, error) {
	arg = strings.TrimPrefix(strings.TrimSpace(arg), cf.Category+"-")
	if id, err := uuid.Parse(arg); err == nil {
		return id, nil
	}
	if arg == "" || strings.Trim(strings.ToLower(arg), "0123456789abcdef-") != "" {
		return uuid.Nil, badInput("%q is not a game id: ids look like %s", arg, uuid.NewString())
	}
	games, err := svc.ListGames(ctx)
	if err != nil {
		return uuid.Nil, err
	}
	var found []uuid.UUID
	for _, g := range games {
		if strings.HasPrefix(g.ID.String(), strings.ToLower(arg)) {
			found = append(found, g.ID)
		}
	}
	switch len(found) {
	case 0:
		return uuid.Nil, fmt.Errorf("no game starts with %q in %s: 'connectfour list' shows the games", arg, a.where())
	case 1:
		return found[0], nil
	default:
		return uuid.Nil, fmt.Errorf("%d games start with %q: give more of the id", len(found), arg)
	}
}

// openGame opens the store and finds the game that arg names.
func (a *app) openGame(ctx context.Context, arg string) (*cf.Service, uuid.UUID, func(), error) {
	store, err := a.openStore(ctx, false)
	if err != nil {
		return nil, uuid.Nil, nil, err
	}
	svc := a.service(store)
	id, err := a.findGame(ctx, svc, arg)
	if err != nil {
		store.Close()
		return nil, uuid.Nil, nil, err
	}
	return svc, id, func() { store.Close() }, nil
}

// notFound rewords ErrGameNotFound for a person.
func (a *app) notFound(id uuid.UUID, err error) error {
	if errors.Is(err, cf.ErrGameNotFound) {
		return fmt.Errorf("there is no game %s in %s", id, a.where())
	}
	return err
}

// status describes where a game stands, in a few words, with the names
// made printable.
func status(g cf.Game) string {
	switch {
	case g.Finished():
		return cli.Printable(g.Outcome())
	case g.Started:
		return cli.Printable(g.NextPlayer()) + " to play"
	}
	return "not started"
}

func (a *app) list(ctx context.Context, _ []string) int {
	store, err := a.openStore(ctx, false)
	if err != nil {
		return a.fail(err)
	}
	defer store.Close()
	games, err := a.service(store).ListGames(ctx)
	if err != nil {
		return a.fail(err)
	}
	if len(games) == 0 {
		fmt.Fprintln(a.out, "No games yet. Start one with: connectfour")
		return exitOK
	}
	tw := tabwriter.NewWriter(a.out, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tPLAYERS\tSTATUS\tMOVES\tSTARTED\tLAST MOVE")
	for _, g := range games {
		fmt.Fprintf(tw, "%s\t%s vs %s\t%s\t%d\t%s\t%s\n", g.ID.String()[:shortID],
			cli.Printable(g.Game.PlayerOne), cli.Printable(g.Game.PlayerTwo), status(g.Game), g.Game.Moves,
			g.Created.Local().Format(time.DateTime), g.Updated.Local().Format(time.DateTime))
	}
	if err := tw.Flush(); err != nil {
		return a.fail(err)
	}
	return exitOK
}

func (a *app) rebuild(ctx context.Context, _ []string) int {
	store, err := a.openStore(ctx, false)
	if err != nil {
		return a.fail(err)
	}
	defer store.Close()
	err = a.service(store).RebuildReadModels(ctx)
	if errors.Is(err, cf.ErrNoReadModels) {
		fmt.Fprintf(a.out, "On %s, list and stats read the events each time: there is nothing to rebuild.\n", a.where())
		return exitOK
	}
	if err != nil {
		return a.fail(err)
	}
	fmt.Fprintf(a.out, "Rebuilt the games list and the leaderboard from the events in %s.\n", dsn.Describe(a.storeDSN))
	return exitOK
}

func (a *app) forget(ctx context.Context, args []string) int {
	player := strings.TrimSpace(args[0])
	if player == "" {
		return a.fail(badInput("forget whom? give the player's name"))
	}
	store, err := a.openStore(ctx, false)
	if err != nil {
		return a.fail(err)
	}
	defer store.Close()
	svc := a.service(store)
	err = svc.Forget(ctx, player)
	if errors.Is(err, cf.ErrNamesNotForgettable) {
		err = fmt.Errorf(`cannot forget %s: names in %s are stored in the clear, because that store has no database to keep the keys that make them forgettable. `+
			`To erase the name there, delete the streams of the games that hold it ('connectfour list' shows them); `+
			`to play with names that can be forgotten, use --store sqlite:PATH or --store postgres://URL`, cli.Printable(player), a.where())
	}
	if err != nil {
		return a.fail(err)
	}
	// Forgetting deletes the key of the names stored encrypted; the games
	// that hold the name in the clear still show it, and say so.
	fmt.Fprintf(a.out, "Forgot %s in %s: the name reads as [forgotten] in the games this program started there, "+
		"the moves made in them through chronicle serve included.\n", cli.Printable(player), a.where())
	fmt.Fprintln(a.out, "Games started through chronicle serve, or over kurrentdb://, store names in the clear: forgetting cannot erase those.")
	games, err := svc.ListGames(ctx)
	if err != nil {
		return a.fail(fmt.Errorf("could not look for the games that hold %s in the clear: %w", cli.Printable(player), err))
	}
	// A name read as it was given is one stored in the clear: those
	// stored encrypted now read as [forgotten].
	inClear := 0
	for _, g := range games {
		if g.Game.PlayerOne == player || g.Game.PlayerTwo == player {
			inClear++
		}
	}
	switch inClear {
	case 0:
	case 1:
		fmt.Fprintf(a.out, "%s is still named in 1 such game ('connectfour list' shows it): delete its stream to erase the name.\n", cli.Printable(player))
	default:
		fmt.Fprintf(a.out, "%s is still named in %d such games ('connectfour list' shows them): delete their streams to erase the name.\n", cli.Printable(player), inClear)
	}
	return exitOK
}

func (a *app) stats(ctx context.Context, _ []string) int {
	store, err := a.openStore(ctx, false)
	if err != nil {
		return a.fail(err)
	}
	defer store.Close()
	players, err := a.service(store).Leaderboard(ctx)
	if err != nil {
		return a.fail(err)
	}
	if len(players) == 0 {
		fmt.Fprintln(a.out, "No games yet. Start one with: connectfour")
		return exitOK
	}
	tw := tabwriter.NewWriter(a.out, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "RANK\tPLAYER\tGAMES\tWINS\tLOSSES\tTIES")
	for i, p := range players {
		fmt.Fprintf(tw, "%d\t%s\t%d\t%d\t%d\t%d\n", i+1, cli.Printable(p.Name), p.Games, p.Wins, p.Losses, p.Ties)
	}
	if err := tw.Flush(); err != nil {
		return a.fail(err)
	}
	return exitOK
}

func (a *app) show(ctx context.Context, args []string) int {
	svc, id, done, err := a.openGame(ctx, args[0])
	if err != nil {
		return a.fail(err)
	}
	defer done()
	g, err := svc.GetGame(ctx, id)
	if err != nil {
		return a.fail(a.notFound(id, err))
	}
	fmt.Fprintf(a.out, "Game %s: %s (%s) against %s (%s)\n", id,
		cli.Printable(g.PlayerOne), a.symbol(cf.Red), cli.Printable(g.PlayerTwo), a.symbol(cf.Yellow))
	fmt.Fprint(a.out, a.drawGame(g))
	fmt.Fprintf(a.out, "After %s, %s.\n", moves(g.Moves), status(g))
	return exitOK
}

func (a *app) history(ctx context.Context, args []string) int {
	svc, id, done, err := a.openGame(ctx, args[0])
	if err != nil {
		return a.fail(err)
	}
	defer done()
	events, err := svc.History(ctx, id)
	if err != nil {
		return a.fail(a.notFound(id, err))
	}
	fmt.Fprintf(a.out, "Stream %s\n", cf.StreamName(id))
	tw := tabwriter.NewWriter(a.out, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "REV\tRECORDED (UTC)\tTYPE\tDATA")
	for _, e := range events {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", e.Revision, e.Recorded.UTC().Format("2006-01-02 15:04:05.000000"),
			cli.Printable(e.Type), cli.Printable(string(e.Data)))
	}
	if err := tw.Flush(); err != nil {
		return a.fail(err)
	}
	return exitOK
}

func (a *app) replay(ctx context.Context, args []string) int {
	if a.at < -1 {
		fmt.Fprintf(a.err, "connectfour replay: --at %d: give a move number, 0 or more\n", a.at)
		return exitUsage
	}
	svc, id, done, err := a.openGame(ctx, args[0])
	if err != nil {
		return a.fail(err)
	}
	defer done()
	steps, err := svc.Replay(ctx, id)
	if err == nil && len(steps) == 0 {
		// Replay finds no game without events; should a store still
		// read one as empty, there is nothing to replay either.
		err = cf.ErrGameNotFound
	}
	if err != nil {
		return a.fail(a.notFound(id, err))
	}
	final := steps[len(steps)-1].Game
	if a.at >= 0 {
		return a.replayAt(id, steps, final)
	}
	delay := a.delay
	if delay < 0 {
		delay = 0
		if a.outTTY {
			delay = 700 * time.Millisecond
		}
	}
	fmt.Fprintf(a.out, "Replaying game %s: %s (%s) against %s (%s), %s.\n", id,
		cli.Printable(final.PlayerOne), a.symbol(cf.Red), cli.Printable(final.PlayerTwo), a.symbol(cf.Yellow), moves(final.Moves))
	for i, s := range steps {
		m, ok := s.Event.(cf.MoveMade)
		if !ok {
			continue
		}
		if i+1 < len(steps) && steps[i+1].Game.Finished() {
			// The end of the game comes with the move that ends it:
			// draw them together, with the winning line marked.
			s = steps[i+1]
		}
		if err := sleep(ctx, delay); err != nil {
			return a.fail(err)
		}
		fmt.Fprintf(a.out, "\nMove %d: %s plays %s\n%s", s.Game.Moves, cli.Printable(m.Player), cli.Printable(string(m.Column)), a.drawGame(s.Game))
	}
	fmt.Fprintf(a.out, "\nResult: %s.\n", status(final))
	return exitOK
}

// replayAt draws the board as it was after move a.at.
func (a *app) replayAt(id uuid.UUID, steps []cf.Step, final cf.Game) int {
	if a.at > final.Moves {
		fmt.Fprintf(a.err, "connectfour replay: --at %d: game %s has only %s\n", a.at, id, moves(final.Moves))
		return exitUsage
	}
	var g cf.Game
	for _, s := range steps {
		if s.Game.Moves > a.at {
			break
		}
		g = s.Game
	}
	fmt.Fprintf(a.out, "Game %s after move %d of %d:\n%s", id, a.at, final.Moves, a.drawGame(g))
	if g.Finished() {
		fmt.Fprintf(a.out, "Result: %s.\n", status(g))
	} else {
		fmt.Fprintf(a.out, "Next player: %s (%s)\n", cli.Printable(g.NextPlayer()), a.symbol(g.TokenOf(g.NextPlayer())))
	}
	return exitOK
}

// capitalize upper-cases the first letter of s, which may be a name in
// any script.
func capitalize(s string) string {
	if s == "" {
		return s
	}
	r, size := utf8.DecodeRuneInString(s)
	return string(unicode.ToUpper(r)) + s[size:]
}

// sleep waits for d, or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
