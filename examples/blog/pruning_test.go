package blog_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/examples/blog"
	"github.com/chronicle-es/chronicle/projection"
	"github.com/google/uuid"
)

// TestPublicationWithoutVisibleCreation: a post whose creation is no
// longer in the log (pruned by its stream's metadata, then scavenged), or
// a publication that another tool wrote without a creation, is no post.
// The read models show the history that is visible: the catch-up and the
// rebuild go on, no post row and no e-mail are made up for it, and the
// commands say it does not exist. Both projections stopped on it, and so
// every command of the blog failed, rebuild included.
func TestPublicationWithoutVisibleCreation(t *testing.T) {
	onEveryStore(t, testPublicationWithoutVisibleCreation)
}

func testPublicationWithoutVisibleCreation(t *testing.T, s projection.TxStore) {
	ctx := context.Background()
	b, posts := blogWithPosts(t, s, "Kept", "Pruned")
	kept, pruned := posts[0], posts[1]
	for _, id := range []uuid.UUID{kept, pruned} {
		if err := b.PublishPost(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}

	// The pruned post's creation goes, for good; its publication stays.
	err := s.(chronicle.Retention).SetStreamMetadata(ctx, blog.StreamName(pruned), chronicle.StreamMetadata{TruncateBefore: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.(chronicle.Scavenger).Scavenge(ctx, nil); err != nil {
		t.Fatal(err)
	}
	// Another tool writes a publication of a post never created.
	orphan := uuid.MustParse("00000000-0000-7000-8000-0000000000ff")
	data := chronicle.EventData{Type: blog.TypePostWasPublished, Data: []byte(`{}`)}
	if _, err := s.Append(ctx, blog.StreamName(orphan), chronicle.NoStream, data); err != nil {
		t.Fatal(err)
	}

	if err := b.CatchUp(ctx); err != nil {
		t.Fatalf("catch up over a publication without a visible creation: %v", err)
	}
	// Applied while its creation was visible, the pruned post stays until
	// a rebuild; the outbox keeps the e-mails it queued, and queues none
	// for the post never created.
	wantPosts(t, b, kept, pruned)
	wantEmails(t, b, kept, pruned)
	if _, err := b.GetPost(ctx, orphan); !errors.Is(err, blog.ErrPostNotFound) {
		t.Fatalf("GetPost of the post never created: %v, want ErrPostNotFound", err)
	}

	if err := b.Rebuild(ctx, nil); err != nil {
		t.Fatalf("rebuild over a publication without a visible creation: %v", err)
	}
	wantPosts(t, b, kept)
	wantEmails(t, b, kept, pruned)
	for _, id := range []uuid.UUID{pruned, orphan} {
		if _, err := b.GetPost(ctx, id); !errors.Is(err, blog.ErrPostNotFound) {
			t.Errorf("GetPost of %s after the rebuild: %v, want ErrPostNotFound", id, err)
		}
		// The write side sees the same history: no such post.
		if err := b.PublishPost(ctx, id); !errors.Is(err, blog.ErrPostNotFound) {
			t.Errorf("PublishPost of %s: %v, want ErrPostNotFound", id, err)
		}
	}
}

// blogWithPosts returns a blog over s whose projections stop at once on
// an event that fails, with a draft post of each title.
func blogWithPosts(t *testing.T, s projection.TxStore, titles ...string) (*blog.Blog, []uuid.UUID) {
	t.Helper()
	b, err := blog.New(s, &blog.Options{Runner: fastFail()})
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]uuid.UUID, len(titles))
	for i, title := range titles {
		if ids[i], err = b.CreatePost(context.Background(), title, ""); err != nil {
			t.Fatal(err)
		}
	}
	return b, ids
}

func wantPosts(t *testing.T, b *blog.Blog, want ...uuid.UUID) {
	t.Helper()
	posts, err := b.ListPosts(context.Background(), blog.ListOptions{})
	wantIDs(t, "posts", posts, err, func(p blog.PostView) uuid.UUID { return p.ID }, want)
}

func wantEmails(t *testing.T, b *blog.Blog, want ...uuid.UUID) {
	t.Helper()
	emails, err := b.Emails(context.Background())
	wantIDs(t, "e-mails", emails, err, func(e blog.Email) uuid.UUID { return e.PostID }, want)
}

// wantIDs checks that a read of the read model, which returned xs and
// err, holds the posts want, in that order.
func wantIDs[T any](t *testing.T, what string, xs []T, err error, id func(T) uuid.UUID, want []uuid.UUID) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	got := []uuid.UUID{}
	for _, x := range xs {
		got = append(got, id(x))
	}
	if !slices.Equal(got, want) {
		t.Errorf("%s of %v, want %v", what, got, want)
	}
}

// TestPublishedTwiceByAnotherTool: a post that another tool published a
// second time, which the rules refuse, was published when it was first
// published, as its e-mail says. The second publication moved the time
// in the table posts, and away from the e-mail's.
func TestPublishedTwiceByAnotherTool(t *testing.T) {
	onEveryStore(t, func(t *testing.T, s projection.TxStore) {
		ctx := context.Background()
		b, posts := blogWithPosts(t, s, "Twice")
		if err := b.PublishPost(ctx, posts[0]); err != nil {
			t.Fatal(err)
		}
		if err := b.CatchUp(ctx); err != nil {
			t.Fatal(err)
		}
		first, err := b.GetPost(ctx, posts[0])
		if err != nil {
			t.Fatal(err)
		}
		again := chronicle.EventData{Type: blog.TypePostWasPublished, Data: []byte(`{}`)}
		if _, err := s.Append(ctx, blog.StreamName(posts[0]), chronicle.Exact(1), again); err != nil {
			t.Fatal(err)
		}
		for _, step := range []func(context.Context) error{b.CatchUp, func(ctx context.Context) error { return b.Rebuild(ctx, nil) }} {
			if err := step(ctx); err != nil {
				t.Fatal(err)
			}
			p, err := b.GetPost(ctx, posts[0])
			if err != nil || !p.PublishedAt.Equal(first.PublishedAt) {
				t.Fatalf("published at %v, %v; want %v, when it was first published", p.PublishedAt, err, first.PublishedAt)
			}
			if emails, err := b.Emails(ctx); err != nil || len(emails) != 1 || !emails[0].Queued.Equal(p.PublishedAt) {
				t.Fatalf("e-mails %+v, %v; want one, queued when the post was published", emails, err)
			}
		}
	})
}
