package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/archive"
	internalcli "github.com/chronicle-es/chronicle/internal/cli"
	"github.com/chronicle-es/chronicle/internal/dsn"
	"github.com/chronicle-es/chronicle/internal/progress"
	"github.com/chronicle-es/chronicle/projection"
)

func exportFlags(a *app, fs *flag.FlagSet) {
	fs.Var(&a.streams, "stream", "")
	fs.StringVar(&a.outFile, "out", "", "")
	fs.Var((*decimal)(&a.fromPosition), "from", "")
	fs.StringVar(&a.prefix, "prefix", "", "")
	fs.Var(&a.categories, "category", "")
	fs.Var(&a.types, "type", "")
}

// checkExport refuses a --category that holds a '-', and an empty
// --type, as a script whose variable is unset gives. The library takes
// them, and selects nothing, as a filter's strings select what they say
// (see chronicle.Filter); a user who gives one means something else,
// and would get an archive of nothing without a word. It refuses --from
// with --stream too, before the store is opened, so that a wrong --store
// as well does not hide the usage error behind another.
func (a *app) checkExport() error {
	if a.set["from"] && len(a.streams) > 0 {
		return errors.New("--from is a position of the global log: it cannot be used with --stream")
	}
	if slices.Contains(a.types, "") {
		return errors.New("--type is empty, and no event has an empty type: give an event type, or leave --type out to export every type")
	}
	for _, c := range a.categories {
		if strings.Contains(c, "-") {
			q := internalcli.ShellQuote(c)
			return fmt.Errorf("--category %q holds a '-', and a category is the part of a stream name before its first '-' (%q for %q): "+
				"no stream is in it. For the streams whose names start with %s, use --prefix %s; for that stream alone, --stream %s",
				c, chronicle.Category(c), c, c, q, q)
		}
	}
	return nil
}

func (a *app) export(ctx context.Context, s dsn.Store, _ []string) int {
	opts := &archive.ExportOptions{
		Streams: a.streams,
		From:    a.fromPosition,
		Filter:  chronicle.Filter{StreamPrefix: a.prefix, Categories: a.categories, Types: a.types},
	}
	if a.outFile == "" || a.outFile == "-" {
		res, err := archive.Export(ctx, s, a.out, opts)
		if err != nil {
			return a.fail("export", plain(err))
		}
		fmt.Fprintf(a.err, "Exported %s.\n", describeExport(res))
		return exitOK
	}
	// A directory cannot be renamed over: say so before the whole store
	// is read and written for nothing.
	if fi, err := os.Stat(a.outFile); err == nil && fi.IsDir() {
		return a.fail("export", fmt.Errorf("%s is a directory: give --out the name of the archive file to write, such as %s",
			a.outFile, filepath.Join(a.outFile, "archive.jsonl")))
	}
	// Write to a file beside the target and rename it when complete, so
	// that a failed export never leaves a partial archive that looks whole.
	tmp, err := os.CreateTemp(filepath.Dir(a.outFile), "."+filepath.Base(a.outFile)+".*.tmp")
	if err != nil {
		return a.fail("export", fmt.Errorf("create %s: %w", a.outFile, err))
	}
	res, err := archive.Export(ctx, s, tmp, opts)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), a.outFile)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return a.fail("export", fmt.Errorf("%w (%s not written)", plain(err), a.outFile))
	}
	fmt.Fprintf(a.err, "Exported %s to %s.\n", describeExport(res), a.outFile)
	return exitOK
}

func describeExport(res archive.ExportResult) string {
	s := fmt.Sprintf("%s of %s", plural(res.Events, "event"), plural(res.Streams, "stream"))
	if res.LastPosition > 0 {
		s += fmt.Sprintf(", up to position %d", res.LastPosition)
	}
	return s
}

func importFlags(a *app, fs *flag.FlagSet) {
	fs.BoolVar(&a.keepOrigin, "keep-origin", false, "")
}

// importFile opens the archive before the store, which it may create:
// an archive that cannot be read leaves no new, empty store behind.
func (a *app) importFile(ctx context.Context, _ dsn.Store, args []string) int {
	name := args[0]
	in := a.in
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return a.fail("import", err)
		}
		defer f.Close()
		if fi, err := f.Stat(); err == nil && fi.IsDir() {
			return a.fail("import", fmt.Errorf("%s is a directory: give an archive file, or - for standard input", name))
		}
		in = f
	} else {
		name = "standard input"
	}
	s, err := a.openStore(ctx, true)
	if err != nil {
		return a.fail("import", err)
	}
	defer s.Close()
	res, err := archive.Import(ctx, s, in, &archive.ImportOptions{KeepOrigin: a.keepOrigin})
	done := fmt.Sprintf("%s (%d new, %d already in the store)", plural(res.Events, "event"), res.Written, res.Existing)
	if err != nil {
		code := a.fail("import", fmt.Errorf("%s: %w", name, err))
		imported := "Nothing was imported"
		if res.Events > 0 {
			imported = fmt.Sprintf("Imported %s from the first %s", done, plural(res.Lines, "line"))
		}
		// Running the import again stops at a tombstoned stream's line
		// again: say what helps instead.
		var deleted *chronicle.StreamDeletedError
		var bad *archive.LineError
		switch {
		case errors.As(err, &deleted):
			fmt.Fprintf(a.err, "%s. Stream %q is tombstoned in this store, so no import can write its events: to import the lines after it, "+
				"leave the stream's lines out of the archive and run the import again (what is imported is not written twice), or import into another store.\n",
				imported, deleted.Stream)
		case res.Events > 0 && errors.As(err, &bad) && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded):
			// Run again as it is, the import stops at the same line if the
			// line is at fault, as most are: say to fix it first.
			fmt.Fprintf(a.err, "%s. Line %d was not imported: fix it or leave it out if it is at fault, then run the import again to finish it: "+
				"what is imported is not written twice.\n", imported, bad.Line)
		case res.Events > 0:
			fmt.Fprintf(a.err, "%s; run the import again to finish it: what is imported is not written twice.\n", imported)
		}
		return code
	}
	return a.report("import", "Imported %s from %s.\n", done, name)
}

func readFlags(a *app, fs *flag.FlagSet) {
	fs.BoolVar(&a.backwards, "backwards", false, "")
	fs.Var((*decimal)(&a.from), "from", "")
	fs.Var((*decimal)(&a.limit), "limit", "")
}

func (a *app) read(ctx context.Context, s dsn.Store, args []string) int {
	// A limit past what an int holds is no limit: no stream has more.
	opts := chronicle.ReadStreamOptions{Backwards: a.backwards, From: a.from, Limit: int(min(a.limit, math.MaxInt))}
	if a.backwards && !a.set["from"] {
		opts.From = chronicle.End
	}
	tw := tabwriter.NewWriter(a.out, 0, 0, 2, ' ', 0)
	n := 0
	for e, err := range s.ReadStream(ctx, args[0], opts) {
		if err != nil {
			tw.Flush()
			return a.fail("read", plain(err))
		}
		if n == 0 {
			fmt.Fprintln(tw, "REVISION\tPOSITION\tRECORDED\tTYPE\tDATA")
		}
		fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%s\n", e.Revision, e.Position,
			e.Recorded.Format(archive.RecordedFormat), internalcli.Printable(e.Type), showData(e.Data))
		// Flush now and then, so that a long stream prints as it is read,
		// at the cost of columns that may shift between blocks.
		if n++; n%500 == 0 {
			if err := tw.Flush(); err != nil {
				return a.fail("read", fmt.Errorf("write: %w", err))
			}
		}
	}
	// A failed write, such as to a full disk, is an error: the events
	// were not all shown.
	if err := tw.Flush(); err != nil {
		return a.fail("read", fmt.Errorf("write: %w", err))
	}
	if n == 0 {
		fmt.Fprintf(a.err, "No events to show in stream %q.\n", args[0])
	}
	return exitOK
}

// showData shows event data on one line, safe for a terminal: JSON
// compacted, other text quoted, and anything else as base64.
func showData(data []byte) string {
	if len(data) == 0 {
		return ""
	}
	if utf8.Valid(data) && json.Valid(data) {
		var sb strings.Builder
		w := json.NewEncoder(&sb)
		w.SetEscapeHTML(false)
		if err := w.Encode(json.RawMessage(data)); err == nil {
			s := strings.TrimSuffix(sb.String(), "\n")
			// JSON strings may hold raw C1 controls or invisible
			// characters, which a terminal could act on.
			if internalcli.Printable(s) == s {
				return s
			}
			return strconv.QuoteToASCII(s)
		}
	}
	if utf8.Valid(data) {
		return strconv.QuoteToGraphic(string(data))
	}
	return "base64:" + base64.StdEncoding.EncodeToString(data)
}

func metaFlags(a *app, fs *flag.FlagSet) {
	fs.Var(&a.maxAge, "max-age", "")
	fs.Var((*decimal)(&a.maxCount), "max-count", "")
	fs.Var((*decimal)(&a.truncateBefore), "truncate-before", "")
}

func (a *app) meta(ctx context.Context, s dsn.Store, args []string) int {
	stream := args[0]
	r, ok := s.(chronicle.Retention)
	if !ok {
		return a.fail("meta", errors.New("this store cannot keep stream metadata"))
	}
	m, err := r.StreamMetadata(ctx, stream)
	if err != nil {
		return a.fail("meta", plain(err))
	}
	changing := a.set["max-age"] || a.set["max-count"] || a.set["truncate-before"]
	if changing {
		// Only the settings given change. Another writer's change between
		// the read and the write would be lost; admins rarely race.
		if a.set["max-age"] {
			m.MaxAge = time.Duration(a.maxAge)
		}
		if a.set["max-count"] {
			m.MaxCount = a.maxCount
		}
		if a.set["truncate-before"] {
			m.TruncateBefore = a.truncateBefore
		}
		if err := r.SetStreamMetadata(ctx, stream, m); err != nil {
			return a.fail("meta", plain(err))
		}
		// Read it back: a store may keep more than was asked, such as the
		// truncation of a soft delete.
		if m, err = r.StreamMetadata(ctx, stream); err != nil {
			return a.fail("meta", plain(err))
		}
	}
	var sb strings.Builder
	if changing {
		fmt.Fprintf(&sb, "Set the metadata of stream %q:\n", stream)
	} else {
		fmt.Fprintf(&sb, "Metadata of stream %q:\n", stream)
	}
	none := func(set bool, v string) string {
		if !set {
			return "none"
		}
		return v
	}
	fmt.Fprintf(&sb, "  max age:          %s\n", none(m.MaxAge > 0, durationFlag(m.MaxAge).String()))
	fmt.Fprintf(&sb, "  max count:        %s\n", none(m.MaxCount > 0, strconv.FormatUint(m.MaxCount, 10)))
	fmt.Fprintf(&sb, "  truncate before:  %s\n", none(m.TruncateBefore > 0, strconv.FormatUint(m.TruncateBefore, 10)))
	if !changing {
		// The metadata shown is what the command is for, as read's events.
		if _, err := io.WriteString(a.out, sb.String()); err != nil {
			return a.fail("meta", fmt.Errorf("write: %w", err))
		}
		return exitOK
	}
	return a.report("meta", "%s", sb.String())
}

func expectedFlag(a *app, fs *flag.FlagSet) {
	fs.Var(&a.expected, "expected", "")
}

func (a *app) delete(ctx context.Context, s dsn.Store, args []string) int {
	d, ok := s.(chronicle.Deleter)
	if !ok {
		return a.fail("delete", errors.New("this store cannot delete streams"))
	}
	if err := d.Delete(ctx, args[0], a.expected.e); err != nil {
		return a.fail("delete", plain(a.deleteError(args[0], err)))
	}
	return a.report("delete", "Deleted stream %q: it reads as not found, and an append starts it again after its old events.\n%s", args[0], scavengeHint(s))
}

func (a *app) tombstone(ctx context.Context, s dsn.Store, args []string) int {
	d, ok := s.(chronicle.Deleter)
	if !ok {
		return a.fail("tombstone", errors.New("this store cannot delete streams"))
	}
	if err := d.Tombstone(ctx, args[0], a.expected.e); err != nil {
		return a.fail("tombstone", plain(a.deleteError(args[0], err)))
	}
	return a.report("tombstone", "Tombstoned stream %q: it can never be read or written again.\n%s", args[0], scavengeHint(s))
}

// noScavenge says why a store cannot scavenge, and what to do instead.
const noScavenge = "this store cannot scavenge: run the scavenge where the store is kept " +
	"(for a chronicle serve, chronicle scavenge with the --store that it serves)"

// scavengeHint tells how the events of a deleted stream are removed for
// good: not by "chronicle scavenge" on a store that cannot scavenge, such
// as a server reached with --store kurrentdb://.
func scavengeHint(s dsn.Store) string {
	if _, ok := s.(chronicle.Scavenger); ok {
		return "Run \"chronicle scavenge\" to remove its events from the store.\n"
	}
	return "Its events stay in the store until a scavenge where the store is kept removes them.\n"
}

// deleteError words a wrong expected revision for a delete: the error's
// own message speaks of an append.
func (a *app) deleteError(stream string, err error) error {
	var wrong *chronicle.WrongExpectedRevisionError
	if !errors.As(err, &wrong) {
		return err
	}
	actual := "has no events"
	if rev, ok := wrong.Actual.Revision(); ok {
		actual = fmt.Sprintf("is at revision %d", rev)
	}
	return fmt.Errorf("stream %q %s, but --expected is %s: nothing was deleted", stream, actual, a.expected.String())
}

func (a *app) scavenge(ctx context.Context, s dsn.Store, _ []string) int {
	sc, ok := s.(chronicle.Scavenger)
	if !ok {
		return a.fail("scavenge", errors.New(noScavenge))
	}
	bar := progress.New(a.err, &progress.Options{Unit: "streams"})
	start := time.Now()
	var last chronicle.ScavengeProgress
	res, err := sc.Scavenge(ctx, func(p chronicle.ScavengeProgress) {
		// A store may report its final state twice (after the last
		// stream, and after reclaiming space): draw it once.
		if p == last {
			return
		}
		last = p
		bar.Update(projection.Progress{Projection: "scavenge", Done: uint64(p.Done), Total: uint64(p.Total), Elapsed: time.Since(start)})
	})
	bar.Finish()
	if err != nil {
		code := a.fail("scavenge", err)
		fmt.Fprintf(a.err, "Removed %s before stopping; run the scavenge again to resume it.\n", plural(int(res.Removed), "event"))
		return code
	}
	return a.report("scavenge", "Scavenged %s: removed %s.\n", plural(res.Total, "stream"), plural(int(res.Removed), "event"))
}

// report prints a command's summary on standard output. A summary that
// cannot be written, such as to a full disk, fails the command, as read
// does: a script that keeps what a command prints must not get exit 0
// and nothing kept. The message says that the command itself was done.
func (a *app) report(cmd, format string, args ...any) int {
	if _, err := fmt.Fprintf(a.out, format, args...); err != nil {
		return a.fail(cmd, fmt.Errorf("done, but its summary could not be written: %w", err))
	}
	return exitOK
}

// plain returns the typed error inside err whose message says it all, so
// that "read stream "x": stream "x" not found" reads as
// "stream "x" not found".
func plain(err error) error {
	var notFound *chronicle.StreamNotFoundError
	var deleted *chronicle.StreamDeletedError
	switch {
	case errors.As(err, &notFound):
		return notFound
	case errors.As(err, &deleted):
		return deleted
	}
	return err
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// stringList is a flag that may be given several times.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(v string) error {
	*l = append(*l, v)
	return nil
}

// decimal is a flag of a number of 0 or more, written in decimal. Go's
// integer flags also take octal, hex and binary, so that 010 would be
// revision 8: a leading zero must not change which events a command acts
// on.
type decimal uint64

func (d *decimal) String() string { return strconv.FormatUint(uint64(*d), 10) }

func (d *decimal) Set(v string) error {
	n, err := strconv.ParseUint(v, 10, 64)
	if errors.Is(err, strconv.ErrRange) {
		return fmt.Errorf("want a decimal number of at most %d", uint64(math.MaxUint64))
	}
	if err != nil {
		return errors.New("want a decimal number, 0 or more, such as 10")
	}
	*d = decimal(n)
	return nil
}

// durationFlag is a duration that also takes days, as retention is
// usually counted: "30d", as well as "36h" or "90m".
type durationFlag time.Duration

func (d durationFlag) String() string {
	if d > 0 && d%durationFlag(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/durationFlag(24*time.Hour))
	}
	return time.Duration(d).String()
}

// maxAgeDays is the most days a durationFlag takes: 106751, some 292
// years, the longest time.Duration.
const maxAgeDays = uint64(math.MaxInt64 / int64(24*time.Hour))

func (d *durationFlag) Set(v string) error {
	var dur time.Duration
	if days, ok := strings.CutSuffix(v, "d"); ok {
		n, err := strconv.ParseUint(days, 10, 64)
		// A time.Duration counts nanoseconds in an int64: more days
		// than fit would wrap around to a shorter age, or a negative one.
		if errors.Is(err, strconv.ErrRange) || err == nil && n > maxAgeDays {
			return fmt.Errorf("a max age can be at most %dd", maxAgeDays)
		}
		if err != nil {
			return fmt.Errorf("want a duration such as 30d, 36h or 90m")
		}
		dur = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if dur, err = time.ParseDuration(v); err != nil {
			return fmt.Errorf("want a duration such as 30d, 36h or 90m")
		}
	}
	if dur < 0 {
		return fmt.Errorf("a max age cannot be negative")
	}
	*d = durationFlag(dur)
	return nil
}

// expectedValue is the --expected flag: a revision, any, no-stream or
// exists.
type expectedValue struct {
	e chronicle.ExpectedRevision
	s string
}

func (v *expectedValue) String() string {
	if v.s == "" {
		return "any"
	}
	return v.s
}

func (v *expectedValue) Set(s string) error {
	switch s {
	case "any":
		v.e = chronicle.Any
	case "no-stream":
		v.e = chronicle.NoStream
	case "exists":
		v.e = chronicle.StreamExists
	default:
		rev, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return errors.New("want a revision number, any, no-stream or exists")
		}
		v.e = chronicle.Exact(rev)
	}
	v.s = s
	return nil
}
