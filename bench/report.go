package main

import (
	"encoding/json"
	"fmt"
	"image/color"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Report is one run: what ran where, the baselines, and the figures.
type Report struct {
	Command   string      `json:"command"`
	Code      string      `json:"code"` // the commit the binary was built from, as codeOf tells
	Store     string      `json:"store"`
	Relaxed   bool        `json:"relaxed,omitempty"` // the sqlite store ran without an fsync per commit
	Quick     bool        `json:"quick"`
	Started   time.Time   `json:"started"`
	Seconds   float64     `json:"seconds"`
	Machine   Machine     `json:"machine"`
	Baselines []*Baseline `json:"baselines"`
	Figures   []*Figure   `json:"figures"`
}

// Machine describes where the run ran. Load averages before and after
// tell how busy the machine was with other work.
type Machine struct {
	CPUs       int    `json:"cpus"`
	CPU        string `json:"cpu"`
	Go         string `json:"go"`
	LoadBefore string `json:"loadavg_before"`
	LoadAfter  string `json:"loadavg_after"`
}

// Baseline is a figure that the store's are judged against.
type Baseline struct {
	Name    string   `json:"name"`
	Value   float64  `json:"value"`
	Unit    string   `json:"unit"`
	Latency *Latency `json:"latency,omitempty"`
	Note    string   `json:"note,omitempty"`
	// CPUPerRow is the process's CPU time, user and system, per row
	// inserted, in microseconds, where the baseline measures it.
	CPUPerRow float64 `json:"cpu_us_per_row,omitempty"`
}

// Figure is one measurement of the store, beside its baseline.
type Figure struct {
	Workload string   `json:"workload"`
	Case     string   `json:"case"`
	Value    float64  `json:"value"`
	Unit     string   `json:"unit"`
	Latency  *Latency `json:"latency,omitempty"`
	// Memory is the same figure on the memory store, when it ran.
	Memory *float64 `json:"memory,omitempty"`
	// Baseline names what Value is judged against, and Ratio is
	// Value / BaselineValue.
	Baseline      string  `json:"baseline,omitempty"`
	BaselineValue float64 `json:"baseline_value,omitempty"`
	Ratio         float64 `json:"ratio,omitempty"`
	// LowerIsBetter marks times, whose ratio reads "x the baseline's time".
	LowerIsBetter bool    `json:"lower_is_better,omitempty"`
	Target        *Target `json:"target,omitempty"`
	Met           *bool   `json:"met,omitempty"`
	Note          string  `json:"note,omitempty"`
	// FailedCheck marks a figure whose correctness check failed, such as
	// a subscription that lost or repeated events: it misses its target
	// whatever its value.
	FailedCheck bool `json:"failed_check,omitempty"`
}

// Target is the goal for a figure on the embedded store: Ratio
// (or, for an absolute target, Value) compared with Bound.
type Target struct {
	Absolute bool    `json:"absolute"`           // compare Value, not Ratio
	AtMost   bool    `json:"at_most"`            // Value or Ratio must be below Bound; else at least Bound
	OrEqual  bool    `json:"or_equal,omitempty"` // with AtMost: Bound itself meets it
	Bound    float64 `json:"bound"`
}

func (t *Target) String() string {
	if t == nil {
		return ""
	}
	op := "≥"
	switch {
	case t.AtMost && t.OrEqual:
		op = "≤"
	case t.AtMost:
		op = "<"
	}
	if t.Absolute {
		return op + " " + num(t.Bound)
	}
	return op + " " + num(t.Bound) + "x"
}

// judge sets Ratio from the baseline and, when there is a target, Met.
func (f *Figure) judge() {
	if f.BaselineValue > 0 {
		f.Ratio = f.Value / f.BaselineValue
	}
	if f.Target == nil {
		return
	}
	v := f.Ratio
	if f.Target.Absolute {
		v = f.Value
	} else if f.BaselineValue <= 0 {
		return
	}
	met := v >= f.Target.Bound
	switch {
	case f.Target.AtMost && f.Target.OrEqual:
		met = v <= f.Target.Bound
	case f.Target.AtMost:
		met = v < f.Target.Bound
	}
	met = met && !f.FailedCheck
	f.Met = &met
}

// speedup is the figure's standing against its baseline, with more
// always better: the ratio of a rate, the inverse ratio of a time.
func (f *Figure) speedup() (float64, bool) {
	if f.Ratio <= 0 {
		return 0, false
	}
	if f.LowerIsBetter {
		return 1 / f.Ratio, true
	}
	return f.Ratio, true
}

// write saves the report as name.md, name.json, name.svg and name.png in
// dir, and prints the Markdown to stdout.
func (r *Report) write(dir, name string, stdout io.Writer) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	md := r.markdown(name + ".svg")
	base := filepath.Join(dir, name)
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(base+".md", []byte(md), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(base+".json", append(js, '\n'), 0o644); err != nil {
		return err
	}
	// The same chart twice: SVG for the Markdown, PNG for viewers that
	// show no SVG. plot.Save picks the format from the extension.
	for _, ext := range []string{".svg", ".png"} {
		if err := r.chart(base + ext); err != nil {
			return fmt.Errorf("chart: %w", err)
		}
	}
	fmt.Fprintf(stdout, "\n%s\nwrote %s.md, %s.json, %s.svg and %s.png\n", md, base, base, base, base)
	return nil
}

func (r *Report) markdown(chart string) string {
	var b strings.Builder
	title := r.Store
	if r.Relaxed {
		title += ", relaxed durability"
	}
	fmt.Fprintf(&b, "# Chronicle benchmarks: %s\n\n", title)
	if r.Relaxed {
		b.WriteString("- **Relaxed durability**: the store did not fsync its commits (synchronous=NORMAL), so none of these figures is durable, and no target is judged (the targets are the durable store's); the raw SQLite baselines ran with the same relaxed pragmas, and only the fsync rate is durable\n")
	}
	fmt.Fprintf(&b, "- Command: `%s`\n", r.Command)
	fmt.Fprintf(&b, "- Code: %s\n", r.Code)
	fmt.Fprintf(&b, "- Started %s, took %.0f s\n", r.Started.Format(time.RFC3339), r.Seconds)
	fmt.Fprintf(&b, "- Machine: %d CPUs (%s), %s\n", r.Machine.CPUs, r.Machine.CPU, r.Machine.Go)
	fmt.Fprintf(&b, "- Load average before: %s; after: %s\n\n", r.Machine.LoadBefore, r.Machine.LoadAfter)
	b.WriteString("## Baselines (same run)\n\n| Baseline | Figure | Latency p50 / p99 / max | Note |\n|---|---:|---|---|\n")
	for _, bl := range r.Baselines {
		fmt.Fprintf(&b, "| %s | %s %s | %s | %s |\n", bl.Name, num(bl.Value), bl.Unit, bl.Latency, bl.Note)
	}
	b.WriteString("\n## Figures\n\n")
	b.WriteString("| Workload | Case | Store | Memory store | Baseline (same run) | Ratio | Latency p50 / p99 / max | Target | Note |\n")
	b.WriteString("|---|---|---:|---:|---|---:|---|---|---|\n")
	for _, f := range r.Figures {
		mem := ""
		if f.Memory != nil {
			mem = num(*f.Memory) + " " + f.Unit
		}
		baseline, ratio := "", ""
		if f.Baseline != "" {
			baseline = f.Baseline + ": " + num(f.BaselineValue)
			ratio = num(f.Ratio) + "x"
		}
		target := f.Target.String()
		if f.Met != nil {
			if *f.Met {
				target += " **met**"
			} else {
				target += " **missed**"
			}
		}
		fmt.Fprintf(&b, "| %s | %s | %s %s | %s | %s | %s | %s | %s | %s |\n",
			f.Workload, f.Case, num(f.Value), f.Unit, mem, baseline, ratio, f.Latency, target, f.Note)
	}
	fmt.Fprintf(&b, "\n![each figure against its baseline](%s)\n", chart)
	return b.String()
}

// chart draws each figure that has a baseline as a horizontal bar: its
// standing against that baseline, with more always better, and its
// target as a mark.
func (r *Report) chart(path string) error {
	var names []string
	var bars plotter.Values
	var targets plotter.XYs
	for _, f := range r.Figures {
		s, ok := f.speedup()
		// A snapshot's thousandfold gain over a replay would flatten
		// every other bar, and REPLAY's growth in memory at one size
		// against another's is no standing against a baseline's speed:
		// their figures are in the table.
		if !ok || strings.HasSuffix(f.Case, "snapshot") || f.Unit == "MiB" {
			continue
		}
		i := float64(len(bars))
		names = append(names, f.Workload+" "+f.Case)
		bars = append(bars, s)
		if t := f.Target; t != nil && !t.Absolute {
			bound := t.Bound
			if f.LowerIsBetter {
				bound = 1 / bound
			}
			targets = append(targets, plotter.XY{X: bound, Y: i})
		}
	}
	p := plot.New()
	p.Title.Text = "Chronicle (" + r.Store + ") against same-run baselines"
	p.X.Label.Text = "figure / baseline (times: baseline / figure); 1 = the baseline"
	if len(bars) == 0 {
		return p.Save(8*vg.Inch, 2*vg.Inch, path)
	}
	bc, err := plotter.NewBarChart(bars, vg.Points(9))
	if err != nil {
		return err
	}
	bc.Horizontal = true
	bc.Color = color.RGBA{R: 0x3b, G: 0x75, B: 0xaf, A: 0xff}
	bc.LineStyle.Width = 0
	p.Add(bc, plotter.NewGrid())
	if len(targets) > 0 {
		sc, err := plotter.NewScatter(targets)
		if err != nil {
			return err
		}
		sc.GlyphStyle.Shape = draw.BoxGlyph{}
		sc.GlyphStyle.Color = color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}
		sc.GlyphStyle.Radius = vg.Points(3)
		p.Add(sc)
		p.Legend.Add("target", sc)
		p.Legend.Top = true
	}
	p.NominalY(names...)
	p.X.Min = 0
	return p.Save(9*vg.Inch, vg.Length(len(bars))*0.28*vg.Inch+1.5*vg.Inch, path)
}

// codeOf says which code a binary of the harness was built from, from
// its build information: the commit, and whether the checkout had
// changes beside it. go build in a checkout records them; go run and
// builds outside one do not.
func codeOf(info *debug.BuildInfo, ok bool) string {
	var rev, modified string
	if ok {
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				modified = s.Value
			}
		}
	}
	switch {
	case rev == "":
		return "commit not recorded in the binary (go run, and go build with -buildvcs=false, record none: go build -buildvcs=true in the checkout does)"
	case modified == "true":
		return "commit " + rev + ", with uncommitted changes in the checkout"
	}
	return "commit " + rev
}
