// Package jsonread decodes JSON as encoding/json does, faster.
//
// Every load of an aggregate decodes each of its stream's events, so
// decoding is a large part of what a command costs: a quarter of the CPU
// of a Connect Four move on the SQLite store, measured with pprof. The
// standard library's Unmarshal allocates its decoder's state at every
// call and checks the input in a pass of its own before decoding it.
//
// Go 1.27 rebuilt encoding/json on its v2 implementation, which decodes
// in a single pass. Until that is the Go this module builds with,
// Unmarshal uses the same code from the module that hosts it,
// github.com/go-json-experiment/json/v1, where both are known to read
// alike, and encoding/json everywhere else, so that its results are
// encoding/json's:
//   - the faster decoder takes only plain data: booleans, numbers and
//     strings; pointers, slices, arrays, string-keyed maps and structs of
//     them; any; time.Time (through its own UnmarshalJSON, as
//     encoding/json calls it) and json.RawMessage. A struct qualifies
//     when it has no embedded fields, its tags are ones encoding/json
//     reads (a valid name; no options but omitempty, omitzero, and string
//     on a basic kind), and no two of its fields' names match when case
//     is ignored. Each of these rules stands where a difference between
//     the two was found: v2's tag options, tag names encoding/json
//     refuses, which of two fields takes a key, map keys of other kinds,
//     the v2 method UnmarshalJSONFrom, escapes in a time;
//   - any other type (one with its own UnmarshalJSON or UnmarshalText,
//     encoding/json.Number, ...) decodes with encoding/json;
//   - input that the faster decoder refuses is decoded again, from the
//     zero value, by encoding/json, so that callers get the standard
//     library's error types and messages, and it has the last word on
//     what is invalid.
//
// Before either, a struct of booleans, numbers and strings only (a flat
// struct, as most events are) is read by a decoder of this package's own
// in one pass, as long as its input is plainly written: keys spelt as
// the fields' names, strings without escapes (encoding/json writes <, >
// and & escaped, so strings holding them take the slower way), numbers
// that fit. Anything else, it leaves to the two above (see flatStruct).
//
// Encoding stays with encoding/json, so the bytes that stores keep do not
// change.
package jsonread

import (
	"encoding"
	"encoding/json"
	"reflect"
	"strings"
	"sync"
	"time"
	"unicode"

	jsonv2 "github.com/go-json-experiment/json"
	fast "github.com/go-json-experiment/json/v1"
)

// Unmarshal decodes data into v, which must be a non-nil pointer to a
// zero value, as encoding/json.Unmarshal would. On error v may hold part
// of the data, as with encoding/json.
func Unmarshal(data []byte, v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return json.Unmarshal(data, v)
	}
	return unmarshal(decoder(rv.Type()), data, v)
}

// For returns Unmarshal for values of type t, a pointer type, with the
// choice of decoder made once: for callers that decode into one type
// again and again, as an event type's codec does. Its v must be a
// non-nil pointer of type t to a zero value.
func For(t reflect.Type) func(data []byte, v any) error {
	if t.Kind() != reflect.Pointer {
		return Unmarshal
	}
	d := decoder(t)
	return func(data []byte, v any) error {
		if reflect.TypeOf(v) != t || reflect.ValueOf(v).IsNil() {
			// Not what For promises to take: as Unmarshal would take it.
			return Unmarshal(data, v)
		}
		return unmarshal(d, data, v)
	}
}

// unmarshal decodes data into v, a non-nil pointer of the type whose
// verdict d is, with the decoders d names.
func unmarshal(d verdict, data []byte, v any) error {
	if d.flat != nil {
		s := reflect.ValueOf(v).Elem()
		if d.flat.decode(data, s) {
			return nil
		}
		s.SetZero()
	}
	opts := v1Options
	switch d.how {
	case standard:
		return json.Unmarshal(data, v)
	case fasterWithTime:
		opts = v1TimeOptions
	}
	if err := jsonv2.Unmarshal(data, v, opts); err != nil {
		// Start again from the zero value, so that what v holds and the
		// error are encoding/json's alone.
		reflect.ValueOf(v).Elem().SetZero()
		return json.Unmarshal(data, v)
	}
	return nil
}

// v1NamePunct are the punctuation marks, and the space, that
// encoding/json accepts in a tag name besides letters and digits.
const v1NamePunct = "!#$%&()*+-./:;<=>?@[]^_{|}~ "

// v1Options are the faster decoder's options for encoding/json's
// behaviour.
var v1Options = fast.DefaultOptionsV1()

// v1TimeOptions are v1Options with time.Time read by its UnmarshalJSON
// method, as encoding/json reads it. A decoder given an unmarshaler
// looks for it at every value: a Connect Four event took a fifth longer
// to decode with these than with v1Options, so only types that hold a
// time.Time take them.
var v1TimeOptions = jsonv2.JoinOptions(
	v1Options,
	jsonv2.WithUnmarshalers(jsonv2.UnmarshalFunc(func(b []byte, t *time.Time) error {
		return t.UnmarshalJSON(b)
	})),
)

var (
	numberType          = reflect.TypeFor[json.Number]()
	timeType            = reflect.TypeFor[time.Time]()
	rawMessageType      = reflect.TypeFor[json.RawMessage]()
	unmarshalerType     = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
	unmarshalerFromType = reflect.TypeFor[jsonv2.UnmarshalerFrom]()
)

// verdict is the decoders that Unmarshal uses for a type: flat, for a
// pointer to a flat struct, then the one how names.
type verdict struct {
	how  how
	flat *flatStruct
}

// how is the decoder that Unmarshal uses for a type after flat, if any.
type how uint8

const (
	standard       how = iota // encoding/json
	faster                    // the faster decoder, with v1Options
	fasterWithTime            // the faster decoder, with v1TimeOptions
)

// verdicts caches decoder's answer per type: the walk is paid once.
var verdicts sync.Map // reflect.Type -> verdict

// Fast reports whether Unmarshal decodes into values of type t with the
// faster decoder: whether t is plain data (see the package doc).
func Fast(t reflect.Type) bool { return decoder(t).how != standard }

// decoder returns the decoders for values of type t.
func decoder(t reflect.Type) verdict {
	if v, ok := verdicts.Load(t); ok {
		return v.(verdict)
	}
	w := walk{seen: map[reflect.Type]bool{}}
	var d verdict
	switch {
	case !w.plain(t):
	case w.times:
		d.how = fasterWithTime
	default:
		d.how = faster
	}
	if d.how != standard && t.Kind() == reflect.Pointer {
		d.flat = newFlat(t.Elem())
	}
	verdicts.Store(t, d)
	return d
}

// walk is a walk through a type's structure.
type walk struct {
	seen  map[reflect.Type]bool // stops the walk at recursive types
	times bool                  // time.Time is among the types met
}

// plain reports whether both decoders read values of type t alike. A
// type met before counts as plain: the rest of the walk decides.
func (w *walk) plain(t reflect.Type) bool {
	switch t {
	case timeType:
		w.times = true
		return true
	case rawMessageType:
		return true
	}
	// encoding/json knows Number by its identity, the other by its own
	// Number type.
	if t == numberType || decodesItself(t) {
		return false
	}
	if w.seen[t] {
		return true
	}
	w.seen[t] = true
	if basic(t.Kind()) {
		return true
	}
	switch t.Kind() {
	case reflect.Interface:
		return t.NumMethod() == 0
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return w.plain(t.Elem())
	case reflect.Map:
		return t.Key().Kind() == reflect.String && !decodesItself(t.Key()) && w.plain(t.Elem())
	case reflect.Struct:
		return w.plainStruct(t)
	}
	return false
}

// decodesItself reports whether t, or a pointer to it, has a method that
// one of the decoders would call instead of reading the value itself.
func decodesItself(t reflect.Type) bool {
	p := reflect.PointerTo(t)
	return p.Implements(unmarshalerType) || p.Implements(textUnmarshalerType) || p.Implements(unmarshalerFromType)
}

// plainStruct reports whether both decoders map a struct's fields to the
// same keys: no embedded fields, tags that encoding/json reads, and no
// two names that match the same key, case ignored.
func (w *walk) plainStruct(t reflect.Type) bool {
	names := make(map[string]bool, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous {
			return false
		}
		tag := f.Tag.Get("json")
		if !f.IsExported() || tag == "-" {
			continue
		}
		name, ok := v1Tag(tag, f.Type)
		if !ok || !w.plain(f.Type) {
			return false
		}
		if name == "" {
			name = f.Name
		}
		key := foldKey(name)
		if names[key] {
			return false
		}
		names[key] = true
	}
	return true
}

// v1Tag returns the name in a field's json tag, and whether encoding/json
// reads the tag as the faster decoder does: a name of the characters it
// accepts, and no options but omitempty, omitzero, and string on a field
// of a basic kind.
func v1Tag(tag string, ft reflect.Type) (string, bool) {
	name, opts, _ := strings.Cut(tag, ",")
	for _, r := range name {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && !strings.ContainsRune(v1NamePunct, r) {
			return "", false
		}
	}
	for opt := range strings.SplitSeq(opts, ",") {
		switch opt {
		case "", "omitempty", "omitzero":
		case "string":
			if !basic(ft.Kind()) {
				return "", false
			}
		default:
			return "", false
		}
	}
	return name, true
}

// foldKey maps each letter of name to the smallest of the letters that
// simple case folding makes equal to it, so that two names match when
// case is ignored (as encoding/json matches keys, bytes.EqualFold) exactly
// when their keys are equal.
func foldKey(name string) string {
	return strings.Map(func(r rune) rune {
		least := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			least = min(least, f)
		}
		return least
	}, name)
}

// basic reports whether k is a boolean, number or string kind: the
// kinds both decoders read alike, and those the string option applies to.
func basic(k reflect.Kind) bool {
	switch k {
	case reflect.Bool, reflect.String,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return true
	}
	return false
}
