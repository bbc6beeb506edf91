package catchup

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chronicle-es/chronicle"
)

// rangeLog is a log read by ranges: positions 1..head but those in gone
// (deleted), which Page knows nothing of. A range holding failAt fails,
// one holding panicAt panics. grow, when set, is called at each
// head read and may move the head on.
type rangeLog struct {
	mu              sync.Mutex
	head            uint64
	gone            map[uint64]bool
	failAt, panicAt uint64
	grow            func(head uint64) uint64

	pages bool // Page reads, else it panics

	exitAt uint64 // the range that starts there calls runtime.Goexit
	pair   bool   // see Range

	ranges, inFlight, most, pageReads, afters atomic.Int64
	starts                                    sync.Map // the first positions of the ranges asked for
}

func (l *rangeLog) hasStarted(from uint64) bool {
	_, ok := l.starts.Load(from)
	return ok
}

func (l *rangeLog) headNow() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.head
}

func (l *rangeLog) Changed() <-chan struct{} { return nil }

func (l *rangeLog) Page(ctx context.Context, from uint64, limit int, f chronicle.Filter) ([]chronicle.RecordedEvent, uint64, error) {
	if !l.pages {
		panic("a read by ranges called Page")
	}
	l.pageReads.Add(1)
	l.mu.Lock()
	defer l.mu.Unlock()
	var page []chronicle.RecordedEvent
	next := from
	for ; next <= l.head && len(page) < limit; next++ {
		page = append(page, chronicle.RecordedEvent{Position: next})
	}
	return page, next, nil
}

func (l *rangeLog) Head(ctx context.Context) (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.grow != nil {
		l.head = l.grow(l.head)
	}
	return l.head, nil
}

func (l *rangeLog) After(ctx context.Context, after uint64) (uint64, error) {
	l.afters.Add(1)
	l.mu.Lock()
	defer l.mu.Unlock()
	for p := after + 1; p <= l.head; p++ {
		if !l.gone[p] {
			return p, nil
		}
	}
	return 0, nil
}

func (l *rangeLog) Range(ctx context.Context, from, to uint64) ([]chronicle.RecordedEvent, error) {
	l.ranges.Add(1)
	n := l.inFlight.Add(1)
	l.starts.Store(from, true)
	defer l.inFlight.Add(-1)
	for {
		m := l.most.Load()
		if n <= m || l.most.CompareAndSwap(m, n) {
			break
		}
	}
	if to-from+1 > PageSize {
		return nil, errors.New("range longer than a page")
	}
	// With pair, the ranges that start at 1 and PageSize+1 past a
	// multiple of 2*PageSize wait for each other to start, which they do
	// only when they are read at once; then the first of the two ends
	// last.
	partner := uint64(0)
	switch from % (2 * PageSize) {
	case 1:
		partner = to + 1
	case PageSize + 1:
		partner = from - PageSize
	}
	if l.pair && partner != 0 && partner <= l.headNow() {
		for deadline := time.Now().Add(2 * time.Second); !l.hasStarted(partner) && ctx.Err() == nil && time.Now().Before(deadline); {
			time.Sleep(100 * time.Microsecond)
		}
		if partner > from {
			time.Sleep(2 * time.Millisecond)
		}
	}
	// Every range takes a while, longer once the read has ended, so that
	// a read that does not wait for its ranges returns while one is
	// still under way.
	time.Sleep(200 * time.Microsecond)
	if err := ctx.Err(); err != nil {
		time.Sleep(5 * time.Millisecond)
		return nil, err
	}
	if from == l.exitAt {
		runtime.Goexit()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var page []chronicle.RecordedEvent
	for p := from; p <= to && p <= l.head; p++ {
		switch {
		case p == l.failAt:
			return nil, errPage
		case p == l.panicAt:
			panic("range")
		case !l.gone[p]:
			page = append(page, chronicle.RecordedEvent{Position: p})
		}
	}
	return page, nil
}

// positions returns the positions from..head of l that are not gone.
func (l *rangeLog) positions(from uint64) []uint64 {
	var want []uint64
	for p := max(from, 1); p <= l.head; p++ {
		if !l.gone[p] {
			want = append(want, p)
		}
	}
	return want
}

// TestReadAheadRanges: a source read by ranges yields every event once,
// in position order, though later ranges finish first; it skips deleted
// positions, starts where asked, stops where the caller stops, and
// reports a failing range after the events before it.
func TestReadAheadRanges(t *testing.T) {
	n := uint64(5*PageSize + 17)
	gaps := map[uint64]bool{}
	for p := uint64(PageSize - 3); p < 2*PageSize+40; p++ {
		gaps[p] = true // a whole range of nothing, and parts of two more
	}
	for _, tt := range []struct {
		name      string
		log       *rangeLog
		from      uint64
		stopAfter int
		wantErr   error
		wantRead  uint64 // events before the error
	}{
		{name: "Empty", log: &rangeLog{}},
		{name: "OneEvent", log: &rangeLog{head: 1}},
		{name: "Whole", log: &rangeLog{head: n}},
		{name: "ExactPages", log: &rangeLog{head: 4 * PageSize}},
		{name: "From", log: &rangeLog{head: n}, from: PageSize + 3},
		{name: "FromPastHead", log: &rangeLog{head: n}, from: n + 1},
		{name: "Gaps", log: &rangeLog{head: n, gone: gaps}},
		{name: "EarlyStop", log: &rangeLog{head: n}, stopAfter: PageSize + 2},
		{name: "FailingRange", log: &rangeLog{head: n, failAt: 3*PageSize + 5}, wantErr: errPage, wantRead: 3 * PageSize},
	} {
		tt.log.pair = true
		t.Run(tt.name, func(t *testing.T) {
			got, errs := read(ReadAhead(context.Background(), tt.log, chronicle.ReadAllOptions{From: tt.from}), tt.stopAfter)
			want := tt.log.positions(tt.from)
			switch {
			case tt.stopAfter > 0:
				want = want[:tt.stopAfter]
			case tt.wantErr != nil:
				want = want[:tt.wantRead]
			}
			if !slices.Equal(got, want) {
				t.Errorf("read %d events (%v...), want %d (%v...)", len(got), got[:min(3, len(got))], len(want), want[:min(3, len(want))])
			}
			if len(errs) > 1 || tt.wantErr == nil && len(errs) > 0 || tt.wantErr != nil && (len(errs) == 0 || !errors.Is(errs[0], tt.wantErr)) {
				t.Errorf("errors %v, want %v", errs, tt.wantErr)
			}
			if m := tt.log.most.Load(); m > Readers {
				t.Errorf("%d ranges read at once, want at most %d", m, Readers)
			}
			if m := tt.log.most.Load(); tt.from == 0 && tt.log.head >= 2*PageSize && m < 2 {
				t.Errorf("ranges were read one at a time (%d ranges, most %d)", tt.log.ranges.Load(), m)
			}
			if f := tt.log.inFlight.Load(); f != 0 {
				t.Errorf("%d ranges still being read after the read returned", f)
			}
		})
	}
}

// TestReadAheadRangesHole: a hole of many pages, as a scavenge leaves,
// costs a query to find its end, not a range per page.
func TestReadAheadRangesHole(t *testing.T) {
	gone := map[uint64]bool{}
	for p := uint64(PageSize + 1); p <= 99*PageSize+3; p++ {
		gone[p] = true
	}
	l := &rangeLog{head: 100 * PageSize, gone: gone}
	got, errs := read(ReadAhead(context.Background(), l, chronicle.ReadAllOptions{}), 0)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if want := l.positions(1); !slices.Equal(got, want) {
		t.Errorf("read %d events, want %d", len(got), len(want))
	}
	if r := l.ranges.Load(); r > 6 {
		t.Errorf("%d ranges read for 3 pages of events around a hole of 98", r)
	}
}

// TestReadAheadRangesGoexit: a range whose goroutine exits without
// returning (t.FailNow in a fake) ends the read with an error, rather
// than the read going on without its events.
func TestReadAheadRangesGoexit(t *testing.T) {
	l := &rangeLog{head: 4 * PageSize, exitAt: PageSize + 1}
	got, errs := read(ReadAhead(context.Background(), l, chronicle.ReadAllOptions{}), 0)
	if len(got) != PageSize || len(errs) != 1 || !errors.Is(errs[0], errExited) {
		t.Errorf("read %d events and errors %v, want %d events then %v", len(got), errs, PageSize, errExited)
	}
}

// TestAheadGoexit: a read whose goroutine exits without returning ends
// the iterator with an error after the pages it gave.
func TestAheadGoexit(t *testing.T) {
	var got []uint64
	var errs []error
	for e, err := range Ahead(context.Background(), func(ctx context.Context, emit func([]chronicle.RecordedEvent) bool) error {
		emit([]chronicle.RecordedEvent{{Position: 1}, {Position: 2}})
		runtime.Goexit()
		return nil
	}) {
		if err != nil {
			errs = append(errs, err)
			continue
		}
		got = append(got, e.Position)
	}
	if !slices.Equal(got, []uint64{1, 2}) || len(errs) != 1 || !errors.Is(errs[0], errExited) {
		t.Errorf("read %v and errors %v, want [1 2] then %v", got, errs, errExited)
	}
}

// TestReadAheadRangesGrowing: events committed while the read is under
// way are read too, up to a head that adds nothing.
func TestReadAheadRangesGrowing(t *testing.T) {
	heads := 0
	l := &rangeLog{head: PageSize + 1, grow: func(head uint64) uint64 {
		if heads++; heads <= 3 {
			return head + 2*PageSize + 7
		}
		return head
	}}
	got, errs := read(ReadAhead(context.Background(), l, chronicle.ReadAllOptions{}), 0)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if want := l.positions(1); !slices.Equal(got, want) || len(want) != 7*PageSize+22 {
		t.Errorf("read %d events, want %d of the grown log", len(got), len(want))
	}
}

// TestReadAheadRangesSteadyAppends: a read ends once it has caught up
// with a log that never stops growing, as a read by pages ends at its
// first short page.
func TestReadAheadRangesSteadyAppends(t *testing.T) {
	heads := 0
	l := &rangeLog{head: 3 * PageSize, grow: func(head uint64) uint64 {
		if heads++; heads > 100 {
			return head // the test has failed: let the read end
		}
		return head + 5
	}}
	got, errs := read(ReadAhead(context.Background(), l, chronicle.ReadAllOptions{}), 0)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if heads > 3 {
		t.Errorf("the read asked for the head %d times: it did not end when it had caught up", heads)
	}
	if !slices.Equal(got, seq(1, len(got))) || len(got) < 3*PageSize {
		t.Errorf("read %d events, not 1 to n", len(got))
	}
}

// seq returns the n positions from from on.
func seq(from uint64, n int) []uint64 {
	out := make([]uint64, n)
	for i := range out {
		out[i] = from + uint64(i)
	}
	return out
}

// TestReadAheadRangesPanic: a panic in a range reaches the caller after
// the events before it, telling where the range panicked, and no range is
// left being read.
func TestReadAheadRangesPanic(t *testing.T) {
	l := &rangeLog{head: 6 * PageSize, panicAt: 2*PageSize + 1}
	var got int
	recovered := func() (p any) {
		defer func() { p = recover() }()
		for _, err := range ReadAhead(context.Background(), l, chronicle.ReadAllOptions{}) {
			if err != nil {
				t.Fatalf("error %v, want a panic", err)
			}
			got++
		}
		return nil
	}()
	if text := fmt.Sprint(recovered); !strings.HasPrefix(text, "range") || !strings.Contains(text, "catchup.(*rangeLog).Range") {
		t.Errorf("recovered %s, want the range's panic and where it was", text)
	}
	if got != 2*PageSize {
		t.Errorf("read %d events before the panic, want %d", got, 2*PageSize)
	}
	if f := l.inFlight.Load(); f != 0 {
		t.Errorf("%d ranges still being read after the panic", f)
	}
}

// TestReadAheadRangesCancel: a read whose context ends stops with its
// error, without reading the rest of the log.
func TestReadAheadRangesCancel(t *testing.T) {
	l := &rangeLog{head: 100 * PageSize}
	readCanceled(t, l)
	if r := l.ranges.Load(); r > 10 {
		t.Errorf("%d ranges read after a cancel at the second page", r)
	}
	if f := l.inFlight.Load(); f != 0 {
		t.Errorf("%d ranges still being read after the read returned", f)
	}
}

// TestReadAheadRangesNotUsed: a filtered or limited read goes by pages,
// as the Ranges doc says (rangeLog's Page panics).
func TestReadAheadRangesNotUsed(t *testing.T) {
	for _, opts := range []chronicle.ReadAllOptions{{Limit: 3}, {Filter: chronicle.Filter{Types: []string{"x"}}}} {
		func() {
			defer func() {
				if p := recover(); !strings.HasPrefix(fmt.Sprint(p), "a read by ranges called Page") {
					t.Errorf("%+v: recovered %v, want Page called", opts, p)
				}
			}()
			for range ReadAhead(context.Background(), &rangeLog{head: 10}, opts) {
			}
		}()
	}
}

// TestSubscribeRanges: a subscription catches up by ranges, then follows
// the log by pages: every event once, in order.
func TestSubscribeRanges(t *testing.T) {
	const caughtUp = 3*PageSize + 5
	l := &rangeLog{head: caughtUp, pages: true}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var got []uint64
	for e, err := range Subscribe(ctx, l, chronicle.SubscribeOptions{}, time.Millisecond) {
		if err != nil {
			t.Fatalf("after %d events: %v", len(got), err)
		}
		got = append(got, e.Position)
		// Appends as the subscription reaches the head: the first ten
		// it still reads by a (short) range, the next ten by pages.
		if e.Position == caughtUp || e.Position == caughtUp+10 {
			l.mu.Lock()
			l.head += 10
			l.mu.Unlock()
		}
		if e.Position == caughtUp+20 {
			break
		}
	}
	if !slices.Equal(got, seq(1, caughtUp+20)) {
		t.Errorf("got %d events, not 1 to %d in order", len(got), caughtUp+20)
	}
	if l.ranges.Load() < 4 || l.pageReads.Load() == 0 {
		t.Errorf("%d ranges and %d pages read: want the catch-up by ranges, then pages", l.ranges.Load(), l.pageReads.Load())
	}
}
