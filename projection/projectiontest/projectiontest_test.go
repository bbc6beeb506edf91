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
