package cli_test

import (
	"errors"
	"flag"
	"io"
	"slices"
	"testing"

	"github.com/chronicle-es/chronicle/internal/cli"
)

func TestParse(t *testing.T) {
	tests := []struct {
		args     []string
		wantPos  []string
		wantQty  int
		wantJSON bool
	}{
		{[]string{"create", "clocks", "--quantity", "3"}, []string{"create", "clocks"}, 3, false},
		{[]string{"--quantity=2", "add", "id", "pens"}, []string{"add", "id", "pens"}, 2, false},
		{[]string{"show", "--json", "id"}, []string{"show", "id"}, 1, true},
		{[]string{"add", "id", "--", "-odd-name"}, []string{"add", "id", "-odd-name"}, 1, false},
		{[]string{"-", "x"}, []string{"-", "x"}, 1, false},
	}
	for _, tt := range tests {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		qty := fs.Int("quantity", 1, "")
		asJSON := fs.Bool("json", false, "")
		pos, err := cli.Parse(fs, tt.args)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tt.args, err)
		}
		if !slices.Equal(pos, tt.wantPos) || *qty != tt.wantQty || *asJSON != tt.wantJSON {
			t.Errorf("Parse(%q) = %q, quantity %d, json %v; want %q, %d, %v",
				tt.args, pos, *qty, *asJSON, tt.wantPos, tt.wantQty, tt.wantJSON)
		}
	}
}

func TestParseValueThatLooksLikeAFlag(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	qty := fs.Int("quantity", 1, "")
	_, err := cli.Parse(fs, []string{"add", "--quantity", "-3"})
	if err != nil {
		t.Fatal(err)
	}
	if *qty != -3 {
		t.Fatalf("quantity = %d, want -3: the value after --quantity belongs to it", *qty)
	}
	_, err = cli.Parse(fs, []string{"--nope"})
	if err == nil || errors.Is(err, flag.ErrHelp) {
		t.Fatalf("Parse(--nope) = %v, want an unknown-flag error", err)
	}
}

// TestParseProgram: help asked for before the command reads on to the
// command, as "help CMD" does, where it stopped at the program's help.
func TestParseProgram(t *testing.T) {
	for _, tt := range []struct {
		args, want []string
	}{
		{[]string{"get", "x"}, []string{"get", "x"}},
		{[]string{"--store", "s", "get", "--help"}, []string{"get", "--help"}},
		{[]string{"--help", "get", "x"}, []string{"help", "get", "x"}},
		{[]string{"-h", "--store", "s", "get"}, []string{"help", "get"}},
		{[]string{"--help"}, []string{"help"}},
		{nil, []string{}},
	} {
		fs := flag.NewFlagSet("prog", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		store := fs.String("store", "", "")
		got, err := cli.ParseProgram(fs, tt.args)
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("ParseProgram(%q) = %q, %v; want %q", tt.args, got, err, tt.want)
		}
		if slices.Contains(tt.args, "--store") && *store != "s" {
			t.Errorf("ParseProgram(%q): --store = %q", tt.args, *store)
		}
	}
	fs := flag.NewFlagSet("prog", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if _, err := cli.ParseProgram(fs, []string{"--fly", "get"}); err == nil {
		t.Error("ParseProgram took an unknown flag")
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		"sqlite:/tmp/x.db": "sqlite:/tmp/x.db",
		"sqlite:/my games": "'sqlite:/my games'",
		"sqlite:/it's":     `'sqlite:/it'\''s'`,
		"":                 "''",
	} {
		if got := cli.ShellQuote(in); got != want {
			t.Errorf("ShellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestPrintable(t *testing.T) {
	for in, want := range map[string]string{
		"alice":                  "alice",
		"Ünïcödé ok, \"quoted\"": "Ünïcödé ok, \"quoted\"",
		"":                       "",
		"a b":                    "a b", // a space is text
		"\x1b[2Jmallory":         `"\x1b[2Jmallory"`,
		"bob\tby\nline":          `"bob\tby\nline"`,
		"\xff\xfe":               `"\xff\xfe"`,
		"left\u202eright":        `"left\u202eright"`, // a bidirectional override
		"one\u2028two":           `"one\u2028two"`,    // a line separator
		"C1\u009bcontrol":        `"C1\u009bcontrol"`,
		"Evil\x1b]0;owned\x07":   `"Evil\x1b]0;owned\a"`,
		// Ordinary names, as people and programs write them, are kept:
		// precomposed and with a combining accent, a Persian name with
		// its zero-width non-joiner, an emoji sequence joined by
		// zero-width joiners, a Devanagari conjunct with a joiner.
		"José":                           "José",
		"Jose\u0301":                     "Jose\u0301",
		"Zoë":                            "Zoë",
		"\u0645\u0647\u200c\u0633\u0627": "\u0645\u0647\u200c\u0633\u0627",
		"\U0001F469\u200d\U0001F4BB":     "\U0001F469\u200d\U0001F4BB",
		"\u0915\u094d\u200d\u0937":       "\u0915\u094d\u200d\u0937",
		// A joiner is no licence for what else is unsafe.
		"\u200dleft\u202eright": `"\u200dleft\u202eright"`,
	} {
		if got := cli.Printable(in); got != want {
			t.Errorf("Printable(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestPrintableText(t *testing.T) {
	for in, want := range map[string]string{
		"":                         "",
		"one\n\ttwo\r\nZoë\n":      "one\n\ttwo\r\nZoë\n",
		"ok\nEvil\x1b[2J\nok":      "ok\n\"Evil\\x1b[2J\"\nok",
		"over\rwritten\nok":        "\"over\\rwritten\"\nok", // a carriage return that hides text
		"left\u202eright\n\xff":    "\"left\\u202eright\"\n\"\\xff\"",
		"\u0645\u0647\u200c\u0633": "\u0645\u0647\u200c\u0633",
	} {
		if got := cli.PrintableText(in); got != want {
			t.Errorf("PrintableText(%q) = %q, want %q", in, got, want)
		}
	}
}
