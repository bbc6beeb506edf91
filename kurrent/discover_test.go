package kurrent_test

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/internal/esdbpb"
	"github.com/chronicle-es/chronicle/kurrent"
	"github.com/chronicle-es/chronicle/memory"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// fakeNode is a cluster member made up for a test: its Gossip reports
// members, and its Streams service refuses every call as not the leader,
// naming leader. It counts the calls it gets.
type fakeNode struct {
	esdbpb.UnimplementedGossipServer
	esdbpb.UnimplementedServerFeaturesServer
	esdbpb.UnimplementedStreamsServer
	addr    string
	members []*esdbpb.MemberInfo
	leader  string // host:port named in "not-leader" answers

	gossips        atomic.Int32
	gossipDown     atomic.Bool // Gossip.Read fails while set
	refused        atomic.Int32
	requiresLeader atomic.Int32 // calls marked "requires-leader: true"
}

func startFake(t *testing.T, f *fakeNode) *fakeNode {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.addr = l.Addr().String()
	srv := grpc.NewServer()
	esdbpb.RegisterGossipServer(srv, f)
	esdbpb.RegisterServerFeaturesServer(srv, f)
	esdbpb.RegisterStreamsServer(srv, streamsRead{f})
	go srv.Serve(l)
	t.Cleanup(srv.Stop)
	return f
}

func (f *fakeNode) Read(context.Context, *esdbpb.Empty) (*esdbpb.ClusterInfo, error) {
	f.gossips.Add(1)
	if f.gossipDown.Load() {
		return nil, status.Error(codes.Unavailable, "gossip is down")
	}
	return &esdbpb.ClusterInfo{Members: f.members}, nil
}

func (f *fakeNode) GetSupportedMethods(context.Context, *esdbpb.Empty) (*esdbpb.SupportedMethods, error) {
	return &esdbpb.SupportedMethods{EventStoreServerVersion: "24.10.0"}, nil
}

// notLeader answers a call as a follower does with "requires-leader".
func (f *fakeNode) notLeader(ctx context.Context, setTrailer func(metadata.MD)) error {
	f.refused.Add(1)
	if md, _ := metadata.FromIncomingContext(ctx); len(md.Get("requires-leader")) > 0 && md.Get("requires-leader")[0] == "true" {
		f.requiresLeader.Add(1)
	}
	host, port, _ := net.SplitHostPort(f.leader)
	setTrailer(metadata.Pairs("exception", "not-leader", "leader-endpoint-host", host, "leader-endpoint-port", port))
	return status.Error(codes.NotFound, "Leader info available")
}

func (f *fakeNode) Append(s grpc.ClientStreamingServer[esdbpb.AppendReq, esdbpb.AppendResp]) error {
	return f.notLeader(s.Context(), s.SetTrailer)
}

func (f *fakeNode) Delete(ctx context.Context, _ *esdbpb.DeleteReq) (*esdbpb.DeleteResp, error) {
	return nil, f.notLeader(ctx, func(md metadata.MD) { grpc.SetTrailer(ctx, md) })
}

// streamsRead gives the fake's Streams.Read its own name, as Gossip.Read
// has the method name.
type streamsRead struct{ *fakeNode }

func (s streamsRead) Read(_ *esdbpb.ReadReq, stream grpc.ServerStreamingServer[esdbpb.ReadResp]) error {
	return s.notLeader(stream.Context(), stream.SetTrailer)
}

func member(state esdbpb.MemberInfo_VNodeState, alive bool, addr string) *esdbpb.MemberInfo {
	host, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.ParseUint(port, 10, 32)
	return &esdbpb.MemberInfo{State: state, IsAlive: alive, HttpEndPoint: &esdbpb.EndPoint{Address: host, Port: uint32(p)}}
}

// deadAddr is a loopback address where nothing listens.
func deadAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// appendOne appends an event to "c-1" through s, and reports which of the
// stores got it.
func appendOne(t *testing.T, s *kurrent.Store, stores ...*memory.Store) []bool {
	t.Helper()
	ctx := context.Background()
	if _, err := s.Append(ctx, "c-1", chronicle.Any, chronicle.EventData{Type: "N"}); err != nil {
		t.Fatalf("append: %v", err)
	}
	got := make([]bool, len(stores))
	for i, st := range stores {
		for _, err := range st.ReadStream(ctx, "c-1", chronicle.ReadStreamOptions{}) {
			got[i] = err == nil
		}
	}
	return got
}

func TestDiscoveryPicksByNodePreference(t *testing.T) {
	followerAddr, followerStore := serve(t, nil)
	leaderAddr, leaderStore := serve(t, nil)
	gossip := startFake(t, &fakeNode{members: []*esdbpb.MemberInfo{
		member(esdbpb.MemberInfo_Leader, false, deadAddr(t)), // a former leader, dead
		member(esdbpb.MemberInfo_Follower, true, followerAddr),
		member(esdbpb.MemberInfo_CatchingUp, true, deadAddr(t)),
		member(esdbpb.MemberInfo_Leader, true, leaderAddr),
	}})
	dead := deadAddr(t)

	// The dead seed comes first: discovery goes on to the next.
	s := dial(t, "kurrentdb://"+dead+","+gossip.addr+"?tls=false")
	if got := appendOne(t, s, followerStore, leaderStore); got[0] || !got[1] {
		t.Fatalf("default preference: follower got it %v, leader got it %v; want the leader only", got[0], got[1])
	}
	s = dial(t, "esdb://"+dead+","+gossip.addr+"?tls=false&NodePreference=Follower")
	if got := appendOne(t, s, followerStore, leaderStore); !got[0] {
		t.Fatal("nodePreference=follower: the follower did not get the event")
	}
	if n := gossip.gossips.Load(); n != 2 {
		t.Fatalf("gossip asked %d times for two dials, want 2", n)
	}
}

func TestDiscoverScheme(t *testing.T) {
	leaderAddr, leaderStore := serve(t, nil)
	gossip := startFake(t, &fakeNode{members: []*esdbpb.MemberInfo{member(esdbpb.MemberInfo_Leader, true, leaderAddr)}})
	s := dial(t, "kurrentdb+discover://"+gossip.addr+"?tls=false")
	if got := appendOne(t, s, leaderStore); !got[0] {
		t.Fatal("+discover: the leader named by gossip did not get the event")
	}
	if gossip.gossips.Load() != 1 {
		t.Fatalf("+discover asked gossip %d times, want 1", gossip.gossips.Load())
	}

	// One host without +discover: a direct connection, no gossip, no
	// "requires-leader".
	direct := dial(t, "kurrentdb://"+gossip.addr+"?tls=false")
	_, err := direct.Append(context.Background(), "c-1", chronicle.Any, chronicle.EventData{Type: "N"})
	if err == nil || gossip.refused.Load() != 1 {
		t.Fatalf("direct append to the fake: %v", err)
	}
	if gossip.gossips.Load() != 1 || gossip.requiresLeader.Load() != 0 {
		t.Fatalf("a single host: %d gossip calls (want 1, from before), %d calls requiring the leader (want 0)",
			gossip.gossips.Load(), gossip.requiresLeader.Load())
	}
}

func TestDiscoveryAllSeedsDown(t *testing.T) {
	a, b := deadAddr(t), deadAddr(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	_, err := kurrent.Dial(ctx, "kurrentdb://"+a+","+b+"?tls=false&maxDiscoverAttempts=3&discoveryInterval=50", nil)
	var de *kurrent.DiscoveryError
	if !errors.Is(err, kurrent.ErrDiscovery) || !errors.As(err, &de) {
		t.Fatalf("all seeds down: %v, want a DiscoveryError", err)
	}
	if de.Attempts != 3 || len(de.Seeds) != 2 {
		t.Fatalf("attempts %d, seeds %v; want 3 attempts with 2 seeds", de.Attempts, de.Seeds)
	}
	msg := err.Error()
	for _, want := range []string{"3 attempt", "gossip with " + a, "gossip with " + b, "connection refused"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not say %q", msg, want)
		}
	}
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Errorf("three attempts took %v, less than the two intervals of 50ms between them", d)
	}
}

func TestDiscoveryWithoutLeader(t *testing.T) {
	followerAddr, _ := serve(t, nil)
	gossip := startFake(t, &fakeNode{members: []*esdbpb.MemberInfo{
		member(esdbpb.MemberInfo_Follower, true, followerAddr),
		member(esdbpb.MemberInfo_Leader, false, deadAddr(t)),
	}})
	_, err := kurrent.Dial(context.Background(), "kurrentdb+discover://"+gossip.addr+"?tls=false&maxDiscoverAttempts=2&discoveryInterval=1", nil)
	if !errors.Is(err, kurrent.ErrDiscovery) || !strings.Contains(err.Error(), "no alive leader among") ||
		!strings.Contains(err.Error(), "Leader (not alive)") {
		t.Fatalf("no alive leader: %v", err)
	}
	if n := gossip.gossips.Load(); n != 2 {
		t.Fatalf("gossip asked %d times, want maxDiscoverAttempts=2", n)
	}
	// A cancelled context ends discovery at once.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = kurrent.Dial(ctx, "kurrentdb+discover://"+gossip.addr+"?tls=false", nil)
	if !errors.Is(err, context.Canceled) || !errors.Is(err, kurrent.ErrDiscovery) {
		t.Fatalf("cancelled discovery: %v", err)
	}
}

func TestNotLeaderReconnects(t *testing.T) {
	leaderAddr, leaderStore := serve(t, nil)
	stale := &fakeNode{leader: leaderAddr}
	startFake(t, stale)
	// Stale gossip still names the fake node the leader.
	stale.members = []*esdbpb.MemberInfo{member(esdbpb.MemberInfo_Leader, true, stale.addr)}
	conn := "kurrentdb://" + deadAddr(t) + "," + stale.addr + "?tls=false"
	ctx := context.Background()

	s := dial(t, conn)
	if got := appendOne(t, s, leaderStore); !got[0] {
		t.Fatal("the append did not reach the leader")
	}
	if stale.refused.Load() != 1 || stale.requiresLeader.Load() != 1 {
		t.Fatalf("the stale node refused %d calls, %d requiring the leader; want 1 and 1", stale.refused.Load(), stale.requiresLeader.Load())
	}
	// The store stays on the leader.
	if got := appendOne(t, s, leaderStore); !got[0] || stale.refused.Load() != 1 {
		t.Fatalf("second append: refused %d times", stale.refused.Load())
	}

	// A unary call (Delete) moves too.
	s = dial(t, conn)
	if err := s.Delete(ctx, "c-1", chronicle.Any); err != nil {
		t.Fatalf("delete through the stale node: %v", err)
	}
	for _, err := range leaderStore.ReadStream(ctx, "c-1", chronicle.ReadStreamOptions{}) {
		if !errors.Is(err, chronicle.ErrStreamNotFound) {
			t.Fatalf("the leader still has c-1 after delete: %v", err)
		}
	}
	if stale.refused.Load() != 2 {
		t.Fatalf("the stale node refused %d calls, want 2", stale.refused.Load())
	}
}

// TestCloseEndsReconnect: Close ends a reconnection under way, which
// would otherwise go on asking the seeds for maxDiscoverAttempts, and the
// call that was reconnecting fails with an error matching ErrClosed.
func TestCloseEndsReconnect(t *testing.T) {
	stale := &fakeNode{leader: deadAddr(t)}
	startFake(t, stale)
	stale.members = []*esdbpb.MemberInfo{member(esdbpb.MemberInfo_Leader, true, stale.addr)}
	s := dial(t, "kurrentdb://"+stale.addr+","+deadAddr(t)+"?tls=false&maxDiscoverAttempts=1000&discoveryInterval=20")
	stale.gossipDown.Store(true)
	done := make(chan error, 1)
	go func() {
		_, err := s.Append(context.Background(), "c-1", chronicle.Any, chronicle.EventData{Type: "N"})
		done <- err
	}()
	// The append was refused, the named leader is dead, and discovery has
	// asked the seeds in vain a few times.
	deadline := time.Now().Add(10 * time.Second)
	for stale.refused.Load() < 1 || stale.gossips.Load() < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("refused %d, gossips %d: the reconnection did not start", stale.refused.Load(), stale.gossips.Load())
		}
		time.Sleep(time.Millisecond)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, chronicle.ErrClosed) {
			t.Fatalf("the reconnecting append: %v, want an error matching ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the reconnection went on after Close")
	}
	asked := stale.gossips.Load()
	time.Sleep(100 * time.Millisecond)
	if n := stale.gossips.Load(); n != asked {
		t.Fatalf("the seeds were asked %d more times after Close", n-asked)
	}
}

func TestNotLeaderReads(t *testing.T) {
	leaderAddr, leaderStore := serve(t, nil)
	ctx := context.Background()
	if _, err := leaderStore.Append(ctx, "r-1", chronicle.NoStream, chronicle.EventData{Type: "A"}, chronicle.EventData{Type: "B"}); err != nil {
		t.Fatal(err)
	}
	stale := &fakeNode{leader: leaderAddr}
	startFake(t, stale)
	stale.members = []*esdbpb.MemberInfo{member(esdbpb.MemberInfo_Leader, true, stale.addr)}
	s := dial(t, "kurrentdb+discover://"+stale.addr+"?tls=false")
	var types []string
	for e, err := range s.ReadStream(ctx, "r-1", chronicle.ReadStreamOptions{}) {
		if err != nil {
			t.Fatalf("read through the stale node: %v", err)
		}
		types = append(types, e.Type)
	}
	if strings.Join(types, ",") != "A,B" || stale.refused.Load() != 1 {
		t.Fatalf("read %v with %d refusals, want A,B after 1", types, stale.refused.Load())
	}
}

func TestNotLeaderTwice(t *testing.T) {
	a, b := &fakeNode{}, &fakeNode{}
	startFake(t, a)
	startFake(t, b)
	a.leader, b.leader = b.addr, a.addr // each names the other
	a.members = []*esdbpb.MemberInfo{member(esdbpb.MemberInfo_Leader, true, a.addr), member(esdbpb.MemberInfo_Follower, true, b.addr)}
	s := dial(t, "kurrentdb://"+a.addr+","+b.addr+"?tls=false")
	_, err := s.Append(context.Background(), "c-1", chronicle.Any, chronicle.EventData{Type: "N"})
	var nl *kurrent.NotLeaderError
	if !errors.Is(err, kurrent.ErrNotLeader) || !errors.As(err, &nl) || nl.Node != b.addr || nl.Leader != a.addr {
		t.Fatalf("refused twice: %v (%+v), want b's NotLeaderError naming a", err, nl)
	}
	if a.refused.Load() != 1 || b.refused.Load() != 1 {
		t.Fatalf("refusals %d and %d, want one each: the call runs once more, no more", a.refused.Load(), b.refused.Load())
	}

	// With another preference the client stays where it is, and does not
	// ask for the leader.
	f := dial(t, "kurrentdb://"+a.addr+","+b.addr+"?tls=false&nodePreference=follower")
	_, err = f.Append(context.Background(), "c-1", chronicle.Any, chronicle.EventData{Type: "N"})
	if !errors.As(err, &nl) || nl.Node != b.addr {
		t.Fatalf("follower preference: %v", err)
	}
	if b.refused.Load() != 2 || a.refused.Load() != 1 || b.requiresLeader.Load() != 1 {
		t.Fatalf("follower preference: refusals a %d b %d, b asked for the leader %d times", a.refused.Load(), b.refused.Load(), b.requiresLeader.Load())
	}
}

func TestClusterConnectionStrings(t *testing.T) {
	ctx := context.Background()
	for _, conn := range []string{
		"kurrentdb://h1:2113,,h2:2113",
		"kurrentdb://h1:99999",
		"kurrentdb://:2113",
		"kurrentdb+discovery://h1:2113",
		"kurrentdb://h1:2113,h2?nodePreference=boss",
		"kurrentdb://[::1",
		"kurrentdb://::1]:2113",
		"kurrentdb://db example:2113",
		// The bare host:port form, which takes no settings and one host.
		"127.0.0.1:2113?tls=false",
		"kurrentdb:/127.0.0.1:2113",
		"db example:2113",
		"h1:2113,h2:2113",
		"admin:changeit@h1:2113",
		"kurrentdb://h1?maxDiscoverAttempts=0",
		"kurrentdb://h1?maxDiscoverAttempts=-1",
		"kurrentdb://h1?discoveryInterval=soon",
		"kurrentdb://h1?gossipTimeout=0",
		"kurrentdb://h1?gossipTimeout=99999999999999999999",
		"kurrentdb://h1?keepAliveInterval=-2",
		"kurrentdb://h1?keepAliveInterval=0",
		"kurrentdb://h1?keepAliveInterval=10s",
		"kurrentdb://h1?keepAliveTimeout=0",
		"kurrentdb://h1?keepAliveTimeout=99999999999999999",
		// A value that is neither true nor false, a setting no client
		// knows, one given twice, one this client does not support.
		"kurrentdb://h1?tls=flase",
		"kurrentdb://h1?tlsVerifyCert=no",
		"kurrentdb://h1?tsl=false",
		"kurrentdb://h1?tls=false&TLS=true",
		"kurrentdb://h1?tlsCAFile=/etc/ca.pem",
		"kurrentdb://h1?userCertFile=a.pem&userKeyFile=a.key",
		// Settings that url.Values.Query would skip without a word,
		// leaving TLS on: separated by ';', or with a bad escape.
		"kurrentdb://h1?tls=false;tlsVerifyCert=false",
		"kurrentdb://h1?tls=fals%e",
		"kurrentdb://h1?tls=false&%zz=1",
		// A setting without a value, which is neither true nor false,
		// nor a number of milliseconds.
		"kurrentdb://h1?tls=",
		"kurrentdb://h1?tls=false&tlsVerifyCert",
		"kurrentdb://h1?keepAliveTimeout=",
	} {
		if _, err := kurrent.Dial(ctx, conn, nil); !errors.Is(err, kurrent.ErrConnectionString) {
			t.Errorf("Dial(%q): %v, want ErrConnectionString", conn, err)
		}
	}
	// Hosts without a port get 2113; IPv6 hosts keep their brackets.
	_, err := kurrent.Dial(ctx, "esdb+discover://admin:changeit@127.0.0.1:1,[::1]:1,127.0.0.1?tls=false&maxDiscoverAttempts=1&gossipTimeout=1", nil)
	var de *kurrent.DiscoveryError
	if !errors.As(err, &de) || strings.Join(de.Seeds, " ") != "127.0.0.1:1 [::1]:1 127.0.0.1:2113" || de.Attempts != 1 {
		t.Fatalf("seeds: %v", err)
	}
}

// The error of a bad connection string does not show its password,
// which would end up in logs and on terminals.
func TestConnectionStringErrorHidesPassword(t *testing.T) {
	for _, conn := range []string{
		"kurrentdb://admin:s3cret@?tls=false",
		"esdb://admin:s3cret%zz@h1:2113?tls=false",
		// A '/', '?' or '#' in the password, unescaped, ends the host
		// part early: the password is not to be read as hosts or
		// settings, and quoted as such.
		"kurrentdb://admin:s3cret/x@h1:2113?tls=false",
		"kurrentdb://admin:s3cret?x@h1:2113",
		"kurrentdb://admin:s3cret#x@h1:2113",
	} {
		_, err := kurrent.Dial(context.Background(), conn, nil)
		if !errors.Is(err, kurrent.ErrConnectionString) || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("Dial(%q): %v, want ErrConnectionString without the password", conn, err)
		}
	}
}
