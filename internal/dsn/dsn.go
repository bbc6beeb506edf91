// Package dsn opens a store from the string that the programs' --store
// flag takes:
//
//	memory:          an empty in-memory store, gone at exit
//	sqlite:PATH      the embedded SQLite store in the file PATH, which
//	                 holds no '?' (sqlite: takes no parameters) and does
//	                 not start with exactly two slashes (no host):
//	                 sqlite:///abs/x.db is /abs/x.db
//	PATH             the same, for a path without a scheme, taken as it
//	                 is
//	postgres://...   the PostgreSQL store, at a URL as pgx takes it; the
//	                 extra parameter schema=NAME picks the store's schema
//	postgresql://... the same
//	kurrentdb://...  a KurrentDB (EventStoreDB) server, or another
//	                 "chronicle serve", through the kurrent client, at a
//	                 connection string as the official clients take it,
//	                 such as kurrentdb://127.0.0.1:2113?tls=false
//	esdb://...       the same
//	kurrentdb+discover://..., esdb+discover://...
//	                 a KurrentDB cluster, found through the gossip of the
//	                 hosts named
package dsn

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/kurrent"
	"github.com/chronicle-es/chronicle/memory"
	"github.com/chronicle-es/chronicle/postgres"
	"github.com/chronicle-es/chronicle/sqlite"
)

// Store is a store opened by [Open]. Close releases it.
type Store interface {
	chronicle.Store
	Close() error
}

// ErrInvalid is matched, with errors.Is, by the errors of [Open] that
// are about the string itself (empty, of an unknown kind, or not in the
// form its kind takes), as against a store that could not be opened:
// the programs answer it as wrong usage.
var ErrInvalid = errors.New("invalid store")

// invalid is an error of the string given to Open; its message is the
// whole of what the user reads. err, if not nil, is the error of the
// package that read the string, which it unwraps to.
type invalid struct {
	msg string
	err error
}

func invalidf(format string, args ...any) error {
	return &invalid{msg: fmt.Sprintf(format, args...)}
}

func (e *invalid) Error() string        { return e.msg }
func (e *invalid) Is(target error) bool { return target == ErrInvalid }
func (e *invalid) Unwrap() error        { return e.err }

// Open opens the store that dsn names.
func Open(ctx context.Context, dsn string) (Store, error) {
	kind, rest, found := strings.Cut(dsn, ":")
	switch {
	case dsn == "":
		return nil, invalidf("open store: --store is empty: give memory:, sqlite:PATH, postgres://URL or kurrentdb://HOST:PORT")
	case kind == "memory" && (!found || rest == ""):
		return memoryStore{memory.New(nil)}, nil
	case kind == "memory":
		return nil, invalidf("open store %q: memory: takes nothing after the colon (the memory store keeps no file): write memory:", dsn)
	case kind == "sqlite" && found:
		return openSQLite(ctx, dsn, rest)
	case (kind == "postgres" || kind == "postgresql") && found:
		return openPostgres(ctx, dsn)
	case isKurrent(kind) && found:
		if !strings.HasPrefix(rest, "//") {
			// The client would take it all for a bare host:port.
			return nil, invalidf("open store %s: write %s://HOST:PORT, with the two slashes", Redact(dsn), kind)
		}
		s, err := kurrent.Dial(ctx, dsn, nil)
		if errors.Is(err, kurrent.ErrConnectionString) {
			// About the string itself, not the server: wrong usage.
			return nil, &invalid{msg: fmt.Sprintf("open store %s: %v", Redact(dsn), err), err: err}
		}
		if err != nil {
			return nil, fmt.Errorf("open store %s: %w", Redact(dsn), err)
		}
		return s, nil
	case isScheme(kind, found):
		return nil, invalidf("open store %q: unknown kind %q: give memory:, sqlite:PATH, postgres://URL or kurrentdb://HOST:PORT", Redact(dsn), kind)
	default:
		return openSQLiteFile(ctx, dsn)
	}
}

// openSQLiteFile opens the SQLite store in file path. A directory is
// refused first: SQLite says only "unable to open database file", and
// a --store that names the data directory, rather than the file in it,
// is an easy mistake.
func openSQLiteFile(ctx context.Context, path string) (Store, error) {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return nil, fmt.Errorf("open sqlite store %s: %s is a directory: give the path of a database file, such as %s",
			path, path, filepath.Join(path, "events.db"))
	}
	return sqlite.Open(ctx, path, nil)
}

// openSQLite opens the SQLite store of "sqlite:PATH", refusing what
// reads as a URL but would be taken as a path: a host ("sqlite://x.db"
// would be the file /x.db) and parameters ("sqlite:x.db?mode=ro" a file
// of that name).
func openSQLite(ctx context.Context, dsn, path string) (Store, error) {
	if err := checkSQLitePath(dsn, path); err != nil {
		return nil, err
	}
	return openSQLiteFile(ctx, path)
}

// checkSQLitePath refuses the path of "sqlite:PATH" when it is missing,
// or reads as a URL but would be taken as a path.
func checkSQLitePath(dsn, path string) error {
	switch {
	case path == "":
		return invalidf("open store %q: the path after sqlite: is missing", dsn)
	case strings.HasPrefix(path, "//") && !strings.HasPrefix(path, "///"):
		return invalidf("open store %q: sqlite: takes a path, not a URL with a host: write sqlite:PATH, such as sqlite:events.db or sqlite:/var/lib/events.db", dsn)
	case strings.Contains(path, "?"):
		return invalidf("open store %q: sqlite:PATH takes no parameters (%s)", dsn, path[strings.Index(path, "?"):])
	}
	return nil
}

// isScheme reports whether the text before a dsn's first colon (found)
// names a kind of store, known or not, rather than starting a path such
// as "C:\x.db" or "./a:b.db".
func isScheme(kind string, found bool) bool {
	return found && len(kind) > 1 && !strings.ContainsAny(kind, `/\.`)
}

// openPostgres opens the PostgreSQL store at a URL, taking the schema
// from its parameter schema, which is Chronicle's and not PostgreSQL's:
// pgx would send it to the server, which would refuse it.
func openPostgres(ctx context.Context, dsn string) (Store, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return nil, invalidf("open store %s: not a valid URL", Redact(dsn))
	}
	// Not u.Query, which skips a parameter it cannot read: the URL would
	// open a store without it, in another schema or without sslmode.
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, invalidf("open store %s: bad query parameters: %v", Redact(dsn), err)
	}
	if n := len(q["schema"]); n > 1 {
		return nil, invalidf("open store %s: schema given %d times: give it once", Redact(dsn), n)
	}
	if v, ok := q["schema"]; ok && v[0] == "" {
		// As a script whose variable is unset writes it: the default
		// schema, which may hold another store, was not what it meant.
		return nil, invalidf("open store %s: schema is empty: name the schema, or leave the parameter out for %q", Redact(dsn), postgres.DefaultSchema)
	}
	opts := &postgres.Options{Schema: q.Get("schema")}
	q.Del("schema")
	u.RawQuery = q.Encode()
	return postgres.Open(ctx, u.String(), opts)
}

// isKurrent reports whether a URL scheme names a KurrentDB node or
// cluster.
func isKurrent(scheme string) bool {
	switch scheme {
	case "kurrentdb", "esdb", "kurrentdb+discover", "esdb+discover":
		return true
	}
	return false
}

// Flag is the value of a --store flag, for flag.Var: a string that is
// refused when empty, which would otherwise stand for the default store
// without a word (a script's unset variable, say).
type Flag string

// String returns the flag's value.
func (f *Flag) String() string {
	if f == nil {
		return ""
	}
	return string(*f)
}

// Set sets the flag's value, refusing an empty one.
func (f *Flag) Set(s string) error {
	if s == "" {
		return errors.New("it is empty: give memory:, sqlite:PATH, postgres://URL or kurrentdb://HOST:PORT, or leave --store out for the default store")
	}
	*f = Flag(s)
	return nil
}

// Redact returns dsn with the password of a URL replaced by "xxxxx", for
// messages, and any other dsn as it is. The password may be in the URL's
// user information or, as pgx also takes it, in its password parameter.
func Redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme == "" {
		return dsn
	}
	changed := u.User != nil
	if q, err := url.ParseQuery(u.RawQuery); err == nil && q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery, changed = q.Encode(), true
	} else if err != nil && strings.Contains(strings.ToLower(u.RawQuery), "password") {
		// A query that cannot be read may still hold the password.
		u.RawQuery, changed = "xxxxx", true
	}
	if !changed {
		return dsn // as written: re-encoding would change a path's spelling
	}
	return u.Redacted()
}

// memoryStore gives the memory store the Close that the others need.
type memoryStore struct{ *memory.Store }

func (memoryStore) Close() error { return nil }

// MustExist returns an error when dsn names a SQLite file that does not
// exist, and nil otherwise, as for another kind of store. The programs
// call it before a command that only reads or changes a store, which
// [Open] would otherwise create empty at a mistyped path, and answer
// about a store that was never meant. makes names the commands that do
// make a new store, for the error's advice.
func MustExist(dsn, makes string) error {
	path, ok := SQLitePath(dsn)
	if !ok {
		return nil
	}
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("there is no store at %s: check the path (%s)", path, makes)
	}
	return nil
}

// IsKurrentDB reports whether dsn names a KurrentDB (EventStoreDB)
// server, or a chronicle serve reached as one, by its scheme, without
// dialling it: such a store keeps events only, and a program that needs
// a database beside them can refuse it before it waits for the server.
func IsKurrentDB(dsn string) bool {
	scheme, _, found := strings.Cut(dsn, ":")
	return found && isKurrent(scheme)
}

// IsMemory reports whether dsn names the memory store, as [Open] takes
// it: "memory:" or "memory", and not a file such as "memory.db".
func IsMemory(dsn string) bool { return dsn == "memory" || dsn == "memory:" }

// SQLitePath returns the file of the SQLite store that dsn names, as
// [Open] reads it, and false when dsn names another store, or is not in
// a form that Open takes (whose error Open then gives).
func SQLitePath(dsn string) (string, bool) {
	kind, rest, found := strings.Cut(dsn, ":")
	switch {
	case dsn == "" || IsMemory(dsn):
		return "", false
	case kind == "sqlite" && found:
		if checkSQLitePath(dsn, rest) != nil {
			return "", false
		}
		return rest, true
	case isScheme(kind, found):
		return "", false // another kind, or an unknown one
	}
	return dsn, true
}

// Describe returns where the store that dsn names keeps its events, in
// the form a person reads in a message.
func Describe(dsn string) string {
	switch {
	case IsMemory(dsn):
		return "memory (events are gone when the program ends)"
	case strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://"):
		return "PostgreSQL at " + Redact(dsn)
	case isKurrent(strings.SplitN(dsn, ":", 2)[0]):
		return "KurrentDB at " + Redact(dsn)
	default:
		return strings.TrimPrefix(dsn, "sqlite:")
	}
}

// Default returns the --store of a program named app when none is given:
// the embedded store in a file of its own under the user's data
// directory, $XDG_DATA_HOME/chronicle/APP.db, or
// ~/.local/share/chronicle/APP.db when XDG_DATA_HOME is not set.
func Default(app string) (string, error) {
	dir := os.Getenv("XDG_DATA_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("find a place for the %s store: %w; give one with --store", app, err)
		}
		dir = filepath.Join(home, ".local", "share")
	}
	path := filepath.Join(dir, "chronicle", app+".db")
	if strings.Contains(path, "?") {
		// sqlite: would refuse it as parameters; a bare path, always
		// absolute here, is taken as it is.
		return path, nil
	}
	return "sqlite:" + path, nil
}
