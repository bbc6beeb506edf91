package shred_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/internal/pgtest"
	"github.com/chronicle-es/chronicle/shred"
	"github.com/jackc/pgx/v5"
)

// TestNothingInPostgresRows forgets a subject on the PostgreSQL store and
// reads back every row of every table of the store's schema (the events'
// data and metadata, snapshots, the keys, checkpoints, read models), as
// bytes: neither the personal values nor the forgotten key may be found.
// What PostgreSQL keeps outside the rows (row versions that vacuum has not
// yet removed, the write-ahead log, backups) is out of its reach: see
// SQLKeys.Forget.
func TestNothingInPostgresRows(t *testing.T) {
	ctx := context.Background()
	db := pgtest.Open(t)
	keys := shred.NewSQLKeys(db)
	s := shred.New(db, keys, schema(t))
	for i := range 20 {
		if _, err := s.Append(ctx, "game-1", chronicle.Any, chronicle.EventData{
			Type:     "Started",
			Data:     fmt.Appendf(nil, `{"player_one":"Zebedee Quixotic","player_two":"Other Player","board":%q}`, strings.Repeat("x", i)),
			Metadata: chronicle.Metadata{"$correlationId": fmt.Sprint(i)},
		}); err != nil {
			t.Fatal(err)
		}
	}
	// The snapshots table is searched too. This snapshot holds the stored,
	// encrypted event; one of a state decoded through the shredding store
	// would hold the clear values, which forgetting does not reach: like
	// read models, that is the application's to erase (see the package
	// doc).
	var stored []byte
	for e, err := range db.ReadStream(ctx, "game-1", chronicle.ReadStreamOptions{Backwards: true, From: chronicle.End, Limit: 1}) {
		if err != nil {
			t.Fatal(err)
		}
		stored = e.Data
	}
	if err := db.SaveSnapshot(ctx, chronicle.Snapshot{Stream: "game-1", Revision: 19, Type: "T", Data: stored}); err != nil {
		t.Fatal(err)
	}
	key, err := keys.Key(ctx, shred.Ref("Zebedee Quixotic"), false)
	if err != nil || len(key) != shred.KeySize {
		t.Fatalf("key = %x, %v", key, err)
	}

	conn, err := pgx.Connect(ctx, pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	// The search must be able to find what is there: a planted value, in
	// a text column, and the key before it is forgotten.
	err = db.Update(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "CREATE TABLE planted (note text)"); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "INSERT INTO planted VALUES ('by Zebedee')")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if where := findInRows(t, conn, db.Schema(), []byte("Zebedee")); where != "planted.note" {
		t.Fatalf("a planted name was found in %q, want planted.note: the search does not work", where)
	}
	if where := findInRows(t, conn, db.Schema(), key); where != "chronicle_subject_keys.key" {
		t.Fatalf("the key was found in %q before forgetting, want chronicle_subject_keys.key: the search does not work", where)
	}
	if err := db.Update(ctx, func(tx *sql.Tx) error { _, err := tx.ExecContext(ctx, "DROP TABLE planted"); return err }); err != nil {
		t.Fatal(err)
	}

	if err := s.Forget(ctx, "Zebedee Quixotic"); err != nil {
		t.Fatal(err)
	}
	for _, secret := range [][]byte{[]byte("Zebedee"), []byte("Quixotic"), key} {
		if where := findInRows(t, conn, db.Schema(), secret); where != "" {
			t.Fatalf("after forgetting, %s still holds %q", where, secret)
		}
	}
	if got := readOne[started](t, s, "game-1", 5); got.PlayerOne != shred.Forgotten || got.PlayerTwo != "Other Player" {
		t.Fatalf("after forgetting, read %+v", got)
	}
}

// findInRows returns the first table.column of schema whose values hold
// needle, read as bytes (bytea) or as text (every other type), or "".
func findInRows(t *testing.T, conn *pgx.Conn, schema string, needle []byte) string {
	t.Helper()
	ctx := context.Background()
	rows, err := conn.Query(ctx, `SELECT table_name, column_name, data_type FROM information_schema.columns
		WHERE table_schema = $1 ORDER BY table_name, ordinal_position`, schema)
	if err != nil {
		t.Fatal(err)
	}
	type column struct{ Table, Name, Type string }
	cols, err := pgx.CollectRows(rows, pgx.RowToStructByPos[column])
	if err != nil {
		t.Fatal(err)
	}
	if len(cols) == 0 {
		t.Fatalf("schema %q has no columns", schema)
	}
	for _, c := range cols {
		expr := pgx.Identifier{c.Name}.Sanitize()
		if c.Type != "bytea" {
			expr = "convert_to(" + expr + "::text, 'UTF8')"
		}
		rows, err := conn.Query(ctx, "SELECT "+expr+" FROM "+pgx.Identifier{schema, c.Table}.Sanitize())
		if err != nil {
			t.Fatal(err)
		}
		values, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range values {
			if bytes.Contains(v, needle) {
				return c.Table + "." + c.Name
			}
		}
	}
	return ""
}
