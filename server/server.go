// Package server serves a Chronicle store over HTTP: a JSON API for
// appending, reading and subscribing (Server-Sent Events), Prometheus
// metrics, health checks, a web UI to look at the store, and Connect Four
// played in the browser. The command "chronicle serve" runs it.
//
// # Safety
//
// Reads are open to whoever can reach the server. Writes (appends, games)
// and administration need a user with that role when [Options.Users] is
// set, and are refused altogether in [Options.ReadOnly] mode. Browsers
// are kept from writing on a page's behalf from another site (cross-origin
// requests are refused), and with [Options.LoopbackOnly] requests must
// name a loopback host, which defeats DNS rebinding. The command binds to
// loopback by default and refuses another address without users.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/examples/connectfour"
	"github.com/chronicle-es/chronicle/internal/streamsub"
	"github.com/chronicle-es/chronicle/projection"
)

// Defaults for [Options].
const (
	DefaultMaxBodyBytes   = chronicle.DefaultMaxEventSize + 4<<20
	DefaultRequestTimeout = 30 * time.Second
	DefaultMaxSubscribers = 1000
)

// Options configures a [Server]. A nil *Options gives the defaults.
type Options struct {
	// Logger receives a line per request and per notable event. Nil
	// discards them.
	Logger *slog.Logger
	// Users, when not nil, protects writes and administration: requests
	// must authenticate (HTTP Basic) as a user with the role needed.
	Users *Users
	// ReadOnly refuses every write and administration request.
	ReadOnly bool
	// LoopbackOnly refuses requests whose Host header is not a loopback
	// name or address, so that a web page served from elsewhere cannot
	// reach the server through DNS rebinding. Set it when listening on
	// loopback.
	LoopbackOnly bool
	// MaxBodyBytes limits a request body. Zero means [DefaultMaxBodyBytes].
	MaxBodyBytes int64
	// RequestTimeout limits the time a request other than a subscription
	// may take. Zero means [DefaultRequestTimeout].
	RequestTimeout time.Duration
	// MaxSubscribers limits the subscriptions open at once. Zero means
	// [DefaultMaxSubscribers].
	MaxSubscribers int
	// StoreName describes the store in the UI, such as its path.
	StoreName string
	// GRPC, when set, serves the gRPC calls made to the server's address
	// (HTTP/2 requests with a gRPC content type), so that one port
	// serves both the UI and a client protocol: "chronicle serve" gives
	// it the KurrentDB protocol of package kurrentserver. Serve then
	// speaks plain-text HTTP/2 as well as HTTP/1.1, and shuts the calls
	// down as it does the requests (see [Server.Serve]). The GRPC server
	// does its own authorization: the Users, ReadOnly and limits above
	// are not applied to it; LoopbackOnly is.
	GRPC GRPCServer
	// TLS, when set, makes Serve speak HTTPS (HTTP/1.1 and HTTP/2, chosen
	// by ALPN), and gRPC over TLS, with this configuration.
	TLS *tls.Config
}

// GRPCServer is what [Options.GRPC] needs of a gRPC server: a
// *kurrentserver.Server has it.
//
// A *grpc.Server has the method, but not what Serve needs of it: over
// ServeHTTP, its GracefulStop ends every call at once to drain it,
// without a status, and so cuts off the calls that Serve gives a grace
// period.
type GRPCServer interface {
	http.Handler
	// GracefulStop ends at once the calls that never end by themselves,
	// such as subscriptions, and refuses the calls that come, with a
	// status that says that the server is stopping (codes.Unavailable);
	// it returns once the other calls have ended, and their handlers
	// have returned. Serve calls it when it shuts down, and again once
	// it has ended the calls left, to wait for their handlers.
	GracefulStop()
}

// Server serves one store. Create it with [New].
type Server struct {
	store   chronicle.Store
	opts    Options
	log     *slog.Logger
	games   *connectfour.Service
	runner  *projection.Runner // nil when the store keeps no read models
	handler http.Handler
	routes  []route
	// probe matches the routes alone, to tell which methods a path
	// takes; methods are the routes' methods, sorted.
	probe   *http.ServeMux
	methods []string
	m       *serverMetrics
	stats   statsCache
	ui      *ui
	// streams follows the streams that subscriptions follow, so that the
	// subscriptions to one stream share its reads.
	streams *streamsub.Hub

	// closing is closed when the server shuts down, to end subscriptions,
	// which would otherwise keep a graceful shutdown waiting.
	closing     chan struct{}
	closeOnce   sync.Once
	subscribers chan struct{} // one token per open subscription
	// aborting is closed by Abort, to end Serve's wait for the requests
	// in flight.
	aborting  chan struct{}
	abortOnce sync.Once
	// cutOff is closed when Serve ends the requests left, to end too
	// what a request runs apart from its context, for the requests after
	// it (the stats): Serve waits for that request's handler.
	cutOff     chan struct{}
	cutOffOnce sync.Once
}

// New returns a server for store. opts may be nil.
func New(store chronicle.Store, opts *Options) (*Server, error) {
	s := &Server{store: store, streams: streamsub.NewHub(store), closing: make(chan struct{}), aborting: make(chan struct{}), cutOff: make(chan struct{})}
	if opts != nil {
		s.opts = *opts
	}
	o := &s.opts
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = DefaultRequestTimeout
	}
	if o.MaxSubscribers <= 0 {
		o.MaxSubscribers = DefaultMaxSubscribers
	}
	s.log = o.Logger
	s.subscribers = make(chan struct{}, o.MaxSubscribers)
	// Names are stored in the clear, as the tutorial's code and
	// EventStoreDB store them, so that every game started here reads
	// over the KurrentDB protocol too; the names that "connectfour"
	// stored encrypted in the same database read decrypted, with their
	// keys beside the events, so that its games show here too, and the
	// moves made here in its games are encrypted as their names are, so
	// that "connectfour forget" erases them too.
	s.games = connectfour.NewService(store, connectfour.WithClearNames())
	if db, ok := store.(projection.TxStore); ok {
		// The projections read the games through the service's store,
		// which decrypts the names, and write to the database below it.
		r, err := projection.NewRunner(s.games.Store(), &projection.Options{Logger: s.log, DB: db}, connectfour.Projections()...)
		if err != nil {
			return nil, fmt.Errorf("new server: %w", err)
		}
		// The runner moves a filtered projection's checkpoint past the
		// events it does not follow after Options.IdleCheck, so its lag
		// reads 0 when nothing is left for it.
		s.runner = r
	}
	s.m = newServerMetrics(s)
	ui, err := newUI(s)
	if err != nil {
		return nil, fmt.Errorf("new server: %w", err)
	}
	s.ui = ui
	s.routes = s.routeTable()
	mux := http.NewServeMux()
	s.probe = http.NewServeMux()
	// A GET route serves HEAD too.
	s.methods = []string{http.MethodHead}
	for _, rt := range s.routes {
		mux.Handle(rt.method+" "+rt.pattern, s.wrap(rt))
		s.probe.Handle(rt.method+" "+rt.pattern, http.NotFoundHandler())
		if !slices.Contains(s.methods, rt.method) {
			s.methods = append(s.methods, rt.method)
		}
	}
	slices.Sort(s.methods)
	// Anything else gets a JSON or HTML "not found", or "method not
	// allowed" with an Allow header, not the mux's text.
	mux.Handle("/", s.wrap(route{pattern: "/", handler: s.notFound}))
	s.handler = s.protect(mux)
	if g := o.GRPC; g != nil {
		web := s.handler
		s.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if isGRPC(r) {
				if o.LoopbackOnly && !loopbackHost(r.Host) {
					// As for the web's requests (see protect), in
					// gRPC's own words: a trailers-only response.
					w.Header().Set("Content-Type", "application/grpc")
					w.Header().Set("Grpc-Status", "7") // PermissionDenied
					w.Header().Set("Grpc-Message", "this server only answers calls for localhost or a loopback address: it listens on loopback")
					w.WriteHeader(http.StatusOK)
					return
				}
				g.ServeHTTP(w, r)
				return
			}
			web.ServeHTTP(w, r)
		})
	}
	return s, nil
}

// Handler returns the server's HTTP handler.
//
// Its subscriptions (Server-Sent Events) send each event as it comes, so
// they need a ResponseWriter that can flush: an [http.Flusher], or one
// whose Unwrap method leads to one, as [http.ResponseController] finds
// it. A program that serves the handler behind its own ResponseWriter
// without either gets each subscription refused at its start, with 500
// and the code streaming_unsupported, rather than events held back.
func (s *Server) Handler() http.Handler { return s.handler }

// ReadModels reports whether the server keeps Connect Four's read models
// up to date with projections: only on stores with transactions.
func (s *Server) ReadModels() bool { return s.runner != nil }

// RunProjections keeps the read models up to date until ctx ends. It
// returns at once on a store without read models.
func (s *Server) RunProjections(ctx context.Context) error {
	if s.runner == nil {
		return nil
	}
	return s.runner.Run(ctx)
}

// Serve serves HTTP on ln, and runs the projections, until ctx ends; then
// it stops taking connections, ends subscriptions and waits up to
// grace for the requests in flight, or until [Server.Abort]. When either
// cuts the wait short, it ends the contexts of the requests left, closes
// their connections, and returns a [*CutOffError] that names them.
//
// The calls of [Options.GRPC] are requests here too: the server's
// GracefulStop ends its subscriptions and refuses new calls, and the
// other calls get the grace period, or are cut off and named.
//
// Serve returns only once every handler it ran has returned, and the
// projections have stopped, so that the caller may then close the store:
// nothing of the server uses it any more. A handler ends when its
// request's context does; one that ignored it would keep Serve waiting.
func (s *Server) Serve(ctx context.Context, ln net.Listener, grace time.Duration) error {
	flight := newInFlight()
	// The handlers' requests are made from handlerCtx, for Serve to end
	// them: net/http ends a request's context when its connection
	// closes only once the request's body has been read.
	handlerCtx, cancelHandlers := context.WithCancel(context.Background())
	hs := &http.Server{
		Handler:           flight.track(s.handler),
		BaseContext:       func(net.Listener) context.Context { return handlerCtx },
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       s.opts.RequestTimeout,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	if s.opts.GRPC != nil {
		// gRPC clients open plain-text connections with HTTP/2 prior
		// knowledge. Their streams (subscriptions, batch appends) live
		// as long as the client wants, so the whole-request read
		// deadline would cut them: the HTTP routes keep their own
		// per-request timeout and body limit.
		hs.Protocols = new(http.Protocols)
		hs.Protocols.SetHTTP1(true)
		hs.Protocols.SetHTTP2(true)
		hs.Protocols.SetUnencryptedHTTP2(true)
		hs.ReadTimeout = 0
	}
	hs.RegisterOnShutdown(s.Close)

	projCtx, stopProjections := context.WithCancel(context.Background())
	projDone := make(chan error, 1)
	go func() { projDone <- s.RunProjections(projCtx) }()

	served := make(chan error, 1)
	if s.opts.TLS != nil {
		hs.TLSConfig = s.opts.TLS.Clone()
		go func() { served <- hs.ServeTLS(ln, "", "") }()
	} else {
		go func() { served <- hs.Serve(ln) }()
	}
	var err error
	var grpcStopping sync.WaitGroup
	select {
	case err = <-served:
	case <-ctx.Done():
		if g := s.opts.GRPC; g != nil {
			// Its subscriptions end now, as Close ends the web's; its
			// other calls are requests in flight, for the shutdown to
			// wait for.
			grpcStopping.Go(g.GracefulStop)
		}
		err = s.shutdown(hs, grace, flight)
		if serr := <-served; !errors.Is(serr, http.ErrServerClosed) && err == nil {
			err = serr
		}
	}
	// The handlers left, of the requests cut off or of a server that
	// failed, end with their requests and their connections; they must
	// have returned before Serve does, for the caller closes the store
	// then. After a graceful shutdown there are none.
	cancelHandlers()
	s.cutOffOnce.Do(func() { close(s.cutOff) })
	hs.Close()
	flight.wait()
	if g := s.opts.GRPC; g != nil {
		// A gRPC call's handler runs apart from its request's: it ends
		// with the request's context, and GracefulStop waits for it.
		g.GracefulStop()
		grpcStopping.Wait()
	}
	stopProjections()
	if perr := <-projDone; perr != nil {
		s.log.Error("projections stopped", "err", perr)
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// shutdown stops hs from taking connections, and waits up to grace, or
// until Abort, for the requests in flight. It returns a *CutOffError that
// names those still running when the wait is cut short.
func (s *Server) shutdown(hs *http.Server, grace time.Duration, flight *inFlight) error {
	s.log.Info("shutting down", "grace", grace.String())
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	go func() {
		select {
		case <-s.aborting:
			cancel()
		case <-ctx.Done():
		}
	}()
	err := hs.Shutdown(ctx)
	// Shutdown returns its context's error alone when the wait is cut
	// short: the grace period ran out, or Abort ended it.
	if err != context.DeadlineExceeded && err != context.Canceled {
		return err
	}
	cut := &CutOffError{Grace: grace, Aborted: err == context.Canceled, Requests: flight.running()}
	s.log.Warn("stopped before the requests in flight had ended", "err", cut)
	return cut
}

// Close ends the open subscriptions. The store stays open: it is the
// caller's.
func (s *Server) Close() {
	s.closeOnce.Do(func() { close(s.closing) })
}

// Abort ends at once the wait of a stopping [Server.Serve] for the
// requests in flight, as when its grace period runs out, for a program
// whose user asks again to stop. Called before Serve stops, it ends
// that wait as soon as it starts.
func (s *Server) Abort() {
	s.abortOnce.Do(func() { close(s.aborting) })
}

// isGRPC reports whether r is a gRPC call: HTTP/2 with a content type of
// application/grpc (or application/grpc+proto, ...).
func isGRPC(r *http.Request) bool {
	return r.ProtoMajor == 2 && strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc")
}
