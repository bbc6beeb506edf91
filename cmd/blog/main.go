// Command blog is the blog of the event-sourcing examples: a command line
// over package examples/blog, with its commands, its read model and its
// confirmation e-mails.
//
// Usage:
//
//	blog [--store STORE] COMMAND [ARGS]
//
//	blog create --title TITLE [--content TEXT]  write a draft post and print its id
//	blog publish ID                             publish post ID, queueing its confirmation e-mail
//	blog list [--published]                     list the posts, oldest first; --published: only those
//	blog show ID                                show post ID
//	blog outbox [--send]                        show the confirmation e-mails; --send delivers the pending ones
//	blog rebuild                                rebuild the posts read model from the events, with progress
//	blog help [COMMAND]                         show help; so does --help before or after a command
//
// create takes the title and content as flags, not arguments, so that
// neither can be mistaken for the other; it prints
// "Created post with id '<id>'". Flags may come before or after the
// arguments; "--" ends them.
//
// Every command first brings the read model and the outbox up to date
// with the events (the projections' catch-up), since the command runs
// briefly and nothing else keeps them up to date; the queries then read
// the tables, never the events. create and publish write their event
// first, and catch up after: should the catch-up fail, the post is
// created or published all the same, and the command says so, exits 0,
// and warns on standard error that the read model is behind (a published
// post's e-mail is queued when it catches up).
//
// # Events that blog cannot read
//
// A post's stream may hold an event that this version of blog cannot
// read, written by a newer version or another tool. The read model stops
// on it rather than pass over what may change a post (see package
// examples/blog), and every command that reads the read model, rebuild
// included, exits 1 with a message that names the event, its stream,
// revision and position, and the commands that go on: run the version of
// blog that wrote it, or, when it is none of the blog's, remove its post
// with chronicle delete and chronicle scavenge, then rebuild.
//
// # The store
//
// The events, the read model (table posts) and the outbox (table outbox)
// are kept together in the embedded store at
// $XDG_DATA_HOME/chronicle/blog.db (~/.local/share/chronicle/blog.db when
// XDG_DATA_HOME is not set); its path is printed, on standard error, when
// it is first created. --store picks another PATH or sqlite:PATH, or
// PostgreSQL with postgres://URL (schema=NAME in the URL picks the
// schema, where the tables go too). The read model lives in the store's
// own database, and commits with the projection's checkpoint, so the blog
// needs a store with transactions: memory: is refused with a message that
// says so.
//
// # Exit status
//
//	0    done
//	1    failed, such as a store that cannot be opened
//	2    bad usage or input: unknown command or flag, missing argument,
//	     malformed id, a blank title, a store without transactions
//	3    Post does not exist
//	4    refused by the rules: Post is already published
//	130  interrupted (Ctrl-C, SIGINT) before it was done
//	143  stopped by SIGTERM before it was done
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/examples/blog"
	"github.com/chronicle-es/chronicle/internal/cli"
	"github.com/chronicle-es/chronicle/internal/dsn"
	"github.com/chronicle-es/chronicle/internal/progress"
	"github.com/chronicle-es/chronicle/projection"
	"github.com/google/uuid"
)

// Exit statuses; see the package documentation. A command stopped by a
// signal exits cli.ExitInterrupted or cli.ExitTerminated.
const (
	exitOK       = 0
	exitFailure  = 1
	exitUsage    = 2
	exitNotFound = 3
	exitRefused  = 4
)

func main() {
	ctx, stop := cli.NotifyContext(context.Background())
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// command is one of blog's subcommands.
type command struct {
	name    string
	args    []string // names of the positional arguments, for usage
	flags   string   // the flags' part of the usage line
	summary string
	detail  string // more for the command's help, if any
	setup   func(o *options, fs *flag.FlagSet)
	// flagHelp lines document the command's own flags.
	flagHelp []string
	run      func(ctx context.Context, a *app, o *options, args []string) error
}

// options are the flags of every command; each command defines those it
// takes.
type options struct {
	store          string
	title, content string
	published      bool
	send           bool
}

// describe tells cli.Program.Dispatch of c.
func (c command) describe() cli.Command[options] {
	return cli.Command[options]{Name: c.name, Args: c.args, Setup: c.setup}
}

// storeFlag defines --store, which every command takes, after the
// command or before it.
func storeFlag(o *options, fs *flag.FlagSet) { fs.Var((*dsn.Flag)(&o.store), "store", "") }

// app is what a command runs with.
type app struct {
	blog           *blog.Blog
	stdout, stderr io.Writer
	// store names the store for the command lines that blog tells the
	// user to run: --store as given, without a password, or the default
	// store's path.
	store string
	// hidden says that store has xxxxx in place of a password.
	hidden bool
}

// timeLayout is how the command line shows times: UTC, to the second.
const timeLayout = "2006-01-02 15:04:05 MST"

func commands() []command {
	return []command{
		{
			name: "create", flags: "--title TITLE [--content TEXT]",
			summary: "write a draft post and print its id",
			detail: "The title is required, one line of at most 200 characters; the content\n" +
				"is optional. Both are flags, not arguments.",
			setup: func(o *options, fs *flag.FlagSet) {
				fs.StringVar(&o.title, "title", "", "")
				fs.StringVar(&o.content, "content", "", "")
			},
			flagHelp: []string{
				"--title TITLE    the post's title (required)",
				"--content TEXT   the post's text",
			},
			run: create,
		},
		{
			name: "publish", args: []string{"ID"},
			summary: "publish post ID, which queues its confirmation e-mail",
			detail: "A post is published once: publishing it again, or publishing a post\n" +
				"that does not exist, is refused and changes nothing.",
			run: publish,
		},
		{
			name: "list", flags: "[--published]",
			summary: "list the posts, oldest first, one per line: id, status, title",
			setup: func(o *options, fs *flag.FlagSet) {
				fs.BoolVar(&o.published, "published", false, "")
			},
			flagHelp: []string{"--published      list only the published posts"},
			run:      list,
		},
		{
			name: "show", args: []string{"ID"},
			summary: "show post ID: its title, status, times and content",
			run:     show,
		},
		{
			name: "outbox", flags: "[--send]",
			summary: "show the confirmation e-mails; --send delivers the pending ones",
			detail: "Each published post has exactly one confirmation e-mail, queued in the\n" +
				"outbox when the post is published. --send delivers the e-mails not sent\n" +
				"yet, by printing them, and marks them sent.",
			setup: func(o *options, fs *flag.FlagSet) {
				fs.BoolVar(&o.send, "send", false, "")
			},
			flagHelp: []string{"--send           deliver the pending e-mails and mark them sent"},
			run:      outbox,
		},
		{
			name:    "rebuild",
			summary: "rebuild the posts read model from the events, showing progress",
			detail: "The table posts is emptied and every post's events are replayed into it.\n" +
				"Progress goes to standard error. The outbox is not rebuilt: its e-mails\n" +
				"were queued once and stay so.",
			run: rebuild,
		},
	}
}

func create(ctx context.Context, a *app, o *options, _ []string) error {
	id, err := a.blog.CreatePost(ctx, o.title, o.content)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "Created post with id '%s'\n", id)
	a.catchUpAfter(ctx, "the post is created")
	return nil
}

func publish(ctx context.Context, a *app, _ *options, args []string) error {
	id, err := blog.ParseID(args[0])
	if err != nil {
		return err
	}
	if err := a.blog.PublishPost(ctx, id); err != nil {
		return refusal(err, id)
	}
	fmt.Fprintf(a.stdout, "Published post '%s'\n", id)
	// Queues the confirmation e-mail now, rather than at the next command.
	a.catchUpAfter(ctx, "the post is published")
	return nil
}

// catchUpAfter brings the read model up to date after a command that
// wrote its event, as done says. Should that fail, the command is done
// all the same: its event is written, and a failure here would have the
// user run it again. A warning says why the read model is behind.
func (a *app) catchUpAfter(ctx context.Context, done string) {
	err := a.blog.CatchUp(ctx)
	if err == nil {
		return
	}
	var stopped *stoppedError
	if err = a.explain(err); errors.As(err, &stopped) {
		fmt.Fprintf(a.stderr, "blog: warning: %s, but %v\n", done, err)
		return
	}
	fmt.Fprintf(a.stderr, "blog: warning: %s, but the read model is not up to date: %v\n", done, err)
}

// stoppedError is the read model stopped on an event that this version
// of blog cannot read; it says which, and the commands that go on.
type stoppedError struct {
	err   error // the error that stopped it, which names the event too
	event chronicle.RecordedEvent
	store string
	// hidden says that store has xxxxx in place of a password, which
	// the commands need to run.
	hidden bool
}

func (e *stoppedError) Error() string {
	// The codec says why it cannot read the event, without the advice
	// that the blog's error gives in words, which this one gives as
	// commands.
	_, why := blog.NewCodec().Decode(e.event)
	if why == nil {
		why = e.err
	}
	store := cli.ShellQuote(e.store)
	password := ""
	if e.hidden {
		password = "\n(with the store's password in place of xxxxx)"
	}
	// The type is as another tool stored it, and the codec's words
	// repeat it: both are shown as titles are (cli.Printable), so that
	// they can neither drive the terminal nor break the line. The
	// stream, which a post's id names, is too, for one rule throughout.
	return fmt.Sprintf("the read model is stopped at position %d, on the event %s at revision %d of %s, which this version of blog cannot read: %s\n"+
		"If a newer version of blog wrote it, run that version. If the event is none of the blog's, remove its post and rebuild the read model:\n"+
		"  chronicle --store %s delete %s\n"+
		"  chronicle --store %s scavenge\n"+
		"  blog --store %s rebuild%s",
		e.event.Position, cli.Printable(e.event.Type), e.event.Revision, cli.Printable(e.event.Stream), cli.Printable(why.Error()),
		store, cli.ShellQuote(e.event.Stream), store, store, password)
}

func (e *stoppedError) Unwrap() error { return e.err }

// explain returns err, or a [*stoppedError] when err is the read model
// stopped on an event that blog cannot read.
func (a *app) explain(err error) error {
	var perr *projection.Error
	if errors.As(err, &perr) && errors.Is(perr, blog.ErrUnreadableEvent) {
		return &stoppedError{err: err, event: perr.Event, store: a.store, hidden: a.hidden}
	}
	return err
}

func list(ctx context.Context, a *app, o *options, _ []string) error {
	if err := a.blog.CatchUp(ctx); err != nil {
		return err
	}
	posts, err := a.blog.ListPosts(ctx, blog.ListOptions{Published: o.published})
	if err != nil {
		return err
	}
	for _, p := range posts {
		// Another tool may have written a title that blog refuses.
		fmt.Fprintf(a.stdout, "%s  %-9s  %s\n", p.ID, status(p), cli.Printable(p.Title))
	}
	if len(posts) == 0 {
		// On standard error, so that the listing stays the posts only.
		what := "posts"
		if o.published {
			what = "published posts"
		}
		fmt.Fprintf(a.stderr, "(no %s)\n", what)
	}
	return nil
}

func status(p blog.PostView) string {
	if p.Published {
		return "published"
	}
	return "draft"
}

func show(ctx context.Context, a *app, _ *options, args []string) error {
	id, err := blog.ParseID(args[0])
	if err != nil {
		return err
	}
	if err := a.blog.CatchUp(ctx); err != nil {
		return err
	}
	p, err := a.blog.GetPost(ctx, id)
	if err != nil {
		return refusal(err, id)
	}
	st := "draft"
	if p.Published {
		st = "published " + p.PublishedAt.Format(timeLayout)
	}
	fmt.Fprintf(a.stdout, "ID:       %s\nTitle:    %s\nStatus:   %s\nCreated:  %s\n", p.ID, cli.Printable(p.Title), st, p.Created.Format(timeLayout))
	if p.Content != "" {
		// blog takes any content but a NUL, terminal escapes too.
		fmt.Fprintf(a.stdout, "\n%s\n", cli.PrintableText(strings.TrimSuffix(p.Content, "\n")))
	}
	return nil
}

func outbox(ctx context.Context, a *app, o *options, _ []string) error {
	if err := a.blog.CatchUp(ctx); err != nil {
		return err
	}
	if o.send {
		sent, err := a.blog.SendEmails(ctx, a.stdout)
		if err != nil {
			return err
		}
		fmt.Fprintf(a.stderr, "(sent %d e-mail%s)\n", len(sent), plural(len(sent)))
		return nil
	}
	emails, err := a.blog.Emails(ctx)
	if err != nil {
		return err
	}
	for i, e := range emails {
		if i > 0 {
			fmt.Fprintln(a.stdout)
		}
		st := "pending"
		if !e.Sent.IsZero() {
			st = "sent " + e.Sent.Format(timeLayout)
		}
		fmt.Fprintf(a.stdout, "--- %s\n%s", st, e.Format())
	}
	if len(emails) == 0 {
		fmt.Fprintln(a.stderr, "(the outbox is empty)")
	}
	return nil
}

func rebuild(ctx context.Context, a *app, _ *options, _ []string) error {
	bar := progress.New(a.stderr, nil)
	err := a.blog.Rebuild(ctx, bar.Update)
	bar.Finish()
	if err != nil {
		return err
	}
	// The outbox, which Rebuild leaves alone, may be behind too.
	if err := a.blog.CatchUp(ctx); err != nil {
		return err
	}
	posts, err := a.blog.ListPosts(ctx, blog.ListOptions{})
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "Rebuilt the read model: %d post%s\n", len(posts), plural(len(posts)))
	return nil
}

// refusedError is a command refused for a reason that the examples word
// in their own way; message says it so.
type refusedError struct {
	err     error
	message string
}

func (e *refusedError) Error() string { return e.message }
func (e *refusedError) Unwrap() error { return e.err }

// refusal words the refusals of the examples as they do.
func refusal(err error, id uuid.UUID) error {
	switch {
	case errors.Is(err, blog.ErrPostNotFound):
		return &refusedError{err, "Post does not exist: " + id.String()}
	case errors.Is(err, blog.ErrAlreadyPublished):
		return &refusedError{err, "Post is already published: " + id.String()}
	}
	return err
}

// run runs the command line args and returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	err := dispatch(ctx, args, stdout, stderr)
	if err == nil {
		return exitOK
	}
	// Stopped by a signal: that is what the user needs to hear, not the
	// "context canceled" of what was under way.
	if how, code, ok := cli.Stopped(context.Cause(ctx), err); ok {
		fmt.Fprintf(stderr, "blog: %s before it was done\n", how)
		return code
	}
	var ue *cli.UsageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "blog: %v\nRun '%s' for usage.\n", ue, ue.Help("blog"))
	} else {
		fmt.Fprintf(stderr, "blog: %v\n", err)
	}
	return exitCode(err)
}

// exitCode maps an error to the exit status, in one place.
func exitCode(err error) int {
	var ue *cli.UsageError
	switch {
	case errors.As(err, &ue),
		errors.Is(err, blog.ErrInvalidID),
		errors.Is(err, blog.ErrInvalidTitle),
		errors.Is(err, blog.ErrInvalidContent),
		errors.Is(err, blog.ErrNoTransactions),
		errors.Is(err, dsn.ErrInvalid):
		return exitUsage
	case errors.Is(err, blog.ErrPostNotFound):
		return exitNotFound
	case errors.Is(err, blog.ErrAlreadyPublished), errors.Is(err, blog.ErrPostExists):
		return exitRefused
	default:
		return exitFailure
	}
}

func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o options
	call, err := cli.Program[command, options]{
		Flags: storeFlag, Commands: commands(), Describe: command.describe, Help: mainHelp, CommandHelp: commandHelp,
		WrongArgs: func(c command, pos []string) string {
			if c.name != "create" {
				return ""
			}
			return fmt.Sprintf("create takes no arguments: give --title and --content, got %d argument%s", len(pos), plural(len(pos)))
		},
	}.Dispatch(args, &o, stdout)
	if err != nil || call.Command == nil {
		return err
	}
	if call.Command.name == "create" && !flagGiven(call.Flags, "title") {
		return &cli.UsageError{Command: "create", Err: errors.New("--title is required")}
	}

	noTables := fmt.Errorf("%w: --store %s keeps no tables beside its events, and the blog keeps its read model "+
		"(table posts) and outbox in the store's own database, committed with the events they come from: "+
		"use the embedded store (--store PATH) or PostgreSQL (--store postgres://URL)", blog.ErrNoTransactions, dsn.Redact(o.store))
	// Refused before it is dialled: whether the server answers or not,
	// the blog cannot use it, and "connection refused" would send the
	// user to start a server that the blog then refuses.
	if dsn.IsKurrentDB(o.store) {
		return noTables
	}
	store, where, err := openStore(ctx, o.store, call.Command.name == "create", stderr)
	if err != nil {
		return err
	}
	defer store.Close()
	b, err := blog.New(store, nil)
	if err != nil {
		return noTables
	}
	a := &app{blog: b, stdout: stdout, stderr: stderr, store: where, hidden: o.store != "" && where != o.store}
	return a.explain(call.Command.run(ctx, a, &o, call.Args))
}

func flagGiven(fs *flag.FlagSet, name string) bool {
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// openStore opens the store that --store names, or the default one,
// telling the user where the default one is the first time it is made.
// It returns the store's name too, as --store would give it, without a
// password. Unless creates, as for every command but create, it refuses
// a --store that names a SQLite file that does not exist: a mistyped
// path would else get a new, empty store, which has no posts.
func openStore(ctx context.Context, name string, creates bool, stderr io.Writer) (dsn.Store, string, error) {
	if !creates {
		if err := dsn.MustExist(name, "create makes a new store"); err != nil {
			return nil, "", err
		}
	}
	if name != "" {
		s, err := dsn.Open(ctx, name) // its errors name the store already
		return s, dsn.Redact(name), err
	}
	name, err := dsn.Default("blog")
	if err != nil {
		return nil, "", err
	}
	path := strings.TrimPrefix(name, "sqlite:")
	_, statErr := os.Stat(path)
	s, err := dsn.Open(ctx, name)
	if err != nil {
		return nil, "", fmt.Errorf("open the store %s (choose another with --store): %w", path, err)
	}
	if errors.Is(statErr, fs.ErrNotExist) {
		fmt.Fprintf(stderr, "blog: keeping posts in %s (choose another place with --store)\n", path)
	}
	return s, path, nil
}

func mainHelp(w io.Writer) {
	fmt.Fprint(w, `Usage: blog [--store STORE] COMMAND [ARGS]

A blog, event-sourced with Chronicle: commands write events, a read model
(the table posts) answers queries, and publishing a post queues a
confirmation e-mail exactly once.

Commands:
`)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-38s %s\n", usageLine(&c), c.summary)
	}
	fmt.Fprintf(w, "  %-38s %s\n", "help [COMMAND]", "show this help, or a command's")
	fmt.Fprint(w, `
Every command first brings the read model and the outbox up to date.

Flags, before or after the command's arguments:
  --store STORE   the embedded store: PATH or sqlite:PATH, which create
                  makes and the other commands need; by default
                  `+defaultStore()+`;
                  or PostgreSQL: postgres://URL (add schema=NAME to pick
                  the schema); memory: cannot keep the read model
  -h, --help      show help

Exit status: 0 done, 1 failed, 2 bad usage or input, 3 post does not
exist, 4 refused by the rules (post already published), 130 interrupted
(Ctrl-C, SIGINT), 143 stopped by SIGTERM.
`)
}

func commandHelp(w io.Writer, c command) {
	fmt.Fprintf(w, "Usage: blog %s\n\n%s.\n", usageLine(&c), capitalize(c.summary))
	if c.detail != "" {
		fmt.Fprintf(w, "\n%s\n", c.detail)
	}
	fmt.Fprintln(w, "\nFlags:")
	for _, l := range c.flagHelp {
		fmt.Fprintf(w, "  %s\n", l)
	}
	fmt.Fprintln(w, "  --store STORE    where the events are (see 'blog --help')")
	fmt.Fprintln(w, "  -h, --help       show this help")
}

func usageLine(c *command) string {
	parts := append([]string{c.name}, c.args...)
	if c.flags != "" {
		parts = append(parts, c.flags)
	}
	return strings.Join(parts, " ")
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// defaultStore describes the default store for the help text.
func defaultStore() string {
	name, err := dsn.Default("blog")
	if err != nil {
		return "none: " + err.Error()
	}
	return strings.TrimPrefix(name, "sqlite:")
}
