package kurrentserver

import (
	"context"
	"net/http"
	"strconv"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// errStopping is the status of the calls that a stopping server ends
// (subscriptions, and BatchAppend streams between two appends) or
// refuses (those that come once it has begun to stop). Unavailable
// tells a client to call again, there or elsewhere.
var errStopping = status.Error(codes.Unavailable, "the server is stopping: call again once it is back")

// begin counts a call in, until it calls end, or refuses it with
// errStopping once the server has begun to stop.
func (s *Server) begin() (end func(), err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.stopping:
		return nil, errStopping
	default:
	}
	s.calls.Add(1)
	return s.calls.Done, nil
}

// beginStopping ends the calls that never end by themselves, and
// refuses those to come. From then on no call is counted in, so that
// s.calls may be waited for.
func (s *Server) beginStopping() {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.stopping:
	default:
		close(s.stopping)
	}
}

// GracefulStop stops the server as an HTTP server shuts down: it ends
// the subscriptions at once, and refuses the calls that come, with
// codes.Unavailable and a message that the server is stopping; it lets
// the other calls in flight end, and returns once they have, and their
// handlers have returned. A BatchAppend stream, which a client keeps
// open for its appends, ends as a subscription does once the appends
// it has begun are answered. [Server.Stop], called meanwhile, ends the
// calls left at once.
//
// A *grpc.Server's own GracefulStop ends the calls that it serves
// through ServeHTTP at once, without a status (grpc-go drains such a
// call by closing it), and waits forever for the subscriptions on its
// own listeners: this one lets the calls through [Server.ServeHTTP] and
// [Server.Handler] end too, and ends the subscriptions. Over
// [Server.Serve], it closes the listener once the calls have ended, and
// refuses those that come meanwhile.
func (s *Server) GracefulStop() {
	s.beginStopping()
	s.calls.Wait()
	s.grpc.GracefulStop()
}

// Stop closes the listeners and connections at once, ending every call
// and subscription, and refuses the calls that come after.
func (s *Server) Stop() {
	s.beginStopping()
	s.grpc.Stop()
}

// ServeHTTP serves a gRPC call made to an http.Server (see [IsGRPC]),
// as [Server.Handler] does, and refuses it once the server has begun
// to stop. It makes a Server the Options.GRPC of package server, which
// serves it beside the web UI on one port, as "chronicle serve" does.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	end, err := s.begin()
	if err != nil {
		// The *grpc.Server may have stopped, and would end the call
		// without a word, which clients read as a malformed answer:
		// a trailers-only answer says why.
		h := w.Header()
		h.Set("Content-Type", "application/grpc")
		h.Set("Grpc-Status", strconv.Itoa(int(codes.Unavailable)))
		h.Set("Grpc-Message", status.Convert(err).Message())
		w.WriteHeader(http.StatusOK)
		return
	}
	defer end()
	s.grpc.ServeHTTP(w, r)
}

// untilStopping returns a context that ends with ctx, or when the server
// begins to stop, with errStopping as its cause: the context of a call
// that never ends by itself.
func (s *Server) untilStopping(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(ctx)
	go func() {
		select {
		case <-s.stopping:
			cancel(errStopping)
		case <-ctx.Done():
		}
	}()
	return ctx, func() { cancel(nil) }
}
