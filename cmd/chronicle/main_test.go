package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/internal/cli/clitest"
	"github.com/chronicle-es/chronicle/memory"
	"github.com/chronicle-es/chronicle/sqlite"
	"github.com/google/uuid"
)

// binary is the program, built once, run as a user runs it: one process
// per command, so that only what the store keeps survives between them.
var binary string

func TestMain(m *testing.M) { clitest.Main(m, "chronicle", &binary) }

// result is what one run of the program did.
type result struct {
	code        int
	out, errOut string
}

// cli runs the program with args and stdin, with its data directory in
// a temporary directory, so that the default store is never the user's.
func cli(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	home := t.TempDir()
	env := []string{"XDG_DATA_HOME=" + filepath.Join(home, "data"), "HOME=" + home}
	r := clitest.Run(t, binary, strings.NewReader(stdin), env, args...)
	return result{r.Code, r.Stdout, r.Stderr}
}

var times = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z`)

// mask replaces times, which change from run to run, with one of the same
// width, so that columns stay aligned.
func mask(s string) string { return times.ReplaceAllString(s, "2000-01-01T00:00:00.000000Z") }

// is fails unless the run exited with code and printed exactly out and
// errOut, times masked.
func (r result) is(t *testing.T, code int, out, errOut string) {
	t.Helper()
	if r.code != code || mask(r.out) != out || mask(r.errOut) != errOut {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nwant:\n%s\nstderr:\n%s\nwant:\n%s", r.code, code, mask(r.out), out, mask(r.errOut), errOut)
	}
}

// has fails unless the run exited with code and its output says each of
// want.
func (r result) has(t *testing.T, code int, want ...string) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, code, r.out, r.errOut)
	}
	for _, w := range want {
		if !strings.Contains(r.out+r.errOut, w) {
			t.Fatalf("output does not say %q\nstdout:\n%s\nstderr:\n%s", w, r.out, r.errOut)
		}
	}
}

// newStore returns the --store of a new SQLite file, with events appended
// by fn, and the path of the file.
func newStore(t *testing.T, fn func(s chronicle.Store)) (string, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "events.db")
	s, err := sqlite.Open(context.Background(), path, &sqlite.Options{Durability: sqlite.Relaxed})
	if err != nil {
		t.Fatal(err)
	}
	if fn != nil {
		fn(s)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return "--store=sqlite:" + path, path
}

func mustAppend(t *testing.T, s chronicle.Store, stream string, events ...chronicle.EventData) {
	t.Helper()
	if _, err := s.Append(context.Background(), stream, chronicle.Any, events...); err != nil {
		t.Fatal(err)
	}
}

// id returns a fixed event ID, so that exports can be compared.
func id(n int) uuid.UUID { return uuid.NewSHA1(uuid.NameSpaceOID, fmt.Append(nil, n)) }

// game fills a store with two streams.
func game(t *testing.T) func(chronicle.Store) {
	return func(s chronicle.Store) {
		mustAppend(t, s, "game-1",
			chronicle.EventData{ID: id(1), Type: "GameStarted", Data: []byte(`{"players": ["ann", "bob"]}`),
				Metadata: chronicle.Metadata{"$correlationId": "c1"}},
			chronicle.EventData{ID: id(2), Type: "DiscDropped", Data: []byte(`{"col":3}`)})
		mustAppend(t, s, "photo-1", chronicle.EventData{ID: id(3), Type: "Uploaded", Data: []byte{0x89, 'P', 'N', 'G', 0x1b}})
		mustAppend(t, s, "game-1",
			chronicle.EventData{ID: id(4), Type: "Note", Data: []byte("well played\x1b[31m")},
			chronicle.EventData{ID: id(5), Type: "GameWon"})
	}
}

func TestHelp(t *testing.T) {
	for _, cmd := range commands() {
		t.Run(cmd.name, func(t *testing.T) {
			usage := "Usage: chronicle " + cmd.name + " [--store DSN]"
			if cmd.noStore {
				usage = "Usage: chronicle " + cmd.name + " " + cmd.flags
			}
			cli(t, "", cmd.name, "--help").has(t, exitOK, usage, "Exit status: 0 done")
			cli(t, "", "help", cmd.name).has(t, exitOK, "Usage: chronicle "+cmd.name)
			// The store before help is no command to explain.
			cli(t, "", "--store", "memory:", "help", cmd.name).has(t, exitOK, "Usage: chronicle "+cmd.name)
		})
	}
	// "help help" is help too: it was an unknown command.
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}, {"--store", "memory:", "help"}, {"help", "help"}, {"--help", "help"}} {
		r := cli(t, "", args...)
		r.has(t, exitOK, "Commands:\n  serve ", "  export ", "  read STREAM       print a stream's events", "/data/chronicle/chronicle.db")
	}
}

func TestUsageErrors(t *testing.T) {
	store, _ := newStore(t, nil)
	for name, tt := range map[string]struct {
		args []string
		want string
	}{
		"NoCommand":      {nil, "chronicle: no command given\nRun 'chronicle --help' to see the commands.\n"},
		"UnknownCommand": {[]string{"fly"}, "chronicle: unknown command \"fly\"\nRun 'chronicle --help' to see the commands.\n"},
		"UnknownFlag":    {[]string{"read", "s", "--colour"}, "chronicle read: flag provided but not defined: -colour\nRun 'chronicle read --help' for its usage.\n"},
		"MissingStream":  {[]string{"read"}, "chronicle read: read needs stream\nRun 'chronicle read --help' for its usage.\n"},
		"ExtraArgs":      {[]string{"scavenge", "now"}, "chronicle scavenge: scavenge takes no arguments, got \"now\"\nRun 'chronicle scavenge --help' for its usage.\n"},
		// A command of two arguments named them as one, "file user",
		// and counted "1 arguments".
		"PasswdNoArgs": {[]string{"passwd"}, "chronicle passwd: passwd needs file and user\nRun 'chronicle passwd --help' for its usage.\n"},
		"PasswdOneArg": {[]string{"passwd", "users"}, "chronicle passwd: passwd takes file and user, got 1 argument: \"users\"\nRun 'chronicle passwd --help' for its usage.\n"},
		"TwoStreams":   {[]string{"delete", "a", "b"}, "chronicle delete: delete takes one stream, got 2 arguments: \"a b\"\nRun 'chronicle delete --help' for its usage.\n"},
		"BadMaxAge": {[]string{"meta", "s", "--max-age", "a week"},
			"chronicle meta: invalid value \"a week\" for flag -max-age: want a duration such as 30d, 36h or 90m\nRun 'chronicle meta --help' for its usage.\n"},
		"NegativeMaxAge": {[]string{"meta", "s", "--max-age=-3h"},
			"chronicle meta: invalid value \"-3h\" for flag -max-age: a max age cannot be negative\nRun 'chronicle meta --help' for its usage.\n"},
		// Days past the longest time.Duration used to wrap around: to a
		// shorter age (300000d), or to a negative one (200000d).
		"MaxAgeTooLong": {[]string{"meta", "s", "--max-age", "300000d"},
			"chronicle meta: invalid value \"300000d\" for flag -max-age: a max age can be at most 106751d\nRun 'chronicle meta --help' for its usage.\n"},
		"MaxAgeWrapsNegative": {[]string{"meta", "s", "--max-age", "200000d"},
			"chronicle meta: invalid value \"200000d\" for flag -max-age: a max age can be at most 106751d\nRun 'chronicle meta --help' for its usage.\n"},
		"MaxAgeOneDayTooLong": {[]string{"meta", "s", "--max-age", "106752d"},
			"chronicle meta: invalid value \"106752d\" for flag -max-age: a max age can be at most 106751d\nRun 'chronicle meta --help' for its usage.\n"},
		"MaxAgePastUint64": {[]string{"meta", "s", "--max-age", "99999999999999999999d"},
			"chronicle meta: invalid value \"99999999999999999999d\" for flag -max-age: a max age can be at most 106751d\nRun 'chronicle meta --help' for its usage.\n"},
		"BadMaxCount": {[]string{"meta", "s", "--max-count", "-1"},
			"chronicle meta: invalid value \"-1\" for flag -max-count: want a decimal number, 0 or more, such as 10\nRun 'chronicle meta --help' for its usage.\n"},
		"BadExpected": {[]string{"delete", "s", "--expected", "latest"},
			"chronicle delete: invalid value \"latest\" for flag -expected: want a revision number, any, no-stream or exists\nRun 'chronicle delete --help' for its usage.\n"},
		"NegativeLimit": {[]string{"read", "s", "--limit", "-2"}, "chronicle read: invalid value \"-2\" for flag -limit: want a decimal number, 0 or more, such as 10\nRun 'chronicle read --help' for its usage.\n"},
		// Go's int flags read 010 as 8, octal; a limit is decimal.
		"OctalLimit": {[]string{"read", "s", "--limit", "0x10"}, "chronicle read: invalid value \"0x10\" for flag -limit: want a decimal number, 0 or more, such as 10\nRun 'chronicle read --help' for its usage.\n"},
	} {
		t.Run(name, func(t *testing.T) {
			cli(t, "", append(tt.args, store)...).is(t, exitUsage, "", tt.want)
		})
	}
	// A category is the part of a name before its first '-': one that
	// holds a '-' exported nothing, and said "Exported 0 events".
	t.Run("ExportCategoryWithDash", func(t *testing.T) {
		cli(t, "", "export", store, "--category", "game", "--category", "game-1").is(t, exitUsage, "",
			"chronicle export: --category \"game-1\" holds a '-', and a category is the part of a stream name before its first '-' "+
				"(\"game\" for \"game-1\"): no stream is in it. For the streams whose names start with game-1, use --prefix game-1; "+
				"for that stream alone, --stream game-1\nRun 'chronicle export --help' for its usage.\n")
		cli(t, "", "export", store, "--category", "it's-a").has(t, exitUsage, "use --prefix 'it'\\''s-a'")
	})
	t.Run("ExportFromWithStream", func(t *testing.T) {
		cli(t, "", "export", store, "--stream", "a", "--from", "3").has(t, exitUsage, "--from is a position of the global log: it cannot be used with --stream")
	})
}

// TestFlagValueOfDashes gives a flag "--" as its value, which the flag
// package takes as the value: the flags after the next argument are flags
// still. They were taken for arguments, as after a "--" that ends the
// flags, and a command line that said what it meant was refused.
func TestFlagValueOfDashes(t *testing.T) {
	users := filepath.Join(t.TempDir(), "users")
	cli(t, "s3cret\n", "passwd", "--role", "--", users, "ann", "--role", "admin").has(t, exitOK, `User "ann" (admin)`)
	cli(t, "", "--store", "memory:", "export", "--prefix", "--", "x", "--type", "T").is(t, exitUsage, "",
		"chronicle export: export takes no arguments, got \"x\"\nRun 'chronicle export --help' for its usage.\n")
}

func TestDefaultStore(t *testing.T) {
	r := cli(t, "", "read", "game-1")
	if r.code != exitError || !regexp.MustCompile(`^Store: /.*/data/chronicle/chronicle\.db\n`).MatchString(r.errOut) {
		t.Fatalf("exit %d, stderr:\n%s", r.code, r.errOut)
	}
	cli(t, "", "read", "game-1", "--store", "memory:").is(t, exitError, "",
		"Store: memory (events are gone when the program ends)\nchronicle read: stream \"game-1\" not found: it has no events, or was deleted\n")
	cli(t, "", "--store", "nosuch:x", "scavenge").has(t, exitUsage, `unknown kind "nosuch"`)
	// An empty --store is not the default store (a script's unset
	// variable, say): it is refused.
	cli(t, "", "read", "game-1", "--store", "").has(t, exitUsage, `invalid value "" for flag -store: it is empty`)
	cli(t, "", "--store=", "read", "game-1").has(t, exitUsage, `invalid value "" for flag -store: it is empty`)
}

func TestRead(t *testing.T) {
	store, path := newStore(t, game(t))
	testRead(t, store, "Store: "+path+"\n")
}

// testRead reads the streams of game from store; errOut is what the
// program says of the store on standard error.
func testRead(t *testing.T, store, errOut string) {
	cli(t, "", "read", "game-1", store).is(t, exitOK, `REVISION  POSITION  RECORDED                     TYPE         DATA
0         1         2000-01-01T00:00:00.000000Z  GameStarted  {"players":["ann","bob"]}
1         2         2000-01-01T00:00:00.000000Z  DiscDropped  {"col":3}
2         4         2000-01-01T00:00:00.000000Z  Note         "well played\x1b[31m"
3         5         2000-01-01T00:00:00.000000Z  GameWon      
`, errOut)
	cli(t, "", store, "read", "--backwards", "--limit", "2", "game-1").is(t, exitOK, `REVISION  POSITION  RECORDED                     TYPE     DATA
3         5         2000-01-01T00:00:00.000000Z  GameWon  
2         4         2000-01-01T00:00:00.000000Z  Note     "well played\x1b[31m"
`, errOut)
	cli(t, "", "read", "game-1", "--from", "1", "--limit", "1", store).is(t, exitOK, `REVISION  POSITION  RECORDED                     TYPE         DATA
1         2         2000-01-01T00:00:00.000000Z  DiscDropped  {"col":3}
`, errOut)
	cli(t, "", "read", "photo-1", store).is(t, exitOK, `REVISION  POSITION  RECORDED                     TYPE      DATA
0         3         2000-01-01T00:00:00.000000Z  Uploaded  base64:iVBORxs=
`, errOut)
	cli(t, "", "read", "game-1", "--from", "9", store).is(t, exitOK, "", errOut+"No events to show in stream \"game-1\".\n")
	cli(t, "", "read", "game-2", store).is(t, exitError, "", errOut+"chronicle read: stream \"game-2\" not found: it has no events, or was deleted\n")
	cli(t, "", "read", "$all", store).has(t, exitError, "invalid stream name", "reserved for system streams")
}

// TestReadShowsTypesSafely reads an event whose type holds terminal
// escapes and a tab. Stores refuse such types on append, but a KurrentDB
// node (--store kurrentdb://) takes any, and a file may hold rows that
// another program wrote: read must not send them to the terminal as they
// are, as it does not for data.
func TestReadShowsTypesSafely(t *testing.T) {
	store, path := newStore(t, func(s chronicle.Store) {
		mustAppend(t, s, "odd-1", chronicle.EventData{ID: id(1), Type: "Placeholder", Data: []byte(`{}`)})
		// As another writer would have stored it.
		err := s.(*sqlite.Store).Update(context.Background(), func(tx *sql.Tx) error {
			_, err := tx.Exec("UPDATE events SET type = ?", "Evil\x1b]0;owned\x07\tX")
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	})
	cli(t, "", "read", "odd-1", store).is(t, exitOK, `REVISION  POSITION  RECORDED                     TYPE                     DATA
0         1         2000-01-01T00:00:00.000000Z  "Evil\x1b]0;owned\a\tX"  {}
`, "Store: "+path+"\n")
}

func TestMeta(t *testing.T) {
	store, path := newStore(t, game(t))
	testMeta(t, store, "Store: "+path+"\n")
}

func testMeta(t *testing.T, store, errOut string) {
	cli(t, "", "meta", "game-1", store).is(t, exitOK, `Metadata of stream "game-1":
  max age:          none
  max count:        none
  truncate before:  none
`, errOut)
	cli(t, "", "meta", "game-1", "--max-age", "30d", "--max-count", "3", store).is(t, exitOK, `Set the metadata of stream "game-1":
  max age:          30d
  max count:        3
  truncate before:  none
`, errOut)
	// Settings not given are kept; 0 removes one.
	cli(t, "", "meta", "game-1", "--truncate-before", "2", "--max-age", "0", store).is(t, exitOK, `Set the metadata of stream "game-1":
  max age:          none
  max count:        3
  truncate before:  2
`, errOut)
	cli(t, "", "meta", "game-1", "--max-age", "106751d", store).has(t, exitOK, "max age:          106751d")
	cli(t, "", "meta", "game-1", "--max-age", "90m", store).has(t, exitOK, "max age:          1h30m0s")
	// Reads honour it at once.
	cli(t, "", "read", "game-1", store).is(t, exitOK, `REVISION  POSITION  RECORDED                     TYPE     DATA
2         4         2000-01-01T00:00:00.000000Z  Note     "well played\x1b[31m"
3         5         2000-01-01T00:00:00.000000Z  GameWon  
`, errOut)
}

// TestNumbersAreDecimal gives revisions with a leading zero, and in hex:
// Go's flag package reads 010 as octal 8 and 0x10 as 16, which for
// --truncate-before hides other events than the ones meant. --expected
// always read 010 as 10; every number now does.
func TestNumbersAreDecimal(t *testing.T) {
	store, _ := newStore(t, game(t))
	cli(t, "", "read", "game-1", "--from", "03", store).has(t, exitOK, "\n3         5 ")
	cli(t, "", "meta", "game-1", "--truncate-before", "010", "--max-count", "007", store).has(t, exitOK,
		"max count:        7\n", "truncate before:  10\n")
	for _, args := range [][]string{
		{"meta", "game-1", "--truncate-before", "0x10"},
		{"meta", "game-1", "--max-count", "1_000"},
		{"read", "game-1", "--from", "0b1"},
		{"export", "--from", "0o7"},
	} {
		cli(t, "", append(args, store)...).has(t, exitUsage, "want a decimal number")
	}
}

func TestDeleteTombstoneScavenge(t *testing.T) {
	store, path := newStore(t, game(t))
	testDeleteTombstoneScavenge(t, store, "Store: "+path+"\n")
}

func testDeleteTombstoneScavenge(t *testing.T, store, errOut string) {

	cli(t, "", "delete", "game-1", "--expected", "1", store).is(t, exitError, "",
		errOut+"chronicle delete: stream \"game-1\" is at revision 3, but --expected is 1: nothing was deleted\n")
	cli(t, "", "delete", "nope", "--expected", "exists", store).is(t, exitError, "",
		errOut+"chronicle delete: stream \"nope\" has no events, but --expected is exists: nothing was deleted\n")
	cli(t, "", "delete", "nope", store).is(t, exitError, "",
		errOut+"chronicle delete: stream \"nope\" not found: it has no events, or was deleted\n")
	cli(t, "", "delete", "game-1", "--expected", "3", store).is(t, exitOK,
		"Deleted stream \"game-1\": it reads as not found, and an append starts it again after its old events.\n"+
			"Run \"chronicle scavenge\" to remove its events from the store.\n", errOut)
	cli(t, "", "read", "game-1", store).is(t, exitError, "", errOut+"chronicle read: stream \"game-1\" not found: it has no events, or was deleted\n")

	cli(t, "", "tombstone", "photo-1", "--expected", "no-stream", store).is(t, exitError, "",
		errOut+"chronicle tombstone: stream \"photo-1\" is at revision 0, but --expected is no-stream: nothing was deleted\n")
	cli(t, "", "tombstone", "photo-1", store).is(t, exitOK,
		"Tombstoned stream \"photo-1\": it can never be read or written again.\n"+
			"Run \"chronicle scavenge\" to remove its events from the store.\n", errOut)
	deleted := "stream \"photo-1\" is deleted for good (tombstoned): it cannot be read or written; use another name\n"
	cli(t, "", "read", "photo-1", store).is(t, exitError, "", errOut+"chronicle read: "+deleted)
	cli(t, "", "tombstone", "photo-1", store).is(t, exitError, "", errOut+"chronicle tombstone: "+deleted)
	cli(t, "", "meta", "photo-1", store).is(t, exitError, "", errOut+"chronicle meta: "+deleted)
	cli(t, "", "export", "--stream", "photo-1", store).is(t, exitError, "", errOut+"chronicle export: "+deleted)

	// Until the scavenge, the whole store's export keeps every event.
	cli(t, "", "export", store).has(t, exitOK, "Exported 5 events of 2 streams, up to position 5.")
	r := cli(t, "", "scavenge", store)
	r.has(t, exitOK, "scavenge  2/2  100%")
	if r.out != "Scavenged 2 streams: removed 5 events.\n" {
		t.Fatalf("scavenge said %q", r.out)
	}
	cli(t, "", "scavenge", store).has(t, exitOK, "Scavenged 2 streams: removed 0 events.")
	cli(t, "", "export", store).is(t, exitOK, "", errOut+"Exported 0 events of 0 streams.\n")
}

func TestExportImport(t *testing.T) {
	src, _ := newStore(t, game(t))
	dst, dstPath := newStore(t, nil)
	file, archive := testExportImport(t, src, dst, "Store: "+dstPath+"\n")
	dir := filepath.Dir(file)

	// A bad line: the lines before it are imported, and the message says
	// how to finish: fix the line, then run the import again. Running it
	// again as it is stops at the same line, so the message must not say
	// that alone finishes it; it did, run after run.
	fresh, freshPath := newStore(t, nil)
	lines := strings.SplitAfter(string(archive), "\n")
	bad := lines[0] + lines[1] + strings.Replace(lines[2], `"id":"`, `"id":"x`, 1) + lines[3] + lines[4]
	badLine := "chronicle import: standard input: line 3: id \"x" + id(3).String() + "\" is not a UUID\n"
	fixIt := " from the first 2 lines. Line 3 was not imported: fix it or leave it out if it is at fault, then run the import again to finish it: what is imported is not written twice.\n"
	cli(t, bad, "import", "-", fresh).is(t, exitError, "", "Store: "+freshPath+"\n"+badLine+
		"Imported 2 events (2 new, 0 already in the store)"+fixIt)
	cli(t, bad, "import", "-", fresh).is(t, exitError, "", "Store: "+freshPath+"\n"+badLine+
		"Imported 2 events (0 new, 2 already in the store)"+fixIt)
	cli(t, string(archive), "import", "-", fresh).is(t, exitOK, "Imported 5 events (3 new, 2 already in the store) from standard input.\n", "Store: "+freshPath+"\n")
	cli(t, "", "import", filepath.Join(dir, "missing.jsonl"), fresh).has(t, exitError, "chronicle import: open ", "no such file or directory")
	cli(t, "not json\n", "import", "-", fresh).has(t, exitError, "line 1: not a JSON object")

	// --keep-origin keeps where the events came from.
	origin, _ := newStore(t, nil)
	cli(t, "", "import", "--keep-origin", file, origin).has(t, exitOK, "5 new")
	cli(t, "", "export", "--stream", "photo-1", origin).has(t, exitOK, `"metadata":{"$originalPosition":"3","$originalRecorded":"`)
}

// testExportImport exports the events of game from src to a file and to
// standard output, and imports the file into the empty store dst, whose
// errOut is what the program says of it; it returns the file and what it
// holds.
func testExportImport(t *testing.T, src, dst, errOut string) (string, []byte) {
	dir := t.TempDir()
	file := filepath.Join(dir, "archive.jsonl")

	r := cli(t, "", "export", "--out", file, src)
	r.has(t, exitOK, "Exported 5 events of 2 streams, up to position 5 to "+file+".")
	archive, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	stdout := cli(t, "", "export", src)
	if stdout.out != string(archive) {
		t.Fatalf("export to stdout differs from the file:\n%s\n%s", stdout.out, archive)
	}
	want := `{"stream":"game-1","revision":0,"position":1,"id":"` + id(1).String() + `","type":"GameStarted","recorded":"2000-01-01T00:00:00.000000Z","metadata":{"$correlationId":"c1"},"data_base64":"eyJwbGF5ZXJzIjogWyJhbm4iLCAiYm9iIl19"}
{"stream":"game-1","revision":1,"position":2,"id":"` + id(2).String() + `","type":"DiscDropped","recorded":"2000-01-01T00:00:00.000000Z","data":{"col":3}}
{"stream":"photo-1","revision":0,"position":3,"id":"` + id(3).String() + `","type":"Uploaded","recorded":"2000-01-01T00:00:00.000000Z","data_base64":"iVBORxs="}
{"stream":"game-1","revision":2,"position":4,"id":"` + id(4).String() + `","type":"Note","recorded":"2000-01-01T00:00:00.000000Z","data_base64":"d2VsbCBwbGF5ZWQbWzMxbQ=="}
{"stream":"game-1","revision":3,"position":5,"id":"` + id(5).String() + `","type":"GameWon","recorded":"2000-01-01T00:00:00.000000Z"}
`
	if mask(string(archive)) != want {
		t.Fatalf("archive:\n%s\nwant:\n%s", mask(string(archive)), want)
	}
	cli(t, "", "export", "--stream", "photo-1", "--stream", "game-1", "--type", "GameWon", "--type", "Uploaded", src).
		has(t, exitOK, `{"stream":"photo-1","revision":0`, `{"stream":"game-1","revision":3`, "Exported 2 events of 2 streams")
	cli(t, "", "export", "--stream", "nope", "--out", filepath.Join(dir, "nope.jsonl"), src).
		has(t, exitError, `chronicle export: stream "nope" not found: it has no events, or was deleted (`+filepath.Join(dir, "nope.jsonl")+" not written)")
	if _, err := os.Stat(filepath.Join(dir, "nope.jsonl")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a failed export left a file: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("the export left %d files behind, want only the archive", len(entries))
	}

	cli(t, "", "import", file, dst).is(t, exitOK, "Imported 5 events (5 new, 0 already in the store) from "+file+".\n", errOut)
	cli(t, "", "import", file, dst).is(t, exitOK, "Imported 5 events (0 new, 5 already in the store) from "+file+".\n", errOut)
	cli(t, string(archive), "import", "-", dst).is(t, exitOK, "Imported 5 events (0 new, 5 already in the store) from standard input.\n", errOut)
	again := cli(t, "", "export", dst)
	if mask(again.out) != want {
		t.Fatalf("the imported store exports:\n%s\nwant:\n%s", mask(again.out), want)
	}
	return file, archive
}

// plainStore has only the abilities every store has, as a future store
// might.
type plainStore struct{ chronicle.Store }

func (plainStore) Close() error { return nil }

func TestMissingAbility(t *testing.T) {
	for _, tt := range []struct {
		cmd  string
		want string
	}{
		{"meta", "chronicle meta: this store cannot keep stream metadata\n"},
		{"delete", "chronicle delete: this store cannot delete streams\n"},
		{"tombstone", "chronicle tombstone: this store cannot delete streams\n"},
		{"scavenge", "chronicle scavenge: " + noScavenge + "\n"},
	} {
		for _, cmd := range commands() {
			if cmd.name != tt.cmd {
				continue
			}
			var out, errOut bytes.Buffer
			a := &app{console: console{out: &out, err: &errOut}}
			if code := cmd.run(a, context.Background(), plainStore{}, []string{"s"}); code != exitError || errOut.String() != tt.want || out.Len() != 0 {
				t.Errorf("%s on a store without the ability: exit %d, stdout %q, stderr %q; want 1 and %q", tt.cmd, code, out.String(), errOut.String(), tt.want)
			}
		}
	}
}

// deleterOnly can delete streams but not scavenge, as the kurrent store
// (--store kurrentdb://) cannot.
type deleterOnly struct {
	chronicle.Store
	chronicle.Deleter
}

func (deleterOnly) Close() error { return nil }

// TestDeleteWhereNoScavenge deletes on a store that cannot scavenge: the
// program must not tell to run a scavenge that it would refuse.
func TestDeleteWhereNoScavenge(t *testing.T) {
	for _, name := range []string{"delete", "tombstone"} {
		for _, cmd := range commands() {
			if cmd.name != name {
				continue
			}
			mem := memory.New(nil)
			mustAppend(t, mem, "s", chronicle.EventData{Type: "E"})
			var out, errOut bytes.Buffer
			a := &app{console: console{out: &out, err: &errOut}}
			code := cmd.run(a, context.Background(), deleterOnly{mem, mem}, []string{"s"})
			if code != exitOK || strings.Contains(out.String(), `"chronicle scavenge"`) {
				t.Errorf("%s: exit %d, stdout %q, stderr %q; want 0 and no \"chronicle scavenge\" to run", name, code, out.String(), errOut.String())
			}
		}
	}
}

// failingWriter fails every write, as standard output does on a full disk.
type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("no space left on device") }

// TestReadReportsWriteErrors reads into an output that fails: a script
// that saves what read prints must not get exit 0 and nothing saved.
func TestReadReportsWriteErrors(t *testing.T) {
	for _, cmd := range commands() {
		if cmd.name != "read" {
			continue
		}
		mem := memory.New(nil)
		mustAppend(t, mem, "s", chronicle.EventData{Type: "E", Data: []byte(`{}`)})
		var errOut bytes.Buffer
		a := &app{console: console{out: failingWriter{}, err: &errOut}}
		code := cmd.run(a, context.Background(), plainStore{mem}, []string{"s"})
		if code != exitError || !strings.Contains(errOut.String(), "no space left on device") {
			t.Errorf("read into a failing output: exit %d, stderr %q; want 1 and the write's error", code, errOut.String())
		}
	}
}

// closingMemory is the memory store with every ability, as a command
// gets it.
type closingMemory struct{ *memory.Store }

func (closingMemory) Close() error { return nil }

// TestSummariesReportWriteErrors runs each command that ends with a
// summary on standard output into an output that fails: it must exit 1
// and say so, as read does, rather than exit 0 with nothing written.
// Only read did.
func TestSummariesReportWriteErrors(t *testing.T) {
	line := `{"stream":"t","revision":0,"position":1,"id":"` + id(1).String() + `","type":"T","recorded":"2000-01-01T00:00:00Z"}` + "\n"
	users := filepath.Join(t.TempDir(), "users")
	for _, tt := range []struct {
		cmd   string
		args  []string
		input string
		set   string // a flag given
	}{
		{"import", []string{"-"}, line, ""},
		{"meta", []string{"s"}, "", ""},
		{"meta", []string{"s"}, "", "max-count"},
		{"delete", []string{"s"}, "", ""},
		{"tombstone", []string{"s"}, "", ""},
		{"scavenge", nil, "", ""},
		{"passwd", []string{users, "ann"}, "s3cret\n", ""},
	} {
		for _, cmd := range commands() {
			if cmd.name != tt.cmd {
				continue
			}
			mem := memory.New(nil)
			mustAppend(t, mem, "s", chronicle.EventData{Type: "E", Data: []byte(`{}`)})
			var errOut bytes.Buffer
			a := &app{console: console{in: strings.NewReader(tt.input), out: failingWriter{}, err: &errOut}, set: map[string]bool{tt.set: true}}
			if cmd.define != nil {
				cmd.define(a, flag.NewFlagSet(cmd.name, flag.ContinueOnError))
			}
			code := cmd.run(a, context.Background(), closingMemory{mem}, tt.args)
			if code != exitError || !strings.Contains(errOut.String(), "no space left on device") {
				t.Errorf("%s %v into a failing output: exit %d, stderr %q; want 1 and the write's error", tt.cmd, tt.set, code, errOut.String())
			}
		}
	}
}

// TestInterruptWhileReadingStdin interrupts commands that wait for more of
// standard input, as a terminal or a silent pipe makes them: the program
// catches Ctrl-C, so it must stop reading itself, at once, and must not
// act on the part it read.
func TestInterruptWhileReadingStdin(t *testing.T) {
	users := filepath.Join(t.TempDir(), "users")
	line := `{"stream":"s","revision":0,"position":1,"id":"` + id(1).String() + `","type":"T","recorded":"2000-01-01T00:00:00Z"}` + "\n"
	for name, tt := range map[string]struct {
		args  []string
		input string
	}{
		"import":                  {[]string{"--store", "memory:", "import", "-"}, line},
		"passwd, half a password": {[]string{"passwd", users, "ann"}, "s3cr"},
	} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			in, w := io.Pipe()
			defer w.Close()
			var out, errOut bytes.Buffer
			done := make(chan int, 1)
			go func() { done <- run(ctx, tt.args, console{in: in, out: &out, err: &errOut}) }()
			// A write to a pipe returns once the program has read it.
			if _, err := io.WriteString(w, tt.input); err != nil {
				t.Fatal(err)
			}
			cancel()
			select {
			case code := <-done:
				if code != exitInterrupted {
					t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, exitInterrupted, &out, &errOut)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the command was still reading standard input 10s after the interrupt")
			}
		})
	}
	if _, err := os.Stat(users); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("an interrupted passwd wrote the users file: %v", err)
	}
}

// TestMissingStore: a command that acts on a store refuses a SQLite file
// that does not exist, which a mistyped path would otherwise create
// empty (an export of nothing, a scavenge of nothing, both "done"); the
// file is not made. import and serve make a new store.
func TestMissingStore(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "typo", "events.db")
	for _, args := range [][]string{
		{"read", "s"},
		{"export", "--out", filepath.Join(dir, "backup.jsonl")},
		{"meta", "s", "--max-count", "5"},
		{"delete", "s"},
		{"tombstone", "s"},
		{"scavenge"},
	} {
		cli(t, "", append(args, "--store", "sqlite:"+missing)...).has(t, exitError, "there is no store at "+missing+": check the path")
		cli(t, "", append(args, "--store", missing)...).has(t, exitError, "there is no store at "+missing)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*")); len(left) > 0 {
		t.Errorf("the refused commands left %v", left)
	}
	archive := filepath.Join(dir, "in.jsonl")
	if err := os.WriteFile(archive, []byte(`{"stream":"s","revision":0,"position":1,"id":"0190f0c2-7a3b-7c4d-8e5f-0a1b2c3d4e5f","type":"E","recorded":"2025-01-02T03:04:05.000000Z"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fresh := filepath.Join(dir, "new.db")
	cli(t, "", "import", archive, "--store", fresh).has(t, exitOK)
	cli(t, "", "read", "s", "--store", fresh).has(t, exitOK, "E")
}

// caughtSignals are the signals that the program catches, with the exit
// status and the words that it reports each with.
var caughtSignals = []struct {
	sig  syscall.Signal
	code int
	how  string
}{
	{syscall.SIGINT, exitInterrupted, "interrupted (Ctrl-C, SIGINT)"},
	{syscall.SIGTERM, exitTerminated, "stopped by SIGTERM"},
}

// TestSignalExitStatus stops a command that waits for standard input
// with each signal that the program catches: shells report 128 plus the
// signal's number, 130 for SIGINT and 143 for SIGTERM, and scripts tell
// them apart by it. SIGTERM exited 130, as if Ctrl-C had been pressed.
// The message says which stopped the command, where it said "context
// canceled", which tells a user nothing.
func TestSignalExitStatus(t *testing.T) {
	for _, tt := range caughtSignals {
		t.Run(tt.sig.String(), func(t *testing.T) {
			cmd := exec.Command(binary, "--store", "memory:", "import", "-")
			stdin, err := cmd.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			defer stdin.Close()
			stderr, err := cmd.StderrPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
			// The store is named once the program handles signals, and
			// before it reads the archive.
			errOut := bufio.NewReader(stderr)
			if line, err := errOut.ReadString('\n'); err != nil || !strings.HasPrefix(line, "Store: ") {
				t.Fatalf("first line of stderr %q, %v", line, err)
			}
			if err := cmd.Process.Signal(tt.sig); err != nil {
				t.Fatal(err)
			}
			rest, _ := io.ReadAll(errOut)
			err = cmd.Wait()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != tt.code {
				t.Fatalf("after %v: %v, want exit status %d\nstderr: %s", tt.sig, err, tt.code, rest)
			}
			if says := "chronicle import: " + tt.how + " before it was done\n"; string(rest) != says {
				t.Errorf("after %v, stderr %q: want %q", tt.sig, rest, says)
			}
		})
	}
}

// TestHelpOfACommand asks for a command's help in each way the program
// takes: all print the same, the command's. "chronicle --help read"
// printed the general help.
func TestHelpOfACommand(t *testing.T) {
	// Each run has a home of its own, which the help names.
	home := regexp.MustCompile(`\S*/data/chronicle/chronicle\.db`)
	helpOf := func(args ...string) result {
		r := cli(t, "", args...)
		r.out = home.ReplaceAllString(r.out, "HOME/data/chronicle/chronicle.db")
		return r
	}
	for _, cmd := range commands() {
		t.Run(cmd.name, func(t *testing.T) {
			want := helpOf(cmd.name, "--help")
			want.has(t, exitOK, "Usage: chronicle "+cmd.name+" ", "HOME/data/chronicle/chronicle.db")
			for _, args := range [][]string{
				{"help", cmd.name},
				{"--help", cmd.name},
				{"-h", cmd.name},
				{"--store", "memory:", "--help", cmd.name},
				{cmd.name, "-h"},
			} {
				if r := helpOf(args...); r != want {
					t.Errorf("%q: exit %d\nstdout:\n%s\nstderr:\n%s\nwant the same as %q:\n%s", args, r.code, r.out, r.errOut, []string{cmd.name, "--help"}, want.out)
				}
			}
		})
	}
	cli(t, "", "--help", "fly").is(t, exitUsage, "", "chronicle: unknown command \"fly\"\nRun 'chronicle --help' to see the commands.\n")
}

// TestUsageLinesNameEveryFlag checks each command's usage line, and its
// list of flags, against the flags it takes: export's line left out
// --from, --prefix, --category and --type, import's --keep-origin, and
// serve's --log and --allow-unauthenticated-writes.
func TestUsageLinesNameEveryFlag(t *testing.T) {
	for _, cmd := range commands() {
		r := cli(t, "", cmd.name, "--help")
		line, _, _ := strings.Cut(r.out, "\n")
		fs := flag.NewFlagSet(cmd.name, flag.ContinueOnError)
		if cmd.define != nil {
			cmd.define(&app{}, fs)
		}
		fs.VisitAll(func(f *flag.Flag) {
			if !regexp.MustCompile(`[\[ ]--` + regexp.QuoteMeta(f.Name) + `[ \]]`).MatchString(line) {
				t.Errorf("%s: the usage line does not name --%s:\n%s", cmd.name, f.Name, line)
			}
			if !strings.Contains(cmd.flagHelp, "  --"+f.Name+" ") && !strings.Contains(cmd.flagHelp, "  --"+f.Name+"\n") {
				t.Errorf("%s: the flags' help does not explain --%s", cmd.name, f.Name)
			}
		})
	}
}

// TestImportIntoTombstonedStream imports an archive one of whose streams
// is tombstoned in the store: no run of the import can write its lines,
// so the message must not tell to run it again (which stopped at the
// same line again), but what helps.
func TestImportIntoTombstonedStream(t *testing.T) {
	src, _ := newStore(t, game(t))
	archive := cli(t, "", "export", src).out
	tombstoned := func(s chronicle.Store) {
		mustAppend(t, s, "photo-1", chronicle.EventData{Type: "Old"})
		if err := s.(chronicle.Deleter).Tombstone(context.Background(), "photo-1", chronicle.Any); err != nil {
			t.Fatal(err)
		}
	}
	dst, path := newStore(t, tombstoned)
	refused := "chronicle import: standard input: line 3: stream \"photo-1\" is deleted for good (tombstoned): it cannot be read or written; use another name\n"
	advice := "Stream \"photo-1\" is tombstoned in this store, so no import can write its events: to import the lines after it, " +
		"leave the stream's lines out of the archive and run the import again (what is imported is not written twice), or import into another store.\n"
	cli(t, archive, "import", "-", dst).is(t, exitError, "", "Store: "+path+"\n"+refused+
		"Imported 2 events (2 new, 0 already in the store) from the first 2 lines. "+advice)
	// From its first line: nothing imported, and the same advice.
	lines := strings.SplitAfter(archive, "\n")
	cli(t, lines[2]+lines[3], "import", "-", dst).is(t, exitError, "", "Store: "+path+"\n"+
		strings.Replace(refused, "line 3", "line 1", 1)+"Nothing was imported. "+advice)
}

// TestImportOfMissingFileMakesNoStore imports a file that does not
// exist, and a directory, into a store that does not exist yet: the
// import fails, and leaves no new, empty store behind, which a later
// command would take for the store meant. It made the store first.
func TestImportOfMissingFileMakesNoStore(t *testing.T) {
	dir := t.TempDir()
	store := filepath.Join(dir, "new.db")
	for _, file := range []string{filepath.Join(dir, "typo.jsonl"), dir} {
		r := cli(t, "", "import", file, "--store", store)
		r.has(t, exitError, "chronicle import: ", file)
		if _, err := os.Stat(store); err == nil {
			t.Fatalf("import %s failed and left a new store %s\nstderr:\n%s", file, store, r.errOut)
		}
	}
}

// TestExportOfEmptyTypeRefused exports with an empty --type, as a
// script whose variable is unset gives it. No event has an empty type:
// alone, it made an archive of nothing, and the export said "Exported 0
// events" and exited 0; beside another --type, it selected nothing
// without a word. It must be refused, with nothing written, as the
// server refuses type=.
func TestExportOfEmptyTypeRefused(t *testing.T) {
	store, _ := newStore(t, game(t))
	out := filepath.Join(t.TempDir(), "archive.jsonl")
	for _, args := range [][]string{{"--type", ""}, {"--type=GameWon", "--type="}} {
		r := cli(t, "", append([]string{"export", store, "--out", out}, args...)...)
		r.has(t, exitUsage, "chronicle export: --type is empty, and no event has an empty type: give an event type, or leave --type out to export every type")
		if _, err := os.Stat(out); err == nil {
			t.Fatalf("export %v wrote %s", args, out)
		}
	}
}

// TestExportToADirectory exports with --out naming a directory: the
// export must be refused before it reads the store, saying so. It wrote
// the whole archive beside the directory, then failed to rename it over
// the directory with "rename ./.DIR.123.tmp DIR: file exists".
func TestExportToADirectory(t *testing.T) {
	store, _ := newStore(t, game(t))
	dir := t.TempDir()
	for _, out := range []string{dir, dir + string(filepath.Separator)} {
		r := cli(t, "", "export", store, "--out", out)
		r.is(t, exitError, "", "Store: "+strings.TrimPrefix(store, "--store=sqlite:")+"\n"+
			"chronicle export: "+out+" is a directory: give --out the name of the archive file to write, such as "+filepath.Join(out, "archive.jsonl")+"\n")
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Fatalf("export --out %s left %s in it", out, entries[0].Name())
		}
	}
}

// TestExportFromWithStreamIsUsage gives export --from with --stream,
// which the export refuses as wrong usage: it must say so, exit 2,
// before it opens the store. It opened the store first, so that a store
// path that is wrong too gave "there is no store" and exit 1, hiding the
// usage error behind another.
func TestExportFromWithStreamIsUsage(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "typo.db")
	for _, from := range []string{"0", "5"} {
		cli(t, "", "export", "--from", from, "--stream", "game-1", "--store", missing).is(t, exitUsage, "",
			"chronicle export: --from is a position of the global log: it cannot be used with --stream\n"+
				"Run 'chronicle export --help' for its usage.\n")
	}
}
