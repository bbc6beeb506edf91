package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Command is what [Program.Dispatch] needs to know of one of a
// program's commands. O holds the values of the flags.
type Command[O any] struct {
	// Name is the word that picks the command.
	Name string
	// Args names the positional arguments that the command takes, in
	// order: it takes as many as they are.
	Args []string
	// Setup, if not nil, defines the command's own flags on fs, to set
	// in o.
	Setup func(o *O, fs *flag.FlagSet)
}

// Program is a program's command line, as [Program.Dispatch] reads it:
// the program's flags, and a table of commands of the program's own type
// C, which keeps what only the program needs, such as what a command
// runs and its help. O holds the values of the flags.
type Program[C, O any] struct {
	// Flags defines on fs the flags that the program takes before the
	// command, such as --store, which every command takes too: given in
	// both places, the later one wins, as a flag given twice does.
	Flags func(o *O, fs *flag.FlagSet)
	// Commands are the program's commands.
	Commands []C
	// Describe tells what Dispatch needs to know of c.
	Describe func(c C) Command[O]
	// Default names the command to run when none is given; "" makes
	// that an error, [ErrNoCommand].
	Default string
	// Help shows the program's help on w, and CommandHelp that of c.
	Help        func(w io.Writer)
	CommandHelp func(w io.Writer, c C)
	// WrongArgs, if not nil, words the [*ArgsError] of c given pos, the
	// wrong number of positional arguments, starting with c's name. It
	// returns "" for ArgsError's own words.
	WrongArgs func(c C, pos []string) string
}

// Call is a command line that [Program.Dispatch] has read.
type Call[C any] struct {
	// Command is the command to run, or nil when the command line asked
	// for help, which Dispatch has shown.
	Command *C
	// Args are the command's positional arguments.
	Args []string
	// Flags are the command's flags, parsed, for the program to tell
	// the flags given from those left at their defaults.
	Flags *flag.FlagSet
}

// Dispatch reads args, a program's command line: the program's flags,
// then a command and its arguments, among which the command's flags
// (see [Parse]), setting the flags' values in o. It returns the command
// to run, or shows on stdout the help that the command line asks for:
// "help" or --help before the command, "help help", "help CMD", "--help
// CMD" or "CMD --help". A command line that it does not understand is a
// [*UsageError].
func (p Program[C, O]) Dispatch(args []string, o *O, stdout io.Writer) (Call[C], error) {
	top := flag.NewFlagSet("", flag.ContinueOnError)
	top.SetOutput(io.Discard)
	p.Flags(o, top)
	// The command's flag set takes the same flags, defined once: defining
	// them again could set their values back to the defaults.
	var shared []*flag.Flag
	top.VisitAll(func(f *flag.Flag) { shared = append(shared, f) })
	rest, err := ParseProgram(top, args)
	if err != nil {
		return Call[C]{}, &UsageError{Err: err}
	}
	if len(rest) == 0 {
		if p.Default == "" {
			return Call[C]{}, &UsageError{Err: ErrNoCommand}
		}
		rest = []string{p.Default}
	}
	name, rest := rest[0], rest[1:]
	if name == "help" {
		// "help help" asks for the help of help, which is the help.
		if len(rest) == 0 || rest[0] == "help" {
			p.Help(stdout)
			return Call[C]{}, nil
		}
		name, rest = rest[0], []string{"--help"}
	}
	i := slices.IndexFunc(p.Commands, func(c C) bool { return p.Describe(c).Name == name })
	if i < 0 {
		return Call[C]{}, &UsageError{Err: fmt.Errorf("%w %q", ErrUnknownCommand, name)}
	}
	c, d := &p.Commands[i], p.Describe(p.Commands[i])

	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	for _, f := range shared {
		fs.Var(f.Value, f.Name, f.Usage)
	}
	if d.Setup != nil {
		d.Setup(o, fs)
	}
	pos, err := Parse(fs, rest)
	if errors.Is(err, flag.ErrHelp) {
		p.CommandHelp(stdout, *c)
		return Call[C]{}, nil
	}
	if err != nil {
		return Call[C]{}, &UsageError{Command: name, Err: err}
	}
	if len(pos) != len(d.Args) {
		err := &ArgsError{Command: name, Want: d.Args, Got: pos}
		if p.WrongArgs != nil {
			err.words = p.WrongArgs(*c, pos)
		}
		return Call[C]{}, &UsageError{Command: name, Err: err}
	}
	return Call[C]{Command: c, Args: pos, Flags: fs}, nil
}

// UsageError is a command line that a program does not understand. Its
// words are Err's, after the command's name and a colon when there is a
// command, but for an [*ArgsError], whose words start with the name
// already: "get: flag provided but not defined: -x", but "get takes ID,
// got 0 arguments".
type UsageError struct {
	// Command names the command whose help to point to; "" for the
	// program's.
	Command string
	// Err says what is wrong: a [flag.FlagSet]'s error, an [*ArgsError],
	// one that wraps [ErrNoCommand] or [ErrUnknownCommand], or the
	// program's own.
	Err error
}

func (e *UsageError) Error() string {
	var args *ArgsError
	if e.Command == "" || errors.As(e.Err, &args) {
		return e.Err.Error()
	}
	return e.Command + ": " + e.Err.Error()
}

func (e *UsageError) Unwrap() error { return e.Err }

// Help returns the command line that shows the help that e points to,
// such as "basket get --help", for prog, the program's name.
func (e *UsageError) Help(prog string) string {
	if e.Command == "" {
		return prog + " --help"
	}
	return prog + " " + e.Command + " --help"
}

// ArgsError is a command given the wrong number of positional
// arguments. Its words start with the command's name: those of
// [Program.WrongArgs], else "get takes ID, got 0 arguments".
type ArgsError struct {
	// Command is the command's name, as the command line gave it.
	Command string
	// Want names the arguments that the command takes, and Got holds
	// those it got.
	Want, Got []string
	words     string
}

func (e *ArgsError) Error() string {
	if e.words != "" {
		return e.words
	}
	want := "no arguments"
	if len(e.Want) > 0 {
		want = strings.Join(e.Want, " and ")
	}
	s := "s"
	if len(e.Got) == 1 {
		s = ""
	}
	return fmt.Sprintf("%s takes %s, got %d argument%s", e.Command, want, len(e.Got), s)
}

// Errors of a command line that names no command that the program has,
// in a [*UsageError].
var (
	ErrNoCommand      = errors.New("no command given")
	ErrUnknownCommand = errors.New("unknown command")
)

// ExitUsage is the exit status of a command line that a program does not
// understand, in each of Chronicle's programs.
const ExitUsage = 2

// Report prints err, the [*UsageError] of a command line that
// [Program.Dispatch] returned no command for, on w, as chronicle and
// connectfour word it, for prog, the program's name: "prog CMD: " and
// what is wrong, then the command line that shows CMD's help; or "prog: "
// and what is wrong, then the one that shows the program's help, which
// lists the commands when err is about the command's name. (basket and
// blog print err and [UsageError.Help].) It returns the exit status:
// [ExitUsage], or 0 when err is nil, as it is when Dispatch has shown the
// help that the command line asked for.
func Report(w io.Writer, prog string, err error) int {
	if err == nil {
		return 0
	}
	e := &UsageError{Err: err}
	errors.As(err, &e)
	switch {
	case e.Command != "":
		fmt.Fprintf(w, "%s %s: %v\nRun '%s' for its usage.\n", prog, e.Command, e.Err, e.Help(prog))
	case errors.Is(e.Err, ErrNoCommand), errors.Is(e.Err, ErrUnknownCommand):
		fmt.Fprintf(w, "%s: %v\nRun '%s' to see the commands.\n", prog, e.Err, e.Help(prog))
	default:
		fmt.Fprintf(w, "%s: %v\nRun '%s' for the usage.\n", prog, e.Err, e.Help(prog))
	}
	return ExitUsage
}
