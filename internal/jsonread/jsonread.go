// Package jsonread decodes JSON as encoding/json does, faster.
//
// Every load of an aggregate decodes each of its stream's events, so
// decoding is a large part of what a command costs: a quarter of the CPU
// of a Connect Four move on the SQLite store, measured with pprof. The
// standard library's Unmarshal allocates its decoder's state at every
// call and checks the input in a pass of its own before decoding it.
//
// Go 1.27 rebuilt encoding/json on its v2 implementation, which decodes
// the same input into the same values in a single pass. Until that is
// the Go this module builds with, Unmarshal uses the same code from the
// module that hosts it, github.com/go-json-experiment/json/v1, and keeps
// encoding/json's results exactly:
//   - where it fails, Unmarshal decodes again with encoding/json, so that
//     callers get the standard library's error types and messages (and
//     the standard library has the last word on what is invalid);
//   - a type that holds encoding/json.Number, which the other package
//     does not know as a number, decodes with encoding/json;
//   - so does a struct with a field tag option that encoding/json does
//     not know (anything but omitempty, omitzero and string): the other
//     package reads v2's options (case:strict, embed, format, ...) even
//     in its v1 API, and encoding/json ignores them;
//   - and so does a struct with a tag name that encoding/json refuses
//     (one with a character other than a letter, a digit or its few
//     punctuation marks), for which it names the field by its Go name
//     where the other package takes the tag's;
//   - and so does a map whose key type encoding/json reads otherwise: one
//     of a kind it refuses (floats, bools, ...), and one with an
//     UnmarshalJSON method, which it calls with the key still quoted and
//     escaped;
//   - and so does a type with the other package's own method,
//     UnmarshalJSONFrom, which only that package calls.
//
// time.Time keeps the faster decoder, told to call time.Time's own
// UnmarshalJSON as encoding/json does: left to itself it unescapes the
// string first, and so accepts "...\u005a" that encoding/json refuses.
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
	if rv.Kind() != reflect.Pointer || rv.IsNil() || !Fast(rv.Type()) {
		return json.Unmarshal(data, v)
	}
	if err := jsonv2.Unmarshal(data, v, fastOptions); err != nil {
		// Start again from the zero value, so that what v holds and the
		// error are encoding/json's alone.
		rv.Elem().SetZero()
		return json.Unmarshal(data, v)
	}
	return nil
}

// v1NamePunct are the punctuation marks, and the space, that
// encoding/json accepts in a tag name besides letters and digits.
const v1NamePunct = "!#$%&()*+-./:;<=>?@[]^_{|}~ "

// fastOptions are the faster decoder's v1 options, with time.Time read
// by its UnmarshalJSON method as encoding/json reads it.
var fastOptions = jsonv2.JoinOptions(
	fast.DefaultOptionsV1(),
	jsonv2.WithUnmarshalers(jsonv2.UnmarshalFunc(func(b []byte, t *time.Time) error {
		return t.UnmarshalJSON(b)
	})),
)

// numberType is the one type that encoding/json treats as special by its
// identity rather than by its methods.
var numberType = reflect.TypeFor[json.Number]()

var (
	unmarshalerType     = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
	unmarshalerFromType = reflect.TypeFor[jsonv2.UnmarshalerFrom]()
)

// verdicts caches Fast's answer per type: the walk is paid once.
var verdicts sync.Map // reflect.Type -> bool

// Fast reports whether values of type t decode the same with the faster
// decoder: whether nothing in t's structure is read differently by the
// two (see the package doc).
func Fast(t reflect.Type) bool {
	if v, ok := verdicts.Load(t); ok {
		return v.(bool)
	}
	ok := !differs(t, map[reflect.Type]bool{})
	verdicts.Store(t, ok)
	return ok
}

// differs walks t's structure for what the two decoders read
// differently; seen stops it at recursive types.
func differs(t reflect.Type, seen map[reflect.Type]bool) bool {
	if t == numberType || reflect.PointerTo(t).Implements(unmarshalerFromType) {
		return true
	}
	if seen[t] {
		return false
	}
	seen[t] = true
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return differs(t.Elem(), seen)
	case reflect.Map:
		return !v1Key(t.Key()) || differs(t.Key(), seen) || differs(t.Elem(), seen)
	case reflect.Struct:
		for i := range t.NumField() {
			f := t.Field(i)
			if !v1Tag(f.Tag.Get("json")) || differs(f.Type, seen) {
				return true
			}
		}
	}
	return false
}

// v1Key reports whether both decoders read map keys of type k alike:
// those of the kinds encoding/json accepts, or that it reads with
// UnmarshalText.
func v1Key(k reflect.Type) bool {
	p := reflect.PointerTo(k)
	if p.Implements(unmarshalerType) {
		return false
	}
	if p.Implements(textUnmarshalerType) {
		return true
	}
	switch k.Kind() {
	case reflect.String,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return true
	}
	return false
}

// v1Tag reports whether a field's json tag has a name that encoding/json
// accepts and only options that it knows, so that both decoders read the
// tag alike.
func v1Tag(tag string) bool {
	name, opts, _ := strings.Cut(tag, ",")
	for _, r := range name {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && !strings.ContainsRune(v1NamePunct, r) {
			return false
		}
	}
	for opt := range strings.SplitSeq(opts, ",") {
		switch opt {
		case "", "omitempty", "omitzero", "string":
		default:
			return false
		}
	}
	return true
}
