package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chronicle-es/chronicle"
)

// TestDurabilityPragma checks the setting that durability rests on: with
// synchronous=FULL in WAL mode, SQLite fsyncs the WAL at every commit.
func TestDurabilityPragma(t *testing.T) {
	for _, tt := range []struct {
		d    Durability
		want int
	}{{Durable, 2}, {Relaxed, 1}} {
		s, err := Open(context.Background(), filepath.Join(t.TempDir(), "d.db"), &Options{Durability: tt.d})
		if err != nil {
			t.Fatal(err)
		}
		var got int
		if err := s.w.conn.QueryRowContext(context.Background(), "PRAGMA synchronous").Scan(&got); err != nil {
			t.Fatal(err)
		}
		s.Close()
		if got != tt.want {
			t.Errorf("durability %d: synchronous = %d, want %d", tt.d, got, tt.want)
		}
	}
}

// TestAutoVacuum checks that a new file can give space back.
func TestAutoVacuum(t *testing.T) {
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "v.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var mode int
	if err := s.w.conn.QueryRowContext(context.Background(), "PRAGMA auto_vacuum").Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != 2 {
		t.Fatalf("auto_vacuum = %d, want 2 (incremental)", mode)
	}
}

// TestRecentMatchesFile checks that subscribers, which take recent events
// from memory, get what a query of the file returns, field for field, and
// that a gap left by another writer sends them back to the file.
func TestRecentMatchesFile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "r.db")
	s, err := Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	data := []byte(`{"a":1}`)
	_, err = s.Append(ctx, "cat-1", chronicle.NoStream,
		chronicle.EventData{Type: "A", Data: data, Metadata: chronicle.Metadata{"k": "v"}},
		chronicle.EventData{Type: "B"},
		chronicle.EventData{Type: "C", Data: []byte{}, Metadata: chronicle.Metadata{}})
	if err != nil {
		t.Fatal(err)
	}
	data[0] = 'X' // the caller reuses its buffer
	if _, err := s.Append(ctx, "other-1", chronicle.NoStream, chronicle.EventData{Type: "A", Data: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []chronicle.Filter{{}, {Categories: []string{"cat"}}, {Types: []string{"B", "C"}}, {StreamPrefix: "oth"}} {
		for from := uint64(1); from <= 5; from++ {
			mem, memNext, ok, err := s.recent.page(from, 2, f)
			if err != nil || (from <= 4) != ok {
				t.Fatalf("filter %+v from %d: recent.page ok=%v err=%v", f, from, ok, err)
			}
			if !ok {
				continue
			}
			file, fileNext, err := source{s}.Page(ctx, from, 2, f)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(mem, file) || memNext != fileNext {
				t.Errorf("filter %+v from %d:\nmemory %d %#v\nfile   %d %#v", f, from, memNext, mem, fileNext, file)
			}
		}
	}

	// Another writer of the file (here a second store on it) commits
	// position 5: the next batch of s starts a new run at 6.
	other, err := Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	appendOne(t, other, "x", chronicle.NoStream, "X")
	appendOne(t, s, "y", chronicle.NoStream, "Y")
	if _, _, ok, _ := s.recent.page(4, 10, chronicle.Filter{}); ok {
		t.Error("recent still serves position 4 after a gap")
	}
	if _, _, ok, _ := s.recent.page(5, 10, chronicle.Filter{}); ok {
		t.Error("recent serves position 5, which another writer committed")
	}
	var got []string
	for e, err := range s.Subscribe(ctx, chronicle.SubscribeOptions{From: 1}) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, e.Type)
		if len(got) == 6 {
			break
		}
	}
	if want := []string{"A", "B", "C", "A", "X", "Y"}; !slices.Equal(got, want) {
		t.Errorf("subscription saw %v, want %v", got, want)
	}
}

// TestPanicInBatch: a panic inside a batch, which a server's handler may
// recover, does not leave the writer taken for good: it is raised on the
// goroutine that leads the batch, the other appends of the batch get an
// error that names it, the write transaction is undone, and later
// appends and Close work.
func TestPanicInBatch(t *testing.T) {
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "p.db"), &Options{Durability: Relaxed})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// Hold the batch with a slow write, so that the next ones queue, and
	// join it once the slow write is done.
	g := newGate()
	defer g.open() // should the test fail before it opens
	leader := make(chan any, 1)
	go func() {
		defer func() { leader <- recover() }()
		_, err := s.w.do(ctx, "slow", "test", func(ctx context.Context, b *batch) (chronicle.AppendResult, bool, error) {
			g.wait()
			return appendNew(ctx, b, "slow")
		})
		t.Errorf("the batch's leader returned (%v) instead of panicking", err)
	}()
	<-g.reached
	boom := make(chan error, 1)
	go func() {
		_, err := s.w.do(ctx, "boom", "test", func(context.Context, *batch) (chronicle.AppendResult, bool, error) {
			panic("boom")
		})
		boom <- err
	}()
	waitQueued(t, s, 1)
	other := make(chan error, 1)
	go func() {
		_, err := s.Append(ctx, "other", chronicle.Any, chronicle.EventData{Type: "E"})
		other <- err
	}()
	waitQueued(t, s, 2)
	g.open()
	if p := <-leader; p != "boom" {
		t.Fatalf("the batch's leader recovered %v, want boom", p)
	}
	for name, ch := range map[string]chan error{"the panicking write": boom, "the append batched with the panic": other} {
		if err := <-ch; err == nil || !strings.Contains(err.Error(), "boom") {
			t.Fatalf("%s: %v, want an error that names the panic", name, err)
		}
	}
	var n int
	if err := s.read.QueryRow("SELECT count(*) FROM events").Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d events (%v) survived the batch that panicked, want none", n, err)
	}
	if _, err := s.Append(ctx, "after", chronicle.NoStream, chronicle.EventData{Type: "E"}); err != nil {
		t.Fatalf("append after the panic: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestLateRequestsJoinBatch: requests that arrive while a batch writes
// join it, up to MaxBatch in all; the rest wait for the next batch.
func TestLateRequestsJoinBatch(t *testing.T) {
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "j.db"), &Options{Durability: Relaxed, MaxBatch: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	g := newGate()
	defer g.open() // before Close, which waits for the batch
	ctx := context.Background()
	var mu sync.Mutex
	batches := map[string]*batch{}
	do := func(stream string, wait bool, done chan<- error) {
		_, err := s.w.do(ctx, stream, "test", func(ctx context.Context, b *batch) (chronicle.AppendResult, bool, error) {
			if wait {
				g.wait()
			}
			mu.Lock()
			batches[stream] = b
			mu.Unlock()
			return appendNew(ctx, b, stream)
		})
		done <- err
	}
	done := make(chan error, 4)
	go do("first", true, done)
	// first's batch is writing (its op waits): the next three arrive.
	<-g.reached
	for i, stream := range []string{"second", "third", "fourth"} {
		go do(stream, false, done)
		waitQueued(t, s, i+1)
	}
	g.open()
	for range 4 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if batches["second"] != batches["first"] || batches["third"] != batches["first"] {
		t.Error("the requests that arrived while the batch wrote did not join it")
	}
	if batches["fourth"] == batches["first"] {
		t.Error("a batch grew past MaxBatch")
	}
	for stream, want := range map[string]uint64{"first": 1, "second": 2, "third": 3, "fourth": 4} {
		for e, err := range s.ReadStream(ctx, stream, chronicle.ReadStreamOptions{}) {
			if err != nil || e.Position != want {
				t.Errorf("%s: position %d (%v), want %d", stream, e.Position, err, want)
			}
		}
	}
}

// gate holds a batch's op: wait tells the test that the op has been
// reached, and returns once the test opens the gate.
type gate struct {
	reached, opened chan struct{}
	once            sync.Once
}

func newGate() *gate { return &gate{reached: make(chan struct{}), opened: make(chan struct{})} }

func (g *gate) wait() {
	close(g.reached)
	<-g.opened
}

// open lets the op go on; it may be called more than once.
func (g *gate) open() { g.once.Do(func() { close(g.opened) }) }

// waitQueued waits until s's writer is busy with n requests queued.
func waitQueued(t *testing.T, s *Store, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s.w.mu.Lock()
		busy, queued := s.w.busy, len(s.w.queue)
		s.w.mu.Unlock()
		if busy && queued == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("busy %v with %d queued, want %d queued", busy, queued, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// appendNew appends one event to a new stream in b, as Store.Append does.
func appendNew(ctx context.Context, b *batch, stream string) (chronicle.AppendResult, bool, error) {
	events, err := chronicle.PrepareAppend(stream, []chronicle.EventData{{Type: "E", Data: []byte("{}")}}, 0)
	if err != nil {
		return chronicle.AppendResult{}, false, err
	}
	return b.append(ctx, stream, chronicle.NoStream, events, make([][]byte, len(events)))
}

// TestDriverValuesAreFresh holds the driver to what queryEvents and the
// read group rely on: each row's blobs and texts are new Go values, which
// later rows, later queries and closing the rows leave alone. Were the
// driver to reuse a buffer, as database/sql allows, the events read first
// would show the bytes of those read after them.
func TestDriverValuesAreFresh(t *testing.T) {
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "f.db"), &Options{Durability: Relaxed})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	var want []chronicle.EventData
	for i := range 20 {
		// The same lengths, so that a reused buffer would fit each.
		want = append(want, chronicle.EventData{
			Type:     string(rune('a' + i)),
			Data:     []byte(strings.Repeat(string(rune('A'+i)), 300)),
			Metadata: map[string]string{"k": strings.Repeat(string(rune('a'+i)), 8)},
		})
	}
	if _, err := s.Append(ctx, "s-1", chronicle.NoStream, want[:10]...); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, "s-2", chronicle.NoStream, want[10:]...); err != nil {
		t.Fatal(err)
	}
	check := func(what string, got []chronicle.RecordedEvent, want []chronicle.EventData) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: %d events, want %d", what, len(got), len(want))
		}
		for i, e := range got {
			if e.Type != want[i].Type || string(e.Data) != string(want[i].Data) || !reflect.DeepEqual(e.Metadata, want[i].Metadata) {
				t.Errorf("%s: event %d is %q %q %v, want %q %q %v", what, i, e.Type, e.Data[:4], e.Metadata, want[i].Type, want[i].Data[:4], want[i].Metadata)
			}
		}
	}
	collect := func(seq func(func(chronicle.RecordedEvent, error) bool)) []chronicle.RecordedEvent {
		t.Helper()
		var out []chronicle.RecordedEvent
		for e, err := range seq {
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, e)
		}
		return out
	}
	all := collect(s.ReadAll(ctx, chronicle.ReadAllOptions{}))
	one := collect(s.ReadStream(ctx, "s-1", chronicle.ReadStreamOptions{}))
	back := collect(s.ReadAll(ctx, chronicle.ReadAllOptions{Backwards: true, From: chronicle.End}))
	two := collect(s.ReadStream(ctx, "s-2", chronicle.ReadStreamOptions{}))
	check("read all", all, want)
	check("read stream s-1", one, want[:10])
	check("read stream s-2", two, want[10:])
	slices.Reverse(back)
	check("read all backwards", back, want)
}

// TestLeftInTransaction: a connection left inside a transaction, as when
// a COMMIT and the ROLLBACK after it both fail, costs the next batch on it
// a rollback, not every batch after it its BEGIN.
func TestLeftInTransaction(t *testing.T) {
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "t.db"), &Options{Durability: Relaxed})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if _, err := s.Append(ctx, "s-1", chronicle.NoStream, chronicle.EventData{Type: "E"}); err != nil {
		t.Fatal(err)
	}
	t.Run("Writer", func(t *testing.T) {
		if _, err := s.w.conn.ExecContext(ctx, "BEGIN"); err != nil {
			t.Fatal(err)
		}
		for i := range 2 {
			if _, err := s.Append(ctx, "s-1", chronicle.Exact(uint64(i)), chronicle.EventData{Type: "E"}); err != nil {
				t.Fatalf("append %d after a transaction was left open: %v", i, err)
			}
		}
	})
	t.Run("ReadGroup", func(t *testing.T) {
		for _, c := range s.group.all {
			if _, err := c.conn.ExecContext(ctx, "BEGIN"); err != nil {
				t.Fatal(err)
			}
		}
		for range 2 * len(s.group.all) {
			page, err := s.group.page(&pageRequest{ctx: ctx, stream: "s-1", limit: 10})
			if err != nil || len(page) != 3 {
				t.Fatalf("read %d events after a transaction was left open, want 3: %v", len(page), err)
			}
		}
	})
}

// TestCommitAndRollbackFail: a batch whose COMMIT fails, and the ROLLBACK
// after it too, may leave the writer's connection inside its transaction,
// holding SQLite's write lock. The store's own write lock must not pass to
// Update meanwhile: it would wait for SQLite's the whole busy timeout, and
// fail with "database is locked". Once the transaction has ended, Update
// and appends go on, and the failed batch wrote nothing.
func TestCommitAndRollbackFail(t *testing.T) {
	ctx := context.Background()
	injected := errors.New("injected failure")
	for _, tt := range []struct {
		name string
		// persistent: the ROLLBACK fails until the test lets it, and an
		// Update meanwhile says why at once; then appendFirst says whether
		// an append or an Update ends the transaction.
		persistent, appendFirst bool
	}{
		{"Once", false, false},
		{"Persistent/UpdateEnds", true, false},
		{"Persistent/AppendEnds", true, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// With a short busy timeout, a wait for SQLite's lock fails fast.
			s, err := Open(ctx, filepath.Join(t.TempDir(), "t.db"), &Options{Durability: Relaxed, BusyTimeout: 200 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if _, err := s.Append(ctx, "s", chronicle.NoStream, chronicle.EventData{Type: "E"}); err != nil {
				t.Fatal(err)
			}
			update := func() error {
				return s.Update(ctx, func(tx *sql.Tx) error {
					_, err := tx.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS model (n INTEGER); INSERT INTO model (n) VALUES (1)")
					return err
				})
			}
			appendAfter := func() {
				t.Helper()
				if _, err := s.Append(ctx, "s", chronicle.Exact(0), chronicle.EventData{Type: "After"}); err != nil {
					t.Fatalf("append after the failed batch: %v", err)
				}
			}

			var commitFails, rollbackFails atomic.Int32
			commitFails.Store(1)
			rollbackFails.Store(1)
			if tt.persistent {
				rollbackFails.Store(1 << 30)
			}
			s.w.failExec = func(q string) error {
				if q == "COMMIT" && commitFails.Add(-1) >= 0 || q == "ROLLBACK" && rollbackFails.Add(-1) >= 0 {
					return fmt.Errorf("%s: %w", q, injected)
				}
				return nil
			}
			if _, err := s.Append(ctx, "s", chronicle.Exact(0), chronicle.EventData{Type: "Lost"}); !errors.Is(err, injected) {
				t.Fatalf("append whose COMMIT failed: %v, want the injected failure", err)
			}
			if tt.persistent {
				if err := update(); !errors.Is(err, injected) || !strings.Contains(err.Error(), "roll back") {
					t.Fatalf("Update while the writer's transaction could not be rolled back: %v, want an error that says so", err)
				}
				rollbackFails.Store(0)
			}
			if tt.appendFirst {
				appendAfter()
			}
			if err := update(); err != nil {
				t.Fatalf("Update after a batch's COMMIT and ROLLBACK failed: %v", err)
			}
			if !tt.appendFirst {
				appendAfter()
			}
			var events, rows int
			if err := s.View(ctx, func(tx *sql.Tx) error {
				return errors.Join(tx.QueryRowContext(ctx, "SELECT count(*) FROM events").Scan(&events),
					tx.QueryRowContext(ctx, "SELECT count(*) FROM model").Scan(&rows))
			}); err != nil {
				t.Fatal(err)
			}
			if events != 2 || rows != 1 {
				t.Fatalf("the file holds %d events and %d rows of Update, want 2 and 1", events, rows)
			}
		})
	}
}

// TestCommitAndRollbackFailWithUpdateWaiting: an Update that queued for
// the store's write lock while a batch held it, and whose COMMIT and
// ROLLBACK then failed, ends the transaction the batch left open, or
// fails saying why it cannot, as an Update that comes later does. It
// must not wait for another caller of the writer to do so: with none to
// come, it would wait until its context ends.
func TestCommitAndRollbackFailWithUpdateWaiting(t *testing.T) {
	ctx := context.Background()
	injected := errors.New("injected failure")
	for _, tt := range []struct {
		name string
		// rollbackFails is how many ROLLBACKs fail: the batch's rollback
		// runs two when the first fails (see endTx).
		rollbackFails int32
		wantErr       bool
	}{
		{"Transient", 2, false},
		{"Persistent", 1 << 30, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(ctx, filepath.Join(t.TempDir(), "t.db"), &Options{Durability: Relaxed})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if _, err := s.Append(ctx, "s", chronicle.NoStream, chronicle.EventData{Type: "E"}); err != nil {
				t.Fatal(err)
			}
			committing, fail := make(chan struct{}), make(chan struct{})
			var commitFails atomic.Bool
			commitFails.Store(true)
			var rollbackFails atomic.Int32
			rollbackFails.Store(tt.rollbackFails)
			s.w.failExec = func(q string) error {
				switch {
				case q == "COMMIT" && commitFails.Swap(false):
					close(committing)
					<-fail
					return fmt.Errorf("%s: %w", q, injected)
				case q == "ROLLBACK" && rollbackFails.Add(-1) >= 0:
					return fmt.Errorf("%s: %w", q, injected)
				}
				return nil
			}
			appended := make(chan error, 1)
			go func() {
				_, err := s.Append(ctx, "s", chronicle.Exact(0), chronicle.EventData{Type: "Lost"})
				appended <- err
			}()
			<-committing
			// The batch holds the write lock: the Update queues for it. Its
			// context only ends the test should the Update wait for good.
			uctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			updated := make(chan error, 1)
			go func() {
				updated <- s.Update(uctx, func(tx *sql.Tx) error {
					_, err := tx.ExecContext(ctx, "CREATE TABLE model (n INTEGER); INSERT INTO model (n) VALUES (1)")
					return err
				})
			}()
			for !waiting(s.writes) {
				runtime.Gosched()
			}
			close(fail)
			if err := <-appended; !errors.Is(err, injected) {
				t.Fatalf("append whose COMMIT failed: %v, want the injected failure", err)
			}
			err = <-updated
			switch {
			case tt.wantErr && (!errors.Is(err, injected) || !strings.Contains(err.Error(), "roll back")):
				t.Fatalf("Update queued while the writer's transaction could not be rolled back: %v, want an error that says so", err)
			case !tt.wantErr && err != nil:
				t.Fatalf("Update queued before a batch's COMMIT and ROLLBACK failed: %v", err)
			}
			rollbackFails.Store(0)
			if _, err := s.Append(ctx, "s", chronicle.Exact(0), chronicle.EventData{Type: "After"}); err != nil {
				t.Fatalf("append after the failed batch: %v", err)
			}
			var events int
			if err := s.View(ctx, func(tx *sql.Tx) error {
				return tx.QueryRowContext(ctx, "SELECT count(*) FROM events").Scan(&events)
			}); err != nil {
				t.Fatal(err)
			}
			if events != 2 {
				t.Fatalf("the file holds %d events, want 2", events)
			}
		})
	}
}

// TestRecentBounds adds batches to recent, small and larger than its
// bounds, and checks after each that it holds the newest events, a
// gapless run within both bounds, that it serves each of them and none
// older, and that a batch larger than the bounds leaves no large buffer
// behind.
func TestRecentBounds(t *testing.T) {
	var r recent
	pos := uint64(0)
	batch := func(n, size int) []recentEvent {
		evs := make([]recentEvent, n)
		for i := range evs {
			pos++
			evs[i] = recentEvent{RecordedEvent: chronicle.RecordedEvent{Position: pos, Type: "E", Data: make([]byte, size)}}
		}
		return evs
	}
	for i, b := range []struct{ n, size int }{
		{1, 10}, {7, 10}, {100, 10}, {5000, 1}, {1, 10}, {3000, 10}, {20000, 1}, {1, 10},
		{10, 3 << 20}, {1, 10}, // large events: the byte bound, not the count, drops them
	} {
		for range 3 {
			r.add(batch(b.n, b.size))
		}
		held := r.held()
		bytes := 0
		for j, e := range held {
			bytes += len(e.Data)
			if e.Position != pos-uint64(len(held)-1-j) {
				t.Fatalf("batch %d: event %d of %d held is at %d, want the run ending at %d", i, j, len(held), e.Position, pos)
			}
		}
		if len(held) == 0 || len(held) > maxRecentEvents || (bytes > maxRecentBytes && len(held) > 1) || bytes != r.bytes {
			t.Fatalf("batch %d: holds %d events, %d bytes (counted %d)", i, len(held), bytes, r.bytes)
		}
		if cap(r.buf) > 4*maxRecentEvents {
			t.Fatalf("batch %d: a buffer of %d events kept", i, cap(r.buf))
		}
		first := held[0].Position
		if _, _, ok, _ := r.page(first-1, 10, chronicle.Filter{}); ok && first > 1 {
			t.Fatalf("batch %d: serves position %d, before the %d held", i, first-1, first)
		}
		for _, from := range []uint64{first, pos} {
			page, next, ok, err := r.page(from, 10, chronicle.Filter{})
			if !ok || err != nil || len(page) == 0 || page[0].Position != from || next != page[len(page)-1].Position+1 {
				t.Fatalf("batch %d: page from %d: ok %v, err %v, %d events, next %d", i, from, ok, err, len(page), next)
			}
		}
	}
}

// errAfter is a context whose Err reports nothing for its first n calls,
// then panics with boom, or else reports context.Canceled: a deterministic
// way to end or break a read at a given point of it.
type errAfter struct {
	context.Context
	n    *atomic.Int32
	boom bool
}

func newErrAfter(n int32, boom bool) errAfter {
	c := errAfter{Context: context.Background(), n: new(atomic.Int32), boom: boom}
	c.n.Store(n)
	return c
}

func (c errAfter) Done() <-chan struct{} { return make(chan struct{}) } // a context that can end

func (c errAfter) Err() error {
	if c.n.Add(-1) >= 0 {
		return nil
	}
	if c.boom {
		panic("boom")
	}
	return context.Canceled
}

// TestPanicInRead: a panic inside a read, which a server's handler may
// recover, leaves every connection of the store usable, and Close works.
func TestPanicInRead(t *testing.T) {
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "p.db"), &Options{Durability: Relaxed})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	long := make([]chronicle.EventData, 1200) // three pages: the later ones read ahead
	for i := range long {
		long[i] = chronicle.EventData{Type: "E"}
	}
	if _, err := s.Append(ctx, "s-1", chronicle.NoStream, long...); err != nil {
		t.Fatal(err)
	}
	works := func(what string) {
		t.Helper()
		if _, err := s.Append(ctx, "s-2", chronicle.Any, chronicle.EventData{Type: "E"}); err != nil {
			t.Fatalf("%s: append: %v", what, err)
		}
		for range 2 * len(s.group.all) {
			page, err := s.group.page(&pageRequest{ctx: ctx, stream: "s-1", limit: 10})
			if err != nil || len(page) != 10 {
				t.Fatalf("%s: group read of %d events: %v", what, len(page), err)
			}
		}
		for _, read := range []func(yield func(chronicle.RecordedEvent, error) bool){
			s.ReadStream(ctx, "s-1", chronicle.ReadStreamOptions{}),
			s.ReadAll(ctx, chronicle.ReadAllOptions{Filter: chronicle.Filter{Types: []string{"E"}}}),
		} {
			n := 0
			for _, err := range read {
				if err != nil {
					t.Fatalf("%s: read: %v", what, err)
				}
				n++
			}
			if n < 1200 {
				t.Fatalf("%s: read %d events, want at least 1200", what, n)
			}
		}
	}
	for n := range int32(8) {
		for name, read := range map[string]func(context.Context){
			"ReadStream": func(ctx context.Context) {
				for range s.ReadStream(ctx, "s-1", chronicle.ReadStreamOptions{}) {
				}
			},
			"group": func(ctx context.Context) { s.group.page(&pageRequest{ctx: ctx, stream: "s-1", limit: 10}) },
			"ReadAll": func(ctx context.Context) {
				for range s.ReadAll(ctx, chronicle.ReadAllOptions{Filter: chronicle.Filter{Types: []string{"E"}}}) {
				}
			},
		} {
			func() {
				defer func() { recover() }()
				read(newErrAfter(n, true))
			}()
			works(fmt.Sprintf("after a panic in %s at call %d of Err", name, n))
		}
	}
	if err := s.Close(); err != nil {
		t.Fatalf("close after panics: %v", err)
	}
}

// TestPanicInReadBatchError: the reads batched with one that panics get
// an error that names the panic, as a person reads it: the panic's value,
// not the stack that the panic raised again carries.
func TestPanicInReadBatchError(t *testing.T) {
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "p.db"), &Options{Durability: Relaxed})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	g := s.group
	// Take every connection, as busy callers would, so that the next
	// reads queue.
	g.mu.Lock()
	held := g.free
	g.free = nil
	g.mu.Unlock()
	defer func() {
		for _, c := range held[1:] {
			g.handOn(c)
		}
	}()
	panicked := make(chan any, 1)
	go func() {
		defer func() { panicked <- recover() }()
		// Err answers once (page's check), then panics as the batch runs.
		g.page(&pageRequest{ctx: newErrAfter(1, true), stream: "s-1", limit: 10})
	}()
	waitReadsQueued(t, g, 1)
	batched := make(chan error, 1)
	go func() {
		_, err := g.page(&pageRequest{ctx: context.Background(), stream: "s-1", limit: 10})
		batched <- err
	}()
	waitReadsQueued(t, g, 2)
	g.handOn(held[0]) // the panicking read leads the batch of both
	if p := <-panicked; p == nil {
		t.Fatal("the read whose context panics did not panic")
	}
	err = <-batched
	if err == nil || !strings.Contains(err.Error(), "boom") || strings.Contains(err.Error(), "goroutine") {
		t.Errorf("the read batched with the panic: %v; want an error that names the panic, without a stack", err)
	}
}

// waitReadsQueued waits until n reads are queued in g.
func waitReadsQueued(t *testing.T, g *readGroup, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		g.mu.Lock()
		queued := len(g.queue)
		g.mu.Unlock()
		if queued == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d reads queued, want %d", queued, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestRawPanicTellsWhere: a panic in raw's function, raised again once
// the connection is back, tells where it happened: the stack of the panic
// raised again is raw's, and named neither the function nor what it
// called.
func TestRawPanicTellsWhere(t *testing.T) {
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "r.db"), &Options{Durability: Relaxed})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	conn, err := s.read.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	recovered := func() (p any) {
		defer func() { p = recover() }()
		raw(conn, func(any) error { faultyScan(); return nil }, nil)
		return nil
	}()
	if text := fmt.Sprint(recovered); !strings.HasPrefix(text, "boom") || !strings.Contains(text, "sqlite.faultyScan") {
		t.Errorf("recovered %s, want the panic and where it was", text)
	}
}

// faultyScan panics, for TestRawPanicTellsWhere to find its name in the
// panic.
func faultyScan() { panic("boom") }

// TestFilteredPageStops: a filtered page, which may scan far for its
// events, stops at the next event when its context ends, not at the end
// of the page. (The driver watches the context only while the query
// starts.)
func TestFilteredPageStops(t *testing.T) {
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "f.db"), &Options{Durability: Relaxed})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	evs := make([]chronicle.EventData, 5000)
	for i := range evs {
		evs[i] = chronicle.EventData{Type: "Common"}
	}
	if _, err := s.Append(context.Background(), "s-1", chronicle.NoStream, evs...); err != nil {
		t.Fatal(err)
	}
	ctx := newErrAfter(100, false)
	page, _, err := source{s}.Page(ctx, 1, 512, chronicle.Filter{Types: []string{"Common"}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("a filtered page canceled after 100 events: %d events, error %v, want context.Canceled", len(page), err)
	}
}

// TestStreamCacheBounds: the stream cache keeps within CacheEvents,
// drops the entries made longest ago unless appended to since, leaves a
// long stream to the file, and keeps nothing when turned off.
func TestStreamCacheBounds(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "c.db"), &Options{Durability: Relaxed, CacheEvents: 100})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// appendTo appends n events to stream in one append.
	appendTo := func(stream string, n int) {
		t.Helper()
		evs := make([]chronicle.EventData, n)
		for i := range evs {
			evs[i] = chronicle.EventData{Type: "E", Data: []byte("{}")}
		}
		if _, err := s.Append(ctx, stream, chronicle.Any, evs...); err != nil {
			t.Fatal(err)
		}
	}
	appendTo("first", 5)
	for i := range 24 {
		appendTo(fmt.Sprint("s", i), 5)
		if i == 15 {
			appendTo("first", 1) // a second chance
		}
	}
	if s.cache.events > 100 {
		t.Errorf("the cache holds %d events, over its bound of 100", s.cache.events)
	}
	for _, stream := range []string{"first", "s23", "s22"} {
		if !s.cache.has(stream) {
			t.Errorf("%s, appended to last, is not in the cache", stream)
		}
	}
	if s.cache.has("s0") {
		t.Error("s0, made early and not appended to since, is still in the cache")
	}

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = Open(ctx, filepath.Join(t.TempDir(), "long.db"), &Options{Durability: Relaxed}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range maxStreamCached + 1 {
		if i == maxStreamCached && !s.cache.has("long") {
			t.Fatalf("a stream of %d events is not in the cache", i)
		}
		appendTo("long", 1)
	}
	if s.cache.has("long") {
		t.Errorf("a stream of %d events is in the cache", maxStreamCached+1)
	}
	n := 0
	for _, err := range s.ReadStream(ctx, "long", chronicle.ReadStreamOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != maxStreamCached+1 {
		t.Errorf("read %d events of the long stream, want %d", n, maxStreamCached+1)
	}

	big := make([]byte, maxCachedEvent+1)
	big[0], big[len(big)-1] = '"', '"'
	if _, err := s.Append(ctx, "big", chronicle.NoStream, chronicle.EventData{Type: "E", Data: []byte("{}")}, chronicle.EventData{Type: "E", Data: big}); err != nil {
		t.Fatal(err)
	}
	if s.cache.has("big") {
		t.Errorf("a stream with an event of %d bytes is in the cache", len(big))
	}

	off, err := Open(ctx, filepath.Join(t.TempDir(), "off.db"), &Options{Durability: Relaxed, CacheEvents: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer off.Close()
	appendOne(t, off, "a", chronicle.NoStream, "E")
	if off.cache.has("a") {
		t.Error("with CacheEvents -1, a stream is in the cache")
	}
}

// TestStreamCacheWaitsForCheck: a read of a cached stream that arrives
// while the writer is busy, and finds the cache not valid, is served
// only after the writer has asked SQLite again: here, another store on
// the file commits meanwhile, and the writer then turns idle.
func TestStreamCacheWaitsForCheck(t *testing.T) {
	s, other := twoOnOneFile(t)
	appendOne(t, s, "a", chronicle.NoStream, "E")
	if !s.cache.has("a") {
		t.Fatal("a is not in the cache")
	}
	s.w.cacheWait = time.Minute // the read waits for the writer, however long
	s.w.mu.Lock()
	s.w.busy = true // as while a batch commits
	s.w.mu.Unlock()
	got := countAsync(t, s, "a")
	appendOne(t, other, "a", chronicle.Exact(0), "Elsewhere")
	// The read waits for its turn now, most likely; if it has not got
	// that far yet, it finds the writer idle and asks SQLite itself.
	time.Sleep(20 * time.Millisecond)
	s.w.release()
	if n := <-got; n != 2 {
		t.Fatalf("a read that waited for the writer while another store appended found %d events, want 2: the writer went idle without checking the file", n)
	}
}

// TestStreamCacheCheckBeganAfter: a read may be served by a check that
// another read made only if that check asked SQLite after the read
// began. Here a read's check has asked, and found nothing, when another
// store appends and a second read begins; the second read must not take
// that check for its own.
func TestStreamCacheCheckBeganAfter(t *testing.T) {
	s, other := twoOnOneFile(t)
	appendOne(t, s, "a", chronicle.NoStream, "E")
	s.w.cacheWait = time.Minute
	asked, proceed := make(chan struct{}), make(chan struct{})
	var once atomic.Bool
	s.w.afterAsk = func() {
		if once.CompareAndSwap(false, true) {
			close(asked)
			<-proceed
		}
	}
	first := countAsync(t, s, "a") // finds the writer idle, and asks
	select {
	case <-asked:
	case n := <-first:
		t.Fatalf("a read with the writer idle found %d events without asking SQLite", n)
	}
	appendOne(t, other, "a", chronicle.Exact(0), "Elsewhere")
	second := countAsync(t, s, "a")   // begins after the other store's append returned
	time.Sleep(20 * time.Millisecond) // most likely waiting for its turn by now
	close(proceed)
	if n := <-first; n != 1 && n != 2 {
		t.Errorf("the first read found %d events", n)
	}
	if n := <-second; n != 2 {
		t.Fatalf("a read begun after another store's append returned found %d events, want 2", n)
	}
}

// TestStreamCacheOtherHoldsLock: while another connection holds SQLite's
// write lock, and an append of this store waits for it, a read of a
// cached stream reads the file rather than wait for the lock.
func TestStreamCacheOtherHoldsLock(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "l.db")
	s, err := Open(ctx, path, &Options{Durability: Relaxed})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	appendOne(t, s, "a", chronicle.NoStream, "E")
	s.w.cacheWait = time.Minute // only the lock may send the read to the file
	release := holdLock(t, s)
	appended := make(chan error)
	go func() {
		_, err := s.Append(ctx, "a", chronicle.Exact(0), chronicle.EventData{Type: "E"})
		appended <- err
	}()
	// The append takes the writer and waits for the lock.
	for {
		s.w.mu.Lock()
		busy := s.w.busy
		s.w.mu.Unlock()
		if busy {
			break
		}
		time.Sleep(time.Millisecond)
	}
	got := countAsync(t, s, "a")
	var n int
	select {
	case n = <-got:
	case <-time.After(10 * time.Second):
		release()
		t.Fatalf("the read waited for another connection's lock (got %d events after it was released)", <-got)
	}
	release()
	if err := <-appended; err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("a read while the append waited for the lock found %d events, want 1", n)
	}
}

// TestStreamCacheRefill: a stream that this store did not create gets an
// entry from a read of the file on the writer's connection that found all
// its events, and then reads as the file does; a stream with metadata
// does not.
func TestStreamCacheRefill(t *testing.T) {
	ctx := context.Background()
	s, other := twoOnOneFile(t)
	evs := []chronicle.EventData{
		{Type: "A", Data: []byte(`{"a":1}`)},
		{Type: "B", Data: []byte(`{"b":2}`), Metadata: chronicle.Metadata{"k": "v"}},
		{Type: "C"},
	}
	if _, err := other.Append(ctx, "theirs", chronicle.NoStream, evs...); err != nil {
		t.Fatal(err)
	}
	if err := other.SetStreamMetadata(ctx, "aged", chronicle.StreamMetadata{MaxAge: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Append(ctx, "aged", chronicle.NoStream, evs...); err != nil {
		t.Fatal(err)
	}
	// This store's writer checks the file at its next append.
	appendOne(t, s, "mine", chronicle.NoStream, "E")
	read := func(st *Store, stream string) []chronicle.RecordedEvent {
		t.Helper()
		var out []chronicle.RecordedEvent
		for e, err := range st.ReadStream(ctx, stream, chronicle.ReadStreamOptions{}) {
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, e)
		}
		return out
	}
	want := read(other, "theirs")
	for i := range 2 {
		got := read(s, "theirs")
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("read %d:\n got %v\nwant %v", i, got, want)
		}
		got[0].Data[0], got[1].Metadata["k"] = 'X', "changed" // the reader's own copy
		if !s.cache.has("theirs") {
			t.Fatalf("after read %d, the stream is not in the cache", i)
		}
	}
	if read(s, "aged"); s.cache.has("aged") {
		t.Error("a stream with a max age is in the cache")
	}
	// The entry goes when another store appends, and the read sees it.
	if _, err := other.Append(ctx, "theirs", chronicle.Exact(2), chronicle.EventData{Type: "D"}); err != nil {
		t.Fatal(err)
	}
	if got := read(s, "theirs"); len(got) != 4 {
		t.Fatalf("after another store's append, read %d events, want 4", len(got))
	}
}

// twoOnOneFile opens two stores, relaxed, on one new file.
func twoOnOneFile(t *testing.T) (s, other *Store) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "events.db")
	for _, p := range []**Store{&s, &other} {
		st, err := Open(context.Background(), path, &Options{Durability: Relaxed})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		*p = st
	}
	return s, other
}

// countAsync reads stream in a goroutine, and sends how many events it
// read on the channel it returns.
func countAsync(t *testing.T, s *Store, stream string) <-chan int {
	got := make(chan int, 1)
	go func() {
		n := 0
		for _, err := range s.ReadStream(context.Background(), stream, chronicle.ReadStreamOptions{}) {
			if err != nil {
				t.Error(err)
			}
			n++
		}
		got <- n
	}()
	return got
}

// TestStreamCacheStuckSnapshot: should the writer's connection be left
// inside an old read transaction, a read's check still sees the commits
// since (it begins a transaction of its own, healed).
func TestStreamCacheStuckSnapshot(t *testing.T) {
	ctx := context.Background()
	s, other := twoOnOneFile(t)
	appendOne(t, s, "a", chronicle.NoStream, "E")
	if _, err := s.w.conn.ExecContext(ctx, "BEGIN"); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := s.w.conn.QueryRowContext(ctx, "SELECT count(*) FROM events").Scan(&n); err != nil {
		t.Fatal(err)
	}
	appendOne(t, other, "a", chronicle.Exact(0), "Elsewhere")
	if n := <-countAsync(t, s, "a"); n != 2 {
		t.Fatalf("read %d events, want 2", n)
	}
}

// TestStreamCacheGaveUpOnLock: an append that gave up waiting for another
// connection's lock leaves reads free to wait for the writer's checks.
func TestStreamCacheGaveUpOnLock(t *testing.T) {
	ctx := context.Background()
	s, other := twoOnOneFile(t)
	appendOne(t, s, "a", chronicle.NoStream, "E")
	release := holdLock(t, other)
	short, cancel := context.WithTimeout(ctx, 120*time.Millisecond)
	defer cancel()
	if _, err := s.Append(short, "a", chronicle.Exact(0), chronicle.EventData{Type: "E"}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("an append while another connection held the lock: %v, want its deadline", err)
	}
	release()
	s.w.mu.Lock()
	lockedOut := s.w.lockedOut
	s.w.mu.Unlock()
	if lockedOut {
		t.Error("the writer still says another connection holds the lock")
	}
}

// TestStreamCacheRefillExact: refill gives no entry where one could not
// read as the file does: metadata stored as {} (which an entry would give
// back as nil), or an event whose data and metadata pass maxCachedEvent.
func TestStreamCacheRefillExact(t *testing.T) {
	ctx := context.Background()
	s, other := twoOnOneFile(t)
	appendOne(t, other, "empty", chronicle.NoStream, "E")
	if err := other.Update(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec("UPDATE events SET metadata = '{}' WHERE stream = 'empty'")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	big := chronicle.Metadata{"big": strings.Repeat("x", maxCachedEvent)}
	if _, err := other.Append(ctx, "big", chronicle.NoStream, chronicle.EventData{Type: "E", Data: []byte("{}"), Metadata: big}); err != nil {
		t.Fatal(err)
	}
	appendOne(t, s, "mine", chronicle.NoStream, "E")
	for _, stream := range []string{"empty", "big"} {
		for i := range 2 {
			var got []chronicle.RecordedEvent
			for e, err := range s.ReadStream(ctx, stream, chronicle.ReadStreamOptions{}) {
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, e)
			}
			if len(got) != 1 || got[0].Metadata == nil {
				t.Fatalf("%s, read %d: %+v", stream, i, got)
			}
		}
		if s.cache.has(stream) {
			t.Errorf("%s is in the cache", stream)
		}
	}
}

// holdLock has st's Update hold SQLite's write lock until release is
// called; release waits for the Update to end.
func holdLock(t *testing.T, st *Store) (release func()) {
	locked, unlock := make(chan struct{}), make(chan struct{})
	done := make(chan error)
	go func() {
		done <- st.Update(context.Background(), func(tx *sql.Tx) error {
			if _, err := tx.Exec("CREATE TABLE IF NOT EXISTS mine (x)"); err != nil {
				return err
			}
			close(locked)
			<-unlock
			return nil
		})
	}()
	<-locked
	var once sync.Once
	release = func() {
		once.Do(func() {
			close(unlock)
			if err := <-done; err != nil {
				t.Error(err)
			}
		})
	}
	t.Cleanup(release)
	return release
}

// TestStreamCacheLinearizable mixes, for a second, appends through this
// store and another on the same file, the other's raw updates of events
// (through Update), truncations and snapshots, with reads through this
// store. Each read must show every append acknowledged before it began
// and none that had not begun when it ended, the data and the truncation
// last acknowledged before it began, and revisions without a gap: what
// the file held at some moment of the read.
func TestStreamCacheLinearizable(t *testing.T) {
	ctx := context.Background()
	s, other := twoOnOneFile(t)
	type stream struct {
		name         string
		acked, begun atomic.Int64 // events appended
		data, trunc  atomic.Int64 // revision 0's data, TruncateBefore
		mu           sync.Mutex   // one change of data or truncation at a time
	}
	var streams []*stream
	for i := range 12 {
		st := &stream{name: fmt.Sprintf("%c%d", "sot"[i%3], i)}
		by := s
		if st.name[0] == 'o' {
			by = other // a stream that this store did not create
		}
		if _, err := by.Append(ctx, st.name, chronicle.NoStream, chronicle.EventData{Type: "E", Data: []byte("0")}); err != nil {
			t.Fatal(err)
		}
		st.acked.Store(1)
		st.begun.Store(1)
		streams = append(streams, st)
	}
	deadline := time.Now().Add(time.Second)
	var wg sync.WaitGroup
	var failed atomic.Value
	fail := func(err error) { failed.CompareAndSwap(nil, err) }
	going := func() bool { return time.Now().Before(deadline) && failed.Load() == nil }
	wg.Go(func() { // appends, mostly through s
		rng := rand.New(rand.NewPCG(1, 1))
		for going() {
			st := streams[rng.IntN(len(streams))]
			by := s
			if rng.IntN(12) == 0 {
				by = other
			}
			st.begun.Add(1)
			if _, err := by.Append(ctx, st.name, chronicle.Any, chronicle.EventData{Type: "E", Data: []byte("1")}); err != nil {
				fail(err)
				return
			}
			st.acked.Add(1)
			time.Sleep(time.Duration(rng.IntN(500)) * time.Microsecond)
		}
	})
	wg.Go(func() { // the other store's changes, and this one's snapshots
		rng := rand.New(rand.NewPCG(2, 2))
		var version int64
		for going() {
			st := streams[rng.IntN(len(streams))]
			var err error
			st.mu.Lock()
			switch rng.IntN(4) {
			case 0, 1:
				version++
				err = other.Update(ctx, func(tx *sql.Tx) error {
					_, err := tx.Exec("UPDATE events SET data = ? WHERE stream = ? AND revision = 0", []byte(strconv.FormatInt(version, 10)), st.name)
					return err
				})
				if err == nil {
					st.data.Store(version)
				}
			case 2:
				if st.name[0] == 't' {
					tr := st.trunc.Load() + 1
					if err = other.SetStreamMetadata(ctx, st.name, chronicle.StreamMetadata{TruncateBefore: uint64(tr)}); err == nil {
						st.trunc.Store(tr)
					}
				}
			case 3:
				// Of an event that reads return: the store keeps no other.
				if rev := st.trunc.Load(); rev < st.acked.Load() {
					err = s.SaveSnapshot(ctx, chronicle.Snapshot{Stream: st.name, Revision: uint64(rev), Type: "S"})
				}
			}
			st.mu.Unlock()
			if err != nil {
				fail(err)
				return
			}
			time.Sleep(time.Duration(rng.IntN(3000)) * time.Microsecond)
		}
	})
	var reads, cached atomic.Int64
	for r := range 4 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(3, uint64(r)))
			for going() {
				st := streams[rng.IntN(len(streams))]
				acked, data, trunc := st.acked.Load(), st.data.Load(), st.trunc.Load()
				if s.cache.has(st.name) {
					cached.Add(1)
				}
				var evs []chronicle.RecordedEvent
				for e, err := range s.ReadStream(ctx, st.name, chronicle.ReadStreamOptions{}) {
					if err != nil {
						fail(err)
						return
					}
					evs = append(evs, e)
				}
				begun := st.begun.Load()
				reads.Add(1)
				if len(evs) == 0 {
					if st.name[0] != 't' {
						fail(fmt.Errorf("%s: read nothing", st.name))
					}
					continue // truncated past its end
				}
				first := int64(evs[0].Revision)
				for i, e := range evs {
					if int64(e.Revision) != first+int64(i) {
						fail(fmt.Errorf("%s: revision %d after %d", st.name, e.Revision, first+int64(i)-1))
					}
				}
				switch end := first + int64(len(evs)); {
				case end < acked || end > begun:
					fail(fmt.Errorf("%s: read revisions up to %d, with %d appends acknowledged before the read and %d begun by its end", st.name, end-1, acked, begun))
				case first < trunc:
					fail(fmt.Errorf("%s: read from revision %d, truncated before %d", st.name, first, trunc))
				case first == 0 && data > 0:
					if v, _ := strconv.ParseInt(string(evs[0].Data), 10, 64); v < data {
						fail(fmt.Errorf("%s: revision 0 holds update %d, update %d was acknowledged before the read", st.name, v, data))
					}
				}
			}
		})
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		t.Fatal(err)
	}
	if cached.Load() == 0 {
		t.Fatalf("none of %d reads was of a stream in the cache: the test did not exercise it", reads.Load())
	}
	t.Logf("%d reads, %d of streams in the cache", reads.Load(), cached.Load())
}

// TestStreamCacheReadOnly: a store that only reads, as a server showing
// what a CLI writes, keeps the streams it reads whole in its cache: its
// reads check the file themselves, with no append to do it for them.
func TestStreamCacheReadOnly(t *testing.T) {
	s, other := twoOnOneFile(t)
	appendOne(t, other, "a", chronicle.NoStream, "E")
	for i := range 3 {
		if n := <-countAsync(t, s, "a"); n != 1 {
			t.Fatalf("read %d: %d events, want 1", i, n)
		}
	}
	if !s.cache.has("a") {
		t.Fatal("a stream read whole, with the writer idle, is not in the cache")
	}
	appendOne(t, other, "a", chronicle.Exact(0), "E")
	if n := <-countAsync(t, s, "a"); n != 2 {
		t.Fatalf("after another store's append, read %d events, want 2", n)
	}
}

// TestStreamStatesBoundedReadOnly: a store that only reads, and so runs
// no batch, still keeps its cache of stream states within its bound.
func TestStreamStatesBoundedReadOnly(t *testing.T) {
	ctx := context.Background()
	s, other := twoOnOneFile(t)
	s.w.maxStreams = 10
	for i := range 25 {
		stream := fmt.Sprint("s", i)
		if _, err := other.Append(ctx, stream, chronicle.NoStream, chronicle.EventData{Type: "E"}); err != nil {
			t.Fatal(err)
		}
		if n := <-countAsync(t, s, stream); n != 1 {
			t.Fatalf("read %d events of %s, want 1", n, stream)
		}
		s.w.mu.Lock() // the writer is idle: its fields are still
		n := len(s.w.streams)
		s.w.mu.Unlock()
		if n > 10 {
			t.Fatalf("after %d streams read, the writer holds the states of %d, over its bound of 10", i+1, n)
		}
	}
}

// TestStreamCacheKeptBySnapshots: saving a snapshot leaves the stream
// cache as it was: the writer saves it, so SQLite sees no other
// connection's commit. The stream is longer than a page, so that a read
// of the file would not give it an entry again (see refill).
func TestStreamCacheKeptBySnapshots(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "s.db"), &Options{Durability: Relaxed})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	evs := make([]chronicle.EventData, 600)
	for i := range evs {
		evs[i] = chronicle.EventData{Type: "E"}
	}
	if _, err := s.Append(ctx, "a", chronicle.NoStream, evs...); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveSnapshot(ctx, chronicle.Snapshot{Stream: "a", Revision: 599, Type: "S", Data: []byte("{}")}); err != nil {
		t.Fatal(err)
	}
	if n := <-countAsync(t, s, "a"); n != 600 {
		t.Fatalf("read %d events, want 600", n)
	}
	if !s.cache.has("a") {
		t.Fatal("after a snapshot and a read, the stream is not in the cache")
	}
	if snap, ok, err := s.LoadSnapshot(ctx, "a"); err != nil || !ok || snap.Type != "S" {
		t.Fatalf("LoadSnapshot: %+v, %v, %v", snap, ok, err)
	}
}

// appendOne appends one event of type typ, with no data, to stream.
func appendOne(t *testing.T, st *Store, stream string, expected chronicle.ExpectedRevision, typ string) {
	t.Helper()
	if _, err := st.Append(context.Background(), stream, expected, chronicle.EventData{Type: typ}); err != nil {
		t.Fatal(err)
	}
}

// TestStreamQueriesSeek: every query of one stream, or of the streams
// whose names match, seeks the index of streams, rather than scanning the
// events table, whatever SQLite's planner makes of a file without
// statistics. A plan that scans returns the same rows, only slower, so
// no other test would see it.
func TestStreamQueriesSeek(t *testing.T) {
	s := openBench(t, &Options{Durability: Relaxed})
	for name, query := range map[string]string{
		"readForwards": readForwards, "readBackwards": readBackwards, "existsSQL": existsSQL,
		"listStreamsByName": listStreamsByName, "lastRevisionSQL": lastRevisionSQL, "eventsAtSQL": eventsAtSQL,
	} {
		rows, err := s.read.Query("EXPLAIN QUERY PLAN "+query, "s", 1, 2, 3, "s")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		if err := rows.Close(); err != nil {
			t.Fatal(err)
		}
		text := strings.Join(plan, "\n")
		if !strings.Contains(text, "INDEX events_stream_revision (stream_id=?") || strings.Contains(text, "SCAN e") {
			t.Errorf("%s does not seek events by stream:\n%s", name, text)
		}
	}
}

// TestCheckpointWaitsForShortReads: on a busy server, short reads that
// began before the last append keep frames from a checkpoint that lets
// appends go on, one after another; they end soon after the write lock
// has stopped the appends, and Checkpoint must wait for them holding it.
// It took the lock only when a checkpoint without it had copied every
// frame, which such readers never let happen: it failed at the busy
// timeout, at every call, with ErrCheckpointBusy. Here the reader ends as
// soon as Checkpoint holds the lock. A long read, which keeps the same
// frames from one attempt to the next, Checkpoint waits for without the
// lock, which it takes only at its first attempt.
func TestCheckpointWaitsForShortReads(t *testing.T) {
	for _, tt := range []struct {
		name    string
		short   bool // the reader ends once Checkpoint holds the lock
		wantErr error
	}{
		{"ShortRead", true, nil},
		{"LongRead", false, ErrCheckpointBusy},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			path := filepath.Join(t.TempDir(), "c.db")
			s, err := Open(ctx, path, &Options{BusyTimeout: 300 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			tx := oldSnapshot(t, s)
			locked := 0
			s.truncating = func() {
				if locked++; tt.short && locked == 1 {
					if err := tx.Rollback(); err != nil {
						t.Error(err)
					}
				}
			}
			if err := s.Checkpoint(ctx); !errors.Is(err, tt.wantErr) || (err != nil) != (tt.wantErr != nil) {
				t.Fatalf("Checkpoint = %v, want %v", err, tt.wantErr)
			}
			if locked != 1 {
				t.Errorf("Checkpoint took the write lock to truncate %d times, want 1", locked)
			}
			if !tt.short {
				return
			}
			checkWALEmpty(t, path)
		})
	}
}

// TestCheckpointLetsAppendsThrough: while a reader keeps a Checkpoint
// waiting, appends go on, of this process and of another one whose busy
// timeout is short; once the reader is done, the Checkpoint empties the
// log. Checkpoint held the write lock while SQLite waited for the readers,
// for the whole busy timeout at each of its attempts: appends of another
// process failed with "database is locked", and this process's with "held
// the write lock for the whole busy timeout". The appends begin once
// Checkpoint holds the lock to wait for the reader, as its first attempt
// does: begun before, as they were, this process's first append waited
// out the busy timeout and got the lock as Checkpoint gave up, and the
// others came in before it took the lock again, so that the test passed
// with that fault too.
func TestCheckpointLetsAppendsThrough(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "c.db")
	s, err := Open(ctx, path, &Options{BusyTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	other, err := Open(ctx, path, &Options{BusyTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	tx := oldSnapshot(t, s)
	locked := make(chan struct{})
	var once sync.Once
	s.truncating = func() { once.Do(func() { close(locked) }) }

	checkpointed := make(chan error, 1)
	go func() { checkpointed <- s.Checkpoint(ctx) }()
	select {
	case <-locked:
	case err := <-checkpointed:
		t.Fatalf("Checkpoint returned %v without taking the write lock to wait for the reader", err)
	}
	for i := range 5 {
		// This process's appends wait for the write lock, which
		// Checkpoint holds from before the hook: a second, fifty times
		// the 20 ms that it may hold it for, is an append that waited
		// for the reader.
		wait, cancel := context.WithTimeout(ctx, time.Second)
		_, err := s.Append(wait, "same", chronicle.Any, chronicle.EventData{Type: "E"})
		cancel()
		if err != nil {
			t.Fatalf("append %d while a reader kept Checkpoint waiting: %v", i, err)
		}
		if _, err := other.Append(ctx, "other", chronicle.Any, chronicle.EventData{Type: "E"}); err != nil {
			t.Fatalf("append %d of another process while a reader kept Checkpoint waiting: %v", i, err)
		}
	}
	select {
	case err := <-checkpointed:
		t.Fatalf("Checkpoint returned %v while a reader still used the log", err)
	default:
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if err := <-checkpointed; err != nil {
		t.Fatalf("Checkpoint once the reader was done: %v", err)
	}
	checkWALEmpty(t, path)
}

// oldSnapshot appends an event to s, begins a read transaction that sees
// it, and appends another that it does not see, whose frame in the log
// the reader keeps from being copied into the file. The transaction is
// rolled back when the test ends, if it has not been.
func oldSnapshot(t *testing.T, s *Store) *sql.Tx {
	t.Helper()
	ctx := context.Background()
	if _, err := s.Append(ctx, "before", chronicle.Any, chronicle.EventData{Type: "E"}); err != nil {
		t.Fatal(err)
	}
	tx, err := s.read.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tx.Rollback() })
	var n int
	// A read transaction takes its snapshot at its first read.
	if err := tx.QueryRow("SELECT count(*) FROM events").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, "after", chronicle.Any, chronicle.EventData{Type: "E"}); err != nil {
		t.Fatal(err)
	}
	return tx
}

// checkWALEmpty fails the test unless the write-ahead log of the file at
// path is empty.
func checkWALEmpty(t *testing.T, path string) {
	t.Helper()
	if fi, err := os.Stat(path + "-wal"); err == nil && fi.Size() != 0 {
		t.Fatalf("after Checkpoint the write-ahead log holds %d bytes, want 0", fi.Size())
	}
}

// TestScavengeVacuumLetsAppendsThrough: while a scavenge gives the free
// pages of the events it removed back to the file system, appends go on.
// It gave them all back in one statement, holding the write lock that
// appends need: after a scavenge of many events, for seconds, and appends
// failed once the busy timeout had passed. Here an append queues for the
// lock at each step of the vacuum: each must go through before the
// vacuum ends, and the space must come back all the same.
func TestScavengeVacuumLetsAppendsThrough(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v.db")
	s, err := Open(ctx, path, &Options{Durability: Relaxed, BusyTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Enough free pages for several steps of the vacuum.
	big := chronicle.EventData{Type: "E", Data: []byte(`"` + strings.Repeat("x", 4000) + `"`)}
	for range 4 * vacuumFirstStep / 100 {
		if _, err := s.Append(ctx, "doomed", chronicle.Any, slices.Repeat([]chronicle.EventData{big}, 100)...); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Tombstone(ctx, "doomed", chronicle.Any); err != nil {
		t.Fatal(err)
	}

	var (
		steps, appends, midway int
		appended               chan error // the last append's result, or nil before the first
	)
	appendOne := func() {
		appended = make(chan error, 1)
		go func(done chan<- error) {
			_, err := s.Append(ctx, "live", chronicle.Any, chronicle.EventData{Type: "E"})
			done <- err
		}(appended)
		appends++
		// The vacuum's next step must find the append queued, as a
		// busy server's would be.
		for !waiting(s.writes) {
			runtime.Gosched()
		}
	}
	s.vacuuming = func() {
		steps++
		if appended != nil {
			// The append queued before this step did, and has had the
			// lock in between: it has returned, or is about to.
			select {
			case err := <-appended:
				if err != nil {
					t.Errorf("append %d during the vacuum: %v", appends, err)
				}
				midway++
			case <-time.After(time.Minute):
				t.Errorf("append %d still waits at step %d of the vacuum, though it queued for the lock before this step did", appends, steps)
				return
			}
		}
		appendOne()
	}
	if _, err := s.Scavenge(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if err := <-appended; err != nil {
		t.Errorf("append %d, queued at the vacuum's last step: %v", appends, err)
	}
	if midway == 0 {
		t.Fatalf("the vacuum ran in %d step(s), and no append went through before it ended", steps)
	}
	var free int
	if err := s.read.QueryRowContext(ctx, "PRAGMA freelist_count").Scan(&free); err != nil {
		t.Fatal(err)
	}
	if free != 0 {
		t.Fatalf("after Scavenge the file has %d free pages, want 0: the space was not given back", free)
	}
	checkWALEmpty(t, path)
	var got int
	if err := s.read.QueryRowContext(ctx, "SELECT count(*) FROM events").Scan(&got); err != nil {
		t.Fatal(err)
	}
	if got != appends {
		t.Fatalf("%d events left, want the %d appended during the vacuum", got, appends)
	}
}

// TestNextVacuumStep: a step of the vacuum that held the write lock past
// vacuumSlow is halved, one under vacuumFast doubled, within their
// bounds, so that appends wait about as long for a step whatever the
// file, rather than as long as a fixed count of pages takes.
func TestNextVacuumStep(t *testing.T) {
	for _, c := range []struct {
		pages int
		took  time.Duration
		want  int
	}{
		{vacuumFirstStep, vacuumSlow + 1, vacuumFirstStep / 2},
		{vacuumFirstStep, 200 * time.Millisecond, vacuumFirstStep / 2},
		{vacuumMinStep, time.Second, vacuumMinStep},
		{vacuumMinStep + 1, time.Second, vacuumMinStep},
		{vacuumFirstStep, vacuumFast - 1, vacuumFirstStep * 2},
		{vacuumMaxStep, 0, vacuumMaxStep},
		{vacuumMaxStep - 1, 0, vacuumMaxStep},
		{vacuumFirstStep, vacuumFast, vacuumFirstStep},
		{vacuumFirstStep, vacuumSlow, vacuumFirstStep},
		{vacuumFirstStep, (vacuumFast + vacuumSlow) / 2, vacuumFirstStep},
	} {
		if got := nextVacuumStep(c.pages, c.took); got != c.want {
			t.Errorf("nextVacuumStep(%d, %v) = %d, want %d", c.pages, c.took, got, c.want)
		}
	}
}

// TestRecentKeepsNoScavenged: a scavenge of this store that removes
// events of a batch that has just committed, before the batch has kept
// them in memory for subscribers, must not leave them there: the
// scavenge clears what memory holds, and the batch must not add the
// removed events back after it.
func TestRecentKeepsNoScavenged(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "r.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.SetStreamMetadata(ctx, "d", chronicle.StreamMetadata{MaxCount: 1}); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var removed uint64
	var scavengeErr error
	s.w.committed = func() {
		s.w.committed = nil
		go func() {
			defer close(done)
			var p chronicle.ScavengeProgress
			p, scavengeErr = s.Scavenge(ctx, nil)
			removed = p.Removed
		}()
		// The scavenge runs now, unless the batch keeps it out until its
		// events are in memory.
		select {
		case <-done:
		case <-time.After(200 * time.Millisecond):
		}
	}
	if _, err := s.Append(ctx, "d", chronicle.NoStream, chronicle.EventData{Type: "E"}, chronicle.EventData{Type: "E"}); err != nil {
		t.Fatal(err)
	}
	<-done
	if scavengeErr != nil || removed != 1 {
		t.Fatalf("Scavenge removed %d events, %v; want position 1", removed, scavengeErr)
	}
	if page, _, ok, _ := s.recent.page(1, 10, chronicle.Filter{}); ok && len(page) > 0 && page[0].Position == 1 {
		t.Fatalf("subscribers are served position 1 from memory after a scavenge removed it")
	}
}
