package shred_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/internal/pgtest"
	"github.com/chronicle-es/chronicle/internal/sqlitetest"
	"github.com/chronicle-es/chronicle/memory"
	"github.com/chronicle-es/chronicle/shred"
	"github.com/chronicle-es/chronicle/sqlite"
	"github.com/google/uuid"
)

type started struct {
	PlayerOne string `json:"player_one" chronicle:"personal"`
	PlayerTwo string `json:"player_two" chronicle:"personal"`
	Board     string `json:"board"`
}

type shipped struct {
	CustomerID string `json:"customer_id"`
	Address    string `json:"address" chronicle:"personal,subject=customer_id"`
	Floor      int    `json:"floor" chronicle:"personal,subject=customer_id"`
}

func schema(t *testing.T) *shred.Schema {
	t.Helper()
	s, err := shred.NewSchema(shred.Of[started]("Started"), shred.Of[shipped]("Shipped"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func jsonEvent(t *testing.T, typ string, v any) chronicle.EventData {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return chronicle.EventData{Type: typ, Data: b}
}

// setup returns a shredding store over each kind of store, with its key
// store.
func setups(t *testing.T) map[string]func(t *testing.T) (*shred.Store, *sqlite.Store) {
	return map[string]func(t *testing.T) (*shred.Store, *sqlite.Store){
		"memory": func(t *testing.T) (*shred.Store, *sqlite.Store) {
			return shred.New(memory.New(nil), shred.NewMemoryKeys(), schema(t)), nil
		},
		"sqlite": func(t *testing.T) (*shred.Store, *sqlite.Store) {
			s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "events.db"), nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return shred.New(s, shred.NewSQLKeys(s), schema(t)), s
		},
	}
}

func readOne[T any](t *testing.T, s chronicle.Store, stream string, rev uint64) T {
	t.Helper()
	var v T
	for e, err := range s.ReadStream(context.Background(), stream, chronicle.ReadStreamOptions{From: rev, Limit: 1}) {
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(e.Data, &v); err != nil {
			t.Fatalf("read back %s: %v", e.Data, err)
		}
	}
	return v
}

// noneInTheClear fails t if an event of store, the store underneath a
// shredding store, holds one of secrets in a key or a string of its data.
// The ciphertext of an envelope is left out: it is random base64, which
// holds a short secret such as "Bob" now and then by chance.
func noneInTheClear(t *testing.T, store chronicle.Store, secrets ...string) {
	t.Helper()
	for e, err := range store.ReadAll(context.Background(), chronicle.ReadAllOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		var data any
		if err := json.Unmarshal(e.Data, &data); err != nil {
			t.Fatalf("event at %d is not JSON: %v", e.Position, err)
		}
		for _, text := range clearText(data) {
			for _, secret := range secrets {
				if strings.Contains(text, secret) {
					t.Fatalf("the store holds %q in the clear: %s", secret, e.Data)
				}
			}
		}
	}
}

// clearText lists the keys and strings of v, decoded JSON, leaving out
// the ciphertext of envelopes.
func clearText(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, x := range v {
			out = append(out, clearText(x)...)
		}
		return out
	case map[string]any:
		var out []string
		for k, x := range v {
			out = append(out, k)
			if _, ok := x.(string); ok && k == "$shredded" {
				continue
			}
			out = append(out, clearText(x)...)
		}
		return out
	}
	return nil
}

func TestEncryptForget(t *testing.T) {
	ctx := context.Background()
	for name, setup := range setups(t) {
		t.Run(name, func(t *testing.T) {
			s, _ := setup(t)
			game := started{PlayerOne: "Alice Liddell", PlayerTwo: "Bob Marley", Board: "empty"}
			ship := shipped{CustomerID: "c-42", Address: "1 Rabbit Hole", Floor: 3}
			if _, err := s.Append(ctx, "game-1", chronicle.NoStream, jsonEvent(t, "Started", game), jsonEvent(t, "Shipped", ship),
				chronicle.EventData{Type: "Started", Data: []byte(`{"player_one":"Plain Old","player_two":"Data"}`)}); err != nil {
				t.Fatal(err)
			}
			// Read back through the wrapper: as written.
			if got := readOne[started](t, s, "game-1", 0); got != game {
				t.Fatalf("read %+v, want %+v", got, game)
			}
			if got := readOne[shipped](t, s, "game-1", 1); got != ship {
				t.Fatalf("read %+v, want %+v", got, ship)
			}
			// Data that was never encrypted reads as it is.
			if got := readOne[started](t, s, "game-1", 2); got.PlayerOne != "Plain Old" {
				t.Fatalf("plain data read as %+v", got)
			}
			// The store underneath holds no personal value in the clear.
			noneInTheClear(t, s.Unwrap(), "Alice", "Bob", "Rabbit")

			if err := s.Forget(ctx, "Alice Liddell"); err != nil {
				t.Fatal(err)
			}
			if err := s.Forget(ctx, "c-42"); err != nil {
				t.Fatal(err)
			}
			want := started{PlayerOne: shred.Forgotten, PlayerTwo: "Bob Marley", Board: "empty"}
			if got := readOne[started](t, s, "game-1", 0); got != want {
				t.Fatalf("after forgetting Alice, read %+v, want %+v", got, want)
			}
			wantShip := shipped{CustomerID: "c-42", Address: shred.Forgotten, Floor: 0}
			if got := readOne[shipped](t, s, "game-1", 1); got != wantShip {
				t.Fatalf("after forgetting c-42, read %+v, want %+v", got, wantShip)
			}
			// The global log and subscriptions read the same.
			n := 0
			for e, err := range s.ReadAll(ctx, chronicle.ReadAllOptions{}) {
				if err != nil {
					t.Fatal(err)
				}
				if bytes.Contains(e.Data, []byte("Alice")) {
					t.Fatalf("a forgotten name is read through ReadAll: %s", e.Data)
				}
				n++
			}
			if n != 3 {
				t.Fatalf("ReadAll gave %d events, want 3: forgetting must not remove events", n)
			}
		})
	}
}

// TestNothingOnDisk greps the raw files of the embedded store, and its
// write-ahead log, after forgetting: neither the personal values nor the
// forgotten key may be found.
func TestNothingOnDisk(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "events.db")
	db, err := sqlite.Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	keys := shred.NewSQLKeys(db)
	s := shred.New(db, keys, schema(t))
	for i := range 20 {
		if _, err := s.Append(ctx, "game-1", chronicle.Any, jsonEvent(t, "Started",
			started{PlayerOne: "Zebedee Quixotic", PlayerTwo: "Other Player", Board: strings.Repeat("x", i)})); err != nil {
			t.Fatal(err)
		}
	}
	key, err := keys.Key(ctx, shred.Ref("Zebedee Quixotic"), false)
	if err != nil || len(key) != shred.KeySize {
		t.Fatalf("key = %x, %v", key, err)
	}
	if err := s.Forget(ctx, "Zebedee Quixotic"); err != nil {
		t.Fatal(err)
	}
	checkNothingOnDisk(t, path, key)
	if got := readOne[started](t, s, "game-1", 5); got.PlayerOne != shred.Forgotten || got.PlayerTwo != "Other Player" {
		t.Fatalf("after forgetting, read %+v", got)
	}
}

// checkNothingOnDisk fails the test if the embedded store's file at path,
// or its write-ahead log, holds the forgotten key or Zebedee Quixotic's
// name.
func checkNothingOnDisk(t *testing.T, path string, key []byte) {
	t.Helper()
	for _, suffix := range []string{"", "-wal"} {
		raw, err := os.ReadFile(path + suffix)
		if err != nil {
			if os.IsNotExist(err) {
				continue
			}
			t.Fatal(err)
		}
		if bytes.Contains(raw, []byte("Zebedee")) || bytes.Contains(raw, []byte("Quixotic")) {
			t.Fatalf("%s holds the forgotten name", filepath.Base(path+suffix))
		}
		if bytes.Contains(raw, key) {
			t.Fatalf("%s still holds the forgotten key", filepath.Base(path+suffix))
		}
	}
}

// TestForgetWhileReadersUseTheLog: a Forget on the embedded store while
// a reader keeps its write-ahead log in use deletes the key, so that the
// subject's fields read as forgotten, but cannot empty the log, which
// still holds the key: it says so, with an error matching ErrKeyOnDisk.
// Called again once the reader is done, it erases the key from the disk.
func TestForgetWhileReadersUseTheLog(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "events.db")
	db, err := sqlite.Open(ctx, path, &sqlite.Options{BusyTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	keys := shred.NewSQLKeys(db)
	s := shred.New(db, keys, schema(t))
	if _, err := s.Append(ctx, "game-1", chronicle.Any, jsonEvent(t, "Started",
		started{PlayerOne: "Zebedee Quixotic", PlayerTwo: "Other Player"})); err != nil {
		t.Fatal(err)
	}
	key, err := keys.Key(ctx, shred.Ref("Zebedee Quixotic"), false)
	if err != nil || len(key) != shred.KeySize {
		t.Fatalf("key = %x, %v", key, err)
	}

	// A reader, of another process, whose snapshot has the key, and
	// which keeps its deletion in the log.
	release := sqlitetest.HoldRead(t, path)
	err = s.Forget(ctx, "Zebedee Quixotic")
	release()
	if !errors.Is(err, shred.ErrKeyOnDisk) || !errors.Is(err, sqlite.ErrCheckpointBusy) {
		t.Fatalf("Forget while a reader used the log: %v, want ErrKeyOnDisk and sqlite.ErrCheckpointBusy", err)
	}
	if k, err := keys.Key(ctx, shred.Ref("Zebedee Quixotic"), false); k != nil || err != nil {
		t.Fatalf("after a Forget that said the key was deleted, the key store holds %x, %v", k, err)
	}
	if got := readOne[started](t, s, "game-1", 0); got.PlayerOne != shred.Forgotten {
		t.Fatalf("after a Forget that said the key was deleted, read %+v", got)
	}

	if err := s.Forget(ctx, "Zebedee Quixotic"); err != nil {
		t.Fatalf("Forget again once the reader was done: %v", err)
	}
	checkNothingOnDisk(t, path, key)
}

// newStore returns a shredding store of types over a memory store, and
// the memory store.
func newStore(t *testing.T, types ...shred.Type) (*shred.Store, chronicle.Store) {
	t.Helper()
	schema, err := shred.NewSchema(types...)
	if err != nil {
		t.Fatal(err)
	}
	inner := memory.New(nil)
	return shred.New(inner, shred.NewMemoryKeys(), schema), inner
}

// TestKeyInOtherCaseIsRefused checks that an append refuses a key that
// differs only in case from a personal field's JSON name, or a subject
// field's, which encoding/json decodes into that field: such a key was
// stored in the clear, and then, when encrypted, sealed under a subject
// guessed among the keys. The error says which key, and how to write it,
// and nothing of the append is stored.
func TestKeyInOtherCaseIsRefused(t *testing.T) {
	ctx := context.Background()
	inner := memory.New(nil)
	s := shred.New(inner, shred.NewMemoryKeys(), schema(t))
	for _, tc := range []struct {
		typ, data, key, name string
	}{
		{"Started", `{"Player_One":"Alice","player_two":"Bob"}`, "Player_One", "player_one"},
		{"Started", `{"player_one":"Alice","PLAYER_TWO":"Bob"}`, "PLAYER_TWO", "player_two"},
		{"Shipped", `{"customer_id":"c-42","Address":"1 Rabbit Hole"}`, "Address", "address"},
		{"Shipped", `{"Customer_ID":"c-42","address":"1 Rabbit Hole"}`, "Customer_ID", "customer_id"},
		// The subject field under its exact name too: the key in
		// another case would be the subject for encoding/json.
		{"Shipped", `{"customer_id":"c-42","address":"1 Rabbit Hole","CUSTOMER_ID":"c-7"}`, "CUSTOMER_ID", "customer_id"},
	} {
		_, err := s.Append(ctx, "g", chronicle.Any,
			chronicle.EventData{Type: "Started", Data: []byte(`{"player_one":"Carol","player_two":"Dave"}`)},
			chronicle.EventData{Type: tc.typ, Data: []byte(tc.data)})
		if !errors.Is(err, chronicle.ErrInvalidEvent) {
			t.Errorf("appending %s: %v, want an error matching ErrInvalidEvent", tc.data, err)
			continue
		}
		for _, want := range []string{fmt.Sprintf("%q", tc.key), fmt.Sprintf("write it as %q", tc.name)} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("appending %s: %v, want an error that says %s", tc.data, err, want)
			}
		}
	}
	for e, err := range inner.ReadAll(ctx, chronicle.ReadAllOptions{}) {
		t.Fatalf("a refused append stored %s (%v)", e.Data, err)
	}
}

// TestEnvelopeInOtherCaseIsRead checks that a personal field that an
// append encrypted under a key that differs from its name only in case,
// before such keys were refused, still reads decrypted, and forgotten
// once its subject is.
func TestEnvelopeInOtherCaseIsRead(t *testing.T) {
	ctx := context.Background()
	inner := memory.New(nil)
	s := shred.New(inner, shred.NewMemoryKeys(), schema(t))
	if _, err := s.Append(ctx, "g", chronicle.NoStream, chronicle.EventData{Type: "Started", Data: []byte(`{"player_one":"Alice","player_two":"Bob"}`)}); err != nil {
		t.Fatal(err)
	}
	// What such an append stored: the envelope sealed for player_one
	// under the key it was given.
	stored := storedFields(t, inner, "g")
	data := fmt.Appendf(nil, `{"Player_One":%s,"player_two":%s}`, stored["player_one"], stored["player_two"])
	if _, err := inner.Append(ctx, "old", chronicle.NoStream, chronicle.EventData{Type: "Started", Data: data}); err != nil {
		t.Fatal(err)
	}
	if got, want := readOne[started](t, s, "old", 0), (started{PlayerOne: "Alice", PlayerTwo: "Bob"}); got != want {
		t.Fatalf("read %+v, want %+v", got, want)
	}
	if err := s.Forget(ctx, "Alice"); err != nil {
		t.Fatal(err)
	}
	if got, want := readOne[started](t, s, "old", 0), (started{PlayerOne: shred.Forgotten, PlayerTwo: "Bob"}); got != want {
		t.Fatalf("after forgetting Alice, read %+v, want %+v", got, want)
	}
}

// delivery names its customer in customer_id, and Customer_ID is another
// field, which encoding/json decodes the key of exactly that name into.
type delivery struct {
	CustomerID string `json:"customer_id"`
	OrderedBy  string `json:"Customer_ID"`
	Address    string `json:"address" chronicle:"personal,subject=customer_id"`
}

// TestSubjectUnderItsExactName checks that a field's subject is read from
// the key of exactly its subject field's name, and that a key that is
// exactly another field's is that field's: the subject was the value of
// the last key equal to it but for case, so the address was sealed under
// the ordering customer, and forgetting the customer left it readable.
func TestSubjectUnderItsExactName(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t, shred.Of[delivery]("Delivered"))
	if _, err := s.Append(ctx, "d", chronicle.NoStream, jsonEvent(t, "Delivered", delivery{CustomerID: "c-1", OrderedBy: "c-2", Address: "1 Rabbit Hole"})); err != nil {
		t.Fatal(err)
	}
	if err := s.Forget(ctx, "c-2"); err != nil {
		t.Fatal(err)
	}
	if got, want := readOne[delivery](t, s, "d", 0), (delivery{CustomerID: "c-1", OrderedBy: "c-2", Address: "1 Rabbit Hole"}); got != want {
		t.Fatalf("after forgetting c-2, read %+v, want %+v", got, want)
	}
	if err := s.Forget(ctx, "c-1"); err != nil {
		t.Fatal(err)
	}
	if got, want := readOne[delivery](t, s, "d", 0), (delivery{CustomerID: "c-1", OrderedBy: "c-2", Address: shred.Forgotten}); got != want {
		t.Fatalf("after forgetting c-1, the customer, read %+v, want %+v", got, want)
	}
}

// profile has a personal field and one that is not, whose JSON names
// differ only in case: encoding/json decodes each key into the field of
// exactly its name.
type profile struct {
	Name string `json:"name" chronicle:"personal"`
	NAME string `json:"NAME"` // a public display code
}

// TestNonPersonalFieldInOtherCase checks that a key that is exactly the
// name of a field that is not personal is left in the clear, although it
// differs from a personal field's name only in case: it was encrypted,
// and read as forgotten once its value was forgotten as a subject.
func TestNonPersonalFieldInOtherCase(t *testing.T) {
	ctx := context.Background()
	s, inner := newStore(t, shred.Of[profile]("Profile"))
	if _, err := s.Append(ctx, "p", chronicle.NoStream, jsonEvent(t, "Profile", profile{Name: "Alice", NAME: "public-code"})); err != nil {
		t.Fatal(err)
	}
	noneInTheClear(t, inner, "Alice")
	if got := string(storedFields(t, inner, "p")["NAME"]); got != `"public-code"` {
		t.Errorf("NAME is stored as %s, want it in the clear", got)
	}
	if err := s.Forget(ctx, "public-code"); err != nil {
		t.Fatal(err)
	}
	if err := s.Forget(ctx, "Alice"); err != nil {
		t.Fatal(err)
	}
	if got, want := readOne[profile](t, s, "p", 0), (profile{Name: shred.Forgotten, NAME: "public-code"}); got != want {
		t.Fatalf("read %+v, want %+v", got, want)
	}
	// A key that is neither is refused still.
	_, err := s.Append(ctx, "p", chronicle.Any, chronicle.EventData{Type: "Profile", Data: []byte(`{"Name":"Bob"}`)})
	if !errors.Is(err, chronicle.ErrInvalidEvent) {
		t.Fatalf("appending {\"Name\":\"Bob\"}: %v, want ErrInvalidEvent", err)
	}
}

// renamed writes its own name, in the clear: a field of the same JSON
// name in the struct that embeds Person hides Person.Name, as
// encoding/json writes and reads it.
type renamed struct {
	Person
	Name string `json:"name"`
}

// unexportedName does not hide Person.Name: encoding/json skips its
// unexported name, and neither does a field it leaves out.
type unexportedName struct {
	Person
	name    string
	Skipped string `json:"-"`
}

// handle hides a non-personal field embedded deeper with a personal one.
type handle struct {
	displayed
	Name string `json:"name" chronicle:"personal"`
}

type displayed struct {
	Name string `json:"name"`
}

// TestHiddenEmbeddedField checks that a field of an embedded struct that
// a field of the same JSON name hides, as encoding/json does, is not
// taken for the event's field: a hidden personal field made the field
// that hid it encrypted, and read as forgotten.
func TestHiddenEmbeddedField(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		typ    shred.Type
		fields []shred.Field
	}{
		{shred.Of[renamed]("Renamed"), nil},
		{shred.Of[unexportedName]("UnexportedName"), []shred.Field{{Name: "name"}}},
		{shred.Of[handle]("Handle"), []shred.Field{{Name: "name"}}},
	} {
		if !slices.Equal(tc.typ.Fields, tc.fields) {
			t.Errorf("%s has the personal fields %+v, want %+v", tc.typ.Name, tc.typ.Fields, tc.fields)
		}
	}

	s, inner := newStore(t, shred.Of[renamed]("Renamed"), shred.Of[unexportedName]("UnexportedName"))
	if _, err := s.Append(ctx, "r", chronicle.NoStream,
		jsonEvent(t, "Renamed", renamed{Person: Person{Name: "never written"}, Name: "public-code"}),
		jsonEvent(t, "UnexportedName", unexportedName{Person: Person{Name: "Alice"}, name: "x", Skipped: "y"}),
	); err != nil {
		t.Fatal(err)
	}
	noneInTheClear(t, inner, "Alice")
	if err := s.Forget(ctx, "public-code"); err != nil {
		t.Fatal(err)
	}
	if got := readOne[renamed](t, s, "r", 0); got.Name != "public-code" {
		t.Fatalf("after forgetting public-code, the field that hides a personal one reads %q", got.Name)
	}
}

// registered has a subject field that is personal itself: the customer's
// ID is its own subject, and the address belongs to the customer.
type registered struct {
	Address    string `json:"address" chronicle:"personal,subject=customer_id"`
	CustomerID string `json:"customer_id" chronicle:"personal"`
}

// TestPersonalSubjectField checks that forgetting a customer whose ID is
// personal too forgets the fields that name it as their subject, in
// either order: once the ID was encrypted first, they were encrypted
// under its envelope's text as their subject, which nobody can forget.
// A field whose subject field comes encrypted already is refused.
func TestPersonalSubjectField(t *testing.T) {
	ctx := context.Background()
	schema, err := shred.NewSchema(shred.Of[registered]("Registered"))
	if err != nil {
		t.Fatal(err)
	}
	inner := memory.New(nil)
	s := shred.New(inner, shred.NewMemoryKeys(), schema)
	if _, err := s.Append(ctx, "customer-1", chronicle.NoStream,
		chronicle.EventData{Type: "Registered", Data: []byte(`{"customer_id":"c-42","address":"1 Rabbit Hole"}`)},
		chronicle.EventData{Type: "Registered", Data: []byte(`{"address":"2 Rabbit Hole","customer_id":"c-42"}`)},
	); err != nil {
		t.Fatal(err)
	}
	if err := s.Forget(ctx, "c-42"); err != nil {
		t.Fatal(err)
	}
	want := registered{CustomerID: shred.Forgotten, Address: shred.Forgotten}
	for rev := range uint64(2) {
		if got := readOne[registered](t, s, "customer-1", rev); got != want {
			t.Fatalf("event %d reads %+v after forgetting c-42, want %+v", rev, got, want)
		}
	}

	id := storedFields(t, inner, "customer-1")["customer_id"]
	data := fmt.Appendf(nil, `{"customer_id":%s,"address":"3 Rabbit Hole"}`, id)
	_, err = s.Append(ctx, "customer-1", chronicle.Any, chronicle.EventData{Type: "Registered", Data: data})
	if err == nil || !strings.Contains(err.Error(), "encrypted already") {
		t.Fatalf("appending a field whose subject field is encrypted: %v, want an error", err)
	}
}

// storedFields returns the fields of the first event of stream as inner
// holds them, encrypted.
func storedFields(t *testing.T, inner chronicle.Store, stream string) map[string]json.RawMessage {
	t.Helper()
	var stored map[string]json.RawMessage
	for e, err := range inner.ReadStream(context.Background(), stream, chronicle.ReadStreamOptions{Limit: 1}) {
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(e.Data, &stored); err != nil {
			t.Fatal(err)
		}
	}
	return stored
}

// TestForgottenSubjectNamedAgain checks that the events of a subject
// that was forgotten, and then named again in a new event (a customer
// who comes back, another player of the same name), which gives it a new
// key, still read, with their fields forgotten: they failed to decrypt.
func TestForgottenSubjectNamedAgain(t *testing.T) {
	ctx := context.Background()
	for name, setup := range setups(t) {
		t.Run(name, func(t *testing.T) {
			s, _ := setup(t)
			if _, err := s.Append(ctx, "game-1", chronicle.NoStream, jsonEvent(t, "Started", started{PlayerOne: "Alice", PlayerTwo: "Bob", Board: "old"})); err != nil {
				t.Fatal(err)
			}
			if err := s.Forget(ctx, "Alice"); err != nil {
				t.Fatal(err)
			}
			again := started{PlayerOne: "Alice", PlayerTwo: "Carol", Board: "new"}
			if _, err := s.Append(ctx, "game-2", chronicle.NoStream, jsonEvent(t, "Started", again)); err != nil {
				t.Fatal(err)
			}
			want := started{PlayerOne: shred.Forgotten, PlayerTwo: "Bob", Board: "old"}
			if got := readOne[started](t, s, "game-1", 0); got != want {
				t.Fatalf("the old game reads %+v, want %+v", got, want)
			}
			if got := readOne[started](t, s, "game-2", 0); got != again {
				t.Fatalf("the new game reads %+v, want %+v", got, again)
			}
		})
	}
}

// TestFieldWithoutKeyID checks fields written before the envelope named
// its key ($key): one that its subject's key, replaced after a Forget,
// does not open reads as forgotten, since that cannot be told from a
// damaged field; one too short to be a ciphertext is still an error.
func TestFieldWithoutKeyID(t *testing.T) {
	ctx := context.Background()
	inner := memory.New(nil)
	s := shred.New(inner, shred.NewMemoryKeys(), schema(t))
	if _, err := s.Append(ctx, "new", chronicle.NoStream, jsonEvent(t, "Started", started{PlayerOne: "Alice", PlayerTwo: "Bob"})); err != nil {
		t.Fatal(err)
	}
	// withoutKeyID returns an envelope as it was written before $key.
	withoutKeyID := func(raw json.RawMessage, change func(env map[string]any)) json.RawMessage {
		var env map[string]any
		if err := json.Unmarshal(raw, &env); err != nil || env["$key"] == nil {
			t.Fatalf("stored field %s, %v: want an envelope with $key", raw, err)
		}
		delete(env, "$key")
		if change != nil {
			change(env)
		}
		b, _ := json.Marshal(env)
		return b
	}
	stored := storedFields(t, inner, "new")
	old, _ := json.Marshal(map[string]json.RawMessage{
		"player_one": withoutKeyID(stored["player_one"], nil),
		"player_two": withoutKeyID(stored["player_two"], nil),
	})
	short, _ := json.Marshal(map[string]json.RawMessage{
		"player_two": withoutKeyID(stored["player_two"], func(env map[string]any) { env["$shredded"] = "AAECAw==" }),
	})
	if _, err := inner.Append(ctx, "old", chronicle.NoStream,
		chronicle.EventData{Type: "Started", Data: old}, chronicle.EventData{Type: "Started", Data: short}); err != nil {
		t.Fatal(err)
	}
	if got, want := readOne[started](t, s, "old", 0), (started{PlayerOne: "Alice", PlayerTwo: "Bob"}); got != want {
		t.Fatalf("read %+v, want %+v", got, want)
	}

	if err := s.Forget(ctx, "Alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, "again", chronicle.NoStream, jsonEvent(t, "Started", started{PlayerOne: "Alice", PlayerTwo: "Carol"})); err != nil {
		t.Fatal(err)
	}
	if got, want := readOne[started](t, s, "old", 0), (started{PlayerOne: shred.Forgotten, PlayerTwo: "Bob"}); got != want {
		t.Fatalf("after forgetting Alice and naming her again, read %+v, want %+v", got, want)
	}
	for _, err := range s.ReadStream(ctx, "old", chronicle.ReadStreamOptions{From: 1}) {
		if err == nil || !strings.Contains(err.Error(), "too short") {
			t.Fatalf("a field too short to be a ciphertext: %v, want an error", err)
		}
	}
}

func TestMovedCiphertextDoesNotDecrypt(t *testing.T) {
	ctx := context.Background()
	inner := memory.New(nil)
	s := shred.New(inner, shred.NewMemoryKeys(), schema(t))
	s.Append(ctx, "g", chronicle.NoStream, jsonEvent(t, "Started", started{PlayerOne: "Ann", PlayerTwo: "Ann"}))
	stored := storedFields(t, inner, "g")
	// The same subject's ciphertext, moved to another event type's field.
	moved, _ := json.Marshal(map[string]json.RawMessage{"customer_id": []byte(`"Ann"`), "address": stored["player_one"]})
	inner.Append(ctx, "g", chronicle.Any, chronicle.EventData{Type: "Shipped", Data: moved})
	for _, err := range s.ReadStream(ctx, "g", chronicle.ReadStreamOptions{From: 1}) {
		if err == nil {
			t.Fatal("a ciphertext moved to another field decrypted")
		}
	}
}

// TestSealedFieldThatDoesNotOpenIsRefused checks that an append keeps an
// encrypted field as it is only if it opens: one moved to another field,
// or damaged, whose subject's key is there, made every read of its event
// fail, the log's and the subscriptions' too, from then on. The append
// is refused, with an error that matches chronicle.ErrInvalidEvent, and
// nothing is stored. The field of a forgotten subject, which no key
// opens, is still kept, and reads as forgotten.
func TestSealedFieldThatDoesNotOpenIsRefused(t *testing.T) {
	ctx := context.Background()
	inner := memory.New(nil)
	s := shred.New(inner, shred.NewMemoryKeys(), schema(t))
	if _, err := s.Append(ctx, "g", chronicle.NoStream, jsonEvent(t, "Started", started{PlayerOne: "Ann", PlayerTwo: "Bob"})); err != nil {
		t.Fatal(err)
	}
	stored := storedFields(t, inner, "g")
	var env struct {
		Cipher string `json:"$shredded"`
	}
	if err := json.Unmarshal(stored["player_one"], &env); err != nil {
		t.Fatal(err)
	}
	// The same envelope, in its order of keys, with the end of its
	// ciphertext changed.
	damagedJSON := bytes.Replace(stored["player_one"], []byte(env.Cipher), []byte(env.Cipher[:len(env.Cipher)-4]+"AAAA"), 1)
	for name, e := range map[string]chronicle.EventData{
		// Ann's ciphertext, moved to another event type's field.
		"moved": jsonEvent(t, "Shipped", map[string]json.RawMessage{"customer_id": []byte(`"Ann"`), "address": stored["player_one"]}),
		// Bob's and Ann's ciphertexts, swapped.
		"other field": jsonEvent(t, "Started", map[string]json.RawMessage{"player_one": stored["player_two"], "player_two": stored["player_one"]}),
		"damaged":     jsonEvent(t, "Started", map[string]json.RawMessage{"player_one": damagedJSON, "player_two": []byte(`"Cy"`)}),
	} {
		_, err := s.Append(ctx, "h-"+name, chronicle.Any, e)
		if !errors.Is(err, chronicle.ErrInvalidEvent) {
			t.Errorf("%s: append: %v, want an error matching ErrInvalidEvent", name, err)
		}
		for _, err := range inner.ReadStream(ctx, "h-"+name, chronicle.ReadStreamOptions{}) {
			if !errors.Is(err, chronicle.ErrStreamNotFound) {
				t.Errorf("%s: the refused append was stored (%v)", name, err)
			}
			break
		}
	}
	for _, err := range s.ReadAll(ctx, chronicle.ReadAllOptions{}) {
		if err != nil {
			t.Fatalf("read: %v", err)
		}
	}
	// Read from the store beneath and appended again: kept as it is.
	if _, err := s.Append(ctx, "copy", chronicle.NoStream, jsonEvent(t, "Started", stored)); err != nil {
		t.Fatalf("appending the stored event again: %v", err)
	}
	if err := s.Forget(ctx, "Ann"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, "copy", chronicle.Exact(0), jsonEvent(t, "Started", stored)); err != nil {
		t.Fatalf("appending the stored event again once Ann is forgotten: %v", err)
	}
	if got := readOne[started](t, s, "copy", 1); got.PlayerOne != shred.Forgotten || got.PlayerTwo != "Bob" {
		t.Errorf("read %+v, want Ann forgotten and Bob", got)
	}
}

func TestSchemaErrors(t *testing.T) {
	type badTag struct {
		A string `chronicle:"secret"`
	}
	type badOption struct {
		A string `chronicle:"personal,owner=x"`
	}
	for _, typ := range []shred.Type{shred.Of[badTag]("A"), shred.Of[badOption]("B"), shred.Of[int]("C")} {
		if _, err := shred.NewSchema(typ); err == nil {
			t.Errorf("NewSchema(%s) succeeded", typ.Name)
		}
	}
	if _, err := shred.NewSchema(shred.Of[started]("S"), shred.Of[started]("S")); err == nil {
		t.Error("NewSchema with a type given twice succeeded")
	}
	s := shred.New(memory.New(nil), shred.NewMemoryKeys(), schema(t))
	_, err := s.Append(context.Background(), "g", chronicle.Any, chronicle.EventData{Type: "Started", Data: []byte(`[1,2]`)})
	if err == nil {
		t.Error("appending a personal event that is not a JSON object succeeded")
	}
	_, err = s.Append(context.Background(), "g", chronicle.Any, chronicle.EventData{Type: "Shipped", Data: []byte(`{"address":"x"}`)})
	if err == nil || !strings.Contains(err.Error(), "customer_id") {
		t.Errorf("appending without the subject field: %v", err)
	}
}

// Person is embedded in events: encoding/json writes its fields at the
// top level of theirs.
type Person struct {
	Name string `json:"name" chronicle:"personal"`
}

type joined struct {
	Person
	Team string `json:"team"`
}

type left struct {
	*Person
	Reason string `json:"reason" chronicle:"personal,subject=name"`
	Via    *route `json:"via"`
}

// route holds no personal field, but itself.
type route struct {
	Stop string `json:"stop"`
	Next *route `json:"next"`
}

// recursive embeds itself, which encoding/json allows.
type recursive struct {
	*recursive
	Secret string `json:"secret" chronicle:"personal"`
}

// TestEmbeddedPersonalFields checks that the personal fields of an
// embedded struct, which encoding/json writes at the top level, are
// encrypted: they were stored in the clear. Types that hold themselves
// are read once.
func TestEmbeddedPersonalFields(t *testing.T) {
	ctx := context.Background()
	schema, err := shred.NewSchema(shred.Of[joined]("Joined"), shred.Of[left]("Left"), shred.Of[recursive]("Recursive"))
	if err != nil {
		t.Fatal(err)
	}
	inner := memory.New(nil)
	s := shred.New(inner, shred.NewMemoryKeys(), schema)
	if _, err := s.Append(ctx, "team-1", chronicle.NoStream,
		jsonEvent(t, "Joined", joined{Person: Person{Name: "Alice Liddell"}, Team: "red"}),
		jsonEvent(t, "Left", left{Person: &Person{Name: "Alice Liddell"}, Reason: "Rabbit"}),
		jsonEvent(t, "Recursive", recursive{recursive: &recursive{Secret: "hidden by the outer one"}, Secret: "Cheshire"}),
	); err != nil {
		t.Fatal(err)
	}
	noneInTheClear(t, inner, "Alice", "Rabbit", "Cheshire")
	if err := s.Forget(ctx, "Alice Liddell"); err != nil {
		t.Fatal(err)
	}
	if got, want := readOne[joined](t, s, "team-1", 0), (joined{Person: Person{Name: shred.Forgotten}, Team: "red"}); got != want {
		t.Fatalf("after forgetting Alice, read %+v, want %+v", got, want)
	}
	if got := readOne[left](t, s, "team-1", 1); got.Name != shred.Forgotten || got.Reason != shred.Forgotten {
		t.Fatalf("after forgetting Alice, read %+v and %q", got.Person, got.Reason)
	}
}

// TestSchemaRefusesTagsItWouldIgnore checks that NewSchema refuses a
// chronicle tag that encryption would not act on, which left the value
// in the clear, with an error that names the field and what to do.
func TestSchemaRefusesTagsItWouldIgnore(t *testing.T) {
	type address struct {
		Street string `json:"street" chronicle:"personal"`
	}
	type inStruct struct {
		To address `json:"to"`
	}
	type inPointer struct {
		To *address `json:"to"`
	}
	type inSlice struct {
		Stops []address `json:"stops"`
	}
	type inMap struct {
		ByName map[string]*address `json:"by_name"`
	}
	type inEmbedded struct {
		joined
		To []address `json:"to"`
	}
	type taggedEmbedded struct {
		Person `chronicle:"personal"`
	}
	type namedEmbedded struct { // encoding/json writes {"person":{"name":…}}
		Person `json:"person"`
	}
	type unexported struct {
		//lint:ignore U1000 only Of reads it
		name string `chronicle:"personal"`
	}
	type leftOut struct {
		Name string `json:"-" chronicle:"personal"`
	}
	for _, tc := range []struct {
		typ  shred.Type
		want []string
	}{
		{shred.Of[inStruct]("InStruct"), []string{"inStruct.To", "address.Street", "mark To personal"}},
		{shred.Of[inPointer]("InPointer"), []string{"inPointer.To", "address.Street", "mark To personal"}},
		{shred.Of[inSlice]("InSlice"), []string{"inSlice.Stops", "address.Street", "mark Stops personal"}},
		{shred.Of[inMap]("InMap"), []string{"inMap.ByName", "address.Street", "mark ByName personal"}},
		{shred.Of[inEmbedded]("InEmbedded"), []string{"inEmbedded.To", "address.Street"}},
		{shred.Of[taggedEmbedded]("TaggedEmbedded"), []string{"taggedEmbedded.Person", "embedded", "mark its fields personal"}},
		{shred.Of[namedEmbedded]("NamedEmbedded"), []string{"namedEmbedded.Person", "Person.Name", "mark Person personal"}},
		{shred.Of[unexported]("Unexported"), []string{"unexported.name", "leaves the field out"}},
		{shred.Of[leftOut]("LeftOut"), []string{"leftOut.Name", "leaves the field out"}},
	} {
		_, err := shred.NewSchema(tc.typ)
		for _, w := range tc.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("NewSchema(%s): %v, want an error that says %q", tc.typ.Name, err, w)
			}
		}
	}
}

func TestFieldOrderIsKept(t *testing.T) {
	ctx := context.Background()
	s := shred.New(memory.New(nil), shred.NewMemoryKeys(), schema(t))
	in := `{"board":"b","player_two":"Y","player_one":"X","extra":{"a":[1,2]}}`
	if _, err := s.Append(ctx, "g", chronicle.NoStream, chronicle.EventData{Type: "Started", Data: []byte(in)}); err != nil {
		t.Fatal(err)
	}
	for e, err := range s.ReadStream(ctx, "g", chronicle.ReadStreamOptions{}) {
		if err != nil || string(e.Data) != in {
			t.Fatalf("read back %s, %v; want %s", e.Data, err, in)
		}
	}
}

// TestMemoryKeysKeyIsACopy checks that Forget does not clear a key that
// an append got before and is still using, which would seal its fields
// with the all-zero key.
func TestMemoryKeysKeyIsACopy(t *testing.T) {
	ctx := context.Background()
	keys := shred.NewMemoryKeys()
	ref := shred.Ref("Alice")
	key, err := keys.Key(ctx, ref, true)
	if err != nil {
		t.Fatal(err)
	}
	want := bytes.Clone(key)
	if err := keys.Forget(ctx, ref); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(key, want) {
		t.Fatalf("Forget changed a key returned before it: %x, was %x", key, want)
	}
}

// TestSQLKeysSetupTriesAgain checks that a first use of the key store that
// fails (here with a cancelled context, as a request that timed out)
// does not leave it failing for good.
func TestSQLKeysSetupTriesAgain(t *testing.T) {
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "events.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	keys := shred.NewSQLKeys(db)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := keys.Key(cancelled, shred.Ref("x"), true); !errors.Is(err, context.Canceled) {
		t.Fatalf("Key with a cancelled context: %v, want context.Canceled", err)
	}
	if _, err := keys.Key(context.Background(), shred.Ref("x"), true); err != nil {
		t.Fatalf("Key after a cancelled call: %v", err)
	}
}

// TestDecrypting appends in the clear beside a store that encrypts: with
// the keys, it reads both as they were given, and a forgotten subject as
// forgotten; without keys, the encrypted fields read as encrypted, not as
// forgotten, which they may not be.
func TestDecrypting(t *testing.T) {
	ctx := context.Background()
	inner := memory.New(nil)
	keys := shred.NewMemoryKeys()
	secure := shred.New(inner, keys, schema(t))
	if _, err := secure.Append(ctx, "game-1", chronicle.NoStream, jsonEvent(t, "Started", started{"alice", "bob", "empty"})); err != nil {
		t.Fatal(err)
	}
	if _, err := secure.Append(ctx, "order-1", chronicle.NoStream, jsonEvent(t, "Shipped", shipped{"c1", "1 Main St", 3})); err != nil {
		t.Fatal(err)
	}
	clear := shred.NewDecrypting(inner, keys, schema(t))
	if _, err := clear.Append(ctx, "game-2", chronicle.NoStream, jsonEvent(t, "Started", started{"carol", "dave", "empty"})); err != nil {
		t.Fatal(err)
	}
	for e, err := range inner.ReadStream(ctx, "game-2", chronicle.ReadStreamOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		if want := `{"player_one":"carol","player_two":"dave","board":"empty"}`; string(e.Data) != want {
			t.Errorf("stored %s, want %s", e.Data, want)
		}
	}
	if got := readOne[started](t, clear, "game-1", 0); got != (started{"alice", "bob", "empty"}) {
		t.Errorf("with keys, the encrypted game reads %+v", got)
	}
	if got := readOne[started](t, clear, "game-2", 0); got != (started{"carol", "dave", "empty"}) {
		t.Errorf("with keys, the clear game reads %+v", got)
	}

	noKeys := shred.NewDecrypting(inner, nil, schema(t))
	if got := readOne[started](t, noKeys, "game-1", 0); got != (started{shred.Encrypted, shred.Encrypted, "empty"}) {
		t.Errorf("without keys, the encrypted game reads %+v", got)
	}
	if got := readOne[shipped](t, noKeys, "order-1", 0); got != (shipped{"c1", shred.Encrypted, 0}) {
		t.Errorf("without keys, the encrypted order reads %+v", got)
	}
	if got := readOne[started](t, noKeys, "game-2", 0); got != (started{"carol", "dave", "empty"}) {
		t.Errorf("without keys, the clear game reads %+v", got)
	}
	if err := noKeys.Forget(ctx, "alice"); err == nil {
		t.Error("a store without keys forgot a subject")
	}

	if err := clear.Forget(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if got := readOne[started](t, clear, "game-1", 0); got != (started{shred.Forgotten, "bob", "empty"}) {
		t.Errorf("after forgetting alice, the encrypted game reads %+v", got)
	}
	if got := readOne[started](t, clear, "game-2", 0); got != (started{"carol", "dave", "empty"}) {
		t.Errorf("after forgetting alice, the clear game reads %+v", got)
	}
}

// oddTag's json tag names the field with a quote, which encoding/json
// does not take: it writes the field under its Go name, Name.
type oddTag struct {
	//lint:ignore SA5008 the quote is the point: encoding/json ignores the name
	Name string `json:"o'name" chronicle:"personal"`
}

// TestPersonalFieldUnderItsGoName checks that a personal field whose json
// tag encoding/json ignores is encrypted under the name encoding/json
// writes it with, its Go name.
func TestPersonalFieldUnderItsGoName(t *testing.T) {
	ctx := context.Background()
	s, inner := newStore(t, shred.Of[oddTag]("Odd"))
	if _, err := s.Append(ctx, "o", chronicle.NoStream, jsonEvent(t, "Odd", oddTag{Name: "Alice"})); err != nil {
		t.Fatal(err)
	}
	noneInTheClear(t, inner, "Alice")
	if got := readOne[oddTag](t, s, "o", 0); got.Name != "Alice" {
		t.Fatalf("read %+v, want Alice", got)
	}
}

// profiled holds a personal map, whose keys come from its user.
type profiled struct {
	Name    string            `json:"name"`
	Profile map[string]string `json:"profile" chronicle:"personal,subject=name"`
}

// TestLookalikeEnvelopeIsEncrypted checks that a personal value that
// only looks like an encrypted field (a map whose first key, in
// encoding/json's order, is "$shredded") is encrypted as any other: it
// was stored as it was, in the clear for good, and every read of its
// event failed. A field that is encrypted already (an event read from the
// store underneath and appended again) is still stored as it is.
func TestLookalikeEnvelopeIsEncrypted(t *testing.T) {
	ctx := context.Background()
	for name, setup := range map[string]func(t *testing.T) (*shred.Store, chronicle.Store){
		"memory": func(t *testing.T) (*shred.Store, chronicle.Store) {
			return newStore(t, shred.Of[profiled]("Profiled"))
		},
		"sqlite": func(t *testing.T) (*shred.Store, chronicle.Store) {
			db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "events.db"), nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			schema, err := shred.NewSchema(shred.Of[profiled]("Profiled"))
			if err != nil {
				t.Fatal(err)
			}
			return shred.New(db, shred.NewSQLKeys(db), schema), db
		},
	} {
		t.Run(name, func(t *testing.T) {
			s, inner := setup(t)
			lookalikes := []profiled{
				{Name: "u1", Profile: map[string]string{"$shredded": "Secret One"}},
				{Name: "u2", Profile: map[string]string{"$shredded": "U2VjcmV0IFR3byBTZWNyZXQgVHdvIFNlY3JldCBUd28=", "note": "Secret Two"}},
				{Name: "u3", Profile: map[string]string{"$shredded": "U2VjcmV0IFR3byBTZWNyZXQgVHdvIFNlY3JldCBUd28=", "$subject": "Secret Three"}},
			}
			for i, p := range lookalikes {
				if _, err := s.Append(ctx, fmt.Sprintf("user-%d", i), chronicle.NoStream, jsonEvent(t, "Profiled", p)); err != nil {
					t.Fatal(err)
				}
			}
			noneInTheClear(t, inner, "Secret")
			for i, p := range lookalikes {
				if got := readOne[profiled](t, s, fmt.Sprintf("user-%d", i), 0); !maps.Equal(got.Profile, p.Profile) {
					t.Errorf("read %+v, want %+v", got, p)
				}
			}
			if err := s.Forget(ctx, "u1"); err != nil {
				t.Fatal(err)
			}
			if got := readOne[profiled](t, s, "user-0", 0); got.Profile != nil {
				t.Errorf("after forgetting u1, read %+v", got)
			}

			// An event as the store underneath holds it, appended again.
			var stored []byte
			for e, err := range inner.ReadStream(ctx, "user-1", chronicle.ReadStreamOptions{}) {
				if err != nil {
					t.Fatal(err)
				}
				stored = e.Data
			}
			if _, err := s.Append(ctx, "copy", chronicle.NoStream, chronicle.EventData{Type: "Profiled", Data: stored}); err != nil {
				t.Fatal(err)
			}
			for e, err := range inner.ReadStream(ctx, "copy", chronicle.ReadStreamOptions{}) {
				if err != nil || !bytes.Equal(e.Data, stored) {
					t.Fatalf("an encrypted event appended again is stored as %s, %v; want it as it was, %s", e.Data, err, stored)
				}
			}
			if got := readOne[profiled](t, s, "copy", 0); !maps.Equal(got.Profile, lookalikes[1].Profile) {
				t.Errorf("the copy reads %+v, want %+v", got, lookalikes[1])
			}
		})
	}
}

// TestReadErrorComesWithAZeroEvent checks that an event that fails to
// decrypt ends each read with its error and a zero event, as
// chronicle.Store's reads promise: it came with the event, its data still
// encrypted.
func TestReadErrorComesWithAZeroEvent(t *testing.T) {
	ctx := context.Background()
	s, inner := newStore(t, shred.Of[started]("Started"))
	short := `{"player_one":{"$shredded":"AAECAw==","$subject":"` + shred.Ref("Alice") + `","$string":true}}`
	if _, err := inner.Append(ctx, "g", chronicle.NoStream, chronicle.EventData{Type: "Started", Data: []byte(short)}); err != nil {
		t.Fatal(err)
	}
	// The subject has a key, so that the field is opened, and fails.
	if _, err := s.Append(ctx, "other", chronicle.NoStream, jsonEvent(t, "Started", started{PlayerOne: "Alice"})); err != nil {
		t.Fatal(err)
	}
	subscribed, cancel := context.WithCancel(ctx)
	defer cancel()
	for name, read := range map[string]iter.Seq2[chronicle.RecordedEvent, error]{
		"ReadStream": s.ReadStream(ctx, "g", chronicle.ReadStreamOptions{}),
		"ReadAll":    s.ReadAll(ctx, chronicle.ReadAllOptions{}),
		"Subscribe":  s.Subscribe(subscribed, chronicle.SubscribeOptions{}),
	} {
		n := 0
		for e, err := range read {
			if n++; n > 1 {
				t.Fatalf("%s went on after its error", name)
			}
			if err == nil || !strings.Contains(err.Error(), "too short") {
				t.Fatalf("%s: %v, want the field's error", name, err)
			}
			if !reflect.DeepEqual(e, chronicle.RecordedEvent{}) {
				t.Errorf("%s yielded its error with %+v, want a zero event", name, e)
			}
		}
	}
}

// TestEventWithoutPersonalValuesIsStoredAsGiven checks that an event of
// a type with personal fields, but none in it (left out, or encrypted
// already), is stored byte for byte as it was given: it was written
// again, its spaces and escapes changed.
func TestEventWithoutPersonalValuesIsStoredAsGiven(t *testing.T) {
	ctx := context.Background()
	s, inner := newStore(t, shred.Of[started]("Started"))
	if _, err := s.Append(ctx, "g", chronicle.NoStream, jsonEvent(t, "Started", started{PlayerOne: "Alice"})); err != nil {
		t.Fatal(err)
	}
	sealed := storedFields(t, inner, "g")["player_one"]
	for i, data := range []string{
		`{"board": "x",  "moves": [1, 2]}`,
		`{"a<b":1,"board":"\u00e9"}`,
		` {"board":"x"} `,
		`{"player_one": ` + string(sealed) + `, "board": "y"}`,
	} {
		stream := fmt.Sprintf("plain-%d", i)
		if _, err := s.Append(ctx, stream, chronicle.NoStream, chronicle.EventData{Type: "Started", Data: []byte(data)}); err != nil {
			t.Fatal(err)
		}
		for e, err := range inner.ReadStream(ctx, stream, chronicle.ReadStreamOptions{}) {
			if err != nil || string(e.Data) != data {
				t.Errorf("stored %s, %v; want it as given, %s", e.Data, err, data)
			}
		}
	}
}

// TestDataAfterTheObjectIsRefused checks that an append refuses the data
// of a type with personal fields that is not one JSON object: a closing
// bracket after it was dropped without a word.
func TestDataAfterTheObjectIsRefused(t *testing.T) {
	ctx := context.Background()
	s, inner := newStore(t, shred.Of[started]("Started"))
	for _, data := range []string{`{"player_one":"Alice"}}`, `{"player_one":"Alice"}]`, `{"player_one":"Alice"} {}`, `{"board":"x"}}`} {
		_, err := s.Append(ctx, "g", chronicle.Any, chronicle.EventData{Type: "Started", Data: []byte(data)})
		if !errors.Is(err, chronicle.ErrInvalidEvent) {
			t.Errorf("appending %s: %v, want an error matching ErrInvalidEvent", data, err)
		}
	}
	for e, err := range inner.ReadAll(ctx, chronicle.ReadAllOptions{}) {
		t.Errorf("stored %s, %v; want nothing", e.Data, err)
	}
}

// email is a string type that checks what it decodes.
type email string

func (e *email) UnmarshalText(b []byte) error {
	if !bytes.Contains(b, []byte("@")) {
		return fmt.Errorf("not an e-mail address: %q", b)
	}
	*e = email(b)
	return nil
}

// person's personal fields are JSON strings, of Go types that decode
// strings of their own form only, but for Name and Nick.
type person struct {
	ID       string     `json:"id"`
	Name     string     `json:"name" chronicle:"personal,subject=id"`
	Nick     *string    `json:"nick" chronicle:"personal,subject=id"`
	Born     time.Time  `json:"born" chronicle:"personal,subject=id"`
	Passport uuid.UUID  `json:"passport" chronicle:"personal,subject=id"`
	Photo    []byte     `json:"photo" chronicle:"personal,subject=id"`
	Age      int        `json:"age,string" chronicle:"personal,subject=id"`
	Quoted   string     `json:"quoted,string" chronicle:"personal,subject=id"`
	Email    email      `json:"email" chronicle:"personal,subject=id"`
	Seen     *time.Time `json:"seen" chronicle:"personal,subject=id"`
}

// TestForgottenFieldsDecode checks that an event whose subject is
// forgotten, or that a store without keys reads, still decodes into its
// Go type: a personal field whose type decodes only strings of its own
// form (a time, a UUID, bytes, a number with ",string") read as
// "[forgotten]" or "[encrypted]", which failed to decode, so that a
// repository could not load the stream any more. Such fields read as
// null; fields of plain strings still read as the placeholder.
func TestForgottenFieldsDecode(t *testing.T) {
	ctx := context.Background()
	s, inner := newStore(t, shred.Of[person]("Registered"))
	nick := "Al"
	seen := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	p := person{ID: "p-1", Name: "Alice", Nick: &nick, Born: time.Date(1990, 5, 6, 0, 0, 0, 0, time.UTC),
		Passport: uuid.New(), Photo: []byte("jpeg"), Age: 34, Quoted: "q", Email: "alice@example.com", Seen: &seen}
	if _, err := s.Append(ctx, "person-1", chronicle.NoStream, jsonEvent(t, "Registered", p)); err != nil {
		t.Fatal(err)
	}
	schema, err := shred.NewSchema(shred.Of[person]("Registered"))
	if err != nil {
		t.Fatal(err)
	}
	forgotten, encrypted := shred.Forgotten, shred.Encrypted
	noKeys := shred.NewDecrypting(inner, nil, schema)
	if err := s.Forget(ctx, "p-1"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name        string
		store       chronicle.Store
		placeholder string
	}{{"after Forget", s, forgotten}, {"without keys", noKeys, encrypted}} {
		var got person
		for e, err := range c.store.ReadStream(ctx, "person-1", chronicle.ReadStreamOptions{}) {
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(e.Data, &got); err != nil {
				t.Fatalf("%s, %s does not decode: %v", c.name, e.Data, err)
			}
		}
		want := person{ID: "p-1", Name: c.placeholder, Nick: &c.placeholder}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s, read %+v, want %+v", c.name, got, want)
		}
	}
}

// TestKeyStores checks that the key stores behave alike: the memory one,
// and SQLKeys on SQLite and on PostgreSQL. Appends that name one new
// subject at once, from several goroutines, get one key between them.
func TestKeyStores(t *testing.T) {
	ctx := context.Background()
	for name, open := range map[string]func(t *testing.T) (chronicle.Store, shred.KeyStore){
		"memory": func(t *testing.T) (chronicle.Store, shred.KeyStore) {
			return memory.New(nil), shred.NewMemoryKeys()
		},
		"sqlite": func(t *testing.T) (chronicle.Store, shred.KeyStore) {
			db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "events.db"), nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			return db, shred.NewSQLKeys(db)
		},
		"postgres": func(t *testing.T) (chronicle.Store, shred.KeyStore) {
			db := pgtest.Open(t)
			return db, shred.NewSQLKeys(db)
		},
	} {
		t.Run(name, func(t *testing.T) {
			inner, keys := open(t)
			ref := shred.Ref("Alice")
			if key, err := keys.Key(ctx, ref, false); key != nil || err != nil {
				t.Fatalf("Key of a subject without one = %x, %v; want nil, nil", key, err)
			}
			if err := keys.Forget(ctx, ref); err != nil {
				t.Fatalf("Forget of a subject without a key: %v", err)
			}

			s := shred.New(inner, keys, schema(t))
			const n = 8
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					if _, err := s.Append(ctx, fmt.Sprintf("game-%d", i), chronicle.NoStream,
						jsonEvent(t, "Started", started{PlayerOne: "Alice", PlayerTwo: fmt.Sprint("Player ", i)})); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			key, err := keys.Key(ctx, ref, false)
			if err != nil || len(key) != shred.KeySize {
				t.Fatalf("Key = %x, %v; want a key of %d bytes", key, err, shred.KeySize)
			}
			for i := range n {
				if got := readOne[started](t, s, fmt.Sprintf("game-%d", i), 0); got.PlayerOne != "Alice" {
					t.Fatalf("game %d reads %+v: its append sealed Alice with another key", i, got)
				}
			}
			old := bytes.Clone(key)
			clear(key)
			if again, err := keys.Key(ctx, ref, true); err != nil || !bytes.Equal(again, old) {
				t.Fatalf("Key after its caller changed the key it got = %x, %v; want %x", again, err, old)
			}

			if err := keys.Forget(ctx, ref); err != nil {
				t.Fatal(err)
			}
			if key, err := keys.Key(ctx, ref, false); key != nil || err != nil {
				t.Fatalf("Key of a forgotten subject = %x, %v; want nil, nil", key, err)
			}
			if got := readOne[started](t, s, "game-0", 0); got.PlayerOne != shred.Forgotten {
				t.Fatalf("after forgetting Alice, read %+v", got)
			}
			renewed, err := keys.Key(ctx, ref, true)
			if err != nil || len(renewed) != shred.KeySize || bytes.Equal(renewed, old) {
				t.Fatalf("Key of a forgotten subject named again = %x, %v; want a new key", renewed, err)
			}
		})
	}
}

// TestEmptySubject: a personal value whose subject field is null or ""
// is refused, as one without its subject field is: sealed under the
// subject "null" or "", the values of unrelated people would share a
// key that forgetting none of them removes. A personal value that is
// null, or an empty string that is its own subject, holds nothing
// personal, and is stored as it is, under no subject.
func TestEmptySubject(t *testing.T) {
	ctx := context.Background()
	for _, data := range []string{
		`{"customer_id":null,"address":"1 Main St","floor":3}`,
		`{"customer_id":"","address":"1 Main St","floor":3}`,
	} {
		s, inner := newStore(t, shred.Of[shipped]("Shipped"))
		_, err := s.Append(ctx, "order-1", chronicle.Any, chronicle.EventData{Type: "Shipped", Data: []byte(data)})
		if !errors.Is(err, chronicle.ErrInvalidEvent) || !strings.Contains(fmt.Sprint(err), `"customer_id"`) {
			t.Errorf("append of %s: %v, want ErrInvalidEvent naming customer_id", data, err)
		}
		for _, err := range inner.ReadAll(ctx, chronicle.ReadAllOptions{}) {
			if err == nil {
				t.Errorf("append of %s stored an event", data)
			}
			break
		}
	}
	for typ, data := range map[string]string{
		"Shipped": `{"customer_id":"c1","address":null,"floor":null}`,
		"Started": `{"player_one":"","player_two":null,"board":"x"}`,
	} {
		s, inner := newStore(t, shred.Of[shipped]("Shipped"), shred.Of[started]("Started"))
		if _, err := s.Append(ctx, "s", chronicle.Any, chronicle.EventData{Type: typ, Data: []byte(data)}); err != nil {
			t.Fatalf("append of %s: %v", data, err)
		}
		for rec, err := range inner.ReadStream(ctx, "s", chronicle.ReadStreamOptions{}) {
			if err != nil {
				t.Fatal(err)
			}
			if string(rec.Data) != data {
				t.Errorf("%s stored as %s, want it as given", data, rec.Data)
			}
		}
	}
}

// TestNewRefusesNil: a store, key store or schema left nil is refused
// when the store is made, with a message that says which arguments may
// not be nil, rather than a nil dereference at the first append or read.
func TestNewRefusesNil(t *testing.T) {
	inner, keys := memory.New(nil), shred.NewMemoryKeys()
	sch := schema(t)
	for name, build := range map[string]func(){
		"New/NoStore":            func() { shred.New(nil, keys, sch) },
		"New/NoKeys":             func() { shred.New(inner, nil, sch) },
		"New/NoSchema":           func() { shred.New(inner, keys, nil) },
		"NewDecrypting/NoStore":  func() { shred.NewDecrypting(nil, keys, sch) },
		"NewDecrypting/NoSchema": func() { shred.NewDecrypting(inner, nil, nil) },
	} {
		func() {
			defer func() {
				if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "must not be nil") {
					t.Errorf("%s: recovered %v, want a panic saying what must not be nil", name, r)
				}
			}()
			build()
		}()
	}
	shred.NewDecrypting(inner, nil, sch) // keys are optional here
}
