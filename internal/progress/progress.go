// Package progress draws a progress bar for long replays, such as the
// rebuild of a read model: how many positions of the log are done, the
// percentage, the rate and the time left.
//
// On a terminal the bar is redrawn in place (with '\r') at most
// [Options.Redraw] apart, ten times a second by default; elsewhere, such
// as in a log file or a pipe, it prints a plain line now and then
// ([Options.Every]) and a final one, so that logs stay readable.
//
//	bar := progress.New(os.Stderr, nil)
//	err := runner.Rebuild(ctx, "posts", bar.Update)
//	bar.Finish()
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/chronicle-es/chronicle/projection"
)

// Defaults for [Options].
const (
	// DefaultRedraw is how often a bar on a terminal is redrawn at most:
	// more often than the eye reads only costs writes.
	DefaultRedraw = 100 * time.Millisecond
	// DefaultEvery is how often a plain line is printed when the output
	// is not a terminal.
	DefaultEvery = 10 * time.Second
	// DefaultWidth is the number of cells of the bar itself.
	DefaultWidth = 30
)

// Options configures a [Bar]. A nil *Options gives the defaults.
type Options struct {
	// Terminal says whether the output is a terminal, where the bar is
	// redrawn in place. Nil means find out: an *os.File that is a
	// character device is a terminal, anything else is not.
	Terminal *bool
	// Redraw is the least time between two redraws on a terminal. Zero
	// means [DefaultRedraw].
	Redraw time.Duration
	// Every is the least time between two plain lines elsewhere. Zero
	// means [DefaultEvery]; a negative value prints only the final line.
	Every time.Duration
	// Width is the number of cells of the bar. Zero means [DefaultWidth].
	Width int
	// Unit names what is counted, for the rate: "events" when empty.
	Unit string
	// Now tells the time, for throttling; nil means [time.Now]. Tests
	// give a fake clock.
	Now func() time.Time
}

// Bar shows the progress of replays. Feed it with [Bar.Update], which
// has the signature of the progress callback of
// [projection.Runner.Rebuild], and call [Bar.Finish] when the replay
// ends, whether it succeeded or not. A Bar may follow several replays in
// turn (one per projection); each gets its own line.
//
// A Bar is not safe for concurrent use: Rebuild calls its callback from
// one goroutine.
type Bar struct {
	w        io.Writer
	terminal bool
	redraw   time.Duration
	every    time.Duration
	width    int
	unit     string
	now      func() time.Time

	cur     projection.Progress
	started bool      // cur holds a replay that has not been finished
	last    time.Time // when the last line was drawn; zero before the first
	drawn   int       // length of the line on the terminal, to blank it out
}

// New returns a bar that draws on w. opts may be nil.
func New(w io.Writer, opts *Options) *Bar {
	var o Options
	if opts != nil {
		o = *opts
	}
	b := &Bar{w: w, redraw: o.Redraw, every: o.Every, width: o.Width, unit: o.Unit, now: o.Now}
	if o.Terminal != nil {
		b.terminal = *o.Terminal
	} else {
		b.terminal = IsTerminal(w)
	}
	if b.redraw <= 0 {
		b.redraw = DefaultRedraw
	}
	if b.every == 0 {
		b.every = DefaultEvery
	}
	if b.width <= 0 {
		b.width = DefaultWidth
	}
	if b.now == nil {
		b.now = time.Now
	}
	if b.unit == "" {
		b.unit = "events"
	}
	return b
}

// IsTerminal reports whether w is a terminal (a character device), using
// only the standard library: a bar that cannot tell prints plain lines,
// which is always safe.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// Update records p and redraws the bar if it is time to. A replay that
// reaches its total is drawn at once and its line ended, so the final
// state always shows. Write errors are ignored: a progress bar must never
// fail the work it reports on.
func (b *Bar) Update(p projection.Progress) {
	if b.started && p.Projection != b.cur.Projection {
		b.Finish() // another replay begins: end the previous one's line
	}
	b.cur, b.started = p, true
	if p.Done >= p.Total {
		b.Finish()
		return
	}
	now := b.now()
	interval := b.redraw
	if !b.terminal {
		if b.every < 0 {
			return
		}
		interval = b.every
	}
	// The first update of a replay is drawn at once on a terminal, so
	// that the user sees the work begin; plain output waits a full
	// interval, so that a short replay prints one line only.
	if b.last.IsZero() {
		b.last = now
		if !b.terminal {
			return
		}
	} else if now.Sub(b.last) < interval {
		return
	}
	b.last = now
	b.draw(false)
}

// Finish draws the last state of the current replay, if it has not been,
// and ends its line. Call it when a replay ends early, on an error or an
// interrupt, so that the terminal's next line does not start after the
// bar. It does nothing when there is no replay under way.
func (b *Bar) Finish() {
	if !b.started {
		return
	}
	b.draw(true)
	b.started, b.last, b.drawn = false, time.Time{}, 0
}

// draw writes the current state: in place on a terminal, as a line
// elsewhere. final ends the line.
func (b *Bar) draw(final bool) {
	line := b.Line(final)
	if !b.terminal {
		fmt.Fprintln(b.w, line)
		return
	}
	// Blank out what is left of a longer previous line.
	pad := ""
	if n := len(line); n < b.drawn {
		pad = strings.Repeat(" ", b.drawn-n)
	}
	b.drawn = len(line)
	end := ""
	if final {
		end = "\n"
	}
	fmt.Fprintf(b.w, "\r%s%s%s", line, pad, end)
}

// Line returns the text that shows the current state, without '\r' or
// newline:
//
//	posts [=========>                    ]  3,000/10,000  30%  1,500 events/s  ETA 5s
//
// final shows the time taken instead of the time left, as "done in" or,
// for a replay that ends before its total, "stopped after".
func (b *Bar) Line(final bool) string {
	p := b.cur
	done := min(p.Done, p.Total)
	frac := 1.0
	if p.Total > 0 {
		frac = float64(done) / float64(p.Total)
	}
	var sb strings.Builder
	if p.Projection != "" {
		sb.WriteString(p.Projection)
		sb.WriteByte(' ')
	}
	if b.terminal {
		sb.WriteString(bar(frac, b.width))
		sb.WriteByte(' ')
	}
	fmt.Fprintf(&sb, " %s/%s  %3d%%", group(done), group(p.Total), int(frac*100))
	rate := 0.0
	if secs := p.Elapsed.Seconds(); secs > 0 {
		rate = float64(done) / secs
	}
	if rate > 0 || final {
		fmt.Fprintf(&sb, "  %s %s/s", group(uint64(rate+0.5)), b.unit)
	}
	switch {
	case final && done < p.Total:
		fmt.Fprintf(&sb, "  stopped after %s", duration(p.Elapsed))
	case final:
		fmt.Fprintf(&sb, "  done in %s", duration(p.Elapsed))
	case rate > 0:
		left := time.Duration(float64(p.Total-done) / rate * float64(time.Second))
		fmt.Fprintf(&sb, "  ETA %s", duration(left))
	}
	return sb.String()
}

// bar draws frac of width cells: [=====>    ].
func bar(frac float64, width int) string {
	full := int(frac * float64(width))
	full = max(0, min(full, width))
	var sb strings.Builder
	sb.WriteByte('[')
	sb.WriteString(strings.Repeat("=", full))
	if full < width {
		sb.WriteByte('>')
		sb.WriteString(strings.Repeat(" ", width-full-1))
	}
	sb.WriteByte(']')
	return sb.String()
}

// group writes n with a comma between groups of three digits, which reads
// better than 1234567 when the numbers change under the eye.
func group(n uint64) string {
	s := fmt.Sprint(n)
	var sb strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			sb.WriteByte(',')
		}
		sb.WriteRune(c)
	}
	return sb.String()
}

// duration rounds d to what a person needs: tenths of a second under ten
// seconds, then whole seconds, then minutes and hours.
func duration(d time.Duration) string {
	switch {
	case d < 10*time.Second:
		return d.Round(100 * time.Millisecond).String()
	case d < time.Hour:
		return d.Round(time.Second).String()
	default:
		return d.Round(time.Minute).String()
	}
}
