// Package cli holds what Chronicle's command-line programs share about
// reading their command lines and showing what they read.
package cli

import (
	"flag"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Parse parses args against fs and returns the positional arguments.
// Unlike [flag.FlagSet.Parse], it takes flags before, between and after
// the positional arguments, so that "basket create clocks --quantity 3"
// and "blog show --store x.db ID" both read as meant. "--" ends the
// flags, for a positional argument that starts with '-'.
func Parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			pos = append(pos, args[i+1:]...)
			i = len(args)
		case len(a) < 2 || a[0] != '-':
			pos = append(pos, a)
		default:
			flags = append(flags, a)
			name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
			// A flag that takes a value takes the next argument, even one
			// that starts with '-', as the flag package does: "--quantity
			// -3" is a bad quantity, not two flags.
			if f := fs.Lookup(name); f != nil && !hasValue && !isBool(f) && i+1 < len(args) {
				i++
				flags = append(flags, args[i])
			}
		}
	}
	if err := fs.Parse(flags); err != nil {
		return nil, err
	}
	return pos, nil
}

// ParseProgram parses args, a program's command line, against fs, the
// program's own flags that come before the command, and returns the
// command and its arguments. -h and --help are flags of fs here, rather
// than the flag package's [flag.ErrHelp], so that "PROG --help CMD"
// reads on to the command: the result then starts with "help", and the
// program shows CMD's help as it does for "PROG help CMD" and
// "PROG CMD --help".
func ParseProgram(fs *flag.FlagSet, args []string) ([]string, error) {
	help := fs.Bool("help", false, "show help")
	fs.BoolVar(help, "h", false, "show help")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if *help {
		return append([]string{"help"}, fs.Args()...), nil
	}
	return fs.Args(), nil
}

func isBool(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// ShellQuote quotes s for a POSIX shell when it needs it, for the
// command lines that the programs tell their users to run.
func ShellQuote(s string) string {
	if s != "" && !strings.ContainsFunc(s, func(r rune) bool {
		return !(unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("-_./:=@+,", r))
	}) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Printable returns s for a terminal, on one line: as it is when it is
// text, else quoted with Go's escapes (strconv.QuoteToGraphic), such as
// "\x1b[2J\nx". Text is valid UTF-8 without control characters
// (escapes, tabs, line breaks), format characters (such as the
// bidirectional overrides, which reorder what follows them), or line and
// paragraph separators; the zero-width joiner and non-joiner, format
// characters that ordinary text holds (a Persian name, an emoji sequence,
// a Devanagari conjunct) and that only join or part the letters beside
// them, are text. The programs show with it what a store holds and
// another program may have written unchecked, such as a post's title, a
// product or a player's name, so that it can neither drive the terminal
// nor break the lines and columns of a listing, and still shows what it
// holds.
func Printable(s string) string {
	if utf8.ValidString(s) && !strings.ContainsFunc(s, unsafe) {
		return s
	}
	return strconv.QuoteToGraphic(s)
}

// PrintableText returns s, text of several lines such as a post's
// content, for a terminal: its line breaks (with a carriage return before
// them, as a file from Windows has) and tabs are kept, and each line that
// holds anything else that [Printable] would quote is quoted as Printable
// does, so that the text can neither drive the terminal nor hide a line.
func PrintableText(s string) string {
	lines := strings.Split(s, "\n")
	for i, line := range lines {
		text := strings.TrimSuffix(line, "\r")
		if !utf8.ValidString(text) || strings.ContainsFunc(text, func(r rune) bool { return r != '\t' && unsafe(r) }) {
			lines[i] = strconv.QuoteToGraphic(line)
		}
	}
	return strings.Join(lines, "\n")
}

func unsafe(r rune) bool {
	if r == '\u200c' || r == '\u200d' { // zero-width non-joiner, joiner
		return false
	}
	return unicode.IsControl(r) || unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp)
}
