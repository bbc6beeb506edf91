package connectfour_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chronicle-es/chronicle/internal/doclisting"
)

// TestTutorialListings checks that every Go listing of docs/tutorial.md is
// real code: it appears, character for character, in one of this
// package's .go files (its code, its tests or its examples), which go test
// compiles and runs. A listing may drop one level of indentation, so that
// the body of an Example function reads as a program. Change the code,
// and this test tells you which listing to update.
func TestTutorialListings(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "tutorial.md"))
	if err != nil {
		t.Fatalf("read the tutorial: %v", err)
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var sources []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sources = append(sources, string(b))
	}
	listings := doclisting.Go(string(doc))
	if len(listings) < 8 {
		t.Fatalf("found %d Go listings in the tutorial, want at least 8 (one per step)", len(listings))
	}
	for i, l := range listings {
		listing := l.Code
		if !inSources(sources, listing) && !inSources(sources, doclisting.Indent(listing)) {
			t.Errorf("listing %d of docs/tutorial.md is not in examples/connectfour/*.go:\n%s", i+1, listing)
		}
	}
}

func inSources(sources []string, s string) bool {
	for _, src := range sources {
		if strings.Contains(src, s) {
			return true
		}
	}
	return false
}
