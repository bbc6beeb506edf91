package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	internalcli "github.com/chronicle-es/chronicle/internal/cli"
	"github.com/chronicle-es/chronicle/internal/dsn"
	"github.com/chronicle-es/chronicle/kurrentserver"
	"github.com/chronicle-es/chronicle/server"
)

// defaultListen is where a server listens by default: loopback only, so
// that a server started without thought is not open to the network.
const defaultListen = "127.0.0.1:2113"

// defaultGrace is how long a stopping server waits for the requests in
// flight, unless --grace says otherwise: long enough for the requests of
// a store that answers (reads and appends take milliseconds, and the
// subscriptions end at once), short enough that a user who pressed
// Ctrl-C is not left waiting, and within what service managers give a
// service to stop (systemd 90 s, Kubernetes 30 s).
const defaultGrace = 10 * time.Second

func serveFlags(a *app, fs *flag.FlagSet) {
	fs.StringVar(&a.listen, "listen", defaultListen, "")
	fs.StringVar(&a.authFile, "auth", "", "")
	fs.BoolVar(&a.readOnly, "read-only", false, "")
	fs.BoolVar(&a.openWrites, "allow-unauthenticated-writes", false, "")
	fs.StringVar(&a.logFormat, "log", "text", "")
	fs.StringVar(&a.tlsCert, "tls-cert", "", "")
	fs.StringVar(&a.tlsKey, "tls-key", "", "")
	fs.DurationVar(&a.grace, "grace", defaultGrace, "")
}

const serveHelp = `Serves the store over HTTP until interrupted (SIGINT or SIGTERM):

  /                 the web UI: dashboard, stream browser, live tail
  /games            Connect Four in the browser
  /api/...          the JSON API; its OpenAPI document is /api/openapi.json
  /metrics          Prometheus metrics
  /health/live, /health/ready

The same port speaks the KurrentDB (EventStoreDB) gRPC client protocol, so
that the official clients connect with "kurrentdb://HOST:PORT?tls=false".

Reads are open to whoever can reach the server. Writes need a user of the
--auth file (HTTP Basic) when one is given. The server listens on loopback
by default; another address needs --auth or --read-only, so that no
write is open to other hosts by accident.

On SIGINT (Ctrl-C) or SIGTERM, the server ends the subscriptions (those of
the KurrentDB protocol too), waits for the requests in flight (gRPC calls
too) for up to --grace (10 seconds by default), and stops; a second signal
stops it at once. When it cuts off requests in flight, either way, it
names them and exits with the signal's status: 130 for SIGINT, 143 for
SIGTERM. Should something still hold it then, such as a store that does
not answer, a third signal ends it on the spot, without closing the
store.`

const serveFlagHelp = `  --listen ADDR    the address to listen on (default ` + defaultListen + `; port 0 picks one)
  --auth FILE      users who may write, one "name:role:bcrypt-hash" a line
                   (role writer or admin); "chronicle passwd" adds them
  --read-only      refuse every write
  --allow-unauthenticated-writes
                   let a non-loopback --listen go without --auth: anyone who
                   reaches the server may write
  --log FORMAT     log lines as text (the default) or json, on standard error
  --grace DURATION how long a stopping server waits for the requests in
                   flight, such as 30s or 2m (default 10s; 0 cuts them off)
  --tls-cert FILE  serve HTTPS (and gRPC over TLS) with this PEM certificate
  --tls-key FILE   and its PEM private key; clients then connect with
                   "kurrentdb://HOST:PORT" (add tlsVerifyCert=false for a
                   self-signed certificate)`

func (a *app) checkServe() error {
	switch a.logFormat {
	case "text", "json":
	default:
		return fmt.Errorf("--log %q: want text or json", a.logFormat)
	}
	// Checked before the store is opened (and, for the default store,
	// made): a port that no listener takes must not leave a store behind.
	_, port, err := net.SplitHostPort(a.listen)
	if err != nil {
		return fmt.Errorf("--listen %q: want HOST:PORT, such as %s", a.listen, defaultListen)
	}
	if _, err := net.LookupPort("tcp", port); err != nil && port != "" {
		return fmt.Errorf("--listen %q: the port %q is not a number from 0 to 65535", a.listen, port)
	}
	if (a.tlsCert == "") != (a.tlsKey == "") {
		return errors.New("--tls-cert and --tls-key go together: give both, or neither for plain HTTP")
	}
	if a.grace < 0 {
		return fmt.Errorf("--grace %v: want a duration of 0 or more, such as 30s (0 stops without waiting for the requests in flight)", a.grace)
	}
	if a.authFile != "" && a.readOnly {
		return errors.New("--auth and --read-only together: a read-only server takes no writes, so it needs no users")
	}
	if !server.IsLoopback(a.listen) && a.authFile == "" && !a.readOnly && !a.openWrites {
		return fmt.Errorf("--listen %s is reachable from other hosts, and without --auth anyone there could write to the store: "+
			"give --auth FILE, or --read-only, or accept it with --allow-unauthenticated-writes", a.listen)
	}
	return nil
}

// serve reads the users file and the TLS certificate before it opens
// the store, which it may make: a file that cannot be read leaves no new
// store behind.
func (a *app) serve(ctx context.Context, _ dsn.Store, _ []string) int {
	var users *server.Users
	if a.authFile != "" {
		var err error
		if users, err = server.LoadUsers(a.authFile); err != nil {
			return a.fail("serve", err)
		}
	}
	var tlsConfig *tls.Config
	if a.tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(a.tlsCert, a.tlsKey)
		if err != nil {
			return a.fail("serve", fmt.Errorf("load the TLS certificate: %w", err))
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	s, err := a.openStore(ctx, true)
	if err != nil {
		return a.fail("serve", err)
	}
	defer s.Close()
	var handler slog.Handler = slog.NewTextHandler(a.err, nil)
	if a.logFormat == "json" {
		handler = slog.NewJSONHandler(a.err, nil)
	}
	log := slog.New(handler)
	name := a.store
	if name == "" {
		name, _ = dsn.Default("chronicle")
	}
	// The KurrentDB client protocol shares the port, as on KurrentDB,
	// so that the official clients connect with
	// "kurrentdb://127.0.0.1:2113?tls=false".
	kurrent := kurrentserver.New(s, &kurrentserver.Options{Authorize: authorizeGRPC(users, a.readOnly)})
	srv, err := server.New(s, &server.Options{
		Logger:       log,
		Users:        users,
		ReadOnly:     a.readOnly,
		LoopbackOnly: server.IsLoopback(a.listen),
		StoreName:    dsn.Describe(name),
		GRPC:         kurrent,
		TLS:          tlsConfig,
	})
	if err != nil {
		return a.fail("serve", err)
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", a.listen)
	if err != nil {
		return a.fail("serve", err)
	}
	mode := "writes open to this machine"
	switch {
	case a.readOnly:
		mode = "read-only"
	case users != nil:
		mode = "writes need a user of " + a.authFile
	case !server.IsLoopback(a.listen):
		mode = "writes open to anyone who reaches it"
	}
	scheme := "http"
	if tlsConfig != nil {
		scheme = "https"
	}
	fmt.Fprintf(a.out, "Chronicle is serving at %s://%s/ (%s). Stop it with Ctrl-C.\n", scheme, ln.Addr(), mode)
	log.Info("serving", "addr", ln.Addr().String(), "store", dsn.Describe(name), "read_models", srv.ReadModels())
	// A second signal, while the server waits for the requests in
	// flight, stops it at once: the user does not want to wait. Serve
	// still ends the handlers left and stops the projections, and
	// returns once they have, so that the store, closed on the way out,
	// is closed under nothing that still uses it.
	forced := internalcli.Forced(ctx)
	stopAbort := context.AfterFunc(forced, srv.Abort)
	defer stopAbort()
	err = srv.Serve(ctx, ln, a.grace)
	var cut *server.CutOffError
	if !errors.As(err, &cut) {
		if err != nil {
			return a.fail("serve", err)
		}
		log.Info("stopped")
		return exitOK
	}
	if how, code, ok := internalcli.Stopped(context.Cause(forced), err); ok {
		fmt.Fprintf(a.err, "chronicle serve: %s again: forced to stop, and %v\n", how, cut)
		return code
	}
	// The grace period ran out: the signal that started the shutdown,
	// the cause of the cancelled ctx, stopped the server, and the exit
	// status says which it was.
	if how, code, ok := internalcli.Stopped(a.stop(), context.Canceled); ok {
		fmt.Fprintf(a.err, "chronicle serve: %s, and %v\n--grace DURATION gives the requests in flight longer to end.\n", how, cut)
		return code
	}
	return a.fail("serve", err)
}

// authorizeGRPC gives the KurrentDB protocol the rules of the HTTP API:
// reads are open; writes need a writer, and deletes and metadata an
// admin, when there are users; a read-only server takes no writes.
func authorizeGRPC(users *server.Users, readOnly bool) func(context.Context, kurrentserver.Access, *kurrentserver.Credentials) error {
	return func(_ context.Context, access kurrentserver.Access, c *kurrentserver.Credentials) error {
		switch {
		case access == kurrentserver.Read:
			return nil
		case readOnly:
			return errors.New("this server is read-only (chronicle serve --read-only)")
		case users == nil:
			return nil
		case c == nil:
			return kurrentserver.ErrUnauthenticated
		}
		role, ok := users.Check(c.User, c.Password)
		if !ok {
			return kurrentserver.ErrUnauthenticated
		}
		if access == kurrentserver.Admin && role != server.Admin {
			return fmt.Errorf("user %q is a %s: deleting streams and changing their metadata needs an admin", c.User, role)
		}
		return nil
	}
}

func passwdFlags(a *app, fs *flag.FlagSet) {
	fs.StringVar(&a.role, "role", string(server.Writer), "")
}

const passwdHelp = `Reads the password from the first line of standard input, hashes it with
bcrypt, and adds the user to FILE (created if missing), or replaces the
user's line. Give the file to "chronicle serve --auth FILE".`

const passwdFlagHelp = `  --role ROLE      writer (append, play; the default) or admin (also change
                   metadata and delete streams)`

// passwd adds or replaces a user in a users file.
func (a *app) passwd(ctx context.Context, _ dsn.Store, args []string) int {
	file, name := args[0], args[1]
	role := server.Role(a.role)
	if role != server.Writer && role != server.Admin {
		fmt.Fprintf(a.err, "chronicle passwd: --role %q: want writer or admin\n", a.role)
		return exitUsage
	}
	if err := server.ValidateUserName(name); err != nil {
		fmt.Fprintf(a.err, "chronicle passwd: %v\n", err)
		return exitUsage
	}
	line, err := bufio.NewReader(a.in).ReadString('\n')
	if ctx.Err() != nil {
		// Interrupted, perhaps halfway through the password.
		return a.fail("passwd", ctx.Err())
	}
	if err != nil && line == "" {
		return a.fail("passwd", errors.New("no password on standard input: give it on the first line"))
	}
	hash, err := server.HashPassword(strings.TrimRight(line, "\r\n"))
	if err != nil {
		return a.fail("passwd", err)
	}
	var kept []string
	if old, err := os.ReadFile(file); err == nil {
		for l := range strings.Lines(string(old)) {
			l = strings.TrimRight(l, "\r\n")
			if strings.HasPrefix(l, name+":") {
				continue
			}
			kept = append(kept, l)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return a.fail("passwd", err)
	}
	kept = append(kept, server.UserLine(name, role, hash))
	// Write beside and rename, so that a failure leaves the old file.
	tmp, err := os.CreateTemp(filepath.Dir(file), "."+filepath.Base(file)+".*.tmp")
	if err != nil {
		return a.fail("passwd", err)
	}
	_, err = tmp.WriteString(strings.Join(kept, "\n") + "\n")
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), file)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return a.fail("passwd", err)
	}
	return a.report("passwd", "User %q (%s) is in %s.\n", name, role, file)
}
