package jsonread

import (
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// A flat struct is one whose fields, those that encoding/json fills, are
// all booleans, numbers and strings, without the string option: most
// events are. Its JSON, as encoding/json writes it, is one object of
// names and literals, which flatStruct.decode reads in a single pass
// with no decoder state to set up, several times faster than either
// decoder (BenchmarkUnmarshal). It reads only what is plainly valid and
// means one thing: keys spelt exactly as a field's name, strings without
// escapes, numbers that fit their field. Anything else, from a key in
// another case to a syntax error, it leaves to the decoders above it,
// which read the input again from the zero value, so that the results
// are still encoding/json's (TestFlatMatchesEncodingJSON). That includes
// strings holding <, > or &, which encoding/json.Marshal writes escaped
// (\u003c): they are read at the other decoders' speed.
type flatStruct struct {
	fields []flatField
}

// flatField is a field of a flat struct and the key that fills it.
type flatField struct {
	name  string
	index int
	kind  reflect.Kind
	bits  int // of a number kind
}

// newFlat returns the flat decoder of struct type t, or nil if t is not
// flat. It looks only at the kinds and tag options of t's fields: the
// caller must have found t plain data (walk.plain), which rules out what
// would make encoding/json read it otherwise: methods that decode the
// struct or a field, embedded fields, tag names encoding/json refuses,
// and field names that match one key when case is ignored.
func newFlat(t reflect.Type) *flatStruct {
	if t.Kind() != reflect.Struct {
		return nil
	}
	d := &flatStruct{}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if !f.IsExported() || tag == "-" {
			continue
		}
		// walk.plain has left no options but omitempty, omitzero and
		// string; only string changes what decoding reads.
		name, opts, _ := strings.Cut(tag, ",")
		if slices.Contains(strings.Split(opts, ","), "string") {
			return nil
		}
		if !basic(f.Type.Kind()) {
			return nil
		}
		if name == "" {
			name = f.Name
		}
		ff := flatField{name: name, index: i, kind: f.Type.Kind()}
		if ff.kind != reflect.String && ff.kind != reflect.Bool {
			ff.bits = f.Type.Bits()
		}
		d.fields = append(d.fields, ff)
	}
	return d
}

// decode fills v, an addressable zero struct of d's type, from data, and
// reports whether it could; if not, v may hold part of the data.
func (d *flatStruct) decode(data []byte, v reflect.Value) bool {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return false
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return skipSpace(data, i+1) == len(data)
	}
	for {
		// A key, spelt as a field's name.
		key, next, ok := plainString(data, i)
		if !ok {
			return false
		}
		f := d.field(key)
		if f == nil {
			return false
		}
		i = skipSpace(data, next)
		if i >= len(data) || data[i] != ':' {
			return false
		}
		if i, ok = f.set(v.Field(f.index), data, skipSpace(data, i+1)); !ok {
			return false
		}
		i = skipSpace(data, i)
		if i >= len(data) {
			return false
		}
		switch data[i] {
		case ',':
			i = skipSpace(data, i+1)
		case '}':
			return skipSpace(data, i+1) == len(data)
		default:
			return false
		}
	}
}

// field returns the field whose name is key, or nil.
func (d *flatStruct) field(key []byte) *flatField {
	for i := range d.fields {
		if d.fields[i].name == string(key) {
			return &d.fields[i]
		}
	}
	return nil
}

// set reads the value at data[i:] into fv and returns where it ends, and
// whether it could.
func (f *flatField) set(fv reflect.Value, data []byte, i int) (int, bool) {
	switch f.kind {
	case reflect.String:
		s, next, ok := plainString(data, i)
		if ok {
			fv.SetString(string(s))
		}
		return next, ok
	case reflect.Bool:
		switch {
		case hasLiteral(data, i, "true"):
			fv.SetBool(true)
			return i + 4, true
		case hasLiteral(data, i, "false"):
			// The field is not always still false: with a key given
			// twice, the last value counts, as with encoding/json.
			fv.SetBool(false)
			return i + 5, true
		}
		return i, false
	}
	end := scanNumber(data, i)
	if end == i {
		return i, false
	}
	lit := string(data[i:end]) // does not escape: no allocation
	switch f.kind {
	case reflect.Float32, reflect.Float64:
		n, err := strconv.ParseFloat(lit, f.bits)
		if err != nil {
			return i, false
		}
		fv.SetFloat(n)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		// A fraction or an exponent fails, as with encoding/json.
		n, err := strconv.ParseInt(lit, 10, f.bits)
		if err != nil {
			return i, false
		}
		fv.SetInt(n)
	default: // the unsigned kinds, the last that basic allows
		n, err := strconv.ParseUint(lit, 10, f.bits)
		if err != nil {
			return i, false
		}
		fv.SetUint(n)
	}
	return end, true
}

// skipSpace returns the index of the first byte at or after i that is
// not JSON whitespace.
func skipSpace(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// hasLiteral reports whether lit is at data[i:].
func hasLiteral(data []byte, i int, lit string) bool {
	return len(data)-i >= len(lit) && string(data[i:i+len(lit)]) == lit
}

// plainString returns the contents of the JSON string at data[i:] and
// the index after it, if it has no escapes, no control characters and is
// valid UTF-8: then its contents are its value, as encoding/json reads
// it (which would unescape, refuse, or replace bytes otherwise).
func plainString(data []byte, i int) (s []byte, next int, ok bool) {
	if i >= len(data) || data[i] != '"' {
		return nil, i, false
	}
	ascii := true
	for j := i + 1; j < len(data); j++ {
		switch c := data[j]; {
		case c == '"':
			s = data[i+1 : j]
			return s, j + 1, ascii || utf8.Valid(s)
		case c == '\\' || c < 0x20:
			return nil, i, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return nil, i, false
}

// scanNumber returns the end of the JSON number at data[i:], or i if
// there is none.
func scanNumber(data []byte, i int) int {
	j := i
	if j < len(data) && data[j] == '-' {
		j++
	}
	switch {
	case j < len(data) && data[j] == '0':
		j++
	case j < len(data) && data[j] >= '1' && data[j] <= '9':
		j = digits(data, j)
	default:
		return i
	}
	if j < len(data) && data[j] == '.' {
		k := digits(data, j+1)
		if k == j+1 {
			return i
		}
		j = k
	}
	if j < len(data) && (data[j] == 'e' || data[j] == 'E') {
		j++
		if j < len(data) && (data[j] == '+' || data[j] == '-') {
			j++
		}
		k := digits(data, j)
		if k == j {
			return i
		}
		j = k
	}
	return j
}

// digits returns the index after the run of decimal digits at data[i:].
func digits(data []byte, i int) int {
	for i < len(data) && data[i] >= '0' && data[i] <= '9' {
		i++
	}
	return i
}
