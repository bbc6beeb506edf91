package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/chronicle-es/chronicle/internal/rawread"
	"github.com/chronicle-es/chronicle/sqlite"
	"github.com/chronicle-es/chronicle/storetest"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	_ "modernc.org/sqlite" // the driver the sqlite store uses
)

// The baselines: what the disk, SQLite and PostgreSQL do with no
// Chronicle code in the way, measured in the same run as the store.

// sqliteDSN names a SQLite file for modernc.org/sqlite with pragmas set
// on every connection, as package sqlite does.
func sqliteDSN(path string, pragmas ...string) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	for _, p := range pragmas {
		q.Add("_pragma", p)
	}
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
}

// durablePragmas are those of the sqlite store's write connection in its
// default, durable mode (see sqlite.Open).
var durablePragmas = []string{"auto_vacuum(INCREMENTAL)", "journal_mode(WAL)", "synchronous(FULL)", "foreign_keys(ON)"}

// relaxedPragmas are those of its write connection with relaxed
// durability (--relaxed): no fsync per commit.
var relaxedPragmas = []string{"auto_vacuum(INCREMENTAL)", "journal_mode(WAL)", "synchronous(NORMAL)", "foreign_keys(ON)"}

// fsyncRate measures small write+fsync pairs in dir for d: the physical
// limit of one-at-a-time durable commits on that disk.
func fsyncRate(dir string, d time.Duration) (*Baseline, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(dir, "fsync-*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	buf := storetest.Payload(256)
	var lat []time.Duration
	start := time.Now()
	for time.Since(start) < d {
		t0 := time.Now()
		if _, err := f.Write(buf); err != nil {
			return nil, err
		}
		if err := f.Sync(); err != nil {
			return nil, err
		}
		lat = append(lat, time.Since(t0))
	}
	return &Baseline{Name: "fsync", Value: float64(len(lat)) / time.Since(start).Seconds(), Unit: "fsyncs/s",
		Latency: summarise(lat), Note: "256-byte write + fsync, in " + dir}, nil
}

// rawSQLiteInsert inserts 256-byte rows into a bare table in a new file
// in dir, through the sqlite store's driver and durable pragmas, rows to
// a transaction, for d: the engine's own limit for durable appends. With
// relaxed, it uses the pragmas of the store's relaxed durability instead,
// as a relaxed run's store does, and its name says so.
func rawSQLiteInsert(ctx context.Context, dir string, rows int, relaxed bool, d time.Duration) (*Baseline, error) {
	pragmas, mode, label := durablePragmas, "durable", ""
	if relaxed {
		pragmas, mode, label = relaxedPragmas, "relaxed", ", relaxed (synchronous=NORMAL)"
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	file := filepath.Join(dir, fmt.Sprintf("raw-insert-%d.db", rows))
	if err := removeSQLite(file); err != nil {
		return nil, err
	}
	defer removeSQLite(file)
	db, err := sql.Open("sqlite", sqliteDSN(file, pragmas...))
	if err != nil {
		return nil, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, "CREATE TABLE t (id INTEGER PRIMARY KEY, data BLOB NOT NULL)"); err != nil {
		return nil, err
	}
	// A prepared statement, as the store's writer uses: the raw figure is
	// the best the engine does.
	insert, err := db.PrepareContext(ctx, "INSERT INTO t (data) VALUES (?)")
	if err != nil {
		return nil, err
	}
	defer insert.Close()
	data := storetest.Payload(256)
	var lat []time.Duration
	start := time.Now()
	// The calls get a context that cannot end, as the store's own SQL
	// does: the driver watches one that can with a goroutine per call,
	// which would slow the baseline, not the engine. Ctrl-C still ends the
	// loop between commits.
	sqlCtx := context.WithoutCancel(ctx)
	for time.Since(start) < d && ctx.Err() == nil {
		t0 := time.Now()
		tx, err := db.BeginTx(sqlCtx, nil)
		if err != nil {
			return nil, err
		}
		stmt := tx.StmtContext(sqlCtx, insert)
		for range rows {
			if _, err := stmt.ExecContext(sqlCtx, data); err != nil {
				tx.Rollback()
				return nil, err
			}
		}
		if err := tx.Commit(); err != nil {
			return nil, err
		}
		lat = append(lat, time.Since(t0))
	}
	if err := ctx.Err(); err != nil {
		return nil, err // interrupted: no figure
	}
	elapsed := time.Since(start).Seconds()
	return &Baseline{Name: fmt.Sprintf("raw SQLite insert%s, %d row/txn", label, rows), Value: float64(len(lat)*rows) / elapsed, Unit: "rows/s",
		Latency: summarise(lat), Note: fmt.Sprintf("%s commits/s; same driver and pragmas as the store's %s mode", num(float64(len(lat))/elapsed), mode)}, nil
}

// schemaRows is what a raw insert into the store's schema writes.
type schemaRows int

const (
	// appendRows are APPEND's: 256-byte events spread over its 1,000
	// streams in turn, each at its next revision.
	appendRows schemaRows = iota
	// appendRowsNoIndexes are the same, into the events table with its
	// indexes dropped.
	appendRowsNoIndexes
	// gameRows are C4-PAR's: each row is the next event of one of the
	// games in play (as many as the rows of a transaction), named as the
	// Connect Four example names them (random UUIDs), with its events'
	// sizes; a game ends after gameEvents events and a new one takes
	// its place.
	gameRows
)

// gameEvents is the length of a game in gameRows: C4-SEQ's and C4-PAR's
// games average 22-23 events (GameStarted, then the moves).
const gameEvents = 23

// rawSchemaInsert is rawSQLiteInsert into the sqlite store's own events
// table, with its indexes, created by the store itself: rows events to a
// transaction, from what, with fresh UUIDv7 IDs, for d; or, when total
// is not 0, total events into a new file, again and again until d has
// passed, so that the index grows no further than a workload of total
// events makes it. It is what SQLite costs for the store's schema with
// no Chronicle code running: the difference from the bare table is the
// price of the indexes that reading a stream and recognising a retried
// append need, and of numbering each stream when its first event comes
// (gameRows pays that once a game; appendRows' streams are numbered
// before the clock starts). Without indexes, it is the events table alone: a row per
// event that carries the event's stream, revision, ID, type and time
// besides its data, and no index that a read of a stream could use. With
// gameRows, it is the most events per second that SQLite's single writer
// commits for C4-PAR in this schema, a row at a time through this driver
// and these pragmas, each commit holding one event of every game in
// play: a store also runs the games, on the same cores. With one game in
// play, it is C4-SEQ's commit.
func rawSchemaInsert(ctx context.Context, dir string, rows int, what schemaRows, total int, d time.Duration) (*Baseline, error) {
	name := fmt.Sprintf("raw SQLite insert into the store's schema, %d row/txn", rows)
	note := "the store's events and streams tables and their indexes, 1,000 streams"
	switch what {
	case appendRowsNoIndexes:
		name, note = fmt.Sprintf("raw SQLite insert into the store's events table without indexes, %d row/txn", rows), "the store's events table without its indexes, 1,000 streams"
	case gameRows:
		name = fmt.Sprintf("raw SQLite insert of Connect Four's events into the store's schema, %d games in play, one event of each per txn", rows)
		if rows == 1 {
			name = "raw SQLite insert of Connect Four's events into the store's schema, one game at a time, 1 row/txn"
		}
		note = fmt.Sprintf("Connect Four's events (game-UUIDv4 streams, %d events each, %d-byte data) into the store's events and streams tables and their indexes", gameEvents, len(moveData))
	}
	if total > 0 {
		note += fmt.Sprintf(", %s events to a new file", num(float64(total)))
	}
	var (
		lat      []time.Duration
		inserted int64
		busy     time.Duration // inserting, files' creation left out
		cpu      time.Duration // the process's CPU time while inserting
	)
	for first := true; first || total > 0 && busy < d; first = false {
		n, l, took, used, err := rawSchemaRound(ctx, dir, rows, what, total, d)
		if err != nil {
			return nil, err
		}
		inserted, busy, cpu, lat = inserted+n, busy+took, cpu+used, append(lat, l...)
	}
	secs := busy.Seconds()
	b := &Baseline{Name: name, Value: float64(inserted) / secs, Unit: "rows/s",
		Latency: summarise(lat), Note: fmt.Sprintf("%s commits/s; %s, no Chronicle code", num(float64(len(lat))/secs), note)}
	if cpu > 0 && inserted > 0 {
		b.CPUPerRow = float64(cpu.Microseconds()) / float64(inserted)
		b.Note += fmt.Sprintf("; the process used %.1f us of CPU per row", b.CPUPerRow)
	}
	return b, nil
}

// rawSchemaRound is one file of rawSchemaInsert: it returns the events it
// inserted, each commit's latency, the time the inserts took, and the
// process's CPU time meanwhile (0 where it cannot tell).
func rawSchemaRound(ctx context.Context, dir string, rows int, what schemaRows, total int, d time.Duration) (int64, []time.Duration, time.Duration, time.Duration, error) {
	file := filepath.Join(dir, fmt.Sprintf("raw-schema-%d-%d.db", rows, what))
	if err := removeSQLite(file); err != nil {
		return 0, nil, 0, 0, err
	}
	defer removeSQLite(file)
	s, err := sqlite.Open(ctx, file, nil)
	if err != nil {
		return 0, nil, 0, 0, err
	}
	if err := s.Close(); err != nil {
		return 0, nil, 0, 0, err
	}
	db, err := sql.Open("sqlite", sqliteDSN(file, durablePragmas...))
	if err != nil {
		return 0, nil, 0, 0, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	var (
		streams []string
		typ     = "Benchmarked"
		data    = storetest.Payload(256)
	)
	switch what {
	case appendRowsNoIndexes:
		if _, err := db.ExecContext(ctx, "DROP INDEX events_stream_revision; DROP INDEX events_id"); err != nil {
			return 0, nil, 0, 0, err
		}
		fallthrough
	case appendRows:
		streams = make([]string, appendStreams)
		for i := range streams {
			streams[i] = fmt.Sprintf("bench-%d", i)
		}
	case gameRows:
		typ, data = "MoveMade", moveData
		streams = make([]string, rows)
		for i := range streams {
			streams[i] = "game-" + uuid.NewString()
		}
	}
	// Each stream gets its number, as the store numbers them: appendRows'
	// here, gameRows' as each game starts.
	insertStream, err := db.PrepareContext(ctx, "INSERT INTO stream_ids (name) VALUES (?)")
	if err != nil {
		return 0, nil, 0, 0, err
	}
	defer insertStream.Close()
	ids := make([]int64, len(streams))
	setup, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, nil, 0, 0, err
	}
	for i, name := range streams {
		if ids[i], err = numberStream(ctx, setup, insertStream, name); err != nil {
			setup.Rollback()
			return 0, nil, 0, 0, err
		}
	}
	if err := setup.Commit(); err != nil {
		return 0, nil, 0, 0, err
	}
	revs := make([]int64, len(streams))
	if what == gameRows {
		// Games in play start and end at different times, as C4-PAR's do.
		for i := range revs {
			revs[i] = int64(i % gameEvents)
		}
	}
	insert, err := db.PrepareContext(ctx, "INSERT INTO events (position, stream, stream_id, revision, id, type, data, metadata, recorded) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
	if err != nil {
		return 0, nil, 0, 0, err
	}
	defer insert.Close()
	var lat []time.Duration
	pos, next := int64(0), 0
	start, cpu0 := time.Now(), cpuTime()
	sqlCtx := context.WithoutCancel(ctx) // see rawSQLiteInsert
	for (total > 0 && pos < int64(total) || total == 0 && time.Since(start) < d) && ctx.Err() == nil {
		t0 := time.Now()
		tx, err := db.BeginTx(sqlCtx, nil)
		if err != nil {
			return 0, nil, 0, 0, err
		}
		stmt := tx.StmtContext(sqlCtx, insert)
		now := time.Now().UnixMicro()
		for range rows {
			id, err := uuid.NewV7()
			if err != nil {
				tx.Rollback()
				return 0, nil, 0, 0, err
			}
			pos++
			if _, err := stmt.ExecContext(sqlCtx, pos, streams[next], ids[next], revs[next], id[:], typ, data, nil, now); err != nil {
				tx.Rollback()
				return 0, nil, 0, 0, err
			}
			revs[next]++
			if what == gameRows && revs[next] == gameEvents {
				streams[next], revs[next] = "game-"+uuid.NewString(), 0
				if ids[next], err = numberStream(sqlCtx, tx, insertStream, streams[next]); err != nil {
					tx.Rollback()
					return 0, nil, 0, 0, err
				}
			}
			next = (next + 1) % len(streams)
		}
		if err := tx.Commit(); err != nil {
			return 0, nil, 0, 0, err
		}
		lat = append(lat, time.Since(t0))
	}
	if err := ctx.Err(); err != nil {
		return 0, nil, 0, 0, err // interrupted: no figure
	}
	took := time.Since(start)
	var cpu time.Duration
	if cpu0 > 0 {
		cpu = cpuTime() - cpu0
	}
	return pos, lat, took, cpu, nil
}

// numberStream gives stream its number in stream_ids, inside tx, with
// insert, as the store does when a stream gets its first event.
func numberStream(ctx context.Context, tx *sql.Tx, insert *sql.Stmt, stream string) (int64, error) {
	res, err := tx.StmtContext(ctx, insert).ExecContext(ctx, stream)
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

// moveData is a MoveMade event's data as the Connect Four example
// encodes it.
var moveData = []byte(`{"player":"yellow","column":"G"}`)

// rawPostgresInsert inserts 256-byte rows into a bare table with a
// bigserial key, rows to a statement and a commit (a multi-row INSERT of
// an unnested array, as the postgres store's), from writers connections,
// for d: the server's limit for durable appends.
func rawPostgresInsert(ctx context.Context, t target, writers, rows int, d time.Duration) (*Baseline, error) {
	const schema = "chronicle_bench_raw"
	if err := t.dropSchema(ctx, schema); err != nil {
		return nil, err
	}
	defer t.dropSchema(context.Background(), schema)
	cfg, err := pgxpool.ParseConfig(t.pgURL())
	if err != nil {
		return nil, err
	}
	cfg.MaxConns = int32(writers)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	table := pgx.Identifier{schema, "raw"}.Sanitize()
	for _, stmt := range []string{
		"CREATE SCHEMA " + pgx.Identifier{schema}.Sanitize(),
		"CREATE TABLE " + table + " (id bigserial PRIMARY KEY, data bytea NOT NULL)",
	} {
		if _, err := pool.Exec(ctx, stmt); err != nil {
			return nil, err
		}
	}
	data := storetest.Payload(256)
	batch := make([][]byte, rows)
	for i := range batch {
		batch[i] = data
	}
	one := "INSERT INTO " + table + " (data) VALUES ($1)"
	many := "INSERT INTO " + table + " (data) SELECT unnest($1::bytea[])"
	var mu sync.Mutex
	var lat []time.Duration
	var firstErr error
	var wg sync.WaitGroup
	start := time.Now()
	for range writers {
		wg.Go(func() {
			var mine []time.Duration
			for time.Since(start) < d {
				t0 := time.Now()
				var err error
				if rows == 1 {
					_, err = pool.Exec(ctx, one, data)
				} else {
					_, err = pool.Exec(ctx, many, batch)
				}
				if err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
					return
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	elapsed := time.Since(start).Seconds()
	return &Baseline{Name: fmt.Sprintf("raw PostgreSQL insert, %d writers, %d row/txn", writers, rows), Value: float64(len(lat)*rows) / elapsed,
		Unit: "rows/s", Latency: summarise(lat), Note: fmt.Sprintf("%s commits/s", num(float64(len(lat))/elapsed))}, nil
}

// rawReader reads a store's events table directly, scanning the same
// columns into the same Go types as the store does, without Chronicle's
// code: the engine's limit for a read.
type rawReader interface {
	all(ctx context.Context) (int, error)
	stream(ctx context.Context, name string) (int, error)
	close()
}

// openRaw returns the raw reader of a store's table, or nil for a store
// without one (the memory store).
func openRaw(ctx context.Context, t target, o *opened) (rawReader, error) {
	switch {
	case o.file != "":
		db, err := sql.Open("sqlite", sqliteDSN(o.file, "query_only(1)"))
		if err != nil {
			return nil, err
		}
		// Two connections, for allSplit; the other reads use one.
		db.SetMaxOpenConns(2)
		return rawSQLite{db}, nil
	case o.schema != "":
		return openRawPostgres(ctx, t, o.schema)
	}
	return nil, nil
}

type rawSQLite struct{ db *sql.DB }

const rawColumns = "position, stream, revision, id, type, data, metadata, recorded"

func (r rawSQLite) all(ctx context.Context) (int, error) {
	return r.scan(ctx, "SELECT "+rawColumns+" FROM events ORDER BY position")
}

func (r rawSQLite) stream(ctx context.Context, name string) (int, error) {
	return r.scan(ctx, "SELECT "+rawColumns+" FROM events WHERE stream_id = (SELECT id FROM stream_ids WHERE name = ?) ORDER BY revision", name)
}

// scan reads the rows of query as the store does: the driver's own rows,
// with none of the store's conversions into an event.
func (r rawSQLite) scan(ctx context.Context, query string, args ...any) (int, error) {
	return rawread.Driver(ctx, r.db, query, args...)
}

// allScan reads the whole log through database/sql's Scan, into the Go
// types an event has: what a program of raw SQL would write. The store
// skips Scan; this shows what that is worth.
func (r rawSQLite) allScan(ctx context.Context) (int, error) {
	return rawread.Scan(ctx, r.db, "SELECT "+rawColumns+" FROM events ORDER BY position")
}

// allSplit reads the whole log as two raw SELECTs at once, one per half
// of its positions, each on a connection of its own: what the engine
// gives two readers, as the store's ReadAll has (catchup.Readers).
func (r rawSQLite) allSplit(ctx context.Context) (int, error) {
	var head int64
	if err := r.db.QueryRowContext(ctx, "SELECT coalesce(max(position), 0) FROM events").Scan(&head); err != nil {
		return 0, err
	}
	half := head / 2
	query := "SELECT " + rawColumns + " FROM events WHERE position BETWEEN ? AND ? ORDER BY position"
	var wg sync.WaitGroup
	var n [2]int
	var errs [2]error
	for i, bounds := range [2][2]int64{{1, half}, {half + 1, head}} {
		wg.Go(func() { n[i], errs[i] = rawread.Driver(ctx, r.db, query, bounds[0], bounds[1]) })
	}
	wg.Wait()
	return n[0] + n[1], errors.Join(errs[:]...)
}

func (r rawSQLite) close() { r.db.Close() }

// rawPostgres reads a postgres store's events table with pgx.
type rawPostgres struct {
	conn  *pgx.Conn
	table string
}

func openRawPostgres(ctx context.Context, t target, schema string) (rawReader, error) {
	conn, err := pgx.Connect(ctx, t.pgURL())
	if err != nil {
		return nil, err
	}
	return rawPostgres{conn: conn, table: pgx.Identifier{schema, "events"}.Sanitize()}, nil
}

func (r rawPostgres) all(ctx context.Context) (int, error) {
	return r.scan(ctx, "SELECT "+rawColumns+" FROM "+r.table+" ORDER BY position")
}

func (r rawPostgres) stream(ctx context.Context, name string) (int, error) {
	return r.scan(ctx, "SELECT "+rawColumns+" FROM "+r.table+" WHERE stream = $1 ORDER BY revision", name)
}

func (r rawPostgres) scan(ctx context.Context, query string, args ...any) (int, error) {
	rows, err := r.conn.Query(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var (
			pos, rev    int64
			stream, typ string
			id          [16]byte
			data, md    []byte
			recorded    time.Time
		)
		if err := rows.Scan(&pos, &stream, &rev, &id, &typ, &data, &md, &recorded); err != nil {
			return n, err
		}
		n++
	}
	return n, rows.Err()
}

func (r rawPostgres) close() { r.conn.Close(context.Background()) }
