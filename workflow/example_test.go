package workflow_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/memory"
	"github.com/chronicle-es/chronicle/projection"
	"github.com/chronicle-es/chronicle/workflow"
)

// Ship and ShipmentRequested are the command and the event of the
// shipment aggregate of the example.
type (
	Ship              struct{ Order string }
	ShipmentRequested struct {
		Order string `json:"order"`
	}
)

// When an order is placed, request its shipment: the workflow reacts to
// each OrderPlaced event with a command on the shipment aggregate. It
// runs as a projection; a service would run it with [projection.Runner.Run]
// until shutdown, and this example catches up once.
func Example() {
	ctx := context.Background()
	store := memory.New(nil)
	shipment := chronicle.Decider[bool, Ship, ShipmentRequested]{
		Decide: func(_ bool, c Ship) ([]ShipmentRequested, error) {
			return []ShipmentRequested{{Order: c.Order}}, nil
		},
		Evolve: func(bool, ShipmentRequested) bool { return true },
	}
	codec := chronicle.MustCodec[ShipmentRequested](chronicle.JSON[ShipmentRequested]("ShipmentRequested"))
	shipments := chronicle.NewRepository(store, codec, shipment, nil)

	ship := workflow.Workflow{
		Name:   "ship-orders",
		Filter: chronicle.Filter{Types: []string{"OrderPlaced"}},
		React: func(ctx context.Context, s workflow.Step, e chronicle.RecordedEvent) error {
			order := strings.TrimPrefix(e.Stream, "order-")
			// The command's ID is the same on every delivery of this
			// step, so that a step delivered again is not done twice.
			_, err := shipments.HandleOnce(ctx, "shipment-"+order, Ship{Order: order}, s.CommandID("ship"))
			return err
		},
	}

	for _, order := range []string{"order-1", "order-2"} {
		store.Append(ctx, order, chronicle.NoStream, chronicle.EventData{Type: "OrderPlaced", Data: []byte(`{}`)})
	}
	runner, err := projection.NewRunner(store, nil, ship.Projection())
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := runner.CatchUp(ctx); err != nil {
		fmt.Println(err)
		return
	}

	// A runner whose checkpoints are lost, as after a crash before they
	// were saved, delivers every step again: nothing is shipped twice.
	again, _ := projection.NewRunner(store, nil, ship.Projection())
	if err := again.CatchUp(ctx); err != nil {
		fmt.Println(err)
		return
	}

	for e, err := range store.ReadAll(ctx, chronicle.ReadAllOptions{}) {
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(e.Position, e.Stream, e.Type, string(e.Data))
	}
	// Output:
	// 1 order-1 OrderPlaced {}
	// 2 order-2 OrderPlaced {}
	// 3 shipment-1 ShipmentRequested {"order":"1"}
	// 4 shipment-2 ShipmentRequested {"order":"2"}
}
