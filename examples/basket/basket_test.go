package basket_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/chronicle-es/chronicle/chronicletest"
	"github.com/chronicle-es/chronicle/examples/basket"
	"github.com/google/uuid"
)

// basketID is the basket that the commands and events of these tests
// name.
var basketID = uuid.MustParse("0190f0c2-7a3b-7c4d-8e5f-0a1b2c3d4e5f")

func scenario(t *testing.T) *chronicletest.Scenario[basket.Basket, basket.Command, basket.Event] {
	t.Helper()
	return chronicletest.For(t, basket.NewDecider()).WithCodec(basket.NewCodec())
}

func TestCreateBasket(t *testing.T) {
	t.Run("ErrInvalidID", func(t *testing.T) {
		scenario(t).
			When(basket.CreateBasket{Product: "shoes", Quantity: 2}).
			ThenError(basket.ErrInvalidID)
		scenario(t).
			Given(basket.BasketCreated{BasketID: basketID}).
			When(basket.AddItem{Product: "shoes", Quantity: 2}).
			ThenError(basket.ErrInvalidID)
		scenario(t).
			Given(basket.BasketCreated{BasketID: basketID}, basket.ItemAdded{BasketID: basketID, Product: "shoes", Quantity: 2}).
			When(basket.RemoveItem{Product: "shoes"}).
			ThenError(basket.ErrInvalidID)
	})
	t.Run("WithFirstItem", func(t *testing.T) {
		scenario(t).
			When(basket.CreateBasket{BasketID: basketID, Product: "shoes", Quantity: 2}).
			Then(basket.BasketCreated{BasketID: basketID}, basket.ItemAdded{BasketID: basketID, Product: "shoes", Quantity: 2}).
			ThenState(basket.Basket{Created: true, Items: map[string]int{"shoes": 2}})
	})
	t.Run("Empty", func(t *testing.T) {
		scenario(t).
			When(basket.CreateBasket{BasketID: basketID}).
			Then(basket.BasketCreated{BasketID: basketID}).
			ThenState(basket.Basket{Created: true})
	})
	t.Run("ErrAlreadyCreated", func(t *testing.T) {
		scenario(t).
			Given(basket.BasketCreated{BasketID: basketID}).
			When(basket.CreateBasket{BasketID: basketID, Product: "shoes", Quantity: 1}).
			ThenError(basket.ErrAlreadyCreated)
	})
	t.Run("ErrInvalidQuantity", func(t *testing.T) {
		scenario(t).
			When(basket.CreateBasket{BasketID: basketID, Product: "shoes", Quantity: 0}).
			ThenError(basket.ErrInvalidQuantity)
	})
	t.Run("ErrInvalidProduct", func(t *testing.T) {
		scenario(t).
			When(basket.CreateBasket{BasketID: basketID, Quantity: 1}).
			ThenError(basket.ErrInvalidProduct)
	})
}

func TestAddItem(t *testing.T) {
	created := []basket.Event{basket.BasketCreated{BasketID: basketID}, basket.ItemAdded{BasketID: basketID, Product: "shoes", Quantity: 1}}
	for _, tt := range []struct {
		name    string
		given   []basket.Event
		when    basket.AddItem
		then    []basket.Event
		wantErr error
	}{
		{name: "OK", given: created, when: basket.AddItem{BasketID: basketID, Product: "clocks", Quantity: 3},
			then: []basket.Event{basket.ItemAdded{BasketID: basketID, Product: "clocks", Quantity: 3}}},
		{name: "AddsToTheQuantity", given: created, when: basket.AddItem{BasketID: basketID, Product: "shoes", Quantity: 2},
			then: []basket.Event{basket.ItemAdded{BasketID: basketID, Product: "shoes", Quantity: 2}}},
		{name: "UpToTheLimit", given: created, when: basket.AddItem{BasketID: basketID, Product: "shoes", Quantity: basket.MaxQuantity - 1},
			then: []basket.Event{basket.ItemAdded{BasketID: basketID, Product: "shoes", Quantity: basket.MaxQuantity - 1}}},
		{name: "ErrBasketNotFound", when: basket.AddItem{BasketID: basketID, Product: "shoes", Quantity: 1}, wantErr: basket.ErrBasketNotFound},
		{name: "ErrInvalidQuantity/Zero", given: created, when: basket.AddItem{BasketID: basketID, Product: "shoes"}, wantErr: basket.ErrInvalidQuantity},
		{name: "ErrInvalidQuantity/Negative", given: created, when: basket.AddItem{BasketID: basketID, Product: "shoes", Quantity: -2}, wantErr: basket.ErrInvalidQuantity},
		{name: "ErrInvalidQuantity/OverTheLimit", given: created, when: basket.AddItem{BasketID: basketID, Product: "shoes", Quantity: basket.MaxQuantity}, wantErr: basket.ErrInvalidQuantity},
		{name: "ErrInvalidQuantity/Overflow", given: created, when: basket.AddItem{BasketID: basketID, Product: "shoes", Quantity: int(^uint(0) >> 1)}, wantErr: basket.ErrInvalidQuantity},
		{name: "ErrInvalidProduct/Blank", given: created, when: basket.AddItem{BasketID: basketID, Product: "  ", Quantity: 1}, wantErr: basket.ErrInvalidProduct},
		{name: "ErrInvalidProduct/Control", given: created, when: basket.AddItem{BasketID: basketID, Product: "a\nb", Quantity: 1}, wantErr: basket.ErrInvalidProduct},
		{name: "ErrInvalidProduct/TooLong", given: created, when: basket.AddItem{BasketID: basketID, Product: strings.Repeat("x", basket.MaxProductLength+1), Quantity: 1}, wantErr: basket.ErrInvalidProduct},
		{name: "ErrInvalidProduct/NotUTF8", given: created, when: basket.AddItem{BasketID: basketID, Product: "\xff", Quantity: 1}, wantErr: basket.ErrInvalidProduct},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := scenario(t).Given(tt.given...).When(tt.when)
			if tt.wantErr != nil {
				s.ThenError(tt.wantErr)
				return
			}
			s.Then(tt.then...)
		})
	}
}

func TestRemoveItem(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		scenario(t).
			Given(basket.BasketCreated{BasketID: basketID}, basket.ItemAdded{BasketID: basketID, Product: "shoes", Quantity: 1}, basket.ItemAdded{BasketID: basketID, Product: "clocks", Quantity: 2}).
			When(basket.RemoveItem{BasketID: basketID, Product: "clocks"}).
			Then(basket.ItemRemoved{BasketID: basketID, Product: "clocks"}).
			ThenState(basket.Basket{Created: true, Items: map[string]int{"shoes": 1}})
	})
	t.Run("LastItemLeavesAnEmptyBasket", func(t *testing.T) {
		scenario(t).
			Given(basket.BasketCreated{BasketID: basketID}, basket.ItemAdded{BasketID: basketID, Product: "shoes", Quantity: 1}).
			When(basket.RemoveItem{BasketID: basketID, Product: "shoes"}).
			Then(basket.ItemRemoved{BasketID: basketID, Product: "shoes"}).
			ThenState(basket.Basket{Created: true})
	})
	t.Run("ErrNotInBasket", func(t *testing.T) {
		s := scenario(t).
			Given(basket.BasketCreated{BasketID: basketID}, basket.ItemAdded{BasketID: basketID, Product: "shoes", Quantity: 1}).
			When(basket.RemoveItem{BasketID: basketID, Product: "clocks"}).
			ThenError(basket.ErrNotInBasket).
			ThenState(basket.Basket{Created: true, Items: map[string]int{"shoes": 1}})
		var nib *basket.NotInBasketError
		if !errors.As(s.Err(), &nib) || nib.Product != "clocks" {
			t.Fatalf("error %#v is not a *NotInBasketError for clocks", s.Err())
		}
		if got, want := s.Err().Error(), `product "clocks" is not in the basket`; got != want {
			t.Fatalf("message %q, want %q", got, want)
		}
	})
	t.Run("ErrNotInBasket/RemovedAlready", func(t *testing.T) {
		scenario(t).
			Given(basket.BasketCreated{BasketID: basketID}, basket.ItemAdded{BasketID: basketID, Product: "clocks", Quantity: 1}, basket.ItemRemoved{BasketID: basketID, Product: "clocks"}).
			When(basket.RemoveItem{BasketID: basketID, Product: "clocks"}).
			ThenError(basket.ErrNotInBasket)
	})
	t.Run("ErrBasketNotFound", func(t *testing.T) {
		scenario(t).
			When(basket.RemoveItem{BasketID: basketID, Product: "clocks"}).
			ThenError(basket.ErrBasketNotFound)
	})
}

// The talk's point: two baskets with the same products, and different
// stories.
func TestSameStateDifferentStory(t *testing.T) {
	d := basket.NewDecider()
	never := d.Fold(d.InitialState(), basket.BasketCreated{BasketID: basketID}, basket.ItemAdded{BasketID: basketID, Product: "shoes", Quantity: 1})
	nearly := d.Fold(d.InitialState(), basket.BasketCreated{BasketID: basketID}, basket.ItemAdded{BasketID: basketID, Product: "shoes", Quantity: 1},
		basket.ItemAdded{BasketID: basketID, Product: "clocks", Quantity: 1}, basket.ItemRemoved{BasketID: basketID, Product: "clocks"})
	if len(never.Items) != 1 || len(nearly.Items) != 1 || never.Items["shoes"] != nearly.Items["shoes"] {
		t.Fatalf("states differ: %v and %v", never, nearly)
	}
}

func TestEvolveDoesNotChangeItsInput(t *testing.T) {
	before := basket.Basket{Created: true, Items: map[string]int{"shoes": 1}}
	basket.Evolve(before, basket.ItemAdded{BasketID: basketID, Product: "shoes", Quantity: 2})
	basket.Evolve(before, basket.ItemRemoved{BasketID: basketID, Product: "shoes"})
	if before.Items["shoes"] != 1 {
		t.Fatalf("Evolve changed the state it was given: %v", before)
	}
}

func TestParseID(t *testing.T) {
	const id = "0b0a6e9c-3c8e-4d6e-9a43-4a1f0f2a8b11"
	for _, s := range []string{id, "basket-" + id, " " + id + " "} {
		got, err := basket.ParseID(s)
		if err != nil || got.String() != id {
			t.Errorf("ParseID(%q) = %v, %v; want %s", s, got, err, id)
		}
	}
	for _, s := range []string{"", "42", "game-" + id, id + "x"} {
		if _, err := basket.ParseID(s); !errors.Is(err, basket.ErrInvalidID) {
			t.Errorf("ParseID(%q) error = %v, want ErrInvalidID", s, err)
		}
	}
}
