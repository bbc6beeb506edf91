package postgres_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/postgres"
)

// TestConnectionEndsAfterCommit: a server that ends the writer's
// connection (pg_terminate_backend, a restart) while it commits a batch
// finishes the commit first, then sends its FATAL error in place of the
// rest of the batch's answers. The events are written: the append must
// say so, or at least that they may have been, and not that they were
// not, or a caller that trusts it writes them again under other IDs.
//
// commit_delay (with commit_siblings 0, so that it always applies) holds
// every commit for 100 ms, during which the test ends the connection.
func TestConnectionEndsAfterCommit(t *testing.T) {
	schema := newSchema(t)
	url := testURL(t)
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := postgres.Open(ctx, url+sep+"options=-c%20commit_delay%3D100000%20-c%20commit_siblings%3D0", &postgres.Options{Schema: schema})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	pid, err := postgres.WriterPID(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	admin := mustConnect(t)
	ended := make(chan error, 1)
	go func() {
		// End the connection once it waits in its commit.
		for ctx.Err() == nil {
			var waiting bool
			err := admin.QueryRow(ctx, "SELECT coalesce(state = 'active' AND query = 'COMMIT', false) FROM pg_stat_activity WHERE pid = $1", int32(pid)).Scan(&waiting)
			if err != nil {
				ended <- err
				return
			}
			if waiting {
				_, err := admin.Exec(ctx, "SELECT pg_terminate_backend($1)", int32(pid))
				ended <- err
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	ev := chronicle.EventData{Type: "E", Data: []byte(`{}`)}
	_, appendErr := s.Append(ctx, "s", chronicle.NoStream, ev)
	if err := <-ended; err != nil {
		t.Fatalf("end the writer's connection: %v", err)
	}
	var ids []string
	for e, err := range s.ReadAll(ctx, chronicle.ReadAllOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, e.ID.String())
	}
	if len(ids) != 1 {
		t.Fatalf("the log holds %d events, want the append's 1 (the connection ended after its commit)", len(ids))
	}
	if appendErr != nil && !strings.Contains(appendErr.Error(), "may have been written") {
		t.Fatalf("the append was committed, but it failed with %q, which says nothing was written", appendErr)
	}
	t.Logf("append: %v", appendErr)
}
