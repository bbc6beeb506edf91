// Command chronicle serves and administers a Chronicle event store: it
// runs the Chronicle server (an HTTP API, a web UI and Connect Four in the
// browser), archives events to JSON Lines files and imports them back,
// reads streams, sets their retention, deletes them and scavenges what
// retention and deletion hide.
//
// Usage:
//
//	chronicle serve [--listen ADDR] [--auth FILE | --read-only | --allow-unauthenticated-writes]
//	                [--tls-cert FILE --tls-key FILE] [--log text|json] [--grace DURATION]
//	chronicle passwd FILE USER [--role writer|admin]  add a user to a users file for --auth
//	chronicle export [--stream S]... [--from P] [--prefix P] [--category C]... [--type T]...
//	                 [--out FILE]                   archive events (stdout by default)
//	chronicle import FILE [--keep-origin]           append an archive's events (- for stdin)
//	chronicle read STREAM [--backwards] [--from N] [--limit N]
//	chronicle meta STREAM [--max-age D] [--max-count N] [--truncate-before N]
//	chronicle delete STREAM [--expected E]
//	chronicle tombstone STREAM [--expected E]
//	chronicle scavenge
//
// Every command works on the store that --store names (memory:,
// sqlite:PATH, postgres://URL or kurrentdb://HOST:PORT), by default the
// embedded SQLite store that a Chronicle server uses:
// $XDG_DATA_HOME/chronicle/chronicle.db, or
// ~/.local/share/chronicle/chronicle.db. Run chronicle --help, or any
// command with --help, for the details.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	internalcli "github.com/chronicle-es/chronicle/internal/cli"
	"github.com/chronicle-es/chronicle/internal/dsn"
)

// Exit codes, so that scripts can tell what happened.
const (
	exitOK = 0
	// exitError: the command failed, such as a stream that does not
	// exist, a store that cannot be opened, or bad lines in an archive.
	exitError = 1
	// exitUsage: the command line is wrong.
	exitUsage = 2
	// exitInterrupted: Ctrl-C, as shells report a SIGINT (128+2).
	exitInterrupted = internalcli.ExitInterrupted
	// exitTerminated: stopped by SIGTERM, as shells report it (128+15).
	exitTerminated = internalcli.ExitTerminated
)

func main() {
	// SIGTERM too, so that a server stopped by a service manager shuts
	// down as gracefully as one stopped with Ctrl-C. The context's cause
	// keeps which signal it was, for the exit status.
	ctx, stop := internalcli.NotifyContext(context.Background())
	code := run(ctx, os.Args[1:], console{in: os.Stdin, out: os.Stdout, err: os.Stderr})
	stop()
	os.Exit(code)
}

// console is what the program talks to: passed in, rather than read from
// package os, so that a run has no state but its own.
type console struct {
	in       io.Reader
	out, err io.Writer
}

// interruptibleReader reads r until ctx is done. The program catches
// Ctrl-C, so a read of standard input that waits for a terminal or a
// silent pipe would otherwise keep it running after Ctrl-C, and then act
// on what comes next.
type interruptibleReader struct {
	ctx context.Context
	r   io.Reader
	buf []byte
}

type readResult struct {
	n   int
	err error
}

// Read reads in a goroutine, so that it can return when ctx is done; the
// read it leaves behind ends with the program.
func (ir *interruptibleReader) Read(p []byte) (int, error) {
	if err := ir.ctx.Err(); err != nil {
		return 0, err
	}
	if len(ir.buf) < len(p) {
		ir.buf = make([]byte, len(p))
	}
	buf := ir.buf[:len(p)]
	done := make(chan readResult, 1)
	go func() {
		n, err := ir.r.Read(buf)
		done <- readResult{n, err}
	}()
	select {
	case res := <-done:
		return copy(p, buf[:res.n]), res.err
	case <-ir.ctx.Done():
		// The goroutine may still write to buf: never use it again.
		ir.buf = nil
		return 0, ir.ctx.Err()
	}
}

// command is one of the program's commands.
type command struct {
	name string
	// args names the positional arguments, for the usage line, and
	// flags the command's own flags; summary says what it does.
	args, flags, summary string
	// help explains the command in more words, and flagHelp its flags,
	// one per line.
	help, flagHelp string
	// define adds the command's own flags, besides --store.
	define func(a *app, fs *flag.FlagSet)
	// noStore marks a command that is given no store: one that works
	// without, or import and serve, which may make a new store, and read
	// their files first, so that a file that cannot be read makes none.
	// The others are given a store that exists: they refuse a SQLite file
	// that does not, which a mistyped path would otherwise create empty
	// (an export of nothing, a scavenge of nothing, both "done").
	noStore bool
	// check validates the flags, before the store is opened.
	check func(a *app) error
	run   func(a *app, ctx context.Context, s dsn.Store, args []string) int
}

// commands lists the commands in the order the help shows them. It is a
// function, not a package variable, so that no state outlives a run.
func commands() []command {
	return []command{
		{name: "serve", flags: "[--listen ADDR] [--auth FILE | --read-only | --allow-unauthenticated-writes] [--tls-cert FILE --tls-key FILE] [--log text|json] [--grace DURATION]", summary: "serve the store over HTTP: API, web UI, Connect Four",
			noStore: true, run: (*app).serve, define: serveFlags, check: (*app).checkServe, help: serveHelp, flagHelp: serveFlagHelp},
		{name: "passwd", args: "FILE USER", flags: "[--role writer|admin]", summary: "add a user who may write to a users file (for serve --auth)",
			noStore: true, run: (*app).passwd, define: passwdFlags, help: passwdHelp, flagHelp: passwdFlagHelp},
		{name: "export", flags: "[--stream S]... [--from P] [--prefix P] [--category C]... [--type T]... [--out FILE]", summary: "write events to a JSON Lines archive",
			run: (*app).export, define: exportFlags, check: (*app).checkExport,
			help: `Without --stream, writes the whole global log in position order, including
the events that retention or deletion hide but that no scavenge has removed
yet: export, then scavenge, and the archive keeps what the scavenge removes.
With --stream, writes those streams as a read shows them; a stream that
does not exist or is deleted is an error, and nothing is written.

Each line is one event: stream, revision, position, id, type, recorded,
metadata, and data (embedded when it is compact JSON, else data_base64).
The file is written in full or not at all: a failed export leaves no file.`,
			flagHelp: `  --stream S      export stream S; repeat for more streams
  --out FILE      write to FILE instead of standard output
  --from P        start at global position P (whole-store exports only), to
                  archive what came after an earlier archive's last position
  --prefix P      only streams whose name starts with P
  --category C    only streams of category C (the name before its first '-'); repeatable
  --type T        only events of type T; repeatable`},
		{name: "import", args: "FILE", flags: "[--keep-origin]", summary: "append the events of an archive (FILE - reads standard input)", noStore: true,
			run: (*app).importFile, define: importFlags,
			help: `Appends each event to the stream of the same name, keeping its ID, type,
data and metadata; the store gives it a new position and recorded time
(--keep-origin keeps the old ones in the metadata keys $originalPosition
and $originalRecorded).

Importing is idempotent: events already in the store are not written
again. The exception is a stream whose older events a scavenge removed
from this store while it kept the newer ones (retention): an archive of
that stream made before the scavenge may write the kept events a second
time. A bad line stops the import with its number; the lines before it
are imported. Fix the line and run the same import again to finish it, as
you would after an interrupted import. The lines of a stream tombstoned in
this store can never be imported: leave them out of the archive.`,
			flagHelp: `  --keep-origin   keep the original position and recorded time in the metadata`},
		{name: "read", args: "STREAM", flags: "[--backwards] [--from N] [--limit N]", summary: "print a stream's events",
			run: (*app).read, define: readFlags,
			help: `Prints one event per line: revision, position, recorded time, type and
data. Data that is JSON is shown compact, other text quoted, and binary
data as base64:... Events that the stream's metadata hides are not shown.`,
			flagHelp: `  --backwards     newest first
  --from N        start at revision N (default: the first, or the last backwards)
  --limit N       print at most N events (0, the default: all of them)`},
		{name: "meta", args: "STREAM", flags: "[--max-age D] [--max-count N] [--truncate-before N]",
			summary: "show or set a stream's retention metadata", run: (*app).meta, define: metaFlags,
			help: `Without flags, shows the metadata. With flags, changes the settings given
and keeps the others; 0 removes a limit. Reads hide the events the
metadata excludes at once; "chronicle scavenge" removes them for good.
On a KurrentDB node (--store kurrentdb://), setting replaces the stream's
whole metadata: keys that other tools set there, such as ACLs, are lost.`,
			flagHelp: `  --max-age D          hide events older than D, such as 36h, 90m or 30d
  --max-count N        keep only the newest N events
  --truncate-before N  hide the events before revision N`},
		{name: "delete", args: "STREAM", flags: "[--expected E]", summary: "soft-delete a stream",
			run: (*app).delete, define: expectedFlag,
			help: `The stream then reads as not found, and an append starts it again after
its old last revision (the old events stay hidden). "chronicle scavenge"
removes its events from the store.`,
			flagHelp: expectedHelp},
		{name: "tombstone", args: "STREAM", flags: "[--expected E]", summary: "delete a stream for good",
			run: (*app).tombstone, define: expectedFlag,
			help: `The stream can never be read or written again, and its name cannot be
reused. "chronicle scavenge" removes its events from the store.`,
			flagHelp: expectedHelp},
		{name: "scavenge", summary: "remove for good the events that retention and deletion hide",
			run: (*app).scavenge,
			help: `Removes the hidden events and gives their space back. The events that
remain keep their positions. A scavenge that is interrupted resumes where
it stopped when run again. Export first to keep a copy of what it removes.`},
	}
}

const expectedHelp = `  --expected E    only if the stream is at revision E: a revision number, any
                  (the default), no-stream, or exists`

// app is one run of the program.
type app struct {
	console
	// stopped returns why the run's context ended, nil while it goes on.
	stopped func() error
	// store is the --store flag as given, "" for the default.
	store string
	// set holds the names of the flags given, to tell "not given" from
	// a zero value.
	set map[string]bool

	// export
	streams, categories, types stringList
	outFile, prefix            string
	fromPosition               uint64
	// import
	keepOrigin bool
	// read
	backwards bool
	from      uint64
	limit     uint64
	// meta
	maxAge                   durationFlag
	maxCount, truncateBefore uint64
	// delete, tombstone
	expected expectedValue
	// serve
	listen, authFile, logFormat string
	tlsCert, tlsKey             string
	readOnly, openWrites        bool
	grace                       time.Duration
	// passwd
	role string
}

// run runs the command line args and returns the exit status. A command
// stopped by SIGTERM exits 143, as shells report a SIGTERM, rather than
// the 130 of Ctrl-C (see fail); a server that stops gracefully exits 0
// either way.
func run(ctx context.Context, args []string, c console) int {
	c.in = &interruptibleReader{ctx: ctx, r: c.in}
	a := &app{console: c, stopped: func() error { return context.Cause(ctx) }}
	call, err := internalcli.Program[command, app]{
		Flags: storeFlag, Commands: commands(), Describe: command.describe,
		Help: usage, CommandHelp: commandUsage, WrongArgs: wrongArgs,
	}.Dispatch(args, a, a.out)
	if err == nil && call.Command != nil {
		// Checks tell a flag given as 0 from one left out, as commands do.
		a.set = make(map[string]bool)
		call.Flags.Visit(func(f *flag.Flag) { a.set[f.Name] = true })
	}
	if err == nil && call.Command != nil && call.Command.check != nil {
		if err = call.Command.check(a); err != nil {
			err = &internalcli.UsageError{Command: call.Command.name, Err: err}
		}
	}
	if err != nil || call.Command == nil {
		return internalcli.Report(a.err, "chronicle", err)
	}
	return a.runCommand(ctx, *call.Command, call.Flags, call.Args)
}

// describe tells internalcli.Program.Dispatch of c: it takes as many
// arguments as args names.
func (c command) describe() internalcli.Command[app] {
	return internalcli.Command[app]{Name: c.name, Args: strings.Fields(c.args), Setup: c.define}
}

// storeFlag defines --store, which every command takes, after the
// command or before it.
func storeFlag(a *app, fs *flag.FlagSet) { fs.Var((*dsn.Flag)(&a.store), "store", "") }

// runCommand runs cmd with pos, its arguments, and fs, its flags, parsed.
func (a *app) runCommand(ctx context.Context, cmd command, fs *flag.FlagSet, pos []string) int {
	if cmd.noStore {
		return cmd.run(a, ctx, nil, pos)
	}

	s, err := a.openStore(ctx, false)
	if err != nil {
		return a.fail(cmd.name, err)
	}
	defer s.Close()
	return cmd.run(a, ctx, s, pos)
}

// wrongArgs words the error of cmd given pos, the wrong number of
// arguments.
func wrongArgs(cmd command, pos []string) string {
	args := strings.Join(strings.Fields(strings.ToLower(cmd.args)), " and ")
	switch n := len(strings.Fields(cmd.args)); {
	case n == 0:
		return fmt.Sprintf("%s takes no arguments, got %q", cmd.name, strings.Join(pos, " "))
	case len(pos) == 0:
		return fmt.Sprintf("%s needs %s", cmd.name, args)
	case n > 1:
		return fmt.Sprintf("%s takes %s, got %s: %q", cmd.name, args, plural(len(pos), "argument"), strings.Join(pos, " "))
	default:
		return fmt.Sprintf("%s takes one %s, got %d arguments: %q", cmd.name, args, len(pos), strings.Join(pos, " "))
	}
}

func usage(w io.Writer) {
	fmt.Fprint(w, `chronicle serves and administers a Chronicle event store.

Usage:
  chronicle [--store DSN] COMMAND [flags] [arguments]

Commands:
`)
	for _, cmd := range commands() {
		fmt.Fprintf(w, "  %-17s %s\n", strings.TrimSpace(cmd.name+" "+cmd.args), cmd.summary)
	}
	fmt.Fprint(w, `
Run 'chronicle COMMAND --help' for more about a command.
`)
	commonHelp(w)
}

func commandUsage(w io.Writer, cmd command) {
	store := " [--store DSN] "
	if cmd.noStore {
		store = " "
	}
	line := strings.Join(strings.Fields("chronicle "+cmd.name+store+cmd.flags+" "+cmd.args), " ")
	fmt.Fprintf(w, "Usage: %s\n\nchronicle %s: %s.\n", line, cmd.name, cmd.summary)
	if cmd.help != "" {
		fmt.Fprintf(w, "\n%s\n", cmd.help)
	}
	if cmd.flagHelp != "" {
		fmt.Fprintf(w, "\nFlags:\n%s\n", cmd.flagHelp)
	}
	commonHelp(w)
}

func commonHelp(w io.Writer) {
	def, err := dsn.Default("chronicle")
	if err != nil {
		def = "none: " + err.Error()
	}
	fmt.Fprintf(w, `
--store DSN chooses the store, before or after the command:
  sqlite:PATH     the embedded SQLite store in file PATH (PATH alone works too)
  postgres://URL  a PostgreSQL store
  kurrentdb://HOST:PORT?tls=false
                  a KurrentDB (EventStoreDB) server, or a chronicle serve
  memory:         an empty store in memory, gone when the command ends
The default is the embedded store that a Chronicle server uses:
  %s

Exit status: 0 done; 1 error; 2 wrong usage; 130 interrupted (Ctrl-C, SIGINT);
143 stopped by SIGTERM. A server that stops when told to exits 0, unless it
cuts off requests in flight.
`, def)
}

// openStore opens the store of --store, or the default one, and says on
// standard error which one it is: an admin command had better not act on
// another store than the one meant.
func (a *app) openStore(ctx context.Context, creates bool) (dsn.Store, error) {
	name := a.store
	if name == "" {
		def, err := dsn.Default("chronicle")
		if err != nil {
			return nil, err
		}
		name = def
	}
	fmt.Fprintf(a.err, "Store: %s\n", dsn.Describe(name))
	if !creates {
		if err := dsn.MustExist(name, "import and serve make a new store"); err != nil {
			return nil, err
		}
	}
	s, err := dsn.Open(ctx, name)
	if err != nil {
		if a.store == "" {
			return nil, fmt.Errorf("open the default store (choose another with --store): %w", err)
		}
		return nil, err
	}
	return s, nil
}

// stop returns why the run was stopped, or nil.
func (a *app) stop() error {
	if a.stopped == nil {
		return nil
	}
	return a.stopped()
}

// fail prints err and returns the exit code for it.
func (a *app) fail(cmd string, err error) int {
	// Stopped by a signal: that is what the user needs to hear, not the
	// "context canceled" of what was under way.
	if how, code, ok := internalcli.Stopped(a.stop(), err); ok {
		fmt.Fprintf(a.err, "chronicle %s: %s before it was done\n", cmd, how)
		return code
	}
	fmt.Fprintf(a.err, "chronicle %s: %v\n", cmd, err)
	switch {
	case errors.Is(err, context.Canceled):
		return exitInterrupted
	case errors.Is(err, dsn.ErrInvalid):
		return exitUsage
	}
	return exitError
}
