package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/internal/esdbpb"
	"github.com/chronicle-es/chronicle/kurrent"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

func TestServeRefusesUnsafeFlags(t *testing.T) {
	cli(t, "", "serve", "--store", "memory:", "--listen", "0.0.0.0:0").has(t, exitUsage,
		"--listen 0.0.0.0:0 is reachable from other hosts", "give --auth FILE, or --read-only")
	cli(t, "", "serve", "--store", "memory:", "--listen", "2113").has(t, exitUsage, `--listen "2113": want HOST:PORT`)
	// A port no listener takes is refused before the store is opened,
	// so that the default store, or a new file, is not made for nothing.
	fresh := filepath.Join(t.TempDir(), "new", "events.db")
	for _, listen := range []string{"127.0.0.1:99999", "127.0.0.1:-1", "127.0.0.1:21 13"} {
		cli(t, "", "serve", "--store", fresh, "--listen", listen).has(t, exitUsage, "is not a number from 0 to 65535")
	}
	if _, err := os.Stat(filepath.Dir(fresh)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a refused serve left %s: %v", filepath.Dir(fresh), err)
	}
	cli(t, "", "serve", "--store", "memory:", "--auth", "u", "--read-only").has(t, exitUsage, "--auth and --read-only together")
	cli(t, "", "serve", "--store", "memory:", "--log", "xml").has(t, exitUsage, `--log "xml": want text or json`)
	cli(t, "", "serve", "--store", "memory:", "--grace", "-1s").has(t, exitUsage, "--grace -1s: want a duration of 0 or more")
	cli(t, "", "serve", "--store", "memory:", "--auth", filepath.Join(t.TempDir(), "none")).has(t, exitError, "read users")
}

// serveCommand returns "chronicle serve" with args, listening on a port
// of its own, with its data directory in a temporary directory.
func serveCommand(t *testing.T, args ...string) *exec.Cmd {
	home := t.TempDir()
	cmd := exec.Command(binary, append([]string{"serve", "--listen", "127.0.0.1:0"}, args...)...)
	cmd.Env = append(os.Environ(), "XDG_DATA_HOME="+filepath.Join(home, "data"), "HOME="+home)
	return cmd
}

// startServe runs "chronicle serve" with args and returns its base URL
// and the running command.
func startServe(t *testing.T, args ...string) (string, *exec.Cmd, *strings.Builder) {
	t.Helper()
	cmd := serveCommand(t, args...)
	var errOut strings.Builder
	cmd.Stderr = &errOut
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("serve printed no address: %v\nstderr: %s", err, errOut.String())
	}
	url := regexp.MustCompile(`https?://[0-9.:]+`).FindString(line)
	if url == "" {
		t.Fatalf("no URL in %q", line)
	}
	return url, cmd, &errOut
}

func TestServeDefaultStoreAndShutdown(t *testing.T) {
	url, cmd, errOut := startServe(t)
	resp, err := http.Post(url+"/api/streams/s", "application/json",
		strings.NewReader(`{"expectedRevision":"no-stream","events":[{"id":"0190f1c2-7a3b-7c4d-8e5f-0a1b2c3d4e5f","type":"E","data":{}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("append: %s", resp.Status)
	}
	// A subscription stays open; shutdown must still be quick.
	sub, err := http.Get(url + "/api/all/subscribe")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Body.Close()
	start := time.Now()
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("serve after SIGTERM: %v\nstderr: %s", err, errOut)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("shutdown took %v with a subscription open", d)
	}
	for _, want := range []string{"Store: ", "/data/chronicle/chronicle.db", "shutting down", "msg=stopped", "status=201"} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
}

// serveStderr starts "chronicle serve" with args, and returns the
// command, the address it serves at, and its standard error.
func serveStderr(t *testing.T, args ...string) (*exec.Cmd, string, *bufio.Reader) {
	t.Helper()
	cmd := serveCommand(t, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("serve printed no address: %v", err)
	}
	return cmd, regexp.MustCompile(`127\.0\.0\.1:[0-9]+`).FindString(line), bufio.NewReader(stderr)
}

// serveHoldingAppend starts "chronicle serve" with args, and an append
// whose body never comes, which holds the server's shutdown for its grace
// period: an SSE subscription would not, since the server ends those when
// it stops. It returns the command and its standard error.
func serveHoldingAppend(t *testing.T, args ...string) (*exec.Cmd, *bufio.Reader) {
	t.Helper()
	cmd, addr, stderr := serveStderr(t, args...)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	// "100 Continue" says that the append has begun to read the body.
	fmt.Fprintf(conn, "POST /api/streams/s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"+
		"Content-Length: 1000\r\nExpect: 100-continue\r\n\r\n", addr)
	if line, err := bufio.NewReader(conn).ReadString('\n'); err != nil || !strings.Contains(line, " 100 ") {
		t.Fatalf("the append answered %q, %v; want 100 Continue", line, err)
	}
	fmt.Fprint(conn, "{")
	return cmd, stderr
}

// heldReadEvents is how many events of 16 KiB the read that
// serveHoldingRead holds reads: 1 MiB, many times what the client takes
// in before it reads on.
const heldReadEvents = 64

// serveHoldingRead starts "chronicle serve --store memory:" with args, and
// a read over the KurrentDB protocol (gRPC) of a stream larger than the
// client takes in before it reads on, which holds the read in flight,
// and so the server's shutdown for its grace period, until the client
// reads on. It returns the command, its standard error, and the read,
// whose first event has come: the server serves it.
func serveHoldingRead(t *testing.T, args ...string) (*exec.Cmd, *bufio.Reader, grpc.ServerStreamingClient[esdbpb.ReadResp]) {
	t.Helper()
	cmd, addr, stderr := serveStderr(t, append([]string{"--store", "memory:"}, args...)...)
	ctx := t.Context()
	client, err := kurrent.Dial(ctx, "kurrentdb://"+addr+"?tls=false", nil)
	if err != nil {
		t.Fatal(err)
	}
	events := make([]chronicle.EventData, heldReadEvents)
	for i := range events {
		events[i] = chronicle.EventData{Type: "E", Data: []byte(`"` + strings.Repeat("x", 16<<10) + `"`)}
	}
	_, err = client.Append(ctx, "big", chronicle.NoStream, events...)
	client.Close()
	if err != nil {
		t.Fatal(err)
	}
	// Windows of a fixed 64 KiB, which gRPC would otherwise widen.
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithInitialWindowSize(64<<10), grpc.WithInitialConnWindowSize(64<<10))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	read, err := esdbpb.NewStreamsClient(cc).Read(ctx, &esdbpb.ReadReq{Options: &esdbpb.ReadReq_Options{
		StreamOption: &esdbpb.ReadReq_Options_Stream{Stream: &esdbpb.ReadReq_Options_StreamOptions{
			StreamIdentifier: &esdbpb.StreamIdentifier{StreamName: []byte("big")},
			RevisionOption:   &esdbpb.ReadReq_Options_StreamOptions_Start{Start: &esdbpb.Empty{}},
		}},
		CountOption: &esdbpb.ReadReq_Options_Count{Count: heldReadEvents},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := read.Recv(); err != nil || r.GetEvent() == nil {
		t.Fatalf("the read began with %v, %v; want an event", r, err)
	}
	return cmd, stderr, read
}

// heldRequests start "chronicle serve" with a request that holds its
// shutdown, over HTTP or over gRPC, as serveHoldingAppend and
// serveHoldingRead do, and name it as the server does when it cuts it
// off.
var heldRequests = []struct {
	name  string
	names string
	serve func(t *testing.T, args ...string) (*exec.Cmd, *bufio.Reader)
}{
	{"HTTP", "POST /api/streams/s", serveHoldingAppend},
	{"GRPC", "POST /event_store.client.streams.Streams/Read", func(t *testing.T, args ...string) (*exec.Cmd, *bufio.Reader) {
		cmd, stderr, _ := serveHoldingRead(t, args...)
		return cmd, stderr
	}},
}

// readUntil reads errOut until a line that holds want, and returns what
// it read.
func readUntil(t *testing.T, errOut *bufio.Reader, want string) string {
	t.Helper()
	var got strings.Builder
	for !strings.Contains(got.String(), want) {
		line, err := errOut.ReadString('\n')
		got.WriteString(line)
		if err != nil {
			t.Fatalf("serve did not log %q: %v\nstderr: %s", want, err, got.String())
		}
	}
	return got.String()
}

// TestServeSecondSignalForcesStop: a server that waits for a request in
// flight, after the first signal, stops at once on the second, with the
// exit status of that signal and a message saying that it was forced,
// and which request it cut off. The second signal was ignored: the server
// waited out the whole grace period, and then exited 1 with "context
// deadline exceeded". A gRPC call was cut off at once, on the first
// signal, and not named.
func TestServeSecondSignalForcesStop(t *testing.T) {
	for _, held := range heldRequests {
		for _, tt := range caughtSignals {
			t.Run(held.name+"/"+tt.sig.String(), func(t *testing.T) {
				cmd, errOut := held.serve(t)
				cmd.Process.Signal(tt.sig)
				got := readUntil(t, errOut, "shutting down")
				cmd.Process.Signal(tt.sig)
				rest, _ := io.ReadAll(errOut)
				got += string(rest)
				err := cmd.Wait()
				var exit *exec.ExitError
				if !errors.As(err, &exit) || exit.ExitCode() != tt.code {
					t.Fatalf("after a second %v: %v, want exit status %d\nstderr: %s", tt.sig, err, tt.code, got)
				}
				// The projections stop before the store closes: they do not
				// fail on a closed store.
				says := "chronicle serve: " + tt.how + " again: forced to stop, and cut off 1 request in flight " +
					"without waiting out the grace period of 10s: " + held.names + " (running "
				if !strings.Contains(got, says) || strings.Contains(got, "level=ERROR") {
					t.Errorf("stderr lacks %q, or has an error:\n%s", says, got)
				}
			})
		}
	}
}

// TestServeGraceRunsOut: a server whose grace period runs out while a
// request is in flight exits with the status of the signal that stopped
// it, and says that the grace period, of the length given, ran out, and
// which request it cut off. It exited 1, with "context deadline
// exceeded" alone; and 0 when the request was a gRPC call, which it cut
// off at once, without naming it.
func TestServeGraceRunsOut(t *testing.T) {
	for _, held := range heldRequests {
		for _, tt := range caughtSignals {
			t.Run(held.name+"/"+tt.sig.String(), func(t *testing.T) {
				cmd, errOut := held.serve(t, "--grace", "50ms")
				cmd.Process.Signal(tt.sig)
				got, _ := io.ReadAll(errOut)
				err := cmd.Wait()
				var exit *exec.ExitError
				if !errors.As(err, &exit) || exit.ExitCode() != tt.code {
					t.Fatalf("after %v: %v, want exit status %d\nstderr: %s", tt.sig, err, tt.code, got)
				}
				for _, says := range []string{
					"chronicle serve: " + tt.how + ", and cut off 1 request in flight when the grace period of 50ms ran out: " +
						held.names + " (running ",
					"--grace DURATION gives the requests in flight longer",
				} {
					if !strings.Contains(string(got), says) {
						t.Errorf("stderr lacks %q:\n%s", says, got)
					}
				}
				if strings.Contains(string(got), "context deadline exceeded") {
					t.Errorf("stderr says %q, which tells the user nothing:\n%s", "context deadline exceeded", got)
				}
				// The append's handler ended, and logged it, before the
				// server stopped and closed the store.
				if held.name != "HTTP" {
					return
				}
				if ended, stopped := strings.Index(string(got), "path=/api/streams/s"), strings.Index(string(got), "chronicle serve: "); ended < 0 || ended > stopped {
					t.Errorf("the append was not logged before the server stopped:\n%s", got)
				}
			})
		}
	}
}

// TestServeGivesGRPCCallsTheGrace: a gRPC call in flight when the server
// is told to stop gets the grace period to end, as a request does, and
// ends well; the server then exits 0. It was cut off at once, and its
// client told of a malformed answer ("malformed header: missing HTTP
// content-type").
func TestServeGivesGRPCCallsTheGrace(t *testing.T) {
	cmd, errOut, read := serveHoldingRead(t)
	cmd.Process.Signal(syscall.SIGTERM)
	got := readUntil(t, errOut, "shutting down")
	n := 1
	for {
		r, err := read.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Errorf("the read in flight as the server began to stop: %v, after %d events of %d; want it to end well", err, n, heldReadEvents)
			break
		}
		if r.GetEvent() != nil {
			n++
		}
	}
	if n != heldReadEvents {
		t.Errorf("the read in flight as the server began to stop got %d events, want %d", n, heldReadEvents)
	}
	rest, _ := io.ReadAll(errOut)
	got += string(rest)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("serve after SIGTERM: %v, want it to stop gracefully\nstderr: %s", err, got)
	}
}

func TestServeAuthAndPasswd(t *testing.T) {
	users := filepath.Join(t.TempDir(), "users")
	cli(t, "s3cret\n", "passwd", users, "wanda").has(t, exitOK, `User "wanda" (writer) is in`)
	cli(t, "adm1n\n", "passwd", users, "ada", "--role", "admin").has(t, exitOK, `User "ada" (admin)`)
	cli(t, "n3w\n", "passwd", users, "wanda").has(t, exitOK, `User "wanda" (writer)`)
	cli(t, "x\n", "passwd", users, "bad name").has(t, exitUsage, "user name")
	cli(t, "x\n", "passwd", users, "bob", "--role", "boss").has(t, exitUsage, `--role "boss"`)
	cli(t, "", "passwd", users, "bob").has(t, exitError, "no password")
	b, _ := os.ReadFile(users)
	if n := strings.Count(string(b), "\n"); n != 2 || !strings.Contains(string(b), "wanda:writer:$2") || !strings.Contains(string(b), "ada:admin:$2") {
		t.Fatalf("users file:\n%s", b)
	}

	url, _, _ := startServe(t, "--store", "memory:", "--auth", users, "--log", "json")
	body := `{"expectedRevision":"any","events":[{"id":"0190f1c2-7a3b-7c4d-8e5f-0a1b2c3d4e5f","type":"E"}]}`
	for _, tt := range []struct {
		user, password string
		status         int
	}{{"", "", 401}, {"wanda", "s3cret", 401}, {"wanda", "n3w", 201}} {
		r, _ := http.NewRequest("POST", url+"/api/streams/s", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		if tt.user != "" {
			r.SetBasicAuth(tt.user, tt.password)
		}
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		var e map[string]any
		json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if resp.StatusCode != tt.status {
			t.Errorf("append as %q/%q: %d %v, want %d", tt.user, tt.password, resp.StatusCode, e, tt.status)
		}
	}
}

// TestServeSpeaksKurrentDB drives "chronicle serve" through the KurrentDB
// protocol on its HTTP port, with this program's own --store
// kurrentdb://... client: what one protocol writes, the other reads, and
// --auth rules both the same way.
func TestServeSpeaksKurrentDB(t *testing.T) {
	users := filepath.Join(t.TempDir(), "users")
	cli(t, "w-pass\n", "passwd", users, "wanda").has(t, exitOK)
	cli(t, "a-pass\n", "passwd", users, "ada", "--role", "admin").has(t, exitOK)
	url, cmd, errOut := startServe(t, "--auth", users)
	addr := strings.TrimPrefix(url, "http://")
	kdb := func(cred string) string { return "kurrentdb://" + cred + addr + "?tls=false" }

	r, _ := http.NewRequest("POST", url+"/api/streams/game-1", strings.NewReader(
		`{"expectedRevision":"no-stream","events":[{"id":"0190f1c2-7a3b-7c4d-8e5f-0a1b2c3d4e5f","type":"GameStarted","data":{"player_one":"Ann"}}]}`))
	r.Header.Set("Content-Type", "application/json")
	r.SetBasicAuth("wanda", "w-pass")
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("HTTP append: %s", resp.Status)
	}

	// Reads are open, as over HTTP.
	cli(t, "", "read", "game-1", "--store", kdb("")).has(t, exitOK, "GameStarted", `{"player_one":"Ann"}`)
	archive := filepath.Join(t.TempDir(), "a.jsonl")
	cli(t, "", "export", "--store", kdb(""), "--out", archive).has(t, exitOK)
	// Writes need a user; deletes an admin.
	cli(t, "", "import", archive, "--store", kdb("")).has(t, exitError, "Unauthenticated")
	cli(t, "", "delete", "game-1", "--store", kdb("wanda:w-pass@")).has(t, exitError, "needs an admin")
	cli(t, "", "delete", "game-1", "--store", kdb("ada:a-pass@")).has(t, exitOK)
	resp, err = http.Get(url + "/api/streams/game-1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Fatalf("HTTP read after a delete over gRPC: %s, want 404", resp.Status)
	}

	// A gRPC subscription left open does not hold up shutdown: it ends
	// at once, with a status that says why.
	client, err := kurrent.Dial(context.Background(), kdb(""), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	established := make(chan struct{})
	subscribed := make(chan error, 1)
	go func() {
		for _, err := range client.Subscribe(context.Background(), chronicle.SubscribeOptions{}) {
			if err != nil {
				subscribed <- err
				return
			}
			select {
			case <-established:
			default:
				close(established)
			}
		}
		subscribed <- nil
	}()
	// The log holds the events appended above: the first to come says
	// that the server serves the subscription.
	select {
	case <-established:
	case err := <-subscribed:
		t.Fatalf("the subscription ended before its first event: %v", err)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve after SIGTERM: %v\nstderr: %s", err, errOut)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("serve did not stop within 10s of SIGTERM\nstderr: %s", errOut)
	}
	select {
	case err := <-subscribed:
		if err == nil || !strings.Contains(err.Error(), "Unavailable") || !strings.Contains(err.Error(), "stopping") {
			t.Errorf("the subscription ended with %v, want Unavailable, saying that the server is stopping", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("the subscription did not end when the server stopped")
	}
}

// selfSigned writes a self-signed certificate for 127.0.0.1 and its key,
// as PEM files, and returns their paths.
func selfSigned(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "chronicle test"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// TestServeTLS serves HTTPS and gRPC over TLS on one port.
func TestServeTLS(t *testing.T) {
	cert, key := selfSigned(t)
	cli(t, "", "serve", "--store", "memory:", "--tls-cert", cert).has(t, exitUsage, "--tls-cert and --tls-key go together")
	cli(t, "", "serve", "--store", "memory:", "--tls-cert", key, "--tls-key", key).has(t, exitError, "load the TLS certificate")

	url, _, _ := startServe(t, "--store", "memory:", "--tls-cert", cert, "--tls-key", key)
	if !strings.HasPrefix(url, "https://") {
		t.Fatalf("serve printed %s, want an https:// address", url)
	}
	insecure := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := insecure.Post(url+"/api/streams/s", "application/json",
		strings.NewReader(`{"expectedRevision":"no-stream","events":[{"id":"0190f1c2-7a3b-7c4d-8e5f-0a1b2c3d4e5f","type":"E","data":{"n":1}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("HTTPS append: %s", resp.Status)
	}
	addr := strings.TrimPrefix(url, "https://")
	// TLS is the clients' default: no tls=false here.
	cli(t, "", "read", "s", "--store", "kurrentdb://"+addr+"?tlsVerifyCert=false").has(t, exitOK, `{"n":1}`)
	// A client that checks the certificate refuses a self-signed one.
	r := cli(t, "", "read", "s", "--store", "kurrentdb://"+addr)
	if r.code == exitOK {
		t.Fatalf("a client that verifies the certificate read from a self-signed server:\n%s", r.out)
	}
	// Plain text is not served on a TLS port.
	if resp, err := http.Get("http://" + addr + "/health/live"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Fatal("plain HTTP answered 200 on the TLS port")
		}
	}
}

// TestServeUnreadableFilesMakeNoStore starts a server whose users file,
// or TLS certificate, cannot be read, on a store that does not exist
// yet: it must refuse, as it does, and leave no new store behind, as a
// refused --listen leaves none. The store was made before the files were
// read.
func TestServeUnreadableFilesMakeNoStore(t *testing.T) {
	dir := t.TempDir()
	fresh := filepath.Join(dir, "new", "events.db")
	missing := filepath.Join(dir, "missing")
	cli(t, "", "serve", "--store", fresh, "--auth", missing).has(t, exitError, "read users")
	cli(t, "", "serve", "--store", fresh, "--tls-cert", missing, "--tls-key", missing).has(t, exitError, "load the TLS certificate")
	if _, err := os.Stat(filepath.Dir(fresh)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a refused serve left %s: %v", filepath.Dir(fresh), err)
	}
}
