package chronicle_test

import (
	"context"
	"fmt"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/memory"
	"github.com/google/uuid"
)

// Add and Added are the command and the event of a counter, for the
// examples of this file.
type (
	Add   struct{ N int }
	Added struct {
		N int `json:"n"`
	}
)

// counterRepo returns a repository of counters over store: the state is
// the total so far.
func counterRepo(store chronicle.Store) *chronicle.Repository[int, Add, Added] {
	counter := chronicle.Decider[int, Add, Added]{
		Decide: func(total int, cmd Add) ([]Added, error) { return []Added{{N: cmd.N}}, nil },
		Evolve: func(total int, e Added) int { return total + e.N },
	}
	codec := chronicle.MustCodec[Added](chronicle.JSON[Added]("Added"))
	return chronicle.NewRepository(store, codec, counter, nil)
}

// Take a snapshot every 3 events, so that a load reads the snapshot and
// the events after it rather than the whole stream. The memory store
// keeps the snapshots itself. Once the stream has a snapshot, the events
// it covers can be hidden (pruned), and loads still give the whole
// stream's state.
func ExampleRepository_WithSnapshots() {
	ctx := context.Background()
	store := memory.New(nil)
	repo, err := counterRepo(store).WithSnapshots(chronicle.Snapshots[int]{Every: 3})
	if err != nil {
		fmt.Println(err)
		return
	}
	for n := range 4 {
		if _, err := repo.Handle(ctx, "counter-1", Add{N: n + 1}); err != nil {
			fmt.Println(err)
			return
		}
	}
	snap, ok, err := store.LoadSnapshot(ctx, "counter-1")
	fmt.Printf("snapshot: %v, after revision %d, %s, %v\n", ok, snap.Revision, snap.Data, err)

	// Prune the stream: hide the events that the snapshot covers. A
	// replay sees only the last event; a load from the snapshot, all.
	if err := store.SetStreamMetadata(ctx, "counter-1", chronicle.StreamMetadata{TruncateBefore: snap.Revision + 1}); err != nil {
		fmt.Println(err)
		return
	}
	total, rev, err := repo.Load(ctx, "counter-1")
	fmt.Printf("loaded: total %d at revision %v, %v\n", total, rev, err)
	total, rev, err = counterRepo(store).Load(ctx, "counter-1")
	fmt.Printf("replayed without snapshots: total %d at revision %v, %v\n", total, rev, err)
	// Output:
	// snapshot: true, after revision 2, 6, <nil>
	// loaded: total 10 at revision 3, <nil>
	// replayed without snapshots: total 4 at revision 3, <nil>
}

// A command that may be delivered twice, as one a workflow sends again
// after a crash, carries an ID; handled again, it is found among the
// stream's events and not decided a second time.
func ExampleRepository_HandleOnce() {
	ctx := context.Background()
	repo := counterRepo(memory.New(nil))
	// The ID of the command: derived from what caused it, so that every
	// delivery carries the same one.
	id := uuid.MustParse("6f1c2a3e-0d4b-4a8e-9c1f-2b3d4e5f6a7b")
	for range 2 {
		out, err := repo.HandleOnce(ctx, "counter-1", Add{N: 5}, id)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("total %d, duplicate %v\n", out.State, out.Duplicate)
	}
	// Output:
	// total 5, duplicate false
	// total 5, duplicate true
}
