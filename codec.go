package chronicle

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"

	"github.com/chronicle-es/chronicle/internal/jsonread"
)

// EventType describes how one Go type is stored as events of one type
// name. Make one with [JSON] and pass it to [NewCodec].
type EventType struct {
	name   string
	goType reflect.Type
	encode func(any) ([]byte, error)
	decode func([]byte) (any, error)

	version   int              // the current schema version; 1 when never changed
	upcasters map[int]Upcaster // by the version they read
	twice     []int            // versions that more than one upcaster reads, for NewCodec to report
}

// Name returns the event type name that the Go type is stored under.
func (t EventType) Name() string { return t.name }

// JSON stores values of type T as events named name, with their data
// encoded by encoding/json. T is usually a struct, never an interface
// type (see [NewCodec]); its JSON field tags define the stored shape.
// Options declare the shape's version and the upcasters that read older
// ones (see [Versioned]).
func JSON[T any](name string, opts ...TypeOption) EventType {
	// The decoder for the type decode hands to jsonread is chosen once.
	rt := reflect.TypeFor[T]()
	into := reflect.PointerTo(rt)
	if rt.Kind() == reflect.Pointer {
		into = rt
	}
	unmarshal := jsonread.For(into)
	t := EventType{
		name:    name,
		version: 1,
		goType:  reflect.TypeFor[T](),
		encode:  func(v any) ([]byte, error) { return json.Marshal(v) },
		decode: func(b []byte) (any, error) {
			var v T
			// A pointer type decodes into a new value, never to a nil
			// pointer, even from empty data or JSON null.
			target := any(&v)
			if rt.Kind() == reflect.Pointer {
				p := reflect.New(rt.Elem())
				v, target = p.Interface().(T), p.Interface()
			}
			if len(b) == 0 {
				return v, nil
			}
			err := unmarshal(b, target)
			return v, err
		},
	}
	for _, o := range opts {
		o(&t)
	}
	return t
}

// MetadataSchemaVersion is the metadata key that holds an event's schema
// version. Events of version 1 do not carry it, so that data written
// before a type had versions, or by other tools, reads as version 1.
const MetadataSchemaVersion = "$schemaVersion"

// A TypeOption configures an [EventType].
type TypeOption func(*EventType)

// Upcaster turns the data of one version of an event type into the data
// of a later one.
type Upcaster struct {
	From, To int
	Fn       func(data []byte) ([]byte, error)
}

// Versioned declares that the event type's current shape is version v,
// and how to read the older versions: each upcaster turns version From
// into version To. Events are stored with the current version; an older
// event is upcast, step by step, when it is read. [NewCodec] checks that
// every version from 1 to v-1 has a way to v.
func Versioned(v int, upcasters ...Upcaster) TypeOption {
	return func(t *EventType) {
		t.version = v
		t.upcasters = make(map[int]Upcaster, len(upcasters))
		t.twice = nil
		for _, u := range upcasters {
			if _, dup := t.upcasters[u.From]; dup {
				t.twice = append(t.twice, u.From)
				continue
			}
			t.upcasters[u.From] = u
		}
	}
}

// checkVersions reports a gap, a loop or a duplicate in t's upcasters.
func (t EventType) checkVersions() error {
	if t.version < 1 {
		return fmt.Errorf("event type %q: version %d: versions start at 1", t.name, t.version)
	}
	if len(t.twice) > 0 {
		return fmt.Errorf("event type %q: two upcasters read version %d", t.name, t.twice[0])
	}
	for _, u := range t.upcasters {
		switch {
		case u.Fn == nil:
			return fmt.Errorf("event type %q: the upcaster from version %d has no function", t.name, u.From)
		case u.To <= u.From:
			return fmt.Errorf("event type %q: the upcaster from version %d goes to version %d, not forwards: upcasters would loop", t.name, u.From, u.To)
		case u.To > t.version || u.From < 1:
			return fmt.Errorf("event type %q: an upcaster goes from version %d to %d, outside versions 1 to %d", t.name, u.From, u.To, t.version)
		}
	}
	for v := 1; v < t.version; v++ {
		for at := v; at != t.version; at = t.upcasters[at].To {
			if _, ok := t.upcasters[at]; !ok {
				return fmt.Errorf("event type %q: no upcaster reads version %d, so events of version %d cannot reach the current version %d",
					t.name, at, v, t.version)
			}
		}
	}
	return nil
}

// upcast brings data of version v to t's current version.
func (t EventType) upcast(data []byte, v int) ([]byte, error) {
	if v > t.version {
		return nil, fmt.Errorf("%w: version %d, this code knows up to %d: upgrade the program that reads it", ErrNewerSchemaVersion, v, t.version)
	}
	for v < t.version {
		u := t.upcasters[v]
		var err error
		if data, err = u.Fn(data); err != nil {
			return nil, fmt.Errorf("upcast from version %d to %d: %w", u.From, u.To, err)
		}
		v = u.To
	}
	return data, nil
}

// Codec turns values of the event type E, usually an interface that an
// aggregate's events implement, into [EventData] and [RecordedEvent]s back
// into values. It knows only the types it was built with: there is no
// global registry, so two applications in one process never clash.
//
// A Codec is immutable and safe for concurrent use.
type Codec[E any] struct {
	byName map[string]EventType
	byType map[reflect.Type]EventType
}

// NewCodec returns a codec for the given event types. It checks that
// every Go type implements E (or is E) and is not an interface type, and
// that no name or Go type is given twice. An interface type is refused
// since [Codec.Encode] looks an event up by its dynamic type, which is
// never an interface: register the concrete types that implement it, or
// map[string]any for data of any shape.
func NewCodec[E any](types ...EventType) (*Codec[E], error) {
	target := reflect.TypeFor[E]()
	c := &Codec[E]{
		byName: make(map[string]EventType, len(types)),
		byType: make(map[reflect.Type]EventType, len(types)),
	}
	for _, t := range types {
		if t.goType == nil {
			return nil, fmt.Errorf("new codec: event type %q has no Go type: make it with chronicle.JSON", t.name)
		}
		if err := validateName(t.name); err != nil {
			return nil, fmt.Errorf("new codec: event type for %v: %w", t.goType, err)
		}
		if err := t.checkVersions(); err != nil {
			return nil, fmt.Errorf("new codec: %w", err)
		}
		if t.goType.Kind() == reflect.Interface {
			return nil, fmt.Errorf("new codec: %v (event type %q) is an interface type, which Encode never finds: "+
				"it looks events up by their concrete type; register the concrete types that implement it instead "+
				"(map[string]any for data of any shape)", t.goType, t.name)
		}
		if !t.goType.AssignableTo(target) {
			return nil, fmt.Errorf("new codec: %v (event type %q) does not implement %v", t.goType, t.name, target)
		}
		if prev, dup := c.byName[t.name]; dup {
			if prev.goType == t.goType {
				return nil, fmt.Errorf("new codec: event type %q of %v is given twice: give each event type once", t.name, t.goType)
			}
			return nil, fmt.Errorf("new codec: event type %q is given for both %v and %v", t.name, prev.goType, t.goType)
		}
		if prev, dup := c.byType[t.goType]; dup {
			return nil, fmt.Errorf("new codec: %v is given as both %q and %q", t.goType, prev.name, t.name)
		}
		c.byName[t.name] = t
		c.byType[t.goType] = t
	}
	return c, nil
}

// MustCodec is like [NewCodec] but panics on error. It is for codecs built
// from constants at package level, where an error is a programming
// mistake.
func MustCodec[E any](types ...EventType) *Codec[E] {
	c, err := NewCodec[E](types...)
	if err != nil {
		panic(err)
	}
	return c
}

// Encode returns the [EventData] for e, with a zero ID (the store assigns
// one), and metadata only to record a schema version above 1.
func (c *Codec[E]) Encode(e E) (EventData, error) {
	t, ok := c.byType[reflect.TypeOf(any(e))]
	if !ok {
		return EventData{}, fmt.Errorf("encode %T: %w: add it to the codec", any(e), ErrUnknownEventType)
	}
	data, err := t.encode(e)
	if err != nil {
		return EventData{}, fmt.Errorf("encode %s: %w", t.name, err)
	}
	d := EventData{Type: t.name, Data: data}
	if t.version > 1 {
		d.Metadata = Metadata{MetadataSchemaVersion: strconv.Itoa(t.version)}
	}
	return d, nil
}

// Decode returns the value stored in r. An event type that the codec does
// not know gives an error matching [ErrUnknownEventType], and an event
// of a schema version above its type's one matching
// [ErrNewerSchemaVersion].
func (c *Codec[E]) Decode(r RecordedEvent) (E, error) {
	var zero E
	t, ok := c.byName[r.Type]
	if !ok {
		return zero, fmt.Errorf("decode %s@%d in %q: %w %q", r.Type, r.Revision, r.Stream, ErrUnknownEventType, r.Type)
	}
	data := r.Data
	if version, err := schemaVersion(r.Metadata); err != nil || version != t.version {
		if err == nil {
			data, err = t.upcast(data, version)
		}
		if err != nil {
			return zero, fmt.Errorf("decode %s@%d in %q: %w", r.Type, r.Revision, r.Stream, err)
		}
	}
	v, err := t.decode(data)
	if err != nil {
		return zero, fmt.Errorf("decode %s@%d in %q: %w", r.Type, r.Revision, r.Stream, err)
	}
	// NewCodec made sure v's type is a concrete type assignable to E.
	// Should a nil ever come back, the two-result assertion gives the
	// zero E where the one-result one would panic.
	e, _ := v.(E)
	return e, nil
}

// Knows reports whether the codec can decode events of type name.
func (c *Codec[E]) Knows(name string) bool {
	_, ok := c.byName[name]
	return ok
}

// TypeNames returns the event type names the codec knows, sorted: for
// filters that select an aggregate's events.
func (c *Codec[E]) TypeNames() []string {
	return slices.Sorted(maps.Keys(c.byName))
}

// schemaVersion reads an event's schema version from its metadata.
func schemaVersion(md Metadata) (int, error) {
	s, ok := md[MetadataSchemaVersion]
	if !ok {
		return 1, nil
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < 1 {
		return 0, fmt.Errorf("schema version %q in metadata is not a positive integer", s)
	}
	return v, nil
}
