package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"io"
	"time"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/internal/rawread"
	"github.com/chronicle-es/chronicle/internal/repanic"
	"github.com/google/uuid"
)

// queryEvents runs a query for eventColumns on a connection of the read
// pool and returns its events: callers bound it with LIMIT. size is how
// many events to make room for at once.
//
// It reads the driver's rows itself instead of through [sql.Rows.Scan].
// Scan converts each value by reflection and copies each blob, because a
// driver may reuse the buffers it hands out; this driver (modernc.org/
// sqlite) copies every blob and text out of SQLite into a new Go value
// for each row (TestDriverValuesAreFresh holds it to that), so an event
// can keep them. Scan was about a sixth of ReadAll's CPU.
func (s *Store) queryEvents(ctx context.Context, size int, query string, args ...any) ([]chronicle.RecordedEvent, error) {
	conn, err := s.read.Conn(ctx)
	if err != nil {
		return nil, s.closedErr(ctx, err)
	}
	defer conn.Close()
	var page []chronicle.RecordedEvent
	err = raw(conn, func(dc any) error {
		q, ok := dc.(driver.QueryerContext)
		if !ok {
			return fmt.Errorf("the SQLite driver's connection (%T) cannot run queries directly", dc)
		}
		named, err := rawread.Args(args...)
		if err != nil {
			return err
		}
		rows, err := q.QueryContext(ctx, query, named)
		if err != nil {
			return err
		}
		page, err = readRows(ctx, rows, size)
		return err
	}, nil)
	return page, err
}

// raw runs f on conn's driver connection, as conn.Raw does, except that a
// panic in f is raised again after Raw has returned: database/sql closes
// a connection whose Raw function panics, and the store keeps its
// connections for its lifetime (a server may recover from a panic and
// go on). The panic raised again is a [repanic.Error], which tells where
// it happened in f. undo, when not nil, runs on the driver connection
// first, to leave it as f would have had it returned.
func raw(conn *sql.Conn, f func(dc any) error, undo func(dc any)) error {
	var panicked any
	err := conn.Raw(func(dc any) error {
		defer func() {
			if p := recover(); p != nil {
				panicked = repanic.Recovered(p)
				if undo != nil {
					undo(dc)
				}
			}
		}()
		return f(dc)
	})
	if panicked != nil {
		panic(panicked)
	}
	return err
}

// readRows reads every row of rows, of the columns eventColumns, and
// closes rows, also when a panic passes. The driver watches ctx only
// while the query starts, so it is checked before each row when it can
// end: a filtered page may scan far.
func readRows(ctx context.Context, rows driver.Rows, size int) (_ []chronicle.RecordedEvent, err error) {
	defer func() {
		if cerr := rows.Close(); err == nil {
			err = cerr
		}
	}()
	out := make([]chronicle.RecordedEvent, 0, size)
	dest := make([]driver.Value, 8)
	done := ctx.Done()
	for {
		if done != nil {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		switch err := rows.Next(dest); {
		case err == io.EOF:
			if len(out) == 0 {
				out = nil // a page without events is nil, as it always was
			}
			return out, nil
		case err != nil:
			return nil, err
		}
		e, err := eventOf(dest)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
}

// eventOf makes an event of the values of one row of eventColumns.
func eventOf(v []driver.Value) (chronicle.RecordedEvent, error) {
	var e chronicle.RecordedEvent
	pos, ok := v[0].(int64)
	if !ok {
		return e, fmt.Errorf("event with position %v: the position is not an integer", v[0])
	}
	e.Position = uint64(pos)
	bad := func(column string, v driver.Value) error {
		return fmt.Errorf("event at position %d: %s is a %T, not what the schema says: was the file written by another program?", pos, column, v)
	}
	rev, ok := v[2].(int64)
	if !ok {
		return e, bad("revision", v[2])
	}
	recorded, ok := v[7].(int64)
	if !ok {
		return e, bad("recorded", v[7])
	}
	e.Revision, e.Recorded = uint64(rev), time.UnixMicro(recorded).UTC()
	if e.Stream, ok = text(v[1]); !ok {
		return e, bad("stream", v[1])
	}
	if e.Type, ok = text(v[4]); !ok {
		return e, bad("type", v[4])
	}
	id, ok := blob(v[3])
	if !ok {
		return e, bad("id", v[3])
	}
	var err error
	if e.ID, err = uuid.FromBytes(id); err != nil {
		return e, fmt.Errorf("event at position %d: ID: %w", pos, err)
	}
	// The driver gives NULL for an empty blob as well as for NULL.
	if e.Data, ok = blob(v[5]); !ok && v[5] != nil {
		return e, bad("data", v[5])
	}
	md, ok := blob(v[6])
	if !ok && v[6] != nil {
		return e, bad("metadata", v[6])
	}
	if e.Metadata, err = chronicle.UnmarshalMetadata(md); err != nil {
		return e, fmt.Errorf("event at position %d: metadata: %w", pos, err)
	}
	return e, nil
}

// text is a TEXT value, or one that SQLite's type affinity left as a
// BLOB.
func text(v driver.Value) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case []byte:
		return string(v), true
	}
	return "", false
}

// blob is a BLOB value, or a TEXT one: SQLite keeps text in a BLOB column
// as text.
func blob(v driver.Value) ([]byte, bool) {
	switch v := v.(type) {
	case []byte:
		return v, true
	case string:
		return []byte(v), true
	}
	return nil, false
}
