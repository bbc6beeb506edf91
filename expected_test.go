package chronicle_test

import (
	"testing"

	"github.com/chronicle-es/chronicle"
)

func TestExpectedRevisionMatches(t *testing.T) {
	var (
		none  = chronicle.StreamState{}
		zero  = chronicle.StreamState{Exists: true, LastRevision: 0}
		three = chronicle.StreamState{Exists: true, LastRevision: 3}
	)
	for _, tc := range []struct {
		expected chronicle.ExpectedRevision
		state    chronicle.StreamState
		want     bool
	}{
		{chronicle.Any, none, true},
		{chronicle.Any, zero, true},
		{chronicle.Any, three, true},
		{chronicle.ExpectedRevision{}, three, true},

		{chronicle.NoStream, none, true},
		{chronicle.NoStream, zero, false},
		{chronicle.NoStream, three, false},

		{chronicle.StreamExists, none, false},
		{chronicle.StreamExists, zero, true},
		{chronicle.StreamExists, three, true},

		// Exact(0) is a stream with one event, not a stream without.
		{chronicle.Exact(0), none, false},
		{chronicle.Exact(0), zero, true},
		{chronicle.Exact(0), three, false},
		{chronicle.Exact(3), three, true},
		{chronicle.Exact(2), three, false},
		{chronicle.Exact(4), three, false},
		{chronicle.Exact(3), chronicle.StreamState{LastRevision: 3}, false},
	} {
		if got := tc.expected.Matches(tc.state); got != tc.want {
			t.Errorf("%v.Matches(%+v) = %v, want %v", tc.expected, tc.state, got, tc.want)
		}
	}
}

func TestExpectedRevisionString(t *testing.T) {
	for _, tc := range []struct {
		expected chronicle.ExpectedRevision
		want     string
	}{
		{chronicle.Any, "any"},
		{chronicle.ExpectedRevision{}, "any"},
		{chronicle.NoStream, "no stream"},
		{chronicle.StreamExists, "stream exists"},
		{chronicle.Exact(0), "0"},
		{chronicle.Exact(42), "42"},
		{chronicle.Exact(chronicle.End), "18446744073709551615"},
	} {
		if got := tc.expected.String(); got != tc.want {
			t.Errorf("String() = %q, want %q", got, tc.want)
		}
	}
}

func TestExpectedRevisionKinds(t *testing.T) {
	for _, tc := range []struct {
		expected                     chronicle.ExpectedRevision
		any, noStream, exists, exact bool
		rev                          uint64
	}{
		{expected: chronicle.Any, any: true},
		{expected: chronicle.NoStream, noStream: true},
		{expected: chronicle.StreamExists, exists: true},
		{expected: chronicle.Exact(0), exact: true, rev: 0},
		{expected: chronicle.Exact(7), exact: true, rev: 7},
	} {
		e := tc.expected
		rev, exact := e.Revision()
		if e.IsAny() != tc.any || e.IsNoStream() != tc.noStream || e.IsStreamExists() != tc.exists || exact != tc.exact || rev != tc.rev {
			t.Errorf("%v: IsAny=%v IsNoStream=%v IsStreamExists=%v Revision=(%d, %v)",
				e, e.IsAny(), e.IsNoStream(), e.IsStreamExists(), rev, exact)
		}
	}
	one, other := chronicle.Exact(1), chronicle.Exact(1)
	if one != other || one == chronicle.Exact(2) || chronicle.Exact(0) == chronicle.Any {
		t.Error("ExpectedRevision values do not compare with == as values")
	}
}

func TestStreamStateActual(t *testing.T) {
	if got := (chronicle.StreamState{}).Actual(); got != chronicle.NoStream {
		t.Errorf("Actual() of a missing stream = %v, want no stream", got)
	}
	if got := (chronicle.StreamState{Exists: true, LastRevision: 5}).Actual(); got != chronicle.Exact(5) {
		t.Errorf("Actual() = %v, want 5", got)
	}
	for _, st := range []chronicle.StreamState{{}, {Exists: true}, {Exists: true, LastRevision: 9}} {
		if !st.Actual().Matches(st) {
			t.Errorf("%+v.Actual() = %v does not match the state it came from", st, st.Actual())
		}
	}
}

func TestAppendResultNextExpected(t *testing.T) {
	r := chronicle.AppendResult{FirstRevision: 2, LastRevision: 4, FirstPosition: 10, LastPosition: 12}
	if got := r.NextExpected(); got != chronicle.Exact(4) {
		t.Errorf("NextExpected() = %v, want 4", got)
	}
}
