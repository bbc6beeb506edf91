package connectfour

import (
	"fmt"
	"strings"
)

// The board's size.
const (
	Columns = 7
	Rows    = 6
	// Cells is the number of moves after which the board is full.
	Cells = Columns * Rows
)

// Column names a column of the board, "A" (left) to "G" (right): the
// form moves are stored in.
type Column string

// ColumnAt returns the column at index i, 0 for "A" to 6 for "G".
func ColumnAt(i int) Column {
	return Column(rune('A' + i))
}

// Index returns the column's index, 0 for "A" to 6 for "G", and false
// for anything else, lowercase letters included: stored columns are
// uppercase.
func (c Column) Index() (int, bool) {
	if len(c) != 1 || c[0] < 'A' || c[0] >= 'A'+Columns {
		return 0, false
	}
	return int(c[0] - 'A'), true
}

// ParseColumn reads a column as a person types it: spaces around it are
// ignored and so is case, so " c" is column C. Anything else is an error
// matching [ErrInvalidColumn].
func ParseColumn(s string) (Column, error) {
	c := Column(strings.ToUpper(strings.TrimSpace(s)))
	if _, ok := c.Index(); !ok {
		return "", invalidColumn(s)
	}
	return c, nil
}

func invalidColumn(s string) error {
	return refuse(ErrInvalidColumn, fmt.Sprintf("there is no column %q: columns go from A to G", s))
}

// Token is what fills a cell: nothing, or the token of one player.
type Token uint8

// The tokens. Player one plays red, player two yellow.
const (
	Empty Token = iota
	Red
	Yellow
)

// Cell is a place on the board. Row 0 is the bottom row, where tokens
// land first.
type Cell struct {
	Column, Row int
}

// Board holds the tokens of a game, indexed [row][column] with row 0 at
// the bottom. It is an array, not a slice, so that copying a Board (or a
// [Game]) copies the tokens: states never share a board.
type Board [Rows][Columns]Token

// At returns the token in the cell at column col and row row, counting
// from 0, or Empty outside the board.
func (b Board) At(col, row int) Token {
	if col < 0 || col >= Columns || row < 0 || row >= Rows {
		return Empty
	}
	return b[row][col]
}

// Height returns how many tokens column col holds.
func (b Board) Height(col int) int {
	for row := range Rows {
		if b.At(col, row) == Empty {
			return row
		}
	}
	return Rows
}

// drop puts t on top of column col and returns the cell it lands in, or
// false when the column is full.
func (b *Board) drop(col int, t Token) (Cell, bool) {
	row := b.Height(col)
	if row >= Rows {
		return Cell{}, false
	}
	b[row][col] = t
	return Cell{Column: col, Row: row}, true
}

// directions are the four lines through a cell: a row, a column and the
// two diagonals. Each is walked both ways, so four directions suffice.
var directions = [4]Cell{{1, 0}, {0, 1}, {1, 1}, {1, -1}}

// lineThrough returns the longest line of the token in c that passes
// through c, as its cells in order. It walks both ways from c, so a line
// completed in its middle (a gap filled last) is found whole.
func (b Board) lineThrough(c Cell) []Cell {
	t := b.At(c.Column, c.Row)
	if t == Empty {
		return nil
	}
	var best []Cell
	for _, d := range directions {
		start := c
		for b.At(start.Column-d.Column, start.Row-d.Row) == t {
			start = Cell{start.Column - d.Column, start.Row - d.Row}
		}
		var line []Cell
		for p := start; b.At(p.Column, p.Row) == t; p = (Cell{p.Column + d.Column, p.Row + d.Row}) {
			line = append(line, p)
		}
		if len(line) > len(best) {
			best = line
		}
	}
	return best
}

// connectsFour reports whether the token in c is part of four in a line.
func (b Board) connectsFour(c Cell) bool {
	return len(b.lineThrough(c)) >= 4
}

// FourInARow returns the cells of a line of at least four tokens of t, or
// nil when t has none: for drawing the winning line.
func (b Board) FourInARow(t Token) []Cell {
	for row := range Rows {
		for col := range Columns {
			if b[row][col] != t {
				continue
			}
			if line := b.lineThrough(Cell{col, row}); len(line) >= 4 {
				return line
			}
		}
	}
	return nil
}
