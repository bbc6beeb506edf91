package server

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/projection"
	"github.com/chronicle-es/chronicle/server/metrics"
)

// serverMetrics are what /metrics shows.
type serverMetrics struct {
	reg             *metrics.Registry
	appends         *metrics.Counter
	appendedEvents  *metrics.Counter
	appendRetries   *metrics.Counter
	appendErrors    *metrics.Counter
	reads           *metrics.Counter
	readEvents      *metrics.Counter
	subscriptions   *metrics.Gauge
	subscriptionLag *metrics.Histogram
	httpDuration    *metrics.Histogram
}

func newServerMetrics(s *Server) *serverMetrics {
	reg := metrics.NewRegistry()
	m := &serverMetrics{
		reg:     reg,
		appends: reg.Counter("chronicle_appends_total", "Appends that succeeded through the API, retries included."),
		appendedEvents: reg.Counter("chronicle_appended_events_total",
			"Events written by appends through the API; not those of retries, which write nothing."),
		appendRetries: reg.Counter("chronicle_append_retries_total",
			"Appends through the API that succeeded without writing, as retries of an append already written (the same event IDs)."),
		appendErrors: reg.Counter("chronicle_append_errors_total",
			"Appends through the API that were refused (bad input, access, a conflict) or failed, by error code.", "code"),
		reads:         reg.Counter("chronicle_reads_total", "Reads through the API, of a stream or of the global log.", "source"),
		readEvents:    reg.Counter("chronicle_read_events_total", "Events returned by reads through the API.", "source"),
		subscriptions: reg.Gauge("chronicle_subscriptions", "Subscriptions (Server-Sent Events) open now.", "source"),
		subscriptionLag: reg.Histogram("chronicle_subscription_lag_seconds",
			"Time from an event's commit to its sending to a subscriber: how far behind subscriptions run.",
			[]float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 5, 30, 60, 300, 3600}, "source"),
		httpDuration: reg.Histogram("chronicle_http_request_duration_seconds",
			"Time to answer HTTP requests, by route and status class (subscriptions count their whole life).",
			nil, "route", "code"),
	}
	if s.runner != nil {
		reg.GaugeFunc("chronicle_projection_lag_positions", "Positions of the global log that a projection has not reflected yet; 0 when no event it handles is left to apply.",
			[]string{"projection"}, func() []metrics.Sample {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				st, err := s.runner.Status(ctx)
				if err != nil {
					return nil
				}
				out := make([]metrics.Sample, len(st))
				for i, p := range st {
					out[i] = metrics.Sample{LabelValues: []string{p.Name}, Value: float64(p.Lag)}
				}
				return out
			})
	}
	return m
}

func (s *Server) live(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "live"})
}

// ready reports whether the store answers: the server is useless without.
func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	select {
	case <-s.closing:
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "shutting down"})
		return
	default:
	}
	if _, err := s.head(ctx); err != nil {
		s.log.Warn("not ready", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "store unavailable", "error": classify(err).Message})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// head returns the position of the newest event, 0 for none.
func (s *Server) head(ctx context.Context) (uint64, error) {
	return projection.Head(ctx, s.store)
}

// Stats is what the dashboard shows of the store.
type Stats struct {
	// Streams and Events count what the store holds. Counted is false on
	// a store that cannot count them, when Events is the head position
	// (an upper bound) and Streams is unknown.
	Streams, Events uint64
	Counted         bool
	// Head is the position of the newest event.
	Head uint64
	// Rate counts the events recorded in each of the last minutes, the
	// oldest first; the last is the current minute.
	Rate []uint64
	// RateTruncated says that more events than were read fell in those
	// minutes: Rate counts only the newest.
	RateTruncated bool
	// Projections are the read models' projections, when the store keeps
	// read models.
	Projections []projection.Status
	// Subscriptions open now.
	Subscriptions int
}

// rateMinutes is how many minutes the append rate covers, and rateScan
// the most events read back to count them.
const (
	rateMinutes = 15
	rateScan    = 200_000
)

// statsCache keeps the stats for a while: counting reads the store (the
// embedded store's count reads its whole index of streams, and the rate
// up to rateScan events), and a dashboard left open should not make it
// do so continually. One request computes them at a time; the others
// wait for its result.
type statsCache struct {
	mu      sync.Mutex
	at      time.Time
	ttl     time.Duration // how long stats stay
	stats   Stats
	err     error         // of the last computation
	running chan struct{} // closed when the computation under way ends
}

// The stats stay statsTTL, or statsCost times as long as they took to
// compute if that is longer, but no longer than statsMaxTTL: a dashboard
// left open costs the server at most a twentieth of one core (while they
// take under 3 s to compute), and shows figures at most a minute old.
// Computing them ends after statsLimit, whoever asked for them.
const (
	statsTTL    = 2 * time.Second
	statsCost   = 20
	statsMaxTTL = time.Minute
	statsLimit  = 5 * time.Minute
)

// statsStay is how long stats that took took to compute stay.
func statsStay(took time.Duration) time.Duration {
	return min(max(statsTTL, statsCost*took), statsMaxTTL)
}

// Stats returns the dashboard's figures.
func (s *Server) Stats(ctx context.Context) (Stats, error) {
	c := &s.stats
	c.mu.Lock()
	if time.Since(c.at) < c.ttl {
		defer c.mu.Unlock()
		return c.stats, nil
	}
	if done := c.running; done != nil {
		c.mu.Unlock()
		select {
		case <-done:
		case <-ctx.Done():
			return Stats{}, ctx.Err()
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.stats, c.err
	}
	done := make(chan struct{})
	c.running = done
	c.mu.Unlock()

	// The computation outlives a request that gives up (a slow count may
	// take longer than a request may wait), so that its result is kept
	// and the next request does not start it all over again; but not a
	// server that cuts its requests off, which waits for this one's
	// handler before the store may be closed.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), statsLimit)
	defer cancel()
	go func() {
		select {
		case <-s.cutOff:
			cancel()
		case <-cctx.Done():
		}
	}()
	began := time.Now()
	st, err := s.computeStats(cctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.running = nil
	close(done)
	if c.err = err; err == nil {
		c.at, c.stats = time.Now(), st
		c.ttl = statsStay(c.at.Sub(began))
	}
	return st, err
}

// computeStats reads the dashboard's figures from the store.
func (s *Server) computeStats(ctx context.Context) (Stats, error) {
	var st Stats
	var err error
	if st.Head, err = s.head(ctx); err != nil {
		return st, err
	}
	if l, ok := s.store.(chronicle.StreamLister); ok {
		st.Streams, st.Events, err = l.CountStreams(ctx)
		// A wrapping store says so when the store beneath cannot count.
		st.Counted = !errors.Is(err, errors.ErrUnsupported)
		if st.Counted && err != nil {
			return st, err
		}
	}
	if !st.Counted {
		st.Streams, st.Events = 0, st.Head
	}
	now := time.Now()
	start := now.Truncate(time.Minute).Add(-(rateMinutes - 1) * time.Minute)
	st.Rate = make([]uint64, rateMinutes)
	n := 0
	for e, err := range s.store.ReadAll(ctx, chronicle.ReadAllOptions{Backwards: true, From: chronicle.End, Limit: rateScan}) {
		if err != nil {
			return st, err
		}
		if e.Recorded.Before(start) {
			break
		}
		if i := int(e.Recorded.Sub(start) / time.Minute); i >= 0 && i < rateMinutes {
			st.Rate[i]++
		}
		if n++; n == rateScan {
			st.RateTruncated = true
		}
	}
	if s.runner != nil {
		if st.Projections, err = s.runner.Status(ctx); err != nil {
			return st, err
		}
	}
	st.Subscriptions = len(s.subscribers)
	return st, nil
}

func (s *Server) apiStats(w http.ResponseWriter, r *http.Request) {
	if err := checkQuery(r); err != nil {
		s.apiFail(w, r, err)
		return
	}
	st, err := s.Stats(r.Context())
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	type projJSON struct {
		Name       string `json:"name"`
		State      string `json:"state"`
		Checkpoint uint64 `json:"checkpoint"`
		Lag        uint64 `json:"lag"`
		Error      string `json:"error,omitempty"`
	}
	projs := []projJSON{}
	for _, p := range st.Projections {
		pj := projJSON{Name: p.Name, State: string(p.State), Checkpoint: p.Checkpoint, Lag: p.Lag}
		if p.Err != nil {
			pj.Error = p.Err.Error()
		}
		projs = append(projs, pj)
	}
	body := map[string]any{
		"events": st.Events, "counted": st.Counted, "head": st.Head,
		"appendRatePerMinute": st.Rate, "rateTruncated": st.RateTruncated,
		"projections": projs, "readModels": s.runner != nil, "subscriptions": st.Subscriptions,
	}
	if st.Counted {
		body["streams"] = st.Streams
	}
	writeJSON(w, http.StatusOK, body)
}
