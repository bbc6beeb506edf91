package basket

import (
	"errors"
	"fmt"
)

// Errors for refused commands and bad input; match them with
// [errors.Is].
var (
	// ErrBasketNotFound means that no basket has the id given: it was
	// never created.
	ErrBasketNotFound = errors.New("basket not found")
	// ErrAlreadyCreated refuses to create a basket twice.
	ErrAlreadyCreated = errors.New("basket already created")
	// ErrNotInBasket refuses to remove a product that the basket does not
	// hold. The error is a [*NotInBasketError], which names the product.
	ErrNotInBasket = errors.New("product not in basket")
	// ErrInvalidQuantity refuses a quantity that is not positive, or that
	// would take a product's quantity over [MaxQuantity].
	ErrInvalidQuantity = errors.New("invalid quantity")
	// ErrInvalidProduct refuses a product name that is empty, too long or
	// holds control characters.
	ErrInvalidProduct = errors.New("invalid product name")
	// ErrInvalidID means that a string is not a basket id.
	ErrInvalidID = errors.New("invalid basket id")
)

// NotInBasketError refuses to remove Product from a basket that does not
// hold it. It matches [ErrNotInBasket].
type NotInBasketError struct {
	Product string
}

// Error says which product is not in the basket.
func (e *NotInBasketError) Error() string {
	return fmt.Sprintf("product %q is not in the basket", e.Product)
}

// Is reports whether target is [ErrNotInBasket].
func (e *NotInBasketError) Is(target error) bool { return target == ErrNotInBasket }
