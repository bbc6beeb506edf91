package memory_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/memory"
)

// TestScavengeStress runs appends, reads, subscriptions, deletes, metadata
// changes, snapshots and listings while scavenges run, two at a time,
// some cut short by their context, whose progress functions use the
// store. Kept streams have no metadata: none of their events may be lost,
// repeated or read out of order, and no position or revision is handed
// out twice.
func TestScavengeStress(t *testing.T) {
	ctx := context.Background()
	s := memory.New(nil)
	const dur = 300 * time.Millisecond
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var failed atomic.Bool
	fail := func(format string, args ...any) {
		failed.Store(true)
		t.Errorf(format, args...)
	}

	// kept holds the positions of the kept events appended, in order of
	// position once all are in.
	var keptMu sync.Mutex
	var kept []uint64
	keptSnapshot := func() []uint64 {
		keptMu.Lock()
		defer keptMu.Unlock()
		out := slices.Clone(kept)
		slices.Sort(out)
		return out
	}
	var resMu sync.Mutex
	var results []chronicle.AppendResult
	revs := map[string][]uint64{}

	record := func(stream string, res chronicle.AppendResult) {
		resMu.Lock()
		results = append(results, res)
		for r := res.FirstRevision; r <= res.LastRevision; r++ {
			revs[stream] = append(revs[stream], r)
		}
		resMu.Unlock()
	}

	// Appenders to kept streams.
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stream := fmt.Sprintf("kept-%d", w)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				n := 1 + i%3
				evs := make([]chronicle.EventData, n)
				for j := range evs {
					evs[j] = chronicle.EventData{Type: "K", Data: []byte(`{}`)}
				}
				res, err := s.Append(ctx, stream, chronicle.Any, evs...)
				if err != nil {
					fail("append %s: %v", stream, err)
					return
				}
				record(stream, res)
				keptMu.Lock()
				for p := res.FirstPosition; p <= res.LastPosition; p++ {
					kept = append(kept, p)
				}
				keptMu.Unlock()
			}
		}()
	}
	// Appenders to capped, deleted and tombstoned streams.
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				stream := fmt.Sprintf("capped-%d-%d", w, r.IntN(4))
				switch r.IntN(10) {
				case 0:
					stream = fmt.Sprintf("gone-%d-%d", w, i)
					res, err := s.Append(ctx, stream, chronicle.NoStream, chronicle.EventData{Type: "G", Data: []byte(`{}`)}, chronicle.EventData{Type: "G", Data: []byte(`{}`)})
					if err != nil {
						fail("append %s: %v", stream, err)
						return
					}
					record(stream, res)
					if r.IntN(2) == 0 {
						err = s.Tombstone(ctx, stream, chronicle.Any)
					} else {
						err = s.Delete(ctx, stream, chronicle.Any)
					}
					if err != nil {
						fail("delete %s: %v", stream, err)
					}
					continue
				case 1:
					if err := s.SetStreamMetadata(ctx, stream, chronicle.StreamMetadata{MaxCount: uint64(1 + r.IntN(3))}); err != nil {
						fail("metadata %s: %v", stream, err)
					}
				case 2:
					_ = s.SaveSnapshot(ctx, chronicle.Snapshot{Stream: stream, Revision: uint64(i), Type: "S", Version: 1, Data: []byte("x")})
					if _, _, err := s.LoadSnapshot(ctx, stream); err != nil {
						fail("load snapshot: %v", err)
					}
				}
				res, err := s.Append(ctx, stream, chronicle.Any, chronicle.EventData{Type: "C", Data: []byte(`{}`)})
				if err != nil {
					fail("append %s: %v", stream, err)
					return
				}
				record(stream, res)
			}
		}()
	}

	// check reads a sequence and checks that positions move one way and
	// that every kept event known before the read is there.
	checkRead := func(what string, seq func(func(chronicle.RecordedEvent, error) bool), backwards bool, want []uint64, filtered bool) {
		var got []uint64
		for e, err := range seq {
			if err != nil {
				fail("%s: %v", what, err)
				return
			}
			if filtered && e.Type != "K" {
				fail("%s: filter let through %+v", what, e)
				return
			}
			if n := len(got); n > 0 && (backwards && e.Position >= got[n-1] || !backwards && e.Position <= got[n-1]) {
				fail("%s: position %d after %d", what, e.Position, got[n-1])
				return
			}
			if e.Stream == "" {
				fail("%s: a removed event read: %+v", what, e)
				return
			}
			got = append(got, e.Position)
		}
		slices.Sort(got)
		for _, p := range want {
			if _, ok := slices.BinarySearch(got, p); !ok {
				fail("%s: kept event at %d not read", what, p)
				return
			}
		}
	}

	// Readers of the log.
	for _, backwards := range []bool{false, true} {
		for _, filtered := range []bool{false, true} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					want := keptSnapshot()
					opts := chronicle.ReadAllOptions{Backwards: backwards}
					if backwards {
						opts.From = chronicle.End
					}
					if filtered {
						opts.Filter = chronicle.Filter{Types: []string{"K"}}
					}
					checkRead(fmt.Sprintf("ReadAll backwards=%v filtered=%v", backwards, filtered), s.ReadAll(ctx, opts), backwards, want, filtered)
				}
			}()
		}
	}

	// Listers.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := s.ListStreams(ctx, chronicle.ListStreamsOptions{}); err != nil {
				fail("ListStreams: %v", err)
			}
			if _, _, err := s.CountStreams(ctx); err != nil {
				fail("CountStreams: %v", err)
			}
		}
	}()

	// Subscriptions, from the start, filtered or not.
	subCtx, cancelSubs := context.WithCancel(ctx)
	defer cancelSubs()
	type subResult struct {
		mu       sync.Mutex
		got      []uint64
		filtered bool
	}
	subs := make([]*subResult, 2)
	var subWG sync.WaitGroup
	defer func() {
		cancelSubs()
		subWG.Wait()
	}()
	for i := range subs {
		subs[i] = &subResult{filtered: i == 1}
		sr := subs[i]
		subWG.Add(1)
		go func() {
			defer subWG.Done()
			opts := chronicle.SubscribeOptions{}
			if sr.filtered {
				opts.Filter = chronicle.Filter{Types: []string{"K"}}
			}
			for e, err := range s.Subscribe(subCtx, opts) {
				if err != nil {
					if !errors.Is(err, context.Canceled) {
						fail("subscription: %v", err)
					}
					return
				}
				if n := len(sr.got); n > 0 && e.Position <= sr.got[n-1] {
					fail("subscription (filtered %v): position %d after %d", sr.filtered, e.Position, sr.got[n-1])
					return
				}
				sr.mu.Lock()
				sr.got = append(sr.got, e.Position)
				sr.mu.Unlock()
			}
		}()
	}

	// Scavengers, two at once, some cut short; their progress functions
	// use the store.
	var removed atomic.Uint64
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				sctx, cancel := context.WithCancel(ctx)
				calls := 0
				p, err := s.Scavenge(sctx, func(chronicle.ScavengeProgress) {
					calls++
					if _, _, err := s.CountStreams(ctx); err != nil {
						fail("CountStreams in progress: %v", err)
					}
					for range s.ReadAll(ctx, chronicle.ReadAllOptions{Backwards: true, From: chronicle.End, Limit: 3}) {
					}
					if i%3 == w && calls == 2 {
						cancel()
					}
				})
				cancel()
				if err != nil && !errors.Is(err, context.Canceled) {
					fail("scavenge: %v", err)
				}
				removed.Add(p.Removed)
			}
		}()
	}

	time.Sleep(dur)
	close(stop)
	wg.Wait()
	if failed.Load() {
		return
	}

	// Every position handed out once, 1 to N; every stream's revisions
	// once, from 0.
	resMu.Lock()
	var all []uint64
	for _, res := range results {
		for p := res.FirstPosition; p <= res.LastPosition; p++ {
			all = append(all, p)
		}
	}
	slices.Sort(all)
	for i, p := range all {
		if p != uint64(i+1) {
			t.Fatalf("positions handed out: %d at index %d (of %d)", p, i, len(all))
		}
	}
	for stream, rs := range revs {
		slices.Sort(rs)
		for i, r := range rs {
			if r != uint64(i) {
				t.Fatalf("stream %s: revisions handed out %v", stream, rs)
			}
		}
	}
	resMu.Unlock()

	// What the scavenges reported removed is what is gone from the log.
	_, events, err := s.CountStreams(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if gone := uint64(len(all)) - events; gone != removed.Load() {
		t.Errorf("the scavenges reported %d events removed, %d are gone from the log", removed.Load(), gone)
	}

	// The subscriptions catch up with every kept event, once.
	want := keptSnapshot()
	if len(want) == 0 {
		t.Fatal("no kept event was appended")
	}
	// Wait for each subscription to deliver the last kept event (or
	// give up after a while: the check below then says what is missing).
	deadline := time.Now().Add(10 * time.Second)
	for _, sr := range subs {
		for time.Now().Before(deadline) && !failed.Load() {
			sr.mu.Lock()
			_, done := slices.BinarySearch(sr.got, want[len(want)-1])
			sr.mu.Unlock()
			if done {
				break
			}
			time.Sleep(time.Millisecond)
		}
	}
	cancelSubs()
	subWG.Wait()
	for _, sr := range subs {
		got := sr.got
		for _, p := range want {
			if _, ok := slices.BinarySearch(got, p); !ok {
				t.Fatalf("subscription (filtered %v): kept event at %d not delivered (%d delivered)", sr.filtered, p, len(got))
			}
		}
		if sr.filtered && len(got) != len(want) {
			t.Fatalf("filtered subscription delivered %d events, %d kept", len(got), len(want))
		}
	}
	checkRead("final ReadAll", s.ReadAll(ctx, chronicle.ReadAllOptions{}), false, want, false)
	t.Logf("%d events, %d kept, %d removed", len(all), len(want), removed.Load())
}
