// Package projectiontest tests projections the way their users read them:
// given these events, the read model holds these rows.
//
//	fx := projectiontest.New(t, posts)
//	fx.Given("post-1", chronicle.EventData{Type: "PostWasCreated", Data: []byte(`{"title":"Hi"}`)})
//	fx.ThenRows("SELECT id, title FROM posts", [][]any{{"post-1", "Hi"}})
//
// Each fixture has its own embedded store in a temporary directory.
// ThenRows also rebuilds the projection from scratch and checks that the
// rebuilt read model holds the same rows, so a projection whose Reset
// forgets a table fails its tests.
package projectiontest

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/projection"
	"github.com/chronicle-es/chronicle/sqlite"
)

// Fixture is one projection over its own store.
type Fixture struct {
	tb     testing.TB
	p      projection.Projection
	store  *sqlite.Store
	runner *projection.Runner
}

// New returns a fixture for p, which must keep its read model in SQL (it
// sets Apply).
func New(tb testing.TB, p projection.Projection) *Fixture {
	tb.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(tb.TempDir(), "events.db"), &sqlite.Options{Durability: sqlite.Relaxed})
	if err != nil {
		tb.Fatalf("projectiontest: open store: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	r, err := projection.NewRunner(s, nil, p)
	if err != nil {
		tb.Fatalf("projectiontest: %v", err)
	}
	return &Fixture{tb: tb, p: p, store: s, runner: r}
}

// Store returns the fixture's store, to append events in other ways.
func (f *Fixture) Store() *sqlite.Store { return f.store }

// Given appends events to stream.
func (f *Fixture) Given(stream string, events ...chronicle.EventData) *Fixture {
	f.tb.Helper()
	if _, err := f.store.Append(context.Background(), stream, chronicle.Any, events...); err != nil {
		f.tb.Fatalf("projectiontest: Given(%q): %v", stream, err)
	}
	return f
}

// GivenJSON appends one event of type typ to stream, with data encoded as
// JSON.
func (f *Fixture) GivenJSON(stream, typ string, data any) *Fixture {
	f.tb.Helper()
	b, err := json.Marshal(data)
	if err != nil {
		f.tb.Fatalf("projectiontest: GivenJSON(%q, %q): %v", stream, typ, err)
	}
	return f.Given(stream, chronicle.EventData{Type: typ, Data: b})
}

// CatchUp runs the projection up to the last event, and fails the test if
// it stops on an error.
func (f *Fixture) CatchUp() *Fixture {
	f.tb.Helper()
	if err := f.runner.CatchUp(context.Background()); err != nil {
		f.tb.Fatalf("projectiontest: catch up %q: %v", f.p.Name, err)
	}
	return f
}

// Rows runs query in the read model, after catching up, and returns its
// rows with each value as database/sql scanned it into an any.
func (f *Fixture) Rows(query string, args ...any) [][]any {
	f.tb.Helper()
	f.CatchUp()
	return f.rows(query, args...)
}

func (f *Fixture) rows(query string, args ...any) [][]any {
	f.tb.Helper()
	var out [][]any
	err := f.store.View(context.Background(), func(tx *sql.Tx) error {
		rows, err := tx.Query(query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		cols, err := rows.Columns()
		if err != nil {
			return err
		}
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				return err
			}
			for i, v := range vals {
				if b, ok := v.([]byte); ok {
					vals[i] = string(b)
				}
			}
			out = append(out, vals)
		}
		return rows.Err()
	})
	if err != nil {
		f.tb.Fatalf("projectiontest: query %q: %v", query, err)
	}
	return out
}

// ThenRows catches up, then checks that query returns want. Values are
// compared one by one by their printed form, so that 1 matches int64(1)
// and "a" matches []byte("a"); a NULL matches only nil. It then rebuilds
// the projection and checks the same rows again.
func (f *Fixture) ThenRows(query string, want [][]any, args ...any) *Fixture {
	f.tb.Helper()
	got := f.Rows(query, args...)
	if diff := compare(got, want); diff != "" {
		f.tb.Errorf("projectiontest: %s\nquery: %s\n%s", f.p.Name, query, diff)
		return f
	}
	if err := f.runner.Rebuild(context.Background(), f.p.Name, nil); err != nil {
		f.tb.Fatalf("projectiontest: rebuild %q: %v", f.p.Name, err)
	}
	if diff := compare(f.rows(query, args...), want); diff != "" {
		f.tb.Errorf("projectiontest: %s holds the right rows when built event by event, but not after a rebuild (does Reset empty every table?)\nquery: %s\n%s",
			f.p.Name, query, diff)
	}
	return f
}

// compare returns what differs between the rows got and want, or "" when
// they hold the same values, compared one by one.
func compare(got, want [][]any) string {
	if sameRows(got, want) {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "got %d rows, want %d:\n", len(got), len(want))
	for i := range max(len(got), len(want)) {
		gs, ws := printRow(got, i, printValue), printRow(want, i, printValue)
		mark := "  "
		if i >= len(got) || i >= len(want) || !sameRow(got[i], want[i]) {
			mark = "! "
			if gs == ws || unclear(got, i) || unclear(want, i) {
				// Printed plain, the rows would not show where a value
				// ends, or which is a NULL: show each value as Go does,
				// text quoted.
				gs, ws = printRow(got, i, goValue), printRow(want, i, goValue)
			}
		}
		fmt.Fprintf(&b, "%srow %d: got %s, want %s\n", mark, i, gs, ws)
	}
	return b.String()
}

func sameRows(got, want [][]any) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if !sameRow(got[i], want[i]) {
			return false
		}
	}
	return true
}

// sameRow compares two rows value by value, each by its printed form,
// and not as printed whole: a value that holds ", " must not match the
// two values that print like it. NULL (nil) matches only NULL, not the
// text "<nil>".
func sameRow(got, want []any) bool {
	if len(got) != len(want) {
		return false
	}
	for j := range got {
		if (got[j] == nil) != (want[j] == nil) || printValue(got[j]) != printValue(want[j]) {
			return false
		}
	}
	return true
}

// unclear reports whether rows[i] has a value that its plain print does
// not tell apart from its neighbours: empty, or holding ", ".
func unclear(rows [][]any, i int) bool {
	if i >= len(rows) {
		return false
	}
	for _, v := range rows[i] {
		if p := printValue(v); p == "" || strings.Contains(p, ", ") {
			return true
		}
	}
	return false
}

// printRow prints the values of rows[i], each with value: (post-1,
// Hello), or (none) when there is no such row.
func printRow(rows [][]any, i int, value func(any) string) string {
	if i >= len(rows) {
		return "(none)"
	}
	parts := make([]string, len(rows[i]))
	for j, v := range rows[i] {
		parts[j] = value(v)
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

// printValue is the printed form that values are compared by, in which
// "a" and []byte("a") are alike, and so are 1 and int64(1).
func printValue(v any) string {
	if b, ok := v.([]byte); ok {
		v = string(b)
	}
	return fmt.Sprintf("%v", v)
}

// goValue prints v as Go does, with text quoted.
func goValue(v any) string {
	if b, ok := v.([]byte); ok {
		v = string(b)
	}
	return fmt.Sprintf("%#v", v)
}
