// Package sqlite provides the embedded [chronicle.Store]: one SQLite file,
// through the pure-Go driver modernc.org/sqlite, so that it needs neither
// cgo nor a server.
//
// # Durability
//
// The file is in WAL mode. By default an Append returns only after its
// commit has been fsynced (synchronous=FULL): an acknowledged event
// survives a power cut. [Relaxed] durability (synchronous=NORMAL) skips
// that fsync; a crash of the process still loses nothing, but a power cut
// may lose the last commits.
//
// # Group commit
//
// One append commits at a time. Appends that arrive while one commits
// wait, and are then written together in one transaction with one fsync,
// by the caller of the first of them: a lone append is committed on its
// caller's goroutine, with no hand-off. Appends that arrive while a batch
// is still being written join it, up to [Options.MaxBatch] in all, so
// that callers answered by one commit, which come back while the next
// batch is written, share its fsync instead of waiting for the one
// after. Each keeps its own expected-revision check: an append refused
// for a stale revision, or for bad input, fails alone.
//
// # Readers and other processes
//
// Reads of the file never wait for appends to commit (a read from
// memory may wait up to a millisecond: see below). Stream reads that arrive
// together run together, in one read transaction on one of a few
// connections kept for them: SQLite drops a connection's page cache at
// every read transaction that follows another connection's commit, and
// reads that run together mostly need the same pages. A stream read that
// finds the writer idle runs on the writer's own connection instead,
// whose cache its own commits leave warm; appends that arrive meanwhile
// wait for that one read, as for a batch.
//
// A read of the whole log (ReadAll forwards without a filter or a limit,
// and a subscription without a filter while it catches up) reads two
// ranges of 512 positions at once, on two connections, while the caller
// works on the events before them: reading SQLite's rows costs more CPU
// than most callers spend on an event, and one reader would leave a
// second core idle.
//
// Several processes may open the same file, such as a CLI and a server:
// writers take SQLite's write lock in turn, waiting up to
// [Options.BusyTimeout], or until the contexts of all the appends of the
// batch have ended. Within one process, the batches of appends, the
// transactions of [Store.Update] and [Store.Scavenge] (whose vacuum at
// the end gives free pages back in steps of about 20 ms), and the attempts
// of [Store.Checkpoint] to empty the write-ahead log, which wait no more
// than 20 ms each for readers, queue for the lock in Go, first come first
// served: SQLite's own wait, which looks for the lock between sleeps,
// lets whoever takes it again at once keep it. Subscribers are woken at
// once by commits of their own process, and take those events from
// memory rather than from the file; they see other processes' commits
// within [Options.PollInterval], and within it too stop being handed,
// from that memory, the events that another process's scavenge removed.
//
// # Streams in memory
//
// The store keeps in memory every event of the streams it uses most,
// up to [Options.CacheEvents] events and 16 MiB of data and metadata:
// the streams it created, and the streams whose every event a read found
// while the writer was idle.
// A read of such a stream costs no query, and returns exactly what a
// read of the file would: only the writer changes an entry, which it
// extends with each append it commits, and drops when the stream's
// metadata is set or the stream is deleted. Streams with metadata or a
// deletion, and streams longer than 1,024 events, are read from the
// file.
//
// Any commit on another connection drops every entry, since SQLite tells
// the writer only that another connection committed, not what it
// changed: another process's, and this store's own [Store.Update] and
// [Store.Scavenge] too ([Store.SaveSnapshot] goes through the writer, and
// keeps them). Entries come back as streams are appended to and read
// again.
//
// A read must not miss a commit that ended before it began. The writer
// asks SQLite (data_version) at the start of each transaction, and while
// that transaction holds the write lock no other connection can commit,
// so reads meanwhile are served at once. Between two transactions, a
// read asks itself, on the writer's connection, when the writer is
// idle; otherwise it waits for the writer's next transaction to ask, for
// up to a millisecond, and then reads the file. When another connection
// holds the write lock, it reads the file at once.
//
// # Schema versions
//
// Open brings the schema of a file written by an earlier version up to
// date, in one transaction that holds the write lock, and refuses a file
// written by a later one. No migration copies the events table, so the
// tables, views and triggers that an application keeps in the file (see
// [Store.Update]) stay as they were. Most are quick whatever the file's
// size; schema version 6, which numbers the streams, writes each event's
// row once more and rebuilds the index of streams (4.4 s for a file of
// 1,000,000 events of 200 bytes over 10,000 streams, on a 2-core
// machine).
// A migration that would break them (a foreign key to a unique index it
// drops, a trigger that copies events by SELECT * into a table with a
// column fewer, a view that names the columns of SELECT * FROM events)
// fails, and leaves the file as it was; what was broken before it does
// not stop it.
// Stop every process that has the file open before a newer version opens
// it. A process that opened it before keeps the schema it knew, and its
// writes fail, saying to restart it, rather than write to a schema it
// does not know: the writer, which makes appends and the other writes of
// events, checks the file's schema version whenever another connection
// has committed, and [Store.Update] (and so [Store.Scavenge]) at the start
// of each of its transactions. (Versions before schema version 5
// did not check; version 5 marks the place where they read the log's
// head, so that their appends fail too, and whatever deletes events, a
// scavenge of such a version included, leaves the log's head recorded.)
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/internal/catchup"
	"github.com/chronicle-es/chronicle/internal/closing"
	_ "modernc.org/sqlite" // the database/sql driver "sqlite"
)

var _ chronicle.Store = (*Store)(nil)

// Durability says when an append is acknowledged.
type Durability int

const (
	// Durable acknowledges an append after its commit is fsynced. The default.
	Durable Durability = iota
	// Relaxed acknowledges an append after its commit is written to the
	// WAL, without waiting for the disk: faster, but a power cut may lose
	// the latest acknowledged appends. The file itself stays consistent.
	Relaxed
)

// Defaults for [Options].
const (
	DefaultBusyTimeout  = 10 * time.Second
	DefaultPollInterval = 100 * time.Millisecond
	DefaultMaxBatch     = 512
	DefaultCacheEvents  = 16384
)

// Options configures a [Store]. A nil *Options gives the defaults.
type Options struct {
	// Durability says when an append is acknowledged; [Durable] by default.
	Durability Durability

	// MaxEventSize limits each event's data and metadata, in bytes. Zero
	// means [chronicle.DefaultMaxEventSize].
	MaxEventSize int

	// BusyTimeout is how long a write, or Open, which takes the write
	// lock to bring the schema up to date, waits for another process
	// that holds the write lock before it fails, give or take the 50 ms
	// that they wait at a time. An append waits as long, in all, for
	// this store's Update or Scavenge, whose transactions take turns with
	// appends. [Store.Checkpoint] waits as long for readers that use the
	// write-ahead log. Zero means [DefaultBusyTimeout].
	BusyTimeout time.Duration

	// PollInterval is how often an idle subscriber checks for events that
	// other processes committed. Zero means [DefaultPollInterval].
	PollInterval time.Duration

	// MaxBatch is the most appends committed in one transaction. Zero
	// means [DefaultMaxBatch].
	MaxBatch int

	// CacheEvents is the most events that the store keeps in memory for
	// reads of streams (see "Streams in memory" in the package
	// documentation), besides a bound of 16 MiB of their data and
	// metadata. Zero means [DefaultCacheEvents]; a negative value keeps
	// none, and every read goes to the file.
	CacheEvents int
}

func (o *Options) withDefaults() Options {
	var out Options
	if o != nil {
		out = *o
	}
	if out.BusyTimeout <= 0 {
		out.BusyTimeout = DefaultBusyTimeout
	}
	if out.PollInterval <= 0 {
		out.PollInterval = DefaultPollInterval
	}
	if out.MaxBatch <= 0 {
		out.MaxBatch = DefaultMaxBatch
	}
	if out.CacheEvents == 0 {
		out.CacheEvents = DefaultCacheEvents
	}
	return out
}

// Store is the embedded event store. It is safe for concurrent use, and
// must be closed with [Store.Close].
type Store struct {
	path string
	opts Options

	read    *sql.DB    // query-only connections, for reads and subscriptions
	stmts   *stmtCache // the read pool's prepared statements
	group   *readGroup // the readers of ReadStream's pages
	update  *sql.DB    // one connection for Update, the transactions of read models
	ckpt    *sql.DB    // one connection for Checkpoint, with a short busy timeout
	writes  *writeLock // taken in turn by the writer's transactions, the update connection's and Checkpoint's
	w       *writer
	changed catchup.Notifier
	recent  recent      // the events committed last, for subscribers
	cache   streamCache // the streams this process created, for stream reads

	closeOnce sync.Once
	closeErr  error
	closed    atomic.Bool // set as Close starts, for closedErr and liveSource

	// txs counts the writes that hold the store's write lock outside the
	// writer (Update, a scavenge's steps, Checkpoint: see writing), which
	// Close waits for; once txsClosed is set, none begins.
	txMu      sync.Mutex
	txsIdle   sync.Cond
	txs       int
	txsClosed bool

	// truncating, when a test sets it, is called by Checkpoint holding
	// the write lock, before it truncates the log.
	truncating func()
	// vacuuming, when a test sets it, is called by Scavenge holding the
	// write lock, before each step that gives free pages back.
	vacuuming func()
}

// closedErr returns err, made to match [chronicle.ErrClosed] once the
// store is closing (see [closing.Err]): database/sql says only "sql:
// database is closed", which a caller cannot match.
func (s *Store) closedErr(ctx context.Context, err error) error {
	return closing.Err(ctx, s.closed.Load(), err)
}

// maxIdleReaders is how many idle read connections the store keeps.
const maxIdleReaders = 64

// Open opens the store in the SQLite file at path, creating the file, its
// directory and its schema when they do not exist yet, and bringing an
// older schema up to date. opts may be nil.
//
// An SQLite database without a table named events and without a schema
// version (user_version 0), such as an application's own, gets the
// store's tables beside its own. Open refuses, and leaves as it was, a
// file that is not an SQLite database; another program's database, one
// that has a table named events but no schema version, or a schema
// version but no events table; and a store of a schema version newer
// than this build knows, with an error matching
// [chronicle.ErrSchemaUpgraded].
func Open(ctx context.Context, path string, opts *Options) (*Store, error) {
	o := opts.withDefaults()
	if path == "" {
		return nil, errors.New("open sqlite store: empty path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}
	s := &Store{path: abs, opts: o, writes: newWriteLock()}
	s.txsIdle.L = &s.txMu
	s.cache.maxEvents = o.CacheEvents
	if err := s.open(ctx); err != nil {
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}
	return s, nil
}

// open connects the store's pools, checks the file and its schema,
// and starts the writer. On error it closes whatever it opened.
func (s *Store) open(ctx context.Context) (err error) {
	var opened []interface{ Close() error }
	defer func() {
		if err != nil {
			for i := len(opened) - 1; i >= 0; i-- {
				opened[i].Close()
			}
		}
	}()
	connect := func(busy time.Duration, extra string, pragmas ...string) (*sql.DB, error) {
		db, err := sql.Open("sqlite", dsn(s.path, busy, pragmas...)+extra)
		if err == nil {
			opened = append(opened, db)
		}
		return db, err
	}
	syncMode := "synchronous(FULL)"
	if s.opts.Durability == Relaxed {
		syncMode = "synchronous(NORMAL)"
	}

	// The writer keeps one connection for its whole life. Incremental
	// auto-vacuum, which only a new file can take, lets a scavenge give
	// the space of removed events back to the file system. Migrating, and
	// then setting WAL mode, take the write lock, so the connection waits
	// for the lock lockWait at a time, and Open as long as the busy
	// timeout in all (see waitForLock).
	wdb, err := connect(min(lockWait, s.opts.BusyTimeout), "", "auto_vacuum(INCREMENTAL)", syncMode, "foreign_keys(ON)")
	if err != nil {
		return err
	}
	wdb.SetMaxOpenConns(1)
	var conn *sql.Conn
	err = waitForLock(ctx, s.opts.BusyTimeout, func() (err error) {
		conn, err = wdb.Conn(ctx)
		return err
	})
	if err != nil {
		return err
	}
	opened = append(opened, conn)
	if err := migrate(ctx, conn, s.opts.BusyTimeout); err != nil {
		return err
	}
	// Only once the file is known to be a store's: WAL mode outlasts
	// the connection, and a file that migrate refuses, another program's
	// database say, keeps the journal mode its program chose.
	if err := useWAL(ctx, conn, s.opts.BusyTimeout); err != nil {
		return err
	}

	if s.read, err = connect(s.opts.BusyTimeout, "", "query_only(1)"); err != nil {
		return err
	}
	// Keep as many idle connections as readers are likely to run at once:
	// with fewer, a burst of readers closes and reopens connections (and
	// re-reads the schema, and re-prepares statements) all the time.
	// Connections idle for a while are closed all the same.
	s.read.SetMaxIdleConns(maxIdleReaders)
	s.read.SetConnMaxIdleTime(time.Minute)
	s.stmts = newStmtCache(s.read)
	if s.group, err = newReadGroup(ctx, s.read, readGroupSize()); err != nil {
		return err
	}
	opened = append(opened, closer(s.group.close))

	// Update's transactions take the write lock at BEGIN, so that two of
	// them never deadlock upgrading read locks; they queue in Go, with the
	// writer's transactions, rather than spin in SQLite's busy handler
	// (see writeLock).
	// secure_delete overwrites what these transactions delete, such as
	// the key of a forgotten data subject, instead of leaving it in free
	// pages of the file.
	if s.update, err = connect(s.opts.BusyTimeout, "&_txlock=immediate", syncMode, "foreign_keys(ON)", "secure_delete(ON)"); err != nil {
		return err
	}
	s.update.SetMaxOpenConns(1)

	// Checkpoint's connection waits only briefly for readers: it may
	// hold the write lock meanwhile (see Store.Checkpoint).
	if s.ckpt, err = connect(min(checkpointWait, s.opts.BusyTimeout), "", syncMode); err != nil {
		return err
	}
	s.ckpt.SetMaxOpenConns(1)

	s.w, err = newWriter(ctx, s, wdb, conn)
	return err
}

// waitForLock runs try, which needs SQLite's write lock and waits for it
// lockWait at a time, again while another connection holds the lock, up
// to busy in all or until ctx ends. SQLite's own wait ends at its busy
// timeout whatever becomes of ctx: Open, waiting that long, would wait
// out the busy timeout after its caller gave up.
func waitForLock(ctx context.Context, busy time.Duration, try func() error) error {
	for start := time.Now(); ; {
		err := try()
		switch {
		case err == nil || !isBusy(err):
			return err
		case ctx.Err() != nil:
			return ctx.Err()
		case time.Since(start) >= busy:
			return fmt.Errorf("another connection held the write lock for the whole busy timeout (%v): %w", busy, err)
		}
	}
}

// dsn returns the driver's name for the file at path with the pragmas set
// on every new connection.
func dsn(path string, busy time.Duration, pragmas ...string) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout("+strconv.FormatInt(max(busy.Milliseconds(), 1), 10)+")")
	for _, p := range pragmas {
		q.Add("_pragma", p)
	}
	// A file: URI, so that a path holding '?' or '#' is not taken for
	// parameters.
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
}

// useWAL puts the file in WAL mode, which a file that is not in it yet
// takes only while no other connection uses it: it waits for them as
// waitForLock says. It makes sure the file really is in WAL mode: SQLite
// answers with the mode it ended up in, which may not be the one asked
// for.
func useWAL(ctx context.Context, conn *sql.Conn, busy time.Duration) error {
	var mode string
	err := waitForLock(ctx, busy, func() error {
		return conn.QueryRowContext(ctx, "PRAGMA journal_mode = WAL").Scan(&mode)
	})
	if err != nil {
		return fmt.Errorf("set journal mode: %w", err)
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("journal mode is %q, not WAL: is the file on a file system without shared memory?", mode)
	}
	return nil
}

// Path returns the absolute path of the store's file.
func (s *Store) Path() string { return s.path }

// Close waits for appends under way, and for an Update, a scavenge's step
// or a Checkpoint under way (so do not call it from an Update's
// function), then closes the file. Every call
// after Close fails with an error matching [chronicle.ErrClosed], and
// running subscriptions end with one; only bad input (an invalid stream
// name, event, filter or metadata) is refused as such first, as before
// Close. Close may be called more than once.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		// Updates waiting for the write lock give up; the one that holds
		// it, and the writer's batches, go on, and Close waits for them:
		// nothing is written to the file once Close has returned.
		s.writes.close()
		s.txMu.Lock()
		s.txsClosed = true
		for s.txs > 0 {
			s.txsIdle.Wait()
		}
		s.txMu.Unlock()
		s.closeErr = errors.Join(s.w.close(), s.update.Close(), s.ckpt.Close(), s.group.close(), s.stmts.close(), s.read.Close())
		// Subscribers waiting for events read again, and end with
		// ErrClosed, rather than at their next poll.
		s.changed.Notify()
	})
	return s.closeErr
}
