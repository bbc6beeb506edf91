package catchup

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chronicle-es/chronicle"
)

// logSource is a log of n events at positions 1..n. failAt, when not 0,
// makes the page that would hold that position fail; reads counts pages.
type logSource struct {
	n, failAt uint64
	reads     atomic.Int64
}

var errPage = errors.New("page failed")

func (l *logSource) Page(ctx context.Context, from uint64, limit int, _ chronicle.Filter) ([]chronicle.RecordedEvent, uint64, error) {
	l.reads.Add(1)
	if err := ctx.Err(); err != nil {
		return nil, from, err
	}
	var page []chronicle.RecordedEvent
	for p := from; p <= l.n && len(page) < limit; p++ {
		if p == l.failAt {
			return nil, from, errPage
		}
		page = append(page, chronicle.RecordedEvent{Position: p})
	}
	return page, from + uint64(len(page)), nil
}

func (l *logSource) Changed() <-chan struct{} { return nil }

// read collects what a read yields, stopping after stopAfter events when
// it is positive.
func read(seq func(func(chronicle.RecordedEvent, error) bool), stopAfter int) (positions []uint64, errs []error) {
	for e, err := range seq {
		if err != nil {
			errs = append(errs, err)
			continue
		}
		positions = append(positions, e.Position)
		if stopAfter > 0 && len(positions) == stopAfter {
			break
		}
	}
	return positions, errs
}

// TestReadAheadAsReadAll: ReadAhead yields what ReadAll yields, for whole
// reads, limits, starting points, a failing page and an early stop.
func TestReadAheadAsReadAll(t *testing.T) {
	n := uint64(3*PageSize + 17)
	for _, tt := range []struct {
		name      string
		n, failAt uint64
		opts      chronicle.ReadAllOptions
		stopAfter int
	}{
		{"Empty", 0, 0, chronicle.ReadAllOptions{}, 0},
		{"Whole", n, 0, chronicle.ReadAllOptions{}, 0},
		{"OnePage", 10, 0, chronicle.ReadAllOptions{}, 0},
		{"ExactPages", 2 * PageSize, 0, chronicle.ReadAllOptions{}, 0},
		{"From", n, 0, chronicle.ReadAllOptions{From: PageSize + 3}, 0},
		{"Limit", n, 0, chronicle.ReadAllOptions{Limit: PageSize + 1}, 0},
		{"FailingPage", n, 2*PageSize + 5, chronicle.ReadAllOptions{}, 0},
		{"EarlyStop", n, 0, chronicle.ReadAllOptions{}, PageSize + 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			a, b := &logSource{n: tt.n, failAt: tt.failAt}, &logSource{n: tt.n, failAt: tt.failAt}
			wantPos, wantErrs := read(ReadAll(ctx, a, tt.opts), tt.stopAfter)
			gotPos, gotErrs := read(ReadAhead(ctx, b, tt.opts), tt.stopAfter)
			if !slices.Equal(gotPos, wantPos) {
				t.Errorf("ReadAhead read %d events (%v...), ReadAll %d", len(gotPos), gotPos[:min(3, len(gotPos))], len(wantPos))
			}
			if len(gotErrs) != len(wantErrs) || len(gotErrs) == 1 && !errors.Is(gotErrs[0], errPage) {
				t.Errorf("ReadAhead errors %v, ReadAll %v", gotErrs, wantErrs)
			}
			// Reading ahead reads at most two pages more than were used:
			// one waiting in the channel and one being read when the
			// caller stops.
			if got, want := b.reads.Load(), a.reads.Load(); got > want+2 {
				t.Errorf("ReadAhead read %d pages, ReadAll %d", got, want)
			}
		})
	}
}

// TestReadAheadCancel: a read whose context ends stops with the
// context's error, and the reader goroutine ends with it.
func TestReadAheadCancel(t *testing.T) {
	before := runtime.NumGoroutine()
	n := readCanceled(t, &logSource{n: 100 * PageSize})
	if n >= 100*PageSize {
		t.Fatalf("the read went on to the end (%d events) after its context ended", n)
	}
	// The early stop of the table test and this cancel leave no reader
	// behind.
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines after the read, %d before", runtime.NumGoroutine(), before)
		}
		time.Sleep(time.Millisecond)
	}
}

// readCanceled reads src with ReadAhead, cancels the read's context in
// its second page, and checks that the read ends with the context's
// error. It returns how many events it read.
func readCanceled(t *testing.T, src Source) int {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var n int
	var last error
	for _, err := range ReadAhead(ctx, src, chronicle.ReadAllOptions{}) {
		if err != nil {
			last = err
			break
		}
		if n++; n == PageSize+10 {
			cancel()
		}
	}
	if !errors.Is(last, context.Canceled) {
		t.Fatalf("after cancel, the read ended with %v after %d events, want context.Canceled", last, n)
	}
	return n
}

// TestAheadPanic: a panic of the reader reaches the caller's goroutine,
// after the pages read before it, whether the caller reads on or has
// stopped, so that the caller can recover it as it could without the
// goroutine. It tells where the reader panicked: the stack of the panic
// raised again is the caller's, which had lost it.
func TestAheadPanic(t *testing.T) {
	for _, stopAfter := range []int{0, 1} {
		var got int
		recovered := func() (p any) {
			defer func() { p = recover() }()
			for _, err := range Ahead(context.Background(), func(ctx context.Context, emit func([]chronicle.RecordedEvent) bool) error {
				emit([]chronicle.RecordedEvent{{Position: 1}, {Position: 2}})
				faultyRead()
				return nil
			}) {
				if err != nil {
					t.Fatalf("error %v, want a panic", err)
				}
				if got++; got == stopAfter {
					break
				}
			}
			return nil
		}()
		if text := fmt.Sprint(recovered); !strings.Contains(text, "boom") || !strings.Contains(text, "catchup.faultyRead") {
			t.Errorf("stopping after %d: recovered %s, want the reader's panic and where it was", stopAfter, text)
		}
		if stopAfter == 0 && got != 2 {
			t.Errorf("read %d events before the panic, want 2", got)
		}
	}
}

// faultyRead panics, for TestAheadPanic to find its name in the panic.
func faultyRead() { panic("boom") }

// TestAheadBodyPanic: a panic of the caller's loop body is the one that
// reaches the caller, even when the reader has panicked too (it has by
// the time Ahead has waited for it to end).
func TestAheadBodyPanic(t *testing.T) {
	recovered := func() (p any) {
		defer func() { p = recover() }()
		for range Ahead(context.Background(), func(ctx context.Context, emit func([]chronicle.RecordedEvent) bool) error {
			emit([]chronicle.RecordedEvent{{Position: 1}})
			panic("reader")
		}) {
			panic("body")
		}
		return nil
	}()
	if recovered != "body" {
		t.Errorf("recovered %v, want the loop body's panic", recovered)
	}
}
