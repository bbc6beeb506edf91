package chronicle_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/memory"
)

// movedV3 is the current shape of a "Moved" event. Version 1 stored
// {"col": "A"}; version 2 renamed it {"column": "A"}; version 3 added the
// player, unknown for old events.
type movedV3 struct {
	Column string `json:"column"`
	Player string `json:"player"`
}

func (movedV3) isMove() {}

type move interface{ isMove() }

// rename returns an upcaster that renames a JSON field.
func rename(from, to int, old, new string) chronicle.Upcaster {
	return chronicle.Upcaster{From: from, To: to, Fn: func(b []byte) ([]byte, error) {
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, err
		}
		m[new] = m[old]
		delete(m, old)
		return json.Marshal(m)
	}}
}

var addPlayer = chronicle.Upcaster{From: 2, To: 3, Fn: func(b []byte) ([]byte, error) {
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	m["player"] = "unknown"
	return json.Marshal(m)
}}

func TestOldEventsReadByNewCode(t *testing.T) {
	ctx := context.Background()
	store := memory.New(nil)
	// Events as older programs wrote them: version 1 without any version
	// in its metadata, version 2 with one.
	store.Append(ctx, "game-1", chronicle.NoStream,
		chronicle.EventData{Type: "Moved", Data: []byte(`{"col":"A"}`)},
		chronicle.EventData{Type: "Moved", Data: []byte(`{"column":"B"}`), Metadata: chronicle.Metadata{chronicle.MetadataSchemaVersion: "2"}})

	codec, err := chronicle.NewCodec[move](chronicle.JSON[movedV3]("Moved",
		chronicle.Versioned(3, rename(1, 2, "col", "column"), addPlayer)))
	if err != nil {
		t.Fatal(err)
	}
	d, _ := codec.Encode(movedV3{Column: "C", Player: "ann"})
	if d.Metadata[chronicle.MetadataSchemaVersion] != "3" {
		t.Fatalf("new events are stored with metadata %v, want schema version 3", d.Metadata)
	}
	store.Append(ctx, "game-1", chronicle.Exact(1), d)

	var got []movedV3
	for e, err := range store.ReadStream(ctx, "game-1", chronicle.ReadStreamOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		m, err := codec.Decode(e)
		if err != nil {
			t.Fatalf("decode revision %d: %v", e.Revision, err)
		}
		got = append(got, m.(movedV3))
	}
	want := []movedV3{{"A", "unknown"}, {"B", "unknown"}, {"C", "ann"}}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("event %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestNewerEventsAreRefused(t *testing.T) {
	codec := chronicle.MustCodec[move](chronicle.JSON[movedV3]("Moved", chronicle.Versioned(3, rename(1, 2, "col", "column"), addPlayer)))
	_, err := codec.Decode(chronicle.RecordedEvent{Type: "Moved", Data: []byte(`{}`), Metadata: chronicle.Metadata{chronicle.MetadataSchemaVersion: "4"}})
	if !errors.Is(err, chronicle.ErrNewerSchemaVersion) || !strings.Contains(err.Error(), "version 4, this code knows up to 3") {
		t.Fatalf("Decode of version 4 by version 3 code = %v, want ErrNewerSchemaVersion, saying which versions", err)
	}
	_, err = codec.Decode(chronicle.RecordedEvent{Type: "Moved", Data: []byte(`{}`), Metadata: chronicle.Metadata{chronicle.MetadataSchemaVersion: "two"}})
	if err == nil {
		t.Fatal("Decode with a malformed schema version succeeded")
	}
}

func TestUpcasterChainIsChecked(t *testing.T) {
	noop := func(b []byte) ([]byte, error) { return b, nil }
	for _, tt := range []struct {
		name string
		opt  chronicle.TypeOption
		want string
	}{
		{"Gap", chronicle.Versioned(3, chronicle.Upcaster{From: 1, To: 2, Fn: noop}), "no upcaster reads version 2"},
		{"MissingFirst", chronicle.Versioned(3, chronicle.Upcaster{From: 2, To: 3, Fn: noop}), "no upcaster reads version 1"},
		{"Backwards", chronicle.Versioned(3, chronicle.Upcaster{From: 2, To: 1, Fn: noop}, chronicle.Upcaster{From: 1, To: 3, Fn: noop}), "loop"},
		{"SelfLoop", chronicle.Versioned(2, chronicle.Upcaster{From: 1, To: 1, Fn: noop}), "loop"},
		{"Duplicate", chronicle.Versioned(2, chronicle.Upcaster{From: 1, To: 2, Fn: noop}, chronicle.Upcaster{From: 1, To: 2, Fn: noop}), "two upcasters read version 1"},
		{"BeyondCurrent", chronicle.Versioned(2, chronicle.Upcaster{From: 1, To: 5, Fn: noop}), "outside versions 1 to 2"},
		{"NoFunction", chronicle.Versioned(2, chronicle.Upcaster{From: 1, To: 2}), "no function"},
		{"ZeroVersion", chronicle.Versioned(0), "versions start at 1"},
		// From -2 once stood for a second upcaster from 2.
		{"NegativeFrom", chronicle.Versioned(3, chronicle.Upcaster{From: -2, To: 3, Fn: noop},
			chronicle.Upcaster{From: 1, To: 3, Fn: noop}, chronicle.Upcaster{From: 2, To: 3, Fn: noop}), "from version -2 to 3, outside versions 1 to 3"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := chronicle.NewCodec[move](chronicle.JSON[movedV3]("Moved", tt.opt))
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), `"Moved"`) {
				t.Fatalf("NewCodec = %v, want an error naming the type and saying %q", err, tt.want)
			}
		})
	}
	// Skipping versions is fine when the chain still reaches the current one.
	if _, err := chronicle.NewCodec[move](chronicle.JSON[movedV3]("Moved", chronicle.Versioned(3,
		chronicle.Upcaster{From: 1, To: 3, Fn: noop}, chronicle.Upcaster{From: 2, To: 3, Fn: noop}))); err != nil {
		t.Fatalf("a chain that skips a version: %v", err)
	}
}

func TestFailingUpcasterNamesTheEvent(t *testing.T) {
	bad := chronicle.Upcaster{From: 1, To: 2, Fn: func([]byte) ([]byte, error) { return nil, errors.New("cannot read it") }}
	codec := chronicle.MustCodec[move](chronicle.JSON[movedV3]("Moved", chronicle.Versioned(2, bad)))
	_, err := codec.Decode(chronicle.RecordedEvent{Stream: "game-7", Revision: 4, Type: "Moved", Data: []byte(`{}`)})
	if err == nil || !strings.Contains(err.Error(), "game-7") || !strings.Contains(err.Error(), "cannot read it") {
		t.Fatalf("Decode = %v, want an error naming the stream and the cause", err)
	}
}

func TestRepositoryKeepsSchemaVersionAndContextMetadata(t *testing.T) {
	ctx := chronicle.WithMetadata(context.Background(), chronicle.Metadata{}.WithCorrelationID("req-1"))
	store := memory.New(nil)
	codec := chronicle.MustCodec[move](chronicle.JSON[movedV3]("Moved", chronicle.Versioned(2, rename(1, 2, "col", "column"))))
	repo := chronicle.NewRepository(store, codec, chronicle.Decider[int, move, move]{
		Decide: func(_ int, c move) ([]move, error) { return []move{c}, nil },
		Evolve: func(n int, _ move) int { return n + 1 },
	}, nil)
	if _, err := repo.Handle(ctx, "g", movedV3{Column: "A"}); err != nil {
		t.Fatal(err)
	}
	for e := range store.ReadStream(ctx, "g", chronicle.ReadStreamOptions{}) {
		if e.Metadata.CorrelationID() != "req-1" || e.Metadata[chronicle.MetadataSchemaVersion] != "2" {
			t.Fatalf("metadata = %v, want the correlation ID and schema version 2", e.Metadata)
		}
	}
}

// TestContextCannotSetSchemaVersion: the schema version an event is
// stored with is the codec's alone. Metadata passed on from an event of
// another type, version 2 here, must not make a version-1 event read as
// version 2, which would make its stream fail to load.
func TestContextCannotSetSchemaVersion(t *testing.T) {
	ctx := chronicle.WithMetadata(context.Background(), chronicle.Metadata{
		chronicle.MetadataSchemaVersion: "2",
		chronicle.MetadataCorrelationID: "req-1",
	})
	store := memory.New(nil)
	repo := newRepo(store, nil)
	if _, err := repo.Handle(ctx, "account-1", open{Owner: "ann"}); err != nil {
		t.Fatal(err)
	}
	got := readStream(t, store, "account-1")
	if len(got) != 1 {
		t.Fatalf("read %d events, want 1", len(got))
	}
	if v, ok := got[0].Metadata[chronicle.MetadataSchemaVersion]; ok || got[0].Metadata.CorrelationID() != "req-1" {
		t.Errorf("metadata = %v, want the correlation ID and no schema version (had %q)", got[0].Metadata, v)
	}
	if _, _, err := repo.Load(context.Background(), "account-1"); err != nil {
		t.Errorf("Load = %v", err)
	}
}
