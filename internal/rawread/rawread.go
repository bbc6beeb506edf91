// Package rawread reads the rows of a query for an event store's columns
// with no store code in the way: the baselines that the SQLite store's
// reads are measured against, in its Go benchmarks and in the bench
// harness alike. [Args] is also the store's own, for the queries it runs
// on the driver's connection.
package rawread

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"io"
)

// checkEvery is how many rows pass between two looks at the context.
const checkEvery = 4096

// Driver reads every row of query on a connection of db through the
// driver's own rows, keeping the values as the driver made them, as the
// SQLite store's reads do, and returns how many it read. The query gets
// a context that cannot end, as the store's do (the driver watches one
// that can with a goroutine per call); ctx is checked between rows.
func Driver(ctx context.Context, db *sql.DB, query string, args ...any) (int, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	n := 0
	err = conn.Raw(func(dc any) error {
		q, ok := dc.(driver.QueryerContext)
		if !ok {
			return fmt.Errorf("the driver's connection (%T) cannot run queries directly", dc)
		}
		named, err := Args(args...)
		if err != nil {
			return err
		}
		rows, err := q.QueryContext(context.WithoutCancel(ctx), query, named)
		if err != nil {
			return err
		}
		defer rows.Close()
		dest := make([]driver.Value, len(rows.Columns()))
		for {
			switch err := rows.Next(dest); {
			case err == io.EOF:
				return nil
			case err != nil:
				return err
			}
			if n++; n%checkEvery == 0 && ctx.Err() != nil {
				return ctx.Err()
			}
		}
	})
	return n, err
}

// Args converts a query's arguments into the driver's values, as
// database/sql does, for a query run on the driver's connection itself.
func Args(args ...any) ([]driver.NamedValue, error) {
	named := make([]driver.NamedValue, len(args))
	for i, a := range args {
		v, err := driver.DefaultParameterConverter.ConvertValue(a)
		if err != nil {
			return nil, err
		}
		named[i] = driver.NamedValue{Ordinal: i + 1, Value: v}
	}
	return named, nil
}

// Scan reads every row of query, which selects position, stream,
// revision, id, type, data, metadata and recorded, through database/sql's
// Scan into the Go types of those columns, as a program of raw SQL
// would, and returns how many it read. Like [Driver], the query gets a
// context that cannot end and ctx is checked between rows.
func Scan(ctx context.Context, db *sql.DB, query string, args ...any) (int, error) {
	rows, err := db.QueryContext(context.WithoutCancel(ctx), query, args...)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var (
			pos, rev, recorded int64
			stream, typ        string
			id, data, md       []byte
		)
		if err := rows.Scan(&pos, &stream, &rev, &id, &typ, &data, &md, &recorded); err != nil {
			return n, err
		}
		if n++; n%checkEvery == 0 && ctx.Err() != nil {
			return n, ctx.Err()
		}
	}
	return n, rows.Err()
}
