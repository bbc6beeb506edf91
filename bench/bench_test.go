package main

import (
	"context"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/examples/connectfour"
	"github.com/chronicle-es/chronicle/memory"
	"github.com/chronicle-es/chronicle/sqlite"
	"github.com/google/uuid"
)

// Go benchmarks of the hot paths the workloads spend their time in, for
// benchstat to compare two commits (go test -bench . -count 10 ./bench).
// The store-level ones (append, read, subscribe) are in storetest and
// run from each store's package.

func benchStores(b *testing.B, fn func(b *testing.B, s chronicle.Store)) {
	b.Run("memory", func(b *testing.B) { fn(b, memory.New(nil)) })
	b.Run("sqlite", func(b *testing.B) {
		s, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"), nil)
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		fn(b, s)
	})
}

// BenchmarkDecode decodes recorded Connect Four events into their Go
// types through the game's codec: REPLAY's and every load's cost per
// event beyond the store's.
func BenchmarkDecode(b *testing.B) {
	pool, err := gamePool(20)
	if err != nil {
		b.Fatal(err)
	}
	var recs []chronicle.RecordedEvent
	for _, g := range pool {
		for _, d := range g {
			recs = append(recs, chronicle.RecordedEvent{Type: d.Type, Data: d.Data})
		}
	}
	codec := connectfour.NewCodec()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := codec.Decode(recs[i%len(recs)]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRepositoryLoad loads a whole Connect Four game (one of the
// longest, 44 events) through the game's repository: the read half of
// every move in C4-SEQ and C4-PAR.
func BenchmarkRepositoryLoad(b *testing.B) {
	pool, err := gamePool(200)
	if err != nil {
		b.Fatal(err)
	}
	longest := pool[0]
	for _, g := range pool {
		if len(g) > len(longest) {
			longest = g
		}
	}
	benchStores(b, func(b *testing.B, s chronicle.Store) {
		ctx := context.Background()
		stream := connectfour.StreamName(uuid.New())
		if _, err := s.Append(ctx, stream, chronicle.NoStream, longest...); err != nil {
			b.Fatal(err)
		}
		repo := chronicle.NewRepository(s, connectfour.NewCodec(), connectfour.NewDecider(), nil)
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			g, _, err := repo.Load(ctx, stream)
			if err != nil {
				b.Fatal(err)
			}
			if !g.Finished() {
				b.Fatal("the game loaded unfinished")
			}
		}
		b.ReportMetric(float64(len(longest)), "events/load")
	})
}

// BenchmarkMove plays Connect Four games one move at a time through the
// example's service, as C4-SEQ does: each op is one full command (load,
// decide, durable append).
func BenchmarkMove(b *testing.B) {
	benchStores(b, func(b *testing.B, s chronicle.Store) {
		ctx := context.Background()
		svc := connectfour.NewService(s)
		b.ReportAllocs()
		b.ResetTimer()
		moves, game := 0, 0
		for moves < b.N {
			var run c4Run
			if err := playGame(ctx, svc, game, &run); err != nil {
				b.Fatal(err)
			}
			moves += run.moves
			game++
		}
	})
}

// BenchmarkStartGame starts Connect Four games through the game's
// repository, 64 at a time as in C4-PAR, with Handle, which reads the new
// stream first, and with HandleNew, which does not: the cost of
// CreateGame.
func BenchmarkStartGame(b *testing.B) {
	for _, how := range []string{"Handle", "HandleNew"} {
		b.Run(how, func(b *testing.B) {
			benchStores(b, func(b *testing.B, s chronicle.Store) {
				ctx := context.Background()
				repo := chronicle.NewRepository(s, connectfour.NewCodec(), connectfour.NewDecider(), nil)
				handle := repo.Handle
				if how == "HandleNew" {
					handle = repo.HandleNew
				}
				start := connectfour.StartGame{PlayerOne: "red", PlayerTwo: "yellow"}
				b.SetParallelism(max(1, 64/runtime.GOMAXPROCS(0)))
				b.ReportAllocs()
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, err := handle(ctx, connectfour.StreamName(uuid.New()), start); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		})
	}
}
