package kurrent

import (
	"net/url"
	"testing"
	"time"
)

// The keepalive pings are on by default, with the official clients'
// interval and timeout, and the connection string sets them in
// milliseconds, -1 meaning forever.
func TestKeepaliveOf(t *testing.T) {
	for _, tc := range []struct {
		query             string
		interval, timeout time.Duration
	}{
		{"", 10 * time.Second, 10 * time.Second},
		{"keepaliveinterval=30000&keepalivetimeout=2500", 30 * time.Second, 2500 * time.Millisecond},
		{"keepaliveinterval=-1", forever, 10 * time.Second},
		{"keepalivetimeout=-1", 10 * time.Second, forever},
	} {
		q, err := url.ParseQuery(tc.query)
		if err != nil {
			t.Fatal(err)
		}
		ka, err := keepaliveOf(q)
		if err != nil || ka.Time != tc.interval || ka.Timeout != tc.timeout || !ka.PermitWithoutStream {
			t.Errorf("%q: %+v, %v; want an interval of %v and a timeout of %v, pinging without calls too", tc.query, ka, err, tc.interval, tc.timeout)
		}
	}
}

// TestParseSettings: the settings of the official clients are read
// case-insensitively, and those that do nothing here are accepted, so
// that a connection string written for another client works.
func TestParseSettings(t *testing.T) {
	for _, conn := range []string{
		"kurrentdb://h1?TLS=False&TlsVerifyCert=TRUE",
		"esdb://h1:2113?tls=true&tlsVerifyCert=false&connectionName=billing&defaultDeadline=5000&throwOnAppendFailure=false",
		"kurrentdb+discover://h1,h2?nodePreference=follower&keepAliveInterval=-1",
	} {
		if _, _, err := parse(conn); err != nil {
			t.Errorf("parse(%q): %v", conn, err)
		}
	}
}
