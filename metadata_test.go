package chronicle_test

import (
	"context"
	"maps"
	"testing"

	"github.com/chronicle-es/chronicle"
	"github.com/google/uuid"
)

func TestMetadataHelpers(t *testing.T) {
	var none chronicle.Metadata
	if none.CorrelationID() != "" || none.CausationID() != "" {
		t.Error("nil metadata has IDs")
	}

	m := none.WithCorrelationID("corr").WithCausationID("cause")
	if m.CorrelationID() != "corr" || m.CausationID() != "cause" {
		t.Errorf("got %v", m)
	}
	if m[chronicle.MetadataCorrelationID] != "corr" || m[chronicle.MetadataCausationID] != "cause" {
		t.Errorf("IDs not under the KurrentDB keys: %v", m)
	}
	if none != nil {
		t.Error("With changed a nil Metadata")
	}

	base := chronicle.Metadata{"tenant": "a"}
	ext := base.With("user", "ann")
	if len(base) != 1 || base["user"] != "" {
		t.Errorf("With changed its receiver: %v", base)
	}
	if !maps.Equal(ext, chronicle.Metadata{"tenant": "a", "user": "ann"}) {
		t.Errorf("With gave %v", ext)
	}
	if over := ext.With("tenant", "b"); over["tenant"] != "b" || ext["tenant"] != "a" {
		t.Errorf("With to replace gave %v, left %v", over, ext)
	}
}

func TestCausedBy(t *testing.T) {
	first := chronicle.RecordedEvent{ID: uuid.MustParse("0190a3e4-0000-7000-8000-00000000000a")}
	md := chronicle.CausedBy(first)
	if md.CausationID() != first.ID.String() || md.CorrelationID() != first.ID.String() {
		t.Errorf("CausedBy(an event without correlation) = %v, want both IDs %s", md, first.ID)
	}

	// A chain keeps the correlation ID of its start.
	second := chronicle.RecordedEvent{ID: uuid.MustParse("0190a3e4-0000-7000-8000-00000000000b"), Metadata: md}
	md2 := chronicle.CausedBy(second)
	if md2.CorrelationID() != first.ID.String() || md2.CausationID() != second.ID.String() {
		t.Errorf("CausedBy(second) = %v, want correlation %s and causation %s", md2, first.ID, second.ID)
	}
	if len(md2) != 2 {
		t.Errorf("CausedBy copied other keys: %v", md2)
	}
}

func TestMarshalMetadata(t *testing.T) {
	for _, m := range []chronicle.Metadata{nil, {}} {
		b, err := chronicle.MarshalMetadata(m)
		if b != nil || err != nil {
			t.Errorf("MarshalMetadata(%#v) = %q, %v; want nil, nil", m, b, err)
		}
	}
	m := chronicle.Metadata{"a": "1", chronicle.MetadataCorrelationID: "x\"y", "é": "\n"}
	b, err := chronicle.MarshalMetadata(m)
	if err != nil {
		t.Fatal(err)
	}
	back, err := chronicle.UnmarshalMetadata(b)
	if err != nil || !maps.Equal(back, m) {
		t.Errorf("round trip of %v gave %v, %v", m, back, err)
	}

	for _, in := range [][]byte{nil, {}} {
		if m, err := chronicle.UnmarshalMetadata(in); m != nil || err != nil {
			t.Errorf("UnmarshalMetadata(%q) = %v, %v", in, m, err)
		}
	}
	for _, bad := range []string{`{`, `[]`, `{"n":1}`, `"s"`} {
		if _, err := chronicle.UnmarshalMetadata([]byte(bad)); err == nil {
			t.Errorf("UnmarshalMetadata(%s) succeeded", bad)
		}
	}
}

func TestWithMetadata(t *testing.T) {
	if md := chronicle.MetadataFrom(context.Background()); md != nil {
		t.Errorf("MetadataFrom(Background) = %v", md)
	}
	outer := chronicle.WithMetadata(context.Background(), chronicle.Metadata{"a": "1", "b": "1"})
	inner := chronicle.WithMetadata(outer, chronicle.Metadata{"b": "2", "c": "2"})
	if got := chronicle.MetadataFrom(inner); !maps.Equal(got, chronicle.Metadata{"a": "1", "b": "2", "c": "2"}) {
		t.Errorf("inner metadata = %v", got)
	}
	if got := chronicle.MetadataFrom(outer); !maps.Equal(got, chronicle.Metadata{"a": "1", "b": "1"}) {
		t.Errorf("WithMetadata changed the outer context's metadata: %v", got)
	}

	// The map given is copied, not kept.
	given := chronicle.Metadata{"k": "v"}
	ctx := chronicle.WithMetadata(context.Background(), given)
	given["k"] = "changed"
	if got := chronicle.MetadataFrom(ctx)["k"]; got != "v" {
		t.Errorf("metadata in ctx follows the caller's map: %q", got)
	}
}

func TestEventID(t *testing.T) {
	parent := uuid.MustParse("0190a3e4-0000-7000-8000-000000000001")
	other := uuid.MustParse("0190a3e4-0000-7000-8000-000000000002")
	a0, a1, b0 := chronicle.EventID(parent, 0), chronicle.EventID(parent, 1), chronicle.EventID(other, 0)
	if a0 != chronicle.EventID(parent, 0) {
		t.Error("EventID is not deterministic")
	}
	if a0 == a1 || a0 == b0 || a1 == b0 || a0 == parent {
		t.Errorf("EventID collides: %s %s %s", a0, a1, b0)
	}
	if a0.Version() != 5 {
		t.Errorf("EventID version %d, want 5", a0.Version())
	}
}
