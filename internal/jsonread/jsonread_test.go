package jsonread_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/chronicle-es/chronicle/internal/jsonread"
	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

type moved struct {
	Player string `json:"player"`
	Column int    `json:"column"`
}

type nested struct {
	Name    string            `json:"name"`
	Tags    []string          `json:"tags,omitempty"`
	Counts  map[string]int    `json:"counts"`
	Inner   *moved            `json:"inner"`
	Any     any               `json:"any"`
	At      time.Time         `json:"at"`
	Raw     json.RawMessage   `json:"raw"`
	Flag    bool              `json:"flag,string"`
	Amount  float64           `json:"amount"`
	Small   int8              `json:"small"`
	Bytes   []byte            `json:"bytes"`
	Arr     [2]uint16         `json:"arr"`
	Ignored string            `json:"-"`
	Labels  map[int]string    `json:"labels"`
	Next    *nested           `json:"next"`
	Meta    map[string]string `json:",omitempty"`
	embedded
}

type embedded struct {
	Deep string `json:"deep"`
}

// rich is plain data of every shape the faster decoder takes.
type rich struct {
	Name   string            `json:"name"`
	Tags   []string          `json:"tags,omitempty"`
	Counts map[string]int    `json:"counts"`
	Inner  *moved            `json:"inner"`
	Any    any               `json:"any"`
	At     time.Time         `json:"at"`
	AtP    *time.Time        `json:"atp"`
	Raw    json.RawMessage   `json:"raw"`
	Flag   bool              `json:"flag,string"`
	Num    int64             `json:"num,string,omitzero"`
	Amount float64           `json:"amount"`
	Small  int8              `json:"small"`
	Bytes  []byte            `json:"bytes"`
	Arr    [2]uint16         `json:"arr"`
	Skip   string            `json:"-"`
	Next   *rich             `json:"next"`
	Meta   map[string]string `json:",omitempty"`
	Named  column            `json:"named"`
	Nested []map[string]*rich
	//lint:ignore U1000 an unexported field, which both decoders skip, is what this tests
	hidden int
}

type column int

// kinds is a flat struct (see flat.go) with a field of several kinds, so
// that an input the flat decoder gives up on halfway is read again.
type kinds struct {
	S string  `json:"s"`
	B bool    `json:"b"`
	U uint8   `json:"u"`
	F float32 `json:"f"`
	C column  `json:"c"`
}

// collide has two fields whose names match the same keys when case is
// ignored: which one a key fills is encoding/json's rule to apply.
type collide struct {
	A string `json:"xy"`
	B string `json:"XY"`
}

// collideEmbedded is the same through an embedded struct, where
// encoding/json's rule also weighs the fields' depths.
type collideEmbedded struct {
	lower
	XY string `json:"XY"`
}

type lower struct {
	Xy string `json:"xy"`
}

type withNumber struct {
	N    json.Number            `json:"n"`
	More map[string]json.Number `json:"more"`
}

// caseStrict has a tag option that only the faster decoder reads:
// encoding/json matches "NAME" to it, case:strict would not.
type caseStrict struct {
	Name string `json:"name,case:strict"`
}

// embedOption has v2's embed option, which encoding/json ignores: for it
// Inner is a member named "Inner", not Inner's fields inlined.
type embedOption struct {
	Inner moved          `json:",embed"`
	Rest  map[string]any `json:"rest,embed"`
}

// formatOption has v2's format option, which encoding/json ignores.
type formatOption struct {
	At time.Time `json:",format:unix"`
}

// oddNames have tag names that encoding/json refuses, and so names the
// fields by their Go names, where the faster decoder takes the tag's.
type oddNames struct {
	Euro int `json:"€"`
	//lint:ignore SA5008 a tag encoding/json refuses is what this tests
	Slash int `json:"a\\b"`
}

// floatKeys has a map key kind that encoding/json refuses and the faster
// decoder reads.
type floatKeys struct {
	F map[float64]string `json:"f"`
	B map[bool]string    `json:"b"`
}

// timeKeys has a key type with an UnmarshalJSON method, which
// encoding/json calls with the quoted key, escapes and all; the faster
// decoder unquotes it first.
type timeKeys struct {
	T map[time.Time]int `json:"t"`
}

// v2Method has the faster decoder's own method, which encoding/json
// does not know: a program that also uses that package for other JSON
// may have types like it.
type v2Method struct{ Got string }

func (m *v2Method) UnmarshalJSONFrom(d *jsontext.Decoder) error {
	v, err := d.ReadValue()
	m.Got = "v2: " + string(v)
	return err
}

// times holds time.Time in the places a decoder may reach it from.
type times struct {
	At time.Time             `json:"at"`
	P  *time.Time            `json:"p"`
	M  map[string]*time.Time `json:"m"`
}

// shouted, selfRead and refusing are shaped like flat structs (see
// flat.go), but a method reads them or their fields: only encoding/json
// calls it, so they must not reach the flat decoder.
type shouted struct {
	S shout `json:"s"`
}

// shout is a string that reads itself from text, in capitals.
type shout string

func (s *shout) UnmarshalText(b []byte) error {
	*s = shout(strings.ToUpper(string(b)))
	return nil
}

type selfRead struct {
	S string `json:"s"`
}

func (r *selfRead) UnmarshalJSON(b []byte) error {
	r.S = "read by its method: " + string(b)
	return nil
}

type refusing struct {
	N refused `json:"n"`
}

// refused is a number whose method, on its value, refuses every input.
type refused int

func (refused) UnmarshalJSON([]byte) error { return errors.New("refused") }

// typeCase is one input for one type.
type typeCase struct {
	typ reflect.Type
	in  string
}

// typeCases are inputs that the faster decoder once read differently
// from encoding/json, each for the type that showed it.
var typeCases = []typeCase{
	{reflect.TypeFor[caseStrict](), `{"NAME":"x"}`},
	{reflect.TypeFor[embedOption](), `{"player":"x","Inner":{"player":"y"},"rest":{"a":1},"other":2}`},
	{reflect.TypeFor[formatOption](), `{"At":12}`},
	{reflect.TypeFor[floatKeys](), `{"f":{"1.5":"x"}}`},
	{reflect.TypeFor[floatKeys](), `{"b":{}}`},
	{reflect.TypeFor[timeKeys](), `{"t":{"2026-12-06T22:15:00\u005a":1}}`},
	{reflect.TypeFor[struct{ V v2Method }](), `{"V":{"Got":"x"}}`},
	{reflect.TypeFor[nested](), `{"at":"2026-12-06T22:15:00\u005a"}`},
	{reflect.TypeFor[nested](), `{"at":"2026-12-06T22:15:00.Z"}`},
	{reflect.TypeFor[times](), `{"p":null,"at":null,"m":{"a":"2026-12-06T22:15:00Z","b":null}}`},
	{reflect.TypeFor[times](), `{"p":"2026-12-06T22:15:00Z","at":"2026-12-06T22:15:00+01:00"}`},
	{reflect.TypeFor[oddNames](), `{"€":1,"a\\b":2,"Euro":5,"Slash":6}`},
	{reflect.TypeFor[collide](), `{"Xy":"v"}`},
	{reflect.TypeFor[collide](), `{"xy":"a","XY":"b","Xy":"c"}`},
	{reflect.TypeFor[collideEmbedded](), `{"Xy":"v"}`},
	{reflect.TypeFor[rich](), `{"at":"2026-12-06T22:15:00\u005a"}`},
	{reflect.TypeFor[rich](), `{"num":"12","flag":"false","named":7,"Nested":[{"a":{"name":"x"}},null]}`},
	{reflect.TypeFor[shouted](), `{"s":"x"}`},
	{reflect.TypeFor[selfRead](), `{"s":"x"}`},
	{reflect.TypeFor[refusing](), `{"n":1}`},
}

// fuzzTypes are the types the fuzz test decodes each input into.
var fuzzTypes = []reflect.Type{
	reflect.TypeFor[moved](), reflect.TypeFor[nested](), reflect.TypeFor[any](),
	reflect.TypeFor[caseStrict](), reflect.TypeFor[embedOption](), reflect.TypeFor[oddNames](),
	reflect.TypeFor[floatKeys](), reflect.TypeFor[timeKeys](), reflect.TypeFor[times](),
	reflect.TypeFor[rich](), reflect.TypeFor[collide](), reflect.TypeFor[collideEmbedded](),
	reflect.TypeFor[kinds](),
}

// TestTypeCases holds Unmarshal to encoding/json's results for typeCases.
func TestTypeCases(t *testing.T) {
	for _, c := range typeCases {
		t.Run(fmt.Sprintf("%v/%.30q", c.typ, c.in), func(t *testing.T) { same(t, c.typ, []byte(c.in)) })
	}
}

// TestGlobalFormatTag shows that a program that turns the format option
// on for every caller of the faster decoder, as its package allows, does
// not change what Unmarshal reads.
func TestGlobalFormatTag(t *testing.T) {
	jsonv2.ExperimentalGlobalSupportFormatTag(true)
	defer jsonv2.ExperimentalGlobalSupportFormatTag(false)
	same(t, reflect.TypeFor[formatOption](), []byte(`{"At":12}`))
}

// inputs are valid and invalid JSON, and JSON that does not fit the
// types: each is decoded into each type by both decoders.
var inputs = []string{
	`{"player":"6f1c2a3e-8d44-4b7a-9a0e-1c2d3e4f5a6b","column":3}`,
	`{"PLAYER":"x","Column":1}`,
	`{"player":"a","player":"b"}`,
	`{"player":"\u00e9\ud83d\ude00 \"q\" \\","column":-0}`,
	`{"player":"bad utf8 ` + "\xff" + `","column":1}`,
	`{"column":1e2}`,
	`{"column":1.5}`,
	`{"column":99999999999999999999}`,
	`{"column":"3"}`,
	`{"player":null,"column":null}`,
	`null`,
	``,
	`   `,
	`{`,
	`{"player":"a",}`,
	`{"player":"a"} trailing`,
	`[1,2,3]`,
	`"just a string"`,
	`{"name":"n","tags":["a","b"],"counts":{"x":1,"y":2},"inner":{"player":"p","column":6},"any":{"k":[1,"two",null,true,2.5]},"at":"2026-12-06T22:15:00.123456789Z","raw":{"a" : [1, 2]},"flag":"true","amount":-1.25e-3,"small":127,"bytes":"aGVsbG8=","arr":[1,65535],"Ignored":"x","labels":{"1":"one","-2":"minus two"},"next":{"name":"child"},"Meta":{"k":"v"},"deep":"d"}`,
	`{"small":128}`,
	`{"flag":true}`,
	`{"at":"not a time"}`,
	`{"labels":{"x":"not an int key"}}`,
	`{"bytes":"not base64!"}`,
	`{"arr":[1,2,3]}`,
	`{"n":12.50,"more":{"a":-1e400,"b":0}}`,
	`{"n":"12"}`,
	`{"n":"not a number"}`,
	`{"n":true}`,
	`{"unknown":{"deeply":[{"nested":null}]},"player":"p"}`,
	`{"s":"x","b":true,"u":255,"f":-1.5e3,"c":-7}`,
	`{"s":"x","b":true,"u":256}`,
	`{"s":"x","b":true,"f":1e39}`,
	`{"s":"x","b":true,"S":"y"}`,
}

// TestMatchesEncodingJSON holds Unmarshal to encoding/json's results:
// the same value and the same error, for every input and type.
func TestMatchesEncodingJSON(t *testing.T) {
	for _, in := range inputs {
		for _, typ := range []reflect.Type{
			reflect.TypeFor[moved](), reflect.TypeFor[nested](), reflect.TypeFor[withNumber](),
			reflect.TypeFor[map[string]any](), reflect.TypeFor[[]any](), reflect.TypeFor[any](),
			reflect.TypeFor[*moved](), reflect.TypeFor[map[string]string](), reflect.TypeFor[kinds](),
		} {
			t.Run(fmt.Sprintf("%v/%.20q", typ, in), func(t *testing.T) { same(t, typ, []byte(in)) })
		}
	}
}

func same(t *testing.T, typ reflect.Type, data []byte) {
	t.Helper()
	want := reflect.New(typ)
	wantErr := json.Unmarshal(data, want.Interface())
	for name, unmarshal := range map[string]func([]byte, any) error{
		"Unmarshal": jsonread.Unmarshal,
		"For":       jsonread.For(reflect.PointerTo(typ)),
	} {
		got := reflect.New(typ)
		gotErr := unmarshal(data, got.Interface())
		if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) || reflect.TypeOf(gotErr) != reflect.TypeOf(wantErr) {
			t.Fatalf("%s(%q) into %v: error %T %v, encoding/json's %T %v", name, data, typ, gotErr, gotErr, wantErr, wantErr)
		}
		if wantErr == nil && !reflect.DeepEqual(got.Interface(), want.Interface()) {
			t.Fatalf("%s(%q) into %v:\n got %#v\nwant %#v", name, data, typ, got.Elem().Interface(), want.Elem().Interface())
		}
	}
}

// TestErrorsMatchable shows that callers can still match the standard
// library's error types.
func TestErrorsMatchable(t *testing.T) {
	var m moved
	var syntax *json.SyntaxError
	if err := jsonread.Unmarshal([]byte(`{"player":`), &m); !errors.As(err, &syntax) {
		t.Errorf("truncated input: %T %v, want a *json.SyntaxError", err, err)
	}
	var typ *json.UnmarshalTypeError
	if err := jsonread.Unmarshal([]byte(`{"column":"x"}`), &m); !errors.As(err, &typ) {
		t.Errorf("a string for an int: %T %v, want a *json.UnmarshalTypeError", err, err)
	}
	var invalid *json.InvalidUnmarshalError
	if err := jsonread.Unmarshal([]byte(`{}`), m); !errors.As(err, &invalid) {
		t.Errorf("not a pointer: %T %v, want a *json.InvalidUnmarshalError", err, err)
	}
}

// TestFast checks which types take the faster decoder: plain data only
// (see the package doc).
func TestFast(t *testing.T) {
	type deepNumber struct {
		A []map[string]*[1]withNumber
	}
	type recursive struct {
		Self []recursive
		Next *recursive
	}
	type text struct{ V textValue }
	for typ, want := range map[reflect.Type]bool{
		reflect.TypeFor[*moved]():           true,
		reflect.TypeFor[*rich]():            true,
		reflect.TypeFor[*recursive]():       true,
		reflect.TypeFor[*map[string]any]():  true,
		reflect.TypeFor[*times]():           true,
		reflect.TypeFor[*any]():             true,
		reflect.TypeFor[*nested]():          false, // an embedded struct
		reflect.TypeFor[*withNumber]():      false,
		reflect.TypeFor[*deepNumber]():      false,
		reflect.TypeFor[*json.Number]():     false,
		reflect.TypeFor[*caseStrict]():      false,
		reflect.TypeFor[*embedOption]():     false,
		reflect.TypeFor[*formatOption]():    false,
		reflect.TypeFor[*oddNames]():        false,
		reflect.TypeFor[*floatKeys]():       false,
		reflect.TypeFor[*timeKeys]():        false,
		reflect.TypeFor[*v2Method]():        false,
		reflect.TypeFor[*collide]():         false,
		reflect.TypeFor[*collideEmbedded](): false,
		reflect.TypeFor[*text]():            false,
		reflect.TypeFor[*shouted]():         false,
		reflect.TypeFor[*selfRead]():        false,
		reflect.TypeFor[*refusing]():        false,
		reflect.TypeFor[*fmt.Stringer]():    false,
		reflect.TypeFor[*chan int]():        false,
		reflect.TypeFor[*struct {
			P *int `json:"p,string"`
		}](): false,
	} {
		if got := jsonread.Fast(typ); got != want {
			t.Errorf("Fast(%v) = %v, want %v", typ, got, want)
		}
	}
}

// textValue reads itself from text, which only encoding/json is left to
// call.
type textValue struct{ s string }

func (v *textValue) UnmarshalText(b []byte) error {
	v.s = string(b)
	return nil
}

// TestFewerAllocations shows that the faster decoder is the one that
// ran: encoding/json allocates its decoder's state at every call.
func TestFewerAllocations(t *testing.T) {
	data := []byte(inputs[0])
	std := testing.AllocsPerRun(100, func() {
		var m moved
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
	})
	ours := testing.AllocsPerRun(100, func() {
		var m moved
		if err := jsonread.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
	})
	if ours >= std {
		t.Errorf("Unmarshal made %v allocations a call, encoding/json %v: the faster decoder did not run", ours, std)
	}
}

func FuzzMatchesEncodingJSON(f *testing.F) {
	for _, in := range inputs {
		f.Add([]byte(in))
	}
	for _, c := range typeCases {
		f.Add([]byte(c.in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, typ := range fuzzTypes {
			same(t, typ, data)
		}
	})
}

func BenchmarkUnmarshal(b *testing.B) {
	data := []byte(inputs[0])
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var m moved
			if err := json.Unmarshal(data, &m); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("jsonread", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var m moved
			if err := jsonread.Unmarshal(data, &m); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestForOutsideItsContract shows that For, given what its doc rules
// out (a nil pointer, or a pointer to another type than its own), still
// does what encoding/json does rather than panic or fill the wrong
// fields.
func TestForOutsideItsContract(t *testing.T) {
	unmarshal := jsonread.For(reflect.TypeFor[*moved]())
	for _, in := range []string{`{}`, `{"player":"x"}`} {
		var nilMoved *moved
		err := unmarshal([]byte(in), nilMoved)
		want := json.Unmarshal([]byte(in), nilMoved)
		if fmt.Sprint(err) != fmt.Sprint(want) {
			t.Errorf("a nil *moved, %s: %v, encoding/json %v", in, err, want)
		}
	}
	var other struct {
		Column int    `json:"column"`
		Player string `json:"player"`
	}
	if err := unmarshal([]byte(`{"player":"x","column":3}`), &other); err != nil || other.Player != "x" || other.Column != 3 {
		t.Errorf("another type: %+v, %v; want {Column:3 Player:x}", other, err)
	}
}
