package chronicletest_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/chronicletest"
)

// recorder is a testing.TB that records failures instead of failing, so
// that the tests can check that the kit fails, and how. Like the real
// one, it stops at Fatalf: the test body runs in its own goroutine, which
// Fatalf ends.
type recorder struct {
	testing.TB
	errors   []string
	fatals   []string
	cleanups []func()
}

func (r *recorder) Helper() {}

func (r *recorder) Cleanup(f func()) { r.cleanups = append(r.cleanups, f) }

func (r *recorder) Failed() bool { return len(r.errors)+len(r.fatals) > 0 }

func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.fatals = append(r.fatals, fmt.Sprintf(format, args...))
	runtime.Goexit()
}

// record runs body with a recorder and returns what it recorded.
func record(t *testing.T, body func(tb testing.TB)) *recorder {
	t.Helper()
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() {
			// Run the cleanups last first, as the testing package does.
			for i := len(r.cleanups) - 1; i >= 0; i-- {
				r.cleanups[i]()
			}
		}()
		body(r)
	}()
	<-done
	return r
}

// wantError checks that r recorded exactly one Errorf and no Fatalf, and
// that its message holds every one of parts.
func wantError(t *testing.T, r *recorder, parts ...string) {
	t.Helper()
	if len(r.fatals) > 0 || len(r.errors) != 1 {
		t.Fatalf("recorded errors %q and fatals %q, want exactly one error", r.errors, r.fatals)
	}
	for _, p := range parts {
		if !strings.Contains(r.errors[0], p) {
			t.Errorf("failure message lacks %q; it is:\n%s", p, r.errors[0])
		}
	}
}

// wantFatal checks that r recorded exactly one Fatalf holding part.
func wantFatal(t *testing.T, r *recorder, part string) {
	t.Helper()
	if len(r.fatals) != 1 || len(r.errors) > 0 || !strings.Contains(r.fatals[0], part) {
		t.Fatalf("recorded errors %q and fatals %q, want one fatal containing %q", r.errors, r.fatals, part)
	}
}

func TestPassingScenarios(t *testing.T) {
	for name, body := range map[string]func(tb testing.TB){
		"Then": func(tb testing.TB) {
			chronicletest.For(tb, account).
				Given(Opened{Owner: "ann"}, Deposited{Amount: 10}).
				When(Withdraw{Amount: 4}).
				Then(Withdrawn{Amount: 4}).
				ThenState(Account{Open: true, Owner: "ann", Balance: 6})
		},
		"GivenInSteps": func(tb testing.TB) {
			chronicletest.For(tb, account).
				Given(Opened{Owner: "ann"}).
				Given(Deposited{Amount: 10}, Deposited{Amount: 5}).
				When(Withdraw{Amount: 15}).
				Then(Withdrawn{Amount: 15})
		},
		"NothingGiven": func(tb testing.TB) {
			chronicletest.For(tb, account).
				When(Open{Owner: "bob"}).
				Then(Opened{Owner: "bob"}).
				ThenState(Account{Open: true, Owner: "bob"})
		},
		"ThenError": func(tb testing.TB) {
			chronicletest.For(tb, account).
				Given(Opened{Owner: "ann"}, Deposited{Amount: 3}).
				When(Withdraw{Amount: 4}).
				ThenError(ErrInsufficientFunds).
				ThenState(Account{Open: true, Owner: "ann", Balance: 3})
		},
		"ThenErrorWrapped": func(tb testing.TB) {
			d := account
			d.Decide = func(Account, Command) ([]Event, error) {
				return nil, fmt.Errorf("withdraw: %w", ErrInsufficientFunds)
			}
			chronicletest.For(tb, d).When(Withdraw{Amount: 1}).ThenError(ErrInsufficientFunds)
		},
		"ThenNothing": func(tb testing.TB) {
			chronicletest.For(tb, account).
				Given(Opened{Owner: "ann"}).
				When(Deposit{Amount: 0}).
				ThenNothing().
				Then()
		},
		"StateWithoutCommand": func(tb testing.TB) {
			chronicletest.For(tb, account).
				Given(Opened{Owner: "ann"}, Deposited{Amount: 7}, Withdrawn{Amount: 2}).
				ThenState(Account{Open: true, Owner: "ann", Balance: 5})
		},
		"WithCodec": func(tb testing.TB) {
			chronicletest.For(tb, account).
				WithCodec(codec).
				Given(Opened{Owner: "ann"}, Deposited{Amount: 10}).
				When(Withdraw{Amount: 4}).
				Then(Withdrawn{Amount: 4})
		},
	} {
		t.Run(name, func(t *testing.T) {
			r := record(t, body)
			if len(r.errors)+len(r.fatals) > 0 {
				t.Fatalf("a passing scenario failed: errors %q, fatals %q", r.errors, r.fatals)
			}
		})
	}
}

func TestThenReportsTheEventThatDiffers(t *testing.T) {
	r := record(t, func(tb testing.TB) {
		chronicletest.For(tb, account).
			Given(Opened{Owner: "ann"}, Deposited{Amount: 10}).
			When(Withdraw{Amount: 4}).
			Then(Withdrawn{Amount: 5})
	})
	want := `chronicletest: Decide returned other events than wanted
given:
    Opened{"owner":"ann"}
    Deposited{"amount":10}
when:
    Withdraw{"Amount":4}
events (- want, + got): want 1 event, got 1
  - 0: Withdrawn{"amount":5}
  + 0: Withdrawn{"amount":4}
`
	wantError(t, r)
	if r.errors[0] != want {
		t.Errorf("message:\n%s\nwant:\n%s", r.errors[0], want)
	}
}

func TestThenReportsMissingAndExtraEvents(t *testing.T) {
	t.Run("Missing", func(t *testing.T) {
		r := record(t, func(tb testing.TB) {
			chronicletest.For(tb, account).
				Given(Opened{Owner: "ann"}, Deposited{Amount: 10}).
				When(Withdraw{Amount: 4}).
				Then(Withdrawn{Amount: 4}, Deposited{Amount: 1})
		})
		wantError(t, r, "want 2 events, got 1", "    0: Withdrawn{\"amount\":4}\n", "  - 1: Deposited{\"amount\":1}\n")
	})
	t.Run("Extra", func(t *testing.T) {
		r := record(t, func(tb testing.TB) {
			chronicletest.For(tb, account).
				Given(Opened{Owner: "ann"}).
				When(Deposit{Amount: 3}).
				ThenNothing()
		})
		wantError(t, r, "want 0 events, got 1", "  + 0: Deposited{\"amount\":3}\n")
	})
	t.Run("WrongType", func(t *testing.T) {
		r := record(t, func(tb testing.TB) {
			chronicletest.For(tb, account).
				Given(Opened{Owner: "ann"}).
				When(Deposit{Amount: 3}).
				Then(Withdrawn{Amount: 3})
		})
		wantError(t, r, "  - 0: Withdrawn{\"amount\":3}\n  + 0: Deposited{\"amount\":3}\n")
	})
}

func TestThenReportsAnError(t *testing.T) {
	r := record(t, func(tb testing.TB) {
		chronicletest.For(tb, account).
			Given(Opened{Owner: "ann"}).
			When(Withdraw{Amount: 4}).
			Then(Withdrawn{Amount: 4})
	})
	wantError(t, r, "Decide returned an error, want 1 event", "given:\n    Opened{\"owner\":\"ann\"}\n",
		"got error: insufficient funds\n", "want:\n    Withdrawn{\"amount\":4}\n")
}

func TestThenErrorReportsSuccess(t *testing.T) {
	r := record(t, func(tb testing.TB) {
		chronicletest.For(tb, account).
			Given(Opened{Owner: "ann"}, Deposited{Amount: 10}).
			When(Withdraw{Amount: 4}).
			ThenError(ErrInsufficientFunds)
	})
	wantError(t, r, `Decide returned no error, want one matching "insufficient funds"`,
		"when:\n    Withdraw{\"Amount\":4}\n", "got:\n    Withdrawn{\"amount\":4}\n")
}

func TestThenErrorReportsAnotherError(t *testing.T) {
	r := record(t, func(tb testing.TB) {
		chronicletest.For(tb, account).
			When(Withdraw{Amount: 4}).
			ThenError(ErrInsufficientFunds)
	})
	wantError(t, r, "wrong error", "given: no events\n", "got error:  account not open\n",
		"want error: insufficient funds (by errors.Is)\n")
}

func TestThenStateReportsTheDifference(t *testing.T) {
	r := record(t, func(tb testing.TB) {
		chronicletest.For(tb, account).
			Given(Opened{Owner: "ann"}, Deposited{Amount: 10}).
			When(Withdraw{Amount: 4}).
			ThenState(Account{Open: true, Owner: "ann", Balance: 7})
	})
	wantError(t, r, "wrong state", "decided:\n    Withdrawn{\"amount\":4}\n",
		"state (- want, + got):\n  - Account{\"Open\":true,\"Owner\":\"ann\",\"Balance\":7}\n  + Account{\"Open\":true,\"Owner\":\"ann\",\"Balance\":6}\n")

	r = record(t, func(tb testing.TB) {
		chronicletest.For(tb, account).
			Given(Opened{Owner: "ann"}).
			When(Withdraw{Amount: 4}).
			ThenState(Account{})
	})
	wantError(t, r, "decided: error: insufficient funds\n")
}

// secret is an event whose field JSON does not show.
type secret struct{ n int }

func TestDifferencesJSONDoesNotShowArePrintedAsGo(t *testing.T) {
	d := chronicle.Decider[int, int, secret]{
		Decide: func(_ int, n int) ([]secret, error) { return []secret{{n: n}}, nil },
		Evolve: func(s int, e secret) int { return s + e.n },
	}
	r := record(t, func(tb testing.TB) {
		chronicletest.For(tb, d).When(1).Then(secret{n: 2}).ThenState(3)
	})
	if len(r.errors) != 2 {
		t.Fatalf("errors = %q, want two", r.errors)
	}
	for _, want := range []string{"  - 0: chronicletest_test.secret{n:2}\n  + 0: chronicletest_test.secret{n:1}\n", "when:\n    int(1)\n"} {
		if !strings.Contains(r.errors[0], want) {
			t.Errorf("message lacks %q:\n%s", want, r.errors[0])
		}
	}
	if want := "  - int(3)\n  + int(1)\n"; !strings.Contains(r.errors[1], want) {
		t.Errorf("message lacks %q:\n%s", want, r.errors[1])
	}
}

func TestDecideChangingItsStateFails(t *testing.T) {
	r := record(t, func(tb testing.TB) {
		chronicletest.For(tb, careless).
			Given(Voted{Option: "a"}).
			When(Vote{Option: "a"}).
			Then(Voted{Option: "a"}).
			ThenState(Tally{"a": 2})
	})
	wantError(t, r, "Decide changed the state it was given",
		"state (- want, + got):\n  - Tally{\"a\":1}\n  + Tally{\"a\":2}\n")
}

// Leaky is an event that loses a field when stored.
type Leaky struct {
	Kept string
	lost string
}

func (Leaky) isEvent() {}

// Odd is an event that JSON encodes as a string but cannot decode.
type Odd struct{}

func (Odd) isEvent() {}

// MarshalJSON encodes an Odd as "odd".
func (Odd) MarshalJSON() ([]byte, error) { return []byte(`"odd"`), nil }

func TestWithCodecCatchesEventsThatCannotBeStored(t *testing.T) {
	leaky := account
	leaky.Decide = func(Account, Command) ([]Event, error) {
		return []Event{Leaky{Kept: "k", lost: "l"}}, nil
	}
	withLeaky := chronicle.MustCodec[Event](chronicle.JSON[Opened]("Opened"), chronicle.JSON[Leaky]("Leaky"))

	t.Run("Unknown", func(t *testing.T) {
		r := record(t, func(tb testing.TB) {
			chronicletest.For(tb, account).
				Given(Opened{Owner: "ann"}, Deposited{Amount: 1}).
				WithCodec(chronicle.MustCodec[Event](chronicle.JSON[Opened]("Opened")))
		})
		wantError(t, r, `given event 1, Deposited{"amount":1}, cannot be encoded`, "unknown event type")
	})
	t.Run("Decided", func(t *testing.T) {
		r := record(t, func(tb testing.TB) {
			chronicletest.For(tb, leaky).WithCodec(withLeaky).When(Open{}).Then(Leaky{Kept: "k", lost: "l"})
		})
		wantError(t, r, "decided event 0 does not survive the codec", `stored: Leaky {"Kept":"k"}`, `lost:""`)
	})
	t.Run("Given", func(t *testing.T) {
		r := record(t, func(tb testing.TB) {
			chronicletest.For(tb, account).WithCodec(withLeaky).Given(Leaky{Kept: "k", lost: "l"})
		})
		wantError(t, r, "given event 0 does not survive the codec")
	})
	t.Run("Undecodable", func(t *testing.T) {
		r := record(t, func(tb testing.TB) {
			chronicletest.For(tb, account).
				WithCodec(chronicle.MustCodec[Event](chronicle.JSON[Odd]("Odd"))).
				Given(Odd{})
		})
		wantError(t, r, `given event 0, Odd("odd"), is encoded as Odd "odd" but cannot be decoded`)
	})
}

func TestMisuseStopsTheTest(t *testing.T) {
	for _, tc := range []struct {
		name string
		body func(tb testing.TB)
		want string
	}{
		{"ThenBeforeWhen", func(tb testing.TB) {
			chronicletest.For(tb, account).Given(Opened{}).Then(Opened{})
		}, "Then before When"},
		{"ThenErrorBeforeWhen", func(tb testing.TB) {
			chronicletest.For(tb, account).ThenError(ErrNotOpen)
		}, "ThenError before When"},
		{"ThenNothingBeforeWhen", func(tb testing.TB) {
			chronicletest.For(tb, account).ThenNothing()
		}, "Then before When"},
		{"WhenTwice", func(tb testing.TB) {
			chronicletest.For(tb, account).When(Open{}).When(Open{})
		}, "When called twice"},
		{"GivenAfterWhen", func(tb testing.TB) {
			chronicletest.For(tb, account).When(Open{}).Given(Opened{})
		}, "Given after When"},
		{"ThenErrorNil", func(tb testing.TB) {
			chronicletest.For(tb, account).When(Open{}).ThenError(nil)
		}, "ThenError(nil)"},
		{"NoDecide", func(tb testing.TB) {
			chronicletest.For(tb, chronicle.Decider[int, int, int]{})
		}, "needs both Decide and Evolve"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantFatal(t, record(t, tc.body), tc.want)
		})
	}
}

func TestUncheckedCommandFails(t *testing.T) {
	r := record(t, func(tb testing.TB) {
		chronicletest.For(tb, account).Given(Opened{Owner: "ann"}).When(Deposit{Amount: 1})
	})
	wantError(t, r, `When(Deposit{"Amount":1}) was never checked`)

	for name, check := range map[string]func(sc *chronicletest.Scenario[Account, Command, Event]){
		"Err":    func(sc *chronicletest.Scenario[Account, Command, Event]) { sc.Err() },
		"Events": func(sc *chronicletest.Scenario[Account, Command, Event]) { sc.Events() },
		"State":  func(sc *chronicletest.Scenario[Account, Command, Event]) { sc.State() },
		"ThenState": func(sc *chronicletest.Scenario[Account, Command, Event]) {
			sc.ThenState(Account{Open: true, Owner: "ann", Balance: 1})
		},
	} {
		r := record(t, func(tb testing.TB) {
			check(chronicletest.For(tb, account).Given(Opened{Owner: "ann"}).When(Deposit{Amount: 1}))
		})
		if len(r.errors)+len(r.fatals) > 0 {
			t.Errorf("%s: a scenario checked with %s failed: %q %q", name, name, r.errors, r.fatals)
		}
	}
}

func TestAccessors(t *testing.T) {
	sc := chronicletest.For(t, account).Given(Opened{Owner: "ann"}).When(Withdraw{Amount: 1})
	if !errors.Is(sc.Err(), ErrInsufficientFunds) || sc.Events() != nil {
		t.Errorf("Err() = %v, Events() = %v; want insufficient funds and no events", sc.Err(), sc.Events())
	}
	sc = chronicletest.For(t, account).Given(Opened{Owner: "ann"}).When(Deposit{Amount: 2})
	if sc.Err() != nil || len(sc.Events()) != 1 || sc.State().Balance != 2 {
		t.Errorf("Err() = %v, Events() = %v, State() = %+v", sc.Err(), sc.Events(), sc.State())
	}
}

// Renamed is an event whose current shape is version 2: version 1 stored
// its name as "old".
type Renamed struct {
	Name string `json:"name"`
}

func (Renamed) isEvent() {}

func TestWithCodecKeepsTheSchemaVersion(t *testing.T) {
	// The upcaster from version 1 renames "old" to "name": run on data of
	// version 2, it would lose the name.
	fromOld := chronicle.Upcaster{From: 1, To: 2, Fn: func(data []byte) ([]byte, error) {
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			return nil, err
		}
		m["name"] = m["old"]
		delete(m, "old")
		return json.Marshal(m)
	}}
	versioned := chronicle.MustCodec[Event](chronicle.JSON[Renamed]("Renamed", chronicle.Versioned(2, fromOld)))
	r := record(t, func(tb testing.TB) {
		chronicletest.For(tb, account).WithCodec(versioned).Given(Renamed{Name: "ann"})
	})
	if len(r.errors)+len(r.fatals) > 0 {
		t.Fatalf("an event of the codec's current version failed the round trip: errors %q, fatals %q", r.errors, r.fatals)
	}
}

func TestThenStateAfterARefusalIgnoresItsEvents(t *testing.T) {
	// A Decide that returns events with its error: a Repository keeps
	// neither, so the state is the one the command was refused in.
	d := account
	d.Decide = func(Account, Command) ([]Event, error) {
		return []Event{Deposited{Amount: 5}}, ErrNotOpen
	}
	r := record(t, func(tb testing.TB) {
		chronicletest.For(tb, d).
			Given(Opened{Owner: "ann"}).
			When(Deposit{Amount: 5}).
			ThenError(ErrNotOpen).
			ThenState(Account{Open: true, Owner: "ann"})
	})
	if len(r.errors)+len(r.fatals) > 0 {
		t.Fatalf("ThenState after a refusal counted the refused events: errors %q, fatals %q", r.errors, r.fatals)
	}
	r = record(t, func(tb testing.TB) {
		chronicletest.For(tb, d).
			Given(Opened{Owner: "ann"}).
			When(Deposit{Amount: 5}).
			ThenState(Account{Open: true, Owner: "ann", Balance: 5})
	})
	wantError(t, r, "wrong state", "decided: error: account not open\n")
}

// A playlist's state keeps the slice of the event that set it, as an
// Evolve that does no copying does.
type (
	Playlist    struct{ Songs []string }
	SongsSet    struct{ Songs []string }
	RenameFirst struct{ Name string }
)

var sharing = chronicle.Decider[Playlist, RenameFirst, SongsSet]{
	Decide: func(p Playlist, c RenameFirst) ([]SongsSet, error) {
		p.Songs[0] = c.Name // wrong: changes the slice it shares with the caller
		return nil, nil
	},
	Evolve: func(_ Playlist, e SongsSet) Playlist { return Playlist(e) },
}

func TestDecideChangingAStateThatSharesAnEventsSliceFails(t *testing.T) {
	r := record(t, func(tb testing.TB) {
		chronicletest.For(tb, sharing).
			Given(SongsSet{Songs: []string{"a", "b"}}).
			When(RenameFirst{Name: "z"}).
			ThenNothing()
	})
	wantError(t, r, "Decide changed the state it was given, and with it the given events",
		"  - chronicletest_test.Playlist{Songs:[]string{\"a\", \"b\"}}\n  + chronicletest_test.Playlist{Songs:[]string{\"z\", \"b\"}}\n")
}
