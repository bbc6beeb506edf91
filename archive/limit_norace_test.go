//go:build !race

package archive_test

// The race detector would take four times as long over this line of
// 100 MB, to check code that the other tests check.

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/archive"
	"github.com/chronicle-es/chronicle/memory"
)

// TestDefaultMaxLineSizeTakesEscapedMetadata checks that an event of
// chronicle.DefaultMaxEventSize whose metadata is escaped about as much
// as it can be imports with the default line size. Its line is over six
// times as long as the event (a control character takes six bytes,
// \u0001, and a key of a few of them six more), and was refused.
func TestDefaultMaxLineSizeTakesEscapedMetadata(t *testing.T) {
	if testing.Short() {
		t.Skip("a line of 100 MB")
	}
	ctx := context.Background()
	var control []byte // those that encoding/json writes in six bytes
	for c := range byte(0x20) {
		if !strings.ContainsRune("\b\t\n\f\r", rune(c)) {
			control = append(control, c)
		}
	}
	meta := chronicle.Metadata{}
	size := 0
	for _, a := range control {
		meta[string([]byte{a})] = ""
		for _, b := range control {
			meta[string([]byte{a, b})] = ""
			for _, c := range control {
				meta[string([]byte{a, b, c})] = ""
			}
		}
	}
	for k := range meta {
		size += len(k)
	}
	meta["v"] = strings.Repeat("\x01", chronicle.DefaultMaxEventSize-size-1)
	src, dst := memory.New(nil), memory.New(nil)
	if _, err := src.Append(ctx, "s", chronicle.NoStream, chronicle.EventData{Type: "T", Metadata: meta}); err != nil {
		t.Fatal(err)
	}
	// Through a pipe, which spares a copy of the line.
	r, w := io.Pipe()
	defer r.Close() // ends the export if the import stops
	go func() {
		_, err := archive.Export(ctx, src, w, nil)
		w.CloseWithError(err)
	}()
	lines := &countingReader{r: r}
	if _, err := archive.Import(ctx, dst, lines, nil); err != nil {
		t.Fatalf("an exported event does not import: %v", err)
	}
	if lines.n <= 6*chronicle.DefaultMaxEventSize+64<<10 {
		t.Fatalf("the line is %d bytes long: not escaped as much as it can be", lines.n)
	}
	sameEvents(t, readAll(t, dst), readAll(t, src))
}
