package blog_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/examples/blog"
	"github.com/chronicle-es/chronicle/projection"
	"github.com/google/uuid"
)

// TestUnreadableEventStops: an event in a post's stream that the blog
// cannot read (of a type it does not know, with data that does not
// decode, or written by a newer version) may matter to the read models,
// so they stop on it rather than pass over it, with an error that names
// the event and matches ErrUnreadableEvent; the commands that only write
// go on; and once the post's stream is deleted and scavenged, a rebuild
// gets through. An event of an unknown type was passed over without a
// word.
func TestUnreadableEventStops(t *testing.T) {
	for _, tt := range []struct {
		name string
		data chronicle.EventData
	}{
		{"UnknownType", chronicle.EventData{Type: "PostWasRetitled", Data: []byte(`{"title":"New"}`)}},
		{"NotJSON", chronicle.EventData{Type: blog.TypePostWasPublished, Data: []byte(`published`)}},
		{"WrongShape", chronicle.EventData{Type: blog.TypePostWasPublished, Data: []byte(`[]`)}},
		{"NewerVersion", chronicle.EventData{Type: blog.TypePostWasPublished, Data: []byte(`{}`),
			Metadata: chronicle.Metadata{chronicle.MetadataSchemaVersion: "2"}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			onEveryStore(t, func(t *testing.T, s projection.TxStore) { testUnreadableEventStops(t, s, tt.data) })
		})
	}
}

func testUnreadableEventStops(t *testing.T, s projection.TxStore, bad chronicle.EventData) {
	ctx := context.Background()
	b, posts := blogWithPosts(t, s, "Kept", "Odd")
	kept, stream := posts[0], blog.StreamName(posts[1])
	res, err := s.Append(ctx, stream, chronicle.Exact(0), bad)
	if err != nil {
		t.Fatal(err)
	}
	// Not a post's stream, though of the category: none of the blog's
	// business, whatever it holds.
	if _, err := s.Append(ctx, "post-office", chronicle.Any, bad); err != nil {
		t.Fatal(err)
	}

	for _, step := range []struct {
		name string
		run  func() error
	}{
		{"CatchUp", func() error { return b.CatchUp(ctx) }},
		{"Rebuild", func() error { return b.Rebuild(ctx, nil) }},
	} {
		err := step.run()
		var perr *projection.Error
		if !errors.Is(err, blog.ErrUnreadableEvent) || !errors.As(err, &perr) {
			t.Fatalf("%s over an unreadable event: %v; want an error matching ErrUnreadableEvent and *projection.Error", step.name, err)
		}
		if e := perr.Event; e.Stream != stream || e.Revision != 1 || e.Position != res.FirstPosition {
			t.Errorf("%s stopped at %s@%d, position %d; want %s@1, position %d", step.name, e.Stream, e.Revision, e.Position, stream, res.FirstPosition)
		}
		for _, want := range []string{fmt.Sprintf("position %d", res.FirstPosition), "revision 1", stream} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: the error does not say %q: %v", step.name, want, err)
			}
		}
	}

	// The commands that only write events go on.
	if err := b.PublishPost(ctx, kept); err != nil {
		t.Fatalf("publish while the read model is stopped: %v", err)
	}
	if _, err := b.CreatePost(ctx, "Later", ""); err != nil {
		t.Fatalf("create while the read model is stopped: %v", err)
	}

	// The way out, when no version of the blog reads the event: the post
	// goes, and so does the event once scavenged.
	if err := s.(chronicle.Deleter).Delete(ctx, stream, chronicle.Any); err != nil {
		t.Fatal(err)
	}
	if _, err := s.(chronicle.Scavenger).Scavenge(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if err := b.Rebuild(ctx, nil); err != nil {
		t.Fatalf("rebuild once the stream is scavenged: %v", err)
	}
	if err := b.CatchUp(ctx); err != nil {
		t.Fatalf("catch up once the stream is scavenged: %v", err)
	}
	if posts, err := b.ListPosts(ctx, blog.ListOptions{}); err != nil || len(posts) != 2 || posts[0].ID != kept || !posts[0].Published || posts[1].Title != "Later" {
		t.Fatalf("posts once the stream is scavenged: %+v, %v", posts, err)
	}
	wantEmails(t, b, kept)
}

// TestNULFromAnotherTool: a post that another tool wrote with a NUL
// character, which the rules refuse and PostgreSQL cannot keep in text,
// is shown with U+FFFD in its place, on every store, rather than stop
// the read model. On PostgreSQL both projections stopped on it, with an
// error of the database's that said nothing of what to do.
func TestNULFromAnotherTool(t *testing.T) {
	onEveryStore(t, func(t *testing.T, s projection.TxStore) {
		ctx := context.Background()
		b, _ := blogWithPosts(t, s)
		id := uuid.MustParse("00000000-0000-7000-8000-0000000000aa")
		_, err := s.Append(ctx, blog.StreamName(id), chronicle.NoStream,
			chronicle.EventData{Type: blog.TypePostWasCreated, Data: []byte(`{"title":"a\u0000b","content":"x\u0000y"}`)},
			chronicle.EventData{Type: blog.TypePostWasPublished, Data: []byte(`{}`)})
		if err != nil {
			t.Fatal(err)
		}
		if err := b.CatchUp(ctx); err != nil {
			t.Fatalf("catch up over a NUL character: %v", err)
		}
		p, err := b.GetPost(ctx, id)
		if err != nil || p.Title != "a\uFFFDb" || p.Content != "x\uFFFDy" || !p.Published {
			t.Fatalf("GetPost = %+v, %v; want the title a\uFFFDb and the content x\uFFFDy", p, err)
		}
		emails, err := b.Emails(ctx)
		if err != nil || len(emails) != 1 || emails[0].Subject != "Your post \"a\uFFFDb\" is published" {
			t.Fatalf("Emails = %+v, %v", emails, err)
		}
	})
}

// retries counts the runner's "projection retrying" log lines.
type retries struct {
	mu sync.Mutex
	n  int
}

func (r *retries) Write(p []byte) (int, error) {
	if strings.Contains(string(p), `msg="projection retrying"`) {
		r.mu.Lock()
		r.n++
		r.mu.Unlock()
	}
	return len(p), nil
}

func (r *retries) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}

// TestUnreadableEventIsNotRetried: an event that the blog cannot read
// will not read on a retry either, so the projections stop on it at once,
// with the runner's default retries: a command that reads the read model
// reports it without waiting for retries that cannot succeed. Each
// projection tried it again five times, with waits of 0.1 to 1.6 s.
func TestUnreadableEventIsNotRetried(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	var tries retries
	logger := slog.New(slog.NewTextHandler(&tries, &slog.HandlerOptions{Level: slog.LevelWarn}))
	b, err := blog.New(s, &blog.Options{Runner: &projection.Options{Logger: logger}})
	if err != nil {
		t.Fatal(err)
	}
	id, err := b.CreatePost(ctx, "Odd", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, blog.StreamName(id), chronicle.Exact(0), chronicle.EventData{Type: "PostWasRetitled", Data: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	err = b.CatchUp(ctx)
	if !errors.Is(err, blog.ErrUnreadableEvent) || !errors.Is(err, projection.ErrPermanent) {
		t.Fatalf("CatchUp over an unreadable event: %v; want an error matching ErrUnreadableEvent and projection.ErrPermanent", err)
	}
	if n := tries.count(); n != 0 {
		t.Fatalf("the projections retried the unreadable event %d times, want 0", n)
	}
	st, err := b.Runner().Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range st {
		if p.State != projection.Stopped || !errors.Is(p.Err, projection.ErrPermanent) {
			t.Errorf("%s: %s, %v; want stopped on a permanent error", p.Name, p.State, p.Err)
		}
	}
}
