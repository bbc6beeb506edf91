package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/storetest"
)

// appendRun is what one (writers, batch) case of APPEND did.
type appendRun struct {
	appends, events int
	elapsed         time.Duration
	lat             []time.Duration
}

// appendStreams is the number of streams APPEND writes to.
const appendStreams = 1000

// appendWorkload runs APPEND on a new store for d: writers goroutines
// append batch 256-byte JSON events at a time to 1,000 streams, with
// exact expected revisions. Writer w owns the streams w, w+writers, ...,
// so the revisions it expects are always right: every append must
// succeed, and a refused one fails the run.
func (h *harness) appendWorkload(ctx context.Context, t target, writers, batch int, d time.Duration) (appendRun, error) {
	s, err := t.open(ctx, fmt.Sprintf("append-w%d-b%d", writers, batch), h.cfg.keep)
	if err != nil {
		return appendRun{}, err
	}
	defer s.Close()
	evs := make([]chronicle.EventData, batch)
	for i := range evs {
		evs[i] = chronicle.EventData{Type: "Benchmarked", Data: storetest.Payload(256)}
	}
	var mu sync.Mutex
	var total appendRun
	var firstErr error
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for w := range min(writers, appendStreams) {
		wg.Go(func() {
			var owned []string
			for i := w; i < appendStreams; i += writers {
				owned = append(owned, fmt.Sprintf("bench-%d", i))
			}
			expected := make([]chronicle.ExpectedRevision, len(owned))
			for i := range expected {
				expected[i] = chronicle.NoStream
			}
			lat := make([]time.Duration, 0, 1024)
			n := 0
			for i := 0; time.Now().Before(deadline); i++ {
				k := i % len(owned)
				t0 := time.Now()
				res, err := s.Append(ctx, owned[k], expected[k], evs...)
				lat = append(lat, time.Since(t0))
				if err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
					return
				}
				expected[k] = res.NextExpected()
				n++
			}
			mu.Lock()
			defer mu.Unlock()
			total.appends += n
			total.events += n * batch
			total.lat = append(total.lat, lat...)
		})
	}
	wg.Wait()
	total.elapsed = time.Since(start)
	if firstErr != nil {
		return total, fmt.Errorf("append W=%d B=%d on %s: %w", writers, batch, t.kind, firstErr)
	}
	if err := checkLogEnd(ctx, s, total.events); err != nil {
		return total, fmt.Errorf("append W=%d B=%d on %s: %w", writers, batch, t.kind, err)
	}
	return total, nil
}

// checkLogEnd checks that the global log of s, a new store, ends at
// position events: positions are gapless on a new store, so the last one
// is the count. An empty log ends at 0.
func checkLogEnd(ctx context.Context, s chronicle.Store, events int) error {
	var last uint64
	for rec, err := range s.ReadAll(ctx, chronicle.ReadAllOptions{Backwards: true, From: chronicle.End, Limit: 1}) {
		if err != nil {
			return err
		}
		last = rec.Position
	}
	if last != uint64(events) {
		return fmt.Errorf("the log ends at position %d, but the appends reported %d events", last, events)
	}
	return nil
}
