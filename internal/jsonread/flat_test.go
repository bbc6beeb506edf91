package jsonread

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"testing"
)

// flatAll has a field of every kind a flat struct may hold.
type flatAll struct {
	S     string  `json:"s"`
	B     bool    `json:"b"`
	I     int     `json:"i"`
	I8    int8    `json:"i8"`
	I16   int16   // named by its Go name
	I32   int32   `json:"i32,omitempty"`
	I64   int64   `json:"i64,omitzero"`
	U     uint    `json:"u"`
	U8    uint8   `json:"u8"`
	U16   uint16  `json:",omitempty"`
	U32   uint32  `json:"u32"`
	U64   uint64  `json:"u64"`
	F32   float32 `json:"f32"`
	F64   float64 `json:"f64"`
	Named label   `json:"named"`
	Skip  string  `json:"-"`
	//lint:ignore SA5008 a field named "-", which encoding/json allows, is what this tests
	Dash   string `json:"-,"`
	Accent string `json:"ünï"`
	//lint:ignore U1000 an unexported field, which encoding/json skips, is what this tests
	hidden int
}

type label string

// flatTypes are flat structs, and flatInputs JSON for them: valid,
// invalid, and valid JSON that the flat decoder must leave to others.
var flatTypes = []reflect.Type{reflect.TypeFor[flatAll](), reflect.TypeFor[struct {
	Player string `json:"player"`
	Column string `json:"column"`
}]()}

var flatInputs = []string{
	`{"s":"text","b":true,"i":-12,"i8":-128,"I16":32767,"i32":0,"i64":-9223372036854775808,"u":1,"u8":255,"U16":65535,"u32":4294967295,"u64":18446744073709551615,"f32":1.5,"f64":-2.5e-3,"named":"n","-":"dash","ünï":"é"}`,
	`{}`, ` { } `, "\t{\n\"s\" :\r\"x\" , \"b\":false}\n", `{"player":"p","column":"D"}`,
	`{"s":"a","s":"b"}`, `{"b":true,"b":false}`, `{"i":1,"i":2}`,
	`{"S":"case"}`, `{"i16":1}`, `{"Named":"n"}`, `{"Skip":"x"}`, `{"hidden":1}`, `{"unknown":1}`, `{"unknown":{"a":[1]}}`,
	`{"s":"esc\"aped"}`, `{"s":"\u00e9"}`, `{"s":"tab	in"}`, `{"s":"bad ` + "\xff" + `"}`, `{"s":"ok é ☃ 😀"}`, `{"s":"` + "\x7f" + `"}`,
	`{"s\u0000":1}`, `{"\u0073":"escaped key"}`, `{"s":1}`, `{"s":null}`, `{"s":true}`, `{"s":["x"]}`,
	`{"b":null}`, `{"b":1}`, `{"b":"true"}`, `{"b":tru}`, `{"b":truex}`, `{"b":false,}`,
	`{"i":-0}`, `{"i":0}`, `{"i":01}`, `{"i":-}`, `{"i":1.0}`, `{"i":1e2}`, `{"i":1E+2}`, `{"i":"1"}`, `{"i":null}`,
	`{"i8":128}`, `{"i8":-129}`, `{"i":9223372036854775808}`, `{"i":-9223372036854775809}`,
	`{"u":-1}`, `{"u":-0}`, `{"u8":256}`, `{"u64":18446744073709551616}`, `{"u":1.5}`,
	`{"f32":3.4028235e38}`, `{"f32":1e39}`, `{"f64":1e309}`, `{"f64":1e-400}`, `{"f64":-0}`, `{"f64":-0.0e+0}`,
	`{"f64":.5}`, `{"f64":5.}`, `{"f64":1e}`, `{"f64":1e+}`, `{"f64":+1}`, `{"f64":0x10}`, `{"f64":NaN}`, `{"f64":1.7976931348623157e308}`,
	`{"named":"x","named":"y"}`, `{"ünï":"v"}`, `{"ÜNÏ":"v"}`,
	``, `   `, `null`, `[]`, `"s"`, `{`, `{"s"`, `{"s":`, `{"s":"x"`, `{"s":"x",}`, `{,}`, `{"s":"x"}}`, `{"s":"x"} {}`, `{"s":"x"} x`,
	`{"s" "x"}`, `{s:"x"}`, `{"s":"x" "b":true}`, "\ufeff{}", `{"s":"x"}` + "\x00",
	`{}x`, `{}}`, `{} {}`, "{\f}", "{\"s\":\"x\"\v}", "\u00a0{}", `{"s","x"}`, `{"s"x"y"}`,
}

// TestFlatMatchesEncodingJSON holds the flat decoder to encoding/json:
// what it reads, encoding/json reads alike, without an error.
func TestFlatMatchesEncodingJSON(t *testing.T) {
	for _, typ := range flatTypes {
		for _, in := range flatInputs {
			t.Run(fmt.Sprintf("%v/%.30q", typ, in), func(t *testing.T) { sameWhenFlat(t, typ, []byte(in)) })
		}
	}
}

func FuzzFlatMatchesEncodingJSON(f *testing.F) {
	for _, in := range flatInputs {
		f.Add([]byte(in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, typ := range flatTypes {
			sameWhenFlat(t, typ, data)
		}
	})
}

// sameWhenFlat checks that when the flat decoder of typ reads data,
// encoding/json reads the same value from it, without an error.
func sameWhenFlat(t *testing.T, typ reflect.Type, data []byte) {
	t.Helper()
	d := newFlat(typ)
	if d == nil {
		t.Fatalf("%v is not flat", typ)
	}
	got := reflect.New(typ)
	if !d.decode(data, got.Elem()) {
		return
	}
	want := reflect.New(typ)
	if err := json.Unmarshal(data, want.Interface()); err != nil {
		t.Fatalf("the flat decoder read %q into %v, where encoding/json fails: %v", data, typ, err)
	}
	if !reflect.DeepEqual(got.Interface(), want.Interface()) {
		t.Fatalf("%q into %v:\n got %#v\nwant %#v", data, typ, got.Elem().Interface(), want.Elem().Interface())
	}
}

// TestFlatReadsWhatMarshalWrites shows that the flat decoder, not the
// decoders it falls back to, reads what encoding/json writes, even at
// the limits of each kind: an event written by the store is read in one
// pass.
func TestFlatReadsWhatMarshalWrites(t *testing.T) {
	for _, v := range []flatAll{
		{},
		{S: "plain", B: true, I: -1, I8: math.MinInt8, I16: math.MaxInt16, I32: math.MinInt32, I64: math.MinInt64,
			U: math.MaxUint, U8: math.MaxUint8, U16: math.MaxUint16, U32: math.MaxUint32, U64: math.MaxUint64,
			F32: math.MaxFloat32, F64: math.SmallestNonzeroFloat64, Named: "named", Dash: "dash", Accent: "ünïcödé ☃"},
		{F32: -math.SmallestNonzeroFloat32, F64: -math.MaxFloat64},
		{F64: 1e21, F32: 1e-7},
	} {
		data, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		var got flatAll
		if !newFlat(reflect.TypeFor[flatAll]()).decode(data, reflect.ValueOf(&got).Elem()) {
			t.Fatalf("the flat decoder left %s to the others", data)
		}
		if got != v {
			t.Errorf("%s: got %+v, want %+v", data, got, v)
		}
	}
}

// TestFlatTypes checks which structs are flat: plain data of basic kinds
// only, without the string option.
func TestFlatTypes(t *testing.T) {
	for typ, want := range map[reflect.Type]bool{
		reflect.TypeFor[flatAll]():                         true,
		reflect.TypeFor[struct{}]():                        true,
		reflect.TypeFor[struct{ A, B string }]():           true,
		reflect.TypeFor[struct{ P *string }]():             false,
		reflect.TypeFor[struct{ L []int }]():               false,
		reflect.TypeFor[struct{ A any }]():                 false,
		reflect.TypeFor[struct{ M map[string]string }]():   false,
		reflect.TypeFor[struct{ Inner struct{ A int } }](): false,
		reflect.TypeFor[struct{ U uintptr }]():             false,
		reflect.TypeFor[struct{ C complex128 }]():          false,
		reflect.TypeFor[struct {
			N int `json:"n,string"`
		}](): false,
		reflect.TypeFor[map[string]int](): false,
		reflect.TypeFor[string]():         false,
	} {
		if got := newFlat(typ) != nil; got != want {
			t.Errorf("newFlat(%v) != nil is %v, want %v", typ, got, want)
		}
	}
}

// TestFlatChosen shows that Unmarshal and For take the flat decoder for
// a pointer to a flat struct that is plain data, and only then.
func TestFlatChosen(t *testing.T) {
	for typ, want := range map[reflect.Type]bool{
		reflect.TypeFor[*flatAll](): true,
		reflect.TypeFor[flatAll]():  false, // not a pointer: nothing to decode into
		reflect.TypeFor[*struct {
			A int `json:"a"`
			B int `json:"A"` // the same key when case is ignored: not plain data
		}](): false,
		reflect.TypeFor[*struct{ P *string }](): false,
	} {
		if got := decoder(typ).flat != nil; got != want {
			t.Errorf("decoder(%v) takes the flat decoder: %v, want %v", typ, got, want)
		}
	}
}
