package chronicle_test

import (
	"testing"

	"github.com/chronicle-es/chronicle"
)

func TestDeciderInitialState(t *testing.T) {
	var zero chronicle.Decider[account, accountCommand, accountEvent]
	if got := zero.InitialState(); got != (account{}) {
		t.Errorf("InitialState() without Initial = %+v, want the zero state", got)
	}

	// Initial is called afresh each time, so states never share a map.
	d := chronicle.Decider[map[string]int, string, string]{
		Initial: func() map[string]int { return map[string]int{"start": 1} },
		Evolve: func(s map[string]int, e string) map[string]int {
			s[e]++
			return s
		},
	}
	a := d.InitialState()
	a["changed"] = 1
	if b := d.InitialState(); len(b) != 1 || b["start"] != 1 {
		t.Errorf("InitialState() = %v after a change to an earlier one", b)
	}
}

func TestDeciderFold(t *testing.T) {
	d := accountDecider()
	if got := d.Fold(d.InitialState()); got != (account{}) {
		t.Errorf("Fold of nothing = %+v", got)
	}
	got := d.Fold(d.InitialState(), opened{Owner: "ann"}, deposited{Amount: 10}, withdrawn{Amount: 4})
	if want := (account{Open: true, Owner: "ann", Balance: 6, Seen: 3}); got != want {
		t.Errorf("Fold = %+v, want %+v", got, want)
	}
	// Fold continues from the state it is given, in order.
	order := chronicle.Decider[string, struct{}, string]{Evolve: func(s, e string) string { return s + e }}
	if got := order.Fold("a", "b", "c"); got != "abc" {
		t.Errorf("Fold = %q, want abc", got)
	}
}
