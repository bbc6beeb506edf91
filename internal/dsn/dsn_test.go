package dsn_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/internal/dsn"
	"github.com/chronicle-es/chronicle/kurrentserver"
	"github.com/chronicle-es/chronicle/memory"
	"github.com/chronicle-es/chronicle/postgres"
	"github.com/jackc/pgx/v5"
)

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		dsn     string
		want    string // the store's type, or "" for an error
		wantErr string
	}{
		{"memory:", "memory", ""},
		{"sqlite:" + filepath.Join(dir, "a.db"), "sqlite", ""},
		{filepath.Join(dir, "b.db"), "sqlite", ""},
		{"", "", "empty"},
		{"sqlite:", "", "path after sqlite: is missing"},
		{"postgresx://host/db", "", "unknown kind"},
	}
	for _, tt := range tests {
		t.Run(tt.dsn, func(t *testing.T) {
			s, err := dsn.Open(context.Background(), tt.dsn)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Open(%q) error = %v, want one containing %q", tt.dsn, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open(%q): %v", tt.dsn, err)
			}
			defer s.Close()
			if got := fmt.Sprintf("%T", s); !strings.Contains(got, tt.want) {
				t.Fatalf("Open(%q) gave a %s, want a %s store", tt.dsn, got, tt.want)
			}
			if _, err := s.Append(context.Background(), "s", chronicle.NoStream, chronicle.EventData{Type: "E"}); err != nil {
				t.Fatalf("Append: %v", err)
			}
		})
	}
}

func TestDefault(t *testing.T) {
	t.Setenv("XDG_DATA_HOME", "/data")
	if got, _ := dsn.Default("basket"); got != "sqlite:/data/chronicle/basket.db" {
		t.Fatalf("Default with XDG_DATA_HOME = %q", got)
	}
	// sqlite: takes no '?', a bare path does.
	dir := filepath.Join(t.TempDir(), "what?")
	t.Setenv("XDG_DATA_HOME", dir)
	if got, _ := dsn.Default("basket"); got != filepath.Join(dir, "chronicle", "basket.db") {
		t.Fatalf("Default with a '?' in XDG_DATA_HOME = %q", got)
	} else if s, err := dsn.Open(context.Background(), got); err != nil {
		t.Fatalf("Open(Default()) with a '?' in XDG_DATA_HOME: %v", err)
	} else {
		s.Close()
	}
	t.Setenv("XDG_DATA_HOME", "")
	t.Setenv("HOME", "/home/ada")
	if got, _ := dsn.Default("basket"); got != "sqlite:/home/ada/.local/share/chronicle/basket.db" {
		t.Fatalf("Default without XDG_DATA_HOME = %q", got)
	}
}

// TestOpenPostgres opens the PostgreSQL store by URL, in a schema of its
// own, when CHRONICLE_POSTGRES_URL names a server.
func TestOpenPostgres(t *testing.T) {
	base := os.Getenv("CHRONICLE_POSTGRES_URL")
	if base == "" {
		t.Skip("CHRONICLE_POSTGRES_URL is not set: the PostgreSQL case needs a server")
	}
	b := make([]byte, 6)
	rand.Read(b)
	schema := "chronicle_dsn_test_" + hex.EncodeToString(b)
	t.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), base)
		if err != nil {
			t.Errorf("drop schema: %v", err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("drop schema: %v", err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("schema", schema)
	u.RawQuery = q.Encode()
	for _, scheme := range []string{"postgres", "postgresql"} {
		t.Run(scheme, func(t *testing.T) {
			u.Scheme = scheme
			s, err := dsn.Open(context.Background(), u.String())
			if err != nil {
				t.Fatalf("Open(%q): %v", u, err)
			}
			defer s.Close()
			ps, ok := s.(*postgres.Store)
			if !ok || ps.Schema() != schema {
				t.Fatalf("Open(%q) gave a %T, want a *postgres.Store in schema %s", u, s, schema)
			}
			if _, err := s.Append(context.Background(), "s-"+strings.ReplaceAll(scheme, "+", "_"), chronicle.NoStream, chronicle.EventData{Type: "E"}); err != nil {
				t.Fatalf("Append: %v", err)
			}
		})
	}
	if got := dsn.Describe("postgres://ada:secret@db.example/events"); strings.Contains(got, "secret") || !strings.Contains(got, "db.example") {
		t.Fatalf("Describe = %q, want the host without the password", got)
	}
}

func TestOpenKurrentDB(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := kurrentserver.New(memory.New(nil), nil)
	go srv.Serve(l)
	t.Cleanup(srv.Stop)
	// The +discover schemes ask the server's gossip for the cluster's
	// leader, which is the server itself.
	for _, scheme := range []string{"kurrentdb", "esdb", "kurrentdb+discover", "esdb+discover"} {
		s, err := dsn.Open(context.Background(), scheme+"://"+l.Addr().String()+"?tls=false")
		if err != nil {
			t.Fatalf("%s: %v", scheme, err)
		}
		if _, err := s.Append(context.Background(), "s-"+strings.ReplaceAll(scheme, "+", "_"), chronicle.NoStream, chronicle.EventData{Type: "E"}); err != nil {
			t.Fatalf("%s: Append: %v", scheme, err)
		}
		s.Close()
	}
	if got := dsn.Describe("kurrentdb://admin:changeit@h:2113"); got != "KurrentDB at kurrentdb://admin:xxxxx@h:2113" {
		t.Errorf("Describe = %q", got)
	}
}

func TestDescribeNamesTheStoreThatOpenOpens(t *testing.T) {
	for dsn_, want := range map[string]string{
		"memory:":        "memory (events are gone when the program ends)",
		"memory":         "memory (events are gone when the program ends)",
		"memory.db":      "memory.db",
		"memory-old.db":  "memory-old.db",
		"sqlite:mem.db":  "mem.db",
		"sqlite:/x/y.db": "/x/y.db",
	} {
		if got := dsn.Describe(dsn_); got != want {
			t.Errorf("Describe(%q) = %q, want %q", dsn_, got, want)
		}
	}
}

// TestOpenPostgresRefusesParametersItCannotRead checks that a parameter
// that would be dropped, such as a schema after a ';' (which url.Query
// skips), is an error rather than a store in another schema. No server
// is needed: the URL is refused before any connection.
func TestOpenPostgresRefusesParametersItCannotRead(t *testing.T) {
	for _, tt := range []struct{ dsn, wantErr string }{
		{"postgres://ada:secret@127.0.0.1:1/db?schema=mine;sslmode=disable", "semicolon"},
		{"postgres://ada:secret@127.0.0.1:1/db?sslmode=disable&bad%zz", "escape"},
		{"postgres://ada:secret@127.0.0.1:1/db?schema=a&schema=b", "schema given 2 times"},
		// As a script whose variable is unset writes it: not the default
		// schema, which holds another store's events.
		{"postgres://ada:secret@127.0.0.1:1/db?schema=&sslmode=disable", "schema is empty"},
	} {
		s, err := dsn.Open(context.Background(), tt.dsn)
		if err == nil {
			s.Close()
			t.Errorf("Open(%q) opened a store", tt.dsn)
			continue
		}
		if !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), "secret") {
			t.Errorf("Open(%q) error = %v, want one containing %q and not the password", tt.dsn, err, tt.wantErr)
		}
	}
}

// TestOpenSQLiteRefusesAURLOrParameters checks the sqlite: forms that
// read as a URL: "sqlite://x.db" would be the file /x.db, and
// "sqlite:x.db?mode=ro" a file named "x.db?mode=ro".
func TestOpenSQLiteRefusesAURLOrParameters(t *testing.T) {
	dir := t.TempDir() // absolute: "sqlite:/"+dir is "sqlite://tmp/..."
	for _, tt := range []struct{ dsn, wantErr string }{
		{"sqlite:/" + filepath.Join(dir, "a.db"), "not a URL with a host"},
		{"sqlite:" + filepath.Join(dir, "b.db") + "?mode=ro", "takes no parameters"},
	} {
		s, err := dsn.Open(context.Background(), tt.dsn)
		if err == nil {
			s.Close()
			t.Errorf("Open(%q) opened a store", tt.dsn)
		} else if !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("Open(%q) error = %v, want one containing %q", tt.dsn, err, tt.wantErr)
		}
	}
	// An empty host is no host: "sqlite:///abs" is the file /abs.
	s, err := dsn.Open(context.Background(), "sqlite://"+filepath.Join(dir, "c.db"))
	if err != nil {
		t.Fatalf("sqlite:// and an absolute path: %v", err)
	}
	s.Close()
	if _, err := os.Stat(filepath.Join(dir, "c.db")); err != nil {
		t.Errorf("sqlite:///...: %v", err)
	}
}

// TestOpenKurrentDBWithoutSlashes checks that "kurrentdb:HOST" (no "//"),
// which the client would take for a bare host named "kurrentdb:HOST",
// says how to write it.
func TestOpenKurrentDBWithoutSlashes(t *testing.T) {
	for _, d := range []string{"kurrentdb:127.0.0.1:2113", "esdb:localhost", "esdb:", "kurrentdb+discover:h1,h2"} {
		s, err := dsn.Open(context.Background(), d)
		if err == nil {
			s.Close()
			t.Errorf("Open(%q) opened a store", d)
		} else if !strings.Contains(err.Error(), "://HOST:PORT") {
			t.Errorf("Open(%q) error = %v, want one showing SCHEME://HOST:PORT", d, err)
		}
	}
}

// TestOpenInvalid: the errors about the string itself match ErrInvalid,
// which the programs answer as wrong usage, and those of a store that
// could not be opened do not.
func TestOpenInvalid(t *testing.T) {
	for dsnString, want := range map[string]string{
		"":                                     "--store is empty",
		"bogus:x":                              `unknown kind "bogus"`,
		"memory:x":                             "memory: takes nothing after the colon",
		"sqlite:":                              "path after sqlite: is missing",
		"sqlite://x.db":                        "not a URL with a host",
		"sqlite:x.db?mode=ro":                  "takes no parameters",
		"postgres://h/db?schema=a&schema=b":    "schema given 2 times",
		"postgres://h/db?a=%zz":                "bad query parameters",
		"kurrentdb:127.0.0.1:2113":             "with the two slashes",
		"kurrentdb://127.0.0.1:2113?tls=flase": `tls="flase", want true or false`,
		"esdb://h1,,h2":                        "empty host",
	} {
		_, err := dsn.Open(context.Background(), dsnString)
		if !errors.Is(err, dsn.ErrInvalid) || !strings.Contains(fmt.Sprint(err), want) {
			t.Errorf("Open(%q) = %v, want an error matching ErrInvalid and saying %q", dsnString, err, want)
		}
	}
	// A directory is no store file: the string is right, the store
	// cannot be opened.
	_, err := dsn.Open(context.Background(), "sqlite:"+t.TempDir())
	if err == nil || errors.Is(err, dsn.ErrInvalid) {
		t.Errorf("Open of a directory = %v, want an error that does not match ErrInvalid", err)
	}
}

// TestRedact: messages show a store's URL without its password, whether
// in the user information or in the password parameter.
func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://ada:s3cret@db/app?sslmode=disable":          "postgres://ada:xxxxx@db/app?sslmode=disable",
		"postgres://ada@db/app?password=s3cret&sslmode=disable": "postgres://ada@db/app?password=xxxxx&sslmode=disable",
		"postgres://db/app?PASSWORD=s3cret&x=%zz":               "postgres://db/app?xxxxx",
		"kurrentdb://admin:changeit@127.0.0.1:2113?tls=false":   "kurrentdb://admin:xxxxx@127.0.0.1:2113?tls=false",
		"sqlite:/tmp/x.db":    "sqlite:/tmp/x.db",
		"/tmp/password=1.db":  "/tmp/password=1.db",
		"sqlite:my events.db": "sqlite:my events.db",
	} {
		if got := dsn.Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestFlag: a --store given empty is refused, rather than stand for the
// default store.
func TestFlag(t *testing.T) {
	var store string
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Var((*dsn.Flag)(&store), "store", "")
	if err := fs.Parse([]string{"--store", "memory:"}); err != nil || store != "memory:" {
		t.Fatalf("--store memory: gave %q, %v", store, err)
	}
	if err := fs.Parse([]string{"--store="}); err == nil || !strings.Contains(err.Error(), "it is empty") {
		t.Fatalf("an empty --store: %v, want it refused", err)
	}
}

// TestSQLitePath: the file of a SQLite store, as Open reads the string,
// and none for the other stores or for strings Open refuses.
func TestSQLitePath(t *testing.T) {
	for in, want := range map[string]string{
		"sqlite:/tmp/x.db":   "/tmp/x.db",
		"sqlite:x.db":        "x.db",
		"sqlite:///tmp/x.db": "///tmp/x.db",
		"/tmp/x.db":          "/tmp/x.db",
		"x.db":               "x.db",
		"memory.db":          "memory.db",
		"memory:":            "",
		"postgres://h/db":    "",
		"kurrentdb://h:2113": "",
		"bogus:x":            "",
		"sqlite:":            "",
		"sqlite://x.db":      "",
		"sqlite:x.db?mode=1": "",
		"":                   "",
	} {
		got, ok := dsn.SQLitePath(in)
		if got != want || ok != (want != "") {
			t.Errorf("SQLitePath(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}

// TestIsKurrentDB: the schemes that Open dials as KurrentDB, and not a
// file whose name starts with one.
func TestIsKurrentDB(t *testing.T) {
	for name, want := range map[string]bool{
		"kurrentdb://127.0.0.1:2113?tls=false": true,
		"esdb://localhost:2113":                true,
		"kurrentdb+discover://h:2113":          true,
		"esdb+discover://h:2113":               true,
		"kurrentdb.db":                         false,
		"sqlite:kurrentdb://x":                 false,
		"postgres://u@h/db":                    false,
		"memory:":                              false,
		"":                                     false,
	} {
		if got := dsn.IsKurrentDB(name); got != want {
			t.Errorf("IsKurrentDB(%q) = %v, want %v", name, got, want)
		}
	}
}

// TestOpenDirectory opens a directory as a SQLite store, as a --store
// that names the data directory rather than the file in it does: the
// error must say that it is a directory, and what to give instead. It
// said "unable to open database file (14)", which tells neither.
func TestOpenDirectory(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{dir, "sqlite:" + dir} {
		s, err := dsn.Open(context.Background(), name)
		if err == nil {
			s.Close()
			t.Fatalf("Open(%q) opened a directory", name)
		}
		want := dir + " is a directory: give the path of a database file, such as " + filepath.Join(dir, "events.db")
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Open(%q) = %v, want it to say %q", name, err, want)
		}
	}
	if left, _ := os.ReadDir(dir); len(left) > 0 {
		t.Errorf("Open of a directory left %v in it", left)
	}
}

// TestMustExist: a SQLite file that does not exist is an error that names
// it, and creates nothing; a file that exists, and the other kinds of
// store, are not.
func TestMustExist(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "typo", "events.db")
	for _, name := range []string{missing, "sqlite:" + missing} {
		err := dsn.MustExist(name, "create makes one")
		if want := "there is no store at " + missing + ": check the path (create makes one)"; err == nil || err.Error() != want {
			t.Errorf("MustExist(%q) = %v, want %q", name, err, want)
		}
	}
	if left, _ := os.ReadDir(dir); len(left) > 0 {
		t.Errorf("MustExist left %v", left)
	}
	file := filepath.Join(dir, "events.db")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{file, "sqlite:" + file, "memory:", "postgres://u@127.0.0.1:1/db", "kurrentdb://127.0.0.1:1", "sqlite:"} {
		if err := dsn.MustExist(name, "x"); err != nil {
			t.Errorf("MustExist(%q) = %v, want nil", name, err)
		}
	}
}
