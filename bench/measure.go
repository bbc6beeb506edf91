package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/chronicle-es/chronicle/internal/progress"
	"github.com/chronicle-es/chronicle/projection"
)

// Latency summarises a set of durations, in milliseconds.
type Latency struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50_ms"`
	P99   float64 `json:"p99_ms"`
	Max   float64 `json:"max_ms"`
}

// summarise sorts ds and returns their percentiles, by the nearest-rank
// method: p99 is a duration that was really measured.
func summarise(ds []time.Duration) *Latency {
	if len(ds) == 0 {
		return nil
	}
	slices.Sort(ds)
	rank := func(p float64) float64 {
		i := int(p*float64(len(ds))+0.999999) - 1
		return ms(ds[max(0, min(i, len(ds)-1))])
	}
	return &Latency{Count: len(ds), P50: rank(0.50), P99: rank(0.99), Max: ms(ds[len(ds)-1])}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func (l *Latency) String() string {
	if l == nil {
		return ""
	}
	return fmt.Sprintf("%s / %s / %s ms", num(l.P50), num(l.P99), num(l.Max))
}

// Peak resident memory, from Linux's /proc: VmHWM is the process's
// high-water mark, and writing 5 to clear_refs resets it to the current
// size, so that the peak of one phase can be told from the earlier ones'.

// resetPeak collects garbage, returns freed memory to the system and
// resets the high-water mark, so that the peak measured next is the
// phase's own. It reports false where that cannot be done.
func resetPeak() bool {
	runtime.GC()
	debug.FreeOSMemory()
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}

// memStatus returns the current and peak resident sizes, in bytes.
func memStatus() (rss, peak int64, ok bool) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, 0, false
	}
	field := func(name string) int64 {
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			if rest, found := strings.CutPrefix(sc.Text(), name+":"); found {
				kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
				return kb * 1024
			}
		}
		return 0
	}
	rss, peak = field("VmRSS"), field("VmHWM")
	return rss, peak, rss > 0 && peak > 0
}

// tracker shows the progress of one long phase: a goroutine reads the
// counter that the workers advance and feeds it to a progress bar,
// which is not safe for concurrent use.
type tracker struct {
	done  atomic.Uint64
	stop  chan struct{}
	ended chan struct{}
}

// track starts showing name's progress towards total on w.
func track(w io.Writer, name, unit string, total uint64) *tracker {
	t := &tracker{stop: make(chan struct{}), ended: make(chan struct{})}
	bar := progress.New(w, &progress.Options{Unit: unit})
	start := time.Now()
	go func() {
		defer close(t.ended)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		update := func() {
			bar.Update(projection.Progress{Projection: name, Done: t.done.Load(), Total: total, Elapsed: time.Since(start)})
		}
		for {
			select {
			case <-tick.C:
				update()
			case <-t.stop:
				update()
				bar.Finish()
				return
			}
		}
	}()
	return t
}

// add counts n more done.
func (t *tracker) add(n int) { t.done.Add(uint64(n)) }

// finish draws the final state and ends the bar's line.
func (t *tracker) finish() {
	close(t.stop)
	<-t.ended
}

// num formats a figure with three significant digits at most, and commas
// between thousands: 25,300 and 0.812 read at a glance.
func num(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v >= 1000:
		return group(int64(v + 0.5))
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case v >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	default:
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
}

func group(n int64) string {
	s := strconv.FormatInt(n, 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func mib(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }
