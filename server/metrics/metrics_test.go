package metrics

import (
	"net/http/httptest"
	"strings"
	"testing"
)

func TestWriteText(t *testing.T) {
	r := NewRegistry()
	c := r.Counter("app_requests_total", "Requests served.\nBy code.", "code")
	c.Inc("200")
	c.Add(2, "200")
	c.Inc(`a"b\c`)
	c.Add(-5, "200") // ignored: counters only go up
	g := r.Gauge("app_open", "Open things.")
	g.Add(3)
	g.Add(-1)
	r.GaugeFunc("app_lag", "Lag.", []string{"name"}, func() []Sample {
		return []Sample{{LabelValues: []string{"p"}, Value: 7}}
	})
	h := r.Histogram("app_seconds", "Latency.", []float64{0.1, 1}, "route")
	h.Observe(0.05, "/x")
	h.Observe(0.5, "/x")
	h.Observe(3, "/x")

	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if ct := rec.Header().Get("Content-Type"); ct != ContentType {
		t.Errorf("Content-Type = %q", ct)
	}
	want := `# HELP app_requests_total Requests served.\nBy code.
# TYPE app_requests_total counter
app_requests_total{code="200"} 3
app_requests_total{code="a\"b\\c"} 1
# HELP app_open Open things.
# TYPE app_open gauge
app_open 2
# HELP app_lag Lag.
# TYPE app_lag gauge
app_lag{name="p"} 7
# HELP app_seconds Latency.
# TYPE app_seconds histogram
app_seconds_bucket{route="/x",le="0.1"} 1
app_seconds_bucket{route="/x",le="1"} 2
app_seconds_bucket{route="/x",le="+Inf"} 3
app_seconds_sum{route="/x"} 3.55
app_seconds_count{route="/x"} 3
`
	if got := rec.Body.String(); got != want {
		t.Errorf("exposition:\n%s\nwant:\n%s", got, want)
	}
}

func TestRegisterTwicePanics(t *testing.T) {
	r := NewRegistry()
	r.Counter("x", "")
	defer func() {
		if recover() == nil {
			t.Error("registering x twice did not panic")
		}
	}()
	r.Gauge("x", "")
}

func TestHistogramBoundaryIsInclusive(t *testing.T) {
	r := NewRegistry()
	h := r.Histogram("h", "", []float64{1})
	h.Observe(1)
	var b strings.Builder
	r.WriteText(&b)
	if !strings.Contains(b.String(), `h_bucket{le="1"} 1`) {
		t.Errorf("an observation equal to a bound belongs to its bucket (le = less or equal):\n%s", b.String())
	}
}
