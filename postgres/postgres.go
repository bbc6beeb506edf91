// Package postgres provides the PostgreSQL [chronicle.Store], on
// github.com/jackc/pgx/v5: the store for applications that run more than
// one process, or more than one machine, against one database.
//
// # Global positions
//
// Positions are gapless and follow commit order, across every process
// that writes to the schema: a reader that has seen position p will never
// later find an event below p. Many PostgreSQL event stores take positions
// from a sequence; a sequence hands a number out before commit and loses
// it on rollback, so a reader that checkpoints p skips a transaction that
// took p-1 and commits later. This store does not use one.
//
// Instead, a single row (the table head) holds the last position given
// out. Every append transaction takes that row's lock, numbers its events
// from it and commits; the lock is released only once the commit is
// visible, so the next transaction numbers its events above every event
// already visible, and no reader can see p+1 before p. The lock is taken
// as late as possible: everything else (validating and encoding events,
// reading the streams' states for the expected-revision checks) happens
// before it, and the lock, the multi-row insert (one INSERT ... SELECT
// FROM unnest(...) of the whole batch), the NOTIFY and the COMMIT travel
// together in one pipelined round trip. The lock is held for that round
// trip and the commit's WAL flush, not longer.
//
// # Costs
//
// Commits are serialised per schema: one append transaction commits at a
// time, whatever the streams. Each [Store] makes up for it with group
// commit: one goroutine writes, and the appends that arrive while it
// commits are written together in the next transaction, each with its own
// expected-revision check (an append refused for a stale revision, or for
// bad input, fails alone). Throughput is thus about one transaction per
// WAL flush per database, times the appends per batch; latency under load
// is a queue wait plus a round trip and a flush. Several processes take
// turns at the lock, each with its own batches.
//
// The head row is updated by every batch. Each update leaves a dead row
// version, which PostgreSQL prunes as it goes.
//
// A long-running transaction elsewhere (a report, a connection left idle
// in transaction) cannot hold the lock, since an append takes it only just
// before its own commit, and appends and subscribers carry on around it.
// What it costs is what it costs any PostgreSQL table: while its snapshot
// is open, vacuum cannot remove row versions that died after it began, so
// the head row's dead versions pile up (each update a little slower) until
// it ends. A transaction that takes the head lock itself, such as one that
// runs SELECT ... FOR UPDATE on head by hand, stops every append in the
// schema until it ends; subscribers simply wait, they never skip.
//
// The expected-revision checks read the streams' states before the lock,
// so another process may append to one of the batch's streams in between.
// The unique (stream, revision) constraint catches that: the insert fails,
// the transaction rolls back, and the batch is checked again, this time
// with the lock taken before the read, so the refused append reports the
// stream's real revision. That second attempt holds the lock for a few
// round trips more; it happens only when processes race on one stream.
//
// The read of the states is skipped when the store knows them: the
// writer remembers the last revision of the streams it wrote (up to a few
// thousand), and a batch whose appends each expect exactly that revision
// goes straight to the insert, one round trip in all. That is the
// common case of a command handler that loaded a stream and appends to
// it. A remembered state that another process made stale (an append, a
// delete) is caught by the same guards, the unique constraint and the
// head's meta_version, and the batch is checked again under the lock.
//
// docs/benchmarks-postgres.md has measured figures, beside raw inserts on
// the same server.
//
// # Subscriptions
//
// An append sends NOTIFY inside its transaction, so PostgreSQL delivers it
// at commit. Each Store keeps one connection that LISTENs and wakes its
// subscribers, which then read the new events from the table. Should that
// connection fail, it reconnects, and until then subscribers poll every
// [Options.PollInterval]; a subscriber never relies on the notification's
// content, only on the table, so a lost notification delays it by at most
// one poll and never makes it skip an event.
//
// # Read models
//
// [Store.Update] and [Store.View] run database/sql transactions on the
// store's connections, with the store's schema as the search path, so
// that read models, their checkpoints (package projection) and the keys
// of package shred live beside the events and commit with them. Updates
// on one schema run one at a time, across processes, under an advisory
// lock; see [Store.Update].
//
// # Retention and deletion
//
// Stream metadata ([chronicle.Retention]) is applied by every read of a
// stream at once; a soft delete or a tombstone ([chronicle.Deleter]) is
// a row of streams_meta, and a scavenge ([chronicle.Scavenger]) removes
// the hidden events later, leaving holes in the positions but never
// handing them out again. An append reads a stream's deletion state with
// its revision, before the head lock; a delete, and a scavenge that
// removes a live stream's last event, take the head lock and move a
// counter in the head row (meta_version), and an append whose counter
// moved between its check and its insert writes nothing and is checked
// again under the lock, as for a stale revision.
//
// # Schema
//
// The store owns one PostgreSQL schema ([Options.Schema], "chronicle" by
// default), which it creates and migrates on [Open]. Its version is kept
// in the table schema_version. Migrations run under a transaction-scoped
// advisory lock, so processes that open a new schema at the same time
// migrate it once. Several applications, or tests, can share one database
// by using different schemas.
//
// A process that opened the schema before a newer Chronicle migrated it
// stops writing to it: its appends, deletes, metadata, snapshots,
// scavenges and Updates (the transactions of read models) fail with an
// error that says to restart it with the newer Chronicle, while its
// reads go on. Its code might otherwise write what the newer code reads
// wrong (a soft delete by the code of version 2, on a schema of version
// 3, left where the stream went on stale). An upgrade can therefore roll
// through the processes one at a time: the first to run the newer code
// migrates, and the others refuse writes until they are restarted with
// it. Processes built before this check (schema versions 1 to 3) have
// their appends and deletes refused the same way, though not their other
// writes, and the first builds of version 4 did not check their Updates:
// stop them before upgrading.
//
// The check costs no round trip. The head row holds the schema's
// version, and every update of it (each append batch, delete, and
// scavenge of a stream's last event) says which version its code knows:
// a trigger refuses it when the two differ, and an older process's
// update, which says nothing, always. The writes that leave the row
// alone read the version in their first statement, and an Update in the
// statement that takes its advisory lock, before fn runs. A migration
// takes the head table exclusively before it changes anything: the writes
// under way finish first, under the old schema, and those that come
// after wait for it and then find the new version. Like the migrations'
// own changes to the tables, that lock waits for transactions that have
// read the head (a pg_dump, for one), and appends and subscribers wait
// behind it. Two other designs were set aside: reading schema_version in
// every write transaction costs a query per batch, and leaves a window
// between the read and the commit unless the migration locks as above
// anyway; and having every open store hold a shared advisory lock, which
// a migration would have to take exclusively, refuses the migration
// rather than the older writes, so that no upgrade could roll through
// running processes, and costs each store a connection.
//
// # Connections
//
// A Store holds a pgxpool pool for reads (its size is set in the
// connection string, as pool_max_conns), one connection for its writer and
// one for LISTEN. It does not work through a pooler in transaction mode,
// which cannot carry LISTEN. It turns JIT compilation off on its own
// connections, unless the connection string sets jit: its statements are
// short, and PostgreSQL's estimates for tables not yet analysed once made
// it compile each page read, at a hundred times the cost of the read. Its
// connections' transactions are READ COMMITTED, whatever the connection
// string, the database or the role sets for a default: the store's writes
// rest on it (a statement that waited for a lock reads the rows committed
// meanwhile), and View asks for REPEATABLE READ by name.
package postgres

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/internal/catchup"
	"github.com/chronicle-es/chronicle/internal/closing"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
)

var _ chronicle.Store = (*Store)(nil)

// Defaults for [Options].
const (
	DefaultSchema       = "chronicle"
	DefaultPollInterval = time.Second
	DefaultMaxBatch     = 512
)

// Options configures a [Store]. A nil *Options gives the defaults.
type Options struct {
	// Schema is the PostgreSQL schema that holds the store's tables; it is
	// created if it does not exist. Any name PostgreSQL accepts will do,
	// but "$user", which a search path takes for the current role's
	// schema: it is quoted, so "Events" and "events" are different
	// schemas. Empty means [DefaultSchema].
	Schema string

	// MaxEventSize limits each event's data and metadata, in bytes. Zero
	// means [chronicle.DefaultMaxEventSize].
	MaxEventSize int

	// PollInterval is how often an idle subscriber reads the table when no
	// notification came: the longest a subscriber lags behind a commit
	// whose notification was lost, such as while the LISTEN connection
	// reconnects. Zero means [DefaultPollInterval].
	PollInterval time.Duration

	// MaxBatch is the most appends committed in one transaction. Zero
	// means [DefaultMaxBatch].
	MaxBatch int
}

func (o *Options) withDefaults() Options {
	var out Options
	if o != nil {
		out = *o
	}
	if out.Schema == "" {
		out.Schema = DefaultSchema
	}
	if out.PollInterval <= 0 {
		out.PollInterval = DefaultPollInterval
	}
	if out.MaxBatch <= 0 {
		out.MaxBatch = DefaultMaxBatch
	}
	return out
}

// Store is the PostgreSQL event store. It is safe for concurrent use, and
// must be closed with [Store.Close]. Several Stores, in one process or
// many, may use the same schema at once.
type Store struct {
	opts    Options
	channel string // the NOTIFY channel of the schema
	sql     queries

	pool    *pgxpool.Pool // reads and subscriptions
	db      *sql.DB       // over pool, for Update and View
	updates chan struct{} // held by the Update under way in this process
	w       *writer
	changed catchup.Notifier

	stopListen context.CancelFunc
	listenDone chan struct{}

	closeOnce sync.Once
	closed    atomic.Bool // set as Close starts, for closedErr
}

// closedErr returns err, made to match [chronicle.ErrClosed] once the
// store is closing (see [closing.Err]): the pool's own errors say only
// that it is closed.
func (s *Store) closedErr(ctx context.Context, err error) error {
	return closing.Err(ctx, s.closed.Load(), upgraded(err))
}

// schemaVersion is the version of the newest migration.
const schemaVersion = 4

//go:embed migrations/*.sql
var migrations embed.FS

// migrateLockClass is the first key of the advisory lock that migrations
// take; the second is hashtext of the schema name. It spells "chro", so
// that it is unlikely to collide with another application's locks.
const migrateLockClass = 0x6368726f

// Open connects to the database that connString names (a URL such as
// postgres://user@host:5432/db?sslmode=disable, or key=value pairs, as
// pgx takes them), creates the store's schema when it does not exist and
// brings an older one up to date. opts may be nil.
//
// Open fails if the server cannot be reached, rather than retrying.
func Open(ctx context.Context, connString string, opts *Options) (*Store, error) {
	o := opts.withDefaults()
	if err := validateSchema(o.Schema); err != nil {
		return nil, fmt.Errorf("open postgres store: %w", err)
	}
	cfg, err := pgxpool.ParseConfig(connString)
	if err != nil {
		// pgx's message may quote the connection string, password and all.
		return nil, errors.New("open postgres store: cannot parse the connection string")
	}
	// See "Connections" in the package doc.
	if _, set := cfg.ConnConfig.RuntimeParams["jit"]; !set {
		cfg.ConnConfig.RuntimeParams["jit"] = "off"
	}
	cfg.ConnConfig.RuntimeParams["default_transaction_isolation"] = "read committed"
	s := &Store{opts: o, channel: channelName(o.Schema), sql: newQueries(o.Schema), updates: make(chan struct{}, 1)}
	if err := s.open(ctx, cfg); err != nil {
		return nil, fmt.Errorf("open postgres store (schema %q): %w", o.Schema, err)
	}
	return s, nil
}

// open connects, migrates, and starts the writer and the listener. On
// error it closes whatever it opened.
func (s *Store) open(ctx context.Context, cfg *pgxpool.Config) (err error) {
	var closers []func()
	defer func() {
		if err != nil {
			for i := len(closers) - 1; i >= 0; i-- {
				closers[i]()
			}
		}
	}()
	if s.pool, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
		return err
	}
	closers = append(closers, s.pool.Close)
	if err := s.migrate(ctx); err != nil {
		return err
	}

	// The writer has a pool of its own, of one connection, so that readers
	// never keep it waiting for a connection; the pool replaces the
	// connection if it breaks.
	wcfg := cfg.Copy()
	wcfg.MinConns, wcfg.MaxConns = 0, 1
	wpool, err := pgxpool.NewWithConfig(ctx, wcfg)
	if err != nil {
		return err
	}
	closers = append(closers, wpool.Close)

	listener, err := s.connectListener(ctx, cfg.ConnConfig)
	if err != nil {
		return err
	}
	lctx, cancel := context.WithCancel(context.Background())
	s.stopListen, s.listenDone = cancel, make(chan struct{})
	go s.listen(lctx, cfg.ConnConfig, listener)
	closers = append(closers, func() { cancel(); <-s.listenDone })

	// database/sql borrows the pool's connections for Update and View,
	// and gives them back after each transaction.
	s.db = stdlib.OpenDBFromPool(s.pool)

	s.w = newWriter(s, wpool)
	return nil
}

// validateSchema refuses names that PostgreSQL would change: it truncates
// identifiers to 63 bytes, so two long names could share one schema; and
// a search path, which the migrations and Update set to the store's
// schema, takes "$user", quoted or not, for the schema of the current
// role's name.
func validateSchema(name string) error {
	switch {
	case name == "$user":
		return errors.New(`schema name "$user" stands for the current role's schema in a search path, where the store puts its schema: choose another name`)
	case len(name) > 63:
		return fmt.Errorf("schema name %.20q... is %d bytes long; PostgreSQL keeps only 63", name, len(name))
	case !utf8.ValidString(name) || strings.ContainsRune(name, 0):
		return fmt.Errorf("schema name %q is not valid UTF-8 without NUL", name)
	}
	return nil
}

// channelName returns the NOTIFY channel of a schema. Channels are
// identifiers, limited to 63 bytes like the schema name, so a long name
// is shortened with a hash; channels are per database, like schemas.
func channelName(schema string) string {
	const prefix = "chronicle:"
	if len(prefix)+len(schema) <= 63 {
		return prefix + schema
	}
	var h uint64 = 14695981039346656037 // FNV-1a
	for i := 0; i < len(schema); i++ {
		h = (h ^ uint64(schema[i])) * 1099511628211
	}
	// Keep at most 36 bytes of the name (not runes, which %.36s counts),
	// cut at a rune boundary, so that the channel fits in 63 bytes.
	keep := schema[:36]
	for !utf8.ValidString(keep) {
		keep = keep[:len(keep)-1]
	}
	return fmt.Sprintf("%s%s~%016x", prefix, keep, h)
}

// migrate brings the schema to schemaVersion. A schema already up to date
// costs one query and takes no lock; otherwise the work happens in one
// transaction under an advisory lock, so that processes opening a new
// schema at once migrate it once, and a failed migration leaves nothing
// behind.
func (s *Store) migrate(ctx context.Context) (err error) {
	version, err := s.schemaVersion(ctx, s.pool)
	if err != nil {
		return err
	}
	if version == schemaVersion {
		return nil
	}
	if version > schemaVersion {
		return newerSchema(version)
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer conn.Release()
	tx, err := conn.Begin(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer func() {
		if err != nil {
			tx.Rollback(context.Background())
		}
	}()
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1, hashtext($2))", migrateLockClass, s.opts.Schema); err != nil {
		return fmt.Errorf("migrate: take the migration lock: %w", err)
	}
	var encoding string
	if err := tx.QueryRow(ctx, "SHOW server_encoding").Scan(&encoding); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if encoding != "UTF8" && encoding != "SQL_ASCII" {
		return fmt.Errorf("migrate: the database's encoding is %s: stream names and event types need UTF8", encoding)
	}
	schema := pgx.Identifier{s.opts.Schema}.Sanitize()
	for _, stmt := range []string{
		"CREATE SCHEMA IF NOT EXISTS " + schema,
		// Only this transaction sees the search path, so the scripts need
		// not name the schema.
		"SET LOCAL search_path TO " + schema,
		"CREATE TABLE IF NOT EXISTS schema_version (singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton), version integer NOT NULL)",
	} {
		if _, err := tx.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
	}
	// Read again under the lock: another process may have migrated while
	// this one waited.
	if version, err = s.schemaVersion(ctx, tx); err != nil {
		return err
	}
	if version > schemaVersion {
		return newerSchema(version)
	}
	if version > 0 && version != schemaVersion {
		// Wait for the store's writes under way in every process, and
		// make those that come after wait for the new version: each reads
		// the head row first (see "Schema" in the package doc). It is the
		// first of the store's tables that they lock, so that none holds
		// another that the scripts need while it waits for this lock.
		if _, err := tx.Exec(ctx, "LOCK TABLE "+s.sql.table("head")+" IN ACCESS EXCLUSIVE MODE"); err != nil {
			return fmt.Errorf("migrate: lock head: %w", err)
		}
	}
	for v := version + 1; v <= schemaVersion; v++ {
		script, err := migrations.ReadFile(fmt.Sprintf("migrations/%d.sql", v))
		if err != nil {
			return fmt.Errorf("migrate to version %d: %w", v, err)
		}
		if _, err := tx.Exec(ctx, string(script)); err != nil {
			return fmt.Errorf("migrate to version %d: %w", v, err)
		}
	}
	if version != schemaVersion {
		if err := s.recordVersion(ctx, tx, schemaVersion); err != nil {
			return fmt.Errorf("migrate: set version: %w", err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("migrate: commit: %w", err)
	}
	return nil
}

// recordVersion records version as the schema's, the last step of a
// migration: in schema_version, which Open reads, and in the head row,
// which the writes of the processes already running read (see
// migrations/4.sql).
func (s *Store) recordVersion(ctx context.Context, tx pgx.Tx, version int) error {
	for _, q := range []string{
		"INSERT INTO " + s.sql.table("schema_version") + " (version) VALUES ($1) ON CONFLICT (singleton) DO UPDATE SET version = excluded.version",
		"UPDATE " + s.sql.table("head") + " SET schema_version = $1, written_by = $1",
	} {
		if _, err := tx.Exec(ctx, q, version); err != nil {
			return err
		}
	}
	return nil
}

// checkVersion fails if the head row says that the schema is at another
// version than this code's: a newer Chronicle has migrated it since the
// store opened it. The head row's trigger refuses the writes that update
// the row in the same words.
func (s *Store) checkVersion(version int32) error {
	if version == schemaVersion {
		return nil
	}
	return fmt.Errorf("%w: schema %q was migrated to version %d after this process opened it (this one knows version %d): restart this process with the newer Chronicle", chronicle.ErrSchemaUpgraded, s.opts.Schema, version, schemaVersion)
}

// upgraded makes err match [chronicle.ErrSchemaUpgraded] when it is the
// head row's refusal of a write by code older than the schema (SQLSTATE
// CH001, see migration 4), which pgx returns as a plain server error.
func upgraded(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "CH001" {
		return fmt.Errorf("%w: %w", chronicle.ErrSchemaUpgraded, err)
	}
	return err
}

func newerSchema(version int) error {
	return fmt.Errorf("%w: schema version %d is newer than this build knows (%d): upgrade Chronicle", chronicle.ErrSchemaUpgraded, version, schemaVersion)
}

// schemaVersion reads the schema's version: 0 when it has no
// schema_version table yet.
func (s *Store) schemaVersion(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}) (int, error) {
	var exists bool
	if err := q.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", s.sql.table("schema_version")).Scan(&exists); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	if !exists {
		return 0, nil
	}
	var version int
	err := q.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM "+s.sql.table("schema_version")).Scan(&version)
	if err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return version, nil
}

// Schema returns the name of the PostgreSQL schema that holds the store.
func (s *Store) Schema() string { return s.opts.Schema }

// Close waits for the appends under way, then closes the store's
// connections. Every call after Close fails with an error matching
// [chronicle.ErrClosed], and running subscriptions end with one; only
// bad input (an invalid stream name, event, filter or metadata) is
// refused as such first, as before Close. Close may be called more than
// once. It returns nil: closing a connection cannot fail in a way that
// the caller could act on.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		s.w.close()
		s.stopListen()
		<-s.listenDone
		s.db.Close()
		s.pool.Close()
		// Wake the subscribers that wait for events: their next read
		// fails with ErrClosed, rather than at their next poll.
		s.changed.Notify()
	})
	return nil
}
