package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"time"
)

// harness runs the workloads of one run and collects the report.
type harness struct {
	cfg config
	tgt target
	out io.Writer // figures, as they are measured
	log io.Writer // progress bars

	rep *Report
	// Baselines by role, for the figures to refer to.
	fsync, raw1, raw100 *Baseline
	schema64            *Baseline // raw inserts into the store's own schema, 64 rows/txn
	table64             *Baseline // the same into its events table without indexes
	bare64              *Baseline // raw inserts into a bare table, 64 rows/txn: APPEND W=64 B=1's largest commit
	games64             *Baseline // C4-PAR's events into the store's schema, 64 games in play: the faster of before and after C4-PAR C=64
	memParCPU           float64   // the memory store's CPU per move in C4-PAR C=64, in microseconds
	schema1             *Baseline // C4-SEQ's events into the store's schema, 1 row/txn: the faster of before and after C4-SEQ
	parAppendsPerMove   float64   // appends (commands) per move in C4-PAR C=64
	parEventsPerMove    float64   // events (rows) per move in C4-PAR C=64
	// The C4-SEQ rate of each store kind, the baseline of C4-PAR.
	seqMoves map[string]float64
}

func newHarness(cfg config, tgt target, stdout, stderr io.Writer) *harness {
	return &harness{cfg: cfg, tgt: tgt, out: stdout, log: stderr, seqMoves: map[string]float64{}}
}

func (h *harness) run(ctx context.Context) (*Report, error) {
	start := time.Now()
	h.rep = &Report{
		Command: h.cfg.command, Code: codeOf(debug.ReadBuildInfo()), Store: h.tgt.kind, Relaxed: h.tgt.relaxed, Quick: h.cfg.quick, Started: start,
		Machine: Machine{CPUs: runtime.NumCPU(), CPU: cpuModel(), Go: runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH, LoadBefore: loadAvg()},
	}
	fmt.Fprintf(h.out, "store %s; load average %s\n", h.tgt.kind, h.rep.Machine.LoadBefore)
	if err := h.baselines(ctx); err != nil {
		return nil, err
	}
	stores := []target{h.tgt}
	if h.cfg.memory && h.tgt.kind != "memory" {
		stores = append(stores, target{dsn: "memory:", kind: "memory"})
	}
	for _, w := range workloads {
		if !h.cfg.runs(w) {
			continue
		}
		var primary []*Figure
		for i, t := range stores {
			figs, err := h.workload(ctx, w, t, i == 0)
			if err != nil {
				return nil, err
			}
			if i == 0 {
				primary = figs
				continue
			}
			pairMemory(primary, figs)
		}
		for _, f := range primary {
			f.judge()
		}
		h.rep.Figures = append(h.rep.Figures, primary...)
	}
	noteSeqCeiling(h.rep.Figures, h.schema1)
	noteParCeiling(h.rep.Figures, h.games64, h.parAppendsPerMove, h.parEventsPerMove, h.memParCPU)
	h.rep.Machine.LoadAfter = loadAvg()
	h.rep.Seconds = time.Since(start).Seconds()
	return h.rep, ctx.Err()
}

// noteSeqCeiling adds to C4-SEQ's commands the rate of a store that
// would cost nothing beyond its schema's own commit of one Connect Four
// event (schema, the raw insert, no Chronicle code) and the game's time
// per command, run one after the other as C4-SEQ runs them. The game's
// time is the memory store's, which also holds that store's own small
// work, so it is an estimate, not a bound.
func noteSeqCeiling(figs []*Figure, schema *Baseline) {
	for _, f := range figs {
		if f.Workload != "C4-SEQ" || f.Unit != "commands/s" || f.Memory == nil || schema == nil || f.BaselineValue <= 0 {
			continue
		}
		ceiling := 1 / (1/schema.Value + 1 / *f.Memory)
		f.Note += fmt.Sprintf("; the schema's raw commit of one event (%.0f us, %s) plus the memory store's time per command (%.0f us, which includes that store's own work) allow about %s commands/s, %.2fx the baseline",
			1e6/schema.Value, schema.Name, 1e6 / *f.Memory, num(ceiling), ceiling/f.BaselineValue)
		if f.Value > ceiling {
			f.Note += ": the store went faster than this estimate"
		}
	}
}

// noteParCeiling adds to C4-PAR C=64 three figures from the same run, each
// as a multiple of the store's C4-SEQ, which its target is. First the
// moves per second that SQLite's single writer commits into the store's
// schema with nothing else running (games: a raw insert, a row at a
// time, of one event of each of 64 games per commit, as many events as
// C4-PAR writes, no Chronicle code and no games to play, the faster of
// before and after), counted in moves at C4-PAR's appends per move (a
// batch of the store holds at most one append of each game; counting
// its events instead would give less): no store that writes this schema
// a row at a time through this driver and these pragmas commits faster.
// Then the memory store's C4-PAR, which writes nothing. Last, what the
// machine's cores allow, all of them busy, at the CPU that the memory
// store's C4-PAR spends per move (memCPU: deciding, encoding, decoding,
// and that store's own appends) plus what the raw insert spends per row
// at C4-PAR's rows (events) per move, each of which the store writes as
// a row: an estimate of the CPU that a move on the store cannot do
// without, not a bound.
func noteParCeiling(figs []*Figure, games *Baseline, appendsPerMove, eventsPerMove, memCPU float64) {
	var par *Figure
	for _, f := range figs {
		if f.Workload == "C4-PAR" && f.Case == "C=64" {
			par = f
		}
	}
	if par == nil || par.BaselineValue <= 0 {
		return
	}
	seq := par.BaselineValue
	var notes []string
	if games != nil && appendsPerMove > 0 {
		moves := games.Value / appendsPerMove
		n := fmt.Sprintf("SQLite's single writer commits at most %s rows/s of C4-PAR's shape into the store's schema (%s), %s moves/s at C4-PAR's %.3f appends per move, %.2fx C4-SEQ",
			num(games.Value), games.Name, num(moves), appendsPerMove, moves/seq)
		switch {
		case par.Value > moves:
			n += ": the store went faster than this estimate"
		case par.Target != nil && moves/seq < par.Target.Bound:
			n += fmt.Sprintf(": under %.0fx, out of reach in this run for a store that writes this schema a row at a time through this driver and these pragmas", par.Target.Bound)
		}
		notes = append(notes, n)
	}
	if par.Memory != nil {
		notes = append(notes, fmt.Sprintf("the memory store, which writes nothing, plays %s moves/s, %.2fx C4-SEQ", num(*par.Memory), *par.Memory/seq))
	}
	if games != nil && games.CPUPerRow > 0 && memCPU > 0 && eventsPerMove > 0 {
		perMove := memCPU + games.CPUPerRow*eventsPerMove
		moves := float64(runtime.NumCPU()) * 1e6 / perMove
		notes = append(notes, fmt.Sprintf("the memory store's CPU per move (%.0f us) and the raw insert's per row (%.1f us) at %.3f rows (events) per move come to %.0f us of CPU per move: %d cores kept busy would allow about %s moves/s, %.2fx C4-SEQ",
			memCPU, games.CPUPerRow, eventsPerMove, perMove, runtime.NumCPU(), num(moves), moves/seq))
	}
	for _, n := range notes {
		par.Note += "; " + n
	}
}

// pairMemory copies the memory store's figures beside the store's.
func pairMemory(primary, mem []*Figure) {
	for _, m := range mem {
		for _, f := range primary {
			if f.Workload == m.Workload && f.Case == m.Case && f.Unit == m.Unit {
				v := m.Value
				f.Memory = &v
			}
		}
	}
}

func (h *harness) baselines(ctx context.Context) error {
	dir := h.tgt.dir()
	var err error
	if h.fsync, err = fsyncRate(dir, h.cfg.baseFor); err != nil {
		return fmt.Errorf("fsync baseline: %w", err)
	}
	h.addBaseline(h.fsync)
	// A relaxed run's raw inserts take its store's relaxed pragmas: the
	// same driver and pragmas, and no durable figure beside its own.
	relaxed := h.tgt.relaxed
	if h.raw1, err = rawSQLiteInsert(ctx, dir, 1, relaxed, h.cfg.baseFor); err != nil {
		return fmt.Errorf("raw SQLite baseline: %w", err)
	}
	h.addBaseline(h.raw1)
	if h.raw100, err = rawSQLiteInsert(ctx, dir, 100, relaxed, h.cfg.baseFor); err != nil {
		return fmt.Errorf("raw SQLite baseline: %w", err)
	}
	h.addBaseline(h.raw100)
	// The ceilings are measured with the durable pragmas, and so only
	// beside a durable store.
	ceilings := h.tgt.kind == "sqlite" && !h.tgt.relaxed
	if ceilings && h.cfg.runs("c4seq") {
		// What the store's indexes cost a lone commit, beside C4-SEQ's
		// and the single writer's.
		if h.schema1, err = h.rawGame1(ctx); err != nil {
			return fmt.Errorf("raw SQLite schema baseline: %w", err)
		}
		h.addBaseline(h.schema1)
	}
	if ceilings && h.cfg.runs("append") {
		if h.schema64, err = rawSchemaInsert(ctx, dir, 64, appendRows, 0, h.cfg.baseFor); err != nil {
			return fmt.Errorf("raw SQLite schema baseline: %w", err)
		}
		h.addBaseline(h.schema64)
		// The table alone: what a row per event costs before any index,
		// beside the APPEND target.
		if h.table64, err = rawSchemaInsert(ctx, dir, 64, appendRowsNoIndexes, 0, h.cfg.baseFor); err != nil {
			return fmt.Errorf("raw SQLite schema baseline: %w", err)
		}
		h.addBaseline(h.table64)
		// The bare table at APPEND W=64 B=1's largest commit: 64 writers
		// of one event each, each waiting for its append, give a commit
		// 64 events at most, against the 100 rows of the target's
		// baseline.
		if h.bare64, err = rawSQLiteInsert(ctx, dir, 64, false, h.cfg.baseFor); err != nil {
			return fmt.Errorf("raw SQLite baseline: %w", err)
		}
		h.addBaseline(h.bare64)
	}
	if ceilings && h.cfg.runs("c4par") && slices.Contains(h.cfg.conc, 64) {
		// The most that SQLite's single writer commits of C4-PAR's events,
		// beside its target: as many as C4-PAR writes, so that the index
		// grows as far.
		if h.games64, err = h.rawGames64(ctx); err != nil {
			return fmt.Errorf("raw SQLite schema baseline: %w", err)
		}
		h.addBaseline(h.games64)
	}
	if h.tgt.kind == "postgres" {
		// The server's own figures are the ones its store is judged on.
		for _, c := range []struct{ writers, rows int }{{1, 1}, {1, 100}, {64, 1}} {
			b, err := rawPostgresInsert(ctx, h.tgt, c.writers, c.rows, h.cfg.baseFor)
			if err != nil {
				return fmt.Errorf("raw PostgreSQL baseline: %w", err)
			}
			h.addBaseline(b)
			switch {
			case c.writers == 1 && c.rows == 1:
				h.raw1 = b
			case c.rows == 100:
				h.raw100 = b
			}
		}
	}
	return nil
}

// bracketRaw1 measures the raw one-row insert again, right after C4-SEQ,
// and returns the mean of that and the run's first measurement, taken
// seconds before C4-SEQ (C4-SEQ is the first workload). The disk's rate
// of durable commits moves by up to 2x from one minute to the next on a
// shared virtual machine, so a figure judged against one measurement
// minutes away says more about the disk than about the store; both
// measurements are in the report.
func (h *harness) bracketRaw1(ctx context.Context) (*Baseline, error) {
	return h.bracket(h.raw1, "C4-SEQ", func() (*Baseline, error) { return rawSQLiteInsert(ctx, h.tgt.dir(), 1, h.tgt.relaxed, h.cfg.baseFor) })
}

// bracket measures a baseline again, right after the workload named
// after, adds that to the report, and returns the mean of it and before,
// the measurement at the start of the run.
func (h *harness) bracket(before *Baseline, after string, measure func() (*Baseline, error)) (*Baseline, error) {
	b, err := h.again(before, after, measure)
	if err != nil {
		return nil, err
	}
	return &Baseline{Name: fmt.Sprintf("%s, mean of before and after %s", before.Name, after), Value: (before.Value + b.Value) / 2, Unit: before.Unit}, nil
}

// bracketMax is bracket for a ceiling: it returns the faster of before
// and after.
func (h *harness) bracketMax(before *Baseline, after string, measure func() (*Baseline, error)) (*Baseline, error) {
	b, err := h.again(before, after, measure)
	if err != nil {
		return nil, err
	}
	faster := before
	if b.Value > before.Value {
		faster = b
	}
	return &Baseline{Name: fmt.Sprintf("%s, the faster of before and after %s", before.Name, after), Value: faster.Value, Unit: before.Unit, CPUPerRow: faster.CPUPerRow}, nil
}

// again measures a baseline again, right after the workload named after,
// and adds that to the report.
func (h *harness) again(before *Baseline, after string, measure func() (*Baseline, error)) (*Baseline, error) {
	b, err := measure()
	if err != nil {
		return nil, fmt.Errorf("%s, right after %s: %w", before.Name, after, err)
	}
	b.Name += ", right after " + after
	h.addBaseline(b)
	return b, nil
}

// rawGame1 is the raw insert of C4-SEQ's events into the store's schema,
// one game at a time, a commit per event.
func (h *harness) rawGame1(ctx context.Context) (*Baseline, error) {
	return rawSchemaInsert(ctx, h.tgt.dir(), 1, gameRows, 0, h.cfg.baseFor)
}

// rawGames64 is the raw insert of C4-PAR C=64's events into the store's
// schema: as many as its games write, about gameEvents each.
func (h *harness) rawGames64(ctx context.Context) (*Baseline, error) {
	return rawSchemaInsert(ctx, h.tgt.dir(), 64, gameRows, h.cfg.parGames*gameEvents, h.cfg.baseFor)
}

func (h *harness) addBaseline(b *Baseline) {
	h.rep.Baselines = append(h.rep.Baselines, b)
	fmt.Fprintf(h.out, "baseline  %-45s %12s %-9s %s\n", b.Name, num(b.Value), b.Unit, b.Latency)
}

// c4Note says where the sqlite store reads the games from.
func c4Note(t target) string {
	if t.kind == "sqlite" && !t.noCache {
		return "; each move loads its game through the store, which reads the games it created from its stream cache (memory) rather than the file"
	}
	return ""
}

// appendKind says what one append of the store is: durable only on a
// store that fsyncs (or has PostgreSQL commit) it before it returns.
func appendKind(t target) string {
	switch {
	case t.kind == "memory":
		return "one append, in memory"
	case t.relaxed:
		return "one append, not fsynced (relaxed durability)"
	}
	return "one durable append"
}

// loadNote says how LOAD opened the store (see harness.load).
func loadNote(t target) string {
	if t.kind == "sqlite" {
		return ", read from the file (the store opened without its stream cache)"
	}
	return ""
}

// targets reports whether the targets apply: they are set for
// the embedded store in its durable mode, so a relaxed run judges none.
func (h *harness) targets(t target, primary bool) bool {
	return primary && t.kind == "sqlite" && !t.relaxed
}

// workload runs one workload on t and returns its figures. primary is
// the store under test, whose figures get baselines and targets; the
// other is the memory store.
func (h *harness) workload(ctx context.Context, w string, t target, primary bool) ([]*Figure, error) {
	var figs []*Figure
	add := func(f *Figure) {
		if !primary {
			f.Baseline, f.BaselineValue, f.Target = "", 0, nil
		}
		if !h.targets(t, primary) {
			f.Target = nil
		}
		figs = append(figs, f)
		line := fmt.Sprintf("%-8s %-7s %-24s %12s %-9s", t.kind, f.Workload, f.Case, num(f.Value), f.Unit)
		if f.BaselineValue > 0 {
			line += fmt.Sprintf("  %.2fx %s", f.Value/f.BaselineValue, f.Baseline)
		}
		if f.Latency != nil {
			line += "  p50/p99/max " + f.Latency.String()
		}
		if f.Note != "" {
			line += "  (" + f.Note + ")"
		}
		fmt.Fprintln(h.out, line)
	}
	switch w {
	case "c4seq":
		r, err := h.c4(ctx, t, "c4seq", h.cfg.games, 1)
		if err != nil {
			return nil, err
		}
		h.seqMoves[t.kind] = r.movesPerSec()
		secs := r.elapsed.Seconds()
		note := fmt.Sprintf("%d games, %d moves, %s events/s; store holds %d events = commands reported", r.games, r.moves, num(float64(r.events)/secs), r.events) + r.cpuNote()
		base := h.raw1
		if primary && t.kind == "sqlite" {
			if base, err = h.bracketRaw1(ctx); err != nil {
				return nil, err
			}
			if h.schema1 != nil {
				if h.schema1, err = h.bracketMax(h.schema1, "C4-SEQ", func() (*Baseline, error) { return h.rawGame1(ctx) }); err != nil {
					return nil, err
				}
			}
		}
		add(&Figure{Workload: "C4-SEQ", Case: "G=" + fmt.Sprint(r.games), Value: float64(r.commands) / secs, Unit: "commands/s",
			Baseline: base.Name, BaselineValue: base.Value, Target: &Target{Bound: 0.60},
			Note: "each CreateGame or MakeMove is " + appendKind(t) + "; " + note + c4Note(t)})
		add(&Figure{Workload: "C4-SEQ", Case: "G=" + fmt.Sprint(r.games), Value: r.movesPerSec(), Unit: "moves/s", Latency: summarise(r.moveLat),
			Note: strings.TrimPrefix(c4Note(t), "; ")})
	case "c4par":
		for _, c := range h.cfg.conc {
			r, err := h.c4(ctx, t, fmt.Sprintf("c4par-%d", c), h.cfg.parGames, c)
			if err != nil {
				return nil, err
			}
			f := &Figure{Workload: "C4-PAR", Case: fmt.Sprintf("C=%d", c), Value: r.movesPerSec(), Unit: "moves/s", Latency: summarise(r.moveLat),
				Note: fmt.Sprintf("%d games, %d moves, %s events/s; store holds %d events = commands reported", r.games, r.moves, num(float64(r.events)/r.elapsed.Seconds()), r.events) + r.cpuNote() + c4Note(t)}
			if c == 64 && t.kind == "memory" && r.cpu > 0 && r.moves > 0 {
				h.memParCPU = float64(r.cpu.Microseconds()) / float64(r.moves)
			}
			if seq := h.seqMoves[t.kind]; seq > 0 {
				f.Baseline, f.BaselineValue = "C4-SEQ moves/s", seq
				if c == 64 {
					f.Target = &Target{Bound: 10}
				}
			} else {
				f.Note += "; no ratio: C4-SEQ did not run (add c4seq to --run)"
			}
			if c == 64 && t.kind == "sqlite" && primary {
				if h.games64 != nil {
					h.parAppendsPerMove = float64(r.commands) / float64(max(r.moves, 1))
					h.parEventsPerMove = float64(r.events) / float64(max(r.moves, 1))
					if h.games64, err = h.bracketMax(h.games64, "C4-PAR C=64", func() (*Baseline, error) { return h.rawGames64(ctx) }); err != nil {
						return nil, err
					}
				}
				// The stream cache serves C4-PAR's reads; the same games
				// without it show what it is worth, in the same run.
				off := t
				off.noCache = true
				r, err := h.c4(ctx, off, "c4par-64-nocache", h.cfg.parGames, c)
				if err != nil {
					return nil, err
				}
				f.Note += fmt.Sprintf("; without the stream cache (sqlite.Options.CacheEvents -1): %s moves/s, p99 %s ms", num(r.movesPerSec()), num(summarise(r.moveLat).P99))
				if !t.relaxed {
					// The games wait for the writer's fsync, which no
					// other work fills. The same games on a store that
					// never fsyncs show whether the store reaches the
					// target once no commit waits for the disk (not a
					// bound: its commits, which wait for nothing, gather
					// fewer appends each). A comparison, labelled so,
					// never a durable figure.
					rel := t
					rel.relaxed = true
					r, err := h.c4(ctx, rel, "c4par-64-relaxed", h.cfg.parGames, c)
					if err != nil {
						return nil, err
					}
					n := fmt.Sprintf("; for comparison only, not durable: on a store with relaxed durability (no fsync at all) the same games play %s moves/s", num(r.movesPerSec()))
					if cpu := r.cpuNote(); cpu != "" {
						n += " (" + strings.TrimPrefix(cpu, "; ") + ")"
					}
					if f.BaselineValue > 0 {
						// Against C4-SEQ played on the relaxed store too:
						// WORKLOAD.md never mixes relaxed figures with
						// durable ones.
						seq, err := h.c4(ctx, rel, "c4seq-relaxed", h.cfg.games, 1)
						if err != nil {
							return nil, err
						}
						n += fmt.Sprintf(", %.2fx the relaxed store's own C4-SEQ (%s moves/s)", r.movesPerSec()/seq.movesPerSec(), num(seq.movesPerSec()))
					}
					n += ": what the games allow when no commit waits for the disk"
					f.Note += n
				}
			}
			add(f)
		}
	case "append":
		for _, wr := range h.cfg.writers {
			for _, b := range h.cfg.batches {
				r, err := h.appendWorkload(ctx, t, wr, b, h.cfg.appendFor)
				if err != nil {
					return nil, err
				}
				secs := r.elapsed.Seconds()
				f := &Figure{Workload: "APPEND", Case: fmt.Sprintf("W=%d B=%d", wr, b), Value: float64(r.events) / secs, Unit: "events/s",
					Latency: summarise(r.lat), Note: fmt.Sprintf("%s appends/s", num(float64(r.appends)/secs))}
				// One writer of single events makes one commit per event,
				// as the one-row raw insert does; everything else can fill
				// a transaction, as the hundred-row one does.
				base := h.raw100
				if wr == 1 && b == 1 {
					base = h.raw1
				}
				f.Baseline, f.BaselineValue = base.Name, base.Value
				if wr == 64 && b == 1 {
					f.Target = &Target{Bound: 0.70}
					if h.schema64 != nil && primary {
						// The target's case is judged against the raw
						// inserts measured at the start of the run and
						// again right after it, as C4-SEQ is.
						dir := h.tgt.dir()
						if base, err = h.bracket(h.raw100, "APPEND W=64 B=1", func() (*Baseline, error) { return rawSQLiteInsert(ctx, dir, 100, false, h.cfg.baseFor) }); err != nil {
							return nil, err
						}
						f.Baseline, f.BaselineValue = base.Name, base.Value
						schema, err := h.bracket(h.schema64, "APPEND W=64 B=1", func() (*Baseline, error) { return rawSchemaInsert(ctx, dir, 64, appendRows, 0, h.cfg.baseFor) })
						if err != nil {
							return nil, err
						}
						f.Note += fmt.Sprintf("; %.2fx the raw insert of 64 rows/txn into the store's own schema (%s rows/s, the mean of before and after)", f.Value/schema.Value, num(schema.Value))
						if h.table64 != nil {
							f.Note += fmt.Sprintf("; the events table alone, without indexes, reaches %.2fx of this baseline", h.table64.Value/base.Value)
						}
						if h.bare64 != nil {
							bare, err := h.bracket(h.bare64, "APPEND W=64 B=1", func() (*Baseline, error) { return rawSQLiteInsert(ctx, dir, 64, false, h.cfg.baseFor) })
							if err != nil {
								return nil, err
							}
							f.Note += fmt.Sprintf("; a commit holds at most 64 of these appends, one per writer, and the bare table at 64 rows/txn reaches %.2fx of this baseline (%s rows/s, the mean of before and after)", bare.Value/base.Value, num(bare.Value))
						}
					}
				}
				add(f)
			}
		}
	case "replay":
		var runs []replayRun
		for _, n := range h.cfg.replay {
			if !primary && n > h.cfg.memReplay {
				continue
			}
			r, err := h.replay(ctx, t, n)
			if err != nil {
				return nil, err
			}
			runs = append(runs, r)
			mem := "peak RSS unknown (it is read from Linux's /proc), so REPLAY's memory is not judged"
			if r.peak > 0 {
				mem = fmt.Sprintf("peak RSS %s (%s before the read)", mib(r.peak), mib(r.rssBefore))
			}
			f := &Figure{Workload: "REPLAY", Case: fmt.Sprintf("N=%d", n), Value: float64(n) / r.replay.Seconds(), Unit: "events/s",
				Note: "decoding each event into its Go type; " + mem}
			g := &Figure{Workload: "REPLAY", Case: fmt.Sprintf("N=%d read only", n), Value: float64(n) / r.readAll.Seconds(), Unit: "events/s",
				Note: "ReadAll without decoding, for comparison"}
			if r.raw > 0 {
				rate := float64(n) / r.raw.Seconds()
				f.Baseline, f.BaselineValue, f.Target = "raw SELECT of the log", rate, &Target{Bound: 0.80}
				g.Baseline, g.BaselineValue = "raw SELECT of the log", rate
			}
			add(f)
			add(g)
			if r.rawScan > 0 {
				h.addBaseline(&Baseline{Name: fmt.Sprintf("raw SELECT of the log through database/sql's Scan, N=%d", n), Value: float64(n) / r.rawScan.Seconds(), Unit: "events/s",
					Note: fmt.Sprintf("for comparison: REPLAY's raw SELECT reads the driver's rows, as the store does, and reached %s events/s", num(float64(n)/r.raw.Seconds()))})
			}
			if r.rawSplit > 0 {
				h.addBaseline(&Baseline{Name: fmt.Sprintf("two raw SELECTs at once, each of half the log, N=%d", n), Value: float64(n) / r.rawSplit.Seconds(), Unit: "events/s",
					Note: "for comparison: the store's ReadAll reads two pages at once on two connections; REPLAY's baseline is the single raw SELECT"})
			}
			if primary && r.peak > 0 {
				add(&Figure{Workload: "REPLAY", Case: fmt.Sprintf("N=%d peak RSS", n), Value: float64(r.peak) / (1 << 20), Unit: "MiB",
					Note: "the process's high-water mark, reset before the read"})
			}
		}
		// The memory half of the target: the growth during the read at
		// the largest size against the smallest's.
		if primary {
			if f := replayMemory(runs); f != nil {
				add(f)
			}
		}
	case "load":
		runs, err := h.load(ctx, t, h.cfg.load)
		if err != nil {
			return nil, err
		}
		for _, r := range runs {
			f := &Figure{Workload: "LOAD", Case: fmt.Sprintf("L=%d", r.length), Value: ms(r.plain), Unit: "ms", LowerIsBetter: true,
				Note: fmt.Sprintf("median of %d; replaying every event%s", r.plainN, loadNote(t))}
			if r.raw > 0 {
				f.Baseline, f.BaselineValue = "raw SELECT of the stream, ms", ms(r.raw)
				if r.length == 100_000 {
					f.Target = loadTarget()
				}
			}
			add(f)
			s := &Figure{Workload: "LOAD", Case: fmt.Sprintf("L=%d snapshot", r.length), Value: ms(r.snap), Unit: "ms", LowerIsBetter: true,
				Baseline: "load without snapshot, ms", BaselineValue: ms(r.plain), Note: fmt.Sprintf("median of %d; from a snapshot at the last event", r.snapN)}
			if r.length == 100_000 {
				s.Target = &Target{Absolute: true, AtMost: true, Bound: 5}
			}
			add(s)
		}
	case "sub":
		r, err := h.sub(ctx, t, h.cfg.subGames)
		if err != nil {
			return nil, err
		}
		once := r.inOrder && r.received == r.events
		lat := summarise(r.lat)
		f := &Figure{Workload: "SUB", Case: "during C4-PAR C=64", Unit: "ms p99", Latency: lat}
		if lat != nil {
			f.Value = lat.P99
		}
		missing := ""
		if r.missing > 0 {
			missing = fmt.Sprintf(", %d never arrived (not timed)", r.missing)
		}
		f.Note = fmt.Sprintf("%d events appended, %d received%s; exactly once in order: %s; %d arrived before their append returned (counted as 0); C4-PAR alongside: %s moves/s",
			r.events, r.received, missing, yesNo(once), r.early, num(r.movesPerSec()))
		f.Target = &Target{Absolute: true, AtMost: true, Bound: 5}
		if !once {
			f.Note = "FAILED exactly once in order: " + f.Note
			f.FailedCheck = true
		}
		add(f)
	}
	return figs, nil
}

// loadTarget is LOAD's target without a snapshot: at most 2x the time
// of the raw SELECT of the stream, 2x itself included.
func loadTarget() *Target { return &Target{AtMost: true, OrEqual: true, Bound: 2} }

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "NO"
}

// loadAvg reads the system's load averages, to show how busy the machine
// was with other work.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// cpuModel reads the processor's name from /proc/cpuinfo.
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}
