package sqlite_test

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/sqlite"
)

// TestScavengeElsewhereReachesSubscribers: a store keeps its last commits
// in memory for its subscribers. Once it has seen that another store (as
// another process would) scavenged the file, its subscribers must no
// longer be handed the events that scavenge removed.
func TestScavengeElsewhereReachesSubscribers(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "events.db")
	a := openStress(t, path, nil)
	b := openStress(t, path, nil)
	appendN(t, a, "gone-1", 3)
	appendN(t, a, "kept-1", 1)
	if err := b.Delete(ctx, "gone-1", chronicle.Any); err != nil {
		t.Fatal(err)
	}
	if p, err := b.Scavenge(ctx, nil); err != nil || p.Removed != 3 {
		t.Fatalf("Scavenge = %+v, %v; want the 3 events of gone-1 removed", p, err)
	}
	// a's next write is where it learns of the other store's commits.
	appendN(t, a, "kept-2", 1)
	for name, s := range map[string]*sqlite.Store{"the store that scavenged": b, "the other store": a} {
		sctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		var got []string
		for e, err := range s.Subscribe(sctx, chronicle.SubscribeOptions{Filter: chronicle.Filter{Categories: []string{"gone", "kept"}}}) {
			if err != nil {
				break
			}
			got = append(got, e.Stream)
		}
		cancel()
		if want := []string{"kept-1", "kept-2"}; !slices.Equal(got, want) {
			t.Errorf("a subscription on %s got %v, want %v: the scavenge removed gone-1", name, got, want)
		}
	}
}
