package main_test

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/internal/cli/clitest"
	"github.com/chronicle-es/chronicle/internal/pgtest"
	"github.com/chronicle-es/chronicle/sqlite"
)

// bin is the basket command, built once for all tests.
var bin string

func TestMain(m *testing.M) { clitest.Main(m, "basket", &bin) }

// cli runs the built command with its own data directory, so that the
// default store of each test is new.
type cli struct {
	t    *testing.T
	data string
}

func newCLI(t *testing.T) *cli {
	return &cli{t: t, data: t.TempDir()}
}

// result is what one run of the command did.
type result struct {
	stdout, stderr string
	code           int
}

func (c *cli) run(args ...string) result {
	c.t.Helper()
	r := clitest.Run(c.t, bin, nil, []string{"XDG_DATA_HOME=" + c.data, "HOME=" + c.data}, args...)
	return result{r.Stdout, r.Stderr, r.Code}
}

// expect runs args and checks the exact output and exit status.
func (c *cli) expect(wantCode int, wantStdout, wantStderr string, args ...string) {
	c.t.Helper()
	r := c.run(args...)
	if r.code != wantCode || r.stdout != wantStdout || r.stderr != wantStderr {
		c.t.Errorf("basket %s\n got exit %d, stdout %q, stderr %q\nwant exit %d, stdout %q, stderr %q",
			strings.Join(args, " "), r.code, r.stdout, r.stderr, wantCode, wantStdout, wantStderr)
	}
}

var createdRE = regexp.MustCompile(`^Created basket with id '([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})'\n$`)

// create creates a basket and returns its id.
func (c *cli) create(args ...string) (id, stderr string) {
	c.t.Helper()
	r := c.run(append([]string{"create"}, args...)...)
	m := createdRE.FindStringSubmatch(r.stdout)
	if r.code != 0 || m == nil {
		c.t.Fatalf("basket create %v: exit %d, stdout %q, stderr %q", args, r.code, r.stdout, r.stderr)
	}
	return m[1], r.stderr
}

func TestBasket(t *testing.T) {
	c := newCLI(t)
	id, note := c.create("shoes")
	path := filepath.Join(c.data, "chronicle", "basket.db")
	if want := "basket: keeping baskets in " + path + " (choose another place with --store)\n"; note != want {
		t.Fatalf("first use: stderr %q, want %q", note, want)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the default store is not where it was said to be: %v", err)
	}

	c.expect(0, "Added 2 clocks to basket '"+id+"': it holds 2\n", "", "add", id, "clocks", "--quantity", "2")
	c.expect(0, "Added 1 clocks to basket '"+id+"': it holds 3\n", "", "add", id, "clocks")
	c.expect(0, "Added 5 apples to basket '"+id+"': it holds 5\n", "", "add", "--quantity=5", id, "apples")
	c.expect(0, "apples = 5\nclocks = 3\nshoes = 1\n", "", "get", id)
	c.expect(0, "Removed clocks from basket '"+id+"'\n", "", "remove", id, "clocks")
	c.expect(0, "apples = 5\nshoes = 1\n", "", "get", "basket-"+id)

	// Removing what is not there is refused, and records nothing.
	c.expect(4, "", `basket: remove "clocks" from basket `+id+`: product "clocks" is not in the basket`+"\n", "remove", id, "clocks")

	r := c.run("get", id, "--events")
	stamp := `\d{4}-\d\d-\d\d \d\d:\d\d:\d\d  `
	story := regexp.MustCompile(`^` +
		stamp + `BasketCreated\n` +
		stamp + `ItemAdded     shoes = 1\n` +
		stamp + `ItemAdded     clocks = 2\n` +
		stamp + `ItemAdded     clocks = 1\n` +
		stamp + `ItemAdded     apples = 5\n` +
		stamp + `ItemRemoved   clocks\n` +
		`\n` +
		`apples = 5\nshoes = 1\n$`)
	if r.code != 0 || !story.MatchString(r.stdout) || r.stderr != "" {
		t.Errorf("get --events: exit %d, stderr %q, stdout:\n%s", r.code, r.stderr, r.stdout)
	}

	c.expect(0, "Removed apples from basket '"+id+"'\n", "", "remove", id, "apples")
	c.expect(0, "Removed shoes from basket '"+id+"'\n", "", "remove", id, "shoes")
	c.expect(0, "", "(the basket is empty)\n", "get", id)
}

// The talk's point, through the command line: the same contents, and
// different stories.
func TestBasketStories(t *testing.T) {
	c := newCLI(t)
	never, _ := c.create("shoes")
	nearly, _ := c.create("shoes")
	c.run("add", nearly, "clocks")
	c.run("remove", nearly, "clocks")
	a, b := c.run("get", never), c.run("get", nearly)
	if a.stdout != "shoes = 1\n" || b.stdout != a.stdout {
		t.Fatalf("contents differ: %q and %q", a.stdout, b.stdout)
	}
	a, b = c.run("get", never, "--events"), c.run("get", nearly, "--events")
	if strings.Contains(a.stdout, "clocks") || !strings.Contains(b.stdout, "ItemRemoved   clocks") {
		t.Fatalf("stories:\n%s\n%s", a.stdout, b.stdout)
	}
}

func TestBasketErrors(t *testing.T) {
	c := newCLI(t)
	id, _ := c.create("shoes", "--quantity", "2")
	const unknown = "0b0a6e9c-3c8e-4d6e-9a43-4a1f0f2a8b11"
	for _, tt := range []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"UnknownBasket/Get", []string{"get", unknown}, 3,
			"basket: get basket " + unknown + ": basket not found\n"},
		{"UnknownBasket/Add", []string{"add", unknown, "shoes"}, 3,
			`basket: add "shoes" to basket ` + unknown + ": basket not found\n"},
		{"UnknownBasket/Remove", []string{"remove", unknown, "shoes"}, 3,
			`basket: remove "shoes" from basket ` + unknown + ": basket not found\n"},
		{"UnknownBasket/Events", []string{"get", "--events", unknown}, 3,
			"basket: history of basket " + unknown + ": basket not found\n"},
		{"BadID", []string{"get", "42"}, 2,
			`basket: invalid basket id: "42" is not a basket id (a UUID such as 00000000-0000-0000-0000-000000000000)` + "\n"},
		{"NotInBasket", []string{"remove", id, "clocks"}, 4,
			`basket: remove "clocks" from basket ` + id + `: product "clocks" is not in the basket` + "\n"},
		{"ZeroQuantity", []string{"add", id, "clocks", "--quantity", "0"}, 2,
			`basket: add "clocks" to basket ` + id + ": invalid quantity: 0: add at least 1\n"},
		{"NegativeQuantity", []string{"add", id, "clocks", "--quantity", "-3"}, 2,
			`basket: add "clocks" to basket ` + id + ": invalid quantity: -3: add at least 1\n"},
		// The service makes an empty basket of these; the command line
		// makes a basket of its PRODUCT only.
		{"EmptyProduct/Create", []string{"create", "", "--quantity", "0"}, 2,
			"basket: create basket: invalid product name: the name is empty\n"},
		{"NegativeQuantity/Create", []string{"create", "clocks", "--quantity=-3"}, 2,
			"basket: create basket: invalid quantity: -3: add at least 1\n"},
		{"QuantityNotANumber", []string{"add", id, "clocks", "--quantity", "lots"}, 2,
			"basket: add: invalid value \"lots\" for flag -quantity: not a whole number\nRun 'basket add --help' for usage.\n"},
		{"QuantityOverflow", []string{"add", id, "clocks", "--quantity", "99999999999999999999"}, 2,
			"basket: add: invalid value \"99999999999999999999\" for flag -quantity: out of range: give a whole number from 1 to 1000000\nRun 'basket add --help' for usage.\n"},
		{"QuantityUnderflow", []string{"add", id, "clocks", "--quantity=-99999999999999999999"}, 2,
			"basket: add: invalid value \"-99999999999999999999\" for flag -quantity: out of range: give a whole number from 1 to 1000000\nRun 'basket add --help' for usage.\n"},
		{"QuantityTooLarge", []string{"add", id, "shoes", "--quantity", "999999"}, 2,
			`basket: add "shoes" to basket ` + id + ": invalid quantity: 999999 more shoes would make 1000001, over the limit of 1000000\n"},
		{"QuantityMissing", []string{"add", id, "clocks", "--quantity"}, 2,
			"basket: add: flag needs an argument: -quantity\nRun 'basket add --help' for usage.\n"},
		{"BlankProduct", []string{"add", id, " "}, 2,
			`basket: add " " to basket ` + id + ": invalid product name: the name is empty\n"},
		{"MissingArgument", []string{"add", id}, 2,
			"basket: add takes ID and PRODUCT, got 1 argument\nRun 'basket add --help' for usage.\n"},
		{"ExtraArgument", []string{"get", id, "shoes"}, 2,
			"basket: get takes ID, got 2 arguments\nRun 'basket get --help' for usage.\n"},
		{"UnknownFlag", []string{"get", id, "--colour"}, 2,
			"basket: get: flag provided but not defined: -colour\nRun 'basket get --help' for usage.\n"},
		{"FlagOfAnotherCommand", []string{"remove", id, "shoes", "--quantity", "2"}, 2,
			"basket: remove: flag provided but not defined: -quantity\nRun 'basket remove --help' for usage.\n"},
		{"UnknownCommand", []string{"buy", "shoes"}, 2,
			"basket: unknown command \"buy\"\nRun 'basket --help' for usage.\n"},
		{"NoCommand", nil, 2,
			"basket: no command given\nRun 'basket --help' for usage.\n"},
		{"EmptyStore", []string{"get", id, "--store", ""}, 2,
			"basket: get: invalid value \"\" for flag -store: it is empty: give memory:, sqlite:PATH, postgres://URL or kurrentdb://HOST:PORT, or leave --store out for the default store\nRun 'basket get --help' for usage.\n"},
		{"UnknownStoreKind", []string{"--store", "mongodb:x", "get", id}, 2,
			"basket: open store \"mongodb:x\": unknown kind \"mongodb\": give memory:, sqlite:PATH, postgres://URL or kurrentdb://HOST:PORT\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c.t = t
			c.expect(tt.code, "", tt.stderr, tt.args...)
		})
	}
	c.t = t
	// None of the refusals changed the basket.
	c.expect(0, "shoes = 2\n", "", "get", id)
}

func TestBasketHelp(t *testing.T) {
	c := newCLI(t)
	for _, args := range [][]string{
		{"--help"}, {"-h"}, {"help"}, {"help", "help"}, // the last was an unknown command
		{"create", "--help"}, {"add", "-h"}, {"remove", "--help"}, {"get", "--help"},
		{"help", "get"}, {"get", "some-id", "--help"},
	} {
		r := c.run(args...)
		if r.code != 0 || !strings.HasPrefix(r.stdout, "Usage: basket ") || r.stderr != "" {
			t.Errorf("basket %v: exit %d, stderr %q, stdout:\n%s", args, r.code, r.stderr, r.stdout)
		}
	}
	if r := c.run("--help"); !strings.Contains(r.stdout, filepath.Join(c.data, "chronicle", "basket.db")) {
		t.Errorf("--help does not name the default store:\n%s", r.stdout)
	}
	if r := c.run("help", "get"); !strings.Contains(r.stdout, "Usage: basket get ID [--events]\n") {
		t.Errorf("help get:\n%s", r.stdout)
	}
	if _, err := os.Stat(filepath.Join(c.data, "chronicle")); err == nil {
		t.Errorf("asking for help created the store")
	}
}

// TestBasketHelpOfACommand asks for a command's help in each way basket
// takes: all print the same, the command's. "basket --help get" printed
// the general help.
func TestBasketHelpOfACommand(t *testing.T) {
	c := newCLI(t)
	for _, name := range []string{"create", "add", "remove", "get"} {
		want := c.run(name, "--help")
		if want.code != 0 || !strings.HasPrefix(want.stdout, "Usage: basket "+name+" ") || want.stderr != "" {
			t.Fatalf("basket %s --help: exit %d, stderr %q, stdout:\n%s", name, want.code, want.stderr, want.stdout)
		}
		for _, args := range [][]string{
			{"help", name}, {"--help", name}, {"-h", name},
			{"--store", "memory:", "--help", name}, {name, "-h"},
		} {
			if r := c.run(args...); r != want {
				t.Errorf("basket %q: exit %d, stderr %q, stdout:\n%s\nwant the same as %q:\n%s", args, r.code, r.stderr, r.stdout, []string{name, "--help"}, want.stdout)
			}
		}
	}
	c.expect(2, "", "basket: unknown command \"fly\"\nRun 'basket --help' for usage.\n", "--help", "fly")
}

func TestBasketStoreFlag(t *testing.T) {
	c := newCLI(t)
	path := filepath.Join(t.TempDir(), "my.db")
	id, note := c.create("--store", path, "shoes")
	if note != "" {
		t.Errorf("a store given with --store is announced: %q", note)
	}
	c.expect(0, "shoes = 1\n", "", "get", id, "--store", "sqlite:"+path)
	c.expect(0, "shoes = 1\n", "", "--store", path, "get", id)
	// Not in the default store, which this first use creates.
	c.expect(3, "", "basket: keeping baskets in "+filepath.Join(c.data, "chronicle", "basket.db")+
		" (choose another place with --store)\nbasket: get basket "+id+": basket not found\n", "get", id)
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}

	// A product whose name starts with '-' comes after "--".
	c.expect(0, "Added 1 -dash to basket '"+id+"': it holds 1\n", "", "add", "--store", path, id, "--", "-dash")

	// memory: works, and forgets: each command is a new process.
	mem, _ := c.create("--store", "memory:", "shoes")
	c.expect(3, "", "basket: get basket "+mem+": basket not found\n", "--store", "memory:", "get", mem)
}

// TestBasketPostgres keeps the baskets in PostgreSQL, in a schema of the
// test's own, through --store postgres://...: what one command writes,
// the next reads, and nothing goes to the default store.
func TestBasketPostgres(t *testing.T) {
	c := newCLI(t)
	store := pgtest.DSN(t)
	id, note := c.create("--store", store, "shoes")
	if note != "" {
		t.Errorf("a store given with --store is announced: %q", note)
	}
	c.expect(0, "Added 2 clocks to basket '"+id+"': it holds 2\n", "", "--store", store, "add", id, "clocks", "--quantity", "2")
	c.expect(0, "Removed shoes from basket '"+id+"'\n", "", "remove", id, "shoes", "--store", store)
	c.expect(4, "", `basket: remove "shoes" from basket `+id+`: product "shoes" is not in the basket`+"\n", "--store", store, "remove", id, "shoes")
	c.expect(0, "clocks = 2\n", "", "--store", store, "get", id)
	r := c.run("--store", store, "get", id, "--events")
	if r.code != 0 || strings.Count(r.stdout, "\n") != 6 || !strings.Contains(r.stdout, "ItemRemoved   shoes") {
		t.Errorf("get --events: exit %d, stderr %q, stdout:\n%s", r.code, r.stderr, r.stdout)
	}
	if _, err := os.Stat(filepath.Join(c.data, "chronicle")); err == nil {
		t.Error("a command given --store postgres://... made the default store")
	}
}

// TestBasketStoredProductCannotDriveTheTerminal reads a basket that
// another tool wrote, whose product holds a terminal escape and a line
// break, which basket's own commands refuse: get, with and without
// --events, must show it as text on one line, as chronicle read and
// connectfour show what others stored. They printed it as it was.
func TestBasketStoredProductCannotDriveTheTerminal(t *testing.T) {
	c := newCLI(t)
	path := filepath.Join(t.TempDir(), "baskets.db")
	const id = "0b0a6e9c-3c8e-4d6e-9a43-4a1f0f2a8b11"
	ctx := context.Background()
	s, err := sqlite.Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Append(ctx, "basket-"+id, chronicle.NoStream,
		chronicle.EventData{Type: "BasketCreated", Data: []byte(`{"basket_id": "` + id + `"}`)},
		chronicle.EventData{Type: "ItemAdded", Data: []byte(`{"basket_id": "` + id + `", "product": "clocks\u001b[2J\nshoes = 9", "quantity": 2}`)})
	s.Close()
	if err != nil {
		t.Fatal(err)
	}
	product := `"clocks\x1b[2J\nshoes = 9"`
	c.expect(0, product+" = 2\n", "", "get", id, "--store", path)
	r := c.run("get", id, "--events", "--store", path)
	if r.code != 0 || !strings.HasSuffix(r.stdout, "  ItemAdded     "+product+" = 2\n\n"+product+" = 2\n") {
		t.Errorf("get --events: exit %d, stderr %q, stdout:\n%s", r.code, r.stderr, r.stdout)
	}
}

// TestBasketHiddenCreation: a basket whose BasketCreated the stream's
// metadata hides is no basket, with or without --events. "get ID
// --events" listed its later products where "get ID" said there was no
// basket.
func TestBasketHiddenCreation(t *testing.T) {
	c := newCLI(t)
	path := filepath.Join(t.TempDir(), "baskets.db")
	id, _ := c.create("--store", path, "shoes")
	c.run("add", id, "clocks", "--store", path)
	ctx := context.Background()
	s, err := sqlite.Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = s.SetStreamMetadata(ctx, "basket-"+id, chronicle.StreamMetadata{TruncateBefore: 1})
	s.Close()
	if err != nil {
		t.Fatal(err)
	}
	c.expect(3, "", "basket: get basket "+id+": basket not found\n", "get", id, "--store", path)
	c.expect(3, "", "basket: history of basket "+id+": basket not found\n", "get", id, "--events", "--store", path)
}

// TestBasketSignalExitStatus stops a command with each signal that basket
// catches, while it waits for its store: a PostgreSQL server that accepts
// the connection and never answers. Shells report 128 plus the signal's
// number, 130 for SIGINT (Ctrl-C) and 143 for SIGTERM, and the message
// says which stopped the command; both exited 1 with "context canceled",
// which tells a user nothing.
func TestBasketSignalExitStatus(t *testing.T) {
	clitest.StopsOnSignals(t, bin, "basket: ", "get", "00000000-0000-0000-0000-000000000000")
}

// TestBasketMistypedStoreIsRefused runs add, remove and get on a SQLite
// file that does not exist, as a mistyped --store names: each must say
// there is no store there, and create nothing. They made an empty store,
// in a new directory too, and answered "basket not found", which sent
// the user looking for a basket rather than for the store.
func TestBasketMistypedStoreIsRefused(t *testing.T) {
	c := newCLI(t)
	missing := filepath.Join(t.TempDir(), "typo", "baskets.db")
	id := "61ecdbcd-6787-49b9-9818-2fdaea966080"
	for _, args := range [][]string{{"get", id}, {"add", id, "clocks"}, {"remove", id, "clocks"}} {
		for _, store := range []string{missing, "sqlite:" + missing} {
			c.expect(1, "", "basket: there is no store at "+missing+": check the path (create makes a new store)\n",
				append(args, "--store", store)...)
		}
	}
	if _, err := os.Stat(filepath.Dir(missing)); err == nil {
		t.Errorf("the refused commands created %s", filepath.Dir(missing))
	}
}
