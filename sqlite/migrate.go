package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/chronicle-es/chronicle"
)

// schemaVersion is the version of the newest migration; it is kept in
// the file's user_version.
const schemaVersion = 7

//go:embed migrations/*.sql
var migrations embed.FS

// migrate brings the schema to schemaVersion. It holds the write lock
// throughout, so that processes opening a new file at once migrate it
// once. conn waits for the lock lockWait at a time; migrate waits up to
// busy in all (see waitForLock).
func migrate(ctx context.Context, conn *sql.Conn, busy time.Duration) (err error) {
	err = waitForLock(ctx, busy, func() error {
		_, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE")
		return err
	})
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer func() {
		if err != nil {
			conn.ExecContext(context.Background(), "ROLLBACK")
			return
		}
		if _, err = conn.ExecContext(ctx, "COMMIT"); err != nil {
			err = fmt.Errorf("migrate: commit: %w", err)
		}
	}()
	var version, events int
	if err := conn.QueryRowContext(ctx, "SELECT (SELECT user_version FROM pragma_user_version), (SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'events')").
		Scan(&version, &events); err != nil {
		return fmt.Errorf("migrate: read version: %w", err)
	}
	// Migration 1 creates events and sets the version in one transaction:
	// a file with the one but not the other is another program's, whose
	// migrations would fail with SQL errors, and whose version, should it
	// be above schemaVersion, no newer Chronicle set.
	if version == 0 && events != 0 {
		return fmt.Errorf("%s: it has a table named events, but no schema version (user_version 0); %s", notAStore, notAStoreAdvice)
	}
	if version != 0 && events == 0 {
		return fmt.Errorf("%s: its user_version is %d, but it has no table named events; %s", notAStore, version, notAStoreAdvice)
	}
	if version > schemaVersion {
		return fmt.Errorf("%w: schema version %d is newer than this build knows (%d): upgrade Chronicle", chronicle.ErrSchemaUpgraded, version, schemaVersion)
	}
	var broken map[string]bool // the application's schema, before
	if version != schemaVersion {
		if broken, err = brokenOwnSchema(ctx, conn); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
	}
	for v := version + 1; v <= schemaVersion; v++ {
		if err := migrateTo(ctx, conn, v); err != nil {
			return fmt.Errorf("migrate to version %d: %w", v, err)
		}
	}
	if version != schemaVersion {
		if err := checkOwnSchema(ctx, conn, broken); err != nil {
			return fmt.Errorf("migrate to version %d: the application's own tables, views or triggers fail with it, so the file is left at version %d: %w", schemaVersion, version, err)
		}
		if _, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", schemaVersion)); err != nil {
			return fmt.Errorf("migrate: set version: %w", err)
		}
	}
	return nil
}

// The words of Open's refusal of a file that no Chronicle wrote.
const (
	notAStore       = "the file is an SQLite database of another program, not a Chronicle store"
	notAStoreAdvice = "give the path of a store, or of a file that does not exist yet"
)

// migrateTo runs migration v, and the changes that SQL alone cannot make.
func migrateTo(ctx context.Context, conn *sql.Conn, v int) error {
	script, err := migrations.ReadFile(fmt.Sprintf("migrations/%d.sql", v))
	if err != nil {
		return err
	}
	if v == 6 {
		return numberStreams(ctx, conn, string(script))
	}
	if _, err := conn.ExecContext(ctx, string(script)); err != nil {
		return err
	}
	if v == 5 {
		return dropAutoincrement(ctx, conn)
	}
	return nil
}

// numberStreams runs migration 6, script, which rewrites every event to
// give it its stream's number: the triggers on events, the application's
// among them, are set aside meanwhile, so that none fires for a change
// that is not the application's (an "events are immutable" trigger would
// refuse it, an audit trigger would record it).
func numberStreams(ctx context.Context, conn *sql.Conn, script string) error {
	var taken int
	if err := conn.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema WHERE name = 'stream_ids' COLLATE NOCASE").Scan(&taken); err != nil {
		return err
	}
	if taken > 0 {
		return errors.New("the file has a table, view, index or trigger named stream_ids, a name that the store now needs: rename it")
	}
	type trigger struct{ name, sql string }
	var triggers []trigger
	rows, err := conn.QueryContext(ctx, "SELECT name, sql FROM sqlite_schema WHERE type = 'trigger' AND tbl_name = 'events' COLLATE NOCASE ORDER BY rowid")
	if err != nil {
		return err
	}
	for rows.Next() {
		var t trigger
		if err := rows.Scan(&t.name, &t.sql); err != nil {
			rows.Close()
			return err
		}
		triggers = append(triggers, t)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return err
	}
	for _, t := range triggers {
		if _, err := conn.ExecContext(ctx, "DROP TRIGGER "+quoteName(t.name)); err != nil {
			return fmt.Errorf("set trigger %s aside: %w", t.name, err)
		}
	}
	if _, err := conn.ExecContext(ctx, script); err != nil {
		return err
	}
	for _, t := range triggers {
		if _, err := conn.ExecContext(ctx, t.sql); err != nil {
			return fmt.Errorf("restore trigger %s: %w", t.name, err)
		}
	}
	return editEvents(ctx, conn, "stream_id INTEGER", "stream_id INTEGER NOT NULL")
}

// checkOwnSchema fails if the tables, views and triggers that an
// application keeps in the file work no longer with the store's schema,
// as the migrations have left it, though they did before (broken, from
// brokenOwnSchema, holds what failed before). A foreign key whose parent
// key lost its unique index, a view that lists fewer columns than its
// SELECT * now returns, a trigger on events that copies its rows by
// SELECT * into a table with a column fewer: each fails only when it is
// used, which would be by the application's next write or read, a
// scavenge, or the store's next append.
func checkOwnSchema(ctx context.Context, conn *sql.Conn, broken map[string]bool) error {
	checks, err := ownSchemaChecks(ctx, conn)
	if err != nil {
		return err
	}
	for _, q := range checks {
		if err := runCheck(ctx, conn, q); err != nil && !broken[q] {
			return err
		}
	}
	// The writer's INSERT, which triggers on events must accept too, names
	// the columns of the newest schema: it has no "before".
	stmt, err := conn.PrepareContext(ctx, insertEventSQL)
	if err != nil {
		return err
	}
	return stmt.Close()
}

// brokenOwnSchema returns the checks of ownSchemaChecks that fail: those
// that an application's schema failed before a migration are not the
// migration's to refuse.
func brokenOwnSchema(ctx context.Context, conn *sql.Conn) (map[string]bool, error) {
	checks, err := ownSchemaChecks(ctx, conn)
	if err != nil {
		return nil, err
	}
	broken := make(map[string]bool)
	for _, q := range checks {
		if runCheck(ctx, conn, q) != nil {
			broken[q] = true
		}
	}
	return broken, nil
}

// ownSchemaChecks are statements whose preparation fails if the schema's
// tables, views or triggers do not fit together: the foreign keys of
// each table, a SELECT of each view, and a deletion of events (which
// compiles the triggers it would fire). None is run.
func ownSchemaChecks(ctx context.Context, conn *sql.Conn) ([]string, error) {
	checks := []string{"DELETE FROM events WHERE position = -1"}
	rows, err := conn.QueryContext(ctx, `SELECT type, name FROM sqlite_schema WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite\_%' ESCAPE '\' ORDER BY rowid`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var typ, name string
		if err := rows.Scan(&typ, &name); err != nil {
			rows.Close()
			return nil, err
		}
		if typ == "table" {
			checks = append(checks, "PRAGMA foreign_key_check("+quoteName(name)+")")
		} else {
			checks = append(checks, "SELECT * FROM "+quoteName(name)+" LIMIT 0")
		}
	}
	return checks, errors.Join(rows.Err(), rows.Close())
}

// runCheck prepares a statement of ownSchemaChecks, which is enough to
// raise what they look for (a foreign key mismatch, a trigger or view
// that does not compile against the tables), and runs nothing: the
// checks must leave the file as they found it, and a foreign key check
// run would scan its whole table.
func runCheck(ctx context.Context, conn *sql.Conn, query string) error {
	stmt, err := conn.PrepareContext(ctx, query)
	if err != nil {
		return fmt.Errorf("%s: %w", query, err)
	}
	return stmt.Close()
}

// checkSchema fails if a newer version of Chronicle has migrated the file
// since this process opened it: the writer checks whenever another
// connection has committed, and Update in each of its transactions, so
// that neither writes to a schema it does not know.
func checkSchema(ctx context.Context, q queryRower) error {
	var version int
	if err := q.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if version != schemaVersion {
		return fmt.Errorf("%w: the file's schema is now version %d, this process knows version %d: another process upgraded it; restart this one with the newer Chronicle", chronicle.ErrSchemaUpgraded, version, schemaVersion)
	}
	return nil
}

// queryRower is a connection, a pool or a transaction, for checkSchema.
type queryRower interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// oldHeadMark is what sqlite_sequence says of events from version 5 on.
// Up to version 4 the writer read its head there; a process still
// running that code, which opened the file before a newer one migrated
// it, fails to read this as a number, so its appends fail with these
// words rather than number events from a head nobody updates any more.
const oldHeadMark = "the file was upgraded to schema version 5 by a newer Chronicle: restart this process with it"

// dropAutoincrement takes AUTOINCREMENT out of the events table's
// definition (see editEvents), and marks the sqlite_sequence row that
// processes still running older code read their head from.
func dropAutoincrement(ctx context.Context, conn *sql.Conn) error {
	if err := editEvents(ctx, conn, "position INTEGER PRIMARY KEY AUTOINCREMENT,", "position INTEGER PRIMARY KEY,"); err != nil {
		return err
	}
	for _, q := range []string{
		"DELETE FROM sqlite_sequence WHERE name = 'events'",
		"INSERT INTO sqlite_sequence (name, seq) VALUES ('events', " + quote(oldHeadMark) + ")",
	} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	return nil
}

// editEvents replaces from, which must occur once, with to in the events
// table's definition, in place: the change must leave every stored row
// valid as it is (taking AUTOINCREMENT out, or a NOT NULL that every row
// meets), so no event is copied, and the views, triggers and foreign keys
// that applications defined on events stay as they were (copying into a
// new table would drop the triggers, and a foreign key with ON DELETE
// CASCADE would empty its table). It follows the procedure that SQLite's
// documentation gives for changes that leave the stored content as it is
// (https://sqlite.org/lang_altertable.html#otheralter).
func editEvents(ctx context.Context, conn *sql.Conn, from, to string) error {
	var cookie int64
	if err := conn.QueryRowContext(ctx, "PRAGMA schema_version").Scan(&cookie); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	var def string
	if err := conn.QueryRowContext(ctx, "SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = 'events'").Scan(&def); err != nil {
		return fmt.Errorf("read the events table's definition: %w", err)
	}
	if strings.Count(def, from) != 1 {
		return fmt.Errorf("the events table's definition is not the one Chronicle made (%q): was the file changed by another program?", def)
	}
	for _, q := range []string{
		"PRAGMA writable_schema = ON",
		fmt.Sprintf("UPDATE sqlite_schema SET sql = %s WHERE type = 'table' AND name = 'events'", quote(strings.Replace(def, from, to, 1))),
		// Every connection reads the schema again, this one included.
		fmt.Sprintf("PRAGMA schema_version = %d", cookie+1),
		"PRAGMA writable_schema = OFF",
	} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	return nil
}

// quoteName makes name an SQL identifier.
func quoteName(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

// quote makes s an SQL string literal.
func quote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}
