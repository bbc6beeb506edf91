package chronicle_test

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/chronicle-es/chronicle"
	"github.com/google/uuid"
)

// notAnEvent does not implement accountEvent.
type notAnEvent struct{}

func TestNewCodecRefuses(t *testing.T) {
	for _, tc := range []struct {
		name  string
		types []chronicle.EventType
		want  string
	}{
		{"DuplicateName", []chronicle.EventType{chronicle.JSON[opened]("Opened"), chronicle.JSON[deposited]("Opened")}, `"Opened" is given for both`},
		// The same event type given twice, as when two lists of types
		// share one: the message said "for both T and T".
		{"SameTwice", []chronicle.EventType{chronicle.JSON[opened]("Opened"), chronicle.JSON[opened]("Opened")}, `event type "Opened" of chronicle_test.opened is given twice`},
		{"DuplicateType", []chronicle.EventType{chronicle.JSON[opened]("Opened"), chronicle.JSON[opened]("AccountOpened")}, `is given as both "Opened" and "AccountOpened"`},
		{"NotImplementingE", []chronicle.EventType{chronicle.JSON[notAnEvent]("NotAnEvent")}, "does not implement"},
		{"PointerNotImplementingE", []chronicle.EventType{chronicle.JSON[*notAnEvent]("NotAnEvent")}, "does not implement"},
		{"EmptyName", []chronicle.EventType{chronicle.JSON[opened]("")}, "empty"},
		{"LongName", []chronicle.EventType{chronicle.JSON[opened](strings.Repeat("n", 256))}, "over the limit"},
		{"ControlCharName", []chronicle.EventType{chronicle.JSON[opened]("Open\ned")}, "control character"},
		{"ZeroEventType", []chronicle.EventType{{}}, ""},
		// Encode looks events up by their dynamic type, never an
		// interface: such an event type was accepted, and never found.
		{"InterfaceType", []chronicle.EventType{chronicle.JSON[accountEvent]("Account")}, "chronicle_test.accountEvent (event type \"Account\") is an interface type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := chronicle.NewCodec[accountEvent](tc.types...)
			if err == nil || c != nil {
				t.Fatalf("NewCodec = %v, %v; want an error", c, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("NewCodec: %v, want a message containing %q", err, tc.want)
			}
			defer func() {
				if recover() == nil {
					t.Error("MustCodec did not panic")
				}
			}()
			chronicle.MustCodec[accountEvent](tc.types...)
		})
	}
}

func TestNewCodecAccepts(t *testing.T) {
	// E may be the one event type itself, or any.
	if _, err := chronicle.NewCodec[opened](chronicle.JSON[opened]("Opened")); err != nil {
		t.Errorf("codec of a concrete type: %v", err)
	}
	if _, err := chronicle.NewCodec[any](chronicle.JSON[opened]("Opened"), chronicle.JSON[notAnEvent]("Other")); err != nil {
		t.Errorf("codec of any: %v", err)
	}
	if _, err := chronicle.NewCodec[accountEvent](); err != nil {
		t.Errorf("empty codec: %v", err)
	}
	if got := chronicle.JSON[opened]("Opened").Name(); got != "Opened" {
		t.Errorf("Name() = %q", got)
	}
}

func TestCodecRoundTrip(t *testing.T) {
	c := accountCodec()
	for _, e := range []accountEvent{opened{Owner: "ann"}, deposited{Amount: 10}, withdrawn{Amount: 3}, deposited{}} {
		d, err := c.Encode(e)
		if err != nil {
			t.Fatalf("Encode(%#v): %v", e, err)
		}
		if d.ID != uuid.Nil || d.Metadata != nil {
			t.Errorf("Encode(%#v) set ID %s or metadata %v", e, d.ID, d.Metadata)
		}
		back, err := c.Decode(chronicle.RecordedEvent{Stream: "account-1", Type: d.Type, Data: d.Data})
		if err != nil {
			t.Fatalf("Decode(%s %s): %v", d.Type, d.Data, err)
		}
		if !reflect.DeepEqual(back, e) {
			t.Errorf("round trip of %#v gave %#v", e, back)
		}
	}

	d, _ := c.Encode(opened{Owner: "ann"})
	if d.Type != "Opened" || string(d.Data) != `{"owner":"ann"}` {
		t.Errorf("Encode(opened) = %s %s, want Opened {\"owner\":\"ann\"}", d.Type, d.Data)
	}

	// Empty data decodes as the zero value: events that carry nothing.
	back, err := c.Decode(chronicle.RecordedEvent{Type: "Deposited"})
	if err != nil || back != (deposited{}) {
		t.Errorf("Decode of empty data = %#v, %v", back, err)
	}
}

func TestCodecPointerTypes(t *testing.T) {
	c, err := chronicle.NewCodec[any](chronicle.JSON[*opened]("Opened"))
	if err != nil {
		t.Fatal(err)
	}
	d, err := c.Encode(&opened{Owner: "bo"})
	if err != nil {
		t.Fatal(err)
	}
	back, err := c.Decode(chronicle.RecordedEvent{Type: d.Type, Data: d.Data})
	if err != nil || !reflect.DeepEqual(back, &opened{Owner: "bo"}) {
		t.Errorf("round trip gave %#v, %v", back, err)
	}
	if _, err := c.Encode(opened{Owner: "bo"}); !errors.Is(err, chronicle.ErrUnknownEventType) {
		t.Errorf("Encode of the value when the pointer is registered: %v", err)
	}
	// Data written by another tool may be empty or null: a pointer type
	// still decodes to a value, never to a nil pointer.
	for _, data := range []string{"", "null", "{}"} {
		back, err := c.Decode(chronicle.RecordedEvent{Type: "Opened", Data: []byte(data)})
		if p, ok := back.(*opened); err != nil || !ok || p == nil {
			t.Errorf("Decode of %q = %#v, %v; want a non-nil *opened", data, back, err)
		}
	}
}

// TestNewCodecRefusesAnyAsEventType: a codec of any refuses any as an
// event's Go type, as it refuses every interface type, and names the
// concrete type that reads data of any shape, which Encode finds too.
func TestNewCodecRefusesAnyAsEventType(t *testing.T) {
	if _, err := chronicle.NewCodec[any](chronicle.JSON[any]("Legacy")); err == nil || !strings.Contains(err.Error(), "map[string]any") {
		t.Fatalf("NewCodec of JSON[any]: %v, want an error that names map[string]any", err)
	}
	c := chronicle.MustCodec[any](chronicle.JSON[map[string]any]("Legacy"))
	back, err := c.Decode(chronicle.RecordedEvent{Type: "Legacy", Data: []byte(`{"a":"b"}`)})
	if err != nil || !reflect.DeepEqual(back, map[string]any{"a": "b"}) {
		t.Errorf("Decode of an object = %#v, %v", back, err)
	}
	if d, err := c.Encode(back); err != nil || d.Type != "Legacy" {
		t.Errorf("Encode of what Decode gave = %+v, %v", d, err)
	}
}

func TestCodecEncodeUnknownType(t *testing.T) {
	c := chronicle.MustCodec[accountEvent](chronicle.JSON[opened]("Opened"))
	for _, e := range []accountEvent{deposited{Amount: 1}, nil} {
		_, err := c.Encode(e)
		if !errors.Is(err, chronicle.ErrUnknownEventType) {
			t.Errorf("Encode(%#v) = %v, want ErrUnknownEventType", e, err)
		}
	}
	if _, err := c.Encode(deposited{}); err == nil || !strings.Contains(err.Error(), "deposited") {
		t.Errorf("Encode error %v does not name the Go type", err)
	}
}

// unencodable fails to encode.
type unencodable struct{ C chan int }

func TestCodecEncodeFailure(t *testing.T) {
	c := chronicle.MustCodec[any](chronicle.JSON[unencodable]("Unencodable"))
	_, err := c.Encode(unencodable{C: make(chan int)})
	if err == nil || errors.Is(err, chronicle.ErrUnknownEventType) || !strings.Contains(err.Error(), "Unencodable") {
		t.Errorf("Encode = %v, want a JSON error naming the type", err)
	}
}

func TestCodecDecodeErrors(t *testing.T) {
	c := accountCodec()
	_, err := c.Decode(chronicle.RecordedEvent{Stream: "account-1", Revision: 4, Type: "Closed", Data: []byte(`{}`)})
	if !errors.Is(err, chronicle.ErrUnknownEventType) {
		t.Fatalf("Decode of an unknown type = %v, want ErrUnknownEventType", err)
	}
	for _, want := range []string{"Closed", "account-1", "4"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}

	_, err = c.Decode(chronicle.RecordedEvent{Stream: "account-1", Type: "Deposited", Data: []byte(`{"amount":"ten"}`)})
	if err == nil || errors.Is(err, chronicle.ErrUnknownEventType) || !strings.Contains(err.Error(), "Deposited") {
		t.Errorf("Decode of bad data = %v, want a JSON error naming the type", err)
	}
}

func TestCodecKnowsAndTypeNames(t *testing.T) {
	c := accountCodec()
	if !c.Knows("Deposited") || c.Knows("deposited") || c.Knows("") {
		t.Error("Knows answers wrongly")
	}
	if got, want := c.TypeNames(), []string{"Deposited", "Opened", "Withdrawn"}; !slices.Equal(got, want) {
		t.Errorf("TypeNames() = %q, want %q", got, want)
	}
	// The result is the caller's to change.
	names := c.TypeNames()
	names[0] = "X"
	if c.TypeNames()[0] != "Deposited" {
		t.Error("TypeNames shares its slice")
	}
}
