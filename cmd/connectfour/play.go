package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	cf "github.com/chronicle-es/chronicle/examples/connectfour"
	"github.com/chronicle-es/chronicle/internal/cli"
	"github.com/chronicle-es/chronicle/internal/dsn"
	"github.com/google/uuid"
)

// maxLine is the most of an input line that is kept; the rest is
// dropped, so that no input, however long, costs much memory. A line cut
// so is no answer: its start could read as one (a name, a column, q)
// that the whole line is not.
const maxLine = 1024

// line is a line of input, without its line ending.
type line struct {
	text string
	// cut: the line was longer than maxLine, and text is its start.
	cut bool
}

// answer is why a prompt ended.
type answer int

const (
	answered answer = iota
	// quit: the player typed q, or input ended (Ctrl-D, end of a pipe).
	quit
	// interrupted: a signal, Ctrl-C or SIGTERM (see [app.interruption]).
	interrupted
)

// prompter asks questions on the console and reads the answers, one
// line each. It reads in a goroutine so that Ctrl-C stops a prompt that
// waits for a line.
type prompter struct {
	c     console
	lines <-chan line
}

func newPrompter(ctx context.Context, c console) *prompter {
	lines := make(chan line)
	go func() {
		defer close(lines)
		r := bufio.NewReader(c.in)
		for {
			l, err := readLine(r)
			if err != nil && l.text == "" && !l.cut {
				return
			}
			select {
			case lines <- l:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return &prompter{c: c, lines: lines}
}

// readLine reads one line, keeping at most maxLine bytes of it. At the
// end of input it returns what it has, with io.EOF.
func readLine(r *bufio.Reader) (line, error) {
	var sb strings.Builder
	cut := false
	for {
		chunk, err := r.ReadSlice('\n')
		text := bytes.TrimRight(chunk, "\r\n")
		if sb.Len()+len(text) > maxLine {
			cut = true
		}
		if sb.Len() < maxLine {
			sb.Write(chunk[:min(len(chunk), maxLine-sb.Len())])
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		return line{text: strings.TrimRight(sb.String(), "\r\n"), cut: cut}, err
	}
}

// ask prints question and returns the line typed, trimmed of spaces.
// Input that does not come from a terminal is echoed, so that the
// transcript of a piped game reads like one played by hand. Typing q,
// quit or exit quits. A line too long to keep is asked again.
func (p *prompter) ask(ctx context.Context, question string) (string, answer) {
	for {
		fmt.Fprint(p.c.out, question)
		select {
		case <-ctx.Done():
			fmt.Fprintln(p.c.out)
			return "", interrupted
		case l, ok := <-p.lines:
			if !ok {
				fmt.Fprintln(p.c.out)
				return "", quit
			}
			if !p.c.inTTY {
				fmt.Fprintln(p.c.out, cli.Printable(l.text))
			}
			if l.cut {
				fmt.Fprintf(p.c.out, "That line is too long (over %d bytes) to be an answer.\n", maxLine)
				continue
			}
			text := strings.TrimSpace(l.text)
			switch strings.ToLower(text) {
			case "q", "quit", "exit":
				return "", quit
			}
			return text, answered
		}
	}
}

// sentence turns an error message of the game, such as "column A is
// full: choose another column", into a sentence to print.
func sentence(err error) string {
	msg := err.Error()
	var rule *cf.RuleError
	if errors.As(err, &rule) {
		msg = rule.Error()
	}
	return capitalize(msg) + "."
}

// session is a game being played at the console.
type session struct {
	*app
	svc   *cf.Service
	id    uuid.UUID
	game  cf.Game
	input *prompter
}

// play starts a new game and plays it.
func (a *app) play(ctx context.Context, _ []string) int {
	// Cancelled on return, to stop the goroutine that reads input.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	store, err := a.openStore(ctx, true)
	if err != nil {
		return a.fail(err)
	}
	defer store.Close()
	fmt.Fprintln(a.out, "Welcome to Connect Four!")
	a.printStore()
	fmt.Fprintln(a.out)
	s := &session{app: a, svc: a.service(store), input: newPrompter(ctx, a.console)}
	one, ans := s.askName(ctx, "Player one, you play "+a.symbol(cf.Red)+". Your name: ", "")
	if ans != answered {
		return s.stopBeforeStart(ans)
	}
	two, ans := s.askName(ctx, "Player two, you play "+a.symbol(cf.Yellow)+". Your name: ", one)
	if ans != answered {
		return s.stopBeforeStart(ans)
	}
	if s.id, err = s.svc.CreateGame(ctx, one, two); err != nil {
		return a.fail(err)
	}
	if s.game, err = s.svc.GetGame(ctx, s.id); err != nil {
		return a.fail(err)
	}
	fmt.Fprintf(a.out, "\nGame %s: %s against %s. %s starts.\n", s.id, s.player(one), s.player(two), cli.Printable(one))
	return s.loop(ctx)
}

// resume continues a game left unfinished.
func (a *app) resume(ctx context.Context, args []string) int {
	// Cancelled on return, to stop the goroutine that reads input.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	store, err := a.openStore(ctx, false)
	if err != nil {
		return a.fail(err)
	}
	defer store.Close()
	svc := a.service(store)
	id, err := a.findGame(ctx, svc, args[0])
	if err != nil {
		return a.fail(err)
	}
	g, err := svc.GetGame(ctx, id)
	if err != nil {
		return a.fail(a.notFound(id, err))
	}
	if g.Finished() {
		fmt.Fprint(a.out, a.drawGame(g))
		return a.fail(fmt.Errorf("game %s is over (%s after %s): there is nothing to resume", id, status(g), moves(g.Moves)))
	}
	if !g.Started {
		// Its GameStarted is not read (retention metadata hides it, or
		// a scavenge removed it): the rules refuse every move.
		return a.fail(fmt.Errorf("game %s has no players: its GameStarted event, which names them, is not in %s (retention metadata hides it, or a scavenge removed it), so no move can be made in it", id, a.where()))
	}
	if err := svc.CanMove(ctx, id); err != nil {
		return a.fail(a.cannotMove(id, err))
	}
	a.printStore()
	s := &session{app: a, svc: svc, id: id, game: g, input: newPrompter(ctx, a.console)}
	fmt.Fprintf(a.out, "Resuming game %s: %s against %s, after %s.\n", id, s.player(g.PlayerOne), s.player(g.PlayerTwo), moves(g.Moves))
	return s.loop(ctx)
}

// cannotMove explains an error of a move in game id that matches
// [cf.ErrNamesEncrypted]: why this store cannot play the game, and where
// to play it instead. It returns other errors as they are.
func (a *app) cannotMove(id uuid.UUID, err error) error {
	if !errors.Is(err, cf.ErrNamesEncrypted) {
		return err
	}
	return fmt.Errorf("game %s cannot be played on %s: its players' names are stored encrypted, with their keys in the database where it was started (sqlite: or postgres://), which this store does not reach, so a move made here could not say who made it.\n"+
		"Play it on that database, with: connectfour resume %s --store sqlite:FILE (or postgres://...), or in the web UI of a chronicle serve of that database",
		id, dsn.Describe(a.storeDSN), id)
}

// printStore says, once per game session, where the events go.
func (a *app) printStore() {
	fmt.Fprintf(a.out, "Events are saved in %s.\n", dsn.Describe(a.storeDSN))
}

// askName asks for a player's name until it is a valid one, different
// from other's.
func (s *session) askName(ctx context.Context, question, other string) (string, answer) {
	for {
		name, ans := s.input.ask(ctx, question)
		if ans != answered {
			return "", ans
		}
		err := cf.ValidatePlayerName(name)
		switch {
		case err != nil:
			fmt.Fprintln(s.out, sentence(err))
		case other != "" && cf.SamePlayers(name, other):
			fmt.Fprintf(s.out, "%s is already playing: player two needs another name.\n", cli.Printable(other))
		default:
			return name, answered
		}
	}
}

func (s *session) stopBeforeStart(ans answer) int {
	code := exitUnfinished
	if ans == interrupted {
		code = s.interruption()
	}
	fmt.Fprintln(s.out, "No game was started. Bye!")
	return code
}

// interruption says, after a prompt that a signal ended, which signal it
// was, in the words of cli.Stopped, and returns the exit status for it.
// A prompt ends so only when the run's context does, which only a test
// ends otherwise: that reads as Ctrl-C.
func (a *app) interruption() int {
	how, code, ok := cli.Stopped(a.stopped(), context.Canceled)
	if !ok {
		how, code = "interrupted", cli.ExitInterrupted
	}
	fmt.Fprintf(a.out, "%s.\n", capitalize(how))
	return code
}

// loop plays moves until the game ends or the players stop.
func (s *session) loop(ctx context.Context) int {
	for !s.game.Finished() {
		next := s.game.NextPlayer()
		fmt.Fprintf(s.out, "\n%sNext player: %s\n", s.drawGame(s.game), s.player(next))
		col, ans := s.askColumn(ctx)
		if ans != answered {
			return s.stopUnfinished(ans)
		}
		// The column was chosen on the board shown. Moves made elsewhere
		// since, such as in this game resumed in another terminal, may
		// have left it the same player's turn on another board, where
		// the rules would take it: show that board instead.
		now, err := s.svc.GetGame(ctx, s.id)
		if err != nil {
			return s.fail(err)
		}
		if now != s.game {
			fmt.Fprintln(s.out, changedElsewhere)
			s.game = now
			continue
		}
		g, err := s.svc.MakeMove(ctx, s.id, next, col)
		switch {
		case errors.Is(err, cf.ErrColumnFull):
			fmt.Fprintln(s.out, sentence(err))
		case errors.Is(err, cf.ErrNotYourTurn), errors.Is(err, cf.ErrGameOver), errors.Is(err, cf.ErrConcurrentMove):
			// Someone else moved first, between the load above and
			// the move: show the game as it is now.
			fmt.Fprintln(s.out, changedElsewhere)
			if s.game, err = s.svc.GetGame(ctx, s.id); err != nil {
				return s.fail(err)
			}
		case err != nil:
			return s.fail(s.cannotMove(s.id, err))
		default:
			s.game = g
		}
	}
	fmt.Fprintf(s.out, "\n%s", s.drawGame(s.game))
	switch w := s.game.Winner(); {
	case w != "":
		fmt.Fprintf(s.out, "%s wins after %s! Congratulations!\n", s.player(w), moves(s.game.Moves))
	case s.game.Result == cf.Tied:
		fmt.Fprintln(s.out, "The board is full: it is a tie!")
	default:
		// A result this version does not know, written elsewhere.
		fmt.Fprintf(s.out, "The game is over: %s.\n", cli.Printable(s.game.Outcome()))
	}
	fmt.Fprintf(s.out, "Game id: %s\n", s.id)
	if !s.inMemory() {
		fmt.Fprintf(s.out, "Replay it with: %s\n%s", s.commandLine("replay", s.id.String()), s.passwordNote())
	}
	return exitOK
}

// changedElsewhere says that the game shown is not the game any more.
const changedElsewhere = "The game changed elsewhere while you were choosing; here it is now."

// askColumn asks for a column until the answer is one. A full column is
// the rules' business: MakeMove refuses it.
func (s *session) askColumn(ctx context.Context) (cf.Column, answer) {
	for {
		input, ans := s.input.ask(ctx, "Column (A-G, q to quit): ")
		if ans != answered {
			return "", ans
		}
		if input == "" {
			fmt.Fprintln(s.out, "Type the letter of a column, from A to G, or q to quit.")
			continue
		}
		col, err := cf.ParseColumn(input)
		if err != nil {
			fmt.Fprintln(s.out, sentence(err))
			continue
		}
		return col, answered
	}
}

func (s *session) stopUnfinished(ans answer) int {
	code := exitUnfinished
	if ans == interrupted {
		code = s.interruption()
	}
	if s.inMemory() {
		fmt.Fprintf(s.out, "Game %s stopped after %s; the memory store forgets it now.\n", s.id, moves(s.game.Moves))
	} else {
		fmt.Fprintf(s.out, "Game %s is saved after %s. Resume it with:\n  %s\n%s", s.id, moves(s.game.Moves), s.commandLine("resume", s.id.String()),
			s.passwordNote())
	}
	return code
}

// inMemory reports whether the events are lost at exit, so that there is
// no point in telling how to resume or replay. A file whose name starts
// with "memory" keeps them.
func (a *app) inMemory() bool { return dsn.IsMemory(a.storeDSN) }

// commandLine returns the command that runs cmd on the same store,
// without the password of its URL, as every message names the store:
// what the program prints may end up in a log or on a shared screen.
func (a *app) commandLine(cmd, arg string) string {
	line := "connectfour " + cmd + " " + arg
	if a.store != "" {
		line += " --store " + cli.ShellQuote(dsn.Redact(a.store))
	}
	return line
}

// symbol draws a player's token, as the board does.
func (a *app) symbol(t cf.Token) string { return t.Symbol(a.colour()) }

// passwordNote says, after a line of commandLine whose store's password
// it hid, what to put in its place, without which the line does not run;
// else it is empty.
func (a *app) passwordNote() string {
	if dsn.Redact(a.store) == a.store {
		return ""
	}
	return "  (with the store's password in place of xxxxx)\n"
}

// player names a player with their token: "alice (X)". The name may
// come from another program, which did not check it: it is shown with
// cli.Printable.
func (s *session) player(name string) string {
	return fmt.Sprintf("%s (%s)", cli.Printable(name), s.symbol(s.game.TokenOf(name)))
}

// drawGame draws g's board, with its winning line marked.
func (a *app) drawGame(g cf.Game) string {
	var hl []cf.Cell
	if w := g.Winner(); w != "" {
		hl = g.Board.FourInARow(g.TokenOf(w))
	}
	return g.Board.Draw(cf.DrawOptions{Colour: a.colour(), Highlight: hl})
}

// moves counts n moves in words: "1 move", "2 moves".
func moves(n int) string {
	if n == 1 {
		return "1 move"
	}
	return fmt.Sprintf("%d moves", n)
}
