package basket_test

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/examples/basket"
	"github.com/chronicle-es/chronicle/internal/pgtest"
	"github.com/chronicle-es/chronicle/memory"
	"github.com/chronicle-es/chronicle/sqlite"
	"github.com/google/uuid"
)

// stores runs a test against each store the service is meant to work on.
func stores(t *testing.T, test func(t *testing.T, store chronicle.Store)) {
	t.Run("memory", func(t *testing.T) { test(t, memory.New(nil)) })
	t.Run("sqlite", func(t *testing.T) {
		s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "events.db"), &sqlite.Options{Durability: sqlite.Relaxed})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		test(t, s)
	})
	// In a schema of the test's own; skipped without CHRONICLE_POSTGRES_URL.
	t.Run("postgres", func(t *testing.T) { test(t, pgtest.Open(t)) })
}

func TestService(t *testing.T) {
	stores(t, func(t *testing.T, store chronicle.Store) {
		ctx := context.Background()
		svc := basket.NewService(store)
		id, err := svc.Create(ctx, "shoes", 1)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Add(ctx, id, "clocks", 2); err != nil {
			t.Fatal(err)
		}
		b, err := svc.Remove(ctx, id, "clocks")
		if err != nil {
			t.Fatal(err)
		}
		if want := map[string]int{"shoes": 1}; !reflect.DeepEqual(b.Items, want) {
			t.Fatalf("after Remove: %v, want %v", b.Items, want)
		}

		// A refused removal records nothing.
		_, err = svc.Remove(ctx, id, "clocks")
		var nib *basket.NotInBasketError
		if !errors.As(err, &nib) || !errors.Is(err, basket.ErrNotInBasket) {
			t.Fatalf("second Remove: %v, want a *NotInBasketError", err)
		}
		if _, err := svc.Add(ctx, id, "shoes", 0); !errors.Is(err, basket.ErrInvalidQuantity) {
			t.Fatalf("Add 0: %v, want ErrInvalidQuantity", err)
		}
		got, err := svc.Get(ctx, id)
		if err != nil || !reflect.DeepEqual(got.Items, map[string]int{"shoes": 1}) {
			t.Fatalf("Get = %v, %v", got, err)
		}
		history, err := svc.History(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		var events []basket.Event
		for _, c := range history {
			events = append(events, c.Event)
		}
		want := []basket.Event{
			basket.BasketCreated{BasketID: id},
			basket.ItemAdded{BasketID: id, Product: "shoes", Quantity: 1},
			basket.ItemAdded{BasketID: id, Product: "clocks", Quantity: 2},
			basket.ItemRemoved{BasketID: id, Product: "clocks"},
		}
		if !reflect.DeepEqual(events, want) {
			t.Fatalf("History = %v, want %v", events, want)
		}
		if history[3].Recorded.Stream != basket.StreamName(id) || history[3].Recorded.Revision != 3 {
			t.Fatalf("last event recorded as %+v", history[3].Recorded)
		}
	})
}

func TestServiceUnknownBasket(t *testing.T) {
	stores(t, func(t *testing.T, store chronicle.Store) {
		ctx := context.Background()
		svc := basket.NewService(store)
		id := uuid.New()
		if _, err := svc.Get(ctx, id); !errors.Is(err, basket.ErrBasketNotFound) {
			t.Errorf("Get: %v", err)
		}
		if _, err := svc.History(ctx, id); !errors.Is(err, basket.ErrBasketNotFound) {
			t.Errorf("History: %v", err)
		}
		if _, err := svc.Add(ctx, id, "shoes", 1); !errors.Is(err, basket.ErrBasketNotFound) {
			t.Errorf("Add: %v", err)
		}
		if _, err := svc.Remove(ctx, id, "shoes"); !errors.Is(err, basket.ErrBasketNotFound) {
			t.Errorf("Remove: %v", err)
		}
		for _, err := range store.ReadStream(ctx, basket.StreamName(id), chronicle.ReadStreamOptions{}) {
			if !errors.Is(err, chronicle.ErrStreamNotFound) {
				t.Fatalf("refused commands on an unknown basket wrote to it: %v", err)
			}
		}
	})
}

func TestServiceCreateRefused(t *testing.T) {
	stores(t, func(t *testing.T, store chronicle.Store) {
		ctx := context.Background()
		svc := basket.NewService(store)
		if _, err := svc.Create(ctx, "shoes", -1); !errors.Is(err, basket.ErrInvalidQuantity) {
			t.Fatalf("Create -1: %v", err)
		}
		n := 0
		for range store.ReadAll(ctx, chronicle.ReadAllOptions{}) {
			n++
		}
		if n != 0 {
			t.Fatalf("a refused create wrote %d events", n)
		}
	})
}

// TestServiceHiddenBasket reads a basket whose stream's retention
// metadata hides every event, as "chronicle meta --truncate-before 10"
// sets, and one whose metadata hides only its creation: the basket that
// the visible history shows was never created, so there is none to get,
// nor a story to tell. History returned no events and no error for the
// first, and the item added for the second, so "basket get ID --events"
// listed a basket where "basket get ID" said that there is none.
func TestServiceHiddenBasket(t *testing.T) {
	for name, truncateBefore := range map[string]uint64{"Everything": 10, "Creation": 1} {
		t.Run(name, func(t *testing.T) {
			stores(t, func(t *testing.T, store chronicle.Store) {
				ctx := context.Background()
				svc := basket.NewService(store)
				// BasketCreated is revision 0, and ItemAdded revision 1.
				id, err := svc.Create(ctx, "clocks", 1)
				if err != nil {
					t.Fatal(err)
				}
				meta := chronicle.StreamMetadata{TruncateBefore: truncateBefore}
				if err := store.(chronicle.Retention).SetStreamMetadata(ctx, basket.StreamName(id), meta); err != nil {
					t.Fatal(err)
				}
				if b, err := svc.Get(ctx, id); !errors.Is(err, basket.ErrBasketNotFound) {
					t.Errorf("Get = %+v, %v; want ErrBasketNotFound", b, err)
				}
				if h, err := svc.History(ctx, id); !errors.Is(err, basket.ErrBasketNotFound) {
					t.Errorf("History = %d events, %v; want ErrBasketNotFound", len(h), err)
				}
			})
		})
	}
}

// TestStoredFormat: the events are stored as the talk's are, each naming
// its basket and ItemAdded's quantity as "qty"; a basket stored before
// (ItemAdded's version 1: "quantity", no basket_id) reads as it did.
func TestStoredFormat(t *testing.T) {
	stores(t, func(t *testing.T, store chronicle.Store) {
		ctx := context.Background()
		svc := basket.NewService(store)
		id, err := svc.Create(ctx, "clocks", 2)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for rec, err := range store.ReadStream(ctx, basket.StreamName(id), chronicle.ReadStreamOptions{}) {
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, rec.Type+" "+string(rec.Data)+" v"+rec.Metadata[chronicle.MetadataSchemaVersion])
		}
		want := []string{
			`BasketCreated {"basket_id":"` + id.String() + `"} v`,
			`ItemAdded {"basket_id":"` + id.String() + `","product":"clocks","qty":2} v2`,
		}
		if !slices.Equal(got, want) {
			t.Errorf("stored:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}

		old := uuid.New()
		if _, err := store.Append(ctx, basket.StreamName(old), chronicle.NoStream,
			chronicle.EventData{Type: basket.TypeBasketCreated, Data: []byte(`{}`)},
			chronicle.EventData{Type: basket.TypeItemAdded, Data: []byte(`{"product":"shoes","quantity":3}`)},
		); err != nil {
			t.Fatal(err)
		}
		b, err := svc.Add(ctx, old, "shoes", 1)
		if err != nil || !reflect.DeepEqual(b.Items, map[string]int{"shoes": 4}) {
			t.Fatalf("a basket of version 1 events, after adding 1 shoes: %v, %v; want 4 shoes", b.Items, err)
		}
	})
}
