package sqlite_test

import (
	"context"
	"testing"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/memory"
)

// TestListStreamsCategoryWithDash: a category is the part of a name
// before its first '-', so none holds a '-': ListStreams of such a
// category lists no stream, as the memory store's does, not the streams
// whose names start with it.
func TestListStreamsCategoryWithDash(t *testing.T) {
	ctx := context.Background()
	s := mustOpen(t, nil)
	mem := memory.New(nil)
	for _, st := range []chronicle.Store{s, mem} {
		for _, name := range []string{"order-eu", "order-eu-1", "order-1"} {
			appendN(t, st, name, 1)
		}
	}
	for _, opts := range []chronicle.ListStreamsOptions{{Category: "order-eu"}, {Category: "order-eu", Prefix: "order"}, {Category: "order"}} {
		want, err := mem.ListStreams(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.ListStreams(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Errorf("%+v: listed %d streams (%v), the memory store %d", opts, len(got), got, len(want))
		}
	}
}
