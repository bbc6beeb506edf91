package storetest

import (
	"context"
	"fmt"
	"iter"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chronicle-es/chronicle"
)

// Payload returns a JSON object of exactly size bytes, the event data of
// the APPEND workload (shared/bench/WORKLOAD.md uses 256).
func Payload(size int) []byte {
	const head, tail = `{"pad":"`, `"}`
	n := max(size-len(head)-len(tail), 0)
	return []byte(head + strings.Repeat("x", n) + tail)
}

// Bench runs the store benchmarks: appends with 1, 8 and 64 writers and
// 1, 10 and 100 events per append to 1,000 streams with exact expected
// revisions (the APPEND workload), and a read of the whole global log.
// Besides ns/op, each reports events/s.
func Bench(b *testing.B, newStore Factory) {
	for _, writers := range []int{1, 8, 64} {
		for _, batch := range []int{1, 10, 100} {
			b.Run(fmt.Sprintf("Append/writers=%d/batch=%d", writers, batch), func(b *testing.B) {
				BenchAppend(b, newStore(b), writers, batch)
			})
		}
	}
	b.Run("ReadAll/events=100000", func(b *testing.B) {
		BenchReadAll(b, newStore(b), 100_000)
	})
	b.Run("ReadStream/events=10000", func(b *testing.B) {
		BenchReadStream(b, newStore(b), 10_000)
	})
	b.Run("ReadStreamsWhileAppending/readers=64", func(b *testing.B) {
		BenchReadStreamsWhileAppending(b, newStore(b), 64)
	})
	b.Run("Subscribe", func(b *testing.B) {
		BenchSubscribe(b, newStore(b))
	})
	b.Run("SubscribeCatchUp/events=100000", func(b *testing.B) {
		BenchSubscribeCatchUp(b, newStore(b), 100_000)
	})
}

// BenchReadStreamsWhileAppending measures the reads of C4-PAR: readers
// goroutines read short streams (10 events each, of 1,000) whole, b.N
// reads in all, while another goroutine appends to them one event at a
// time, as the moves of concurrent games do. Besides ns/op (one stream
// read), it reports reads/s.
func BenchReadStreamsWhileAppending(b *testing.B, s chronicle.Store, readers int) {
	const streams, length = 1000, 10
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ev := chronicle.EventData{Type: "Benchmarked", Data: Payload(256)}
	evs := slices.Repeat([]chronicle.EventData{ev}, length)
	name := func(i int) string { return fmt.Sprintf("bench-%d", i%streams) }
	for i := range streams {
		if _, err := s.Append(ctx, name(i), chronicle.NoStream, evs...); err != nil {
			b.Fatal(err)
		}
	}
	var appender sync.WaitGroup
	appender.Go(func() {
		for i := 0; ctx.Err() == nil; i++ {
			if _, err := s.Append(ctx, name(i*7919), chronicle.Any, ev); err != nil && ctx.Err() == nil {
				b.Error(err)
				return
			}
		}
	})
	defer appender.Wait()
	defer cancel()
	var next atomic.Int64 // the next stream to read
	// RunParallel starts parallelism times GOMAXPROCS goroutines.
	b.SetParallelism(max(1, readers/runtime.GOMAXPROCS(0)))
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := int(next.Add(1))
			got := 0
			for _, err := range s.ReadStream(ctx, name(i), chronicle.ReadStreamOptions{}) {
				if err != nil {
					b.Error(err)
					return
				}
				got++
			}
			if got < length {
				b.Errorf("read %d events of %s, want at least %d", got, name(i), length)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "reads/s")
}

// BenchReadStream fills one stream of s with n events of the APPEND
// workload, then measures reading it whole, b.N times: the store's part
// of loading a long stream (the LOAD workload).
func BenchReadStream(b *testing.B, s chronicle.Store, n int) {
	ctx := context.Background()
	evs := make([]chronicle.EventData, min(n, 1000))
	for i := range evs {
		evs[i] = chronicle.EventData{Type: "Benchmarked", Data: Payload(256)}
	}
	for i := 0; i < n; i += len(evs) {
		if _, err := s.Append(ctx, "bench-long", chronicle.Any, evs[:min(len(evs), n-i)]...); err != nil {
			b.Fatal(err)
		}
	}
	benchReads(b, n, func() iter.Seq2[chronicle.RecordedEvent, error] {
		return s.ReadStream(ctx, "bench-long", chronicle.ReadStreamOptions{})
	})
}

// benchReads times b.N reads, each of n events, and reports events/s.
func benchReads(b *testing.B, n int, read func() iter.Seq2[chronicle.RecordedEvent, error]) {
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		got := 0
		for _, err := range read() {
			if err != nil {
				b.Fatal(err)
			}
			got++
		}
		if got != n {
			b.Fatalf("read %d events, want %d", got, n)
		}
	}
	b.ReportMetric(float64(b.N*n)/time.Since(start).Seconds(), "events/s")
}

// BenchSubscribe measures a subscription's latency (the SUB workload
// without the load beside it): one writer appends b.N single events,
// each after the previous one has arrived, and a subscriber on the global
// log notes when each arrives. Besides ns/op (an append and its
// delivery), it reports the median and 99th percentile of the time from
// the append returning to the event arriving; an event that arrives
// before its append returns counts as 0.
func BenchSubscribe(b *testing.B, s chronicle.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	arrived := make(chan time.Time)
	go func() {
		for _, err := range s.Subscribe(ctx, chronicle.SubscribeOptions{From: 1}) {
			if err != nil {
				return
			}
			select {
			case arrived <- time.Now():
			case <-ctx.Done():
				return
			}
		}
	}()
	ev := chronicle.EventData{Type: "Benchmarked", Data: Payload(256)}
	lat := make([]time.Duration, 0, b.N)
	expected := chronicle.NoStream
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		res, err := s.Append(ctx, "bench-sub", expected, ev)
		if err != nil {
			b.Fatal(err)
		}
		returned := time.Now()
		expected = res.NextExpected()
		lat = append(lat, max(0, (<-arrived).Sub(returned)))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2]), "p50-ns")
	b.ReportMetric(float64(lat[(len(lat)*99)/100]), "p99-ns")
}

// BenchAppend measures b.N appends of batch events each, made by writers
// goroutines at once. Writer w owns the streams w, w+writers, ... of
// 1,000, so exact expected revisions never conflict.
func BenchAppend(b *testing.B, s chronicle.Store, writers, batch int) {
	const streams = 1000
	data := Payload(256)
	evs := make([]chronicle.EventData, batch)
	for i := range evs {
		evs[i] = chronicle.EventData{Type: "Benchmarked", Data: data}
	}
	ctx := context.Background()
	var next sync.Mutex
	issued := 0
	take := func() bool {
		next.Lock()
		defer next.Unlock()
		if issued == b.N {
			return false
		}
		issued++
		return true
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for w := range min(writers, streams) {
		wg.Go(func() {
			var owned []string
			for i := w; i < streams; i += writers {
				owned = append(owned, fmt.Sprintf("bench-%d", i))
			}
			expected := make([]chronicle.ExpectedRevision, len(owned))
			for i := range expected {
				expected[i] = chronicle.NoStream
			}
			for i := 0; take(); i++ {
				k := i % len(owned)
				res, err := s.Append(ctx, owned[k], expected[k], evs...)
				if err != nil {
					b.Error(err)
					return
				}
				expected[k] = res.NextExpected()
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N*batch)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "appends/s")
}

// BenchReadAll fills s with n events of the APPEND workload, then measures
// reading the whole global log, b.N times.
func BenchReadAll(b *testing.B, s chronicle.Store, n int) {
	ctx := context.Background()
	fillLog(b, s, n)
	benchReads(b, n, func() iter.Seq2[chronicle.RecordedEvent, error] {
		return s.ReadAll(ctx, chronicle.ReadAllOptions{})
	})
}

// fillLog appends n 256-byte events to s, 1,000 to an append, in 1,000
// streams.
func fillLog(b *testing.B, s chronicle.Store, n int) {
	data := Payload(256)
	const batch = 1000
	evs := make([]chronicle.EventData, batch)
	for i := range evs {
		evs[i] = chronicle.EventData{Type: "Benchmarked", Data: data}
	}
	for i := 0; i < n; i += batch {
		if _, err := s.Append(context.Background(), fmt.Sprintf("bench-%d", i/batch%1000), chronicle.Any, evs[:min(batch, n-i)]...); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchSubscribeCatchUp measures a subscription from the start of a log
// of n events, until it has delivered the last one: a projection
// rebuilt from scratch. Besides ns/op, it reports events/s.
func BenchSubscribeCatchUp(b *testing.B, s chronicle.Store, n int) {
	fillLog(b, s, n)
	benchReads(b, n, func() iter.Seq2[chronicle.RecordedEvent, error] {
		// The subscription up to the log's last event.
		return func(yield func(chronicle.RecordedEvent, error) bool) {
			for e, err := range s.Subscribe(context.Background(), chronicle.SubscribeOptions{}) {
				if !yield(e, err) || err != nil || e.Position == uint64(n) {
					return
				}
			}
		}
	})
}
