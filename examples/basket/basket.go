package basket

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/chronicle-es/chronicle"
	"github.com/google/uuid"
)

// Limits on what a basket holds.
const (
	// MaxQuantity is the most of one product a basket holds: a bound that
	// no shopper reaches, and that keeps sums far from overflowing.
	MaxQuantity = 1_000_000
	// MaxProductLength is the longest product name, in bytes.
	MaxProductLength = 200
)

// Command is one of the commands on a basket: [CreateBasket],
// [AddItem] or [RemoveItem].
type Command interface{ isCommand() }

// Each command names its basket, which its events then name; [Service]
// sets BasketID to the id of the basket's stream.

// CreateBasket asks to create basket BasketID. With a Product, the basket
// starts with Quantity of it, as in the talk, where a basket is created
// for its first item; without one it starts empty, and Quantity must be
// zero.
type CreateBasket struct {
	BasketID uuid.UUID
	Product  string
	Quantity int
}

// AddItem asks to add Quantity of Product to basket BasketID.
type AddItem struct {
	BasketID uuid.UUID
	Product  string
	Quantity int
}

// RemoveItem asks to take Product out of basket BasketID.
type RemoveItem struct {
	BasketID uuid.UUID
	Product  string
}

func (CreateBasket) isCommand() {}
func (AddItem) isCommand()      {}
func (RemoveItem) isCommand()   {}

// Basket is the state of a basket, rebuilt from its events.
type Basket struct {
	// Created is true once BasketCreated has happened.
	Created bool
	// Items maps each product in the basket to its quantity, always
	// positive. Nil when the basket is empty.
	Items map[string]int
}

// Products returns the products in the basket, sorted by name.
func (b Basket) Products() []string {
	return slices.Sorted(maps.Keys(b.Items))
}

// NewDecider returns the basket's rules as a [chronicle.Decider].
func NewDecider() chronicle.Decider[Basket, Command, Event] {
	return chronicle.Decider[Basket, Command, Event]{Decide: Decide, Evolve: Evolve}
}

// Decide returns the events that cmd causes in basket b, or the reason it
// is refused: [ErrInvalidID] (a CreateBasket that names no basket),
// [ErrAlreadyCreated], [ErrBasketNotFound],
// [ErrInvalidProduct], [ErrInvalidQuantity], or a [*NotInBasketError]. A
// refused command decides no event.
func Decide(b Basket, cmd Command) ([]Event, error) {
	if basketOf(cmd) == uuid.Nil {
		return nil, fmt.Errorf("%w: the command names no basket", ErrInvalidID)
	}
	switch cmd := cmd.(type) {
	case CreateBasket:
		if b.Created {
			return nil, ErrAlreadyCreated
		}
		created := BasketCreated{BasketID: cmd.BasketID}
		if cmd.Product == "" && cmd.Quantity == 0 {
			return []Event{created}, nil
		}
		add, err := addItem(Basket{Created: true}, cmd.BasketID, cmd.Product, cmd.Quantity)
		if err != nil {
			return nil, err
		}
		return []Event{created, add}, nil
	case AddItem:
		if !b.Created {
			return nil, ErrBasketNotFound
		}
		add, err := addItem(b, cmd.BasketID, cmd.Product, cmd.Quantity)
		if err != nil {
			return nil, err
		}
		return []Event{add}, nil
	case RemoveItem:
		if !b.Created {
			return nil, ErrBasketNotFound
		}
		if _, ok := b.Items[cmd.Product]; !ok {
			return nil, &NotInBasketError{Product: cmd.Product}
		}
		return []Event{ItemRemoved(cmd)}, nil
	default:
		return nil, fmt.Errorf("basket: unknown command %T", cmd)
	}
}

// basketOf returns the basket that cmd names.
func basketOf(cmd Command) uuid.UUID {
	switch cmd := cmd.(type) {
	case CreateBasket:
		return cmd.BasketID
	case AddItem:
		return cmd.BasketID
	case RemoveItem:
		return cmd.BasketID
	}
	return uuid.Nil
}

func addItem(b Basket, id uuid.UUID, product string, quantity int) (ItemAdded, error) {
	if err := ValidateProduct(product); err != nil {
		return ItemAdded{}, err
	}
	if quantity <= 0 {
		return ItemAdded{}, fmt.Errorf("%w: %d: add at least 1", ErrInvalidQuantity, quantity)
	}
	if have := b.Items[product]; quantity > MaxQuantity-have {
		return ItemAdded{}, fmt.Errorf("%w: %d more %s would make %d, over the limit of %d",
			ErrInvalidQuantity, quantity, product, int64(have)+int64(quantity), MaxQuantity)
	}
	return ItemAdded{BasketID: id, Product: product, Quantity: quantity}, nil
}

// ValidateProduct reports whether name can name a product: it is not
// empty, not blank, at most [MaxProductLength] bytes of valid UTF-8, and
// holds no control characters, which would garble the basket's listing.
// The error matches [ErrInvalidProduct].
func ValidateProduct(name string) error {
	switch {
	case strings.TrimSpace(name) == "":
		return fmt.Errorf("%w: the name is empty", ErrInvalidProduct)
	case len(name) > MaxProductLength:
		return fmt.Errorf("%w: the name is %d bytes long, over the limit of %d", ErrInvalidProduct, len(name), MaxProductLength)
	case !utf8.ValidString(name):
		return fmt.Errorf("%w: %q is not valid UTF-8", ErrInvalidProduct, name)
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		return fmt.Errorf("%w: %q holds a control character", ErrInvalidProduct, name)
	}
	return nil
}

// Evolve returns the basket after event e. It copies the items rather
// than change b's map, so that a state once handed out never changes.
func Evolve(b Basket, e Event) Basket {
	switch e := e.(type) {
	case BasketCreated:
		b.Created = true
	case ItemAdded:
		items := maps.Clone(b.Items)
		if items == nil {
			items = map[string]int{}
		}
		items[e.Product] += e.Quantity
		b.Items = items
	case ItemRemoved:
		if _, ok := b.Items[e.Product]; ok {
			items := maps.Clone(b.Items)
			delete(items, e.Product)
			if len(items) == 0 {
				items = nil
			}
			b.Items = items
		}
	}
	return b
}
