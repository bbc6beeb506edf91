package repanic_test

import (
	"errors"
	"io/fs"
	"strings"
	"testing"

	"github.com/chronicle-es/chronicle/internal/repanic"
)

// carried recovers the panic of f and returns what Recovered makes of it,
// as it would be raised again elsewhere.
func carried(f func()) (p any) {
	defer func() { p = repanic.Recovered(recover()) }()
	f()
	return nil
}

func fault() { panic(fs.ErrNotExist) }

// TestRecovered: the value raised again tells the panic and where it
// happened, lets errors.Is find an error panicked with, and keeps the
// first stack when carried twice.
func TestRecovered(t *testing.T) {
	p := carried(fault)
	err, ok := p.(error)
	if !ok {
		t.Fatalf("Recovered = %T, want an error", p)
	}
	if text := err.Error(); !strings.HasPrefix(text, fs.ErrNotExist.Error()) || !strings.Contains(text, "repanic_test.fault") {
		t.Errorf("message %q: want the value, then where it panicked", text)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Error("errors.Is does not find the error panicked with")
	}
	if again := carried(func() { panic(p) }); again != p {
		t.Error("a panic carried twice lost its first stack")
	}
	if e := carried(func() { panic("text") }).(*repanic.Error); e.Value != "text" || e.Unwrap() != nil {
		t.Errorf("Recovered(\"text\") = %v, %v", e.Value, e.Unwrap())
	}
	if v := repanic.Value(p); v != fs.ErrNotExist {
		t.Errorf("Value of a carried panic = %v, want the value panicked with", v)
	}
	if v := repanic.Value("text"); v != "text" {
		t.Errorf("Value of a plain panic = %v, want it as it is", v)
	}
}
