// Package metrics keeps counters, gauges and histograms and writes them in
// the Prometheus text exposition format (version 0.0.4), which every
// Prometheus-compatible scraper reads.
//
// It is small on purpose: the server needs a handful of metrics, and the
// format is a few lines of text, so this saves a dependency on the
// Prometheus client library and its own dependencies.
package metrics

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Registry holds metric families and writes them out. It is safe for
// concurrent use.
type Registry struct {
	mu       sync.Mutex
	families []*family
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{} }

type kind string

const (
	counter   kind = "counter"
	gauge     kind = "gauge"
	histogram kind = "histogram"
)

// family is one metric name with its series, one per set of label values.
type family struct {
	name, help string
	kind       kind
	labels     []string
	buckets    []float64 // histograms only

	mu     sync.Mutex
	series map[string]*series // by joined label values
	// collect, when set, computes the samples at each scrape instead.
	collect func() []Sample
}

type series struct {
	values []string
	value  float64  // counter or gauge; sum for a histogram
	counts []uint64 // histogram: per bucket, not cumulative
	count  uint64   // histogram: observations
}

// Sample is one value of a gauge computed at scrape time.
type Sample struct {
	// LabelValues are in the order of the family's label names.
	LabelValues []string
	Value       float64
}

func (r *Registry) add(f *family) *family {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, old := range r.families {
		if old.name == f.name {
			// Names are constants of the program: a clash is a bug.
			panic("metrics: " + f.name + " registered twice")
		}
	}
	f.series = map[string]*series{}
	r.families = append(r.families, f)
	return f
}

// Counter is a family of counters: values that only go up.
type Counter struct{ f *family }

// Counter registers a counter family with the given label names.
func (r *Registry) Counter(name, help string, labels ...string) *Counter {
	return &Counter{r.add(&family{name: name, help: help, kind: counter, labels: labels})}
}

// Add adds v, which must not be negative, to the counter with these label
// values.
func (c *Counter) Add(v float64, labelValues ...string) {
	if v < 0 {
		return
	}
	c.f.with(labelValues, func(s *series) { s.value += v })
}

// Inc adds one to the counter with these label values.
func (c *Counter) Inc(labelValues ...string) { c.Add(1, labelValues...) }

// Gauge is a family of gauges: values that go up and down.
type Gauge struct{ f *family }

// Gauge registers a gauge family with the given label names.
func (r *Registry) Gauge(name, help string, labels ...string) *Gauge {
	return &Gauge{r.add(&family{name: name, help: help, kind: gauge, labels: labels})}
}

// Add adds v (which may be negative) to the gauge with these label values.
func (g *Gauge) Add(v float64, labelValues ...string) {
	g.f.with(labelValues, func(s *series) { s.value += v })
}

// Set sets the gauge with these label values to v.
func (g *Gauge) Set(v float64, labelValues ...string) {
	g.f.with(labelValues, func(s *series) { s.value = v })
}

// GaugeFunc registers a gauge family whose samples collect computes at
// each scrape, for values that live elsewhere, such as a projection's lag.
func (r *Registry) GaugeFunc(name, help string, labels []string, collect func() []Sample) {
	r.add(&family{name: name, help: help, kind: gauge, labels: labels, collect: collect})
}

// Histogram is a family of histograms: observations counted in buckets.
type Histogram struct{ f *family }

// DefaultBuckets suit latencies in seconds, from a millisecond to ten
// seconds.
var DefaultBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// Histogram registers a histogram family with the given upper bounds of
// its buckets (sorted; nil means [DefaultBuckets]) and label names.
func (r *Registry) Histogram(name, help string, buckets []float64, labels ...string) *Histogram {
	if buckets == nil {
		buckets = DefaultBuckets
	}
	buckets = slices.Clone(buckets)
	slices.Sort(buckets)
	return &Histogram{r.add(&family{name: name, help: help, kind: histogram, labels: labels, buckets: buckets})}
}

// Observe records v in the histogram with these label values.
func (h *Histogram) Observe(v float64, labelValues ...string) {
	h.f.with(labelValues, func(s *series) {
		if s.counts == nil {
			s.counts = make([]uint64, len(h.f.buckets))
		}
		if i, _ := slices.BinarySearch(h.f.buckets, v); i < len(s.counts) {
			s.counts[i]++
		}
		s.count++
		s.value += v
	})
}

// with runs fn on the series of labelValues, creating it. A wrong number
// of label values is a bug of the caller: the missing ones are empty and
// extra ones dropped, rather than a panic in a request.
func (f *family) with(labelValues []string, fn func(*series)) {
	values := make([]string, len(f.labels))
	copy(values, labelValues)
	key := strings.Join(values, "\xff")
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.series[key]
	if s == nil {
		s = &series{values: values}
		f.series[key] = s
	}
	fn(s)
}

// WriteText writes every family in the text exposition format.
func (r *Registry) WriteText(w io.Writer) error {
	r.mu.Lock()
	families := slices.Clone(r.families)
	r.mu.Unlock()
	var b strings.Builder
	for _, f := range families {
		f.write(&b)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// ContentType is the media type of the text exposition format.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// ServeHTTP serves the metrics to a scraper.
func (r *Registry) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", ContentType)
	r.WriteText(w)
}

func (f *family) write(b *strings.Builder) {
	fmt.Fprintf(b, "# HELP %s %s\n# TYPE %s %s\n", f.name, escapeHelp(f.help), f.name, f.kind)
	if f.collect != nil {
		for _, s := range f.collect() {
			b.WriteString(f.name)
			writeLabels(b, f.labels, s.LabelValues, "", "")
			fmt.Fprintf(b, " %s\n", formatValue(s.Value))
		}
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	keys := make([]string, 0, len(f.series))
	for k := range f.series {
		keys = append(keys, k)
	}
	// Sorted, so that a scrape reads the same from one time to the next.
	slices.Sort(keys)
	for _, k := range keys {
		s := f.series[k]
		if f.kind != histogram {
			b.WriteString(f.name)
			writeLabels(b, f.labels, s.values, "", "")
			fmt.Fprintf(b, " %s\n", formatValue(s.value))
			continue
		}
		var cum uint64
		for i, le := range f.buckets {
			cum += s.counts[i]
			b.WriteString(f.name + "_bucket")
			writeLabels(b, f.labels, s.values, "le", formatValue(le))
			fmt.Fprintf(b, " %d\n", cum)
		}
		b.WriteString(f.name + "_bucket")
		writeLabels(b, f.labels, s.values, "le", "+Inf")
		fmt.Fprintf(b, " %d\n", s.count)
		b.WriteString(f.name + "_sum")
		writeLabels(b, f.labels, s.values, "", "")
		fmt.Fprintf(b, " %s\n", formatValue(s.value))
		b.WriteString(f.name + "_count")
		writeLabels(b, f.labels, s.values, "", "")
		fmt.Fprintf(b, " %d\n", s.count)
	}
}

func writeLabels(b *strings.Builder, names, values []string, extraName, extraValue string) {
	if len(names) == 0 && extraName == "" {
		return
	}
	b.WriteByte('{')
	for i, n := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		v := ""
		if i < len(values) {
			v = values[i]
		}
		fmt.Fprintf(b, `%s="%s"`, n, escapeLabel(v))
	}
	if extraName != "" {
		if len(names) > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(b, `%s="%s"`, extraName, escapeLabel(extraValue))
	}
	b.WriteByte('}')
}

var (
	labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
)

func escapeLabel(s string) string { return labelEscaper.Replace(s) }
func escapeHelp(s string) string  { return helpEscaper.Replace(s) }

func formatValue(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}
