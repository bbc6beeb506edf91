package chronicletest_test

//lint:file-ignore S1016 commands and events are different types that happen to share fields; the literals say which is which.

import (
	"errors"
	"maps"

	"github.com/chronicle-es/chronicle"
)

// A bank account, the domain that the tests and examples of this package
// test.

// Event is an account's event.
type Event interface{ isEvent() }

type Opened struct {
	Owner string `json:"owner"`
}

type Deposited struct {
	Amount int `json:"amount"`
}

type Withdrawn struct {
	Amount int `json:"amount"`
}

func (Opened) isEvent()    {}
func (Deposited) isEvent() {}
func (Withdrawn) isEvent() {}

// Command is what can be asked of an account.
type Command interface{ isCommand() }

type Open struct{ Owner string }
type Deposit struct{ Amount int }
type Withdraw struct{ Amount int }

func (Open) isCommand()     {}
func (Deposit) isCommand()  {}
func (Withdraw) isCommand() {}

// Account is an account's state.
type Account struct {
	Open    bool
	Owner   string
	Balance int
}

var (
	ErrAlreadyOpen       = errors.New("account already open")
	ErrNotOpen           = errors.New("account not open")
	ErrInsufficientFunds = errors.New("insufficient funds")
)

var account = chronicle.Decider[Account, Command, Event]{
	Decide: func(a Account, cmd Command) ([]Event, error) {
		switch c := cmd.(type) {
		case Open:
			if a.Open {
				return nil, ErrAlreadyOpen
			}
			return []Event{Opened{Owner: c.Owner}}, nil
		case Deposit:
			if !a.Open {
				return nil, ErrNotOpen
			}
			if c.Amount == 0 {
				return nil, nil
			}
			return []Event{Deposited{Amount: c.Amount}}, nil
		case Withdraw:
			if !a.Open {
				return nil, ErrNotOpen
			}
			if c.Amount > a.Balance {
				return nil, ErrInsufficientFunds
			}
			return []Event{Withdrawn{Amount: c.Amount}}, nil
		}
		return nil, errors.New("unknown command")
	},
	Evolve: func(a Account, e Event) Account {
		switch e := e.(type) {
		case Opened:
			a.Open, a.Owner = true, e.Owner
		case Deposited:
			a.Balance += e.Amount
		case Withdrawn:
			a.Balance -= e.Amount
		}
		return a
	},
}

var codec = chronicle.MustCodec[Event](
	chronicle.JSON[Opened]("Opened"),
	chronicle.JSON[Deposited]("Deposited"),
	chronicle.JSON[Withdrawn]("Withdrawn"),
)

// A tally counts votes per option in a map, and its Decide forgets that
// the map is shared with the caller.
type Vote struct{ Option string }

type Voted struct{ Option string }

type Tally map[string]int

var careless = chronicle.Decider[Tally, Vote, Voted]{
	Initial: func() Tally { return Tally{} },
	Decide: func(t Tally, v Vote) ([]Voted, error) {
		t[v.Option]++ // wrong: changes the state it was given
		return []Voted{{Option: v.Option}}, nil
	},
	Evolve: func(t Tally, v Voted) Tally {
		t = maps.Clone(t)
		t[v.Option]++
		return t
	},
}
