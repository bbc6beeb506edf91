package blog_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chronicle-es/chronicle/examples/blog"
	"github.com/chronicle-es/chronicle/projection"
	"github.com/chronicle-es/chronicle/sqlite"
	"github.com/google/uuid"
)

// childEnv names the store whose projections a re-executed test binary
// catches up.
const childEnv = "CHRONICLE_BLOG_TEST_CHILD"

func TestMain(m *testing.M) {
	if path := os.Getenv(childEnv); path != "" {
		os.Exit(child(path))
	}
	os.Exit(m.Run())
}

// child catches the blog's projections up, then exits 0. Small batches
// make many commits, so that a kill falls between two of them.
func child(path string) int {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, path, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer s.Close()
	b, err := blog.New(s, &blog.Options{Runner: &projection.Options{BatchSize: 8}})
	if err == nil {
		err = b.CatchUp(ctx)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// TestKilledProjectionsQueueEachEmailOnce kills the process that catches
// the blog's projections up with SIGKILL at random points, restarts it
// until it finishes, and checks that the posts table equals a fresh
// rebuild and that the outbox holds exactly one e-mail per published
// post: none lost, none twice.
func TestKilledProjectionsQueueEachEmailOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills processes")
	}
	ctx := context.Background()
	path := t.TempDir() + "/blog.db"
	s, err := sqlite.Open(ctx, path, &sqlite.Options{Durability: sqlite.Relaxed})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	posts := map[bool]int{false: 4000, true: 500}[raceEnabled]
	svc := blog.NewService(s)
	rng := rand.New(rand.NewPCG(4, 2))
	var published []string
	var ids []uuid.UUID
	for i := range posts {
		id, err := svc.CreatePost(ctx, fmt.Sprintf("Post %d", i), strings.Repeat("words ", i%20))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
		// Publish some posts at once, others later, so that the log
		// interleaves the two events of different posts.
		if rng.IntN(3) > 0 {
			j := rng.IntN(len(ids))
			if !slices.Contains(published, ids[j].String()) {
				if err := svc.PublishPost(ctx, ids[j]); err != nil {
					t.Fatal(err)
				}
				published = append(published, ids[j].String())
			}
		}
	}
	slices.Sort(published)
	head, err := projection.Head(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	b, err := blog.New(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Create the tables, so that the checkpoints can be read from the
	// start.
	if _, err := b.Runner().Status(ctx); err != nil {
		t.Fatal(err)
	}

	// Each run is killed at a random moment after its first commit, so
	// that every kill lands mid-way through the catch-up, however slow
	// the process is to start (the race detector slows it tenfold); the
	// last run is left to finish.
	maxKills := map[bool]int{false: 12, true: 6}[raceEnabled]
	kills, midway, finished := 0, 0, false
	for run := 0; !finished; run++ {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"="+path)
		out, err := os.CreateTemp(t.TempDir(), "child")
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdout, cmd.Stderr = out, out
		before := checkpoint(t, s, blog.OutboxProjectionName)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		var kill <-chan time.Time
		poll := time.NewTicker(2 * time.Millisecond)
	wait:
		for {
			select {
			case err := <-exited:
				if err != nil {
					b, _ := os.ReadFile(out.Name())
					t.Fatalf("child failed: %v\n%s", err, b)
				}
				finished = true
				break wait
			case <-poll.C:
				if kill == nil && run < maxKills && checkpoint(t, s, blog.OutboxProjectionName) > before {
					kill = time.After(time.Duration(rng.IntN(40)) * time.Millisecond)
				}
			case <-kill:
				cmd.Process.Signal(syscall.SIGKILL)
				err := <-exited
				var exit *exec.ExitError
				if !errors.As(err, &exit) || exit.Success() {
					finished = true // it finished before the signal
					break wait
				}
				kills++
				if cp := checkpoint(t, s, blog.OutboxProjectionName); cp > 0 && cp < head {
					midway++
				}
				break wait
			}
		}
		poll.Stop()
		out.Close()
	}
	if midway < 2 {
		t.Fatalf("only %d of %d kills came mid-way through the catch-up: the test proved too little", midway, kills)
	}
	t.Logf("%d posts, %d published; killed %d times, %d of them mid-way", posts, len(published), kills, midway)

	// The outbox: exactly one e-mail per published post.
	var queued []string
	for _, row := range rows(t, s, `SELECT post_id, count(*) FROM outbox GROUP BY post_id ORDER BY post_id`) {
		if row[1] != "1" {
			t.Errorf("post %s has %s e-mails", row[0], row[1])
		}
		queued = append(queued, row[0])
	}
	if !slices.Equal(queued, published) {
		t.Fatalf("the outbox holds e-mails for %d posts, want the %d published ones", len(queued), len(published))
	}

	// The posts table equals a fresh rebuild.
	const all = `SELECT id, title, content, published, created_at, published_at FROM posts ORDER BY id`
	incremental := rows(t, s, all)
	if len(incremental) != posts {
		t.Fatalf("the posts table holds %d posts, want %d", len(incremental), posts)
	}
	if err := b.Rebuild(ctx, nil); err != nil {
		t.Fatal(err)
	}
	rebuilt := rows(t, s, all)
	if !slices.EqualFunc(incremental, rebuilt, slices.Equal) {
		t.Fatal("the posts table built through the kills differs from a fresh rebuild")
	}
	var nowPublished []string
	for _, r := range rebuilt {
		if r[3] == "1" {
			nowPublished = append(nowPublished, r[0])
		}
	}
	if !slices.Equal(nowPublished, published) {
		t.Fatalf("%d posts are published in the table, want %d", len(nowPublished), len(published))
	}
}

func checkpoint(tb testing.TB, s *sqlite.Store, name string) uint64 {
	tb.Helper()
	var pos uint64
	err := s.View(context.Background(), func(tx *sql.Tx) error {
		err := tx.QueryRow("SELECT position FROM chronicle_checkpoints WHERE name = ?", name).Scan(&pos)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	return pos
}

// rows returns the result of query, each value printed.
func rows(tb testing.TB, s *sqlite.Store, query string) [][]string {
	tb.Helper()
	var out [][]string
	err := s.View(context.Background(), func(tx *sql.Tx) error {
		rs, err := tx.Query(query)
		if err != nil {
			return err
		}
		defer rs.Close()
		cols, _ := rs.Columns()
		for rs.Next() {
			vals := make([]sql.NullString, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rs.Scan(ptrs...); err != nil {
				return err
			}
			row := make([]string, len(cols))
			for i, v := range vals {
				row[i] = v.String
				if !v.Valid {
					row[i] = "NULL"
				}
			}
			out = append(out, row)
		}
		return rs.Err()
	})
	if err != nil {
		tb.Fatal(err)
	}
	return out
}
