package chronicle_test

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/memory"
)

// ItemAdded is an event whose shape changed: version 1 stored the count
// as "qty", version 2 as "quantity".
type ItemAdded struct {
	Product  string `json:"product"`
	Quantity int    `json:"quantity"`
}

// Read events that an older program stored in an older shape: an upcaster
// brings each from its version to the current one before it is decoded,
// and new events are stored with the current version in their metadata.
func ExampleVersioned() {
	ctx := context.Background()
	store := memory.New(nil)
	// As the older program wrote it: version 1, which needs no metadata.
	store.Append(ctx, "basket-1", chronicle.NoStream,
		chronicle.EventData{Type: "ItemAdded", Data: []byte(`{"product":"tea","qty":2}`)})

	renameQty := chronicle.Upcaster{From: 1, To: 2, Fn: func(b []byte) ([]byte, error) {
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, err
		}
		m["quantity"] = m["qty"]
		delete(m, "qty")
		return json.Marshal(m)
	}}
	codec, err := chronicle.NewCodec[any](chronicle.JSON[ItemAdded]("ItemAdded", chronicle.Versioned(2, renameQty)))
	if err != nil {
		fmt.Println(err)
		return
	}
	d, err := codec.Encode(ItemAdded{Product: "cake", Quantity: 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("stored as version", d.Metadata[chronicle.MetadataSchemaVersion])
	if _, err := store.Append(ctx, "basket-1", chronicle.Exact(0), d); err != nil {
		fmt.Println(err)
		return
	}

	for rec, err := range store.ReadStream(ctx, "basket-1", chronicle.ReadStreamOptions{}) {
		if err != nil {
			fmt.Println(err)
			return
		}
		e, err := codec.Decode(rec)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%+v\n", e)
	}
	// Output:
	// stored as version 2
	// {Product:tea Quantity:2}
	// {Product:cake Quantity:1}
}
