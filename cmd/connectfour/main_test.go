package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/chronicle-es/chronicle"
	cf "github.com/chronicle-es/chronicle/examples/connectfour"
	"github.com/chronicle-es/chronicle/internal/cli/clitest"
	"github.com/chronicle-es/chronicle/internal/pgtest"
	"github.com/chronicle-es/chronicle/kurrentserver"
	"github.com/chronicle-es/chronicle/memory"
	"github.com/chronicle-es/chronicle/sqlite"
	"github.com/google/uuid"
)

// tieGame fills the board without four in a row at any move.
const tieGame = "FDCDBFDBABEBCFAFGGCAGAECDADECDCGAEBBFEEFGG"

// lines returns the input that types each of words on its own line, then
// each letter of moves on its own line.
func lines(words []string, moves string) string {
	var sb strings.Builder
	for _, w := range words {
		sb.WriteString(w + "\n")
	}
	for _, m := range moves {
		sb.WriteString(string(m) + "\n")
	}
	return sb.String()
}

// result is what one run of the program did.
type result struct {
	code        int
	out, errOut string
}

// runIn runs the program in-process, with input piped in and output not a
// terminal, unless env says otherwise.
func runIn(t *testing.T, input string, env map[string]string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	c := console{
		in:     strings.NewReader(input),
		out:    &out,
		err:    &errOut,
		outTTY: env["TTY"] != "",
		getenv: func(k string) string { return env[k] },
	}
	code := run(context.Background(), args, c)
	return result{code, out.String(), errOut.String()}
}

func (r result) must(t *testing.T, code int, want ...string) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, code, r.out, r.errOut)
	}
	all := r.out + r.errOut
	for _, w := range want {
		if !strings.Contains(all, w) {
			t.Fatalf("output does not say %q\nstdout:\n%s\nstderr:\n%s", w, r.out, r.errOut)
		}
	}
}

func TestPlayInProcess(t *testing.T) {
	mem := []string{"--store", "memory:"}
	t.Run("Win", func(t *testing.T) {
		r := runIn(t, lines([]string{"alice", "bob"}, "ABABABA"), nil, mem...)
		r.must(t, exitOK, "Welcome to Connect Four!", "Events are saved in memory",
			"Next player: bob (O)", "alice (X) wins after 7 moves!", "Game id: ", "│[X]│ O │")
		if strings.Contains(r.out, "\x1b[") {
			t.Fatal("colour in output that is not a terminal")
		}
		if strings.Contains(r.out, "Replay it with") {
			t.Fatal("suggests replaying a game from a memory store, which forgot it")
		}
	})
	t.Run("Tie", func(t *testing.T) {
		r := runIn(t, lines([]string{"alice", "bob"}, tieGame), nil, mem...)
		r.must(t, exitOK, "The board is full: it is a tie!")
	})
	t.Run("BadInput", func(t *testing.T) {
		in := lines([]string{"", "   ", "alice", "ALICE", "bob"}, "") +
			"\nZ\n7\nplease\n" + strings.Repeat("x", 1<<20) + "\n\xff\xfe\n\x1b[31m\n" +
			lines(nil, "AAAAAA") + "a\n" + lines(nil, "BCBCBCB")
		r := runIn(t, in, nil, mem...)
		r.must(t, exitOK,
			"A player needs a name.",
			"alice is already playing: player two needs another name.",
			"Type the letter of a column, from A to G, or q to quit.",
			`There is no column "Z": columns go from A to G.`,
			`There is no column "7"`,
			"Column A is full: choose another column.",
			"alice (X) wins after 13 moves!")
		if strings.Contains(r.out, "\x1b[31m") {
			t.Fatal("an escape sequence typed in was echoed as it is")
		}
	})
	t.Run("LongLines", func(t *testing.T) {
		// Lines longer than the prompter keeps: each starts like an
		// answer (a name, a column, q) and goes on into something that
		// is none. Taking what was kept for the answer would name bob
		// "bob", move into A and quit.
		spaces := strings.Repeat(" ", 2*maxLine)
		in := "alice\n" + "bob" + spaces + "by\n" + "bobby\n" + "A" + spaces + "Z\n" + "q" + spaces + "x\n" + "q\n"
		r := runIn(t, in, nil, mem...)
		r.must(t, exitUnfinished, "alice (X) against bobby (O)", "stopped after 0 moves",
			"That line is too long")
	})
	t.Run("QuitBeforeNames", func(t *testing.T) {
		runIn(t, "", nil, mem...).must(t, exitUnfinished, "No game was started.")
		runIn(t, "alice\nq\n", nil, mem...).must(t, exitUnfinished, "No game was started.")
	})
	t.Run("QuitDuringGame", func(t *testing.T) {
		r := runIn(t, "alice\nbob\nD\nquit\n", nil, mem...)
		r.must(t, exitUnfinished, "stopped after 1 move")
	})
	t.Run("Colour", func(t *testing.T) {
		in := lines([]string{"alice", "bob"}, "ABABABA")
		runIn(t, in, map[string]string{"TTY": "1"}, mem...).must(t, exitOK, "\x1b[1;31m●\x1b[0m")
		r := runIn(t, in, map[string]string{"TTY": "1", "NO_COLOR": "1"}, mem...)
		if strings.Contains(r.out, "\x1b[") {
			t.Fatal("colour although NO_COLOR is set")
		}
	})
}

func TestCommandLine(t *testing.T) {
	for _, cmd := range commands() {
		t.Run("Help/"+cmd.name, func(t *testing.T) {
			runIn(t, "", nil, cmd.name, "--help").must(t, exitOK, "Usage: connectfour "+cmd.name, "--store DSN", "Exit status")
			runIn(t, "", nil, "help", cmd.name).must(t, exitOK, "Usage: connectfour "+cmd.name)
			// --store before the command is the program's, as with any
			// other command: help still reads the name after it.
			runIn(t, "", nil, "--store", "memory:", "help", cmd.name).must(t, exitOK, "Usage: connectfour "+cmd.name)
			// All ways of asking print the same: "connectfour --help
			// play" printed the general help.
			want := runIn(t, "", nil, cmd.name, "--help")
			for _, args := range [][]string{{"help", cmd.name}, {"--help", cmd.name}, {"-h", cmd.name}, {cmd.name, "-h"}} {
				if r := runIn(t, "", nil, args...); r != want {
					t.Errorf("%q: exit %d\nstdout:\n%s\nwant the same as %q:\n%s", args, r.code, r.out, []string{cmd.name, "--help"}, want.out)
				}
			}
		})
	}
	env := map[string]string{"XDG_DATA_HOME": "/data"}
	// "help help" is help too: it was an unknown command.
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}, {"--store", "memory:", "help"}, {"help", "help"}} {
		runIn(t, "", env, args...).must(t, exitOK, "Commands:", "resume ID", "sqlite:/data/chronicle/connectfour.db")
	}
	t.Run("SummariesLineUp", func(t *testing.T) {
		// Every command's summary starts in the same column, whatever
		// the length of its name and arguments.
		out := runIn(t, "", nil, "help").out
		columns := map[int][]string{}
		for _, cmd := range commands() {
			for line := range strings.Lines(out) {
				if i := strings.Index(line, cmd.summary); i > 0 && strings.HasPrefix(line, "  "+cmd.name) {
					columns[i] = append(columns[i], cmd.name)
				}
			}
		}
		if len(columns) != 1 {
			t.Errorf("summaries start in more than one column (%v):\n%s", columns, out)
		}
	})
	for name, tt := range map[string]struct {
		args []string
		code int
		want string
	}{
		"UnknownCommand":   {[]string{"fly"}, exitUsage, `unknown command "fly"`},
		"UnknownFlag":      {[]string{"list", "--colour"}, exitUsage, "flag provided but not defined: -colour"},
		"MissingID":        {[]string{"show", "--store", "memory:"}, exitUsage, "show needs a game id"},
		"ExtraArgs":        {[]string{"list", "x"}, exitUsage, "list takes no arguments"},
		"MissingPlayer":    {[]string{"forget", "--store", "memory:"}, exitUsage, "forget needs a player's name"},
		"TwoPlayers":       {[]string{"forget", "--store", "memory:", "ann", "bo"}, exitUsage, "forget takes one player's name, got 2 arguments"},
		"BadAt":            {[]string{"replay", "--at", "x", "abc"}, exitUsage, "invalid value"},
		"NotAnID":          {[]string{"show", "--store", "memory:", "zebra"}, exitUsage, `"zebra" is not a game id`},
		"NoSuchGame":       {[]string{"show", "--store", "memory:", "0b0e1f3c-3a6f-4d6e-9d2a-2f6f0a4f3b11"}, exitError, "there is no game 0b0e1f3c"},
		"NoSuchPrefix":     {[]string{"history", "0b0e", "--store", "memory:"}, exitError, `no game starts with "0b0e"`},
		"ResumeNoGame":     {[]string{"resume", "0b0e1f3c-3a6f-4d6e-9d2a-2f6f0a4f3b11", "--store", "memory:"}, exitError, "there is no game"},
		"UnknownStore":     {[]string{"list", "--store", "postgresx://db"}, exitUsage, "unknown kind"},
		"EmptyStore":       {[]string{"list", "--store", ""}, exitUsage, `invalid value "" for flag -store: it is empty`},
		"EmptyStoreFirst":  {[]string{"--store=", "list"}, exitUsage, `invalid value "" for flag -store: it is empty`},
		"ListEmpty":        {[]string{"list", "--store=memory:"}, exitOK, "No games yet."},
		"FlagsAfterDashes": {[]string{"show", "--store", "memory:", "--", "--at"}, exitUsage, `"--at" is not a game id`},
	} {
		t.Run(name, func(t *testing.T) {
			runIn(t, "", env, tt.args...).must(t, tt.code, tt.want)
		})
	}
}

// TestFlagValueOfDashes gives --store "--", a file of that name, which
// the flag package takes as the value: the flags after the game id are
// flags still. They were taken for arguments, as after a "--" that ends
// the flags.
func TestFlagValueOfDashes(t *testing.T) {
	runIn(t, "", nil, "replay", "--store", "--", "x", "--at", "x").must(t, exitUsage,
		"connectfour replay: invalid value \"x\" for flag -at")
}

// serveKurrent serves store over the KurrentDB protocol, as "chronicle
// serve" speaks it, and returns the flags that make the program use it.
func serveKurrent(t *testing.T, store chronicle.Store) []string {
	t.Helper()
	srv := kurrentserver.New(store, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	return []string{"--store", "kurrentdb://" + ln.Addr().String() + "?tls=false"}
}

// TestKurrentKeepsPlayersNames plays through --store kurrentdb://, as the
// tutorial does: the names must outlive the program that wrote them. They
// were encrypted with keys that only that process held, and read as
// [forgotten] from the next command on. There, names are in the clear,
// and forget says why it cannot erase them.
func TestKurrentKeepsPlayersNames(t *testing.T) {
	kdb := serveKurrent(t, memory.New(nil))
	r := runIn(t, lines([]string{"alice", "bob"}, "D"), nil, kdb...)
	r.must(t, exitUnfinished, "is saved after 1 move")
	id := gameID.FindStringSubmatch(r.out)[1]
	for _, args := range [][]string{{"show", id}, {"list"}, {"stats"}, {"history", id}} {
		r := runIn(t, "", nil, append(args, kdb...)...)
		r.must(t, exitOK, "alice", "bob")
		if strings.Contains(r.out, "[forgotten]") {
			t.Fatalf("%v: the players' names are lost once the program that played ended:\n%s", args, r.out)
		}
	}
	runIn(t, "", nil, append([]string{"forget", "alice"}, kdb...)...).must(t, exitError,
		"cannot forget alice: names in "+kdb[1]+" are stored in the clear", "--store sqlite:PATH")
	runIn(t, "", nil, append([]string{"show", id}, kdb...)...).must(t, exitOK, "alice")
}

// TestKurrentReadsEncryptedNames reads, over kurrentdb://, the file of a
// "chronicle serve" where the CLI also played directly, with names
// encrypted: it has no keys for them, so they read as encrypted (not as
// forgotten, which they are not), while the games the server started,
// whose names it stores in the clear, read as they are. Every command
// failed on such a game ("cannot unmarshal object"), list and stats for
// every game. Resuming the CLI's game there is refused, with where to
// play it instead: it went on, and stored "[encrypted]" as the player of
// its moves, in the clear, for good.
func TestKurrentReadsEncryptedNames(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c4.db")
	r := runIn(t, lines([]string{"alice", "bob"}, "D"), nil, "--store", "sqlite:"+path)
	r.must(t, exitUnfinished, "is saved after 1 move")
	encrypted := gameID.FindStringSubmatch(r.out)[1]
	ctx := context.Background()
	st, err := sqlite.Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	// A game started as the server starts them.
	served, err := cf.NewService(st, cf.WithClearNames()).CreateGame(ctx, "carol", "dave")
	if err != nil {
		t.Fatal(err)
	}
	kdb := serveKurrent(t, st)
	for _, args := range [][]string{{"list"}, {"stats"}} {
		runIn(t, "", nil, append(args, kdb...)...).must(t, exitOK, "carol", "dave", "[encrypted]")
	}
	for _, args := range [][]string{{"show", encrypted}, {"history", encrypted}} {
		r := runIn(t, "", nil, append(args, kdb...)...)
		r.must(t, exitOK, "[encrypted]")
		if strings.Contains(r.out, "alice") || strings.Contains(r.out, "[forgotten]") {
			t.Errorf("%v reads:\n%s", args, r.out)
		}
	}
	r = runIn(t, "E\n", nil, append([]string{"resume", encrypted}, kdb...)...)
	r.must(t, exitError, "names are stored encrypted", "connectfour resume "+encrypted+" --store sqlite:FILE")
	if strings.Contains(r.out, "Column") {
		t.Errorf("resume asked for a move in a game it cannot play:\n%s", r.out)
	}
	if r := runIn(t, "", nil, append([]string{"history", encrypted}, kdb...)...); strings.Count(r.out, "MoveMade") != 1 {
		t.Errorf("the refused resume added a move:\n%s", r.out)
	}
	runIn(t, "A\n", nil, append([]string{"resume", served.String()}, kdb...)...).must(t, exitUnfinished, "is saved after 1 move")
}

// gameTruncatedBefore plays two moves of a game in a new embedded store,
// then sets the game stream's metadata to hide its events before
// revision before, and returns the --store arguments and the game's id.
func gameTruncatedBefore(t *testing.T, before uint64) (db []string, id string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "c4.db")
	db = []string{"--store", "sqlite:" + path}
	r := runIn(t, lines([]string{"alice", "bob"}, "DD"), nil, db...)
	r.must(t, exitUnfinished, "is saved after 2 moves")
	id = gameID.FindStringSubmatch(r.out)[1]
	ctx := context.Background()
	st, err := sqlite.Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = st.SetStreamMetadata(ctx, "game-"+id, chronicle.StreamMetadata{TruncateBefore: before})
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	return db, id
}

// TestHiddenGameIsNotFound reads a game whose stream's metadata hides
// every event, as "chronicle meta --truncate-before 10" sets: there is no
// game to show, replay or list the events of (replay panicked on it).
func TestHiddenGameIsNotFound(t *testing.T) {
	db, id := gameTruncatedBefore(t, 10)
	for _, args := range [][]string{{"replay", id}, {"replay", "--at", "1", id}, {"history", id}, {"show", id}} {
		runIn(t, "", nil, append(args, db...)...).must(t, exitError, "there is no game "+id)
	}
}

// TestResumeRefusesAGameWithoutItsStart resumes a game whose first event
// its stream's metadata hides, as "chronicle meta --truncate-before 1"
// sets: the game has moves but no players, and no move can be made in it
// (it has not started, say the rules), so resume must say so rather than
// ask for a column that it then fails on.
func TestResumeRefusesAGameWithoutItsStart(t *testing.T) {
	db, id := gameTruncatedBefore(t, 1)
	r := runIn(t, "A\n", nil, append([]string{"resume", id}, db...)...)
	r.must(t, exitError, "game "+id+" has no players")
	if strings.Contains(r.out, "Column") {
		t.Errorf("resume asked for a move in a game it cannot play:\n%s", r.out)
	}
}

func TestDefaultStorePath(t *testing.T) {
	for _, tt := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"XDG_DATA_HOME": "/x", "HOME": "/home/u"}, "/x/chronicle/connectfour.db"},
		{map[string]string{"XDG_DATA_HOME": "relative", "HOME": "/home/u"}, "/home/u/.local/share/chronicle/connectfour.db"},
		{map[string]string{"HOME": "/home/u"}, "/home/u/.local/share/chronicle/connectfour.db"},
	} {
		got, err := defaultStorePath(func(k string) string { return tt.env[k] })
		if err != nil || got != filepath.FromSlash(tt.want) {
			t.Errorf("defaultStorePath(%v) = %q, %v, want %q", tt.env, got, err, tt.want)
		}
	}
	if _, err := defaultStorePath(func(string) string { return "" }); err == nil {
		t.Error("defaultStorePath without HOME succeeded")
	}
}

// binary is the program built once for the tests that run it as a user
// does: a separate process per command, so that only what the store
// keeps survives from one to the next.
var binary string

func TestMain(m *testing.M) { clitest.Main(m, "connectfour", &binary) }

// runBin runs the built program with input piped in, in an environment
// whose data directory is inside the test's temporary directory.
func runBin(t *testing.T, home, input string, args ...string) result {
	t.Helper()
	env := []string{"HOME=" + home, "XDG_DATA_HOME=" + filepath.Join(home, "data"), "NO_COLOR="}
	r := clitest.Run(t, binary, strings.NewReader(input), env, args...)
	return result{r.Code, r.Stdout, r.Stderr}
}

var gameID = regexp.MustCompile(`Game ([0-9a-f-]{36})`)

// The tests below keep their events in SQLite, through --store sqlite:PATH
// or the default store: they need the embedded SQLite store in
// internal/dsn.

func TestBinaryWinAndTie(t *testing.T) {
	home := t.TempDir()
	db := "sqlite:" + filepath.Join(home, "x.db")
	r := runBin(t, home, lines([]string{"alice", "bob"}, "ABABABA"), "--store", db)
	r.must(t, exitOK, "alice (X) wins after 7 moves!", "Replay it with: connectfour replay ")
	r = runBin(t, home, lines([]string{"carol", "dave"}, tieGame), "--store", db)
	r.must(t, exitOK, "it is a tie!")
	list := runBin(t, home, "", "list", "--store", db)
	list.must(t, exitOK, "alice vs bob", "alice won", "carol vs dave", "it is a tie", "42")
	if strings.Index(list.out, "carol") > strings.Index(list.out, "alice") {
		t.Fatalf("list does not show the latest game first:\n%s", list.out)
	}
	stats := runBin(t, home, "", "stats", "--store", db)
	stats.must(t, exitOK, "RANK", "PLAYER", "WINS")
	for line := range strings.Lines(stats.out) {
		if strings.TrimRight(line, " \n") != strings.TrimSuffix(line, "\n") {
			t.Fatalf("stats ends a line with spaces: %q", line)
		}
	}
	for _, want := range []string{`1\s+alice\s+1\s+1\s+0\s+0`, `\d\s+bob\s+1\s+0\s+1\s+0`, `\d\s+carol\s+1\s+0\s+0\s+1`} {
		if !regexp.MustCompile(want).MatchString(stats.out) {
			t.Fatalf("stats lacks a line matching %s:\n%s", want, stats.out)
		}
	}
}

func TestBinaryBadInput(t *testing.T) {
	home := t.TempDir()
	in := "alice\nbob\n\nQ1\nz\n" + lines(nil, "CCCCCC") + "c\n" + lines(nil, "ABABABA")
	r := runBin(t, home, in, "--store", "sqlite:"+filepath.Join(home, "x.db"))
	r.must(t, exitOK, "Type the letter of a column", `There is no column "Q1"`, `There is no column "z"`,
		"Column C is full", "alice (X) wins after 13 moves!")
}

func TestBinaryResumeAfterQuitting(t *testing.T) {
	home := t.TempDir()
	db := "sqlite:" + filepath.Join(home, "x.db")
	// Quit with q after two moves, and with the end of input after three.
	r := runBin(t, home, "alice\nbob\nA\nB\nq\n", "--store", db)
	r.must(t, exitUnfinished, "is saved after 2 moves. Resume it with:", "connectfour resume ")
	id := gameID.FindStringSubmatch(r.out)[1]
	r = runBin(t, home, "A\n", "resume", id[:8], "--store", db)
	r.must(t, exitUnfinished, "Resuming game "+id+": alice (X) against bob (O), after 2 moves.", "Next player: alice (X)", "is saved after 3 moves")
	r = runBin(t, home, lines(nil, "BCBCB"), "--store", db, "resume", id)
	r.must(t, exitOK, "bob (O) wins after 8 moves!")
	runBin(t, home, "", "resume", id, "--store", db).must(t, exitError, "is over (bob won after 8 moves): there is nothing to resume")

	runBin(t, home, "", "show", id, "--store", db).must(t, exitOK, "alice (X) against bob (O)", "│ X │[O]│", "After 8 moves, bob won.")
	h := runBin(t, home, "", "history", id, "--store", db)
	h.must(t, exitOK, "Stream game-"+id, "REV", "GameStarted", `{"player_one":"alice","player_two":"bob"}`,
		`{"player":"bob","column":"B"}`, "8    ", `{"result":"PLAYER_TWO_WON"}`)
	runBin(t, home, "", "replay", "--at", "2", id, "--store", db).must(t, exitOK, "after move 2 of 8", "│ X │ O │   │", "Next player: alice (X)")
	runBin(t, home, "", "replay", "--at", "9", id, "--store", db).must(t, exitUsage, "has only 8 moves")
	rp := runBin(t, home, "", "replay", id, "--store", db)
	rp.must(t, exitOK, "Move 1: alice plays A", "Move 8: bob plays B", "│ X │[O]│", "Result: bob won.")
}

func TestBinaryDefaultStore(t *testing.T) {
	home := t.TempDir()
	want := filepath.Join(home, "data", "chronicle", "connectfour.db")
	r := runBin(t, home, "alice\nbob\nD\n")
	r.must(t, exitUnfinished, "Events are saved in "+want+".")
	if strings.Count(r.out, want) != 1 {
		t.Fatalf("the store's path is printed %d times, want once:\n%s", strings.Count(r.out, want), r.out)
	}
	if _, err := os.Stat(want); err != nil {
		t.Fatalf("default store not created: %v", err)
	}
	runBin(t, home, "", "list").must(t, exitOK, "alice vs bob", "bob to play")
}

// TestBinaryForget forgets a player and greps the store's files: the name
// must be gone from the disk, and the game must still replay.
func TestBinaryForget(t *testing.T) {
	home := t.TempDir()
	path := filepath.Join(home, "x.db")
	db := "sqlite:" + path
	r := runBin(t, home, lines([]string{"Zebedee Quixote", "bob"}, "ABABABA"), "--store", db)
	r.must(t, exitOK, "Zebedee Quixote (X) wins")
	id := gameID.FindStringSubmatch(r.out)[1]
	runBin(t, home, "", "stats", "--store", db).must(t, exitOK, "Zebedee Quixote")
	runBin(t, home, "", "forget", "Zebedee Quixote", "--store", db).must(t, exitOK, "Forgot Zebedee Quixote")
	for _, suffix := range []string{"", "-wal", "-shm"} {
		raw, err := os.ReadFile(path + suffix)
		if err != nil {
			continue
		}
		if bytes.Contains(raw, []byte("Zebedee")) || bytes.Contains(raw, []byte("Quixote")) {
			t.Fatalf("%s still holds the forgotten name", filepath.Base(path+suffix))
		}
	}
	runBin(t, home, "", "list", "--store", db).must(t, exitOK, "[forgotten] vs bob", "[forgotten] won")
	runBin(t, home, "", "stats", "--store", db).must(t, exitOK, "[forgotten]")
	runBin(t, home, "", "replay", "--at", "7", id, "--store", db).must(t, exitOK, "after move 7 of 7", "[forgotten] won")
	runBin(t, home, "", "history", id, "--store", db).must(t, exitOK, `{"player_one":"[forgotten]","player_two":"bob"}`)
	runBin(t, home, "", "forget", "", "--store", db).must(t, exitUsage, "forget whom")
}

// TestBinaryPostgres plays, resumes, lists, ranks and forgets through
// --store postgres://..., in a schema of the test's own: the events, the
// read models and the players' keys all live in PostgreSQL, and each
// command is a new process.
func TestBinaryPostgres(t *testing.T) {
	home := t.TempDir()
	db := pgtest.DSN(t)
	r := runBin(t, home, "Zebedee Quixote\nbob\nA\nB\nq\n", "--store", db)
	r.must(t, exitUnfinished, "is saved after 2 moves")
	id := gameID.FindStringSubmatch(r.out)[1]
	runBin(t, home, lines(nil, "ABABA"), "resume", id[:8], "--store", db).must(t, exitOK, "Zebedee Quixote (X) wins after 7 moves!")
	runBin(t, home, lines([]string{"carol", "dave"}, tieGame), "--store", db).must(t, exitOK, "it is a tie!")
	runBin(t, home, "", "list", "--store", db).must(t, exitOK, "Zebedee Quixote vs bob", "Zebedee Quixote won", "carol vs dave")
	stats := runBin(t, home, "", "stats", "--store", db)
	stats.must(t, exitOK, "Zebedee Quixote")
	if !regexp.MustCompile(`1\s+Zebedee Quixote\s+1\s+1\s+0\s+0`).MatchString(stats.out) {
		t.Fatalf("stats does not rank the winner first:\n%s", stats.out)
	}
	runBin(t, home, "", "forget", "Zebedee Quixote", "--store", db).must(t, exitOK, "Forgot Zebedee Quixote")
	for _, args := range [][]string{{"list"}, {"stats"}, {"history", id}, {"replay", "--at", "7", id}} {
		r := runBin(t, home, "", append(args, "--store", db)...)
		r.must(t, exitOK, "[forgotten]")
		if strings.Contains(r.out, "Zebedee") {
			t.Fatalf("%v still shows the forgotten name:\n%s", args, r.out)
		}
	}
	if _, err := os.Stat(filepath.Join(home, "data", "chronicle")); err == nil {
		t.Error("a command given --store postgres://... made the default store")
	}
}

// TestForgetSaysWhatStays forgets players of a file that holds a game the
// CLI started, whose names are encrypted, and games started as chronicle
// serve starts them, whose names are in the clear: forget erases the
// first and says that it leaves the others, and how many still hold the
// name. It said that the name was erased from every game.
func TestForgetSaysWhatStays(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c4.db")
	db := []string{"--store", "sqlite:" + path}
	runIn(t, lines([]string{"alice", "bob"}, "D"), nil, db...).must(t, exitUnfinished, "is saved after 1 move")
	ctx := context.Background()
	st, err := sqlite.Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	served := cf.NewService(st, cf.WithClearNames())
	for _, players := range [][2]string{{"alice", "carol"}, {"dave", "alice"}, {"carol", "erin"}} {
		if _, err := served.CreateGame(ctx, players[0], players[1]); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()

	head := func(name string) string {
		return "Forgot " + name + " in sqlite:" + path + ": the name reads as [forgotten] in the games this program started there, " +
			"the moves made in them through chronicle serve included.\n" +
			"Games started through chronicle serve, or over kurrentdb://, store names in the clear: forgetting cannot erase those.\n"
	}
	for _, tt := range []struct{ name, rest string }{
		{"alice", "alice is still named in 2 such games ('connectfour list' shows them): delete their streams to erase the name.\n"},
		{"erin", "erin is still named in 1 such game ('connectfour list' shows it): delete its stream to erase the name.\n"},
		{"bob", ""},
	} {
		r := runIn(t, "", nil, append([]string{"forget", tt.name}, db...)...)
		if want := head(tt.name) + tt.rest; r.code != exitOK || r.out != want || r.errOut != "" {
			t.Errorf("forget %s: exit %d\nstdout:\n%s\nstderr:\n%s\nwant stdout:\n%s", tt.name, r.code, r.out, r.errOut, want)
		}
	}
	runIn(t, "", nil, append([]string{"list"}, db...)...).must(t, exitOK,
		"[forgotten] vs [forgotten]", "alice vs carol", "dave vs alice", "carol vs erin")
}

// TestMessagesHideThePassword looks up games that are not there, and
// forgets a player, on a store whose URL holds a password: the messages
// name the store without it, as "Events are saved in" does. They printed
// the URL as given, password and all.
func TestMessagesHideThePassword(t *testing.T) {
	kdb := serveKurrent(t, memory.New(nil))
	kdb[1] = strings.Replace(kdb[1], "kurrentdb://", "kurrentdb://admin:s3cret@", 1)
	for _, args := range [][]string{
		{"show", "0b0e1f3c-3a6f-4d6e-9d2a-2f6f0a4f3b11"},
		{"history", "0b0e"},
		{"forget", "alice"},
	} {
		r := runIn(t, "", nil, append(args, kdb...)...)
		r.must(t, exitError, "kurrentdb://admin:xxxxx@")
		if strings.Contains(r.out+r.errOut, "s3cret") {
			t.Errorf("%v prints the password:\n%s%s", args, r.out, r.errOut)
		}
	}
}

// TestStoredNamesCannotDriveTheTerminal reads a game written by another
// program, such as the tutorial's Python code, which does not check names:
// one holds an escape sequence, the other a tab and a line break, and a
// move's column is an escape sequence. Every command that shows a name
// or a column must show it as text, as stats and history did, so that it
// neither drives the terminal nor breaks list's columns; list, show,
// replay and resume printed the names as they were, and replay the
// column.
func TestStoredNamesCannotDriveTheTerminal(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c4.db")
	db := []string{"--store", "sqlite:" + path}
	ctx := context.Background()
	st, err := sqlite.Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	const id = "0b0e1f3c-3a6f-4d6e-9d2a-2f6f0a4f3b11"
	var events []chronicle.EventData
	for _, e := range []struct{ typ, data string }{
		{"GameStarted", `{"player_one": "\u001b[2Jmallory", "player_two": "bob\tby\nline"}`},
		{"MoveMade", `{"player": "\u001b[2Jmallory", "column": "A"}`},
		{"MoveMade", `{"player": "bob\tby\nline", "column": "B"}`},
		// Not a column: the move counts, and changes no cell.
		{"MoveMade", `{"player": "\u001b[2Jmallory", "column": "\u001b[2J"}`},
	} {
		events = append(events, chronicle.EventData{Type: e.typ, Data: []byte(e.data)})
	}
	_, err = st.Append(ctx, "game-"+id, chronicle.NoStream, events...)
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"list"}, {"stats"}, {"show", id}, {"history", id}, {"replay", id}, {"replay", "--at", "1", id}, {"resume", id}} {
		r := runIn(t, "q\n", nil, append(args, db...)...)
		if all := r.out + r.errOut; strings.ContainsAny(all, "\x1b\t") || strings.Contains(all, "by\nline") {
			t.Errorf("%v prints a stored name's control characters:\n%q", args, all)
		}
		if !strings.Contains(r.out, "bob") {
			t.Errorf("%v does not name the player:\n%s", args, r.out)
		}
	}
}

// TestTypedNamesCannotDriveTheTerminal types names that hold the
// right-to-left override U+202E, which turns the rest of a line around
// on a terminal: the rules refuse them, and the lines that answer show
// them as cli.Printable does, quoted. (Stored names that hold one, from
// before the rules refused them, are shown quoted too: see the tests of
// stored names above.)
func TestTypedNamesCannotDriveTheTerminal(t *testing.T) {
	// A right-to-left override is refused as a name (it turns text
	// around), for either player, and the refusal prints it escaped.
	r := runIn(t, "al\u202eice\nalice\nAL\u202eICE\nbob\nq\n", nil, "--store", "memory:")
	r.must(t, exitUnfinished, "cannot be seen", `"al\u202eice"`, `"AL\u202eICE"`, "alice (X) against bob (O)")
	if all := r.out + r.errOut; strings.Contains(all, "\u202e") {
		t.Errorf("a typed name's format character is printed as it is:\n%q", all)
	}
}

// TestMoveOnABoardThatChangedElsewhere resumes a game in one terminal
// while, in another, both players move, so that it is the same player's
// turn again, on another board. The column typed in the first terminal
// was chosen on the board it shows: it must not be played on a board the
// player has not seen, but the game shown as it is now.
func TestMoveOnABoardThatChangedElsewhere(t *testing.T) {
	r := resumeWhileElsewhere(t, "D\nq\n", func(ctx context.Context, st *sqlite.Store, id uuid.UUID) {
		other := cf.NewService(st, cf.WithForgettableNames())
		for _, m := range []struct{ player, col string }{{"bob", "B"}, {"alice", "C"}} {
			if _, err := other.MakeMove(ctx, id, m.player, cf.Column(m.col)); err != nil {
				t.Fatal(err)
			}
		}
	})
	r.must(t, exitUnfinished, "The game changed elsewhere", "is saved after 3 moves")
}

// TestGameEndedElsewhere resumes a game that, while the program waits for
// a column, another program ends with a result this version does not
// know, as a newer version may write: the game is over, and the program
// must say how it ended, not that the board is full and it is a tie.
func TestGameEndedElsewhere(t *testing.T) {
	r := resumeWhileElsewhere(t, "D\n", func(ctx context.Context, st *sqlite.Store, id uuid.UUID) {
		end := chronicle.EventData{Type: cf.TypeGameFinished, Data: []byte(`{"result": "ABANDONED"}`)}
		if _, err := st.Append(ctx, cf.StreamName(id), chronicle.Exact(1), end); err != nil {
			t.Fatal(err)
		}
	})
	r.must(t, exitOK, "The game is over: it ended as ABANDONED.")
	if strings.Contains(r.out, "tie") {
		t.Errorf("a game that ended otherwise is called a tie:\n%s", r.out)
	}
}

// resumeWhileElsewhere plays one move of a game of alice and bob in a new
// embedded store, resumes it, and once the program asks bob for a column,
// runs elsewhere on the store, as another program would, then types
// input. It returns what the resumed program did.
func resumeWhileElsewhere(t *testing.T, input string, elsewhere func(context.Context, *sqlite.Store, uuid.UUID)) result {
	t.Helper()
	path := filepath.Join(t.TempDir(), "c4.db")
	db := []string{"--store", "sqlite:" + path}
	r := runIn(t, lines([]string{"alice", "bob"}, "A"), nil, db...)
	r.must(t, exitUnfinished, "is saved after 1 move")
	id := gameID.FindStringSubmatch(r.out)[1]

	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	done := make(chan result, 1)
	go func() {
		var errOut bytes.Buffer
		c := console{in: inR, out: outW, err: &errOut, getenv: func(string) string { return "" }}
		code := run(context.Background(), append([]string{"resume", id}, db...), c)
		outW.Close()
		done <- result{code: code, errOut: errOut.String()}
	}()
	// The prompt ends no line: read byte by byte until it is there.
	var out bytes.Buffer
	stdout := bufio.NewReader(outR)
	for prompt := "Next player: bob (O)\nColumn (A-G, q to quit): "; !strings.HasSuffix(out.String(), prompt); {
		b, err := stdout.ReadByte()
		if err != nil {
			t.Fatalf("output ended before %q: %v\n%s", prompt, err, &out)
		}
		out.WriteByte(b)
	}

	ctx := context.Background()
	st, err := sqlite.Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	elsewhere(ctx, st, uuid.MustParse(id))
	st.Close()

	if _, err := io.WriteString(inW, input); err != nil {
		t.Fatal(err)
	}
	inW.Close()
	if _, err := io.Copy(&out, stdout); err != nil {
		t.Fatal(err)
	}
	res := <-done
	res.out = out.String()
	return res
}

// TestFileNamedMemory plays in a SQLite file whose name starts with
// "memory", such as memory.db, given without a directory: the file keeps
// the game, so the program must say how to resume it. It said that "the
// memory store forgets it now", and gave no way back to the game.
func TestFileNamedMemory(t *testing.T) {
	t.Chdir(t.TempDir())
	for _, name := range []string{"memory.db", "memories"} {
		r := runIn(t, "alice\nbob\nD\nq\n", nil, "--store", name)
		r.must(t, exitUnfinished, "Events are saved in "+name, "is saved after 1 move", "connectfour resume ")
		if strings.Contains(r.out, "forgets") {
			t.Errorf("--store %s: says the game is forgotten, though the file keeps it:\n%s", name, r.out)
		}
	}
	runIn(t, "alice\nbob\nD\nq\n", nil, "--store", "memory").must(t, exitUnfinished, "the memory store forgets it now")
}

// TestResumeLineHidesThePassword leaves a game, and finishes another, on
// a store whose URL holds a password: the command lines that resume and
// replay them must not repeat the password, as no other message does.
// They printed --store as given. A line with xxxxx for the password does
// not run as it is: the output must say what to put in its place.
func TestResumeLineHidesThePassword(t *testing.T) {
	store := serveKurrent(t, memory.New(nil))
	store[1] = strings.Replace(store[1], "kurrentdb://", "kurrentdb://admin:s3cret@", 1)
	for _, tt := range []struct {
		input, says string
		code        int
	}{
		{"alice\nbob\nD\nq\n", "Resume it with:", exitUnfinished},
		{lines([]string{"alice", "bob"}, "ABABABA"), "Replay it with:", exitOK},
	} {
		r := runIn(t, tt.input, nil, store...)
		r.must(t, tt.code, tt.says, "--store 'kurrentdb://admin:xxxxx@", "with the store's password in place of xxxxx")
		if strings.Contains(r.out+r.errOut, "s3cret") {
			t.Errorf("the output holds the password:\n%s\n%s", r.out, r.errOut)
		}
	}
}

// TestSignalExitStatus stops a command with each signal that connectfour
// catches, while it waits for its store: a PostgreSQL server that accepts
// the connection and never answers. Shells report 128 plus the signal's
// number, 130 for SIGINT (Ctrl-C) and 143 for SIGTERM, as blog, basket
// and chronicle exit; the message says which stopped the command.
// connectfour caught only SIGINT, and said "context canceled" with exit
// status 1; SIGTERM killed it without a word.
func TestSignalExitStatus(t *testing.T) {
	clitest.StopsOnSignals(t, binary, "connectfour: ", "list")
}

// TestSignalWhilePlaying stops a game at the prompt for a move, another
// before it started, and a replay between two moves, with each signal
// that connectfour catches: the exit status is the one the shells report,
// as for the other commands, the game is saved and resumes as after q,
// and the output says what stopped it. SIGTERM killed the program without
// a word, with no line to resume the game; Ctrl-C stopped a replay
// without one.
func TestSignalWhilePlaying(t *testing.T) {
	for _, tt := range []struct {
		sig       syscall.Signal
		code      int
		says, how string
	}{
		{syscall.SIGINT, 130, "Interrupted (Ctrl-C, SIGINT).\n", "interrupted (Ctrl-C, SIGINT)"},
		{syscall.SIGTERM, 143, "Stopped by SIGTERM.\n", "stopped by SIGTERM"},
	} {
		t.Run(tt.sig.String(), func(t *testing.T) {
			home := t.TempDir()
			db := "sqlite:" + filepath.Join(home, "x.db")
			r := stopAtPrompt(t, home, "alice\nbob\nD\n", "Next player: bob (O)\nColumn (A-G, q to quit): ", tt.sig, "--store", db)
			r.must(t, tt.code, tt.says+"Game ", "is saved after 1 move. Resume it with:\n  connectfour resume ")
			id := gameID.FindStringSubmatch(r.out)[1]
			runBin(t, home, "q\n", "resume", id, "--store", db).must(t, exitUnfinished, "after 1 move.", "Next player: bob (O)")

			r = stopAtPrompt(t, home, "", "Your name: ", tt.sig, "--store", db)
			r.must(t, tt.code, tt.says+"No game was started. Bye!\n")

			r = stopAtPrompt(t, home, "", "against bob (O), 1 move.\n", tt.sig, "replay", "--delay", "1h", id, "--store", db)
			if r.code != tt.code || r.errOut != "connectfour: "+tt.how+" before it was done\n" {
				t.Errorf("replay after %v: exit %d, stderr %q", tt.sig, r.code, r.errOut)
			}
		})
	}
}

// stopAtPrompt runs the built program with input written to it, waits
// until its output ends with prompt, sends it sig and returns what it
// did.
func stopAtPrompt(t *testing.T, home, input, prompt string, sig os.Signal, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), "HOME="+home, "XDG_DATA_HOME="+filepath.Join(home, "data"), "NO_COLOR=")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var errOut bytes.Buffer
	cmd.Stderr = &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	if _, err := io.WriteString(stdin, input); err != nil {
		t.Fatal(err)
	}
	// The prompt ends no line: read byte by byte until it is there, and
	// the program waits for the next line.
	var out bytes.Buffer
	r := bufio.NewReader(stdout)
	for !strings.HasSuffix(out.String(), prompt) {
		b, err := r.ReadByte()
		if err != nil {
			t.Fatalf("output ended before the prompt %q: %v\nstdout:\n%s\nstderr:\n%s", prompt, err, &out, &errOut)
		}
		out.WriteByte(b)
	}
	if err := cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(&out, r); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("%v after %v: %v", args, sig, err)
	}
	return result{cmd.ProcessState.ExitCode(), out.String(), errOut.String()}
}

// TestRebuild rebuilds the read models of a store whose leaderboard
// counts a game twice, as one built before the leaderboard counted a
// game of two players of the same name once could (21a9aaa): stats shows
// the counts of the events after it. Such a leaderboard kept its counts,
// with no command to rebuild it. A store without read models has nothing
// to rebuild, and says so.
func TestRebuild(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c4.db")
	db := []string{"--store", "sqlite:" + path}
	runIn(t, lines([]string{"alice", "bob"}, "ABABABA"), nil, db...).must(t, exitOK, "alice (X) wins")
	alice := regexp.MustCompile(`1\s+alice\s+1\s+1\s+0\s+0`)
	if r := runIn(t, "", nil, append([]string{"stats"}, db...)...); !alice.MatchString(r.out) {
		t.Fatalf("stats: exit %d\n%s%s", r.code, r.out, r.errOut)
	}
	ctx := context.Background()
	st, err := sqlite.Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = st.Update(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE connectfour_players SET games = 2, wins = 2 WHERE name = 'alice'`)
		return err
	})
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	if r := runIn(t, "", nil, append([]string{"stats"}, db...)...); alice.MatchString(r.out) {
		t.Fatalf("the leaderboard did not take the old counts:\n%s", r.out)
	}

	runIn(t, "", nil, append([]string{"rebuild"}, db...)...).must(t, exitOK, "Rebuilt the games list and the leaderboard from the events in "+path+".\n")
	if r := runIn(t, "", nil, append([]string{"stats"}, db...)...); !alice.MatchString(r.out) {
		t.Errorf("stats after the rebuild: exit %d\n%s%s", r.code, r.out, r.errOut)
	}
	empty := filepath.Join(t.TempDir(), "new.db")
	if st, err = sqlite.Open(ctx, empty, nil); err != nil {
		t.Fatal(err)
	}
	st.Close()
	runIn(t, "", nil, "rebuild", "--store", "sqlite:"+empty).must(t, exitOK, "Rebuilt")
	runIn(t, "", nil, "rebuild", "--store", "memory:").must(t, exitOK, "nothing to rebuild")
}

// TestMistypedStoreIsRefused runs each command but play on a SQLite file
// that does not exist, as a mistyped --store names: it must say there is
// no store there, and create nothing. They made an empty store, in a new
// directory too, and list and stats said "No games yet" and exited 0.
func TestMistypedStoreIsRefused(t *testing.T) {
	home := t.TempDir()
	missing := filepath.Join(home, "typo", "games.db")
	id := "61ecdbcd-6787-49b9-9818-2fdaea966080"
	for _, args := range [][]string{
		{"list"}, {"stats"}, {"rebuild"}, {"forget", "alice"},
		{"show", id}, {"history", id}, {"replay", id}, {"resume", id},
	} {
		for _, store := range []string{"sqlite:" + missing, missing} {
			r := runBin(t, home, "", append(args, "--store", store)...)
			r.must(t, exitError, "there is no store at "+missing+": check the path")
			if r.out != "" {
				t.Errorf("%v: stdout %q, want nothing", args, r.out)
			}
		}
	}
	if _, err := os.Stat(filepath.Dir(missing)); err == nil {
		t.Errorf("the refused commands created %s", filepath.Dir(missing))
	}
}
