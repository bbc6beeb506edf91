package chronicle_test

import (
	"testing"

	"github.com/chronicle-es/chronicle"
)

func TestCategory(t *testing.T) {
	for stream, want := range map[string]string{
		"game-42":     "game",
		"game-42-b":   "game",
		"game":        "game",
		"-42":         "",
		"game_42":     "game_42",
		"partie-é-01": "partie",
	} {
		if got := chronicle.Category(stream); got != want {
			t.Errorf("Category(%q) = %q, want %q", stream, got, want)
		}
	}
}

func TestFilter(t *testing.T) {
	for _, tc := range []struct {
		name   string
		filter chronicle.Filter
		stream string
		typ    string
		want   bool
	}{
		{"Zero", chronicle.Filter{}, "game-1", "Moved", true},
		{"Prefix", chronicle.Filter{StreamPrefix: "game-1"}, "game-12", "Moved", true},
		{"PrefixMiss", chronicle.Filter{StreamPrefix: "game-1"}, "game-2", "Moved", false},
		{"Category", chronicle.Filter{Categories: []string{"user", "game"}}, "game-1", "Moved", true},
		// A category is the whole part before '-', not a prefix of it.
		{"CategoryNotPrefix", chronicle.Filter{Categories: []string{"game"}}, "games-1", "Moved", false},
		{"CategoryWithoutDash", chronicle.Filter{Categories: []string{"game"}}, "game", "Moved", true},
		{"Type", chronicle.Filter{Types: []string{"Started", "Moved"}}, "game-1", "Moved", true},
		{"TypeMiss", chronicle.Filter{Types: []string{"Started"}}, "game-1", "Moved", false},
		{"AllMustHold", chronicle.Filter{StreamPrefix: "game", Categories: []string{"game"}, Types: []string{"Started"}}, "game-1", "Moved", false},
		{"AllHold", chronicle.Filter{StreamPrefix: "game", Categories: []string{"game"}, Types: []string{"Moved"}}, "game-1", "Moved", true},
	} {
		if got := tc.filter.Match(tc.stream, tc.typ); got != tc.want {
			t.Errorf("%s: Match(%q, %q) = %v, want %v", tc.name, tc.stream, tc.typ, got, tc.want)
		}
	}
	if !(chronicle.Filter{}).IsZero() || (chronicle.Filter{Types: []string{"A"}}).IsZero() ||
		(chronicle.Filter{StreamPrefix: "a"}).IsZero() || (chronicle.Filter{Categories: []string{"a"}}).IsZero() {
		t.Error("IsZero answers wrongly")
	}
	if !(chronicle.Filter{Types: []string{}}).IsZero() {
		t.Error("a filter with empty lists is not zero")
	}
}
