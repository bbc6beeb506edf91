package connectfour

import (
	"slices"
	"strings"
)

// DrawOptions says how [Board.Draw] draws a board.
type DrawOptions struct {
	// Colour draws tokens as red and yellow discs, with ANSI escape
	// codes. Without it, player one's tokens are X and player two's O,
	// which read anywhere: in a file, a test, a screen reader.
	Colour bool
	// Highlight lists cells to mark, such as the winning line; they are
	// drawn in brackets, which shows with or without colour.
	Highlight []Cell
}

// ANSI escape codes for the tokens' colours.
const (
	ansiRed    = "\x1b[1;31m"
	ansiYellow = "\x1b[1;33m"
	ansiReset  = "\x1b[0m"
)

// Symbol returns how t is drawn: a coloured disc with colour, else X for
// red, O for yellow and a space for an empty cell.
func (t Token) Symbol(colour bool) string {
	switch {
	case t == Red && colour:
		return ansiRed + "●" + ansiReset
	case t == Yellow && colour:
		return ansiYellow + "●" + ansiReset
	case t == Red:
		return "X"
	case t == Yellow:
		return "O"
	}
	return " "
}

// String draws the board without colour; see [Board.Draw].
func (b Board) String() string {
	return b.Draw(DrawOptions{})
}

// Draw draws the board with box-drawing characters, top row first, under
// a header of the column letters, as lines ending in a newline:
//
//	  A   B   C   D   E   F   G
//	┌───┬───┬───┬───┬───┬───┬───┐
//	│   │   │   │   │   │   │   │
//	...
//	│ X │ O │   │   │   │   │   │
//	└───┴───┴───┴───┴───┴───┴───┘
func (b Board) Draw(opts DrawOptions) string {
	var sb strings.Builder
	sb.WriteString("  A")
	for col := 1; col < Columns; col++ {
		sb.WriteString("   " + string(ColumnAt(col)))
	}
	sb.WriteString("\n┌" + strings.Repeat("───┬", Columns-1) + "───┐\n")
	for row := Rows - 1; row >= 0; row-- {
		sb.WriteString("│")
		for col := range Columns {
			left, right := " ", " "
			if slices.Contains(opts.Highlight, Cell{col, row}) {
				left, right = "[", "]"
			}
			sb.WriteString(left + b.At(col, row).Symbol(opts.Colour) + right + "│")
		}
		sb.WriteString("\n")
	}
	sb.WriteString("└" + strings.Repeat("───┴", Columns-1) + "───┘\n")
	return sb.String()
}
