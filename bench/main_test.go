package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/examples/connectfour"
	"github.com/chronicle-es/chronicle/memory"
)

// tiny is a configuration small enough for go test: every workload and
// baseline runs, on a few events.
var tiny = []string{"--quick", "--games", "3", "--par-games", "6", "--concurrency", "2,64", "--sub-games", "6",
	"--writers", "1,4", "--batches", "1,10", "--append-time", "50ms", "--baseline-time", "50ms",
	"--replay", "600", "--load", "10,300", "--load-time", "5ms"}

func TestHarness(t *testing.T) {
	for _, store := range []string{"memory:", "sqlite:"} {
		t.Run(strings.TrimSuffix(store, ":"), func(t *testing.T) {
			dir := t.TempDir()
			if store == "sqlite:" {
				store += filepath.Join(dir, "bench.db")
			}
			out := filepath.Join(dir, "results")
			args := append([]string{"--store", store, "--out", out, "--name", "r"}, tiny...)
			var stdout strings.Builder
			if err := run(context.Background(), args, &stdout, io.Discard); err != nil {
				t.Fatalf("%v\n%s", err, stdout.String())
			}
			for _, ext := range []string{".md", ".json", ".svg", ".png"} {
				if fi, err := os.Stat(filepath.Join(out, "r"+ext)); err != nil || fi.Size() == 0 {
					t.Errorf("r%s: %v, or empty", ext, err)
				}
			}
			rep := readReport(t, filepath.Join(out, "r.json"))
			seen := map[string]bool{}
			for _, f := range rep.Figures {
				seen[f.Workload] = true
				if f.Value <= 0 && f.Workload != "SUB" {
					t.Errorf("%s %s: %v %s", f.Workload, f.Case, f.Value, f.Unit)
				}
				if f.FailedCheck {
					t.Errorf("%s %s failed its check: %s", f.Workload, f.Case, f.Note)
				}
				if store != "memory:" && f.Memory == nil && f.Unit != "MiB" {
					t.Errorf("%s %s has no memory-store figure beside it", f.Workload, f.Case)
				}
			}
			for _, w := range []string{"C4-SEQ", "C4-PAR", "APPEND", "REPLAY", "LOAD", "SUB"} {
				if !seen[w] {
					t.Errorf("no %s figure", w)
				}
			}
			if len(rep.Baselines) < 3 {
				t.Errorf("%d baselines, want fsync and two raw inserts", len(rep.Baselines))
			}
			if store != "memory:" {
				// C4-PAR C=64 is noted beside the most SQLite's writer
				// commits of its events, measured in the run before and
				// after it.
				n := 0
				for _, b := range rep.Baselines {
					if strings.Contains(b.Name, "64 games in play") && b.Value > 0 {
						n++
					}
				}
				if n != 2 {
					t.Errorf("%d raw inserts of C4-PAR's events among %d baselines, want 2", n, len(rep.Baselines))
				}
				for _, f := range rep.Figures {
					if f.Workload == "C4-PAR" && f.Case == "C=64" && !strings.Contains(f.Note, "SQLite's single writer commits at most") {
						t.Errorf("C4-PAR C=64's note lacks the writer's ceiling: %q", f.Note)
					}
					if f.Workload == "C4-PAR" && f.Case == "C=64" && !strings.Contains(f.Note, "for comparison only, not durable: on a store with relaxed durability (no fsync at all) the same games play") {
						t.Errorf("C4-PAR C=64's note lacks the relaxed store's games: %q", f.Note)
					}
					// WORKLOAD.md: relaxed figures are never mixed with
					// durable ones, so the relaxed games are set against
					// C4-SEQ played on the relaxed store too.
					if f.Workload == "C4-PAR" && f.Case == "C=64" && !regexp.MustCompile(`[0-9.]+x the relaxed store's own C4-SEQ \([0-9,]+ moves/s\)`).MatchString(f.Note) {
						t.Errorf("C4-PAR C=64's note does not set the relaxed games against a relaxed C4-SEQ: %q", f.Note)
					}
					if f.Workload == "C4-SEQ" && f.Unit == "commands/s" && !strings.Contains(f.Note, "the schema's raw commit") {
						t.Errorf("C4-SEQ's note lacks the schema's ceiling: %q", f.Note)
					}
					// The store serves the games' reads from its stream
					// cache: WORKLOAD.md lets a figure use an in-process
					// cache only if it says so.
					if (f.Workload == "C4-SEQ" || f.Workload == "C4-PAR") && !strings.Contains(f.Note, "from its stream cache") {
						t.Errorf("%s %s %s does not say that the games are read from the stream cache: %q", f.Workload, f.Case, f.Unit, f.Note)
					}
				}
			}
			if store != "memory:" {
				// The workloads' files are removed, and the one --store
				// names is never created.
				left, _ := filepath.Glob(filepath.Join(dir, "bench*"))
				if len(left) > 0 {
					t.Errorf("files left behind: %v", left)
				}
			}
		})
	}
}

func TestGames(t *testing.T) {
	// Deterministic: the same game plays the same columns every time.
	a, b := gameRand(7), gameRand(7)
	for range 100 {
		if x, y := a.IntN(7), b.IntN(7); x != y {
			t.Fatalf("game 7's PRNG differs between runs: %d, %d", x, y)
		}
	}
	pool, err := gamePool(50)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, g := range pool {
		total += len(g)
	}
	// Games average about 21 moves (WORKLOAD.md): a start, the moves, and
	// an end.
	if avg := float64(total)/50 - 2; avg < 10 || avg > 40 {
		t.Errorf("games average %.1f moves", avg)
	}
}

func TestFlags(t *testing.T) {
	if _, err := parseFlags([]string{"--run", "nope"}, io.Discard); err == nil {
		t.Error("--run nope: no error")
	}
	c, err := parseFlags([]string{"--replay", "1M,10k"}, io.Discard)
	if err != nil || len(c.replay) != 2 || c.replay[0] != 1_000_000 || c.replay[1] != 10_000 {
		t.Errorf("--replay 1M,10k: %v, %v", c.replay, err)
	}
	if _, err := parseTarget("mysql://x"); err == nil {
		t.Error("mysql: no error")
	}
}

// TestTrace: --trace writes the run's execution trace, which go tool
// trace reads; its header names the format.
func TestTrace(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "trace.out")
	args := []string{"--store", "memory:", "--run", "c4seq", "--games", "2", "--baseline-time", "10ms", "--out", dir, "--trace", file}
	if err := run(context.Background(), args, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte("go 1.")) || !bytes.Contains(b[:16], []byte(" trace")) {
		t.Errorf("%s does not start as a Go execution trace: %q", file, b[:min(len(b), 16)])
	}
}

// TestSeqCeiling: C4-SEQ's commands note what the schema's commit and
// the memory store's time per command allow, one after the other.
func TestSeqCeiling(t *testing.T) {
	mem := 20_000.0
	seq := &Figure{Workload: "C4-SEQ", Unit: "commands/s", Value: 3000, Memory: &mem, BaselineValue: 6000}
	moves := &Figure{Workload: "C4-SEQ", Unit: "moves/s", Value: 2900, Memory: &mem}
	noteSeqCeiling([]*Figure{seq, moves}, &Baseline{Name: "raw", Value: 5000})
	// 1 / (200 us + 50 us) = 4,000 commands/s, 0.67x of 6,000.
	for _, want := range []string{"(200 us, raw)", "(50 us,", "allow about 4,000 commands/s, 0.67x the baseline"} {
		if !strings.Contains(seq.Note, want) {
			t.Errorf("note %q lacks %q", seq.Note, want)
		}
	}
	if moves.Note != "" {
		t.Errorf("moves/s noted: %q", moves.Note)
	}
	faster := &Figure{Workload: "C4-SEQ", Unit: "commands/s", Value: 4500, Memory: &mem, BaselineValue: 6000}
	noteSeqCeiling([]*Figure{faster}, &Baseline{Name: "raw", Value: 5000})
	if !strings.Contains(faster.Note, "went faster than this estimate") {
		t.Errorf("a store faster than the estimate: %q", faster.Note)
	}
}

// TestParCeiling: C4-PAR C=64 notes the raw writer's figure, in moves,
// and the memory store's, as multiples of C4-SEQ, and says when the
// first is under the target.
func TestParCeiling(t *testing.T) {
	mem := 50_000.0
	par := &Figure{Workload: "C4-PAR", Case: "C=64", Value: 9000, Memory: &mem, BaselineValue: 4000, Target: &Target{Bound: 10}}
	games := &Baseline{Name: "raw games", Value: 33_000}
	noteParCeiling([]*Figure{par}, games, 1.1, 1.2, 0)
	// 33,000 rows/s at 1.1 appends per move: 30,000 moves/s, 7.5x.
	for _, want := range []string{"at most 33,000 rows/s of C4-PAR's shape", "(raw games), 30,000 moves/s at C4-PAR's 1.100 appends per move, 7.50x C4-SEQ: under 10x, out of reach", "plays 50,000 moves/s, 12.50x C4-SEQ"} {
		if !strings.Contains(par.Note, want) {
			t.Errorf("note %q lacks %q", par.Note, want)
		}
	}
	reachable := &Figure{Workload: "C4-PAR", Case: "C=64", BaselineValue: 2000, Target: &Target{Bound: 10}}
	noteParCeiling([]*Figure{reachable}, games, 1.1, 1.2, 0)
	if !strings.Contains(reachable.Note, "15.00x C4-SEQ") || strings.Contains(reachable.Note, "out of reach") {
		t.Errorf("a ceiling over the target: %q", reachable.Note)
	}
	faster := &Figure{Workload: "C4-PAR", Case: "C=64", Value: 31_000, BaselineValue: 4000, Target: &Target{Bound: 10}}
	noteParCeiling([]*Figure{faster}, games, 1.1, 1.2, 0)
	if !strings.Contains(faster.Note, "went faster than this estimate") || strings.Contains(faster.Note, "out of reach") {
		t.Errorf("a store faster than its ceiling: %q", faster.Note)
	}
	other := &Figure{Workload: "C4-PAR", Case: "C=64", Value: 9000}
	noteParCeiling([]*Figure{other}, games, 1.1, 1.2, 0)
	if other.Note != "" {
		t.Errorf("a note without C4-SEQ to compare with: %q", other.Note)
	}
	if strings.Contains(par.Note, "cores kept busy") {
		t.Errorf("a CPU estimate without the CPU figures: %q", par.Note)
	}

	// 40 us per move in the memory store and 10 us per row at 1.2 rows
	// (events) per move, 1.1 appends: 52 us of CPU per move.
	cpu := &Figure{Workload: "C4-PAR", Case: "C=64", Value: 9000, BaselineValue: 4000, Target: &Target{Bound: 10}}
	noteParCeiling([]*Figure{cpu}, &Baseline{Name: "raw games", Value: 33_000, CPUPerRow: 10}, 1.1, 1.2, 40)
	cores := runtime.NumCPU()
	moves := float64(cores) * 1e6 / 52
	want := fmt.Sprintf("the memory store's CPU per move (40 us) and the raw insert's per row (10.0 us) at 1.200 rows (events) per move come to 52 us of CPU per move: %d cores kept busy would allow about %s moves/s, %.2fx C4-SEQ", cores, num(moves), moves/4000)
	if !strings.Contains(cpu.Note, want) {
		t.Errorf("note %q lacks %q", cpu.Note, want)
	}
}

// TestRelaxedIsNotJudged: a run with --relaxed, whose store does not
// fsync its commits, judges no target (the targets are the durable
// store's), and its raw SQLite baselines run with the same relaxed
// pragmas, so that no ratio sets a relaxed figure against a durable one.
func TestRelaxedIsNotJudged(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "results")
	args := append([]string{"--store", "sqlite:" + filepath.Join(dir, "bench.db"), "--relaxed", "--out", out, "--name", "r"}, tiny...)
	args = append(args, "--run", "c4seq,c4par,append,sub", "--memory=false")
	var stdout strings.Builder
	if err := run(context.Background(), args, &stdout, io.Discard); err != nil {
		t.Fatalf("%v\n%s", err, stdout.String())
	}
	rep := readReport(t, filepath.Join(out, "r.json"))
	if !rep.Relaxed {
		t.Error("the report does not say that the run was relaxed")
	}
	for _, f := range rep.Figures {
		if f.Target != nil || f.Met != nil {
			t.Errorf("%s %s judged against its target in a relaxed run", f.Workload, f.Case)
		}
		if strings.Contains(f.Note, "durable") {
			t.Errorf("%s %s: a relaxed figure's note says durable: %q", f.Workload, f.Case, f.Note)
		}
	}
	for _, bl := range rep.Baselines {
		if strings.HasPrefix(bl.Name, "raw SQLite") && !strings.Contains(bl.Name, "relaxed") {
			t.Errorf("baseline %q of a relaxed run is durable", bl.Name)
		}
	}
}

// faultySub is a store whose subscription repeats the event at position
// dup, or skips the one at position drop (0: none). It hands each event
// on a millisecond late, so that none arrives before its append returns.
type faultySub struct {
	chronicle.Store
	dup, drop uint64
}

func (f faultySub) Subscribe(ctx context.Context, opts chronicle.SubscribeOptions) iter.Seq2[chronicle.RecordedEvent, error] {
	return func(yield func(chronicle.RecordedEvent, error) bool) {
		for rec, err := range f.Store.Subscribe(ctx, opts) {
			if err == nil && rec.Position == f.drop {
				continue
			}
			time.Sleep(time.Millisecond)
			if !yield(rec, err) {
				return
			}
			if err == nil && rec.Position == f.dup && !yield(rec, nil) {
				return
			}
		}
	}
}

// TestSubCheckFails: SUB's exactly-once, in-order check fails, as a
// result and not as an error of the harness, when the subscription
// repeats an event or loses one, and it times only the events that
// arrived.
func TestSubCheckFails(t *testing.T) {
	defer func(d time.Duration) { subCatchUp = d }(subCatchUp)
	subCatchUp = 2 * time.Second
	h := newHarness(config{}, target{kind: "memory"}, io.Discard, io.Discard)
	ctx := context.Background()
	good, err := h.subOn(ctx, memory.New(nil), 4, "memory")
	if err != nil {
		t.Fatal(err)
	}
	if !good.inOrder || good.received != good.events || good.early+countPositive(good.lat) != good.events || len(good.lat) != good.events {
		t.Errorf("a sound subscription: in order %v, %d received of %d, %d latencies", good.inOrder, good.received, good.events, len(good.lat))
	}
	for _, c := range []struct {
		name      string
		dup, drop uint64
	}{{"repeated", 7, 0}, {"lost", 0, 7}, {"last lost", 0, uint64(good.events)}} {
		t.Run(c.name, func(t *testing.T) {
			r, err := h.subOn(ctx, faultySub{Store: memory.New(nil), dup: c.dup, drop: c.drop}, 4, "memory")
			if err != nil {
				t.Fatalf("the harness failed rather than report the check: %v", err)
			}
			if r.inOrder && r.received == r.events {
				t.Errorf("the check passed: in order, %d received of %d", r.received, r.events)
			}
			want, missing := r.events, 0
			if c.drop != 0 {
				want, missing = want-1, 1
			}
			if len(r.lat) != want || r.missing != missing || r.early != 0 {
				t.Errorf("%d latencies, %d missing, %d early; want one for each of the %d events that arrived, %d missing, none early", len(r.lat), r.missing, r.early, want, missing)
			}
		})
	}
}

func countPositive(ds []time.Duration) int {
	n := 0
	for _, d := range ds {
		if d > 0 {
			n++
		}
	}
	return n
}

// TestCheckLogEnd: APPEND's check of the log against the events its
// appends reported fails on a log that holds fewer, none among them.
func TestCheckLogEnd(t *testing.T) {
	ctx := context.Background()
	s := memory.New(nil)
	if err := checkLogEnd(ctx, s, 0); err != nil {
		t.Errorf("an empty log, no events reported: %v", err)
	}
	if err := checkLogEnd(ctx, s, 5); err == nil {
		t.Error("an empty log passed for 5 events")
	}
	evs := []chronicle.EventData{{Type: "E", Data: []byte(`{}`)}, {Type: "E", Data: []byte(`{}`)}, {Type: "E", Data: []byte(`{}`)}}
	if _, err := s.Append(ctx, "s", chronicle.NoStream, evs...); err != nil {
		t.Fatal(err)
	}
	if err := checkLogEnd(ctx, s, 3); err != nil {
		t.Errorf("3 events, 3 reported: %v", err)
	}
	if err := checkLogEnd(ctx, s, 5); err == nil {
		t.Error("3 events passed for 5")
	}
}

// TestJudge: each target in its direction; LOAD without a snapshot may
// take 2x the raw SELECT's time exactly, the other bounds of times are
// strict.
func TestJudge(t *testing.T) {
	for _, c := range []struct {
		name   string
		f      Figure
		met    bool
		target string
	}{
		{"rate at its bound", Figure{Value: 6, BaselineValue: 10, Target: &Target{Bound: 0.6}}, true, "≥ 0.6x"},
		{"rate under", Figure{Value: 5.9, BaselineValue: 10, Target: &Target{Bound: 0.6}}, false, "≥ 0.6x"},
		{"LOAD at 2x", Figure{Value: 20, BaselineValue: 10, LowerIsBetter: true, Target: loadTarget()}, true, "≤ 2.00x"},
		{"LOAD over 2x", Figure{Value: 20.1, BaselineValue: 10, LowerIsBetter: true, Target: loadTarget()}, false, "≤ 2.00x"},
		{"5 ms, strict", Figure{Value: 5, Target: &Target{Absolute: true, AtMost: true, Bound: 5}}, false, "< 5.00"},
		{"under 5 ms", Figure{Value: 4.9, Target: &Target{Absolute: true, AtMost: true, Bound: 5}}, true, "< 5.00"},
		{"failed check", Figure{Value: 1, FailedCheck: true, Target: &Target{Absolute: true, AtMost: true, Bound: 5}}, false, "< 5.00"},
	} {
		c.f.judge()
		if c.f.Met == nil {
			t.Errorf("%s: not judged", c.name)
		} else if *c.f.Met != c.met {
			t.Errorf("%s: met %v, want %v", c.name, *c.f.Met, c.met)
		}
		if got := c.f.Target.String(); got != c.target {
			t.Errorf("%s: target %q, want %q", c.name, got, c.target)
		}
	}
}

// TestReplayMemory: REPLAY's memory is judged on the growth during the
// read at the largest size against the smallest's. A read whose growth
// scales with the store, as one that holds the log does, misses; one
// whose growth stays flat meets it; none is judged with one size, or
// where the resident size is unknown.
func TestReplayMemory(t *testing.T) {
	const mb = 1 << 20
	// run is a REPLAY at n events of 31 bytes of data each, whose read
	// began at 60 MiB and grew by grow bytes.
	run := func(n int, grow int64) replayRun {
		return replayRun{events: n, data: int64(n) * 31, rssBefore: 60 * mb, peak: 60*mb + grow}
	}
	// Holding the log costs at least a RecordedEvent and its data per
	// event; this read holds that, and 8 MiB besides. The allowance is
	// half of it: a read that holds half the log's least cost is at the
	// bound, which meets the target.
	holding := func(n int) int64 { return 8*mb + int64(n)*(recordSize+31) }
	for _, c := range []struct {
		name string
		runs []replayRun
		met  bool
	}{
		{"flat", []replayRun{run(100_000, 8*mb), run(1_000_000, 16*mb)}, true},
		{"flat, largest first", []replayRun{run(10_000_000, 17*mb), run(1_000_000, 16*mb)}, true},
		{"flat at close sizes", []replayRun{run(20_000, 8*mb), run(100_000, 10*mb)}, true},
		{"holds the log", []replayRun{run(100_000, holding(100_000)), run(1_000_000, holding(1_000_000))}, false},
		{"holds the log, largest first", []replayRun{run(10_000_000, holding(10_000_000)), run(1_000_000, holding(1_000_000))}, false},
		{"holds the log at close sizes", []replayRun{run(20_000, holding(20_000)), run(100_000, holding(100_000))}, false},
		{"holds half the log", []replayRun{run(100_000, holding(100_000)/2), run(1_000_000, holding(1_000_000)/2)}, true},
		{"holds 60% of the log", []replayRun{run(100_000, holding(100_000)*6/10), run(1_000_000, holding(1_000_000)*6/10)}, false},
	} {
		f := replayMemory(c.runs)
		if f == nil {
			t.Errorf("%s: no figure", c.name)
			continue
		}
		f.judge()
		if f.Met == nil {
			t.Errorf("%s: not judged", c.name)
		} else if *f.Met != c.met {
			t.Errorf("%s: met %v, want %v (%v MiB, target %s, baseline %v MiB)", c.name, *f.Met, c.met, f.Value, f.Target, f.BaselineValue)
		}
		if !f.LowerIsBetter || !strings.HasPrefix(f.Target.String(), "≤") {
			t.Errorf("%s: lower is better %v, target %s", c.name, f.LowerIsBetter, f.Target)
		}
	}
	// The allowance is half of what holding the 900,000 more events
	// takes: with 31 bytes of data each, at N=100,000's 8 MiB plus that.
	f := replayMemory([]replayRun{run(100_000, 8*mb), run(1_000_000, 16*mb)})
	if want := 8 + float64(900_000*(recordSize+31))/2/mb; f.Target.Bound != want || f.BaselineValue != 8 || f.Value != 16 {
		t.Errorf("bound %v, baseline %v, value %v; want %v, 8, 16", f.Target.Bound, f.BaselineValue, f.Value, want)
	}
	if f := replayMemory([]replayRun{run(1_000_000, 16*mb)}); f != nil {
		t.Errorf("one size judged: %+v", f)
	}
	unknown := run(1_000_000, 0)
	unknown.rssBefore, unknown.peak = 0, 0
	if f := replayMemory([]replayRun{run(100_000, 8*mb), unknown}); f != nil {
		t.Errorf("judged without the resident size: %+v", f)
	}
}

// readReport reads the JSON report that a run wrote to path.
func readReport(t *testing.T, path string) Report {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rep Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	return rep
}

// faultyLog is a store whose ReadAll hands out the events of the log
// at the positions of order, in turn: positions in another order, or
// one twice and another never, as a faulty read might.
type faultyLog struct {
	chronicle.Store
	order []uint64
}

func (f faultyLog) ReadAll(ctx context.Context, opts chronicle.ReadAllOptions) iter.Seq2[chronicle.RecordedEvent, error] {
	return func(yield func(chronicle.RecordedEvent, error) bool) {
		var log []chronicle.RecordedEvent
		for rec, err := range f.Store.ReadAll(ctx, opts) {
			if err != nil {
				yield(rec, err)
				return
			}
			log = append(log, rec)
		}
		for _, p := range f.order {
			if !yield(log[p-1], nil) {
				return
			}
		}
	}
}

// TestReplayReadsInOrder: REPLAY reads the whole log in order
// (WORKLOAD.md), so its read fails on a log handed out in another order,
// or with an event twice in place of another, though as many events
// come as the store holds.
func TestReplayReadsInOrder(t *testing.T) {
	ctx := context.Background()
	pool, err := gamePool(1)
	if err != nil {
		t.Fatal(err)
	}
	s := memory.New(nil)
	if _, err := s.Append(ctx, "game-1", chronicle.NoStream, pool[0]...); err != nil {
		t.Fatal(err)
	}
	n := uint64(len(pool[0]))
	in := func(edit func([]uint64)) []uint64 {
		order := make([]uint64, n)
		for i := range order {
			order[i] = uint64(i) + 1
		}
		edit(order)
		return order
	}
	codec := connectfour.NewCodec()
	bar := track(io.Discard, "replay", "events", n)
	defer bar.finish()
	if got, err := replayRead(ctx, faultyLog{Store: s, order: in(func([]uint64) {})}, codec, bar); err != nil || got != int(n) {
		t.Fatalf("the log in order: %d events, %v; want %d", got, err, n)
	}
	for _, c := range []struct {
		name  string
		order []uint64
	}{
		{"swapped", in(func(o []uint64) { o[2], o[3] = o[3], o[2] })},
		{"repeated", in(func(o []uint64) { o[3] = o[2] })},
		{"first repeated last", in(func(o []uint64) { o[n-1] = 1 })},
	} {
		if got, err := replayRead(ctx, faultyLog{Store: s, order: c.order}, codec, bar); err == nil {
			t.Errorf("%s (%v): read %d events without an error", c.name, c.order, got)
		}
	}
}

// failAfter fails every append after the first n.
type failAfter struct {
	chronicle.Store
	n     int64
	calls *atomic.Int64
}

func (f failAfter) Append(ctx context.Context, stream string, expected chronicle.ExpectedRevision, events ...chronicle.EventData) (chronicle.AppendResult, error) {
	if f.calls.Add(1) > f.n {
		return chronicle.AppendResult{}, errors.New("disk full")
	}
	return f.Store.Append(ctx, stream, expected, events...)
}

// TestSubGamesFail: when the games fail, SUB returns their error once its
// subscriber has stopped, not while the subscriber still writes to the
// result it returns (a data race that -race reports).
func TestSubGamesFail(t *testing.T) {
	h := newHarness(config{}, target{kind: "memory"}, io.Discard, io.Discard)
	s := faultySub{Store: failAfter{Store: memory.New(nil), n: 20, calls: new(atomic.Int64)}, drop: 1}
	if _, err := h.subOn(context.Background(), s, 4, "memory"); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("SUB with failing games: %v, want their error", err)
	}
}

// TestCodeOf: the report says which commit its binary was built from,
// and says so when it cannot tell.
func TestCodeOf(t *testing.T) {
	info := func(kv ...string) *debug.BuildInfo {
		bi := &debug.BuildInfo{}
		for i := 0; i < len(kv); i += 2 {
			bi.Settings = append(bi.Settings, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return bi
	}
	for _, tt := range []struct {
		info *debug.BuildInfo
		ok   bool
		want string
	}{
		{info("vcs.revision", "abc123", "vcs.modified", "false"), true, "commit abc123"},
		{info("vcs.revision", "abc123", "vcs.modified", "true"), true, "commit abc123, with uncommitted changes in the checkout"},
		{info(), true, "commit not recorded"},
		{nil, false, "commit not recorded"},
	} {
		if got := codeOf(tt.info, tt.ok); !strings.HasPrefix(got, tt.want) {
			t.Errorf("codeOf(%v) = %q, want %q...", tt.info, got, tt.want)
		}
	}
}

// TestParWithoutSeq: C4-PAR's target is a ratio to C4-SEQ; a run that
// leaves C4-SEQ out says that it has no ratio, and why, rather than
// print C4-PAR 64 beside nothing.
func TestParWithoutSeq(t *testing.T) {
	out := filepath.Join(t.TempDir(), "results")
	args := append([]string{"--store", "memory:", "--out", out, "--name", "r"}, tiny...)
	args = append(args, "--run", "c4par")
	if err := run(context.Background(), args, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, f := range readReport(t, filepath.Join(out, "r.json")).Figures {
		if f.Workload == "C4-PAR" && !strings.Contains(f.Note, "no ratio: C4-SEQ did not run") {
			t.Errorf("C4-PAR %s without C4-SEQ: note %q does not say why it has no ratio", f.Case, f.Note)
		}
	}
}
