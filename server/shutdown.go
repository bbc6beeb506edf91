package server

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// CutOffError is the error of [Server.Serve] when it stopped before the
// requests in flight had ended, and closed their connections: its grace
// period ran out, or [Server.Abort] ended the wait. It matches
// [context.DeadlineExceeded] in the one case and [context.Canceled] in
// the other.
type CutOffError struct {
	// Grace is the grace period that Serve was given.
	Grace time.Duration
	// Aborted tells that Abort ended the wait before the grace period
	// ran out.
	Aborted bool
	// Requests are the requests cut off, the oldest first. There are
	// none when the connections left open had no request under way,
	// such as one whose client has not sent its request yet.
	Requests []Request
}

// Request is a request that a stopping server cut off. A gRPC call of
// [Options.GRPC] is one too, named by its method, such as "POST
// /event_store.client.streams.Streams/Read".
type Request struct {
	// Method is the request's method, such as "GET".
	Method string
	// Path is the request's path, escaped as in a URL, so that it
	// shows on one line whatever it holds.
	Path string
	// Running is how long it had been running when it was cut off.
	Running time.Duration
}

// listedCutOff is how many of the requests cut off a CutOffError's
// message names: enough to see what held the server, few enough for a
// line.
const listedCutOff = 5

func (e *CutOffError) Error() string {
	when := fmt.Sprintf("when the grace period of %v ran out", e.Grace)
	if e.Aborted {
		when = fmt.Sprintf("without waiting out the grace period of %v", e.Grace)
	}
	n := len(e.Requests)
	if n == 0 {
		return "cut off the connections still open, with no request under way on them, " + when
	}
	var b strings.Builder
	if n == 1 {
		fmt.Fprintf(&b, "cut off 1 request in flight %s: ", when)
	} else {
		fmt.Fprintf(&b, "cut off %d requests in flight %s: ", n, when)
	}
	for i, r := range e.Requests[:min(n, listedCutOff)] {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %s (running %v)", r.Method, r.Path, r.Running.Round(time.Millisecond))
	}
	if n > listedCutOff {
		fmt.Fprintf(&b, ", and %d more", n-listedCutOff)
	}
	return b.String()
}

// Unwrap returns [context.Canceled] when Abort ended the wait, else
// [context.DeadlineExceeded].
func (e *CutOffError) Unwrap() error {
	if e.Aborted {
		return context.Canceled
	}
	return context.DeadlineExceeded
}

// inFlight keeps the requests that Serve is running, to name those that a
// shutdown cuts off, and to wait for their handlers to return.
type inFlight struct {
	mu   sync.Mutex
	reqs map[*http.Request]time.Time
	// done is set by wait: from then on, no handler starts.
	done bool
	// ended is signalled when a handler returns.
	ended sync.Cond
}

func newInFlight() *inFlight {
	f := &inFlight{reqs: make(map[*http.Request]time.Time)}
	f.ended.L = &f.mu
	return f
}

// track returns next, keeping each of its requests while it runs.
func (f *inFlight) track(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		if f.done {
			f.mu.Unlock()
			// A request read just before its connection was closed:
			// the store may be closed already. The answer goes nowhere.
			w.Header().Set("Connection", "close")
			http.Error(w, "the server is stopping: try again once it is back", http.StatusServiceUnavailable)
			return
		}
		f.reqs[r] = time.Now()
		f.mu.Unlock()
		defer func() {
			f.mu.Lock()
			delete(f.reqs, r)
			f.ended.Broadcast()
			f.mu.Unlock()
		}()
		next.ServeHTTP(w, r)
	})
}

// wait starts no more handlers, and waits for those running to return.
func (f *inFlight) wait() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.done = true
	for len(f.reqs) > 0 {
		f.ended.Wait()
	}
}

// running returns the requests running now, the oldest first.
func (f *inFlight) running() []Request {
	now := time.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	reqs := make([]Request, 0, len(f.reqs))
	for r, start := range f.reqs {
		reqs = append(reqs, Request{Method: r.Method, Path: r.URL.EscapedPath(), Running: now.Sub(start)})
	}
	slices.SortFunc(reqs, func(a, b Request) int { return cmp.Compare(b.Running, a.Running) })
	return reqs
}
