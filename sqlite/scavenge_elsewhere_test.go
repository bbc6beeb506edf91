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
	a, b := scavengedElsewhere(t, nil)
	// a's next write is where it learns of the other store's commits.
	appendN(t, a, "kept-2", 1)
	for name, s := range map[string]*sqlite.Store{"the store that scavenged": b, "the other store": a} {
		if got, want := subscribedStreams(s), []string{"kept-1", "kept-2"}; !slices.Equal(got, want) {
			t.Errorf("a subscription on %s got %v, want %v: the scavenge removed gone-1", name, got, want)
		}
	}
}

// TestScavengeElsewhereReachesIdleSubscribers: a store that appends no
// more, a server whose events a CLI then deletes and scavenges, say,
// must not hand the removed events to its subscribers from memory for
// good: like the other process's appends, its scavenge reaches them
// within the poll interval.
func TestScavengeElsewhereReachesIdleSubscribers(t *testing.T) {
	const poll = 10 * time.Millisecond
	a, _ := scavengedElsewhere(t, &sqlite.Options{PollInterval: poll})
	time.Sleep(5 * poll)
	if got, want := subscribedStreams(a), []string{"kept-1"}; !slices.Equal(got, want) {
		t.Errorf("a subscription on the store that did not scavenge got %v, %v after the other's scavenge removed gone-1; want %v", got, 5*poll, want)
	}
}

// scavengedElsewhere opens two stores on one file, as two processes
// would: a appends the streams gone-1 (3 events) and kept-1 (1), and b
// deletes gone-1 and scavenges.
func scavengedElsewhere(t *testing.T, opts *sqlite.Options) (a, b *sqlite.Store) {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "events.db")
	a = openStress(t, path, opts)
	b = openStress(t, path, opts)
	appendN(t, a, "gone-1", 3)
	appendN(t, a, "kept-1", 1)
	if err := b.Delete(ctx, "gone-1", chronicle.Any); err != nil {
		t.Fatal(err)
	}
	if p, err := b.Scavenge(ctx, nil); err != nil || p.Removed != 3 {
		t.Fatalf("Scavenge = %+v, %v; want the 3 events of gone-1 removed", p, err)
	}
	return a, b
}

// subscribedStreams returns the streams of the events of the categories
// gone and kept that a subscription on s yields within 300 ms: a filter,
// so that the subscription reads pages rather than ranges.
func subscribedStreams(s *sqlite.Store) []string {
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	var got []string
	for e, err := range s.Subscribe(ctx, chronicle.SubscribeOptions{Filter: chronicle.Filter{Categories: []string{"gone", "kept"}}}) {
		if err != nil {
			break
		}
		got = append(got, e.Stream)
	}
	return got
}
