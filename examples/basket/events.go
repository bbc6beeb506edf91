package basket

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/chronicle-es/chronicle"
	"github.com/google/uuid"
)

// Event is one of a basket's events: [BasketCreated], [ItemAdded] or
// [ItemRemoved]. The method is unexported so that these are the only
// ones, which lets Evolve handle every event.
type Event interface{ isEvent() }

// Each event names its basket, as the talk's events do, although the
// stream's name carries the id too. Events stored before they named it
// read with the nil UUID.

// BasketCreated records that basket BasketID was created.
type BasketCreated struct {
	BasketID uuid.UUID `json:"basket_id"`
}

// ItemAdded records that Quantity of Product went into basket BasketID.
// Its data's quantity is "qty", as in the talk, since version 2; version
// 1 called it "quantity", and reads through an upcaster.
type ItemAdded struct {
	BasketID uuid.UUID `json:"basket_id"`
	Product  string    `json:"product"`
	Quantity int       `json:"qty"`
}

// ItemRemoved records that Product was taken out of basket BasketID, all
// of it.
type ItemRemoved struct {
	BasketID uuid.UUID `json:"basket_id"`
	Product  string    `json:"product"`
}

func (BasketCreated) isEvent() {}
func (ItemAdded) isEvent()     {}
func (ItemRemoved) isEvent()   {}

// Event type names, as stored: the names of the talk's event classes.
const (
	TypeBasketCreated = "BasketCreated"
	TypeItemAdded     = "ItemAdded"
	TypeItemRemoved   = "ItemRemoved"
)

// NewCodec returns the codec that stores a basket's events as JSON under
// their type names. It builds a new one at each call rather than keep one
// in a package variable, so that nothing is shared behind the caller's
// back; a codec is cheap and safe for concurrent use.
func NewCodec() *chronicle.Codec[Event] {
	return chronicle.MustCodec[Event](
		chronicle.JSON[BasketCreated](TypeBasketCreated),
		chronicle.JSON[ItemAdded](TypeItemAdded, chronicle.Versioned(2, chronicle.Upcaster{From: 1, To: 2, Fn: quantityToQty})),
		chronicle.JSON[ItemRemoved](TypeItemRemoved),
	)
}

// quantityToQty reads ItemAdded's version 1, whose quantity was
// "quantity", as version 2, whose quantity is "qty".
func quantityToQty(data []byte) ([]byte, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		return nil, err
	}
	if q, ok := fields["quantity"]; ok {
		fields["qty"] = q
		delete(fields, "quantity")
	}
	return json.Marshal(fields)
}

// Category is the category of the baskets' streams, which a
// [chronicle.Filter] selects.
const Category = "basket"

// StreamName returns the name of the stream of basket id: "basket-"
// followed by the UUID.
func StreamName(id uuid.UUID) string {
	return Category + "-" + id.String()
}

// ParseID returns the basket id in s, which is either the UUID or the
// stream name that [StreamName] makes of it. An error matches
// [ErrInvalidID].
func ParseID(s string) (uuid.UUID, error) {
	rest := strings.TrimPrefix(strings.TrimSpace(s), Category+"-")
	id, err := uuid.Parse(rest)
	if err != nil {
		return uuid.Nil, fmt.Errorf("%w: %q is not a basket id (a UUID such as %s)", ErrInvalidID, s, uuid.Nil)
	}
	return id, nil
}
