// Package basket is the shopping basket of the "event sourcing 101" talk,
// event-sourced on Chronicle.
//
// # Events
//
// A basket is the stream "basket-<uuid>". Its events are facts:
//
//	BasketCreated  {"basket_id": "0190…"}
//	ItemAdded      {"basket_id": "0190…", "product": "clocks", "qty": 2}
//	ItemRemoved    {"basket_id": "0190…", "product": "clocks"}
//
// ItemAdded is at version 2 (see [chronicle.Versioned]): version 1, which
// called its quantity "quantity", reads through an upcaster. Events
// stored before the events named their basket read with the nil UUID as
// their BasketID.
//
// Adding a product adds to its quantity; removing it takes the product
// out of the basket whatever its quantity.
//
// # Why events
//
// The talk's point: a basket that had clocks added and then removed holds
// the same products as one that never had clocks, but its events tell
// the story, and the business wants to know who nearly bought clocks.
// [Service.History] returns that story.
//
// The basket and its story are those that the log shows. A basket whose
// creation is not in the log, because the stream's metadata
// (TruncateBefore, MaxCount, MaxAge) hides its BasketCreated, is no
// basket: [Service.Get] and [Service.History] give [ErrBasketNotFound],
// and the rules refuse to change it, whatever later events the log shows.
//
// # Rules
//
// The rules are a [chronicle.Decider] (see [NewDecider]): a basket is
// created once; quantities are positive; products are named; a product
// that is not in the basket cannot be removed ([*NotInBasketError]); and
// a basket that was never created cannot be changed ([ErrBasketNotFound]).
// A refused command records no event.
//
// [Service] runs the rules against any [chronicle.Store]; the command
// cmd/basket is its command line.
package basket
