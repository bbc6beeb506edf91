package storetest

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/internal/stress"
	"github.com/google/uuid"
)

func testAppend(t *testing.T, newStore Factory) {
	t.Run("NewStream", func(t *testing.T) {
		s := newStore(t)
		id := uuid.Must(uuid.NewV7())
		in := []chronicle.EventData{
			{ID: id, Type: "Opened", Data: []byte(`{"owner":"ada"}`),
				Metadata: chronicle.Metadata{}.WithCorrelationID("c-1").WithCausationID("c-0")},
			{Type: "Deposited", Data: []byte(`{"amount":10}`)},
			{Type: "Empty"},
		}
		before := time.Now().UTC().Add(-time.Second)
		res := mustAppend(t, s, "account-1", chronicle.NoStream, in...)
		after := time.Now().UTC().Add(time.Second)
		want := chronicle.AppendResult{FirstRevision: 0, LastRevision: 2, FirstPosition: 1, LastPosition: 3}
		if res != want {
			t.Fatalf("AppendResult = %+v, want %+v", res, want)
		}
		got := readStream(t, s, "account-1", chronicle.ReadStreamOptions{})
		if len(got) != len(in) {
			t.Fatalf("read %d events, want %d", len(got), len(in))
		}
		for i, e := range got {
			if e.Stream != "account-1" || e.Revision != uint64(i) || e.Position != uint64(i+1) {
				t.Errorf("event %d: stream %q revision %d position %d, want %q %d %d", i, e.Stream, e.Revision, e.Position, "account-1", i, i+1)
			}
			if e.Type != in[i].Type || !bytes.Equal(e.Data, in[i].Data) || !maps.Equal(e.Metadata, in[i].Metadata) {
				t.Errorf("event %d = %s %s %v, want %s %s %v", i, e.Type, e.Data, e.Metadata, in[i].Type, in[i].Data, in[i].Metadata)
			}
			if e.Recorded.Location() != time.UTC || e.Recorded.Before(before) || e.Recorded.After(after) {
				t.Errorf("event %d recorded at %v, want UTC between %v and %v", i, e.Recorded, before, after)
			}
			if e.Recorded.Nanosecond()%1000 != 0 {
				t.Errorf("event %d recorded at %v, want microsecond precision", i, e.Recorded)
			}
		}
		if got[0].ID != id {
			t.Errorf("event 0 ID = %s, want the given %s", got[0].ID, id)
		}
		for i, e := range got[1:] {
			if e.ID.Version() != 7 {
				t.Errorf("event %d: generated ID %s is not a UUIDv7", i+1, e.ID)
			}
		}
		if got[0].Metadata.CorrelationID() != "c-1" || got[0].Metadata.CausationID() != "c-0" {
			t.Errorf("metadata = %v, want correlation c-1 and causation c-0", got[0].Metadata)
		}
	})

	t.Run("ExpectedRevision", func(t *testing.T) {
		// The stream "s" holds two events (revisions 0 and 1) when each
		// case runs; "new" holds none.
		tests := []struct {
			stream   string
			expected chronicle.ExpectedRevision
			ok       bool
		}{
			{"new", chronicle.Any, true},
			{"new", chronicle.NoStream, true},
			{"new", chronicle.StreamExists, false},
			{"new", chronicle.Exact(0), false},
			{"s", chronicle.Any, true},
			{"s", chronicle.NoStream, false},
			{"s", chronicle.StreamExists, true},
			{"s", chronicle.Exact(1), true},
			{"s", chronicle.Exact(0), false},
			{"s", chronicle.Exact(2), false},
		}
		for _, tt := range tests {
			t.Run(tt.stream+"/"+tt.expected.String(), func(t *testing.T) {
				s := newStore(t)
				mustAppend(t, s, "s", chronicle.NoStream, events("E", 2)...)
				actual := chronicle.NoStream
				if tt.stream == "s" {
					actual = chronicle.Exact(1)
				}
				res, err := s.Append(context.Background(), tt.stream, tt.expected, event("X", 0))
				if tt.ok {
					if err != nil {
						t.Fatalf("Append: %v", err)
					}
					wantRev := uint64(0)
					if tt.stream == "s" {
						wantRev = 2
					}
					if res.FirstRevision != wantRev || res.LastRevision != wantRev || res.LastPosition != 3 {
						t.Fatalf("AppendResult = %+v, want revision %d at position 3", res, wantRev)
					}
					return
				}
				wantErr(t, "Append", err, chronicle.ErrWrongExpectedRevision)
				var wrong *chronicle.WrongExpectedRevisionError
				if !errors.As(err, &wrong) {
					t.Fatalf("errors.As(%v, *WrongExpectedRevisionError) = false", err)
				}
				if wrong.Stream != tt.stream || wrong.Expected != tt.expected || wrong.Actual != actual {
					t.Fatalf("error = {%q %s %s}, want {%q %s %s}", wrong.Stream, wrong.Expected, wrong.Actual, tt.stream, tt.expected, actual)
				}
				if n := len(readAll(t, s, chronicle.ReadAllOptions{})); n != 2 {
					t.Fatalf("a refused append left %d events in the log, want 2", n)
				}
			})
		}
	})

	t.Run("AtomicOnRefusal", func(t *testing.T) {
		s := newStore(t)
		mustAppend(t, s, "s", chronicle.NoStream, event("E", 0))
		_, err := s.Append(context.Background(), "s", chronicle.Exact(5), events("E", 3)...)
		wantErr(t, "Append", err, chronicle.ErrWrongExpectedRevision)
		bad := append(events("E", 3), chronicle.EventData{Type: ""})
		_, err = s.Append(context.Background(), "t", chronicle.Any, bad...)
		wantErr(t, "Append with an untyped event", err, chronicle.ErrInvalidEvent)
		wantNotFound(t, s, "t")
		if got := readAll(t, s, chronicle.ReadAllOptions{}); len(got) != 1 {
			t.Fatalf("log holds %d events, want 1", len(got))
		}
		// Positions stay gapless after refusals.
		res := mustAppend(t, s, "t", chronicle.NoStream, events("E", 2)...)
		if res.FirstPosition != 2 || res.LastPosition != 3 {
			t.Fatalf("positions after refusals = %d..%d, want 2..3", res.FirstPosition, res.LastPosition)
		}
	})

	t.Run("LargeBatch", func(t *testing.T) {
		s := newStore(t)
		const n = 10_000
		mustAppend(t, s, "other", chronicle.NoStream, event("E", 0))
		res := mustAppend(t, s, "big", chronicle.NoStream, events("Big", n)...)
		if res.FirstRevision != 0 || res.LastRevision != n-1 || res.FirstPosition != 2 || res.LastPosition != n+1 {
			t.Fatalf("AppendResult = %+v", res)
		}
		got := readStream(t, s, "big", chronicle.ReadStreamOptions{})
		if !slices.Equal(revisions(got), seq(0, n, 1)) {
			t.Fatalf("revisions are not 0..%d", n-1)
		}
		for i, e := range got {
			if want := event("Big", i).Data; !bytes.Equal(e.Data, want) {
				t.Fatalf("event %d data = %s, want %s", i, e.Data, want)
			}
		}
		all := readAll(t, s, chronicle.ReadAllOptions{})
		if !slices.Equal(positions(all), seq(1, n+1, 1)) {
			t.Fatalf("global positions are not 1..%d", n+1)
		}
	})

	t.Run("CanceledContext", func(t *testing.T) {
		s := newStore(t)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := s.Append(ctx, "s", chronicle.Any, event("E", 0))
		wantErr(t, "Append with a cancelled context", err, context.Canceled)
		wantNotFound(t, s, "s")
	})

	t.Run("DataIsCopied", func(t *testing.T) {
		s := newStore(t)
		data := []byte(`{"v":1}`)
		meta := chronicle.Metadata{"k": "v"}
		mustAppend(t, s, "s", chronicle.NoStream, chronicle.EventData{Type: "E", Data: data, Metadata: meta})
		data[6] = '2'
		meta["k"] = "changed"
		meta["added"] = "x"
		got := readStream(t, s, "s", chronicle.ReadStreamOptions{})
		if string(got[0].Data) != `{"v":1}` {
			t.Fatalf("changing the appended slice changed the stored event: %s", got[0].Data)
		}
		if !maps.Equal(got[0].Metadata, chronicle.Metadata{"k": "v"}) {
			t.Fatalf("changing the appended metadata changed the stored event: %v", got[0].Metadata)
		}
		got[0].Data[6] = '3'
		again := readStream(t, s, "s", chronicle.ReadStreamOptions{})
		if string(again[0].Data) != `{"v":1}` {
			t.Fatalf("changing a read event changed the stored event: %s", again[0].Data)
		}
	})
	t.Run("ReadsAreCopies", func(t *testing.T) {
		// Every read and every subscription hands out events of its own:
		// a caller that changes an event's data or metadata changes
		// neither the store nor what the next reader gets.
		s := newStore(t)
		mustAppend(t, s, "other", chronicle.NoStream, event("O", 0))
		// Live when the event is appended: it gets it as it commits.
		live := subscribe(t, s, chronicle.SubscribeOptions{})
		live.waitFor(t, 1)
		mustAppend(t, s, "s", chronicle.NoStream, chronicle.EventData{Type: "E", Data: []byte(`{"v":1}`), Metadata: chronicle.Metadata{"k": "v"}})
		only := func(evs []chronicle.RecordedEvent) chronicle.RecordedEvent {
			t.Helper()
			for _, e := range evs {
				if e.Stream == "s" {
					return e
				}
			}
			t.Fatalf("the event of stream s is not among the %d events read", len(evs))
			return chronicle.RecordedEvent{}
		}
		fromSub := func(opts chronicle.SubscribeOptions, n int) func() chronicle.RecordedEvent {
			return func() chronicle.RecordedEvent {
				sub := subscribe(t, s, opts)
				defer sub.stop()
				return only(sub.waitFor(t, n))
			}
		}
		ways := []struct {
			name string
			read func() chronicle.RecordedEvent
		}{
			{"live subscription", func() chronicle.RecordedEvent { return only(live.waitFor(t, 2)) }},
			{"ReadStream", func() chronicle.RecordedEvent { return only(readStream(t, s, "s", chronicle.ReadStreamOptions{})) }},
			{"ReadStream backwards", func() chronicle.RecordedEvent {
				return only(readStream(t, s, "s", chronicle.ReadStreamOptions{Backwards: true, From: chronicle.End}))
			}},
			{"ReadAll", func() chronicle.RecordedEvent { return only(readAll(t, s, chronicle.ReadAllOptions{})) }},
			{"ReadAll backwards", func() chronicle.RecordedEvent {
				return only(readAll(t, s, chronicle.ReadAllOptions{Backwards: true, From: chronicle.End}))
			}},
			{"filtered ReadAll", func() chronicle.RecordedEvent {
				return only(readAll(t, s, chronicle.ReadAllOptions{Filter: chronicle.Filter{Types: []string{"E"}}}))
			}},
			{"subscription", fromSub(chronicle.SubscribeOptions{}, 2)},
			{"filtered subscription", fromSub(chronicle.SubscribeOptions{Filter: chronicle.Filter{Types: []string{"E"}}}, 1)},
		}
		// Each way reads the event as appended, and spoils it; then each
		// way but the live subscription, which delivers an event once,
		// reads it again.
		for pass, spoil := range []bool{true, false} {
			for _, w := range ways[pass:] {
				e := w.read()
				if string(e.Data) != `{"v":1}` || !maps.Equal(e.Metadata, chronicle.Metadata{"k": "v"}) {
					t.Fatalf("%s after the events read before were changed: %s %v, want {\"v\":1} map[k:v]", w.name, e.Data, e.Metadata)
				}
				if spoil {
					e.Data[6] = '9'
					e.Metadata["k"] = "spoiled"
				}
			}
		}
	})
}

func testIdempotency(t *testing.T, newStore Factory) {
	// batch returns events with fixed IDs, as a client that retries has.
	batch := func(n int) []chronicle.EventData {
		evs := events("E", n)
		for i := range evs {
			evs[i].ID = uuid.Must(uuid.NewV7())
		}
		return evs
	}
	// Retry: a late retry of a batch, after other writers moved the
	// stream and the log on. RetryAtOnce: a retry of a one-event append
	// straight after it, whose event is still the stream's last.
	for _, how := range []struct {
		name  string
		n     int
		later bool
	}{{"Retry", 3, true}, {"RetryAtOnce", 1, false}} {
		for _, exp := range []chronicle.ExpectedRevision{chronicle.NoStream, chronicle.Any, chronicle.Exact(0), chronicle.StreamExists} {
			t.Run(how.name+"/"+exp.String(), func(t *testing.T) {
				s := newStore(t)
				if _, exact := exp.Revision(); exact || exp.IsStreamExists() {
					mustAppend(t, s, "s", chronicle.NoStream, event("First", 0))
				}
				evs := batch(how.n)
				first := mustAppend(t, s, "s", exp, evs...)
				if how.later {
					mustAppend(t, s, "s", chronicle.Any, event("Later", 0))
					mustAppend(t, s, "other", chronicle.Any, event("Later", 1))
				}
				again, err := s.Append(context.Background(), "s", exp, evs...)
				if err != nil {
					t.Fatalf("retried Append: %v", err)
				}
				if again != first {
					t.Fatalf("retried Append = %+v, want the first result %+v", again, first)
				}
				got := readStream(t, s, "s", chronicle.ReadStreamOptions{})
				n := 0
				for _, e := range got {
					if e.Type == "E" {
						n++
					}
				}
				if n != how.n {
					t.Fatalf("stream holds %d copies of the batch's %d events, want %d", n, how.n, how.n)
				}
			})
		}
	}
	// Around a soft delete: a retry of an append made before the delete
	// is acknowledged, whatever it expected, and leaves the stream
	// deleted; a retry of the append that started the stream again is
	// acknowledged too, though the stream has events before it.
	for _, exp := range []chronicle.ExpectedRevision{chronicle.NoStream, chronicle.Any, chronicle.Exact(0), chronicle.StreamExists} {
		t.Run("RetryAfterSoftDelete/"+exp.String(), func(t *testing.T) {
			s := newStore(t)
			d, ok := has[chronicle.Deleter](s)
			if !ok {
				t.Skip("the store does not implement chronicle.Deleter")
			}
			if _, exact := exp.Revision(); exact || exp.IsStreamExists() {
				mustAppend(t, s, "s", chronicle.NoStream, event("First", 0))
			}
			evs := batch(2)
			first := mustAppend(t, s, "s", exp, evs...)
			if err := d.Delete(context.Background(), "s", chronicle.Any); err != nil {
				t.Fatal(err)
			}
			again, err := s.Append(context.Background(), "s", exp, evs...)
			if err != nil || again != first {
				t.Fatalf("Append retried after the stream was soft-deleted = %+v, %v; want the first result %+v", again, err, first)
			}
			wantNotFound(t, s, "s")
			if n := len(readAll(t, s, chronicle.ReadAllOptions{})); n != int(first.LastPosition) {
				t.Fatalf("the log holds %d events, want %d: the retry wrote the events again", n, first.LastPosition)
			}
		})
	}
	t.Run("RetryOfTheAppendThatRestarted", func(t *testing.T) {
		s := newStore(t)
		d, ok := has[chronicle.Deleter](s)
		if !ok {
			t.Skip("the store does not implement chronicle.Deleter")
		}
		before := batch(2)
		old := mustAppend(t, s, "s", chronicle.NoStream, before...) // 0-1
		if err := d.Delete(context.Background(), "s", chronicle.Exact(1)); err != nil {
			t.Fatal(err)
		}
		evs := batch(2)
		first := mustAppend(t, s, "s", chronicle.NoStream, evs...) // 2-3
		if first.FirstRevision != 2 {
			t.Fatalf("the soft-deleted stream went on at revision %d, want 2", first.FirstRevision)
		}
		for _, later := range []bool{false, true} {
			if later {
				mustAppend(t, s, "s", chronicle.Exact(3), event("Later", 0))
			}
			again, err := s.Append(context.Background(), "s", chronicle.NoStream, evs...)
			if err != nil || again != first {
				t.Fatalf("the restarting append retried (after a later one: %v) = %+v, %v; want the first result %+v", later, again, err, first)
			}
			// The append that the delete hid is recognised too.
			again, err = s.Append(context.Background(), "s", chronicle.NoStream, before...)
			if err != nil || again != old {
				t.Fatalf("the append before the delete retried (after a later one: %v) = %+v, %v; want the first result %+v", later, again, err, old)
			}
		}
		if got := revisions(readStream(t, s, "s", chronicle.ReadStreamOptions{})); !slices.Equal(got, []uint64{2, 3, 4}) {
			t.Fatalf("the stream reads revisions %v, want [2 3 4]", got)
		}
		// Not a retry: the same first event with another after it.
		changed := []chronicle.EventData{evs[0], batch(1)[0]}
		_, err := s.Append(context.Background(), "s", chronicle.NoStream, changed...)
		wantErr(t, "Append at the restart's place with one ID changed", err, chronicle.ErrIdempotencyConflict)
		_, err = s.Append(context.Background(), "s", chronicle.NoStream, batch(1)...)
		wantErr(t, "Append of new events expecting no stream", err, chronicle.ErrWrongExpectedRevision)
	})
	t.Run("PartialMatchIsRefused", func(t *testing.T) {
		s := newStore(t)
		evs := batch(2)
		mustAppend(t, s, "s", chronicle.NoStream, evs...)
		changed := []chronicle.EventData{evs[0], event("Other", 9)}
		changed[1].ID = uuid.Must(uuid.NewV7())
		_, err := s.Append(context.Background(), "s", chronicle.Any, changed...)
		wantErr(t, "Append reusing one ID of a stored batch", err, chronicle.ErrIdempotencyConflict)
		_, err = s.Append(context.Background(), "s", chronicle.NoStream, changed...)
		wantErr(t, "Append at the batch's place with one ID changed", err, chronicle.ErrIdempotencyConflict)
		if got := readStream(t, s, "s", chronicle.ReadStreamOptions{}); len(got) != 2 {
			t.Fatalf("stream holds %d events, want 2", len(got))
		}
	})
	t.Run("SameIDsElsewhereAreNotARetry", func(t *testing.T) {
		s := newStore(t)
		evs := batch(1)
		mustAppend(t, s, "s", chronicle.NoStream, evs...)
		mustAppend(t, s, "s", chronicle.Exact(0), event("E", 1))
		// Expecting revision 1, the event would go to revision 2, where
		// the stream has nothing: this is a conflict, not a retry.
		_, err := s.Append(context.Background(), "s", chronicle.Exact(0), evs...)
		wantErr(t, "Append of old IDs at a new place", err, chronicle.ErrWrongExpectedRevision)
	})
	t.Run("SameIDsInAnotherStream", func(t *testing.T) {
		// A retry is recognised in the stream appended to: events whose
		// IDs another stream holds are new events of this one.
		s := newStore(t)
		evs := batch(2)
		mustAppend(t, s, "a", chronicle.NoStream, evs...)
		mustAppend(t, s, "b", chronicle.NoStream, event("E", 0))
		res := mustAppend(t, s, "b", chronicle.Any, evs...)
		if want := (chronicle.AppendResult{FirstRevision: 1, LastRevision: 2, FirstPosition: 4, LastPosition: 5}); res != want {
			t.Fatalf("Append of stream a's events to b = %+v, want %+v", res, want)
		}
		// Now they are b's events too: appending them again is a retry.
		if again := mustAppend(t, s, "b", chronicle.StreamExists, evs...); again != res {
			t.Fatalf("retried Append to b = %+v, want the first result %+v", again, res)
		}
		if got := revisions(readStream(t, s, "b", chronicle.ReadStreamOptions{})); !slices.Equal(got, seq(0, 3, 1)) {
			t.Fatalf("stream b reads revisions %v, want 0..2", got)
		}
		if got := revisions(readStream(t, s, "a", chronicle.ReadStreamOptions{})); !slices.Equal(got, seq(0, 2, 1)) {
			t.Fatalf("stream a reads revisions %v, want 0..1", got)
		}
	})
	t.Run("LastRevisionIsNotARetry", func(t *testing.T) {
		// Expecting the largest revision (End, mistaken for "the end of
		// the stream"), the events would go after it, where no stream
		// reaches: a conflict, and never a retry of the first events,
		// where the revision after it wraps to.
		s := newStore(t)
		evs := batch(1)
		mustAppend(t, s, "s", chronicle.NoStream, evs...)
		_, err := s.Append(context.Background(), "s", chronicle.Exact(math.MaxUint64), evs...)
		wantErr(t, "Append expecting revision 2^64-1", err, chronicle.ErrWrongExpectedRevision)
	})
}

func testValidation(t *testing.T, newStore Factory) {
	long := string(bytes.Repeat([]byte("a"), chronicle.MaxNameLength+1))
	tests := []struct {
		name   string
		stream string
		events []chronicle.EventData
		want   error
	}{
		{"EmptyStream", "", events("E", 1), chronicle.ErrInvalidStreamName},
		{"LongStream", long, events("E", 1), chronicle.ErrInvalidStreamName},
		{"ControlCharacter", "a\nb", events("E", 1), chronicle.ErrInvalidStreamName},
		{"NUL", "a\x00b", events("E", 1), chronicle.ErrInvalidStreamName},
		{"BadUTF8", "a\xffb", events("E", 1), chronicle.ErrInvalidStreamName},
		{"Reserved", "$all", events("E", 1), chronicle.ErrInvalidStreamName},
		{"NoEvents", "s", nil, chronicle.ErrNoEvents},
		{"EmptyType", "s", []chronicle.EventData{{Type: ""}}, chronicle.ErrInvalidEvent},
		{"TypeWithControl", "s", []chronicle.EventData{{Type: "A\tB"}}, chronicle.ErrInvalidEvent},
		{"DuplicateIDs", "s", func() []chronicle.EventData {
			evs := events("E", 2)
			evs[0].ID = uuid.Must(uuid.NewV7())
			evs[1].ID = evs[0].ID
			return evs
		}(), chronicle.ErrInvalidEvent},
		{"TooLarge", "s", []chronicle.EventData{{Type: "E", Data: make([]byte, chronicle.DefaultMaxEventSize+1)}}, chronicle.ErrEventTooLarge},
		{"TooLargeWithMetadata", "s", []chronicle.EventData{{Type: "E", Data: make([]byte, chronicle.DefaultMaxEventSize-2),
			Metadata: chronicle.Metadata{"k": "vv"}}}, chronicle.ErrEventTooLarge},
		{"BadUTF8MetadataValue", "s", []chronicle.EventData{{Type: "E", Metadata: chronicle.Metadata{"k": "a\xffb"}}}, chronicle.ErrInvalidEvent},
		{"BadUTF8MetadataKey", "s", []chronicle.EventData{{Type: "E", Metadata: chronicle.Metadata{"a\xffb": "v"}}}, chronicle.ErrInvalidEvent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			_, err := s.Append(context.Background(), tt.stream, chronicle.Any, tt.events...)
			wantErr(t, "Append", err, tt.want)
			if got := readAll(t, s, chronicle.ReadAllOptions{}); len(got) != 0 {
				t.Fatalf("refused append left %d events", len(got))
			}
		})
	}
	t.Run("ReadInvalidName", func(t *testing.T) {
		s := newStore(t)
		_, err := stress.Collect(s.ReadStream(context.Background(), "bad\x01name", chronicle.ReadStreamOptions{}))
		wantErr(t, "ReadStream", err, chronicle.ErrInvalidStreamName)
	})
	t.Run("AbilitiesInvalidName", func(t *testing.T) {
		// Every call that names a stream refuses a name that no stream
		// can have, rather than answer as if for a stream without events
		// or metadata, which would hide the caller's mistake.
		ctx := context.Background()
		s := newStore(t)
		for _, name := range []string{"", "bad\x01name", "$reserved"} {
			var calls []namedCall
			if r, ok := has[chronicle.Retention](s); ok {
				calls = append(calls,
					namedCall{"SetStreamMetadata", func() error { return r.SetStreamMetadata(ctx, name, chronicle.StreamMetadata{MaxCount: 1}) }},
					namedCall{"StreamMetadata", func() error { _, err := r.StreamMetadata(ctx, name); return err }})
			}
			if d, ok := has[chronicle.Deleter](s); ok {
				calls = append(calls,
					namedCall{"Delete", func() error { return d.Delete(ctx, name, chronicle.Any) }},
					namedCall{"Tombstone", func() error { return d.Tombstone(ctx, name, chronicle.Any) }})
			}
			if ss, ok := has[chronicle.SnapshotStore](s); ok {
				calls = append(calls, namedCall{"LoadSnapshot", func() error { _, _, err := ss.LoadSnapshot(ctx, name); return err }})
			}
			if f, ok := has[chronicle.EventFinder](s); ok {
				calls = append(calls, namedCall{"HasEvent", func() error { _, err := f.HasEvent(ctx, name, uuid.New()); return err }})
			}
			for _, c := range calls {
				if err := c.call(); !errors.Is(err, chronicle.ErrInvalidStreamName) {
					t.Errorf("%s(%q): error = %v, want one matching ErrInvalidStreamName", c.name, name, err)
				}
			}
		}
	})
	t.Run("UnicodeNames", func(t *testing.T) {
		s := newStore(t)
		mustAppend(t, s, "partie-échecs-♞", chronicle.NoStream, chronicle.EventData{Type: "Coup joué ✓"})
		got := readStream(t, s, "partie-échecs-♞", chronicle.ReadStreamOptions{})
		if len(got) != 1 || got[0].Type != "Coup joué ✓" {
			t.Fatalf("read back %+v", got)
		}
	})
}
