package kurrent_test

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/chronicle-es/chronicle"
)

// freezer forwards TCP connections to a server until frozen; then it
// moves no more bytes but keeps the connections open, as a network that
// drops packets does (a host lost, a NAT entry expired): no FIN, no RST.
type freezer struct {
	addr   string
	once   sync.Once
	frozen chan struct{}
	done   chan struct{} // closed when the test ends
}

func newFreezer(tb testing.TB, target string) *freezer {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	f := &freezer{addr: l.Addr().String(), frozen: make(chan struct{}), done: make(chan struct{})}
	var mu sync.Mutex
	var conns []net.Conn
	tb.Cleanup(func() {
		close(f.done)
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, c, u)
			mu.Unlock()
			go f.pipe(c, u)
			go f.pipe(u, c)
		}
	}()
	return f
}

func (f *freezer) freeze() { f.once.Do(func() { close(f.frozen) }) }

func (f *freezer) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		select {
		case <-f.frozen:
			<-f.done // hold the connection, move nothing
			return
		default:
		}
		if _, werr := dst.Write(buf[:n]); werr != nil || err != nil {
			return
		}
	}
}

// A subscription whose server vanishes from the network ends with an
// error, so that the caller can resubscribe, rather than wait for ever:
// the client's keepalive ping goes unanswered. gRPC pings no more often
// than every 10 s, whatever keepAliveInterval asks, so the test takes
// that long; a short keepAliveTimeout keeps it from taking longer.
func TestSubscriptionEndsWhenTheServerVanishes(t *testing.T) {
	addr, backing := serve(t, nil)
	fz := newFreezer(t, addr)
	s := dial(t, "kurrentdb://"+fz.addr+"?tls=false&keepAliveInterval=10000&keepAliveTimeout=500")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := backing.Append(ctx, "s-1", chronicle.Any, chronicle.EventData{Type: "E"}); err != nil {
		t.Fatal(err)
	}
	for _, err := range s.Subscribe(ctx, chronicle.SubscribeOptions{}) {
		if err != nil {
			if ctx.Err() != nil {
				t.Fatalf("the subscription still waited 20 s after its server vanished from the network: %v", err)
			}
			t.Logf("the subscription ended: %v", err)
			return
		}
		fz.freeze()
	}
	t.Fatal("the subscription ended without an error")
}
