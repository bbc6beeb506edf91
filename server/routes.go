package server

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/chronicle-es/chronicle/server/metrics"
)

// access is what a route needs of the caller.
type access int

const (
	public access = iota // anyone who can reach the server
	write                // a writer or admin, when there are users
	admin                // an admin, when there are users
)

// route is one entry of the mux. The table of routes is the list the
// OpenAPI test checks the document against.
type route struct {
	method, pattern string
	access          access
	// stream marks a route that streams (Server-Sent Events): it has no
	// time limit.
	stream  bool
	handler http.HandlerFunc
	// failures, when set, counts the route's refusals and failures by
	// error code, those of its access checks included.
	failures *metrics.Counter
}

// api reports whether a route answers in JSON (rather than HTML).
func (rt route) api() bool {
	return !strings.HasPrefix(rt.pattern, "/") || rt.pattern == "/api" || strings.HasPrefix(rt.pattern, "/api/") ||
		strings.HasPrefix(rt.pattern, "/health/") || rt.pattern == "/metrics"
}

func (s *Server) routeTable() []route {
	return []route{
		{method: "GET", pattern: "/health/live", handler: s.live},
		{method: "GET", pattern: "/health/ready", handler: s.ready},
		{method: "GET", pattern: "/metrics", handler: s.m.reg.ServeHTTP},
		{method: "GET", pattern: "/api/openapi.json", handler: serveOpenAPI},
		{method: "GET", pattern: "/api/stats", handler: s.apiStats},
		{method: "GET", pattern: "/api/streams", handler: s.apiListStreams},
		{method: "GET", pattern: "/api/streams/{stream}", handler: s.apiReadStream},
		{method: "POST", pattern: "/api/streams/{stream}", access: write, handler: s.apiAppend, failures: s.m.appendErrors},
		{method: "DELETE", pattern: "/api/streams/{stream}", access: admin, handler: s.apiDelete},
		{method: "GET", pattern: "/api/streams/{stream}/metadata", handler: s.apiGetMetadata},
		{method: "PUT", pattern: "/api/streams/{stream}/metadata", access: admin, handler: s.apiSetMetadata},
		{method: "GET", pattern: "/api/streams/{stream}/subscribe", stream: true, handler: s.subscribeStream},
		{method: "GET", pattern: "/api/all", handler: s.apiReadAll},
		{method: "GET", pattern: "/api/all/subscribe", stream: true, handler: s.subscribeAll},
		{method: "GET", pattern: "/api/games", handler: s.apiListGames},
		{method: "POST", pattern: "/api/games", access: write, handler: s.apiCreateGame},
		{method: "GET", pattern: "/api/games/{id}", handler: s.apiGetGame},
		{method: "POST", pattern: "/api/games/{id}/moves", access: write, handler: s.apiMove},
		{method: "GET", pattern: "/api/leaderboard", handler: s.apiLeaderboard},

		{method: "GET", pattern: "/{$}", handler: s.ui.dashboard},
		{method: "GET", pattern: "/streams", handler: s.ui.streams},
		{method: "GET", pattern: "/streams/{stream}", handler: s.ui.stream},
		{method: "GET", pattern: "/tail", handler: s.ui.tail},
		{method: "GET", pattern: "/games", handler: s.ui.gamesPage},
		{method: "GET", pattern: "/games/{id}", handler: s.ui.game},
		{method: "GET", pattern: "/static/{file...}", handler: s.ui.static},
	}
}

// statusWriter remembers the status of a response, for logs and metrics,
// and lets streaming handlers reach Flush through the ResponseController.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
	// code is the error code of the refusal or failure answered, if any
	// (see Server.fail).
	code string
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Unwrap gives http.ResponseController the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// wrap gives a route its access check, limits, log line and metrics.
func (s *Server) wrap(rt route) http.Handler {
	label := rt.method + " " + rt.pattern
	if rt.method == "" {
		label = "other"
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			d := time.Since(start)
			status := sw.status
			if status == 0 {
				status = http.StatusOK
			}
			s.m.httpDuration.Observe(d.Seconds(), label, statusClass(status))
			if rt.failures != nil && sw.code != "" {
				rt.failures.Inc(sw.code)
			}
			s.log.LogAttrs(r.Context(), levelFor(status), "request",
				slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Int("status", status),
				slog.Duration("duration", d), slog.String("remote", r.RemoteAddr), slog.String("user", userOf(r)))
		}()
		if rt.access != public {
			if s.opts.ReadOnly {
				s.fail(sw, r, rt, errReadOnly)
				return
			}
			user, err := s.authenticate(r, rt.access)
			if err != nil {
				if s.opts.Users != nil {
					sw.Header().Set("WWW-Authenticate", `Basic realm="chronicle", charset="UTF-8"`)
				}
				s.fail(sw, r, rt, err)
				return
			}
			r = r.WithContext(context.WithValue(r.Context(), userKey{}, user))
		}
		if r.Body != nil {
			r.Body = http.MaxBytesReader(sw, r.Body, s.opts.MaxBodyBytes)
		}
		if !rt.stream {
			ctx, cancel := context.WithTimeout(r.Context(), s.opts.RequestTimeout)
			defer cancel()
			r = r.WithContext(ctx)
		}
		rt.handler(sw, r)
	})
}

func statusClass(code int) string {
	return string("12345"[min(max(code/100, 1), 5)-1]) + "xx"
}

// protect checks what applies to every request: the Host header, when
// only loopback is served, and that browsers do not write on behalf of
// another site.
func (s *Server) protect(next http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, route{pattern: "/api/"}, errCrossOrigin)
	}))
	next = cop.Handler(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.opts.LoopbackOnly && !loopbackHost(r.Host) {
			s.fail(w, r, route{pattern: "/api/"}, errNotLoopback(r.Host))
			return
		}
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}

// loopbackHost reports whether a Host header names this machine:
// localhost or a loopback address, with any port.
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// IsLoopback reports whether a listen address such as "127.0.0.1:2113"
// binds only to loopback. An empty host binds to every interface.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return false
	}
	return loopbackHost(host)
}

// levelFor logs failures of the server louder than the rest.
func levelFor(status int) slog.Level {
	if status >= 500 {
		return slog.LevelError
	}
	return slog.LevelInfo
}
