// Package shred keeps personal data in events erasable, although events
// are never changed: crypto-shredding. Each personal field is encrypted
// with a key of its own data subject (AES-GCM, with 256-bit keys from the
// key stores of this package); forgetting a subject deletes its key, and
// from then on its fields read as [Forgotten] while everything else about
// the events stays as it was.
//
// Mark personal fields in the event type's definition:
//
//	type GameStarted struct {
//		PlayerOne string `json:"player_one" chronicle:"personal"`
//		PlayerTwo string `json:"player_two" chronicle:"personal"`
//	}
//
// A field marked "personal" is its own subject: a player's name is the
// player. A field that belongs to a subject named elsewhere in the event
// says so: `chronicle:"personal,subject=customer_id"`.
//
// Wrap the store with [New], given a [Schema] of the event types that
// hold personal fields ([NewSchema], with [Of] for each type) and a
// [KeyStore] ([SQLKeys] keeps the keys in the SQLite or PostgreSQL
// store, beside the events, [MemoryKeys] in memory): appends encrypt the
// marked fields, reads decrypt them, and [Store.Forget] forgets a
// subject. Data written without encryption (by older code, or other
// tools) reads as it is. A writer whose events other programs read
// without this package, beside a writer that keeps its personal data
// forgettable, wraps the store with [NewDecrypting]: it appends in the
// clear, and reads the other's encrypted fields decrypted.
//
// A key of an event's JSON object is a personal field only under the
// field's exact JSON name, and a subject is read only from the key of
// its field's exact JSON name. encoding/json decodes a key that differs
// from a field's name only in case into the field too: rather than store
// such a key in the clear, or guess which key names the subject, an
// append refuses it with an error matching [chronicle.ErrInvalidEvent]
// that says how to write it, unless it is exactly the JSON name of a
// field of the type that is not personal: it is then that field, and is
// stored as it is. As encoding/json does, a field hides the fields of the
// same JSON name of the structs it embeds (see [Of]).
//
// # What it protects, and what not
//
// The store never holds a personal value in the clear, so deleting a key
// is enough to erase it from the events, from every backup of them, and
// from every copy that is exported later. What the application derived
// from the clear values (read models, logs, e-mails sent) is its own to
// erase: rebuild read models after forgetting. Snapshots kept through
// the Store need no such care: it encrypts each with the keys of the
// subjects whose fields its stream holds, and forgetting any of them
// makes it unreadable (see [Store.SaveSnapshot]). Snapshots that a
// repository keeps elsewhere (Snapshots.Store of [chronicle.Snapshots])
// hold the state in the clear, and are the application's to erase;
// those that it kept so in the store beneath, the Store replaces (see
// "Snapshots kept before the Store kept them").
//
// Personal fields are top-level fields of JSON objects: fields of the
// event type, or of a struct it embeds (see [Of]); a field that holds
// personal values deeper in is personal as a whole.
//
// # The encrypted field
//
// An encrypted field is stored as a JSON object in place of its value:
//
//	{"$shredded":"<nonce and ciphertext, base64>","$subject":"<Ref of the subject>","$key":"<key ID>","$string":true}
//
// $subject, a SHA-256 hash of the subject, lets the key be found;
// someone who guesses a subject can match the hash, so treat it as
// pseudonymous data. $key names the key the field was encrypted with by
// a hash of it, which reveals nothing of the key: a subject that is
// forgotten and then named again in a new event gets a new key, and the
// fields encrypted with its old key read as [Forgotten], as they did
// before, while a field whose key is there but does not open it (it was
// damaged, or moved to another field) is an error. $string is set when
// the value was a JSON string, which then reads as [Forgotten] if its Go
// type decodes that (other values read as null). An append keeps a
// personal field that is such an envelope already (an event read from
// the store underneath, appended again) as it is, unless its key is
// there and does not open it, which would fail every read of the event:
// such an append is refused with an error matching
// [chronicle.ErrInvalidEvent]. A value that only starts as one does,
// such as a map whose first key is "$shredded", is encrypted as any
// other. A personal value that is null, or an empty
// string that is its own subject, holds nothing personal and is kept as
// it is; a subject field that is null or empty is refused, as a missing
// one is, since the values of unrelated people would otherwise share
// one key.
//
// Fields written before $key existed have none, and there the two cases
// cannot be told apart: a wrong key and a damaged ciphertext both fail
// authentication. Such a field reads as forgotten when its subject's key
// fails to open it, since the one failure that normal use leads to is a
// subject forgotten and keyed again; a field too short to be a
// ciphertext at all is still an error.
//
// Reads decrypt the encrypted fields under the exact names of personal
// fields, and leave other keys as they are, but for one case: a field
// that an append encrypted under a key that differs from a personal
// field's name only in case, before appends refused such keys, reads
// decrypted too, as the field of that name.
//
// # Snapshots kept before the Store kept them
//
// Before the Store kept snapshots, a repository over it kept them in the
// store beneath (Snapshots.Store), in the clear: they may hold the
// values of subjects forgotten since. The Store tells its own snapshots
// by their type, and reads no other: not even those that it kept itself
// in the clear (of streams without encrypted fields) before it gave them
// that type. A stream with such a snapshot replays from its
// events until it takes one through the Store, and the Store replaces
// the old snapshot with an empty one when a load or a save meets it (see
// [Store.LoadSnapshot]). Forget cannot find them: it knows the subject,
// not the streams that hold its fields, and only reading every stream's
// snapshot would tell. To remove them all after upgrading, load the
// snapshot of every stream through the Store (a [chronicle.StreamLister]
// lists them). The store beneath keeps no snapshot at a revision that
// reads hide, so one after which its stream was pruned is replaced at
// the first revision after it that reads show; of a stream whose reads
// hide every event, none can be kept, and the old one stays until the
// stream has an event to show. A stream pruned after such a snapshot
// loads from the events that reads still show, without what the hidden
// ones did, and when the schema names personal fields it takes no
// snapshot through the Store, as for any hidden events that no snapshot
// of its own covers: whose values they held cannot be read.
//
// # Snapshots sealed before version 2 of their key
//
// The key that seals a snapshot is derived from the keys of its
// subjects. Before version 2, which the snapshot kept beneath names
// ($key_version), the keys were hashed joined as they are, so that keys
// of other lengths could give the same bytes ("ab"+"c" and "a"+"bc"),
// and a snapshot could open with the keys of other subjects than its
// own. Version 2 puts each key's length before it, and labels the
// whole with the version. A snapshot sealed before is still read where
// every key of its subjects is [KeySize] bytes long, as all those of
// [MemoryKeys] and [SQLKeys] are: keys of one length join to the same
// bytes only when they are the same. That holds only if the keys that
// sealed it were of that length too, which the Store cannot check once
// one of them is forgotten: with a [KeyStore] of your own that gave
// some subjects keys of 16 or 24 bytes (AES takes them too), a snapshot
// of two subjects with keys of 16 bytes, its list of subjects changed
// to one whose key is those two joined, would still open. Keys drawn at
// random, as they must be, are never so joined. Where a key is not
// [KeySize] bytes long, the Store finds no snapshot, and the stream
// replays from its events: one pruned after that snapshot loads without
// what the hidden events did. The next snapshot saved through the Store
// replaces it. A program built with an earlier version of this package
// finds no snapshot in one sealed with version 2, and replays.
package shred

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"reflect"
	"slices"
	"strings"
	"unicode"

	"github.com/chronicle-es/chronicle"
)

// Forgotten is what a personal string field reads as once its subject is
// forgotten. Fields of other JSON types read as null, and so do those of
// Go types that would fail to decode the text (a time, a UUID, bytes,
// a string with json's ",string" option): the event still decodes.
const Forgotten = "[forgotten]"

// Encrypted is what a personal string field written encrypted reads as
// through a store without keys ([NewDecrypting] given none): its value is
// there, but that store cannot read it, nor tell whether its subject was
// forgotten. Fields read as null where they would as forgotten (see
// [Forgotten]).
const Encrypted = "[encrypted]"

// Field is one personal field of an event type.
type Field struct {
	// Name is the field's JSON name. A key of an event is the field
	// under exactly this name only. encoding/json decodes a key that
	// differs from it only in case into the field too, so an append
	// refuses such a key, unless it is exactly the JSON name of another
	// field of the type, which it then is.
	Name string
	// Subject is the JSON name of the field that names the field's data
	// subject; empty when the field is its own subject. The subject is
	// read from the key of exactly this name; an append refuses a key
	// that differs from it only in case, as it does for Name.
	Subject string
}

// Type lists the personal fields of one event type. Make it with [Of].
type Type struct {
	Name   string
	Fields []Field
	other  []string // JSON names of the type's fields that are not personal
	opaque []string // JSON names of personal fields whose Go type decodes no placeholder (see takesText)
	err    error
}

// Of reads the personal fields of T, stored as events named name, from
// its struct tags: `chronicle:"personal"` or
// `chronicle:"personal,subject=json_name"`. The fields of a struct that T
// embeds without a JSON name are T's own, as encoding/json writes them,
// and as there a field hides those of the same JSON name that are
// embedded deeper: it alone is personal or not, as its own tag says.
// A tag on a field deeper in (inside a struct, pointer, slice or map
// field) is an error that [NewSchema] returns: such a field would stay
// in the clear, so mark the field that holds it personal instead. So is
// a tag on a field that encoding/json leaves out (unexported, or tagged
// json:"-").
//
// A key of an event is a personal field only under the field's exact
// JSON name, and a subject is read only from its exact JSON name: an
// append refuses a key that differs from either only in case (see
// [Field]).
func Of[T any](name string) Type {
	t := Type{Name: name}
	rt := reflect.TypeFor[T]()
	for rt.Kind() == reflect.Pointer {
		rt = rt.Elem()
	}
	if rt.Kind() != reflect.Struct {
		t.err = fmt.Errorf("shred: %v (event type %q) is not a struct", rt, name)
		return t
	}
	var found []jsonField
	if t.err = fieldsOf(rt, nil, &found); t.err != nil {
		return t
	}
	// encoding/json writes, of the fields of one JSON name, the one
	// embedded least deep; of several as deep, the one whose name comes
	// from its json tag, and none if that leaves more than one.
	var names []string
	byName := map[string][]jsonField{}
	for _, f := range found {
		if byName[f.Name] == nil {
			names = append(names, f.Name)
		}
		byName[f.Name] = append(byName[f.Name], f)
	}
	for _, n := range names {
		f, ok := dominant(byName[n])
		switch {
		case !ok:
		case f.personal:
			t.Fields = append(t.Fields, f.Field)
			if f.opaque {
				t.opaque = append(t.opaque, n)
			}
		default:
			t.other = append(t.other, n)
		}
	}
	return t
}

// jsonField is a field that encoding/json writes at the top level of an
// event's object, unless another of the same name hides it.
type jsonField struct {
	Field         // Subject set when personal
	depth    int  // how many embedded structs deep
	tagged   bool // its JSON name comes from a json tag
	personal bool
	opaque   bool // personal, and its Go type decodes no placeholder (see takesText)
}

// dominant returns the field of fields, all of one JSON name, that
// encoding/json writes, if any.
func dominant(fields []jsonField) (jsonField, bool) {
	depth := slices.MinFunc(fields, func(a, b jsonField) int { return a.depth - b.depth }).depth
	var top, tagged []jsonField
	for _, f := range fields {
		if f.depth == depth {
			top = append(top, f)
			if f.tagged {
				tagged = append(tagged, f)
			}
		}
	}
	switch {
	case len(top) == 1:
		return top[0], true
	case len(tagged) == 1:
		return tagged[0], true
	}
	return jsonField{}, false
}

// fieldsOf adds to found the fields of struct type rt that encoding/json
// writes, with those of the structs it embeds, which it puts at the top
// level of the object too. outer lists the structs that embed rt, so
// that a type that embeds itself (type T struct{ *T }) is read once, not
// forever.
func fieldsOf(rt reflect.Type, outer []reflect.Type, found *[]jsonField) error {
	if slices.Contains(outer, rt) {
		return nil
	}
	outer = append(outer, rt)
	for i := range rt.NumField() {
		f := rt.Field(i)
		tag, ok := f.Tag.Lookup("chronicle")
		if skipped(f) {
			if ok {
				return fmt.Errorf("shred: %v.%s: encoding/json leaves the field out, unexported or tagged json:\"-\", so its chronicle tag would do nothing: remove the tag, or have the field written", rt, f.Name)
			}
			continue
		}
		if embedded := promoted(f); embedded != nil {
			if ok {
				return fmt.Errorf("shred: %v.%s: an embedded struct cannot be marked personal, since encoding/json writes its fields in the event's object: mark its fields personal, or give it a JSON name", rt, f.Name)
			}
			if err := fieldsOf(embedded, outer, found); err != nil {
				return err
			}
			continue
		}
		jf := jsonField{Field: Field{Name: jsonName(f)}, depth: len(outer) - 1, tagged: jsonTagged(f)}
		if !ok {
			// Only top-level fields are encrypted: a tag deeper in
			// would leave its value in the clear without a word.
			if inner := taggedInside(f.Type, map[reflect.Type]bool{}); inner != "" {
				return fmt.Errorf("shred: %v.%s: %s has a chronicle tag, but personal fields must be top-level fields of the event (or of a struct it embeds): mark %s personal instead, which encrypts it whole", rt, f.Name, inner, f.Name)
			}
			*found = append(*found, jf)
			continue
		}
		parts := strings.Split(tag, ",")
		if parts[0] != "personal" {
			return fmt.Errorf("shred: %v.%s: unknown chronicle tag %q: want personal or personal,subject=FIELD", rt, f.Name, tag)
		}
		jf.personal, jf.opaque = true, !takesText(f)
		for _, p := range parts[1:] {
			subject, ok := strings.CutPrefix(p, "subject=")
			if !ok || subject == "" {
				return fmt.Errorf("shred: %v.%s: unknown option %q in chronicle tag", rt, f.Name, p)
			}
			jf.Subject = subject
		}
		*found = append(*found, jf)
	}
	return nil
}

// takesText reports whether encoding/json decodes a JSON string such as
// [Forgotten] into field f: a string or an empty interface, or a pointer
// to one, without a method of its own to decode it, nor a string with
// the ",string" option, which expects JSON quoted in a JSON string.
func takesText(f reflect.StructField) bool {
	t := f.Type
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t.Kind() == reflect.Interface:
		return t.NumMethod() == 0
	case t.Kind() != reflect.String:
		return false
	}
	_, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
	if slices.Contains(strings.Split(opts, ","), "string") {
		return false
	}
	p := reflect.PointerTo(t)
	return !p.Implements(reflect.TypeFor[json.Unmarshaler]()) && !p.Implements(reflect.TypeFor[encoding.TextUnmarshaler]())
}

// skipped reports whether encoding/json leaves field f out: an
// unexported field, but for an embedded struct (whose exported fields
// it writes), or one tagged json:"-".
func skipped(f reflect.StructField) bool {
	if f.Tag.Get("json") == "-" {
		return true
	}
	if f.Anonymous {
		t := f.Type
		if t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		return !f.IsExported() && t.Kind() != reflect.Struct
	}
	return !f.IsExported()
}

// promoted returns the struct whose fields encoding/json writes in place
// of field f: that of an embedded struct, or pointer to one, without a
// JSON name. It returns nil for other fields.
func promoted(f reflect.StructField) reflect.Type {
	if name, _, _ := strings.Cut(f.Tag.Get("json"), ","); !f.Anonymous || name != "" {
		return nil // "-" too: encoding/json skips the field
	}
	t := f.Type
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	return t
}

// taggedInside returns the name of a field with a chronicle tag inside
// values of type rt (a struct, or a pointer, slice, array or map of
// them), as Type.Field, or "". seen holds the structs looked at, so that
// a recursive type is looked at once.
func taggedInside(rt reflect.Type, seen map[reflect.Type]bool) string {
	for rt.Kind() == reflect.Pointer || rt.Kind() == reflect.Slice || rt.Kind() == reflect.Array || rt.Kind() == reflect.Map {
		rt = rt.Elem()
	}
	if rt.Kind() != reflect.Struct || seen[rt] {
		return ""
	}
	seen[rt] = true
	for i := range rt.NumField() {
		f := rt.Field(i)
		if _, ok := f.Tag.Lookup("chronicle"); ok {
			return rt.String() + "." + f.Name
		}
		if inner := taggedInside(f.Type, seen); inner != "" {
			return inner
		}
	}
	return ""
}

// jsonName returns the name encoding/json gives a struct field.
func jsonName(f reflect.StructField) string {
	if jsonTagged(f) {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		return name
	}
	return f.Name
}

// jsonTagged reports whether field f's JSON name comes from its json tag:
// encoding/json ignores a name in the tag that holds other characters
// than letters, digits and the punctuation it allows, and writes the
// field under its Go name, where a personal field must be looked for.
func jsonTagged(f reflect.StructField) bool {
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	if name == "" {
		return false
	}
	for _, c := range name {
		if !unicode.IsLetter(c) && !unicode.IsDigit(c) && !strings.ContainsRune("!#$%&()*+-./:;<=>?@[]^_{|}~ ", c) {
			return false
		}
	}
	return true
}

// Schema maps event types to their personal fields.
type Schema struct {
	types map[string]eventType
}

// personal reports whether events of some type hold personal fields:
// only those may hold encrypted ones.
func (s *Schema) personal() bool {
	for _, t := range s.types {
		if len(t.fields) > 0 {
			return true
		}
	}
	return false
}

// eventType is what a Schema knows of an event type.
type eventType struct {
	fields []Field
	other  map[string]bool // JSON names of the type's fields that are not personal
	opaque map[string]bool // JSON names of personal fields whose Go type decodes no placeholder
}

// NewSchema checks the types and returns their schema.
func NewSchema(types ...Type) (*Schema, error) {
	s := &Schema{types: map[string]eventType{}}
	for _, t := range types {
		if t.err != nil {
			return nil, t.err
		}
		if _, dup := s.types[t.Name]; dup {
			return nil, fmt.Errorf("shred: event type %q is given twice", t.Name)
		}
		et := eventType{fields: t.Fields, other: map[string]bool{}, opaque: map[string]bool{}}
		for _, n := range t.other {
			et.other[n] = true
		}
		for _, n := range t.opaque {
			et.opaque[n] = true
		}
		s.types[t.Name] = et
	}
	return s, nil
}

// KeyStore keeps one key per data subject. Subjects reach it as SHA-256
// hashes, never in the clear.
type KeyStore interface {
	// Key returns the subject's key, of [KeySize] bytes for AES-256 (AES
	// takes keys of 16 or 24 bytes too). When it has none, it creates
	// one if create is set, and else returns nil and no error. The caller
	// may keep the slice: the key store must not change it later, in
	// Forget or elsewhere.
	Key(ctx context.Context, subject string, create bool) ([]byte, error)
	// Forget deletes the subject's key, for good. Should it delete the
	// key but leave a copy of it on disk, it returns an error matching
	// [ErrKeyOnDisk]; called again, it erases the copy.
	Forget(ctx context.Context, subject string) error
}

// ErrKeyOnDisk means that a Forget deleted the subject's key, so that the
// subject's fields read as [Forgotten] from then on, but could not erase
// every copy of the key from the disk: [SQLKeys] on the embedded store,
// whose write-ahead log keeps the deleted key until it is emptied, which
// long reads delay. Call Forget again once they are done: it erases what
// is left.
var ErrKeyOnDisk = errors.New("shred: the key is deleted, but a copy of it is still on disk")

// Ref returns how a subject is named to the [KeyStore] and in the
// encrypted fields: the hex SHA-256 of the subject.
func Ref(subject string) string {
	sum := sha256.Sum256([]byte(subject))
	return hex.EncodeToString(sum[:])
}

// Store is a [chronicle.Store] that encrypts the personal fields of the
// events appended to it, and decrypts them when they are read.
//
// It has the optional abilities of a [chronicle.Store] whatever the store
// it wraps, since its type cannot depend on that store's: finding events
// ([chronicle.EventFinder]), stream metadata ([chronicle.Retention]),
// deletes ([chronicle.Deleter]), scavenges ([chronicle.Scavenger]) and
// stream lists ([chronicle.StreamLister]) are passed on to the store
// beneath, which they carry no personal data to or from, and so are
// snapshots ([chronicle.SnapshotStore]), which it encrypts (see
// [Store.SaveSnapshot]); where the store beneath lacks the ability, they
// return an error matching [errors.ErrUnsupported], which the chronicle
// module's callers take for the ability absent. Transactions are the
// store beneath's, which [Store.Unwrap] returns.
type Store struct {
	inner  chronicle.Store
	keys   KeyStore // nil: encrypted fields read as [Encrypted]
	schema *Schema
	clear  bool // appends are stored as they are given
}

var _ chronicle.Store = (*Store)(nil)

// New wraps inner so that the fields schema names are encrypted with
// keys from keys. None of them may be nil: New panics, as a program
// that would otherwise fail at its first append or read.
func New(inner chronicle.Store, keys KeyStore, schema *Schema) *Store {
	if inner == nil || keys == nil || schema == nil {
		panic("shred.New: the store, the key store and the schema must not be nil")
	}
	return &Store{inner: inner, keys: keys, schema: schema}
}

// NewDecrypting wraps inner so that the events appended to it are stored
// as they are given, their personal fields in the clear, while the
// fields schema names that were stored encrypted (by a store of [New]
// over the same events) are decrypted when read, with keys from keys, as
// New's store decrypts them. With keys nil it has none, and such fields
// read as [Encrypted]. Its Forget needs keys, and erases only the fields
// stored encrypted. It panics if inner or schema is nil.
func NewDecrypting(inner chronicle.Store, keys KeyStore, schema *Schema) *Store {
	if inner == nil || schema == nil {
		panic("shred.NewDecrypting: the store and the schema must not be nil")
	}
	return &Store{inner: inner, keys: keys, schema: schema, clear: true}
}

// Unwrap returns the store that s wraps, which holds the encrypted events.
func (s *Store) Unwrap() chronicle.Store { return s.inner }

// Forget forgets subject: its personal fields read as [Forgotten] from
// now on, in every event, wherever they were copied. An error matching
// [ErrKeyOnDisk] means that they do, but that a copy of the key is still
// on disk: call Forget again to erase it.
func (s *Store) Forget(ctx context.Context, subject string) error {
	if s.keys == nil {
		return errors.New("forget subject: this store has no keys")
	}
	if err := s.keys.Forget(ctx, Ref(subject)); err != nil {
		return fmt.Errorf("forget subject: %w", err)
	}
	return nil
}

// envelope is an encrypted field as stored.
type envelope struct {
	Cipher  []byte `json:"$shredded"`      // nonce, then ciphertext
	Subject string `json:"$subject"`       // Ref of the subject
	KeyID   string `json:"$key,omitempty"` // keyID of the key; empty in fields written before it
	String  bool   `json:"$string,omitempty"`
}

// keyID names a key in the fields encrypted with it, so that a read can
// tell a field whose key was forgotten and replaced by a new one (same
// subject) from a field that is damaged. It is a hash of the key with a
// label of its own, so that it gives nothing away that could help find
// the key, and cannot match a hash of the key made for another use.
func keyID(key []byte) string {
	h := sha256.New()
	h.Write([]byte("chronicle shred key ID\x00"))
	h.Write(key)
	return hex.EncodeToString(h.Sum(nil)[:keyIDSize])
}

// keyIDSize is how many bytes of its hash name a key.
const keyIDSize = 8

// The sizes of the nonce and of the tag of the AES-GCM that seal uses
// (cipher.NewGCM's), between which the sealed text lies.
const gcmNonceSize, gcmOverhead = 12, 16

// Append implements [chronicle.Store.Append]: it encrypts, then appends;
// a store of [NewDecrypting] appends the events as they are. An event
// without a personal value to encrypt is appended byte for byte as it
// was given.
func (s *Store) Append(ctx context.Context, stream string, expected chronicle.ExpectedRevision, events ...chronicle.EventData) (chronicle.AppendResult, error) {
	if s.clear {
		return s.inner.Append(ctx, stream, expected, events...)
	}
	out := make([]chronicle.EventData, len(events))
	for i, e := range events {
		if t := s.schema.types[e.Type]; len(t.fields) > 0 {
			data, err := s.encrypt(ctx, e.Type, e.Data, t)
			if err != nil {
				return chronicle.AppendResult{}, fmt.Errorf("append to %q: event %d (%s): %w", stream, i, e.Type, err)
			}
			e.Data = data
		}
		out[i] = e
	}
	return s.inner.Append(ctx, stream, expected, out...)
}

func (s *Store) encrypt(ctx context.Context, eventType string, data []byte, t eventType) ([]byte, error) {
	o, err := parseObject(data)
	if err != nil {
		return nil, fmt.Errorf("%w: personal fields need a JSON object: %w", chronicle.ErrInvalidEvent, err)
	}
	obj := o.vals
	// Every subject is read before any field is sealed: a subject field
	// can be personal itself, and sealed first it would leave the text
	// of its envelope as the subject of the fields that name it, a
	// subject that nobody can forget.
	type sealing struct {
		field   Field
		subject string
	}
	var todo []sealing
	for _, key := range o.keys {
		f, ok, err := t.field(key)
		switch {
		case err != nil:
			return nil, err
		case !ok:
		case sealed(obj[key]):
			if err := s.checkSealed(ctx, eventType, f, obj[key]); err != nil {
				return nil, err
			}
		case !empty(f, obj[key]):
			todo = append(todo, sealing{field: f})
		}
	}
	if len(todo) == 0 {
		// Nothing personal to seal: the event is stored as it was
		// given, not written again.
		return data, nil
	}
	for i, w := range todo {
		if todo[i].subject, err = subjectOf(o, w.field); err != nil {
			return nil, err
		}
	}
	for _, w := range todo {
		raw := obj[w.field.Name]
		key, err := s.keys.Key(ctx, Ref(w.subject), true)
		if err != nil {
			return nil, fmt.Errorf("key for field %q: %w", w.field.Name, err)
		}
		ct, err := seal(key, raw, aad(eventType, w.field.Name))
		if err != nil {
			return nil, err
		}
		env, err := json.Marshal(envelope{Cipher: ct, Subject: Ref(w.subject), KeyID: keyID(key), String: bytes.HasPrefix(raw, []byte(`"`))})
		if err != nil {
			return nil, err
		}
		obj[w.field.Name] = env
	}
	return o.marshal(), nil
}

// checkSealed makes sure that raw, an encrypted field that an append
// keeps as it is, opens as field f of an event of type eventType where
// its subject's key is there to tell, as a read would: kept, one moved
// from another field or event type, or damaged, would make every read
// of its event fail. Where the key is gone, the field reads as
// forgotten, and is kept.
func (s *Store) checkSealed(ctx context.Context, eventType string, f Field, raw json.RawMessage) error {
	d := &decrypter{s: s}
	_, err := d.field(ctx, eventType, f.Name, false, raw)
	switch {
	case errors.Is(err, errNotAuthentic):
		return fmt.Errorf("%w: field %q is encrypted already, but its subject's key does not open it as that field of a %s event: it was damaged, or encrypted for another field or event type: give its value in the clear instead", chronicle.ErrInvalidEvent, f.Name, eventType)
	case err != nil:
		return fmt.Errorf("check encrypted field %q: %w", f.Name, err)
	}
	return nil
}

// field returns the personal field that key, a key of an event's JSON
// object, is: the one of exactly that JSON name. encoding/json decodes a
// key that differs from a field's JSON name only in case into the field
// all the same, unless another field has exactly that name: rather than
// follow it further, and store a personal value in the clear, or read a
// subject from a key the field does not name, an append refuses such a
// key, with an error that says how to write it.
func (t eventType) field(key string) (Field, bool, error) {
	for _, f := range t.fields {
		if f.Name == key {
			return f, true, nil
		}
	}
	if t.other[key] {
		return Field{}, false, nil
	}
	for _, f := range t.fields {
		if strings.EqualFold(key, f.Name) {
			return Field{}, false, fmt.Errorf("%w: key %q differs only in case from %q, the JSON name of a personal field, which is encrypted under its exact name only: write it as %q", chronicle.ErrInvalidEvent, key, f.Name, f.Name)
		}
		if key != f.Subject && strings.EqualFold(key, f.Subject) {
			return Field{}, false, fmt.Errorf("%w: key %q differs only in case from %q, the JSON name of the subject field of personal field %q, whose subject is read under its exact name only: write it as %q", chronicle.ErrInvalidEvent, key, f.Subject, f.Name, f.Subject)
		}
	}
	return Field{}, false, nil
}

// sealedAs returns the personal field whose name an envelope found under
// key was sealed with: the field of exactly that name, or else, for
// envelopes that an append wrote under a key that differs from a field's
// name only in case, before such keys were refused, the first field
// whose name equals key but for case. An envelope says that it is one,
// and its ciphertext opens only as the field it was sealed for, so
// decrypting one found under such a key cannot give another's value.
func (t eventType) sealedAs(key string) (Field, bool) {
	for _, f := range t.fields {
		if f.Name == key {
			return f, true
		}
	}
	for _, f := range t.fields {
		if strings.EqualFold(f.Name, key) {
			return f, true
		}
	}
	return Field{}, false
}

// maySeal reports whether data, an event's of type t, may hold
// encrypted fields: t has personal fields, and data mentions an
// envelope. It spares parsing the events that cannot.
func (t eventType) maySeal(data []byte) bool {
	return len(t.fields) > 0 && bytes.Contains(data, []byte(`"$shredded"`))
}

// sealedField returns the personal field that raw, found under key in an
// event of type t, holds encrypted, and false when raw is no envelope or
// key names no personal field (see sealedAs). Reads decrypt, and
// snapshots are sealed with the subjects of, the same fields.
func (t eventType) sealedField(key string, raw json.RawMessage) (Field, bool) {
	if !isEnvelope(raw) {
		return Field{}, false
	}
	return t.sealedAs(key)
}

// empty reports whether raw, the value of the personal field f, holds
// nothing personal: null, or an empty string that is its own subject.
// It is stored as it is: sealed, it would need a key of the subject
// "null" or "", which would belong to nobody.
func empty(f Field, raw []byte) bool {
	raw = bytes.TrimSpace(raw)
	return string(raw) == "null" || f.Subject == "" && string(raw) == `""`
}

// subjectOf returns the subject that the value of o's personal field f
// belongs to: its own value, or that of f's subject field, under
// exactly its name. A subject field that is null or "" is refused, as a
// missing one is: the values of unrelated people would share its key.
func subjectOf(o *object, f Field) (string, error) {
	raw := o.vals[f.Name]
	if f.Subject != "" {
		var ok bool
		if raw, ok = o.vals[f.Subject]; !ok {
			return "", fmt.Errorf("%w: field %q: the subject field %q is missing", chronicle.ErrInvalidEvent, f.Name, f.Subject)
		}
		// Already encrypted (the event was read from the store
		// underneath, say): its subject cannot be read any more.
		if sealed(raw) {
			return "", fmt.Errorf("%w: field %q: the subject field %q is encrypted already, so the field's subject is unknown: give the subject in the clear, or the field encrypted too", chronicle.ErrInvalidEvent, f.Name, f.Subject)
		}
	}
	var subject string
	if err := json.Unmarshal(raw, &subject); err != nil {
		// A number or other value names its subject by its JSON text.
		subject = string(raw)
	}
	// null decodes to "" too.
	if f.Subject != "" && subject == "" {
		return "", fmt.Errorf("%w: field %q: the subject field %q is empty: give the subject that the value belongs to", chronicle.ErrInvalidEvent, f.Name, f.Subject)
	}
	return subject, nil
}

// aad binds a ciphertext to the field it was written for, so that it
// cannot be moved to another field or event type and still decrypt.
func aad(eventType, field string) []byte { return []byte(eventType + "\x00" + field) }

func seal(key, plaintext, additional []byte) ([]byte, error) {
	gcm, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, gcm.NonceSize(), gcm.NonceSize()+len(plaintext)+gcm.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return gcm.Seal(nonce, nonce, plaintext, additional), nil
}

// errNotAuthentic is open's error for a ciphertext that fails
// authentication: the key is not the one it was sealed with, or the
// ciphertext, or its field, is not the one sealed.
var errNotAuthentic = errors.New("message authentication failed")

func open(key, sealed, additional []byte) ([]byte, error) {
	gcm, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	if len(sealed) < gcm.NonceSize()+gcm.Overhead() {
		return nil, errors.New("encrypted field too short")
	}
	plain, err := gcm.Open(nil, sealed[:gcm.NonceSize()], sealed[gcm.NonceSize():], additional)
	if err != nil {
		return nil, errNotAuthentic
	}
	return plain, nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("key: %w", err)
	}
	return cipher.NewGCM(block)
}

func isEnvelope(raw json.RawMessage) bool {
	return bytes.HasPrefix(bytes.TrimSpace(raw), []byte(`{"$shredded"`))
}

// sealed reports whether raw, a value given to an append, is an
// encrypted field already (of an event read from the store underneath
// and appended again), which the append keeps as it is. A value that
// only starts as one does (a personal map whose first key is
// "$shredded", say) is a value like any other, to be encrypted: kept as
// it is, it would stay in the clear for good, and fail every read of its
// event.
func sealed(raw json.RawMessage) bool {
	if !isEnvelope(raw) {
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var env envelope
	if dec.Decode(&env) != nil {
		return false
	}
	return len(env.Cipher) >= gcmNonceSize+gcmOverhead && isHex(env.Subject, sha256.Size) &&
		(env.KeyID == "" || isHex(env.KeyID, keyIDSize))
}

// isHex reports whether s is n bytes in lowercase hex, as [Ref] and
// keyID write them.
func isHex(s string, n int) bool {
	b, err := hex.DecodeString(s)
	return err == nil && len(b) == n && hex.EncodeToString(b) == s
}

// decrypter decrypts the events of one read. With a cache it keeps the
// keys it has looked up, by ref (nil for a forgotten subject).
type decrypter struct {
	s    *Store
	keys map[string][]byte
}

// event returns e decrypted, or a zero event and the error, as a
// [chronicle.Store]'s read yields an error.
func (d *decrypter) event(ctx context.Context, e chronicle.RecordedEvent) (chronicle.RecordedEvent, error) {
	t := d.s.schema.types[e.Type]
	if !t.maySeal(e.Data) {
		return e, nil
	}
	o, err := parseObject(e.Data)
	if err != nil {
		return chronicle.RecordedEvent{}, fmt.Errorf("decrypt %s@%d in %q: %w", e.Type, e.Revision, e.Stream, err)
	}
	obj := o.vals
	for _, name := range o.keys {
		raw := obj[name]
		f, ok := t.sealedField(name, raw)
		if !ok {
			continue
		}
		if obj[name], err = d.field(ctx, e.Type, f.Name, t.opaque[f.Name], raw); err != nil {
			return chronicle.RecordedEvent{}, fmt.Errorf("decrypt %s@%d in %q: field %q: %w", e.Type, e.Revision, e.Stream, name, err)
		}
	}
	e.Data = o.marshal()
	return e, nil
}

// field returns the value of field name, stored encrypted as raw, of an
// event of type eventType; opaque says that the field's Go type decodes
// no placeholder string (see placeholder).
func (d *decrypter) field(ctx context.Context, eventType, name string, opaque bool, raw json.RawMessage) (json.RawMessage, error) {
	var env envelope
	if err := json.Unmarshal(raw, &env); err != nil {
		return nil, err
	}
	if d.s.keys == nil {
		// A store without keys cannot tell whether the subject was
		// forgotten: the field reads as encrypted, not as forgotten.
		return placeholder(env, Encrypted, opaque), nil
	}
	key, ok := d.keys[env.Subject]
	if !ok {
		var err error
		if key, err = d.s.keys.Key(ctx, env.Subject, false); err != nil {
			return nil, err
		}
		if d.keys != nil {
			d.keys[env.Subject] = key
		}
	}
	// A key that is not the field's belongs to a subject forgotten and
	// named again since: the field's key is gone all the same.
	if key == nil || env.KeyID != "" && env.KeyID != keyID(key) {
		return placeholder(env, Forgotten, opaque), nil
	}
	plain, err := open(key, env.Cipher, aad(eventType, name))
	if errors.Is(err, errNotAuthentic) && env.KeyID == "" {
		// Written before $key: a key replaced after a Forget, the one
		// failure that normal use leads to, cannot be told from a
		// damaged field (see the package documentation).
		return placeholder(env, Forgotten, opaque), nil
	}
	return plain, err
}

// placeholder returns what a field that cannot be read reads as: text
// ([Forgotten] or [Encrypted]) when it held a JSON string and its Go
// type decodes text, else null, which every Go type decodes. A time, a
// UUID or bytes, say, would fail to decode text, and with them the
// whole event, which is to be read on without the field.
func placeholder(env envelope, text string, opaque bool) json.RawMessage {
	if env.String && !opaque {
		return json.RawMessage(`"` + text + `"`)
	}
	return json.RawMessage(`null`)
}

// decrypted wraps a read so that its events come out decrypted. A read
// that ends keeps the keys it used; a subscription, which may run for
// days, looks each key up again, so that a subject forgotten meanwhile is
// forgotten at once.
func (s *Store) decrypted(ctx context.Context, seq iter.Seq2[chronicle.RecordedEvent, error], cache bool) iter.Seq2[chronicle.RecordedEvent, error] {
	return func(yield func(chronicle.RecordedEvent, error) bool) {
		d := &decrypter{s: s}
		if cache {
			d.keys = map[string][]byte{}
		}
		for e, err := range seq {
			if err == nil {
				e, err = d.event(ctx, e)
			}
			if !yield(e, err) || err != nil {
				return
			}
		}
	}
}

// ReadStream implements [chronicle.Store.ReadStream].
func (s *Store) ReadStream(ctx context.Context, stream string, opts chronicle.ReadStreamOptions) iter.Seq2[chronicle.RecordedEvent, error] {
	return s.decrypted(ctx, s.inner.ReadStream(ctx, stream, opts), true)
}

// ReadAll implements [chronicle.Store.ReadAll].
func (s *Store) ReadAll(ctx context.Context, opts chronicle.ReadAllOptions) iter.Seq2[chronicle.RecordedEvent, error] {
	return s.decrypted(ctx, s.inner.ReadAll(ctx, opts), true)
}

// Subscribe implements [chronicle.Store.Subscribe].
func (s *Store) Subscribe(ctx context.Context, opts chronicle.SubscribeOptions) iter.Seq2[chronicle.RecordedEvent, error] {
	return s.decrypted(ctx, s.inner.Subscribe(ctx, opts), false)
}
