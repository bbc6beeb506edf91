package main_test

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/internal/cli/clitest"
	"github.com/chronicle-es/chronicle/internal/pgtest"
	"github.com/chronicle-es/chronicle/kurrentserver"
	"github.com/chronicle-es/chronicle/memory"
	"github.com/chronicle-es/chronicle/postgres"
	"github.com/chronicle-es/chronicle/sqlite"
)

// bin is the blog command, built once for all tests.
var bin string

func TestMain(m *testing.M) { clitest.Main(m, "blog", &bin) }

// cli runs the built command with its own data directory and store.
type cli struct {
	t     *testing.T
	data  string
	store []string // the --store flag and value, or none for the default
}

// newCLI returns a cli whose --store names an empty store: only create
// makes a new one, the other commands refuse a file that does not exist.
func newCLI(t *testing.T) *cli {
	dir := t.TempDir()
	return &cli{t: t, data: dir, store: []string{"--store", emptyStore(t, filepath.Join(dir, "blog.db"))}}
}

// emptyStore makes an empty SQLite store in file path, and returns path.
func emptyStore(t *testing.T, path string) string {
	t.Helper()
	s, err := sqlite.Open(context.Background(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

type result struct {
	stdout, stderr string
	code           int
}

func (c *cli) run(args ...string) result {
	c.t.Helper()
	env := []string{"XDG_DATA_HOME=" + c.data, "HOME=" + c.data}
	r := clitest.Run(c.t, bin, nil, env, append(append([]string{}, c.store...), args...)...)
	return result{r.Stdout, r.Stderr, r.Code}
}

func (c *cli) expect(wantCode int, wantStdout, wantStderr string, args ...string) {
	c.t.Helper()
	r := c.run(args...)
	if r.code != wantCode || r.stdout != wantStdout || r.stderr != wantStderr {
		c.t.Errorf("blog %s\n got exit %d, stdout %q, stderr %q\nwant exit %d, stdout %q, stderr %q",
			strings.Join(args, " "), r.code, r.stdout, r.stderr, wantCode, wantStdout, wantStderr)
	}
}

var createdRE = regexp.MustCompile(`^Created post with id '([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})'\n$`)

func (c *cli) create(args ...string) string {
	c.t.Helper()
	r := c.run(append([]string{"create"}, args...)...)
	m := createdRE.FindStringSubmatch(r.stdout)
	if r.code != 0 || m == nil || r.stderr != "" {
		c.t.Fatalf("blog create %v: exit %d, stdout %q, stderr %q", args, r.code, r.stdout, r.stderr)
	}
	return m[1]
}

// stamp matches a time as the command line shows it.
const stamp = `\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC`

func (c *cli) match(wantCode int, pattern, wantStderr string, args ...string) {
	c.t.Helper()
	r := c.run(args...)
	if r.code != wantCode || !regexp.MustCompile(`^`+pattern+`$`).MatchString(r.stdout) || r.stderr != wantStderr {
		c.t.Errorf("blog %s\n got exit %d, stderr %q, stdout:\n%s\nwant exit %d, stderr %q, stdout matching:\n%s",
			strings.Join(args, " "), r.code, r.stderr, r.stdout, wantCode, wantStderr, pattern)
	}
}

func TestBlog(t *testing.T) { testBlog(t, newCLI(t)) }

// TestBlogPostgres runs the same commands with the events, the read model
// and the outbox in PostgreSQL, in a schema of the test's own.
func TestBlogPostgres(t *testing.T) {
	c := newCLI(t)
	c.store = []string{"--store", pgtest.DSN(t)}
	testBlog(t, c)
}

func testBlog(t *testing.T, c *cli) {
	c.expect(0, "", "(no posts)\n", "list")
	c.expect(0, "", "(the outbox is empty)\n", "outbox")

	hello := c.create("--title", "Hello", "--content", "First post.\nTwo lines.")
	draft := c.create("--title=Draft")
	c.expect(0, "Published post '"+hello+"'\n", "", "publish", hello)

	// Publishing twice is refused, and changes nothing.
	c.expect(4, "", "blog: Post is already published: "+hello+"\n", "publish", hello)
	c.expect(3, "", "blog: Post does not exist: 0b0a6e9c-3c8e-4d6e-9a43-4a1f0f2a8b11\n", "publish", "0b0a6e9c-3c8e-4d6e-9a43-4a1f0f2a8b11")

	c.expect(0, hello+"  published  Hello\n"+draft+"  draft      Draft\n", "", "list")
	c.expect(0, hello+"  published  Hello\n", "", "list", "--published")
	c.match(0, "ID:       "+hello+"\nTitle:    Hello\nStatus:   published "+stamp+"\nCreated:  "+stamp+"\n\nFirst post.\nTwo lines.\n", "",
		"show", hello)
	c.match(0, "ID:       "+draft+"\nTitle:    Draft\nStatus:   draft\nCreated:  "+stamp+"\n", "", "show", "post-"+draft)

	// One e-mail, for the published post, pending until sent.
	email := "From: blog@example.com\nTo: author@example.com\nDate: [^\n]+\n" +
		`Subject: Your post "Hello" is published` + "\n\n" +
		`Your post "Hello" was published on ` + stamp + ".\nIts id is " + hello + ".\n"
	c.match(0, "--- pending\n"+email, "", "outbox")
	c.match(0, email, "(sent 1 e-mail)\n", "outbox", "--send")
	c.match(0, "--- sent "+stamp+"\n"+email, "", "outbox")
	c.expect(0, "", "(sent 0 e-mails)\n", "outbox", "--send")

	// A second published post gets its own e-mail; the first keeps one.
	c.expect(0, "Published post '"+draft+"'\n", "", "publish", draft)
	r := c.run("outbox")
	if n := strings.Count(r.stdout, "From: "); n != 2 || !strings.Contains(r.stdout, "--- pending\n") {
		t.Errorf("outbox after a second publication holds %d e-mails:\n%s", n, r.stdout)
	}
	c.expect(0, "", "(no published posts)\n", "--store", emptyStore(t, filepath.Join(t.TempDir(), "other.db")), "list", "--published")

	// A rebuild gives the same read model, and queues no e-mail again.
	list := c.run("list").stdout
	r = c.run("rebuild")
	if r.code != 0 || r.stdout != "Rebuilt the read model: 2 posts\n" ||
		!regexp.MustCompile(`^blog-posts  4/4  100%  [\d,]+ events/s  done in [\d.]+m?s\n$`).MatchString(r.stderr) {
		t.Errorf("rebuild: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	c.expect(0, list, "", "list")
	if n := strings.Count(c.run("outbox").stdout, "From: "); n != 2 {
		t.Errorf("the outbox holds %d e-mails after a rebuild, want 2", n)
	}
}

func TestBlogDefaultStore(t *testing.T) {
	c := newCLI(t)
	c.store = nil
	path := filepath.Join(c.data, "chronicle", "blog.db")
	c.expect(0, "", "blog: keeping posts in "+path+" (choose another place with --store)\n(no posts)\n", "list")
	c.expect(0, "", "(no posts)\n", "list")
	id := c.create("--title", "Hello")
	c.expect(0, id+"  draft      Hello\n", "", "list", "--store", "sqlite:"+path)
}

func TestBlogRebuildEmpty(t *testing.T) {
	c := newCLI(t)
	c.expect(0, "Rebuilt the read model: 0 posts\n", "blog-posts  0/0  100%  0 events/s  done in 0s\n", "rebuild")
}

// TestBlogPrunedCreation: a post whose creation was pruned from the log
// (hidden by its stream's metadata, then scavenged) is no post once the
// read model is rebuilt, and every command goes on. The rebuild stopped
// on its publication, and so did every command after it.
func TestBlogPrunedCreation(t *testing.T) {
	c := newCLI(t)
	kept := c.create("--title", "Kept")
	pruned := c.create("--title", "Pruned")
	c.expect(0, "Published post '"+pruned+"'\n", "", "publish", pruned)
	c.withStore(func(ctx context.Context, s *sqlite.Store) {
		err := s.SetStreamMetadata(ctx, "post-"+pruned, chronicle.StreamMetadata{TruncateBefore: 1})
		if err == nil {
			_, err = s.Scavenge(ctx, nil)
		}
		if err != nil {
			t.Fatal(err)
		}
	})
	if r := c.run("rebuild"); r.code != 0 || r.stdout != "Rebuilt the read model: 1 post\n" {
		t.Errorf("rebuild: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	c.expect(0, kept+"  draft      Kept\n", "", "list")
	c.expect(3, "", "blog: Post does not exist: "+pruned+"\n", "show", pruned)
	c.expect(3, "", "blog: Post does not exist: "+pruned+"\n", "publish", pruned)
}

// TestBlogUnreadableEvent: an event that this version of blog cannot read,
// in a post's stream, stops the read model, and the commands that read
// it say which event, where, and the commands that remove it; create and
// publish, which only write, still do, and say that the read model is
// behind. create and publish exited 1 after writing their event, and the
// message said no more than "fix the cause".
func TestBlogUnreadableEvent(t *testing.T) {
	c := newCLI(t)
	kept := c.create("--title", "Kept")
	odd := c.create("--title", "Odd")
	var pos uint64
	c.withStore(func(ctx context.Context, s *sqlite.Store) {
		res, err := s.Append(ctx, "post-"+odd, chronicle.Exact(0),
			chronicle.EventData{Type: "PostWasRetitled", Data: []byte(`{"title":"Even"}`)})
		if err != nil {
			t.Fatal(err)
		}
		pos = res.FirstPosition
	})
	store := c.store[1]
	what := fmt.Sprintf(`the read model is stopped at position %d, on the event PostWasRetitled at revision 1 of post-%s, `+
		`which this version of blog cannot read: decode PostWasRetitled@1 in "post-%s": chronicle: unknown event type "PostWasRetitled"`+"\n",
		pos, odd, odd)
	todo := "If a newer version of blog wrote it, run that version. If the event is none of the blog's, remove its post and rebuild the read model:\n" +
		"  chronicle --store " + store + " delete post-" + odd + "\n" +
		"  chronicle --store " + store + " scavenge\n" +
		"  blog --store " + store + " rebuild\n"

	r := c.run("create", "--title", "Later")
	if r.code != 0 || !createdRE.MatchString(r.stdout) ||
		r.stderr != "blog: warning: the post is created, but "+what+todo {
		t.Errorf("create while the read model is stopped: exit %d, stdout %q, stderr:\n%s", r.code, r.stdout, r.stderr)
	}
	later := createdRE.FindStringSubmatch(r.stdout)[1]
	c.expect(0, "Published post '"+kept+"'\n", "blog: warning: the post is published, but "+what+todo, "publish", kept)
	c.expect(1, "", "blog: "+what+todo, "list")
	// After the progress bar's line.
	if r := c.run("rebuild"); r.code != 1 || r.stdout != "" || !strings.HasSuffix(r.stderr, "s\nblog: "+what+todo) {
		t.Errorf("rebuild: exit %d, stdout %q, stderr:\n%s", r.code, r.stdout, r.stderr)
	}

	c.withStore(func(ctx context.Context, s *sqlite.Store) {
		err := s.Delete(ctx, "post-"+odd, chronicle.Any)
		if err == nil {
			_, err = s.Scavenge(ctx, nil)
		}
		if err != nil {
			t.Fatal(err)
		}
	})
	if r := c.run("rebuild"); r.code != 0 || r.stdout != "Rebuilt the read model: 2 posts\n" {
		t.Errorf("rebuild once the post is removed: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	c.expect(0, kept+"  published  Kept\n"+later+"  draft      Later\n", "", "list")
	if r := c.run("outbox"); r.code != 0 || strings.Count(r.stdout, "From: ") != 1 || !strings.Contains(r.stdout, kept) {
		t.Errorf("outbox once the post is removed: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}

// withStore runs fn on c's store, which no command has open meanwhile.
func (c *cli) withStore(fn func(ctx context.Context, s *sqlite.Store)) {
	c.t.Helper()
	ctx := context.Background()
	s, err := sqlite.Open(ctx, c.store[1], nil)
	if err != nil {
		c.t.Fatal(err)
	}
	defer s.Close()
	fn(ctx, s)
}

func TestBlogErrors(t *testing.T) {
	c := newCLI(t)
	id := c.create("--title", "Hello")
	const unknown = "0b0a6e9c-3c8e-4d6e-9a43-4a1f0f2a8b11"
	for _, tt := range []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"UnknownPost/Show", []string{"show", unknown}, 3, "blog: Post does not exist: " + unknown + "\n"},
		{"UnknownPost/Publish", []string{"publish", unknown}, 3, "blog: Post does not exist: " + unknown + "\n"},
		{"BadID", []string{"publish", "42"}, 2,
			`blog: invalid post id: "42" is not a post id (a UUID such as 00000000-0000-0000-0000-000000000000)` + "\n"},
		{"NoTitle", []string{"create", "--content", "text"}, 2,
			"blog: create: --title is required\nRun 'blog create --help' for usage.\n"},
		{"BlankTitle", []string{"create", "--title", "  "}, 2,
			"blog: create post: invalid title: a post needs a title\n"},
		{"TitleWithLineBreak", []string{"create", "--title", "a\nb"}, 2,
			"blog: create post: invalid title: \"a\\nb\" holds a control character, such as a line break\n"},
		{"PositionalTitle", []string{"create", "Hello"}, 2,
			"blog: create takes no arguments: give --title and --content, got 1 argument\nRun 'blog create --help' for usage.\n"},
		{"MissingID", []string{"show"}, 2,
			"blog: show takes ID, got 0 arguments\nRun 'blog show --help' for usage.\n"},
		{"ExtraArgument", []string{"list", "all"}, 2,
			"blog: list takes no arguments, got 1 argument\nRun 'blog list --help' for usage.\n"},
		{"UnknownFlag", []string{"list", "--drafts"}, 2,
			"blog: list: flag provided but not defined: -drafts\nRun 'blog list --help' for usage.\n"},
		{"UnknownCommand", []string{"delete", id}, 2,
			"blog: unknown command \"delete\"\nRun 'blog --help' for usage.\n"},
		{"NoCommand", nil, 2, "blog: no command given\nRun 'blog --help' for usage.\n"},
		{"EmptyStore", []string{"--store", "", "list"}, 2,
			"blog: invalid value \"\" for flag -store: it is empty: give memory:, sqlite:PATH, postgres://URL or kurrentdb://HOST:PORT, or leave --store out for the default store\nRun 'blog --help' for usage.\n"},
		{"UnknownStoreKind", []string{"--store", "mongodb:x", "list"}, 2,
			"blog: open store \"mongodb:x\": unknown kind \"mongodb\": give memory:, sqlite:PATH, postgres://URL or kurrentdb://HOST:PORT\n"},
		{"MemoryStore", []string{"--store", "memory:", "list"}, 2,
			"blog: the blog's read model needs a store with transactions: --store memory: keeps no tables beside its events, " +
				"and the blog keeps its read model (table posts) and outbox in the store's own database, committed with the " +
				"events they come from: use the embedded store (--store PATH) or PostgreSQL (--store postgres://URL)\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c.t = t
			c.expect(tt.code, "", tt.stderr, tt.args...)
		})
	}
	c.t = t
	c.expect(0, id+"  draft      Hello\n", "", "list")
}

func TestBlogHelp(t *testing.T) {
	c := newCLI(t)
	c.store = nil
	for _, args := range [][]string{
		{"--help"}, {"-h"}, {"help"}, {"help", "rebuild"}, {"help", "help"}, // the last was an unknown command
		{"create", "--help"}, {"publish", "--help"}, {"list", "-h"}, {"show", "--help"},
		{"outbox", "--help"}, {"rebuild", "--help"}, {"publish", "some-id", "--help"},
	} {
		r := c.run(args...)
		if r.code != 0 || !strings.HasPrefix(r.stdout, "Usage: blog ") || r.stderr != "" {
			t.Errorf("blog %v: exit %d, stderr %q, stdout:\n%s", args, r.code, r.stderr, r.stdout)
		}
	}
	if r := c.run("help", "create"); !strings.Contains(r.stdout, "Usage: blog create --title TITLE [--content TEXT]\n") {
		t.Errorf("help create:\n%s", r.stdout)
	}
	if _, err := os.Stat(filepath.Join(c.data, "chronicle")); err == nil {
		t.Errorf("asking for help created the store")
	}
}

// TestBlogHelpOfACommand asks for a command's help in each way blog
// takes: all print the same, the command's. "blog --help show" printed
// the general help.
func TestBlogHelpOfACommand(t *testing.T) {
	c := newCLI(t)
	c.store = nil
	for _, name := range []string{"create", "publish", "list", "show", "outbox", "rebuild"} {
		want := c.run(name, "--help")
		if want.code != 0 || !strings.HasPrefix(want.stdout, "Usage: blog "+name) || want.stderr != "" {
			t.Fatalf("blog %s --help: exit %d, stderr %q, stdout:\n%s", name, want.code, want.stderr, want.stdout)
		}
		for _, args := range [][]string{
			{"help", name}, {"--help", name}, {"-h", name},
			{"--store", "x.db", "--help", name}, {name, "-h"},
		} {
			if r := c.run(args...); r != want {
				t.Errorf("blog %q: exit %d, stderr %q, stdout:\n%s\nwant the same as %q:\n%s", args, r.code, r.stderr, r.stdout, []string{name, "--help"}, want.stdout)
			}
		}
	}
	c.expect(2, "", "blog: unknown command \"fly\"\nRun 'blog --help' for usage.\n", "--help", "fly")
}

// TestBlogKurrentHidesThePassword runs blog against a KurrentDB URL that
// holds a password: the store opens, and the blog refuses it, since it
// keeps no tables, naming it without the password. The message printed
// the URL as given, password and all.
func TestBlogKurrentHidesThePassword(t *testing.T) {
	srv := kurrentserver.New(memory.New(nil), nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	c := newCLI(t)
	c.store = []string{"--store", "kurrentdb://admin:s3cret@" + ln.Addr().String() + "?tls=false"}
	r := c.run("list")
	if r.code != 2 || !strings.Contains(r.stderr, "--store kurrentdb://admin:xxxxx@") || strings.Contains(r.stderr, "s3cret") {
		t.Errorf("blog list over kurrentdb:// with a password: exit %d, stderr %q; want exit 2 and the URL without its password", r.code, r.stderr)
	}
}

// TestBlogStoredTitleCannotDriveTheTerminal reads a post that another tool
// wrote, whose title holds a terminal escape and a line break, which
// blog's own create refuses: list and show must show it as text on one
// line, as chronicle read and connectfour show what others stored. They
// printed it as it was.
func TestBlogStoredTitleCannotDriveTheTerminal(t *testing.T) {
	c := newCLI(t)
	const id = "0b0a6e9c-3c8e-4d6e-9a43-4a1f0f2a8b11"
	c.withStore(func(ctx context.Context, s *sqlite.Store) {
		_, err := s.Append(ctx, "post-"+id, chronicle.NoStream, chronicle.EventData{Type: "PostWasCreated",
			Data: []byte(`{"title": "Evil\u001b]0;owned\u0007\nsecond line", "content": "Text."}`)})
		if err != nil {
			t.Fatal(err)
		}
	})
	title := `"Evil\x1b]0;owned\a\nsecond line"`
	c.expect(0, id+"  draft      "+title+"\n", "", "list")
	c.match(0, "ID:       "+id+"\nTitle:    "+regexp.QuoteMeta(title)+"\nStatus:   draft\nCreated:  "+stamp+"\n\nText.\n", "", "show", id)
}

// TestBlogContentCannotDriveTheTerminal shows a post whose content holds a
// terminal escape, which blog's own create takes (it refuses a NUL
// alone): show printed the content as it was, so that the post drove the
// terminal of whoever read it. Its lines stay lines, tabs stay tabs, and
// a line that holds anything else is quoted, as titles are.
func TestBlogContentCannotDriveTheTerminal(t *testing.T) {
	c := newCLI(t)
	id := c.create("--title", "Escapes", "--content", "First line.\n\tIndented, in Persian: \u0645\u0647\u200c\u0633\u0627.\r\nEvil\x1b]0;owned\x07 end\n")
	c.match(0, "ID:       "+id+"\nTitle:    Escapes\nStatus:   draft\nCreated:  "+stamp+"\n\n"+
		regexp.QuoteMeta("First line.\n\tIndented, in Persian: \u0645\u0647\u200c\u0633\u0627.\r\n"+`"Evil\x1b]0;owned\a end"`+"\n"), "", "show", id)
}

// TestBlogStoppedAdviceWithAPassword: the commands that blog prints to go
// on past an event it cannot read name the store without its password, so
// that they do not run as printed: the message must say what to put in
// place of xxxxx. It said nothing of it.
func TestBlogStoppedAdviceWithAPassword(t *testing.T) {
	u, err := url.Parse(pgtest.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(u.User.Username(), "s3cret") // the test server does not check it
	c := newCLI(t)
	c.store = []string{"--store", u.String()}
	odd := c.create("--title", "Odd")
	ctx := context.Background()
	s, err := postgres.Open(ctx, pgtest.URL(t), &postgres.Options{Schema: u.Query().Get("schema")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Append(ctx, "post-"+odd, chronicle.Exact(0), chronicle.EventData{Type: "PostWasRetitled", Data: []byte(`{"title":"Even"}`)})
	s.Close()
	if err != nil {
		t.Fatal(err)
	}
	r := c.run("list")
	if r.code != 1 || strings.Contains(r.stderr, "s3cret") || !strings.Contains(r.stderr, ":xxxxx@") ||
		!strings.HasSuffix(r.stderr, "rebuild\n(with the store's password in place of xxxxx)\n") {
		t.Errorf("list with the read model stopped, on a store with a password: exit %d, stderr:\n%s", r.code, r.stderr)
	}
}

// TestBlogSignalExitStatus stops a command with each signal that blog
// catches, while it waits for its store: a PostgreSQL server that accepts
// the connection and never answers. Shells report 128 plus the signal's
// number, 130 for SIGINT (Ctrl-C) and 143 for SIGTERM, and the message
// says which stopped the command; both exited 1 with "context canceled",
// which tells a user nothing.
func TestBlogSignalExitStatus(t *testing.T) {
	clitest.StopsOnSignals(t, bin, "blog: ", "list")
}

// TestBlogUnreadableEventTypeCannotDriveTheTerminal stops the read model
// on events of types that another tool wrote in the database, which no
// store's append takes: one holds a terminal escape, the other a
// zero-width non-joiner, which ordinary text holds.
// The message names the type as list and show name a title
// (cli.Printable): quoted with Go's escapes when it is not text, as it is
// when it is. It printed the escape as it was stored.
func TestBlogUnreadableEventTypeCannotDriveTheTerminal(t *testing.T) {
	for typ, shown := range map[string]string{
		"Evil\x1b]0;owned\x07":  `"Evil\x1b]0;owned\a"`,
		"Post\u200cWasRetitled": "Post\u200cWasRetitled",
	} {
		c := newCLI(t)
		odd := c.create("--title", "Odd")
		c.withStore(func(ctx context.Context, s *sqlite.Store) {
			// The store refuses such a type: another tool wrote it in
			// the database.
			res, err := s.Append(ctx, "post-"+odd, chronicle.Exact(0), chronicle.EventData{Type: "PostWasRetitled", Data: []byte(`{}`)})
			if err == nil {
				err = s.Update(ctx, func(tx *sql.Tx) error {
					_, err := tx.ExecContext(ctx, `UPDATE events SET type = $1 WHERE position = $2`, typ, res.FirstPosition)
					return err
				})
			}
			if err != nil {
				t.Fatal(err)
			}
		})
		r := c.run("list")
		if r.code != 1 || strings.Contains(r.stderr, "\x1b") ||
			!strings.Contains(r.stderr, ", on the event "+shown+" at revision 1 of post-"+odd+", which this version of blog cannot read: ") {
			t.Errorf("list stopped on an event of type %q: exit %d, stderr:\n%s", typ, r.code, r.stderr)
		}
	}
}

// TestBlogKurrentRefusedUnreached runs blog against a KurrentDB URL where
// no server listens: the blog cannot keep its read model there whether
// the server answers or not, and must say so, as it does when it
// answers. It dialled first, and said only that the connection was
// refused, so that the user fixed the server, only to be refused then.
func TestBlogKurrentRefusedUnreached(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := newCLI(t)
	c.store = []string{"--store", "kurrentdb://" + addr + "?tls=false"}
	r := c.run("list")
	if r.code != 2 || !strings.Contains(r.stderr, "needs a store with transactions") || strings.Contains(r.stderr, "refused") {
		t.Errorf("blog list over kurrentdb:// with no server: exit %d, stderr %q; want exit 2 and that the blog needs a store with transactions", r.code, r.stderr)
	}
}

// TestBlogMistypedStoreIsRefused runs each command but create on a SQLite
// file that does not exist, as a mistyped --store names: each must say
// there is no store there, and create nothing. They made an empty store,
// in a new directory too, and list said "(no posts)", publish "Post does
// not exist", with the posts in the store meant.
func TestBlogMistypedStoreIsRefused(t *testing.T) {
	c := newCLI(t)
	missing := filepath.Join(t.TempDir(), "typo", "blog.db")
	id := "0b0a6e9c-3c8e-4d6e-9a43-4a1f0f2a8b11"
	for _, args := range [][]string{{"list"}, {"outbox"}, {"rebuild"}, {"show", id}, {"publish", id}} {
		for _, store := range []string{missing, "sqlite:" + missing} {
			c.store = []string{"--store", store}
			c.expect(1, "", "blog: there is no store at "+missing+": check the path (create makes a new store)\n", args...)
		}
	}
	if _, err := os.Stat(filepath.Dir(missing)); err == nil {
		t.Errorf("the refused commands created %s", filepath.Dir(missing))
	}
}
