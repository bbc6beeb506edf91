package chronicle_test

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/chronicle-es/chronicle/internal/doclisting"
)

// readmeCitation matches what README.md says right after a Go listing:
// which function of which file the listing is. Group 1 is the function,
// group 2 the file, relative to the repository's root.
var readmeCitation = regexp.MustCompile("^\\s*This is `(\\w+)` in \\[[^]]*\\]\\(([^)]+)\\)")

// TestReadmeListings checks that every Go listing of README.md is the end
// of the body of the function it cites, character for character but for
// the body's indentation, before any "// Output:" comment: the part after
// the setup that the README leaves out. An Example function is compiled
// and run by go test, so the README shows code that works. Change the
// example, and this test says which listing to update.
func TestReadmeListings(t *testing.T) {
	doc, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatalf("read the README: %v", err)
	}
	listings := doclisting.Go(string(doc))
	if len(listings) == 0 {
		t.Fatal("found no Go listing in README.md, want at least the one of ExampleOpen")
	}
	for i, l := range listings {
		m := readmeCitation.FindStringSubmatch(string(doc[l.End:]))
		if m == nil {
			t.Errorf("Go listing %d of README.md is not followed by \"This is `ExampleName` in [file](file)\", so nothing checks it:\n%s", i+1, l.Code)
			continue
		}
		name, file := m[1], m[2]
		body, err := doclisting.FuncBody(file, name)
		if err != nil {
			t.Errorf("Go listing %d of README.md: %v", i+1, err)
			continue
		}
		code, _, _ := strings.Cut(body, "\t// Output:\n")
		if !strings.HasSuffix(code, doclisting.Indent(l.Code)) {
			t.Errorf("Go listing %d of README.md is not the end of %s in %s; the function's body is now:\n%s", i+1, name, file, code)
		}
	}
}
