package kurrent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/internal/esdbpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// Cluster discovery, as the official clients do it: with several hosts
// in the connection string, or with the "+discover" scheme, Dial asks the
// hosts (the seeds) for the cluster's members through Gossip.Read, picks
// one by the nodePreference parameter, and connects to it.

// ErrDiscovery means Dial could not find a cluster member to connect to;
// the error is a *DiscoveryError that says why.
var ErrDiscovery = errors.New("kurrent: cluster discovery failed")

// ErrNotLeader means a call that needs the leader reached a node that is
// not the leader, and reconnecting to the leader did not help; the error
// is a *NotLeaderError.
var ErrNotLeader = errors.New("kurrent: the node is not the leader")

// DiscoveryError is the error of a failed cluster discovery. It matches
// [ErrDiscovery] with errors.Is, and unwraps to Err.
type DiscoveryError struct {
	Seeds    []string // the hosts asked for the cluster's members
	Attempts int      // how many times they were asked
	Err      error    // why the last attempt failed
}

func (e *DiscoveryError) Error() string {
	return fmt.Sprintf("kurrent: cluster discovery failed after %d attempt(s) with seeds %s: %v",
		e.Attempts, strings.Join(e.Seeds, ", "), e.Err)
}

func (e *DiscoveryError) Is(target error) bool { return target == ErrDiscovery }
func (e *DiscoveryError) Unwrap() error        { return e.Err }

// NotLeaderError is the answer of a node that is not the leader to a call
// that needs it. It matches [ErrNotLeader] with errors.Is, and unwraps to
// the RPC's error.
type NotLeaderError struct {
	Node   string // the node that answered
	Leader string // host:port of the leader it named, or ""
	Err    error
}

func (e *NotLeaderError) Error() string {
	leader := "it named no leader"
	if e.Leader != "" {
		leader = "it named " + e.Leader + " as the leader"
	}
	return fmt.Sprintf("kurrent: node %s is not the leader (%s): %v", e.Node, leader, e.Err)
}

func (e *NotLeaderError) Is(target error) bool { return target == ErrNotLeader }
func (e *NotLeaderError) Unwrap() error        { return e.Err }

// nodePreference is the connection string's nodePreference.
type nodePreference int

const (
	preferLeader nodePreference = iota
	preferFollower
	preferReadOnlyReplica
	preferRandom
)

var preferenceNames = map[string]nodePreference{
	"leader":          preferLeader,
	"follower":        preferFollower,
	"readonlyreplica": preferReadOnlyReplica,
	"random":          preferRandom,
}

func (p nodePreference) String() string {
	switch p {
	case preferFollower:
		return "follower"
	case preferReadOnlyReplica:
		return "readOnlyReplica"
	case preferRandom:
		return "random"
	}
	return "leader"
}

// clusterSettings are the hosts of a connection string and its discovery
// parameters. The defaults are those of the official clients.
type clusterSettings struct {
	seeds         []string // host:port
	discover      bool     // the "+discover" scheme
	preference    nodePreference
	attempts      int           // maxDiscoverAttempts
	interval      time.Duration // discoveryInterval (milliseconds in the string)
	gossipTimeout time.Duration // gossipTimeout (seconds in the string)
}

// clustered reports whether Dial discovers the cluster rather than
// connecting to the one host it was given.
func (c *clusterSettings) clustered() bool { return c.discover || len(c.seeds) > 1 }

// parseHosts reads the comma-separated hosts of a connection string; a
// host without a port gets 2113.
func parseHosts(hosts string) ([]string, error) {
	var out []string
	for h := range strings.SplitSeq(hosts, ",") {
		h = strings.TrimSpace(h)
		if h == "" {
			return nil, fmt.Errorf("%w: empty host in %q", ErrConnectionString, hosts)
		}
		host, port, err := net.SplitHostPort(h)
		if err != nil {
			// No port: "db.example", "10.0.0.1", "::1" or "[::1]".
			host, port = h, "2113"
			if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
				host = h[1 : len(h)-1]
			}
		}
		// A bracket left over ("[::1"), a space ("db example") or what
		// ends a host in a URL ("@", "?": a bare host:port given a
		// password or settings) is no host to dial: gRPC would dial
		// something else, or say only that the name resolved to nothing.
		bad := func(r rune) bool {
			return unicode.IsSpace(r) || unicode.IsControl(r) || strings.ContainsRune(`[]/\@?#`, r)
		}
		if n, perr := strconv.ParseUint(port, 10, 16); host == "" || perr != nil || n == 0 || strings.ContainsFunc(host, bad) {
			return nil, fmt.Errorf("%w: bad host %q", ErrConnectionString, h)
		}
		out = append(out, net.JoinHostPort(host, port))
	}
	return out, nil
}

// parseClusterOptions reads the discovery parameters from q, whose keys
// are lower case.
func parseClusterOptions(q url.Values, c *clusterSettings) error {
	c.preference, c.attempts, c.interval, c.gossipTimeout = preferLeader, 10, 100*time.Millisecond, 5*time.Second
	if v := q.Get("nodepreference"); v != "" {
		p, ok := preferenceNames[strings.ToLower(v)]
		if !ok {
			return fmt.Errorf("%w: nodePreference=%q, want leader, follower, readOnlyReplica or random", ErrConnectionString, v)
		}
		c.preference = p
	}
	number := func(key, name string, least uint64) (uint64, bool, error) {
		v := q.Get(key)
		if v == "" {
			return 0, false, nil
		}
		n, err := strconv.ParseUint(v, 10, 31)
		if err != nil || n < least {
			return 0, false, fmt.Errorf("%w: %s=%q, want a whole number of at least %d", ErrConnectionString, name, v, least)
		}
		return n, true, nil
	}
	if n, ok, err := number("maxdiscoverattempts", "maxDiscoverAttempts", 1); err != nil {
		return err
	} else if ok {
		c.attempts = int(n)
	}
	if n, ok, err := number("discoveryinterval", "discoveryInterval", 0); err != nil {
		return err
	} else if ok {
		c.interval = time.Duration(n) * time.Millisecond
	}
	if n, ok, err := number("gossiptimeout", "gossipTimeout", 1); err != nil {
		return err
	} else if ok {
		c.gossipTimeout = time.Duration(n) * time.Second
	}
	return nil
}

// conn is what a Store calls through: one node's *grpc.ClientConn, or a
// *cluster that moves to the leader when a node says it is not.
type conn interface {
	grpc.ClientConnInterface
	Close() error
}

// node is a connection to one server, checked by asking its features.
type node struct {
	addr    string
	cc      *grpc.ClientConn
	gapless bool
}

// connectNode connects to addr and asks for the server's features, which
// checks the connection now rather than at the first call, and tells a
// Chronicle server apart.
func connectNode(ctx context.Context, addr string, dopts []grpc.DialOption) (*node, error) {
	cc, err := grpc.NewClient(addr, dopts...)
	if err != nil {
		return nil, fmt.Errorf("kurrent: connect to %s: %w", addr, err)
	}
	sm, err := esdbpb.NewServerFeaturesClient(cc).GetSupportedMethods(ctx, &esdbpb.Empty{})
	if err != nil {
		cc.Close()
		return nil, fmt.Errorf("kurrent: connect to %s: %w", addr, err)
	}
	return &node{addr: addr, cc: cc, gapless: strings.HasSuffix(sm.GetEventStoreServerVersion(), "-chronicle")}, nil
}

// maxRetired is how many connections to former nodes a cluster keeps open
// for the calls still running on them; older ones are closed.
const maxRetired = 4

// cluster is a connection to the member that discovery chose. Calls that
// a node refuses as not the leader reconnect to the leader and run once
// more.
type cluster struct {
	set   clusterSettings
	dopts []grpc.DialOption

	reconnecting sync.Mutex // one reconnection at a time

	// life ends with Close, and with it any reconnection under way,
	// which may otherwise go on dialing for maxDiscoverAttempts.
	life context.Context
	end  context.CancelFunc

	mu      sync.Mutex
	node    *node
	retired []*grpc.ClientConn
	closed  bool
}

// dialCluster discovers the cluster and connects to the member chosen.
func dialCluster(ctx context.Context, set clusterSettings, dopts []grpc.DialOption) (*cluster, error) {
	c := &cluster{set: set, dopts: dopts}
	n, err := c.discover(ctx)
	if err != nil {
		return nil, err
	}
	c.life, c.end = context.WithCancel(context.Background())
	c.node = n
	return c, nil
}

func (c *cluster) current() *node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.node
}

// Close closes the connections to the current node and former ones.
func (c *cluster) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	c.end()
	errs := []error{c.node.cc.Close()}
	for _, cc := range c.retired {
		errs = append(errs, cc.Close())
	}
	c.retired = nil
	return errors.Join(errs...)
}

// discover asks the seeds for the members, up to maxDiscoverAttempts
// times, and connects to the member that the node preference picks.
func (c *cluster) discover(ctx context.Context) (*node, error) {
	var last error
	attempts := 0
	for attempts < c.set.attempts {
		if attempts > 0 {
			t := time.NewTimer(c.set.interval)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, &DiscoveryError{Seeds: c.set.seeds, Attempts: attempts, Err: fmt.Errorf("%w (after: %v)", ctx.Err(), last)}
			case <-t.C:
			}
		}
		attempts++
		n, err := c.discoverOnce(ctx)
		if err == nil {
			return n, nil
		}
		last = err
		if ctx.Err() != nil {
			// gRPC reports the end of ctx as a status, which errors.Is
			// does not match with context.Canceled: say it plainly.
			last = fmt.Errorf("%w (after: %v)", ctx.Err(), err)
			break
		}
	}
	return nil, &DiscoveryError{Seeds: c.set.seeds, Attempts: attempts, Err: last}
}

// seedErrors are the failures of the seeds asked in one attempt.
type seedErrors []error

func (e seedErrors) Error() string {
	s := make([]string, len(e))
	for i, err := range e {
		s[i] = err.Error()
	}
	return "no seed answered: " + strings.Join(s, "; ")
}

func (e seedErrors) Unwrap() []error { return e }

// discoverOnce asks the seeds in turn until one answers, and connects to
// the member its answer and the node preference pick.
func (c *cluster) discoverOnce(ctx context.Context) (*node, error) {
	var failed seedErrors
	for _, seed := range c.set.seeds {
		members, err := c.gossip(ctx, seed)
		if err != nil {
			failed = append(failed, fmt.Errorf("gossip with %s: %w", seed, err))
			continue
		}
		m, err := pick(members, c.set.preference)
		if err != nil {
			return nil, fmt.Errorf("gossip from %s: %w", seed, err)
		}
		ep := m.GetHttpEndPoint()
		addr := net.JoinHostPort(ep.GetAddress(), strconv.FormatUint(uint64(ep.GetPort()), 10))
		cctx, cancel := context.WithTimeout(ctx, c.set.gossipTimeout)
		n, err := connectNode(cctx, addr, c.dopts)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("gossip from %s named %s (%s): %w", seed, addr, m.GetState(), err)
		}
		return n, nil
	}
	return nil, failed
}

// gossip reads the cluster's members from one seed, within gossipTimeout.
func (c *cluster) gossip(ctx context.Context, seed string) ([]*esdbpb.MemberInfo, error) {
	cc, err := grpc.NewClient(seed, c.dopts...)
	if err != nil {
		return nil, err
	}
	defer cc.Close()
	gctx, cancel := context.WithTimeout(ctx, c.set.gossipTimeout)
	defer cancel()
	info, err := esdbpb.NewGossipClient(cc).Read(gctx, &esdbpb.Empty{})
	if err != nil && ctx.Err() == nil && errors.Is(gctx.Err(), context.DeadlineExceeded) {
		return nil, fmt.Errorf("no answer within gossipTimeout (%v): %w", c.set.gossipTimeout, err)
	}
	return info.GetMembers(), err
}

// pick chooses a member by the node preference: an alive leader for
// leader; an alive follower for follower, or else the leader, or else a
// read-only replica; an alive read-only replica for readOnlyReplica, or
// else a follower, or else the leader; any of those for random. Members
// in other states (joining, catching up, shutting down, ...) do not serve
// clients. Among equals it picks at random, to spread clients.
func pick(members []*esdbpb.MemberInfo, pref nodePreference) (*esdbpb.MemberInfo, error) {
	leader := []esdbpb.MemberInfo_VNodeState{esdbpb.MemberInfo_Leader}
	follower := []esdbpb.MemberInfo_VNodeState{esdbpb.MemberInfo_Follower}
	replica := []esdbpb.MemberInfo_VNodeState{esdbpb.MemberInfo_ReadOnlyReplica, esdbpb.MemberInfo_ReadOnlyLeaderless}
	var ranks [][]esdbpb.MemberInfo_VNodeState
	switch pref {
	case preferLeader:
		ranks = [][]esdbpb.MemberInfo_VNodeState{leader}
	case preferFollower:
		ranks = [][]esdbpb.MemberInfo_VNodeState{follower, leader, replica}
	case preferReadOnlyReplica:
		ranks = [][]esdbpb.MemberInfo_VNodeState{replica, follower, leader}
	default:
		ranks = [][]esdbpb.MemberInfo_VNodeState{append(append(leader, follower...), replica...)}
	}
	for _, states := range ranks {
		var found []*esdbpb.MemberInfo
		for _, m := range members {
			ep := m.GetHttpEndPoint()
			if m.GetIsAlive() && ep.GetAddress() != "" && ep.GetPort() != 0 && contains(states, m.GetState()) {
				found = append(found, m)
			}
		}
		if len(found) > 0 {
			return found[rand.IntN(len(found))], nil
		}
	}
	seen := make([]string, len(members))
	for i, m := range members {
		ep := m.GetHttpEndPoint()
		seen[i] = net.JoinHostPort(ep.GetAddress(), strconv.FormatUint(uint64(ep.GetPort()), 10)) + " " + m.GetState().String()
		if !m.GetIsAlive() {
			seen[i] += " (not alive)"
		}
	}
	if len(seen) == 0 {
		return nil, errors.New("the cluster has no members")
	}
	want := "member that serves clients"
	if pref == preferLeader {
		want = "leader"
	}
	return nil, fmt.Errorf("no alive %s among %s (nodePreference=%s)", want, strings.Join(seen, ", "), pref)
}

func contains(states []esdbpb.MemberInfo_VNodeState, s esdbpb.MemberInfo_VNodeState) bool {
	for _, x := range states {
		if x == s {
			return true
		}
	}
	return false
}

// notLeader is the *NotLeaderError of a call that n refused as not the
// leader, from the "not-leader" exception in its trailer, or nil.
func notLeader(n *node, err error, trailer metadata.MD) *NotLeaderError {
	if err == nil || errors.Is(err, io.EOF) {
		return nil
	}
	get := func(k string) string {
		if v := trailer.Get(k); len(v) > 0 {
			return v[0]
		}
		return ""
	}
	if get("exception") != "not-leader" {
		return nil
	}
	e := &NotLeaderError{Node: n.addr, Err: err}
	host, port := get("leader-endpoint-host"), get("leader-endpoint-port")
	if p, perr := strconv.ParseUint(port, 10, 16); host != "" && perr == nil && p != 0 {
		e.Leader = net.JoinHostPort(host, port)
	}
	return e
}

// requireLeader marks a call as one for the leader, as the official
// clients do with leader preference: a follower refuses it with the
// "not-leader" exception rather than forwarding it.
func (c *cluster) requireLeader(ctx context.Context) context.Context {
	if c.set.preference != preferLeader {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, "requires-leader", "true")
}

// reconnect replaces failed, which said it was not the leader, by the
// leader it named, or else by the member that discovery picks. A call
// that finds another call already replaced failed uses the new node.
func (c *cluster) reconnect(ctx context.Context, failed *node, leader string) (*node, error) {
	c.reconnecting.Lock()
	defer c.reconnecting.Unlock()
	if n := c.current(); n != failed {
		return n, nil
	}
	if c.life.Err() != nil {
		return nil, errReconnectClosed
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(c.life, cancel)()
	var n *node
	var err error
	if leader != "" {
		cctx, cancel := context.WithTimeout(ctx, c.set.gossipTimeout)
		n, err = connectNode(cctx, leader, c.dopts)
		cancel()
	}
	if n == nil {
		var derr error
		if n, derr = c.discover(ctx); derr != nil {
			if c.life.Err() != nil {
				return nil, errReconnectClosed
			}
			return nil, errors.Join(err, derr)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		n.cc.Close()
		return nil, errReconnectClosed
	}
	// Calls may still run on the former node: its connection stays open
	// for them, up to maxRetired of them.
	c.retired = append(c.retired, c.node.cc)
	if len(c.retired) > maxRetired {
		c.retired[0].Close()
		c.retired = c.retired[1:]
	}
	c.node = n
	return n, nil
}

// errReconnectClosed ends a reconnection that finds the store closed.
var errReconnectClosed = fmt.Errorf("kurrent: reconnect: %w", chronicle.ErrClosed)

// retry reconnects after nl, with leader preference only: with another
// preference the client stays on the node it chose.
func (c *cluster) retry(ctx context.Context, n *node, nl *NotLeaderError) (*node, error) {
	if c.set.preference != preferLeader {
		return nil, nl
	}
	n2, err := c.reconnect(ctx, n, nl.Leader)
	if err != nil {
		return nil, fmt.Errorf("%w; reconnecting: %w", nl, err)
	}
	return n2, nil
}

// Invoke runs a unary call on the current node, and once more on the
// leader if the node says it is not the leader.
func (c *cluster) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	ctx = c.requireLeader(ctx)
	n := c.current()
	var trailer metadata.MD
	err := n.cc.Invoke(ctx, method, args, reply, append(opts, grpc.Trailer(&trailer))...)
	nl := notLeader(n, err, trailer)
	if nl == nil {
		return err
	}
	if n, err = c.retry(ctx, n, nl); err != nil {
		return err
	}
	trailer = nil
	err = n.cc.Invoke(ctx, method, args, reply, append(opts, grpc.Trailer(&trailer))...)
	if nl := notLeader(n, err, trailer); nl != nil {
		return nl
	}
	return err
}

// NewStream opens a stream on the current node. A stream that sends or
// receives, but not both at once (reads and appends), runs once more on
// the leader if the node refuses it as not the leader before answering.
func (c *cluster) NewStream(ctx context.Context, desc *grpc.StreamDesc, method string, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	ctx = c.requireLeader(ctx)
	n := c.current()
	cs, err := n.cc.NewStream(ctx, desc, method, opts...)
	if err != nil || (desc.ClientStreams && desc.ServerStreams) {
		return cs, err
	}
	return &retryStream{ClientStream: cs, c: c, ctx: ctx, desc: desc, method: method, opts: opts, node: n}, nil
}

// retryStream keeps what was sent on a stream until the first answer, so
// that the stream can be opened again on the leader and sent the same.
type retryStream struct {
	grpc.ClientStream // on node
	c                 *cluster
	ctx               context.Context
	desc              *grpc.StreamDesc
	method            string
	opts              []grpc.CallOption
	node              *node

	sent     []any
	closed   bool // CloseSend was called
	ended    bool // SendMsg found the stream ended: RecvMsg tells why
	answered bool // a message came, or the call was run again: no retry
}

func (r *retryStream) SendMsg(m any) error {
	if r.answered {
		return r.ClientStream.SendMsg(m)
	}
	r.sent = append(r.sent, m)
	if r.ended {
		return nil
	}
	if err := r.ClientStream.SendMsg(m); err != nil {
		if !errors.Is(err, io.EOF) {
			return err
		}
		// The server ended the call, perhaps as not the leader: keep
		// what the caller sends, in case the call runs again.
		r.ended = true
	}
	return nil
}

func (r *retryStream) CloseSend() error {
	r.closed = true
	if r.ended {
		return nil
	}
	return r.ClientStream.CloseSend()
}

func (r *retryStream) RecvMsg(m any) error {
	err := r.ClientStream.RecvMsg(m)
	if r.answered {
		return err
	}
	if err == nil {
		r.answered, r.sent = true, nil
		return nil
	}
	nl := notLeader(r.node, err, r.ClientStream.Trailer())
	r.answered = true
	sent := r.sent
	r.sent = nil
	if nl == nil {
		return err
	}
	n, err := r.c.retry(r.ctx, r.node, nl)
	if err != nil {
		return err
	}
	cs, err := n.cc.NewStream(r.ctx, r.desc, r.method, r.opts...)
	if err != nil {
		return err
	}
	r.ClientStream, r.node = cs, n
	for _, msg := range sent {
		if err := cs.SendMsg(msg); err != nil {
			if errors.Is(err, io.EOF) {
				break // RecvMsg says why
			}
			return err
		}
	}
	if r.closed {
		if err := cs.CloseSend(); err != nil {
			return err
		}
	}
	err = cs.RecvMsg(m)
	if nl := notLeader(n, err, cs.Trailer()); nl != nil {
		return nl
	}
	return err
}
