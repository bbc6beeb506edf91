package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// connectListener opens a connection that LISTENs on the schema's channel.
func (s *Store) connectListener(ctx context.Context, cfg *pgx.ConnConfig) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, cfg.Copy())
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{s.channel}.Sanitize()); err != nil {
		conn.Close(context.Background())
		return nil, fmt.Errorf("listen: %w", err)
	}
	return conn, nil
}

// listen wakes the store's subscribers at each notification, until ctx
// ends. When the connection fails, it reconnects, waiting longer after
// each failure, up to a few seconds; subscribers poll meanwhile.
func (s *Store) listen(ctx context.Context, cfg *pgx.ConnConfig, conn *pgx.Conn) {
	defer close(s.listenDone)
	const minWait, maxWait = 50 * time.Millisecond, 5 * time.Second
	wait := minWait
	for {
		if conn != nil {
			for {
				if _, err := conn.WaitForNotification(ctx); err != nil {
					break
				}
				s.changed.Notify()
			}
			conn.Close(context.Background())
			conn = nil
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		var err error
		if conn, err = s.connectListener(ctx, cfg); err != nil {
			wait = min(2*wait, maxWait)
			continue
		}
		wait = minWait
		// Commits made while no connection listened were announced to
		// nobody: let the subscribers look.
		s.changed.Notify()
	}
}
