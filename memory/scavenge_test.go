package memory_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/memory"
)

// TestScavengeDuringScavenge: a scavenge started while another one is
// reporting its progress, here by its progress function, runs and
// returns, and the two remove each hidden event once between them.
func TestScavengeDuringScavenge(t *testing.T) {
	ctx := context.Background()
	s := memory.New(nil)
	for i := range 3 {
		stream := fmt.Sprintf("s-%d", i)
		if _, err := s.Append(ctx, stream, chronicle.NoStream, chronicle.EventData{Type: "E"}, chronicle.EventData{Type: "E"}, chronicle.EventData{Type: "E"}); err != nil {
			t.Fatal(err)
		}
		if err := s.SetStreamMetadata(ctx, stream, chronicle.StreamMetadata{MaxCount: 1}); err != nil {
			t.Fatal(err)
		}
	}
	var inner chronicle.ScavengeProgress
	calls := 0
	outer, err := s.Scavenge(ctx, func(chronicle.ScavengeProgress) {
		if calls++; calls > 1 {
			return
		}
		done := make(chan error, 1)
		go func() {
			var err error
			inner, err = s.Scavenge(ctx, nil)
			done <- err
		}()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("the scavenge started from the progress function: %v", err)
			}
		case <-time.After(2 * time.Second):
			t.Errorf("a scavenge started from the progress function of another did not return in 2s")
			// It returns once the outer one has: wait for it there.
			t.Cleanup(func() { <-done })
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if t.Failed() {
		return
	}
	if outer.Removed+inner.Removed != 6 {
		t.Errorf("the scavenges removed %d and %d events, want 6 in all", outer.Removed, inner.Removed)
	}
	if _, n, err := s.CountStreams(ctx); err != nil || n != 3 {
		t.Errorf("after the scavenges the store holds %d events (%v), want 3", n, err)
	}
}
