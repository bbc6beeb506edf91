package basket

import (
	"context"
	"errors"
	"fmt"

	"github.com/chronicle-es/chronicle"
	"github.com/google/uuid"
)

// Service is the application service of baskets: what a user interface
// calls. It runs the rules ([NewDecider]) against any [chronicle.Store]
// through a [chronicle.Repository], so every change is saved with
// optimistic concurrency. It is safe for concurrent use.
type Service struct {
	store   chronicle.Store
	codec   *chronicle.Codec[Event]
	baskets *chronicle.Repository[Basket, Command, Event]
}

// NewService returns a service that keeps its baskets in store.
func NewService(store chronicle.Store) *Service {
	codec := NewCodec()
	return &Service{
		store:   store,
		codec:   codec,
		baskets: chronicle.NewRepository(store, codec, NewDecider(), nil),
	}
}

// Create creates a basket holding quantity of product and returns its id.
// An empty product with a zero quantity creates an empty basket. A
// refused product or quantity gives an error matching
// [ErrInvalidProduct] or [ErrInvalidQuantity], and creates nothing.
func (s *Service) Create(ctx context.Context, product string, quantity int) (uuid.UUID, error) {
	id := uuid.New()
	_, err := s.baskets.HandleNew(ctx, StreamName(id), CreateBasket{BasketID: id, Product: product, Quantity: quantity})
	if err != nil {
		return uuid.Nil, fmt.Errorf("create basket: %w", err)
	}
	return id, nil
}

// Add adds quantity of product to basket id and returns the basket. It
// returns an error matching [ErrBasketNotFound] for an unknown basket,
// and [ErrInvalidProduct] or [ErrInvalidQuantity] for bad input.
func (s *Service) Add(ctx context.Context, id uuid.UUID, product string, quantity int) (Basket, error) {
	b, err := s.handle(ctx, id, AddItem{BasketID: id, Product: product, Quantity: quantity})
	if err != nil {
		return b, fmt.Errorf("add %q to basket %s: %w", product, id, err)
	}
	return b, nil
}

// Remove takes product out of basket id and returns the basket. It
// returns an error matching [ErrBasketNotFound] for an unknown basket and
// a [*NotInBasketError], matching [ErrNotInBasket], when the basket does
// not hold product; then nothing is recorded.
func (s *Service) Remove(ctx context.Context, id uuid.UUID, product string) (Basket, error) {
	b, err := s.handle(ctx, id, RemoveItem{BasketID: id, Product: product})
	if err != nil {
		return b, fmt.Errorf("remove %q from basket %s: %w", product, id, err)
	}
	return b, nil
}

func (s *Service) handle(ctx context.Context, id uuid.UUID, cmd Command) (Basket, error) {
	out, err := s.baskets.Handle(ctx, StreamName(id), cmd)
	return out.State, err
}

// Get returns basket id, rebuilt from its events. An unknown basket gives
// an error matching [ErrBasketNotFound].
func (s *Service) Get(ctx context.Context, id uuid.UUID) (Basket, error) {
	b, _, err := s.baskets.Load(ctx, StreamName(id))
	if err != nil {
		return Basket{}, fmt.Errorf("get basket %s: %w", id, err)
	}
	if !b.Created {
		return Basket{}, fmt.Errorf("get basket %s: %w", id, ErrBasketNotFound)
	}
	return b, nil
}

// Change is one event of a basket's history: the event as recorded, and
// decoded.
type Change struct {
	Recorded chronicle.RecordedEvent
	Event    Event
}

// History returns the events of basket id, oldest first: the story of
// how the basket came to hold what it holds. It tells the history that
// the log shows, as [Service.Get] rebuilds the basket from it: an unknown
// basket, or one whose creation the stream's retention metadata hides
// (all its events, or only the first ones), gives an error matching
// [ErrBasketNotFound], as Get does.
func (s *Service) History(ctx context.Context, id uuid.UUID) ([]Change, error) {
	var out []Change
	var b Basket
	for rec, err := range s.store.ReadStream(ctx, StreamName(id), chronicle.ReadStreamOptions{}) {
		if errors.Is(err, chronicle.ErrStreamNotFound) {
			return nil, fmt.Errorf("history of basket %s: %w", id, ErrBasketNotFound)
		}
		if err != nil {
			return nil, fmt.Errorf("history of basket %s: %w", id, err)
		}
		e, err := s.codec.Decode(rec)
		if err != nil {
			return nil, fmt.Errorf("history of basket %s: %w", id, err)
		}
		out = append(out, Change{Recorded: rec, Event: e})
		b = Evolve(b, e)
	}
	if !b.Created {
		// The stream's retention metadata hides its BasketCreated, or
		// every event (the store then reads the stream as empty, not as
		// missing): the visible events add to a basket that was never
		// created, which is no basket to tell the story of, as Get and
		// the rules say too.
		return nil, fmt.Errorf("history of basket %s: %w", id, ErrBasketNotFound)
	}
	return out, nil
}
