package chronicletest_test

import (
	"fmt"
	"testing"

	"github.com/chronicle-es/chronicle/chronicletest"
)

// printTB stands in for a test's *testing.T in these examples: it prints
// failures instead of failing.
type printTB struct{ testing.TB }

func (printTB) Helper() {}

func (printTB) Cleanup(func()) {} // every scenario here is checked

func (printTB) Errorf(format string, args ...any) { fmt.Printf(format+"\n", args...) }

func (printTB) Fatalf(format string, args ...any) { fmt.Printf(format+"\n", args...) }

// A test of the bank account's Withdraw command. In a test, t is the
// test's *testing.T; here it prints failures, and these checks pass, so
// nothing is printed.
func Example() {
	t := printTB{}

	// Withdrawing what the account holds is allowed.
	chronicletest.For(t, account).
		WithCodec(codec). // and every event can be stored
		Given(Opened{Owner: "ann"}, Deposited{Amount: 10}).
		When(Withdraw{Amount: 4}).
		Then(Withdrawn{Amount: 4}).
		ThenState(Account{Open: true, Owner: "ann", Balance: 6})

	// Withdrawing more is refused.
	chronicletest.For(t, account).
		Given(Opened{Owner: "ann"}, Deposited{Amount: 10}).
		When(Withdraw{Amount: 11}).
		ThenError(ErrInsufficientFunds)

	// Depositing nothing is accepted, and changes nothing.
	chronicletest.For(t, account).
		Given(Opened{Owner: "ann"}).
		When(Deposit{Amount: 0}).
		ThenNothing()
	// Output:
}

// A failing check shows the events given, the command, and which event
// differs.
func ExampleScenario_Then() {
	t := printTB{}
	chronicletest.For(t, account).
		Given(Opened{Owner: "ann"}, Deposited{Amount: 10}).
		When(Withdraw{Amount: 4}).
		Then(Withdrawn{Amount: 4}, Deposited{Amount: 1})
	// Output:
	// chronicletest: Decide returned other events than wanted
	// given:
	//     Opened{"owner":"ann"}
	//     Deposited{"amount":10}
	// when:
	//     Withdraw{"Amount":4}
	// events (- want, + got): want 2 events, got 1
	//     0: Withdrawn{"amount":4}
	//   - 1: Deposited{"amount":1}
}

// ThenError matches the error with errors.Is, so wrapped domain errors
// match too.
func ExampleScenario_ThenError() {
	t := printTB{}
	chronicletest.For(t, account).
		Given(Opened{Owner: "ann"}).
		When(Withdraw{Amount: 4}).
		ThenError(ErrNotOpen)
	// Output:
	// chronicletest: Decide returned the wrong error
	// given:
	//     Opened{"owner":"ann"}
	// when:
	//     Withdraw{"Amount":4}
	// got error:  insufficient funds
	// want error: account not open (by errors.Is)
}
