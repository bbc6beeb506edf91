package chronicle_test

//lint:file-ignore S1016 commands and events are different types that happen to share fields; the literals say which is which.

import (
	"errors"

	"github.com/chronicle-es/chronicle"
)

// A bank account: the domain that the codec, decider and repository tests
// run.

type accountEvent interface{ isAccountEvent() }

type opened struct {
	Owner string `json:"owner"`
}

type deposited struct {
	Amount int `json:"amount"`
}

type withdrawn struct {
	Amount int `json:"amount"`
}

func (opened) isAccountEvent()    {}
func (deposited) isAccountEvent() {}
func (withdrawn) isAccountEvent() {}

type accountCommand interface{ isAccountCommand() }

type open struct{ Owner string }
type deposit struct{ Amount int }
type withdraw struct{ Amount int }

func (open) isAccountCommand()     {}
func (deposit) isAccountCommand()  {}
func (withdraw) isAccountCommand() {}

type account struct {
	Open    bool
	Owner   string
	Balance int
	// Seen counts the events folded, to tell a fresh state from one
	// rebuilt.
	Seen int
}

var (
	errNotOpen           = errors.New("account not open")
	errInsufficientFunds = errors.New("insufficient funds")
)

func accountDecider() chronicle.Decider[account, accountCommand, accountEvent] {
	return chronicle.Decider[account, accountCommand, accountEvent]{
		Decide: func(a account, cmd accountCommand) ([]accountEvent, error) {
			switch c := cmd.(type) {
			case open:
				if a.Open {
					return nil, nil
				}
				return []accountEvent{opened{Owner: c.Owner}}, nil
			case deposit:
				if !a.Open {
					return nil, errNotOpen
				}
				if c.Amount == 0 {
					return nil, nil
				}
				return []accountEvent{deposited{Amount: c.Amount}}, nil
			case withdraw:
				if !a.Open {
					return nil, errNotOpen
				}
				if c.Amount > a.Balance {
					return nil, errInsufficientFunds
				}
				return []accountEvent{withdrawn{Amount: c.Amount}}, nil
			}
			return nil, errors.New("unknown command")
		},
		Evolve: func(a account, e accountEvent) account {
			a.Seen++
			switch e := e.(type) {
			case opened:
				a.Open, a.Owner = true, e.Owner
			case deposited:
				a.Balance += e.Amount
			case withdrawn:
				a.Balance -= e.Amount
			}
			return a
		},
	}
}

func accountCodec() *chronicle.Codec[accountEvent] {
	return chronicle.MustCodec[accountEvent](
		chronicle.JSON[opened]("Opened"),
		chronicle.JSON[deposited]("Deposited"),
		chronicle.JSON[withdrawn]("Withdrawn"),
	)
}
