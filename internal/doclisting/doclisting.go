// Package doclisting finds the Go listings of a Markdown document and the
// code they copy, so that a test can fail when a document no longer shows
// the code it says it shows.
package doclisting

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"regexp"
	"strings"
)

// goBlock matches a fenced Go code block; group 1 is its code.
var goBlock = regexp.MustCompile("(?s)```go\n(.*?)```")

// Listing is a fenced Go code block of a Markdown document.
type Listing struct {
	// Code is the block's text between its fences, ending in a newline.
	Code string
	// End is the offset in the document just past the closing fence,
	// where the prose that says what the listing is begins.
	End int
}

// Go returns the Go listings of the Markdown document doc, in order.
func Go(doc string) []Listing {
	var ls []Listing
	for _, m := range goBlock.FindAllStringSubmatchIndex(doc, -1) {
		ls = append(ls, Listing{Code: doc[m[2]:m[3]], End: m[1]})
	}
	return ls
}

// Indent adds a tab to every non-empty line of s, as gofmt indents the
// body of a function, so that a listing that drops that indentation to
// read as a program can be compared with the function it comes from.
func Indent(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = "\t" + l
		}
	}
	return strings.Join(lines, "\n")
}

// FuncBody returns the text between the braces of the function (not
// method) called name in the Go file at path, comments included, as
// gofmt wrote it: each line indented by a tab, without the newline that
// follows the opening brace.
func FuncBody(path, name string) (string, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, src, parser.ParseComments)
	if err != nil {
		return "", err
	}
	for _, d := range f.Decls {
		fn, ok := d.(*ast.FuncDecl)
		if !ok || fn.Recv != nil || fn.Name.Name != name || fn.Body == nil {
			continue
		}
		open := fset.Position(fn.Body.Lbrace).Offset
		end := fset.Position(fn.Body.Rbrace).Offset
		return strings.TrimPrefix(string(src[open+1:end]), "\n"), nil
	}
	return "", fmt.Errorf("%s has no function %s: update the document that cites it", path, name)
}
