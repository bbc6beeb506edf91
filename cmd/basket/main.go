// Command basket is the shopping basket of the "event sourcing 101" talk:
// a command line over package examples/basket.
//
// Usage:
//
//	basket [--store STORE] COMMAND [ARGS]
//
//	basket create PRODUCT [--quantity N]   create a basket holding N (default 1) of PRODUCT
//	basket add ID PRODUCT [--quantity N]   add N (default 1) of PRODUCT to basket ID
//	basket remove ID PRODUCT               take PRODUCT out of basket ID
//	basket get ID [--events]               print what basket ID holds; --events tells its story
//	basket help [COMMAND]                  show help; so does --help before or after a command
//
// create prints "Created basket with id '<id>'"; get prints one
// "product = quantity" line per product, sorted by product. Flags may
// come before or after the arguments; "--" ends them.
//
// # The store
//
// The events are kept in the embedded store at
// $XDG_DATA_HOME/chronicle/basket.db (~/.local/share/chronicle/basket.db
// when XDG_DATA_HOME is not set); its path is printed, on standard error,
// when it is first created. --store picks another: a PATH or
// sqlite:PATH, memory: (gone when the command ends), or postgres://URL.
//
// # Exit status
//
//	0    done
//	1    failed, such as a store that cannot be opened
//	2    bad usage or input: unknown command or flag, missing argument,
//	     malformed id, a quantity that is not a positive integer, a blank
//	     product name
//	3    no basket has the id given
//	4    refused by the rules: removing a product that is not in the basket
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
	"strconv"
	"strings"
	"time"

	"github.com/chronicle-es/chronicle/examples/basket"
	"github.com/chronicle-es/chronicle/internal/cli"
	"github.com/chronicle-es/chronicle/internal/dsn"
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

// command is one of basket's subcommands.
type command struct {
	name    string
	args    []string // names of the positional arguments, for usage
	summary string
	detail  string // more for the command's help, if any
	flags   string // the flags' part of the usage line
	setup   func(o *options, fs *flag.FlagSet)
	run     func(ctx context.Context, a *app, o *options, args []string) error
}

// options are the flags of every command; each command defines those it
// takes.
type options struct {
	store    string
	quantity int
	events   bool
}

// describe tells cli.Program.Dispatch of c.
func (c command) describe() cli.Command[options] {
	return cli.Command[options]{Name: c.name, Args: c.args, Setup: c.setup}
}

// storeFlag defines --store, which every command takes, after the
// command or before it.
func storeFlag(o *options, fs *flag.FlagSet) { fs.Var((*dsn.Flag)(&o.store), "store", "") }

// app is what a command runs with: the service over the opened store and
// where to print.
type app struct {
	svc            *basket.Service
	stdout, stderr io.Writer
}

func commands() []command {
	quantity := func(o *options, fs *flag.FlagSet) {
		o.quantity = 1
		fs.Var((*quantityFlag)(&o.quantity), "quantity", "how many to add: a positive integer")
	}
	return []command{
		{
			name: "create", args: []string{"PRODUCT"}, flags: "[--quantity N]", setup: quantity,
			summary: "create a basket holding N (default 1) of PRODUCT, and print its id",
			run: func(ctx context.Context, a *app, o *options, args []string) error {
				// The service creates an empty basket for an empty product
				// and a zero quantity; the command line creates a basket
				// for its PRODUCT only.
				if err := basket.ValidateProduct(args[0]); err != nil {
					return fmt.Errorf("create basket: %w", err)
				}
				id, err := a.svc.Create(ctx, args[0], o.quantity)
				if err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "Created basket with id '%s'\n", id)
				return nil
			},
		},
		{
			name: "add", args: []string{"ID", "PRODUCT"}, flags: "[--quantity N]", setup: quantity,
			summary: "add N (default 1) of PRODUCT to basket ID",
			run: func(ctx context.Context, a *app, o *options, args []string) error {
				id, err := basket.ParseID(args[0])
				if err != nil {
					return err
				}
				b, err := a.svc.Add(ctx, id, args[1], o.quantity)
				if err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "Added %d %s to basket '%s': it holds %d\n", o.quantity, cli.Printable(args[1]), id, b.Items[args[1]])
				return nil
			},
		},
		{
			name: "remove", args: []string{"ID", "PRODUCT"},
			summary: "take PRODUCT out of basket ID, whatever its quantity",
			run: func(ctx context.Context, a *app, _ *options, args []string) error {
				id, err := basket.ParseID(args[0])
				if err != nil {
					return err
				}
				if _, err := a.svc.Remove(ctx, id, args[1]); err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "Removed %s from basket '%s'\n", cli.Printable(args[1]), id)
				return nil
			},
		},
		{
			name: "get", args: []string{"ID"}, flags: "[--events]",
			summary: `print what basket ID holds, as "product = quantity" lines`,
			detail: "Products are sorted by name. With --events, the events that led to the\n" +
				"basket's contents come first, oldest first, with the time (UTC) each was\n" +
				"recorded, then an empty line: a basket that had clocks added and removed\n" +
				"holds what one that never had clocks holds, but its story differs.",
			setup: func(o *options, fs *flag.FlagSet) {
				fs.BoolVar(&o.events, "events", false, "list the basket's events before its contents")
			},
			run: get,
		},
	}
}

func get(ctx context.Context, a *app, o *options, args []string) error {
	id, err := basket.ParseID(args[0])
	if err != nil {
		return err
	}
	var b basket.Basket
	if o.events {
		history, err := a.svc.History(ctx, id)
		if err != nil {
			return err
		}
		d := basket.NewDecider()
		b = d.InitialState()
		for _, c := range history {
			b = d.Evolve(b, c.Event)
			fmt.Fprintf(a.stdout, "%s  %s\n", c.Recorded.Recorded.Format(time.DateTime), describe(c.Event))
		}
		fmt.Fprintln(a.stdout)
	} else if b, err = a.svc.Get(ctx, id); err != nil {
		return err
	}
	for _, p := range b.Products() {
		// Another tool may have written a product that basket refuses.
		fmt.Fprintf(a.stdout, "%s = %d\n", cli.Printable(p), b.Items[p])
	}
	if len(b.Items) == 0 {
		// On standard error, so that the listing stays the products only.
		fmt.Fprintln(a.stderr, "(the basket is empty)")
	}
	return nil
}

// describe prints an event for the history of a basket.
func describe(e basket.Event) string {
	switch e := e.(type) {
	case basket.BasketCreated:
		return basket.TypeBasketCreated
	case basket.ItemAdded:
		return fmt.Sprintf("%-13s %s = %d", basket.TypeItemAdded, cli.Printable(e.Product), e.Quantity)
	case basket.ItemRemoved:
		return fmt.Sprintf("%-13s %s", basket.TypeItemRemoved, cli.Printable(e.Product))
	default:
		return fmt.Sprintf("%T", e)
	}
}

// quantityFlag is --quantity: an integer, with a message that a shopper
// understands when it is not one. Whether it is positive is for the
// basket's rules to say.
type quantityFlag int

func (q *quantityFlag) String() string { return strconv.Itoa(int(*q)) }

func (q *quantityFlag) Set(s string) error {
	n, err := strconv.Atoi(s)
	if errors.Is(err, strconv.ErrRange) {
		// A whole number still, but one that no int holds.
		return fmt.Errorf("out of range: give a whole number from 1 to %d", basket.MaxQuantity)
	}
	if err != nil {
		return errors.New("not a whole number")
	}
	*q = quantityFlag(n)
	return nil
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
		fmt.Fprintf(stderr, "basket: %s before it was done\n", how)
		return code
	}
	code := exitCode(err)
	var ue *cli.UsageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "basket: %v\nRun '%s' for usage.\n", ue, ue.Help("basket"))
		return code
	}
	fmt.Fprintf(stderr, "basket: %v\n", err)
	return code
}

// exitCode maps an error to the exit status, in one place.
func exitCode(err error) int {
	var ue *cli.UsageError
	switch {
	case errors.As(err, &ue),
		errors.Is(err, basket.ErrInvalidID),
		errors.Is(err, basket.ErrInvalidQuantity),
		errors.Is(err, basket.ErrInvalidProduct),
		errors.Is(err, dsn.ErrInvalid):
		return exitUsage
	case errors.Is(err, basket.ErrBasketNotFound):
		return exitNotFound
	case errors.Is(err, basket.ErrNotInBasket), errors.Is(err, basket.ErrAlreadyCreated):
		return exitRefused
	default:
		return exitFailure
	}
}

func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o options
	call, err := cli.Program[command, options]{
		Flags: storeFlag, Commands: commands(), Describe: command.describe, Help: mainHelp, CommandHelp: commandHelp,
	}.Dispatch(args, &o, stdout)
	if err != nil || call.Command == nil {
		return err
	}
	store, err := openStore(ctx, o.store, call.Command.name == "create", stderr)
	if err != nil {
		return err
	}
	defer store.Close()
	return call.Command.run(ctx, &app{svc: basket.NewService(store), stdout: stdout, stderr: stderr}, &o, call.Args)
}

// openStore opens the store that --store names, or the default one,
// telling the user where the default one is the first time it is made.
// Unless creates, as for every command but create, it refuses a --store
// that names a SQLite file that does not exist: a mistyped path would
// else get a new, empty store, in which no basket is found.
func openStore(ctx context.Context, name string, creates bool, stderr io.Writer) (dsn.Store, error) {
	if !creates {
		if err := dsn.MustExist(name, "create makes a new store"); err != nil {
			return nil, err
		}
	}
	if name != "" {
		// dsn's errors name the store already.
		return dsn.Open(ctx, name)
	}
	name, err := dsn.Default("basket")
	if err != nil {
		return nil, err
	}
	path := strings.TrimPrefix(name, "sqlite:")
	_, statErr := os.Stat(path)
	s, err := dsn.Open(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("open the store %s (choose another with --store): %w", path, err)
	}
	if errors.Is(statErr, fs.ErrNotExist) {
		fmt.Fprintf(stderr, "basket: keeping baskets in %s (choose another place with --store)\n", path)
	}
	return s, nil
}

func mainHelp(w io.Writer) {
	fmt.Fprint(w, `Usage: basket [--store STORE] COMMAND [ARGS]

A shopping basket, event-sourced with Chronicle: every change is an event,
and "get ID --events" tells a basket's story.

Commands:
`)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-30s %s\n", usageLine(&c), c.summary)
	}
	fmt.Fprintf(w, "  %-30s %s\n", "help [COMMAND]", "show this help, or a command's")
	fmt.Fprint(w, `
Flags, before or after the command's arguments:
  --store STORE   where the events are: PATH or sqlite:PATH (the embedded
                  store, which create makes and the other commands need),
                  memory: (gone when the command ends),
                  postgres://URL, or kurrentdb://HOST:PORT?tls=false (a
                  KurrentDB server or a chronicle serve); by default
                  `+defaultStore()+`
  -h, --help      show help

Exit status: 0 done, 1 failed, 2 bad usage or input, 3 unknown basket,
4 refused by the rules (such as removing a product not in the basket),
130 interrupted (Ctrl-C, SIGINT), 143 stopped by SIGTERM.
`)
}

func commandHelp(w io.Writer, c command) {
	fmt.Fprintf(w, "Usage: basket %s\n\n%s.\n", usageLine(&c), capitalize(c.summary))
	if c.detail != "" {
		fmt.Fprintf(w, "\n%s\n", c.detail)
	}
	fmt.Fprintln(w, "\nFlags:")
	if c.name == "create" || c.name == "add" {
		fmt.Fprintln(w, "  --quantity N    how many to add: a positive integer (default 1)")
	}
	if c.name == "get" {
		fmt.Fprintln(w, "  --events        list the events that led to the basket's contents")
	}
	fmt.Fprintln(w, "  --store STORE   where the events are (see 'basket --help')")
	fmt.Fprintln(w, "  -h, --help      show this help")
}

func usageLine(c *command) string {
	s := c.name + " " + strings.Join(c.args, " ")
	if c.flags != "" {
		s += " " + c.flags
	}
	return s
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// defaultStore describes the default store for the help text.
func defaultStore() string {
	name, err := dsn.Default("basket")
	if err != nil {
		return "none: " + err.Error()
	}
	return strings.TrimPrefix(name, "sqlite:")
}
