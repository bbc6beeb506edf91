package sqlite

import (
	"context"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/chronicle-es/chronicle"
)

// TestDurabilityPragma checks the setting that durability rests on: with
// synchronous=FULL in WAL mode, SQLite fsyncs the WAL at every commit.
func TestDurabilityPragma(t *testing.T) {
	for _, tt := range []struct {
		d    Durability
		want int
	}{{Durable, 2}, {Relaxed, 1}} {
		s, err := Open(context.Background(), filepath.Join(t.TempDir(), "d.db"), &Options{Durability: tt.d})
		if err != nil {
			t.Fatal(err)
		}
		var got int
		if err := s.w.conn.QueryRowContext(context.Background(), "PRAGMA synchronous").Scan(&got); err != nil {
			t.Fatal(err)
		}
		s.Close()
		if got != tt.want {
			t.Errorf("durability %d: synchronous = %d, want %d", tt.d, got, tt.want)
		}
	}
}

// TestAutoVacuum checks that a new file can give space back.
func TestAutoVacuum(t *testing.T) {
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "v.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var mode int
	if err := s.w.conn.QueryRowContext(context.Background(), "PRAGMA auto_vacuum").Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != 2 {
		t.Fatalf("auto_vacuum = %d, want 2 (incremental)", mode)
	}
}

// TestRecentMatchesFile checks that subscribers, which take recent events
// from memory, get what a query of the file returns, field for field, and
// that a gap left by another writer sends them back to the file.
func TestRecentMatchesFile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "r.db")
	s, err := Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	data := []byte(`{"a":1}`)
	_, err = s.Append(ctx, "cat-1", chronicle.NoStream,
		chronicle.EventData{Type: "A", Data: data, Metadata: chronicle.Metadata{"k": "v"}},
		chronicle.EventData{Type: "B"},
		chronicle.EventData{Type: "C", Data: []byte{}, Metadata: chronicle.Metadata{}})
	if err != nil {
		t.Fatal(err)
	}
	data[0] = 'X' // the caller reuses its buffer
	if _, err := s.Append(ctx, "other-1", chronicle.NoStream, chronicle.EventData{Type: "A", Data: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []chronicle.Filter{{}, {Categories: []string{"cat"}}, {Types: []string{"B", "C"}}, {StreamPrefix: "oth"}} {
		for from := uint64(1); from <= 5; from++ {
			mem, memNext, ok, err := s.recent.page(from, 2, f)
			if err != nil || (from <= 4) != ok {
				t.Fatalf("filter %+v from %d: recent.page ok=%v err=%v", f, from, ok, err)
			}
			if !ok {
				continue
			}
			file, fileNext, err := source{s}.Page(ctx, from, 2, f)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(mem, file) || memNext != fileNext {
				t.Errorf("filter %+v from %d:\nmemory %d %#v\nfile   %d %#v", f, from, memNext, mem, fileNext, file)
			}
		}
	}

	// Another writer of the file (here a second store on it) commits
	// position 5: the next batch of s starts a new run at 6.
	other, err := Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.Append(ctx, "x", chronicle.NoStream, chronicle.EventData{Type: "X"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, "y", chronicle.NoStream, chronicle.EventData{Type: "Y"}); err != nil {
		t.Fatal(err)
	}
	if _, _, ok, _ := s.recent.page(4, 10, chronicle.Filter{}); ok {
		t.Error("recent still serves position 4 after a gap")
	}
	if _, _, ok, _ := s.recent.page(5, 10, chronicle.Filter{}); ok {
		t.Error("recent serves position 5, which another writer committed")
	}
	var got []string
	for e, err := range s.Subscribe(ctx, chronicle.SubscribeOptions{From: 1}) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, e.Type)
		if len(got) == 6 {
			break
		}
	}
	if want := []string{"A", "B", "C", "A", "X", "Y"}; !slices.Equal(got, want) {
		t.Errorf("subscription saw %v, want %v", got, want)
	}
}
