package projection_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/internal/crashtest"
	"github.com/chronicle-es/chronicle/projection"
	"github.com/chronicle-es/chronicle/sqlite"
)

// childEnv names the store that a re-executed test binary projects.
const childEnv = "CHRONICLE_PROJECTION_TEST_CHILD"

func TestMain(m *testing.M) {
	if path := os.Getenv(childEnv); path != "" {
		os.Exit(child(path))
	}
	os.Exit(m.Run())
}

// child catches the "crash" projection up, then exits 0.
func child(path string) int {
	s, err := sqlite.Open(context.Background(), path, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer s.Close()
	r, err := projection.NewRunner(s, &projection.Options{BatchSize: 8}, counts("crash", chronicle.Filter{}))
	if err == nil {
		err = r.CatchUp(context.Background())
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// TestKilledRunnerResumesExactlyOnce kills a projecting process with
// SIGKILL at random points of its catch-up, restarts it, and checks that
// the read model counts every event exactly once.
func TestKilledRunnerResumesExactlyOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills processes")
	}
	path := filepath.Join(t.TempDir(), "events.db")
	s, err := sqlite.Open(context.Background(), path, &sqlite.Options{Durability: sqlite.Relaxed})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	events := map[bool]int{false: 20_000, true: 4_000}[raceEnabled]
	want := fill(t, s, "k", 50, events)

	// Each run is killed shortly after its first commit, which lands the
	// kill mid-way however fast the machine; the ninth run finishes.
	killedAt := crashtest.Run(t, crashtest.Options{
		Command: func() *exec.Cmd {
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), childEnv+"="+path)
			return cmd
		},
		Progress: func() uint64 { return checkpoint(t, s, "crash") },
		Kills:    8,
		Rand:     rand.New(rand.NewPCG(42, 7)),
	})
	kills, midway := len(killedAt), 0
	for _, cp := range killedAt {
		if cp < uint64(events) {
			midway++
		}
	}
	if midway < 2 {
		t.Fatalf("only %d of %d kills came mid-way through the catch-up: the test proved too little", midway, kills)
	}
	t.Logf("killed %d times, %d of them mid-way, before the catch-up finished", kills, midway)
	if got := readCounts(t, s, "crash"); !maps.Equal(got, want) {
		t.Fatalf("after %d kills, the read model differs from the events:\n got %v\nwant %v", kills, got, want)
	}
}

func checkpoint(tb testing.TB, s *sqlite.Store, name string) uint64 {
	tb.Helper()
	var pos uint64
	err := s.View(context.Background(), func(tx *sql.Tx) error {
		// A process killed before its runner had started has not made
		// the table yet (seen under the race detector on a busy machine).
		var made bool
		if err := tx.QueryRow("SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE name = 'chronicle_checkpoints')").Scan(&made); err != nil || !made {
			return err
		}
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
