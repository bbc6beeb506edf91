// Package kurrentserver serves the KurrentDB (EventStoreDB) gRPC client
// protocol over any [chronicle.Store], so that the official KurrentDB
// clients, in every language, use a Chronicle store unchanged: connect
// with "kurrentdb://host:2113?tls=false" (or "esdb://...") and append,
// read, subscribe and delete as against KurrentDB.
//
// It serves the Streams service (Append, BatchAppend, Read with its
// subscriptions, Delete, Tombstone), stream metadata through "$$stream"
// metadata streams (mapped onto [chronicle.Retention]), and the small
// services clients call when they connect: ServerFeatures and Gossip (a
// single node, always the leader). Persistent subscriptions, projections,
// users and operations are not served: those calls fail with
// codes.Unimplemented. docs/kurrent.md lists what is and is not supported.
//
// A [Server] is a *grpc.Server with the services registered. Serve it on
// a listener of its own, or beside an HTTP UI on one port with
// [Server.Handler], which routes gRPC requests to it and everything else
// to the UI; [Server.ServeWithHTTP] shows the wiring for plain-text HTTP/2.
// [Server.GracefulStop] stops it as an HTTP server shuts down: the
// subscriptions end at once, and the other calls in flight may end.
package kurrentserver

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/internal/esdbpb"
	"github.com/chronicle-es/chronicle/internal/streamsub"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// Version is what ServerFeatures reports as the server's version. Clients
// only log it: what they use is the list of supported methods.
const Version = "24.10.0-chronicle"

// Options configures a [Server]. The zero value, like a nil *Options,
// gives the defaults.
type Options struct {
	// Authorize, when set, decides whether a call may do what it asks,
	// from its HTTP Basic credentials (the user and password of the
	// connection string; nil when the call sent none). An error refuses
	// the call: with codes.Unauthenticated when the error is
	// [ErrUnauthenticated], else with codes.PermissionDenied and the
	// error's message. When nil, every call is allowed. [BasicAuth]
	// makes one for a single user.
	Authorize func(ctx context.Context, access Access, cred *Credentials) error

	// Advertise is the host:port that Gossip reports as this node's
	// address. When empty, it is the address the client dialled (the
	// request's :authority), which is right for a single node.
	Advertise string

	// MaxAppendSize is the most bytes that the events of one append may
	// take in all, as sent (their IDs, data and metadata): an append
	// over it is refused as it arrives, with codes.InvalidArgument and
	// the exception "maximum-append-size-exceeded" that the official
	// clients know, and nothing of it is written. It bounds the memory
	// that one append of a client holds. Zero means
	// [DefaultMaxAppendSize].
	MaxAppendSize int

	// GRPCOptions are added to the options of the *grpc.Server, after
	// the server's own, so that they override them: a store that takes
	// events larger than [chronicle.DefaultMaxEventSize] needs a
	// grpc.MaxRecvMsgSize here of their size plus 1 MiB (the server's
	// own is chronicle.DefaultMaxEventSize plus 1 MiB).
	GRPCOptions []grpc.ServerOption
}

// MaxPendingAppends is how many appends one BatchAppend stream may have
// begun and not ended (sent chunks of, the final one not yet) at once: a
// client that begins more has its call ended with
// codes.ResourceExhausted, and nothing of those appends is written. The
// events of those appends may take, in all, four times
// [Options.MaxAppendSize]: the append whose chunk would pass that is
// refused, with one answer at its final chunk. Clients end each append
// before they begin many more, so neither bound is met in use; they keep
// one client from making the server hold appends without end.
const MaxPendingAppends = 1024

// DefaultMaxAppendSize is [Options.MaxAppendSize] when it is zero: an
// event of the largest size that the stores take by default, with 4 MiB
// to spare, as the HTTP API's limit on a request's body.
const DefaultMaxAppendSize = chronicle.DefaultMaxEventSize + 4<<20

// Access is what a call does with the store, for [Options.Authorize].
type Access int

// The kinds of access.
const (
	// Read reads streams or $all, or subscribes to them.
	Read Access = iota
	// Write appends events.
	Write
	// Admin deletes or tombstones streams, or writes their metadata
	// (appends to a "$$stream").
	Admin
)

// String returns "read", "write" or "admin".
func (a Access) String() string {
	switch a {
	case Read:
		return "read"
	case Write:
		return "write"
	case Admin:
		return "admin"
	}
	return fmt.Sprintf("Access(%d)", int(a))
}

// Credentials are the user name and password a call sent.
type Credentials struct {
	User, Password string
}

// ErrUnauthenticated is what an [Options.Authorize] returns, wrapped or
// not, when a call sent no credentials or wrong ones: the client is told
// to authenticate rather than that it may not.
var ErrUnauthenticated = errors.New("a user name and password are needed")

// messageOverhead is the room a message needs, beyond the data and
// metadata of the event it carries, for its ID, type, stream name and
// positions.
const messageOverhead = 1 << 20

// Server serves the KurrentDB client protocol over one store.
type Server struct {
	store chronicle.Store
	opts  Options
	grpc  *grpc.Server
	// id is this node's instance ID in Gossip answers.
	id *esdbpb.UUID
	// streams follows the streams that subscriptions follow, so that the
	// subscriptions to one stream share its reads.
	streams *streamsub.Hub

	// stopping is closed when the server begins to stop: it ends the
	// subscriptions, and refuses the calls that come. mu orders its
	// closing with the start of calls, which calls counts, so that
	// GracefulStop waits for calls only once none can start.
	mu       sync.Mutex
	stopping chan struct{}
	calls    sync.WaitGroup
}

// New returns a server over store. opts may be nil. The store is not
// closed by the server.
func New(store chronicle.Store, opts *Options) *Server {
	s := &Server{store: store, id: uuidString(newID()), streams: streamsub.NewHub(store), stopping: make(chan struct{})}
	if opts != nil {
		s.opts = *opts
	}
	if s.opts.MaxAppendSize <= 0 {
		s.opts.MaxAppendSize = DefaultMaxAppendSize
	}
	sopts := []grpc.ServerOption{
		// Clients ping every 10 s by default, even when idle; the gRPC
		// default policy would answer that with GOAWAY "too many pings".
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime:             time.Second,
			PermitWithoutStream: true,
		}),
		// gRPC refuses a message over 4 MiB by default, with
		// ResourceExhausted, well below the events that stores take.
		// (What the server sends has no limit by default.)
		grpc.MaxRecvMsgSize(chronicle.DefaultMaxEventSize + messageOverhead),
		grpc.UnaryInterceptor(s.unary),
		grpc.StreamInterceptor(s.stream),
	}
	s.grpc = grpc.NewServer(append(sopts, s.opts.GRPCOptions...)...)
	esdbpb.RegisterStreamsServer(s.grpc, &streams{s: s})
	esdbpb.RegisterServerFeaturesServer(s.grpc, features{})
	esdbpb.RegisterGossipServer(s.grpc, gossip{s: s})
	return s
}

// GRPC returns the *grpc.Server, to Serve on a listener, or to register
// more services on before serving. Stop the Server rather than it: its
// GracefulStop would wait for the subscriptions forever.
func (s *Server) GRPC() *grpc.Server { return s.grpc }

// Serve accepts gRPC connections on l until it is closed, or
// [Server.Stop] or [Server.GracefulStop] is called. Clients speak
// plain-text HTTP/2 to it; for TLS, give grpc.Creds in
// Options.GRPCOptions.
func (s *Server) Serve(l net.Listener) error { return s.grpc.Serve(l) }

// IsGRPC reports whether r is a gRPC call: HTTP/2 with a content type of
// application/grpc (or application/grpc+proto, ...).
func IsGRPC(r *http.Request) bool {
	return r.ProtoMajor == 2 && strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc")
}

// Handler returns an http.Handler that sends gRPC calls (see [IsGRPC])
// to the server and every other request to other, so that one port
// serves both the protocol and an HTTP UI. The http.Server must speak
// HTTP/2: over TLS it does by default; in plain text, enable it with
// Protocols.SetUnencryptedHTTP2(true), as [Server.HTTPServer] does, because
// gRPC clients open plain-text connections with HTTP/2 prior knowledge.
func (s *Server) Handler(other http.Handler) http.Handler {
	if other == nil {
		other = http.NotFoundHandler()
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if IsGRPC(r) {
			s.ServeHTTP(w, r)
			return
		}
		other.ServeHTTP(w, r)
	})
}

// HTTPServer returns an *http.Server for addr that serves
// [Server.Handler](other) over HTTP/1.1 and plain-text HTTP/2.
func (s *Server) HTTPServer(addr string, other http.Handler) *http.Server {
	hs := &http.Server{
		Addr:              addr,
		Handler:           s.Handler(other),
		ReadHeaderTimeout: 10 * time.Second,
		Protocols:         new(http.Protocols),
	}
	hs.Protocols.SetHTTP1(true)
	hs.Protocols.SetHTTP2(true)
	hs.Protocols.SetUnencryptedHTTP2(true)
	return hs
}

// ServeWithHTTP serves gRPC and other on l, in plain text (HTTP/1.1 and
// HTTP/2), until ctx ends; then it shuts down: it stops accepting, ends
// subscriptions (which would otherwise never finish), as
// [Server.GracefulStop] does, and waits up to 5 seconds for the calls
// and requests in flight. Those left then are cut off: it returns
// context.DeadlineExceeded, once the handlers of the gRPC calls cut off
// have returned.
func (s *Server) ServeWithHTTP(ctx context.Context, l net.Listener, other http.Handler) error {
	hs := s.HTTPServer(l.Addr().String(), other)
	done := make(chan error, 1)
	go func() { done <- hs.Serve(l) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	// The calls are requests in flight for Shutdown to wait for.
	var stopping sync.WaitGroup
	stopping.Go(s.GracefulStop)
	err := hs.Shutdown(shutdown)
	if err != nil {
		hs.Close()
		s.Stop()
	}
	stopping.Wait()
	if serr := <-done; !errors.Is(serr, http.ErrServerClosed) {
		return serr
	}
	return err
}

// authorize asks Options.Authorize whether the call in ctx may have
// access, and turns a refusal into the gRPC status clients expect.
func (s *Server) authorize(ctx context.Context, access Access) error {
	if s.opts.Authorize == nil {
		return nil
	}
	var cred *Credentials
	md, _ := metadata.FromIncomingContext(ctx)
	for _, v := range md.Get("authorization") {
		if user, pass, ok := parseBasic(v); ok {
			cred = &Credentials{User: user, Password: pass}
			break
		}
	}
	err := s.opts.Authorize(ctx, access, cred)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrUnauthenticated) && cred == nil:
		return status.Error(codes.Unauthenticated, "this server needs a user name and password (Basic credentials) to "+access.String())
	case errors.Is(err, ErrUnauthenticated):
		return status.Error(codes.Unauthenticated, "bad user name or password")
	}
	return status.Error(codes.PermissionDenied, err.Error())
}

func parseBasic(header string) (user, pass string, ok bool) {
	const prefix = "basic "
	if len(header) < len(prefix) || !strings.EqualFold(header[:len(prefix)], prefix) {
		return "", "", false
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(header[len(prefix):]))
	if err != nil {
		return "", "", false
	}
	return strings.Cut(string(raw), ":")
}

// BasicAuth returns an [Options.Authorize] that lets one user name and
// password, compared in constant time, do everything, and refuses every
// other call, as KurrentDB does with its default admin user.
func BasicAuth(user, password string) func(context.Context, Access, *Credentials) error {
	return func(_ context.Context, _ Access, c *Credentials) error {
		if c == nil {
			return ErrUnauthenticated
		}
		okUser := subtle.ConstantTimeCompare([]byte(c.User), []byte(user)) == 1
		okPass := subtle.ConstantTimeCompare([]byte(c.Password), []byte(password)) == 1
		if !okUser || !okPass {
			return ErrUnauthenticated
		}
		return nil
	}
}

// accessOf tells what a method does. Clients call ServerFeatures and
// Gossip before they know whether the server wants credentials, so
// those stay open (public is true). An append is a Write here; an append
// to a "$$stream" is checked again as Admin once its stream is known.
func accessOf(method string) (access Access, public bool) {
	switch method {
	case "/event_store.client.streams.Streams/Append", "/event_store.client.streams.Streams/BatchAppend":
		return Write, false
	case "/event_store.client.streams.Streams/Delete", "/event_store.client.streams.Streams/Tombstone":
		return Admin, false
	}
	if strings.HasPrefix(method, "/event_store.client.server_features.") ||
		strings.HasPrefix(method, "/event_store.client.gossip.") {
		return Read, true
	}
	return Read, false
}

// unary and stream count each call in for GracefulStop, or refuse it
// once the server has begun to stop, and ask Options.Authorize.
func (s *Server) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	end, err := s.begin()
	if err != nil {
		return nil, err
	}
	defer end()
	if access, public := accessOf(info.FullMethod); !public {
		if err := s.authorize(ctx, access); err != nil {
			return nil, err
		}
	}
	return handler(ctx, req)
}

func (s *Server) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	end, err := s.begin()
	if err != nil {
		return err
	}
	defer end()
	if access, public := accessOf(info.FullMethod); !public {
		if err := s.authorize(ss.Context(), access); err != nil {
			return err
		}
	}
	return handler(srv, ss)
}

// hostOnly returns the host of an authority that names no port: a name,
// an IPv4 address, or an IPv6 address in brackets.
func hostOnly(authority string) (string, bool) {
	if h, ok := strings.CutPrefix(authority, "["); ok {
		h, ok = strings.CutSuffix(h, "]")
		return h, ok
	}
	return authority, authority != "" && !strings.Contains(authority, ":")
}

// features answers ServerFeatures: the methods this server serves.
type features struct {
	esdbpb.UnimplementedServerFeaturesServer
}

// GetSupportedMethods lists the Streams methods. Clients look a method
// up by its lower-case gRPC path; BatchAppend being listed makes them
// append through it.
func (features) GetSupportedMethods(context.Context, *esdbpb.Empty) (*esdbpb.SupportedMethods, error) {
	const svc = "event_store.client.streams.streams"
	out := &esdbpb.SupportedMethods{EventStoreServerVersion: Version}
	for _, m := range []string{"read", "append", "delete", "tombstone", "batchappend"} {
		out.Methods = append(out.Methods, &esdbpb.SupportedMethod{MethodName: m, ServiceName: svc})
	}
	out.Methods = append(out.Methods,
		&esdbpb.SupportedMethod{MethodName: "getsupportedmethods", ServiceName: "event_store.client.server_features.serverfeatures"},
		&esdbpb.SupportedMethod{MethodName: "read", ServiceName: "event_store.client.gossip.gossip"},
	)
	return out, nil
}

// gossip answers Gossip for a single node that is always the leader.
type gossip struct {
	esdbpb.UnimplementedGossipServer
	s *Server
}

// Read reports this node alone, alive and leader, at the address the
// client reached it by (or Options.Advertise).
func (g gossip) Read(ctx context.Context, _ *esdbpb.Empty) (*esdbpb.ClusterInfo, error) {
	var local string
	if p, ok := peer.FromContext(ctx); ok && p.LocalAddr != nil {
		local = p.LocalAddr.String()
	}
	addr, fromClient := g.s.opts.Advertise, false
	if addr == "" {
		addr = local
		md, _ := metadata.FromIncomingContext(ctx)
		if a := md.Get(":authority"); len(a) > 0 {
			addr, fromClient = a[0], true
			// An authority may name the host alone: the client reached
			// it at the port the call came in on.
			if _, port, err := splitHostPort(local); err == nil {
				if host, ok := hostOnly(addr); ok {
					addr = net.JoinHostPort(host, strconv.FormatUint(uint64(port), 10))
				}
			}
		}
	}
	host, port, err := splitHostPort(addr)
	if err != nil && fromClient {
		return nil, status.Errorf(codes.InvalidArgument,
			"the call's :authority %q is not a host and port that this node can be told apart by: connect to host:port, or have the server set Options.Advertise", addr)
	}
	if err != nil {
		return nil, status.Errorf(codes.Internal, "cannot tell this node's address from %q: set Options.Advertise", addr)
	}
	return &esdbpb.ClusterInfo{Members: []*esdbpb.MemberInfo{{
		InstanceId:   g.s.id,
		TimeStamp:    time.Now().UnixNano() / 100,
		State:        esdbpb.MemberInfo_Leader,
		IsAlive:      true,
		HttpEndPoint: &esdbpb.EndPoint{Address: host, Port: port},
	}}}, nil
}
