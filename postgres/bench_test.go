package postgres_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/storetest"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The store's benchmarks and, in the same run and on the same server, the
// raw-insert baseline of shared/bench/WORKLOAD.md that they are judged
// against. See docs/benchmarks-postgres.md for recorded figures. Like the
// tests, they need CHRONICLE_POSTGRES_URL.

// BenchmarkStore runs the shared store benchmarks, each in a new schema.
func BenchmarkStore(b *testing.B) {
	storetest.Bench(b, func(tb testing.TB) chronicle.Store { return mustOpenNew(tb) })
}

// BenchmarkBaselineRawInsert inserts 256-byte rows into a bare table with
// a bigserial key, through pgx, in one statement and one commit per op:
// rows=1 is a plain INSERT, rows=100 a multi-row INSERT of an unnested
// array, as the store's. writers connections do so at once, so that
// PostgreSQL's own grouping of WAL flushes shows. This is the server's
// limit for durable appends, without positions that follow commit order.
func BenchmarkBaselineRawInsert(b *testing.B) {
	for _, writers := range []int{1, 64} {
		for _, rows := range []int{1, 100} {
			b.Run(fmt.Sprintf("writers=%d/rows=%d", writers, rows), func(b *testing.B) {
				benchRawInsert(b, writers, rows)
			})
		}
	}
}

func benchRawInsert(b *testing.B, writers, rows int) {
	schema := newSchema(b)
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(testURL(b))
	if err != nil {
		b.Fatal(err)
	}
	cfg.MaxConns = int32(writers)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	table := pgx.Identifier{schema, "raw"}.Sanitize()
	for _, stmt := range []string{
		"CREATE SCHEMA " + pgx.Identifier{schema}.Sanitize(),
		"CREATE TABLE " + table + " (id bigserial PRIMARY KEY, data bytea NOT NULL)",
	} {
		if _, err := pool.Exec(ctx, stmt); err != nil {
			b.Fatal(err)
		}
	}
	data := storetest.Payload(256)
	batch := make([][]byte, rows)
	for i := range batch {
		batch[i] = data
	}
	one := "INSERT INTO " + table + " (data) VALUES ($1)"
	many := "INSERT INTO " + table + " (data) SELECT unnest($1::bytea[])"
	var mu sync.Mutex
	issued := 0
	take := func() bool {
		mu.Lock()
		defer mu.Unlock()
		if issued == b.N {
			return false
		}
		issued++
		return true
	}
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for take() {
				var err error
				if rows == 1 {
					_, err = pool.Exec(ctx, one, data)
				} else {
					_, err = pool.Exec(ctx, many, batch)
				}
				if err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	b.StopTimer()
	b.ReportMetric(float64(b.N*rows)/elapsed, "rows/s")
	b.ReportMetric(float64(b.N)/elapsed, "commits/s")
}

// BenchmarkAppendDuringScavenge reports the slowest append to another
// stream while a scavenge removes 150,000 hidden events of one stream,
// its last event among them, which takes the head lock that every append
// needs: held for the whole delete, appends waited 190-470 ms; held for
// the last event alone, 6-44 ms.
//
//	go test -run '^$' -bench AppendDuringScavenge -benchtime 1x ./postgres/
func BenchmarkAppendDuringScavenge(b *testing.B) {
	ctx := context.Background()
	for range b.N {
		b.StopTimer()
		s := mustOpenNew(b)
		evs := make([]chronicle.EventData, 1000)
		for i := range evs {
			evs[i] = chronicle.EventData{Type: "E", Data: []byte(`{"x":"0123456789012345678901234567890123456789"}`)}
		}
		for range 150 {
			if _, err := s.Append(ctx, "big", chronicle.Any, evs...); err != nil {
				b.Fatal(err)
			}
		}
		if err := s.SetStreamMetadata(ctx, "big", chronicle.StreamMetadata{TruncateBefore: 1 << 40}); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		done := make(chan error)
		go func() {
			_, err := s.Scavenge(ctx, nil)
			done <- err
		}()
		var worst time.Duration
	appends:
		for i := 0; ; i++ {
			select {
			case err := <-done:
				if err != nil {
					b.Fatal(err)
				}
				break appends
			default:
			}
			start := time.Now()
			if _, err := s.Append(ctx, fmt.Sprintf("other-%d", i), chronicle.Any, chronicle.EventData{Type: "E"}); err != nil {
				b.Fatal(err)
			}
			worst = max(worst, time.Since(start))
			time.Sleep(2 * time.Millisecond)
		}
		b.ReportMetric(float64(worst.Microseconds())/1000, "worst-append-ms")
	}
}
