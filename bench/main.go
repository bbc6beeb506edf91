// Command bench runs the workloads that Chronicle's performance is judged
// on (shared/bench/WORKLOAD.md: C4-SEQ, C4-PAR, APPEND, REPLAY, LOAD and
// SUB) against one store, and in the same run the baselines each figure is
// judged against: the disk's write+fsync rate, raw SQLite inserts and
// SELECTs through the same driver and pragmas, raw PostgreSQL inserts when
// the store is PostgreSQL, and the in-memory store running the same
// workloads. Figures from different runs are never compared: every figure
// is printed beside its same-run baseline, as a ratio.
//
//	go run ./bench                               # the embedded store, in bench/tmp/
//	go run ./bench --quick                       # the same in under a minute
//	go run ./bench --store postgres://localhost/bench
//	go run ./bench --run append --cpuprofile cpu.out
//	go run ./bench --run c4par --concurrency 64 --trace trace.out
//
// The run writes a Markdown table, a JSON file and an SVG chart to
// bench/results/ (--out), named after the store's kind, and the chart as
// PNG too.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"strconv"
	"strings"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// workloads are the names --run takes, in the order they run.
var workloads = []string{"c4seq", "c4par", "append", "replay", "load", "sub"}

// config is what the flags ask for.
type config struct {
	store      string
	quick      bool
	run        []string
	games      int   // C4-SEQ games
	parGames   int   // C4-PAR games, per concurrency
	conc       []int // C4-PAR concurrencies
	subGames   int   // games of the C4-PAR 64 that SUB runs beside
	writers    []int
	batches    []int
	appendFor  time.Duration
	baseFor    time.Duration // each timed baseline
	replay     []int
	memReplay  int // largest REPLAY size the memory store is given
	load       []int
	loadFor    time.Duration // time spent repeating each LOAD
	memory     bool          // run the memory store as a baseline
	out        string
	name       string
	keep       bool
	cpuprofile string
	trace      string
	relaxed    bool
	command    string // the command line, for the results
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c config
	fs.StringVar(&c.store, "store", "sqlite:bench/tmp/bench.db",
		"the store: memory:, sqlite:PATH or postgres://URL. With sqlite:PATH each workload gets a new file beside PATH (PATH-WORKLOAD.db, removed afterwards); with PostgreSQL a new schema (chronicle_bench_WORKLOAD, dropped afterwards)")
	fs.BoolVar(&c.quick, "quick", false, "small sizes, to finish in under a minute; other size flags still override")
	runList := fs.String("run", strings.Join(workloads, ","), "the workloads to run, of "+strings.Join(workloads, ","))
	fs.IntVar(&c.games, "games", 1000, "C4-SEQ: games played one after the other")
	fs.IntVar(&c.parGames, "par-games", 1000, "C4-PAR: games played in all, for each concurrency")
	conc := fs.String("concurrency", "8,64", "C4-PAR: games in flight at once")
	fs.IntVar(&c.subGames, "sub-games", 1000, "SUB: games of the C4-PAR (C=64) that runs while the subscriber measures")
	writers := fs.String("writers", "1,8,64", "APPEND: writer goroutines")
	batches := fs.String("batches", "1,10,100", "APPEND: events per append")
	fs.DurationVar(&c.appendFor, "append-time", 3*time.Second, "APPEND: how long each (writers, batch) case runs")
	fs.DurationVar(&c.baseFor, "baseline-time", 3*time.Second, "how long each timed baseline (fsync, raw inserts) runs")
	replay := fs.String("replay", "100000,1000000", "REPLAY: store sizes, in events")
	fs.IntVar(&c.memReplay, "memory-replay-max", 1_000_000, "REPLAY: the largest size also run on the memory store, which holds it all in RAM")
	load := fs.String("load", "10,1000,10000,100000", "LOAD: stream lengths, in events")
	fs.DurationVar(&c.loadFor, "load-time", time.Second, "LOAD: how long each load is repeated (at least 3 times)")
	fs.BoolVar(&c.memory, "memory", true, "also run the workloads on the memory store, as the code's own overhead")
	fs.StringVar(&c.out, "out", "bench/results", "the directory of the results")
	fs.StringVar(&c.name, "name", "", "the results' file name, without extension; default: the store's kind, with -quick for --quick")
	fs.BoolVar(&c.keep, "keep", false, "keep the workloads' SQLite files or PostgreSQL schemas")
	fs.StringVar(&c.cpuprofile, "cpuprofile", "", "write a CPU profile of the whole run to this file")
	fs.StringVar(&c.trace, "trace", "", "write an execution trace of the whole run to this file, for go tool trace (tens of MB a second: pick the workload with --run)")
	fs.BoolVar(&c.relaxed, "relaxed", false, "sqlite: open the store with relaxed durability (no fsync per commit); the raw SQLite baselines take the same relaxed pragmas, no target is judged, and the results are labelled so and named <kind>-relaxed, apart from durable figures")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q: every option is a flag (see -h)", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if c.quick {
		// Each default is shrunk only if the user did not give it.
		quick := map[string]func(){
			"games":         func() { c.games = 40 },
			"par-games":     func() { c.parGames = 120 },
			"sub-games":     func() { c.subGames = 120 },
			"append-time":   func() { c.appendFor = 400 * time.Millisecond },
			"baseline-time": func() { c.baseFor = 700 * time.Millisecond },
			"replay":        func() { *replay = "20000,100000" },
			"load-time":     func() { c.loadFor = 200 * time.Millisecond },
		}
		for name, shrink := range quick {
			if !set[name] {
				shrink()
			}
		}
	}
	var err error
	lists := []struct {
		flag string
		s    string
		dst  *[]int
	}{{"concurrency", *conc, &c.conc}, {"writers", *writers, &c.writers}, {"batches", *batches, &c.batches},
		{"replay", *replay, &c.replay}, {"load", *load, &c.load}}
	for _, l := range lists {
		if *l.dst, err = intList(l.s); err != nil {
			return c, fmt.Errorf("--%s: %w", l.flag, err)
		}
	}
	for _, w := range strings.Split(*runList, ",") {
		w = strings.TrimSpace(strings.ToLower(w))
		if !slices.Contains(workloads, w) {
			return c, fmt.Errorf("--run: unknown workload %q: give some of %s", w, strings.Join(workloads, ","))
		}
		c.run = append(c.run, w)
	}
	for _, n := range []struct {
		flag string
		v    int
	}{{"games", c.games}, {"par-games", c.parGames}, {"sub-games", c.subGames}} {
		if n.v < 1 {
			return c, fmt.Errorf("--%s must be at least 1", n.flag)
		}
	}
	c.command = "go run ./bench " + strings.Join(args, " ")
	return c, nil
}

// intList reads "1,8,64", with optional _ or k/M suffixes: "10k", "1M".
func intList(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.ReplaceAll(strings.TrimSpace(f), "_", "")
		mult := 1
		switch {
		case strings.HasSuffix(f, "k"):
			mult, f = 1000, strings.TrimSuffix(f, "k")
		case strings.HasSuffix(f, "M"):
			mult, f = 1_000_000, strings.TrimSuffix(f, "M")
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a positive whole number", f)
		}
		out = append(out, n*mult)
	}
	return out, nil
}

func (c config) runs(w string) bool { return slices.Contains(c.run, w) }

// run is the program, apart from the process: the test calls it.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	tgt, err := parseTarget(cfg.store)
	if err != nil {
		return err
	}
	if cfg.relaxed {
		if tgt.kind != "sqlite" {
			return fmt.Errorf("--relaxed is for sqlite: stores, not %s", tgt.kind)
		}
		tgt.relaxed = true
	}
	if cfg.cpuprofile != "" {
		done, err := record(cfg.cpuprofile, pprof.StartCPUProfile, pprof.StopCPUProfile)
		if err != nil {
			return err
		}
		defer done()
	}
	if cfg.trace != "" {
		done, err := record(cfg.trace, trace.Start, trace.Stop)
		if err != nil {
			return err
		}
		defer done()
	}
	h := newHarness(cfg, tgt, stdout, stderr)
	rep, err := h.run(ctx)
	if err != nil {
		return err
	}
	return rep.write(cfg.out, cfg.resultName(tgt), stdout)
}

func (c config) resultName(t target) string {
	if c.name != "" {
		return c.name
	}
	name := t.kind
	if t.relaxed {
		name += "-relaxed"
	}
	if c.quick {
		name += "-quick"
	}
	return name
}

// record creates file and starts writing to it what start records (a
// CPU profile, an execution trace); the function it returns stops that
// and closes the file.
func record(file string, start func(io.Writer) error, stop func()) (func(), error) {
	f, err := os.Create(file)
	if err != nil {
		return nil, err
	}
	if err := start(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		stop()
		f.Close()
	}, nil
}
