package storetest

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"
)

// TxStore is a store that runs transactions of the caller's on its
// database, as projection.TxStore describes.
type TxStore interface {
	Update(ctx context.Context, fn func(*sql.Tx) error) error
	View(ctx context.Context, fn func(*sql.Tx) error) error
}

// UpdateEndedMidway checks that when ctx ends while an Update's function
// runs, database/sql rolls the transaction back and Update returns an
// error matching ctx's, as callers such as a projection runner check,
// rather than one saying that the transaction was done.
func UpdateEndedMidway(t *testing.T, s TxStore) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	err := s.Update(ctx, func(tx *sql.Tx) error {
		if _, err := tx.Exec("CREATE TABLE ended_midway (x integer)"); err != nil {
			return err
		}
		cancel()
		time.Sleep(50 * time.Millisecond) // for database/sql's rollback
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Update whose ctx ended midway: %v, want an error matching context.Canceled", err)
	}
	err = s.View(context.Background(), func(tx *sql.Tx) error {
		_, err := tx.Exec("SELECT x FROM ended_midway")
		return err
	})
	if err == nil {
		t.Fatal("the table exists: the transaction committed")
	}
}
