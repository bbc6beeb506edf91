package chronicle_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/memory"
)

// revisions returns the revisions that a read of stream returns, and the
// error that ends it.
func revisions(ctx context.Context, store chronicle.Store, stream string) ([]uint64, error) {
	var revs []uint64
	for e, err := range store.ReadStream(ctx, stream, chronicle.ReadStreamOptions{}) {
		if err != nil {
			return revs, err
		}
		revs = append(revs, e.Revision)
	}
	return revs, nil
}

// Keep only part of a stream: its metadata hides the events that a read
// no longer returns. Stores that offer it implement [chronicle.Retention];
// the memory store does.
func ExampleRetention() {
	ctx := context.Background()
	store := memory.New(nil)
	for range 5 {
		store.Append(ctx, "sensor-1", chronicle.Any, chronicle.EventData{Type: "TemperatureRead"})
	}

	// The newest 3 events only.
	store.SetStreamMetadata(ctx, "sensor-1", chronicle.StreamMetadata{MaxCount: 3})
	fmt.Println(revisions(ctx, store, "sensor-1"))

	// Nothing before revision 4. Metadata is replaced as a whole, and
	// when several settings are set, the stricter wins.
	store.SetStreamMetadata(ctx, "sensor-1", chronicle.StreamMetadata{MaxCount: 3, TruncateBefore: 4})
	fmt.Println(revisions(ctx, store, "sensor-1"))

	// Revisions do not move: the next event is revision 5.
	res, _ := store.Append(ctx, "sensor-1", chronicle.Exact(4), chronicle.EventData{Type: "TemperatureRead"})
	fmt.Println("appended revision", res.FirstRevision)

	// Events recorded longer ago than MaxAge are hidden too: here, all of
	// them. A stream whose events are all hidden still exists: its read
	// returns no events and no error, not ErrStreamNotFound.
	store.SetStreamMetadata(ctx, "sensor-1", chronicle.StreamMetadata{MaxAge: time.Millisecond})
	time.Sleep(5 * time.Millisecond)
	fmt.Println(revisions(ctx, store, "sensor-1"))

	// Hidden events stay in the global log until a scavenge removes them.
	n := 0
	for range store.ReadAll(ctx, chronicle.ReadAllOptions{}) {
		n++
	}
	fmt.Println(n, "events in the global log")
	// Output:
	// [2 3 4] <nil>
	// [4] <nil>
	// appended revision 5
	// [] <nil>
	// 6 events in the global log
}

// Delete a stream. A soft delete hides its events, and an append starts
// it again after its old last revision; a tombstone deletes it for good.
// Stores that offer deletion implement [chronicle.Deleter]; the memory
// store does.
func ExampleDeleter() {
	ctx := context.Background()
	store := memory.New(nil)
	store.Append(ctx, "cart-1", chronicle.NoStream,
		chronicle.EventData{Type: "ItemAdded"}, chronicle.EventData{Type: "ItemAdded"})
	store.Append(ctx, "cart-2", chronicle.NoStream, chronicle.EventData{Type: "ItemAdded"})

	// Like an append, a delete expects the stream at a revision.
	if err := store.Delete(ctx, "cart-1", chronicle.Exact(1)); err != nil {
		fmt.Println(err)
		return
	}
	_, err := revisions(ctx, store, "cart-1")
	fmt.Println("read after delete:", errors.Is(err, chronicle.ErrStreamNotFound))

	// The deleted stream takes an append that expects no stream, and
	// goes on from revision 2: the old events stay hidden, as the
	// stream's metadata shows.
	res, _ := store.Append(ctx, "cart-1", chronicle.NoStream, chronicle.EventData{Type: "ItemAdded"})
	fmt.Println("appended revision", res.FirstRevision)
	fmt.Println(revisions(ctx, store, "cart-1"))
	m, _ := store.StreamMetadata(ctx, "cart-1")
	fmt.Println("truncate before", m.TruncateBefore)

	// A tombstone is for good: reads and appends fail from then on.
	if err := store.Tombstone(ctx, "cart-1", chronicle.Any); err != nil {
		fmt.Println(err)
		return
	}
	_, err = revisions(ctx, store, "cart-1")
	fmt.Println("read after tombstone:", errors.Is(err, chronicle.ErrStreamDeleted))
	_, err = store.Append(ctx, "cart-1", chronicle.Any, chronicle.EventData{Type: "ItemAdded"})
	fmt.Println("append after tombstone:", errors.Is(err, chronicle.ErrStreamDeleted))

	// Deleted events stay in the global log until a scavenge removes
	// them; the others keep their positions.
	positions := func() (out []uint64) {
		for e, err := range store.ReadAll(ctx, chronicle.ReadAllOptions{}) {
			if err != nil {
				fmt.Println(err)
				return out
			}
			out = append(out, e.Position)
		}
		return out
	}
	fmt.Println("before scavenge:", positions())
	if _, err := store.Scavenge(ctx, nil); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("after scavenge:", positions())
	// Output:
	// read after delete: true
	// appended revision 2
	// [2] <nil>
	// truncate before 2
	// read after tombstone: true
	// append after tombstone: true
	// before scavenge: [1 2 3 4]
	// after scavenge: [3]
}
