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
