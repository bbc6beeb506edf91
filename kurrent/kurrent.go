// Package kurrent is a [chronicle.Store] that keeps its events in a
// server that speaks the KurrentDB (EventStoreDB) gRPC client protocol:
// a KurrentDB node, or Chronicle's own server (package kurrentserver,
// mounted by `chronicle serve`). A Chronicle application uses it to run
// on a KurrentDB cluster, or on a Chronicle server shared by several
// processes:
//
//	store, err := kurrent.Dial(ctx, "kurrentdb://127.0.0.1:2113?tls=false", nil)
//
// It implements [chronicle.Store], [chronicle.Deleter] and
// [chronicle.Retention] (through "$$stream" metadata streams, as the
// official clients do).
//
// Positions are the server's commit positions. Chronicle servers number
// events 1, 2, 3, ...; KurrentDB's positions are byte offsets in its log,
// increasing but not consecutive, so with a KurrentDB server do not
// assume that position p+1 follows p.
package kurrent

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/internal/esdbpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
)

var (
	_ chronicle.Store     = (*Store)(nil)
	_ chronicle.Deleter   = (*Store)(nil)
	_ chronicle.Retention = (*Store)(nil)
)

// Options configures a [Store]. The zero value, like a nil *Options,
// gives the defaults.
type Options struct {
	// MaxEventSize limits each event's data and metadata, in bytes,
	// checked before sending. Zero means [chronicle.DefaultMaxEventSize].
	// Calls send and receive gRPC messages of up to this size, or
	// chronicle.DefaultMaxEventSize if larger, plus 1 MiB. An event
	// within it that the server refuses as too large, by its store's
	// limit or its own on a message, fails with an error matching
	// [chronicle.ErrEventTooLarge] too.
	MaxEventSize int
	// DialOptions are added to the gRPC dial options, after those that
	// the connection string and MaxEventSize imply, so that they
	// override them.
	DialOptions []grpc.DialOption
}

// Store is a [chronicle.Store] over one connection to a server. It is safe
// for concurrent use.
type Store struct {
	cc           conn
	streams      esdbpb.StreamsClient
	maxEventSize int
	// gapless is true when the server is Chronicle's, whose positions
	// follow each other, so that an append's first position follows
	// from its last.
	gapless bool

	// calls counts the calls under way, which Close waits for; entering
	// orders their start with Close, so that none starts once Close
	// waits (a WaitGroup must not grow from zero while it is waited for).
	calls     sync.WaitGroup
	entering  sync.RWMutex
	closeOnce sync.Once
	closeErr  error
	closed    atomic.Bool // set as Close starts, for enter and fromStatus
}

// ErrConnectionString means Dial could not use its connection string.
var ErrConnectionString = errors.New("kurrent: bad connection string")

// Dial connects to the server named by a connection string of the form
// the official clients take, "kurrentdb://[user:password@]host:port[?tls=false]"
// (or "esdb://..."), or by a bare "host:port" (plain text, without
// settings; a host without a port, here as in a connection string, gets
// KurrentDB's 2113). TLS is on
// unless tls=false; tlsVerifyCert=false skips checking the certificate.
// A setting that no official client knows (a misspelt one), one given
// twice or without a value, settings that cannot be read (separated by
// ';', or with a bad '%' escape), a value of
// tls or tlsVerifyCert other than true or false, and the settings this
// client does not support but that would change how it connects
// (tlsCAFile, userCertFile, userKeyFile) fail with ErrConnectionString;
// connectionName, defaultDeadline and throwOnAppendFailure are accepted
// and do nothing (each call's ctx is its deadline, and a failed append
// is always an error).
// The client pings the server when a connection has been quiet for
// keepAliveInterval milliseconds (10000 by default; gRPC pings no more
// often), and a call fails with codes.Unavailable when a ping gets no
// answer within keepAliveTimeout milliseconds (10000), so that a call or
// a subscription whose server vanished from the network ends rather
// than waits for ever; -1 turns the pings off, or waits for their
// answer for ever.
//
// With one host, Dial connects to it. With several hosts
// ("kurrentdb://h1:2113,h2:2113,h3:2113"), or with the "kurrentdb+discover://"
// (or "esdb+discover://") scheme, it discovers the cluster: it asks the
// hosts in turn for the members (Gossip.Read, within gossipTimeout
// seconds, 5 by default) and connects to an alive member chosen by
// nodePreference (leader, the default, follower, readOnlyReplica or
// random), trying again up to maxDiscoverAttempts times (10) with
// discoveryInterval milliseconds (100) between. A failure is a
// *[DiscoveryError]. With leader preference, a call that a node refuses
// as not the leader reconnects to the leader and runs once more.
func Dial(ctx context.Context, conn string, opts *Options) (*Store, error) {
	set, dopts, err := parse(conn)
	if err != nil {
		return nil, err
	}
	s := &Store{}
	var extra []grpc.DialOption
	if opts != nil {
		s.maxEventSize, extra = opts.MaxEventSize, opts.DialOptions
	}
	dopts = append(dopts, messageLimits(s.maxEventSize))
	dopts = append(dopts, extra...)
	var n *node
	if set.clustered() {
		c, err := dialCluster(ctx, set, dopts)
		if err != nil {
			return nil, err
		}
		s.cc, n = c, c.current()
	} else {
		if n, err = connectNode(ctx, set.seeds[0], dopts); err != nil {
			if ctxErr := ctx.Err(); ctxErr != nil {
				// gRPC reports the end of ctx as a status, which
				// errors.Is does not match with ctx's error: say it
				// plainly, as a cluster's discovery does.
				return nil, fmt.Errorf("%w (after: %v)", ctxErr, err)
			}
			return nil, err
		}
		s.cc = n.cc
	}
	s.streams = esdbpb.NewStreamsClient(s.cc)
	s.gapless = n.gapless
	return s, nil
}

// Close ends the calls under way and waits for them, then returns. They
// end with an error matching [chronicle.ErrClosed], unless the server had
// already answered; running subscriptions end with one too, as does a
// reconnection to a cluster's leader under way. An append cut short this
// way may or may not have been written: read the stream, or retry it with
// the same event IDs, to know. Every call after Close fails with an error
// matching ErrClosed, without using the connection, which Close has
// closed; but bad input (an invalid stream name, event, filter or
// metadata) is refused as such first, as an open store refuses it and
// as the other stores do once closed. A read or a subscription whose
// loop body runs as Close is called is not waited for: its next step
// gets ErrClosed. Close may be called more than once, and from such a
// loop body.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.entering.Lock()
		s.closed.Store(true)
		s.entering.Unlock()
		// Closing the connection ends the calls on it at once (gRPC
		// cancels their streams); they then return.
		s.closeErr = s.cc.Close()
		s.calls.Wait()
	})
	return s.closeErr
}

// enter registers a call under way, which Close waits for until it calls
// the function returned; once the store is closed, it fails with an error
// matching [chronicle.ErrClosed] instead. A read enters for each step it
// takes on the connection, not while its caller's loop body runs, so
// that a loop body that calls Close does not wait for itself.
func (s *Store) enter() (done func(), err error) {
	s.entering.RLock()
	defer s.entering.RUnlock()
	if s.closed.Load() {
		return nil, chronicle.ErrClosed
	}
	s.calls.Add(1)
	return s.calls.Done, nil
}

// messageOverhead is the room a message needs, beyond the data and
// metadata of the event it carries, for its ID, type, stream name and
// positions.
const messageOverhead = 1 << 20

// messageLimits lets calls send and receive a message that carries one
// event as large as the stores take. gRPC's default limit on a message
// received, 4 MiB, is well below chronicle.DefaultMaxEventSize: an
// event between the two, appended by another program, could never be
// read, and a subscription could never get past it. Another program's
// events may be as large as the default even when maxEventSize is
// smaller.
func messageLimits(maxEventSize int) grpc.DialOption {
	n := max(maxEventSize, chronicle.DefaultMaxEventSize) + messageOverhead
	return grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(n), grpc.MaxCallSendMsgSize(n))
}

func parse(conn string) (clusterSettings, []grpc.DialOption, error) {
	var set clusterSettings
	if !strings.Contains(conn, "://") {
		// A bare host:port: one host, in plain text, without settings.
		// Not quoted, as it may hold a password meant for a connection
		// string.
		seeds, err := parseHosts(conn)
		if err != nil || len(seeds) != 1 {
			return set, nil, fmt.Errorf("%w: neither a connection string (kurrentdb://HOST:PORT?tls=false, with the two slashes) nor a bare HOST:PORT", ErrConnectionString)
		}
		set.seeds = seeds
		ka, _ := keepaliveOf(nil) // the defaults
		return set, []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithKeepaliveParams(ka)}, nil
	}
	// The hosts are taken out before url.Parse, which takes one host only.
	scheme, rest, _ := strings.Cut(conn, "://")
	authority, tail := rest, ""
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		authority, tail = rest[:i], rest[i:]
	}
	userinfo, hosts := "", authority
	if i := strings.LastIndex(authority, "@"); i >= 0 {
		userinfo, hosts = authority[:i+1], authority[i+1:]
	} else if before, _, ok := strings.Cut(tail, "@"); ok && !strings.Contains(before, "=") {
		// An '@' after the host part, and not in a setting's value: a
		// '/', '?' or '#' in the password ended the host part early.
		// What came before it is no host, and not quoted, as it holds
		// the password.
		return set, nil, fmt.Errorf("%w: a '/', '?' or '#' in the user or password must be escaped, as %%2F, %%3F or %%23", ErrConnectionString)
	}
	u, err := url.Parse(scheme + "://" + userinfo + "hosts" + tail)
	if err != nil {
		// Not err itself, which quotes the string, password and all.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return set, nil, fmt.Errorf("%w: %v", ErrConnectionString, err)
	}
	base, discover := strings.CutSuffix(u.Scheme, "+discover")
	switch base {
	case "kurrentdb", "kurrent", "esdb", "eventstore":
	default:
		return set, nil, fmt.Errorf("%w: scheme %q, want kurrentdb://, kurrentdb+discover://, esdb:// or esdb+discover://", ErrConnectionString, u.Scheme)
	}
	if hosts == "" {
		return set, nil, fmt.Errorf("%w: no host: write %s://HOST:PORT", ErrConnectionString, u.Scheme)
	}
	if set.seeds, err = parseHosts(hosts); err != nil {
		return set, nil, err
	}
	set.discover = discover
	// Not u.Query, which skips a setting it cannot read ("tls=false;x",
	// a bad escape) without a word: the connection would be made
	// without it, with TLS on, say.
	raw, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return set, nil, fmt.Errorf("%w: settings %q: %v: separate them with '&', and escape '%%' as %%25", ErrConnectionString, u.RawQuery, err)
	}
	q := make(url.Values, len(raw))
	for k, v := range raw {
		k = strings.ToLower(k) // the clients read settings case-insensitively
		q[k] = append(q[k], v...)
	}
	if err := checkSettings(q); err != nil {
		return set, nil, err
	}
	if err := parseClusterOptions(q, &set); err != nil {
		return set, nil, err
	}
	ka, err := keepaliveOf(q)
	if err != nil {
		return set, nil, err
	}
	var dopts []grpc.DialOption
	if ka.Time != forever {
		dopts = append(dopts, grpc.WithKeepaliveParams(ka))
	}
	secure, err := boolSetting(q, "tls", "tls")
	if err != nil {
		return set, nil, err
	}
	verify, err := boolSetting(q, "tlsverifycert", "tlsVerifyCert")
	if err != nil {
		return set, nil, err
	}
	if secure {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: !verify}
		dopts = append(dopts, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	} else {
		dopts = append(dopts, grpc.WithTransportCredentials(insecure.NewCredentials()))
	}
	if u.User != nil {
		pass, _ := u.User.Password()
		dopts = append(dopts, grpc.WithPerRPCCredentials(basicAuth{
			header: "Basic " + base64.StdEncoding.EncodeToString([]byte(u.User.Username()+":"+pass)),
			secure: secure,
		}))
	}
	return set, dopts, nil
}

// settings are the connection string's settings that the official
// clients know, by their lower-case keys, and whether Dial accepts them.
// It refuses those it does not support that would connect otherwise than
// asked (a certificate to trust or to log in with); it accepts the
// others it does not support (a name for the server's logs, a default
// deadline that each call's ctx sets here, an append failure that is
// always an error here), which do nothing, so that a connection string
// written for another client works.
var settings = map[string]bool{
	"tls": true, "tlsverifycert": true, "nodepreference": true,
	"maxdiscoverattempts": true, "discoveryinterval": true, "gossiptimeout": true,
	"keepaliveinterval": true, "keepalivetimeout": true,
	"tlscafile": false, "usercertfile": false, "userkeyfile": false,
	"connectionname": true, "defaultdeadline": true, "throwonappendfailure": true,
}

// checkSettings refuses a setting that no official client knows, such as
// a misspelt one, which would otherwise be ignored without a word, one
// that Dial does not honour but would change how it connects, and one
// given twice or without a value.
func checkSettings(q url.Values) error {
	for k, v := range q {
		accepted, known := settings[k]
		switch {
		case !known:
			return fmt.Errorf("%w: unknown setting %q: check its spelling (known: tls, tlsVerifyCert, nodePreference, maxDiscoverAttempts, discoveryInterval, gossipTimeout, keepAliveInterval, keepAliveTimeout)", ErrConnectionString, k)
		case !accepted:
			return fmt.Errorf("%w: %s is not supported by this client: install the certificate in the system's store, or log in with a user and password", ErrConnectionString, k)
		case len(v) > 1:
			return fmt.Errorf("%w: %s given %d times: give it once", ErrConnectionString, k, len(v))
		case v[0] == "":
			// Read as unset, "tls=" would leave TLS on, and
			// "keepAliveTimeout=" the default, without a word.
			return fmt.Errorf("%w: %s has no value: give one, or leave the setting out", ErrConnectionString, k)
		}
	}
	return nil
}

// boolSetting reads a setting that is true unless it says false, and
// refuses anything but true or false: "tls=flase" must not turn TLS on
// without a word.
func boolSetting(q url.Values, key, name string) (bool, error) {
	switch v := q.Get(key); {
	case v == "" || strings.EqualFold(v, "true"):
		return true, nil
	case strings.EqualFold(v, "false"):
		return false, nil
	default:
		return false, fmt.Errorf("%w: %s=%q, want true or false", ErrConnectionString, name, v)
	}
}

// basicAuth sends the connection string's user and password with every
// call.
type basicAuth struct {
	header string
	secure bool
}

func (b basicAuth) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": b.header}, nil
}

// RequireTransportSecurity is false only for tls=false, where the user
// asked for plain text (as on a loopback or a private network).
func (b basicAuth) RequireTransportSecurity() bool { return b.secure }

// forever, as an interval between keepalive pings, sends none; as their
// timeout, waits for their answer for ever.
const forever = time.Duration(math.MaxInt64)

// keepaliveOf reads keepAliveInterval and keepAliveTimeout, in
// milliseconds, as the official clients do: 10000 each by default, and
// -1 for forever. Without pings, a call whose server vanished from the
// network without closing the connection (its host lost, a NAT entry
// expired: no FIN, no RST) would wait for ever, a subscription above
// all; with them, it fails once a ping goes unanswered for the timeout.
// gRPC pings no more often than every 10 s, whatever the interval.
func keepaliveOf(q url.Values) (keepalive.ClientParameters, error) {
	ka := keepalive.ClientParameters{Time: 10 * time.Second, Timeout: 10 * time.Second, PermitWithoutStream: true}
	for _, o := range []struct {
		key, name string
		d         *time.Duration
	}{{"keepaliveinterval", "keepAliveInterval", &ka.Time}, {"keepalivetimeout", "keepAliveTimeout", &ka.Timeout}} {
		v := q.Get(o.key)
		if v == "" {
			continue
		}
		switch n, err := strconv.ParseInt(v, 10, 64); {
		case err == nil && n == -1:
			*o.d = forever
		case err == nil && n > 0 && n <= math.MaxInt64/int64(time.Millisecond):
			*o.d = time.Duration(n) * time.Millisecond
		default:
			return ka, fmt.Errorf("%w: %s=%q, want a whole number of milliseconds of at least 1, or -1 for none", ErrConnectionString, o.name, v)
		}
	}
	return ka, nil
}
