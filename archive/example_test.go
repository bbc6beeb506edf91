package archive_test

import (
	"bytes"
	"context"
	"fmt"
	"regexp"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/archive"
	"github.com/chronicle-es/chronicle/memory"
)

// Archive two streams before a scavenge, then restore them in another
// store. Importing the archive a second time writes nothing.
func Example() {
	ctx := context.Background()
	live := memory.New(nil)
	live.Append(ctx, "account-1", chronicle.NoStream,
		chronicle.EventData{Type: "Opened", Data: []byte(`{"owner":"ann"}`)},
		chronicle.EventData{Type: "Deposited", Data: []byte(`{"amount":10}`)})
	live.Append(ctx, "photo-7", chronicle.NoStream,
		chronicle.EventData{Type: "Uploaded", Data: []byte{0x89, 'P', 'N', 'G'}})

	var file bytes.Buffer // an *os.File in real use
	exported, err := archive.Export(ctx, live, &file, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("exported %d events of %d streams\n", exported.Events, exported.Streams)

	restored := memory.New(nil)
	for range 2 {
		res, err := archive.Import(ctx, restored, bytes.NewReader(file.Bytes()), nil)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("imported %d events: %d written, %d already there\n", res.Events, res.Written, res.Existing)
	}
	for e, err := range restored.ReadAll(ctx, chronicle.ReadAllOptions{}) {
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%s@%d %s %q\n", e.Stream, e.Revision, e.Type, e.Data)
	}
	// Output:
	// exported 3 events of 2 streams
	// imported 3 events: 3 written, 0 already there
	// imported 3 events: 0 written, 3 already there
	// account-1@0 Opened "{\"owner\":\"ann\"}"
	// account-1@1 Deposited "{\"amount\":10}"
	// photo-7@0 Uploaded "\x89PNG"
}

// Export writes one line per event: data that is compact JSON is
// embedded, other data is in base64.
func ExampleExport() {
	ctx := context.Background()
	s := memory.New(nil)
	s.Append(ctx, "photo-7", chronicle.NoStream,
		chronicle.EventData{Type: "Tagged", Data: []byte(`{"tags":["cat"]}`)},
		chronicle.EventData{Type: "Uploaded", Data: []byte{0x89, 'P', 'N', 'G'}})
	var out bytes.Buffer
	if _, err := archive.Export(ctx, s, &out, &archive.ExportOptions{Streams: []string{"photo-7"}}); err != nil {
		fmt.Println(err)
		return
	}
	// Leave out the ID and the time, which change from run to run.
	varying := regexp.MustCompile(`"(id|recorded)":"[^"]*",`)
	fmt.Print(varying.ReplaceAllString(out.String(), ""))
	// Output:
	// {"stream":"photo-7","revision":0,"position":1,"type":"Tagged","data":{"tags":["cat"]}}
	// {"stream":"photo-7","revision":1,"position":2,"type":"Uploaded","data_base64":"iVBORw=="}
}

// Import refuses a line that is not an event, naming it; the lines
// before it are imported, and running the import again, once the line is
// fixed, writes them only once.
func ExampleImport() {
	ctx := context.Background()
	s := memory.New(nil)
	file := `{"stream":"a","revision":0,"position":1,"id":"0190f0c2-7d6e-7c3a-9f00-0123456789ab","type":"T","recorded":"2025-01-02T03:04:05.000000Z","data":1}
{"stream":"a","revision":1,"position":2,"id":"not-a-uuid","type":"T","recorded":"2025-01-02T03:04:05.000000Z","data":2}
`
	res, err := archive.Import(ctx, s, bytes.NewReader([]byte(file)), nil)
	fmt.Printf("%+v\n%v\n", res, err)
	// Output:
	// {Lines:1 Events:1 Written:1 Existing:0}
	// line 2: id "not-a-uuid" is not a UUID
}
