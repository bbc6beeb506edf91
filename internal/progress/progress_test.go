package progress_test

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chronicle-es/chronicle/internal/progress"
	"github.com/chronicle-es/chronicle/projection"
)

// clock is a fake clock that tests move by hand.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }
func newClock() *clock                   { return &clock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)} }
func ptr[T any](v T) *T                  { return &v }
func at(done, total uint64, elapsed time.Duration) projection.Progress {
	return projection.Progress{Projection: "posts", Done: done, Total: total, Elapsed: elapsed}
}

func TestTerminalRedrawsInPlaceAtMostTenTimesASecond(t *testing.T) {
	var buf bytes.Buffer
	c := newClock()
	b := progress.New(&buf, &progress.Options{Terminal: ptr(true), Width: 10, Now: c.now})

	b.Update(at(0, 10_000, 0))
	// Updates every 10 ms for 1 s: only about one in ten is drawn.
	for i := 1; i <= 100; i++ {
		c.advance(10 * time.Millisecond)
		b.Update(at(uint64(i*50), 10_000, time.Duration(i)*10*time.Millisecond))
	}
	out := buf.String()
	if strings.Contains(out, "\n") {
		t.Fatalf("a bar under way ended its line:\n%q", out)
	}
	draws := strings.Count(out, "\r")
	if draws < 10 || draws > 11 {
		t.Fatalf("drew %d times in 1s of updates every 10ms, want 10 or 11:\n%q", draws, out)
	}
	last := strings.TrimRight(out[strings.LastIndex(out, "\r")+1:], " ")
	want := "posts [=====>    ]  5,000/10,000   50%  5,000 events/s  ETA 1s"
	if last != want {
		t.Fatalf("last draw\n got %q\nwant %q", last, want)
	}

	buf.Reset()
	c.advance(time.Millisecond) // too soon to redraw, but the end always shows
	b.Update(at(10_000, 10_000, 2*time.Second))
	want = "\rposts [==========]  10,000/10,000  100%  5,000 events/s  done in 2s\n"
	if buf.String() != want {
		t.Fatalf("final draw\n got %q\nwant %q", buf.String(), want)
	}
	buf.Reset()
	b.Finish()
	if buf.Len() != 0 {
		t.Fatalf("Finish after the end wrote %q", buf.String())
	}
}

func TestTerminalBlanksOutALongerLine(t *testing.T) {
	var buf bytes.Buffer
	c := newClock()
	b := progress.New(&buf, &progress.Options{Terminal: ptr(true), Width: 4, Now: c.now})
	b.Update(at(1, 1000, 10*time.Second)) // ETA of hours: a long line
	first := strings.TrimPrefix(buf.String(), "\r")
	buf.Reset()
	c.advance(time.Second)
	b.Update(at(999, 1000, 10*time.Second))
	second := strings.TrimPrefix(buf.String(), "\r")
	if len(second) != len(first) || !strings.HasSuffix(second, " ") {
		t.Fatalf("a shorter line is not padded to cover the longer one:\n%q\n%q", first, second)
	}
}

func TestPlainOutputPrintsLinesNowAndThen(t *testing.T) {
	var buf bytes.Buffer
	c := newClock()
	b := progress.New(&buf, &progress.Options{Terminal: ptr(false), Every: 10 * time.Second, Now: c.now})
	for i := range 30 {
		b.Update(at(uint64(i*100), 3000, time.Duration(i)*time.Second))
		c.advance(time.Second)
	}
	b.Update(at(3000, 3000, 30*time.Second))
	want := "posts  1,000/3,000   33%  100 events/s  ETA 20s\n" +
		"posts  2,000/3,000   66%  100 events/s  ETA 10s\n" +
		"posts  3,000/3,000  100%  100 events/s  done in 30s\n"
	if buf.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", buf.String(), want)
	}
	if strings.Contains(buf.String(), "\r") {
		t.Fatalf("plain output holds a carriage return: %q", buf.String())
	}
}

func TestPlainOutputFinalLineOnly(t *testing.T) {
	var buf bytes.Buffer
	c := newClock()
	b := progress.New(&buf, &progress.Options{Terminal: ptr(false), Every: -1, Now: c.now})
	for i := range 100 {
		b.Update(at(uint64(i), 100, time.Duration(i)*time.Minute))
		c.advance(time.Minute)
	}
	b.Update(at(100, 100, 1500*time.Millisecond))
	if want := "posts  100/100  100%  67 events/s  done in 1.5s\n"; buf.String() != want {
		t.Fatalf("got %q, want %q", buf.String(), want)
	}
}

func TestFinishEndsAnInterruptedReplay(t *testing.T) {
	var buf bytes.Buffer
	b := progress.New(&buf, &progress.Options{Terminal: ptr(true), Width: 4, Now: newClock().now})
	b.Update(at(0, 100, 0))
	b.Finish()
	want := "\rposts [>   ]  0/100    0%\r" + "posts [>   ]  0/100    0%  0 events/s  stopped after 0s\n"
	if buf.String() != want {
		t.Fatalf("got %q\nwant %q", buf.String(), want)
	}
	buf.Reset()
	b.Finish()
	if buf.Len() != 0 {
		t.Fatalf("a second Finish wrote %q", buf.String())
	}
}

func TestEachProjectionGetsItsOwnLine(t *testing.T) {
	var buf bytes.Buffer
	b := progress.New(&buf, &progress.Options{Terminal: ptr(false), Now: newClock().now})
	b.Update(projection.Progress{Projection: "a", Done: 1, Total: 2, Elapsed: time.Second})
	b.Update(projection.Progress{Projection: "b", Done: 0, Total: 0})
	want := "a  1/2   50%  1 events/s  stopped after 1s\n" + "b  0/0  100%  0 events/s  done in 0s\n"
	if buf.String() != want {
		t.Fatalf("got %q\nwant %q", buf.String(), want)
	}
}

func TestIsTerminal(t *testing.T) {
	if progress.IsTerminal(&bytes.Buffer{}) {
		t.Fatal("a buffer is a terminal")
	}
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if progress.IsTerminal(f) {
		t.Fatal("a regular file is a terminal")
	}
}

func TestUnitNamesWhatIsCounted(t *testing.T) {
	var buf bytes.Buffer
	c := newClock()
	b := progress.New(&buf, &progress.Options{Terminal: ptr(false), Every: -1, Unit: "streams", Now: c.now})
	b.Update(at(40, 40, 2*time.Second))
	want := "posts  40/40  100%  20 streams/s  done in 2s\n"
	if buf.String() != want {
		t.Fatalf("got %q, want %q", buf.String(), want)
	}
}
