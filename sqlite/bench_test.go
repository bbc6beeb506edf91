package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/internal/rawread"
	"github.com/chronicle-es/chronicle/storetest"
)

// The store's benchmarks and, in the same run, the baselines of
// shared/bench/WORKLOAD.md that they are judged against: the disk's
// write+fsync rate, and raw SQLite through the same driver with the same
// pragmas. See docs/benchmarks.md for recorded figures.

func openBench(tb testing.TB, opts *Options) *Store {
	tb.Helper()
	s, err := Open(context.Background(), filepath.Join(tb.TempDir(), "bench.db"), opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// BenchmarkStore runs the shared store benchmarks in durable mode.
func BenchmarkStore(b *testing.B) {
	storetest.Bench(b, func(tb testing.TB) chronicle.Store { return openBench(tb, nil) })
}

// BenchmarkStoreFileReads is BenchmarkStore's C4-PAR reads with the
// stream cache off, so that every read goes to the file.
func BenchmarkStoreFileReads(b *testing.B) {
	b.Run("ReadStreamsWhileAppending/readers=64", func(b *testing.B) {
		storetest.BenchReadStreamsWhileAppending(b, openBench(b, &Options{CacheEvents: -1}), 64)
	})
}

// BenchmarkStoreRelaxed is the same with Relaxed durability: labelled, and
// never to be compared with durable figures.
func BenchmarkStoreRelaxed(b *testing.B) {
	for _, writers := range []int{1, 64} {
		b.Run(fmt.Sprintf("Append/writers=%d/batch=1", writers), func(b *testing.B) {
			storetest.BenchAppend(b, openBench(b, &Options{Durability: Relaxed}), writers, 1)
		})
	}
}

// BenchmarkBaselineFsync measures the disk's rate of small write+fsync
// pairs in the directory the benchmarks write to: the physical limit of
// one-at-a-time durable commits.
func BenchmarkBaselineFsync(b *testing.B) {
	f, err := os.Create(filepath.Join(b.TempDir(), "fsync"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	buf := storetest.Payload(256)
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		if _, err := f.Write(buf); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "fsyncs/s")
}

// rawDB opens a bare SQLite file with the store's driver and pragmas.
func rawDB(b *testing.B) *sql.DB {
	db, err := sql.Open("sqlite", dsn(filepath.Join(b.TempDir(), "raw.db"), DefaultBusyTimeout,
		"journal_mode(WAL)", "synchronous(FULL)", "foreign_keys(ON)"))
	if err != nil {
		b.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	b.Cleanup(func() { db.Close() })
	if _, err := db.Exec("CREATE TABLE t (id INTEGER PRIMARY KEY, data BLOB NOT NULL)"); err != nil {
		b.Fatal(err)
	}
	return db
}

// BenchmarkBaselineRawInsert inserts 256-byte rows into a bare table, one
// transaction per op, with 1 or 100 rows per transaction: the engine's
// own limit for durable appends.
func BenchmarkBaselineRawInsert(b *testing.B) {
	for _, rows := range []int{1, 100} {
		b.Run(fmt.Sprintf("rows=%d", rows), func(b *testing.B) {
			db := rawDB(b)
			data := storetest.Payload(256)
			b.ResetTimer()
			start := time.Now()
			for range b.N {
				tx, err := db.Begin()
				if err != nil {
					b.Fatal(err)
				}
				for range rows {
					if _, err := tx.Exec("INSERT INTO t (data) VALUES (?)", data); err != nil {
						b.Fatal(err)
					}
				}
				if err := tx.Commit(); err != nil {
					b.Fatal(err)
				}
			}
			elapsed := time.Since(start).Seconds()
			b.ReportMetric(float64(b.N*rows)/elapsed, "rows/s")
			b.ReportMetric(float64(b.N)/elapsed, "commits/s")
		})
	}
}

// BenchmarkBaselineRawSelect reads the same 100,000 events that
// BenchmarkStore/ReadAll reads, in one plain query: "driver" reads the
// driver's rows and keeps their values, as the store does, which is the
// engine's limit for a replay; "Scan" scans the same columns into the
// same Go types through database/sql, as a program of raw SQL would.
func BenchmarkBaselineRawSelect(b *testing.B) {
	const n = 100_000
	s := openBench(b, nil)
	ctx := context.Background()
	evs := make([]chronicle.EventData, 1000)
	for i := range evs {
		evs[i] = chronicle.EventData{Type: "Benchmarked", Data: storetest.Payload(256)}
	}
	for i := 0; i < n; i += len(evs) {
		if _, err := s.Append(ctx, fmt.Sprintf("bench-%d", i/len(evs)), chronicle.Any, evs...); err != nil {
			b.Fatal(err)
		}
	}
	const query = "SELECT " + eventColumns + " FROM events ORDER BY position"
	run := func(b *testing.B, read func() (int, error)) {
		start := time.Now()
		for range b.N {
			got, err := read()
			if err != nil {
				b.Fatal(err)
			}
			if got != n {
				b.Fatalf("read %d rows, want %d", got, n)
			}
		}
		b.ReportMetric(float64(b.N*n)/time.Since(start).Seconds(), "events/s")
	}
	b.Run("driver", func(b *testing.B) {
		run(b, func() (int, error) { return rawread.Driver(ctx, s.read, query) })
	})
	b.Run("Scan", func(b *testing.B) {
		run(b, func() (int, error) { return rawread.Scan(ctx, s.read, query) })
	})
}

// BenchmarkListStreams lists the 50 streams written last, and counts the
// streams, as the server's stream browser and dashboard do, in stores of
// few long streams and of many short ones.
func BenchmarkListStreams(b *testing.B) {
	for _, shape := range []struct{ streams, each int }{{1000, 1000}, {100_000, 10}} {
		b.Run(fmt.Sprintf("streams=%d/events=%d", shape.streams, shape.streams*shape.each), func(b *testing.B) {
			ctx := context.Background()
			s := openBench(b, &Options{Durability: Relaxed})
			data := []byte(`{"n":1}`)
			// Writers of one stream in 16 each, so that group commit fills
			// the store quickly; stream i is in category s(i%7).
			var wg sync.WaitGroup
			for w := range 16 {
				wg.Go(func() {
					for round := range shape.each {
						for i := w; i < shape.streams; i += 16 {
							want := chronicle.NoStream
							if round > 0 {
								want = chronicle.Exact(uint64(round - 1))
							}
							if _, err := s.Append(ctx, fmt.Sprintf("s%d-%d", i%7, i), want, chronicle.EventData{Type: "E", Data: data}); err != nil {
								b.Error(err)
								return
							}
						}
					}
				})
			}
			wg.Wait()
			if b.Failed() {
				b.FailNow()
			}
			b.Run("List50", func(b *testing.B) {
				for b.Loop() {
					if got, err := s.ListStreams(ctx, chronicle.ListStreamsOptions{Limit: 50}); err != nil || len(got) != 50 {
						b.Fatal(len(got), err)
					}
				}
			})
			b.Run("List50Category", func(b *testing.B) {
				for b.Loop() {
					if got, err := s.ListStreams(ctx, chronicle.ListStreamsOptions{Category: "s3", Limit: 50}); err != nil || len(got) != 50 {
						b.Fatal(len(got), err)
					}
				}
			})
			b.Run("Count", func(b *testing.B) {
				for b.Loop() {
					if n, _, err := s.CountStreams(ctx); err != nil || n != uint64(shape.streams) {
						b.Fatal(n, err)
					}
				}
			})
		})
	}
}

// BenchmarkUpdate runs a read model's transaction that writes one row, as
// a projection's handler and its checkpoint do, in Relaxed mode so that no
// fsync hides the cost of Update itself. "AfterAppend" appends before each
// Update: another connection's commit, which the update connection sees.
func BenchmarkUpdate(b *testing.B) {
	for _, appending := range []bool{false, true} {
		name := "Alone"
		if appending {
			name = "AfterAppend"
		}
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			s := openBench(b, &Options{Durability: Relaxed})
			if err := s.Update(ctx, func(tx *sql.Tx) error {
				_, err := tx.ExecContext(ctx, "CREATE TABLE model (id INTEGER PRIMARY KEY, n INTEGER)")
				return err
			}); err != nil {
				b.Fatal(err)
			}
			n := 0
			for b.Loop() {
				n++
				if appending {
					if _, err := s.Append(ctx, "s", chronicle.Any, chronicle.EventData{Type: "E"}); err != nil {
						b.Fatal(err)
					}
				}
				if err := s.Update(ctx, func(tx *sql.Tx) error {
					_, err := tx.ExecContext(ctx, "INSERT INTO model (id, n) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET n = excluded.n", n)
					return err
				}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
