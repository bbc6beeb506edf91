package storetest

import (
	"context"
	"math"
	"slices"
	"testing"

	"github.com/chronicle-es/chronicle"
)

func testStreamLister(t *testing.T, newStore Factory) {
	ctx := context.Background()
	s := newStore(t)
	l, ok := has[chronicle.StreamLister](s)
	if !ok {
		t.Skip("the store does not implement chronicle.StreamLister")
	}
	// "order" is in its own category; "order!x" sorts between it and
	// "order-1" but is in category "order!x".
	mustAppend(t, s, "order", chronicle.NoStream, events("E", 1)...)
	mustAppend(t, s, "order!x", chronicle.NoStream, events("E", 1)...)
	mustAppend(t, s, "order-1", chronicle.NoStream, events("E", 2)...)
	mustAppend(t, s, "cart-1", chronicle.NoStream, events("E", 1)...)
	mustAppend(t, s, "order-2", chronicle.NoStream, events("E", 1)...)
	mustAppend(t, s, "orderly", chronicle.NoStream, events("E", 1)...)
	mustAppend(t, s, "order-1", chronicle.Exact(1), events("E", 1)...) // order-1 is now the newest

	names := func(t *testing.T, opts chronicle.ListStreamsOptions) []string {
		t.Helper()
		infos, err := l.ListStreams(ctx, opts)
		if err != nil {
			t.Fatalf("ListStreams(%+v): %v", opts, err)
		}
		var out []string
		for _, in := range infos {
			out = append(out, in.Stream)
		}
		return out
	}
	for _, tt := range []struct {
		name string
		opts chronicle.ListStreamsOptions
		want []string
	}{
		{"All", chronicle.ListStreamsOptions{}, []string{"order-1", "orderly", "order-2", "cart-1", "order!x", "order"}},
		{"Prefix", chronicle.ListStreamsOptions{Prefix: "order"}, []string{"order-1", "orderly", "order-2", "order!x", "order"}},
		{"Category", chronicle.ListStreamsOptions{Category: "order"}, []string{"order-1", "order-2", "order"}},
		{"Limit", chronicle.ListStreamsOptions{Limit: 2}, []string{"order-1", "orderly"}},
		{"NegativeLimit", chronicle.ListStreamsOptions{Limit: -1}, []string{"order-1", "orderly", "order-2", "cart-1", "order!x", "order"}},
		{"Before", chronicle.ListStreamsOptions{Before: 8}, []string{"orderly", "order-2", "cart-1", "order!x", "order"}},
		{"CategoryBefore", chronicle.ListStreamsOptions{Category: "order", Before: 7, Limit: 1}, []string{"order-2"}},
		// A Before past the end of the log, however far, keeps every
		// stream; a Before of 1 none.
		{"BeforeOne", chronicle.ListStreamsOptions{Before: 1}, nil},
		{"BeforePastTheEnd", chronicle.ListStreamsOptions{Before: 9}, []string{"order-1", "orderly", "order-2", "cart-1", "order!x", "order"}},
		{"BeforeOver32Bits", chronicle.ListStreamsOptions{Before: 1 << 32}, []string{"order-1", "orderly", "order-2", "cart-1", "order!x", "order"}},
		{"BeforeLargest", chronicle.ListStreamsOptions{Before: math.MaxUint64}, []string{"order-1", "orderly", "order-2", "cart-1", "order!x", "order"}},
		{"PrefixBeforeLargest", chronicle.ListStreamsOptions{Prefix: "order", Before: math.MaxUint64, Limit: 2}, []string{"order-1", "orderly"}},
		{"CategoryBeforeOver32Bits", chronicle.ListStreamsOptions{Category: "order", Before: 1<<31 + 1}, []string{"order-1", "order-2", "order"}},
		{"CategoryAndLongerPrefix", chronicle.ListStreamsOptions{Prefix: "order-", Category: "order"}, []string{"order-1", "order-2"}},
		{"CategoryAndShorterPrefix", chronicle.ListStreamsOptions{Prefix: "ord", Category: "order"}, []string{"order-1", "order-2", "order"}},
		{"CategoryAndOtherPrefix", chronicle.ListStreamsOptions{Prefix: "cart", Category: "order"}, nil},
		{"NoMatch", chronicle.ListStreamsOptions{Prefix: "zzz"}, nil},
		// A category is the part of a name before its first '-', so none
		// holds a '-': such a category has no streams, not the stream of
		// that name.
		{"CategoryWithDash", chronicle.ListStreamsOptions{Category: "order-1"}, nil},
	} {
		if got := names(t, tt.opts); !slices.Equal(got, tt.want) {
			t.Errorf("%s: streams = %q, want %q", tt.name, got, tt.want)
		}
	}
	infos, err := l.ListStreams(ctx, chronicle.ListStreamsOptions{Limit: 1})
	if err != nil || len(infos) != 1 {
		t.Fatalf("ListStreams = %v, %v", infos, err)
	}
	if in := infos[0]; in.Stream != "order-1" || in.LastRevision != 2 || in.LastPosition != 8 || in.LastRecorded.IsZero() {
		t.Errorf("newest stream = %+v, want order-1 at revision 2, position 8, with a recorded time", in)
	}
	if ns, ne, err := l.CountStreams(ctx); err != nil || ns != 6 || ne != 8 {
		t.Errorf("CountStreams = %d streams, %d events, %v; want 6, 8", ns, ne, err)
	}

	d, ok := has[chronicle.Deleter](s)
	if !ok {
		return
	}
	if err := d.Delete(ctx, "order-2", chronicle.Any); err != nil {
		t.Fatal(err)
	}
	if err := d.Tombstone(ctx, "cart-1", chronicle.Any); err != nil {
		t.Fatal(err)
	}
	if got, want := names(t, chronicle.ListStreamsOptions{}), []string{"order-1", "orderly", "order!x", "order"}; !slices.Equal(got, want) {
		t.Errorf("after deleting order-2 and cart-1: streams = %q, want %q", got, want)
	}
	if got, want := names(t, chronicle.ListStreamsOptions{Category: "order"}), []string{"order-1", "order"}; !slices.Equal(got, want) {
		t.Errorf("after deleting order-2: category order = %q, want %q", got, want)
	}
	if ns, _, err := l.CountStreams(ctx); err != nil || ns != 4 {
		t.Errorf("after deletes: CountStreams = %d streams, %v; want 4", ns, err)
	}
}

// testStreamListerHidden: a stream whose events its metadata hides, all
// of them, still exists and holds them until a scavenge: ListStreams
// lists it and CountStreams counts it. The events that a delete hides
// are held until a scavenge too: CountStreams counts them, as ReadAll
// yields them, though ListStreams leaves their streams out.
func testStreamListerHidden(t *testing.T, newStore Factory) {
	ctx := context.Background()
	s := openAs[listerRetentionStore](t, newStore, "chronicle.StreamLister and Retention")
	want := func(streams []string, events uint64) {
		t.Helper()
		infos, err := s.ListStreams(ctx, chronicle.ListStreamsOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, in := range infos {
			got = append(got, in.Stream)
		}
		if !slices.Equal(got, streams) {
			t.Errorf("ListStreams = %q, want %q", got, streams)
		}
		if ns, ne, err := s.CountStreams(ctx); err != nil || ns != uint64(len(streams)) || ne != events {
			t.Errorf("CountStreams = %d streams, %d events, %v; want %d, %d", ns, ne, err, len(streams), events)
		}
		if n := len(readAll(t, s, chronicle.ReadAllOptions{})); n != int(events) {
			t.Errorf("ReadAll yields %d events, want %d", n, events)
		}
	}
	mustAppend(t, s, "kept", chronicle.NoStream, events("E", 1)...)   // 1
	mustAppend(t, s, "hidden", chronicle.NoStream, events("E", 2)...) // 2-3
	if err := s.SetStreamMetadata(ctx, "hidden", chronicle.StreamMetadata{TruncateBefore: 5}); err != nil {
		t.Fatal(err)
	}
	want([]string{"hidden", "kept"}, 3)
	d, ok := has[chronicle.Deleter](s)
	if !ok {
		return
	}
	mustAppend(t, s, "deleted", chronicle.NoStream, events("E", 2)...)    // 4-5
	mustAppend(t, s, "tombstoned", chronicle.NoStream, events("E", 1)...) // 6
	if err := d.Delete(ctx, "deleted", chronicle.Any); err != nil {
		t.Fatal(err)
	}
	if err := d.Tombstone(ctx, "tombstoned", chronicle.Any); err != nil {
		t.Fatal(err)
	}
	want([]string{"hidden", "kept"}, 6)
}

// listerRetentionStore is a store that lists its streams, whose streams
// have metadata.
type listerRetentionStore interface {
	chronicle.Store
	chronicle.StreamLister
	chronicle.Retention
}

// testStreamListerScavenged: a stream whose events a scavenge removed,
// every one of them, has no events: ListStreams leaves it out and
// CountStreams does not count it, though it is not deleted.
func testStreamListerScavenged(t *testing.T, newStore Factory) {
	ctx := context.Background()
	s := newStore(t)
	l, ok := has[chronicle.StreamLister](s)
	r, hasRetention := has[chronicle.Retention](s)
	sc, canScavenge := has[chronicle.Scavenger](s)
	if !ok || !hasRetention || !canScavenge {
		t.Skip("the store does not implement chronicle.StreamLister, Retention and Scavenger")
	}
	mustAppend(t, s, "kept", chronicle.NoStream, events("E", 1)...)
	mustAppend(t, s, "emptied", chronicle.NoStream, events("E", 2)...)
	if err := r.SetStreamMetadata(ctx, "emptied", chronicle.StreamMetadata{TruncateBefore: 5}); err != nil {
		t.Fatal(err)
	}
	if _, err := sc.Scavenge(ctx, nil); err != nil {
		t.Fatal(err)
	}
	infos, err := l.ListStreams(ctx, chronicle.ListStreamsOptions{})
	if err != nil || len(infos) != 1 || infos[0].Stream != "kept" {
		t.Errorf("ListStreams after the scavenge = %+v, %v; want kept alone", infos, err)
	}
	if ns, ne, err := l.CountStreams(ctx); err != nil || ns != 1 || ne != 1 {
		t.Errorf("CountStreams after the scavenge = %d streams, %d events, %v; want 1, 1", ns, ne, err)
	}
}
