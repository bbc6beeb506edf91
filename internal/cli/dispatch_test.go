package cli_test

import (
	"errors"
	"flag"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/chronicle-es/chronicle/internal/cli"
)

// testCommand is a command of the program that the tests dispatch to,
// of a type of its own, as each program's is.
type testCommand struct {
	name  string
	args  []string
	setup func(o *testOptions, fs *flag.FlagSet)
}

type testOptions struct {
	store string
	n     int
	force bool
}

// testProgram has "get ID [-n N] [--force]" and "list", and --store
// before or after them; its help names what it shows.
func testProgram() cli.Program[testCommand, testOptions] {
	return cli.Program[testCommand, testOptions]{
		Flags: func(o *testOptions, fs *flag.FlagSet) { fs.StringVar(&o.store, "store", "", "") },
		Commands: []testCommand{
			{name: "get", args: []string{"ID"}, setup: func(o *testOptions, fs *flag.FlagSet) {
				fs.IntVar(&o.n, "n", 1, "")
				fs.BoolVar(&o.force, "force", false, "")
			}},
			{name: "list"},
			{name: "copy", args: []string{"FROM", "TO"}},
		},
		Describe: func(c testCommand) cli.Command[testOptions] {
			return cli.Command[testOptions]{Name: c.name, Args: c.args, Setup: c.setup}
		},
		Help:        func(w io.Writer) { io.WriteString(w, "help of prog") },
		CommandHelp: func(w io.Writer, c testCommand) { io.WriteString(w, "help of "+c.name) },
	}
}

func TestDispatch(t *testing.T) {
	for _, tt := range []struct {
		name string
		args []string
		// what it shows: the help, or nothing when it returns a command
		help string
		// the command to run, with its arguments and what its flags set
		cmd   string
		pos   []string
		store string
		n     int
	}{
		{name: "Command", args: []string{"get", "x"}, cmd: "get", pos: []string{"x"}, n: 1},
		{name: "FlagsAnywhere", args: []string{"get", "-n", "3", "x", "--force"}, cmd: "get", pos: []string{"x"}, n: 3},
		{name: "FlagsEnd", args: []string{"get", "--", "-x"}, cmd: "get", pos: []string{"-x"}, n: 1},
		{name: "NoArgs", args: []string{"list"}, cmd: "list"},
		{name: "TwoArgs", args: []string{"copy", "a", "b"}, cmd: "copy", pos: []string{"a", "b"}},
		{name: "StoreBefore", args: []string{"--store", "s", "list"}, cmd: "list", store: "s"},
		{name: "StoreAfter", args: []string{"list", "--store=s"}, cmd: "list", store: "s"},
		{name: "StoreLaterWins", args: []string{"--store", "s", "list", "--store", "t"}, cmd: "list", store: "t"},

		{name: "Help", args: []string{"help"}, help: "help of prog"},
		{name: "HelpFlag", args: []string{"--help"}, help: "help of prog"},
		{name: "H", args: []string{"-h"}, help: "help of prog"},
		{name: "HelpHelp", args: []string{"help", "help"}, help: "help of prog"},
		{name: "HelpFlagHelp", args: []string{"--help", "help"}, help: "help of prog"},
		{name: "StoreHelp", args: []string{"--store", "s", "help"}, help: "help of prog", store: "s"},
		{name: "HelpCommand", args: []string{"help", "get"}, help: "help of get"},
		{name: "HelpCommandMore", args: []string{"help", "get", "x", "y"}, help: "help of get"},
		{name: "HelpFlagCommand", args: []string{"--help", "get"}, help: "help of get"},
		{name: "HFlagCommand", args: []string{"-h", "get", "x"}, help: "help of get"},
		{name: "StoreHelpCommand", args: []string{"--store", "s", "help", "get"}, help: "help of get", store: "s"},
		{name: "CommandHelp", args: []string{"get", "--help"}, help: "help of get"},
		{name: "CommandH", args: []string{"get", "-h"}, help: "help of get"},
		// Help comes before the count of the arguments is checked.
		{name: "CommandArgsHelp", args: []string{"list", "x", "y", "--help"}, help: "help of list"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var o testOptions
			var out strings.Builder
			call, err := testProgram().Dispatch(tt.args, &o, &out)
			if err != nil {
				t.Fatalf("Dispatch(%q): %v", tt.args, err)
			}
			if out.String() != tt.help {
				t.Errorf("Dispatch(%q) showed %q, want %q", tt.args, out.String(), tt.help)
			}
			if tt.help != "" {
				if call.Command != nil {
					t.Errorf("Dispatch(%q) showed help and returned %q to run", tt.args, call.Command.name)
				}
			} else if call.Command == nil || call.Command.name != tt.cmd || !slices.Equal(call.Args, tt.pos) {
				t.Fatalf("Dispatch(%q) = %+v, want %s %q", tt.args, call, tt.cmd, tt.pos)
			}
			if o.store != tt.store || (tt.cmd == "get" && o.n != tt.n) {
				t.Errorf("Dispatch(%q): --store %q, -n %d; want %q, %d", tt.args, o.store, o.n, tt.store, tt.n)
			}
		})
	}
}

// TestDispatchFlagsGiven: the program tells a flag given from one left
// at its default by the command's flags, parsed.
func TestDispatchFlagsGiven(t *testing.T) {
	var o testOptions
	call, err := testProgram().Dispatch([]string{"get", "x", "-n", "1"}, &o, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var given []string
	call.Flags.Visit(func(f *flag.Flag) { given = append(given, f.Name) })
	if !slices.Equal(given, []string{"n"}) {
		t.Errorf("flags given: %q, want [n]", given)
	}
}

func TestDispatchDefault(t *testing.T) {
	p := testProgram()
	p.Default = "list"
	for _, args := range [][]string{nil, {"--store", "s"}} {
		var o testOptions
		call, err := p.Dispatch(args, &o, io.Discard)
		if err != nil || call.Command == nil || call.Command.name != "list" {
			t.Errorf("Dispatch(%q) = %+v, %v; want the default command, list", args, call, err)
		}
	}
}

func TestDispatchUsageErrors(t *testing.T) {
	wrongArgs := func(c testCommand, pos []string) string {
		if c.name != "copy" {
			return ""
		}
		return "copy wants two, not " + strings.Join(pos, " ")
	}
	for _, tt := range []struct {
		name string
		args []string
		// the command whose help to point to, and the error's words
		cmd, want string
		is        error
		// an *ArgsError: the wrong number of arguments
		count bool
	}{
		{name: "NoCommand", args: nil, want: "no command given", is: cli.ErrNoCommand},
		{name: "StoreNoCommand", args: []string{"--store", "s"}, want: "no command given", is: cli.ErrNoCommand},
		{name: "UnknownCommand", args: []string{"fly"}, want: `unknown command "fly"`, is: cli.ErrUnknownCommand},
		{name: "EmptyCommand", args: []string{""}, want: `unknown command ""`, is: cli.ErrUnknownCommand},
		{name: "HelpUnknown", args: []string{"help", "fly"}, want: `unknown command "fly"`, is: cli.ErrUnknownCommand},
		{name: "HelpFlagUnknown", args: []string{"--help", "fly"}, want: `unknown command "fly"`, is: cli.ErrUnknownCommand},
		{name: "ProgramFlag", args: []string{"--fly", "get", "x"}, want: "flag provided but not defined: -fly"},
		{name: "ProgramFlagValue", args: []string{"list", "--store"}, cmd: "list", want: "list: flag needs an argument: -store"},
		// The command's flags come after it.
		{name: "CommandFlagFirst", args: []string{"-n", "3", "get", "x"}, want: "flag provided but not defined: -n"},
		{name: "CommandFlag", args: []string{"get", "x", "--fly"}, cmd: "get", want: "get: flag provided but not defined: -fly"},
		{name: "OtherCommandsFlag", args: []string{"list", "-n", "3"}, cmd: "list", want: "list: flag provided but not defined: -n"},
		{name: "BadValue", args: []string{"get", "x", "-n", "many"}, cmd: "get", want: `get: invalid value "many" for flag -n: parse error`},
		{name: "BadFlagBeforeHelp", args: []string{"get", "--fly", "--help"}, cmd: "get", want: "get: flag provided but not defined: -fly"},
		{name: "MissingArg", args: []string{"get"}, cmd: "get", want: "get takes ID, got 0 arguments", count: true},
		{name: "ExtraArg", args: []string{"get", "x", "y"}, cmd: "get", want: "get takes ID, got 2 arguments", count: true},
		{name: "NoArgsWanted", args: []string{"list", "x"}, cmd: "list", want: "list takes no arguments, got 1 argument", count: true},
		{name: "DashesAreArgs", args: []string{"list", "--", "--help"}, cmd: "list", want: "list takes no arguments, got 1 argument", count: true},
		{name: "WrongArgsWords", args: []string{"copy", "a"}, cmd: "copy", want: "copy wants two, not a", count: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := testProgram()
			p.WrongArgs = wrongArgs
			var o testOptions
			var out strings.Builder
			call, err := p.Dispatch(tt.args, &o, &out)
			var ue *cli.UsageError
			if !errors.As(err, &ue) {
				t.Fatalf("Dispatch(%q) = %+v, %v; want a *UsageError", tt.args, call, err)
			}
			if ue.Command != tt.cmd || err.Error() != tt.want {
				t.Errorf("Dispatch(%q): command %q, %q; want %q, %q", tt.args, ue.Command, err, tt.cmd, tt.want)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("Dispatch(%q) = %v, which is not %v", tt.args, err, tt.is)
			}
			var ae *cli.ArgsError
			if errors.As(err, &ae) != tt.count {
				t.Errorf("Dispatch(%q) = %v: an *ArgsError is %v, want %v", tt.args, err, !tt.count, tt.count)
			}
			if call.Command != nil || out.Len() != 0 {
				t.Errorf("Dispatch(%q) failed, but returned %+v and showed %q", tt.args, call, out.String())
			}
		})
	}
}

func TestArgsError(t *testing.T) {
	var o testOptions
	_, err := testProgram().Dispatch([]string{"copy", "a", "b", "c"}, &o, io.Discard)
	var ae *cli.ArgsError
	if !errors.As(err, &ae) || ae.Command != "copy" || !slices.Equal(ae.Want, []string{"FROM", "TO"}) || !slices.Equal(ae.Got, []string{"a", "b", "c"}) {
		t.Fatalf("Dispatch(copy a b c) = %v; want an *ArgsError with what copy wants and got", err)
	}
	if want := "copy takes FROM and TO, got 3 arguments"; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
}

// TestReport prints each kind of usage error as chronicle and connectfour
// word it.
func TestReport(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--fly"}, "prog: flag provided but not defined: -fly\nRun 'prog --help' for the usage.\n"},
		{nil, "prog: no command given\nRun 'prog --help' to see the commands.\n"},
		{[]string{"fly"}, "prog: unknown command \"fly\"\nRun 'prog --help' to see the commands.\n"},
		{[]string{"get", "--fly"}, "prog get: flag provided but not defined: -fly\nRun 'prog get --help' for its usage.\n"},
		{[]string{"get"}, "prog get: get takes ID, got 0 arguments\nRun 'prog get --help' for its usage.\n"},
	} {
		var o testOptions
		_, err := testProgram().Dispatch(tt.args, &o, io.Discard)
		var out strings.Builder
		if code := cli.Report(&out, "prog", err); code != cli.ExitUsage || out.String() != tt.want {
			t.Errorf("Report of %q: %d, %q; want %d, %q", tt.args, code, out.String(), cli.ExitUsage, tt.want)
		}
	}
	// A program's own usage error, such as a check of its flags.
	var out strings.Builder
	cli.Report(&out, "prog", &cli.UsageError{Command: "get", Err: errors.New("--n and --force go together")})
	if want := "prog get: --n and --force go together\nRun 'prog get --help' for its usage.\n"; out.String() != want {
		t.Errorf("Report of a program's usage error: %q, want %q", out.String(), want)
	}
	// Help shown: nothing to report, and the program is done.
	out.Reset()
	if code := cli.Report(&out, "prog", nil); code != 0 || out.Len() != 0 {
		t.Errorf("Report(nil) = %d and printed %q, want 0 and nothing", code, out.String())
	}
}

func TestUsageErrorHelp(t *testing.T) {
	for _, tt := range []struct {
		err  *cli.UsageError
		want string
	}{
		{&cli.UsageError{Err: cli.ErrNoCommand}, "basket --help"},
		{&cli.UsageError{Command: "get", Err: errors.New("x")}, "basket get --help"},
	} {
		if got := tt.err.Help("basket"); got != tt.want {
			t.Errorf("Help(%+v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}
