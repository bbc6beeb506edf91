package shred_test

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/memory"
	"github.com/chronicle-es/chronicle/shred"
)

// SignedUp is an event with one personal field, the user's e-mail
// address, which is its own data subject.
type SignedUp struct {
	Email string `json:"email" chronicle:"personal"`
	Plan  string `json:"plan"`
}

// Store a personal field encrypted, read it back, and forget its subject:
// the event stays, and the field reads as forgotten in every event that
// holds it.
func ExampleStore_Forget() {
	ctx := context.Background()
	schema, err := shred.NewSchema(shred.Of[SignedUp]("SignedUp"))
	if err != nil {
		fmt.Println(err)
		return
	}
	events := memory.New(nil)
	s := shred.New(events, shred.NewMemoryKeys(), schema)
	data, _ := json.Marshal(SignedUp{Email: "ada@example.com", Plan: "pro"})
	if _, err := s.Append(ctx, "user-1", chronicle.NoStream, chronicle.EventData{Type: "SignedUp", Data: data}); err != nil {
		fmt.Println(err)
		return
	}
	show := func(store chronicle.Store) {
		for e, err := range store.ReadStream(ctx, "user-1", chronicle.ReadStreamOptions{}) {
			if err != nil {
				fmt.Println(err)
				return
			}
			var got SignedUp
			if err := json.Unmarshal(e.Data, &got); err != nil {
				fmt.Println("stored encrypted:", err != nil)
				return
			}
			fmt.Printf("%+v\n", got)
		}
	}
	show(s)
	show(events) // the store underneath holds the address encrypted
	if err := s.Forget(ctx, "ada@example.com"); err != nil {
		fmt.Println(err)
		return
	}
	show(s)
	// Output:
	// {Email:ada@example.com Plan:pro}
	// stored encrypted: true
	// {Email:[forgotten] Plan:pro}
}
