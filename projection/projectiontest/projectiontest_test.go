package projectiontest_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/projection"
	"github.com/chronicle-es/chronicle/projection/projectiontest"
)

// titles keeps the title of each post; with leaky set, its Reset forgets
// to empty the table.
func titles(leaky bool) projection.Projection {
	return projection.Projection{
		Name:   "titles",
		Filter: chronicle.Filter{Categories: []string{"post"}},
		Setup: func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS titles (id TEXT PRIMARY KEY, title TEXT, n INTEGER)")
			return err
		},
		Apply: func(ctx context.Context, tx *sql.Tx, e chronicle.RecordedEvent) error {
			var d struct{ Title string }
			if err := json.Unmarshal(e.Data, &d); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO titles VALUES (?, ?, 1)
				ON CONFLICT (id) DO UPDATE SET title = excluded.title, n = n + 1`, e.Stream, d.Title)
			return err
		},
		Reset: func(ctx context.Context, tx *sql.Tx) error {
			if leaky {
				return nil
			}
			_, err := tx.ExecContext(ctx, "DELETE FROM titles")
			return err
		},
	}
}

func TestThenRows(t *testing.T) {
	projectiontest.New(t, titles(false)).
		GivenJSON("post-1", "Created", map[string]string{"title": "Hello"}).
		GivenJSON("post-2", "Created", map[string]string{"title": "Bye"}).
		GivenJSON("post-1", "Renamed", map[string]string{"title": "Hello again"}).
		GivenJSON("other-1", "Created", map[string]string{"title": "not a post"}).
		ThenRows("SELECT id, title, n FROM titles ORDER BY id", [][]any{
			{"post-1", "Hello again", 2},
			{"post-2", "Bye", 1},
		})
}

// recorder is a testing.TB that records failures instead of failing.
type recorder struct {
	testing.TB
	errors []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

func TestThenRowsReportsDifferences(t *testing.T) {
	rec := &recorder{TB: t}
	projectiontest.New(rec, titles(false)).
		GivenJSON("post-1", "Created", map[string]string{"title": "Hello"}).
		ThenRows("SELECT id, title FROM titles", [][]any{{"post-1", "Goodbye"}})
	if len(rec.errors) != 1 || !strings.Contains(rec.errors[0], "! row 0: got (post-1, Hello), want (post-1, Goodbye)") {
		t.Fatalf("failures = %q, want one naming the differing row", rec.errors)
	}
}

func TestThenRowsCatchesAResetThatForgets(t *testing.T) {
	rec := &recorder{TB: t}
	projectiontest.New(rec, titles(true)).
		GivenJSON("post-1", "Created", map[string]string{"title": "Hello"}).
		ThenRows("SELECT id, n FROM titles", [][]any{{"post-1", 1}})
	if len(rec.errors) != 1 || !strings.Contains(rec.errors[0], "after a rebuild") {
		t.Fatalf("failures = %q, want one about the rebuild", rec.errors)
	}
}

// teams keeps each team's lead, the first name of its Names, and the
// rest of them, joined by ", ". With offByOne set, it slices the names
// one too far: the first member joins the lead.
func teams(offByOne bool) projection.Projection {
	return projection.Projection{
		Name: "teams",
		Setup: func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS teams (id TEXT PRIMARY KEY, lead TEXT, members TEXT)")
			return err
		},
		Apply: func(ctx context.Context, tx *sql.Tx, e chronicle.RecordedEvent) error {
			var d struct{ Names []string }
			if err := json.Unmarshal(e.Data, &d); err != nil {
				return err
			}
			cut := 1
			if offByOne {
				cut = 2
			}
			_, err := tx.ExecContext(ctx, "INSERT INTO teams VALUES (?, ?, ?)",
				e.Stream, strings.Join(d.Names[:cut], ", "), strings.Join(d.Names[cut:], ", "))
			return err
		},
		Reset: func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, "DELETE FROM teams")
			return err
		},
	}
}

// Values are compared one by one: a value that holds ", " must not match
// the two values it prints like, nor NULL the text "<nil>".
func TestThenRowsComparesEachValue(t *testing.T) {
	projectiontest.New(t, teams(false)).
		GivenJSON("team-1", "Formed", map[string][]string{"names": {"Lee", "Ann", "Bo"}}).
		ThenRows("SELECT lead, members FROM teams", [][]any{{"Lee", "Ann, Bo"}})

	rec := &recorder{TB: t}
	projectiontest.New(rec, teams(true)).
		GivenJSON("team-1", "Formed", map[string][]string{"names": {"Lee", "Ann", "Bo"}}).
		ThenRows("SELECT lead, members FROM teams", [][]any{{"Lee", "Ann, Bo"}})
	if len(rec.errors) != 1 {
		t.Errorf("failures = %q, want one for the values in the wrong column", rec.errors)
	}

	rec = &recorder{TB: t}
	projectiontest.New(rec, teams(true)).
		GivenJSON("team-1", "Formed", map[string][]string{"names": {"Lee", "Ann", "Bo"}}).
		GivenJSON("team-2", "Formed", map[string][]string{"names": {"Kim", "Max"}}).
		ThenRows("SELECT lead, members FROM teams ORDER BY id", [][]any{{"Lee", "Ann, Bo"}, {"Kim", "Max"}, {"none"}})
	if len(rec.errors) != 1 {
		t.Fatalf("failures = %q, want one", rec.errors)
	}
	// Where plain print would not show where a value ends, or would
	// show a row like a missing one, the values are quoted.
	for _, line := range []string{
		`! row 0: got ("Lee, Ann", "Bo"), want ("Lee", "Ann, Bo")`,
		`! row 1: got ("Kim, Max", ""), want ("Kim", "Max")`,
		`! row 2: got (none), want ("none")`,
	} {
		if !strings.Contains(rec.errors[0], line) {
			t.Errorf("failure lacks %q; it is:\n%s", line, rec.errors[0])
		}
	}

	rec = &recorder{TB: t}
	projectiontest.New(rec, titles(false)).
		GivenJSON("post-1", "Created", map[string]string{"title": "Hello"}).
		ThenRows("SELECT id, NULL FROM titles", [][]any{{"post-1", "<nil>"}})
	if len(rec.errors) != 1 || !strings.Contains(rec.errors[0], `! row 0: got ("post-1", <nil>), want ("post-1", "<nil>")`) {
		t.Errorf("failures = %q, want one telling NULL from the text <nil>", rec.errors)
	}
}
