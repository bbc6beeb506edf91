// Command connectfour plays Connect Four in a terminal. Every move is an
// event saved in a Chronicle event store, so a game can be left and
// resumed, listed, shown, and replayed move by move.
//
// Usage:
//
//	connectfour [play]          play a new game (the default)
//	connectfour resume ID       continue an unfinished game
//	connectfour list            list the games
//	connectfour stats           show the leaderboard
//	connectfour rebuild         rebuild the games list and the leaderboard
//	connectfour forget PLAYER   erase a player's name from the games
//	connectfour show ID         draw a game's board
//	connectfour history ID      print a game's events
//	connectfour replay ID       play a game back (--at N: the board after move N)
//
// Events go to the embedded SQLite store in the user's data directory
// ($XDG_DATA_HOME/chronicle/connectfour.db, or
// ~/.local/share/chronicle/connectfour.db) unless --store says otherwise:
// memory:, sqlite:PATH, postgres://URL or kurrentdb://HOST:PORT. Run
// connectfour --help, or any command with --help, for the details.
//
// Exit status: 0 done; 1 error; 2 wrong usage; 3 game left unfinished (q,
// Ctrl-D or end of input: resume it later); 130 interrupted (Ctrl-C,
// SIGINT) and 143 stopped by SIGTERM, a game under way saved as after q.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/chronicle-es/chronicle"
	cf "github.com/chronicle-es/chronicle/examples/connectfour"
	"github.com/chronicle-es/chronicle/internal/cli"
	"github.com/chronicle-es/chronicle/internal/dsn"
	"github.com/chronicle-es/chronicle/projection"
)

// Exit codes, so that scripts can tell what happened. A command stopped
// by a signal exits cli.ExitInterrupted or cli.ExitTerminated.
const (
	exitOK = 0
	// exitError: the command failed, such as a game that does not exist
	// or a store that cannot be opened.
	exitError = 1
	// exitUsage: the command line is wrong.
	exitUsage = 2
	// exitUnfinished: the player quit (q, Ctrl-D, end of input) before
	// the game ended. The game is saved and can be resumed.
	exitUnfinished = 3
)

func main() {
	ctx, stop := cli.NotifyContext(context.Background())
	code := run(ctx, os.Args[1:], console{
		in:     os.Stdin,
		out:    os.Stdout,
		err:    os.Stderr,
		inTTY:  isTerminal(os.Stdin),
		outTTY: isTerminal(os.Stdout),
		getenv: os.Getenv,
	})
	stop()
	os.Exit(code)
}

// isTerminal reports whether f is a character device, which a terminal
// is. It uses only the standard library, at the cost of also saying yes
// for /dev/null, where colour or echo do no harm; golang.org/x/term would
// be exact but is not worth a new dependency here.
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// console is what the program talks to: passed in, rather than read from
// package os, so that tests can run the program in-process.
type console struct {
	in       io.Reader
	out, err io.Writer
	// inTTY and outTTY tell whether input and output are terminals: input
	// that is not is echoed, so a scripted game reads like a played one,
	// and output that is not gets no colour.
	inTTY, outTTY bool
	getenv        func(string) string
}

// colour reports whether to colour the output: only on a terminal, and
// never when NO_COLOR is set (https://no-color.org) or TERM is dumb.
func (c console) colour() bool {
	return c.outTTY && c.getenv("NO_COLOR") == "" && c.getenv("TERM") != "dumb"
}

// command is one of the program's commands.
type command struct {
	name, args, summary string
	// help explains the command in more words, after its usage line.
	help string
	// flags adds the command's own flags, besides --store.
	flags func(a *app, fs *flag.FlagSet)
	run   func(a *app, ctx context.Context, args []string) int
}

// describe tells cli.Program.Dispatch of c: it takes as many
// arguments as args names.
func (c command) describe() cli.Command[app] {
	return cli.Command[app]{Name: c.name, Args: strings.Fields(c.args), Setup: c.flags}
}

// storeFlag defines --store, which every command takes, after the
// command or before it.
func storeFlag(a *app, fs *flag.FlagSet) { fs.Var((*dsn.Flag)(&a.store), "store", "") }

// wrongArgs words the error of cmd given pos, the wrong number of
// arguments.
func wrongArgs(cmd command, pos []string) string {
	switch {
	case cmd.args == "":
		return fmt.Sprintf("%s takes no arguments, got %q", cmd.name, strings.Join(pos, " "))
	case len(pos) == 0:
		return fmt.Sprintf("%s needs a %s", cmd.name, argName(cmd.args))
	default:
		return fmt.Sprintf("%s takes one %s, got %d arguments", cmd.name, argName(cmd.args), len(pos))
	}
}

// argName words a command's argument, as its usage names it, for errors.
func argName(args string) string {
	if args == "PLAYER" {
		return "player's name"
	}
	return "game id"
}

// commands lists the commands in the order the help shows them. It is a
// function, not a package variable, so that no state outlives a run.
func commands() []command {
	return []command{
		{name: "play", summary: "play a new game (the default command)", run: (*app).play,
			help: `Asks for two players' names, then for each move a column, A to G.
Type q (or press Ctrl-D) at any prompt to stop; the game is saved, and
"connectfour resume ID" continues it. Input may be piped in:

  printf 'alice\nbob\nD\nD\n' | connectfour play`},
		{name: "resume", args: "ID", summary: "continue an unfinished game", run: (*app).resume,
			help: `Continues the game where it was left. ID is a game id, or its first characters.
The moves store the players' names as the game's start stored them: encrypted
in a game started on sqlite: or postgres://, whose keys are in that database,
and in the clear otherwise. Over kurrentdb:// there are no keys: a game whose
names are encrypted cannot be resumed there; resume it on its database.`},
		{name: "list", summary: "list the games, the latest first", run: (*app).list,
			help: "On the embedded store, reads the games table that a projection keeps up to date."},
		{name: "stats", summary: "show the leaderboard: games, wins, losses and ties of each player", run: (*app).stats,
			help: "On the embedded store, reads the leaderboard that a projection keeps up to date."},
		{name: "rebuild", summary: "rebuild the games list and the leaderboard from the events", run: (*app).rebuild,
			help: `On the embedded store and PostgreSQL, list and stats read tables that
projections keep up to date. Rebuilding empties them and replays every game
into them. Until then, tables that an older version of connectfour built keep
what it counted: a game of two players of the same name, which old games may
have, counted twice. Elsewhere, list and stats read the events each time:
there is nothing to rebuild.`},
		{name: "forget", args: "PLAYER", summary: "erase a player's name from the games whose names are encrypted", run: (*app).forget,
			help: `Names are personal data. On a store with a database (sqlite:, postgres://),
this program stores them encrypted, with a key for each player in that
database. Forgetting deletes the player's key: the games stay and still
replay, but the name reads as [forgotten] in the games this program started
there, in every event, the moves made in them through a chronicle serve
included, and in the read models, which are rebuilt. It cannot be undone. A
game started later under the same name gets a new key.

Forgetting does not erase names stored in the clear: those of the games that
a chronicle serve starts (in its web UI or API), in every move, whoever
makes it, and those of the games played over kurrentdb://, which has no
database for the keys (forget refuses there). Forget says how many games of
the store still hold the name in the clear; delete their streams to erase it
from them. Names stored encrypted read as [encrypted] over kurrentdb://, and
such a game cannot be resumed there.`},
		{name: "show", args: "ID", summary: "draw a game's board", run: (*app).show},
		{name: "history", args: "ID", summary: "print a game's events: revision, time, type, data", run: (*app).history,
			help: "The events are the game: everything else is computed from them."},
		{name: "replay", args: "ID", summary: "play a game back move by move", run: (*app).replay,
			help: `Draws the board after each move, pausing between moves on a terminal.
With --at N, draws only the board as it was after move N (0 is the empty board).`,
			flags: func(a *app, fs *flag.FlagSet) {
				fs.IntVar(&a.at, "at", -1, "")
				fs.DurationVar(&a.delay, "delay", -1, "")
			}},
	}
}

// app is one run of the program.
type app struct {
	console
	// store is the --store flag as given, "" for the default.
	store string
	// storeDSN is the store actually opened.
	storeDSN string
	// stopped returns why the run's context ended, nil while it goes on.
	stopped func() error
	// replay's flags: --at, -1 when not given, and --delay, negative
	// for the default.
	at    int
	delay time.Duration
}

func run(ctx context.Context, args []string, c console) int {
	a := &app{console: c, stopped: func() error { return context.Cause(ctx) }}
	call, err := cli.Program[command, app]{
		Flags: storeFlag, Commands: commands(), Describe: command.describe, Default: "play",
		Help: a.usage, CommandHelp: a.commandUsage, WrongArgs: wrongArgs,
	}.Dispatch(args, a, a.out)
	if err != nil || call.Command == nil {
		return cli.Report(a.err, "connectfour", err)
	}
	return call.Command.run(a, ctx, call.Args)
}

func (a *app) usage(w io.Writer) {
	fmt.Fprint(w, `Connect Four, event-sourced with Chronicle: every move is an event.

Usage:
  connectfour [command] [--store DSN] [arguments]

Commands:
`)
	// The summaries line up after the longest command.
	cmds := commands()
	width := 0
	for _, cmd := range cmds {
		width = max(width, len(strings.TrimSpace(cmd.name+" "+cmd.args)))
	}
	for _, cmd := range cmds {
		fmt.Fprintf(w, "  %-*s  %s\n", width, strings.TrimSpace(cmd.name+" "+cmd.args), cmd.summary)
	}
	fmt.Fprint(w, `
Run 'connectfour COMMAND --help' for more about a command.
`)
	a.commonHelp(w)
}

func (a *app) commandUsage(w io.Writer, cmd command) {
	fmt.Fprintf(w, "Usage: connectfour %s [--store DSN]", cmd.name)
	if cmd.name == "replay" {
		fmt.Fprint(w, " [--at N] [--delay D]")
	}
	if cmd.args != "" {
		fmt.Fprint(w, " "+cmd.args)
	}
	fmt.Fprintf(w, "\n\nconnectfour %s: %s.\n", cmd.name, cmd.summary)
	if cmd.help != "" {
		fmt.Fprintf(w, "\n%s\n", cmd.help)
	}
	if cmd.name == "replay" {
		fmt.Fprint(w, `
Flags:
  --at N      draw the board after move N only
  --delay D   pause between moves, such as 500ms or 0 (default: 700ms on a terminal, else 0)
`)
	}
	a.commonHelp(w)
}

func (a *app) commonHelp(w io.Writer) {
	def := "(unknown: set $HOME or XDG_DATA_HOME)"
	if p, err := defaultStorePath(a.getenv); err == nil {
		def = "sqlite:" + p
	}
	fmt.Fprintf(w, `
--store DSN chooses where events are kept:
  sqlite:PATH     the embedded SQLite store in file PATH (default %s),
                  which play creates and the other commands need
  postgres://URL  PostgreSQL (add schema=NAME to the URL to pick the schema)
  kurrentdb://HOST:PORT?tls=false
                  a KurrentDB (EventStoreDB) server or a chronicle serve,
                  as in the tutorial
  memory:         in memory, gone when the program ends

A game ID may be shortened to its first characters, as long as they are unique.
Colours are used on a terminal unless NO_COLOR is set.

Exit status: 0 done; 1 error; 2 wrong usage; 3 game left unfinished (q, Ctrl-D
or end of input: resume it later); 130 interrupted (Ctrl-C, SIGINT); 143
stopped by SIGTERM. A game stopped by either is saved, as after q.
`, def)
}

// defaultStorePath returns where events go without --store: a file in
// the user's data directory, as the XDG base directory spec places it
// ($XDG_DATA_HOME, else ~/.local/share), or the platform's equivalent.
func defaultStorePath(getenv func(string) string) (string, error) {
	const app, file = "chronicle", "connectfour.db"
	if d := getenv("XDG_DATA_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, app, file), nil
	}
	switch runtime.GOOS {
	case "windows":
		if d := getenv("LocalAppData"); d != "" {
			return filepath.Join(d, app, file), nil
		}
		return "", errors.New("%LocalAppData% is not set: give --store")
	case "darwin", "ios":
		if h := getenv("HOME"); h != "" {
			return filepath.Join(h, "Library", "Application Support", app, file), nil
		}
	default:
		if h := getenv("HOME"); h != "" {
			return filepath.Join(h, ".local", "share", app, file), nil
		}
	}
	return "", errors.New("$HOME is not set: give --store")
}

// openStore opens the store of --store, or the default one, whose
// directory it creates. Unless creates, as for every command but play,
// it refuses a --store that names a SQLite file that does not exist:
// a mistyped path would else get a new, empty store, of which list says
// "No games yet" and show that it has no such game.
func (a *app) openStore(ctx context.Context, creates bool) (dsn.Store, error) {
	a.storeDSN = a.store
	if !creates {
		if err := dsn.MustExist(a.store, "play makes a new store"); err != nil {
			return nil, err
		}
	}
	if a.store == "" {
		path, err := defaultStorePath(a.getenv)
		if err != nil {
			return nil, fmt.Errorf("find where to keep events: %w", err)
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("create the data directory: %w", err)
		}
		a.storeDSN = "sqlite:" + path
	}
	s, err := dsn.Open(ctx, a.storeDSN)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// where names the store opened, for messages: as given, but for the
// password of a URL.
func (a *app) where() string { return dsn.Redact(a.storeDSN) }

// service returns the game service over store. Player names are personal
// data: they are stored encrypted, so that "connectfour forget" can erase
// them, when the store can keep their keys. A store without a database of
// its own (KurrentDB, or a chronicle serve reached through kurrentdb://)
// would leave them in this process's memory only, and every name would be
// lost when it exits: there, names are stored in the clear, as the
// tutorial stores them, and names stored encrypted in the store below
// read as "[encrypted]", in games it cannot move in
// ([cf.ErrNamesEncrypted]). The memory store loses its events at exit
// too, so keys in memory suit it.
func (a *app) service(store chronicle.Store) *cf.Service {
	if _, ok := store.(projection.DB); !ok && !a.inMemory() {
		return cf.NewService(store)
	}
	return cf.NewService(store, cf.WithForgettableNames())
}

// fail prints err and returns the exit code for it.
func (a *app) fail(err error) int {
	// Stopped by a signal: that is what the user needs to hear, not the
	// "context canceled" of what was under way.
	if how, code, ok := cli.Stopped(a.stopped(), err); ok {
		fmt.Fprintf(a.err, "connectfour: %s before it was done\n", how)
		return code
	}
	fmt.Fprintf(a.err, "connectfour: %v\n", err)
	var bad *inputError
	if errors.As(err, &bad) || errors.Is(err, dsn.ErrInvalid) {
		return exitUsage
	}
	return exitError
}

// inputError is an argument that is wrong in itself, such as a game id
// that is no id: wrong usage, as the help's exit status says.
type inputError struct{ msg string }

func (e *inputError) Error() string { return e.msg }

func badInput(format string, args ...any) error {
	return &inputError{fmt.Sprintf(format, args...)}
}
