package blog_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/examples/blog"
	"github.com/chronicle-es/chronicle/internal/pgtest"
	"github.com/chronicle-es/chronicle/memory"
	"github.com/chronicle-es/chronicle/projection"
	"github.com/chronicle-es/chronicle/sqlite"
	"github.com/google/uuid"
)

func openStore(tb testing.TB) projection.TxStore {
	tb.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(tb.TempDir(), "blog.db"), &sqlite.Options{Durability: sqlite.Relaxed})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// onEveryStore runs test on each store that can keep the blog's read
// model: the embedded one, and PostgreSQL in a schema of the test's own
// (skipped without CHRONICLE_POSTGRES_URL).
func onEveryStore(t *testing.T, test func(t *testing.T, s projection.TxStore)) {
	t.Run("sqlite", func(t *testing.T) { test(t, openStore(t)) })
	t.Run("postgres", func(t *testing.T) { test(t, pgtest.Open(t)) })
}

var sendTime = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func newBlog(tb testing.TB, s projection.TxStore) *blog.Blog {
	tb.Helper()
	b, err := blog.New(s, &blog.Options{Now: func() time.Time { return sendTime }})
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestBlog(t *testing.T) { onEveryStore(t, testBlog) }

func testBlog(t *testing.T, s projection.TxStore) {
	ctx := context.Background()
	b := newBlog(t, s)

	// A new store reads as empty, not as missing tables.
	if posts, err := b.ListPosts(ctx, blog.ListOptions{}); err != nil || len(posts) != 0 {
		t.Fatalf("ListPosts on a new store = %v, %v", posts, err)
	}
	if emails, err := b.Emails(ctx); err != nil || len(emails) != 0 {
		t.Fatalf("Emails on a new store = %v, %v", emails, err)
	}

	hello, err := b.CreatePost(ctx, "Hello", "First post.")
	if err != nil {
		t.Fatal(err)
	}
	draft, err := b.CreatePost(ctx, "Draft", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.PublishPost(ctx, hello); err != nil {
		t.Fatal(err)
	}

	// Refusals write nothing.
	head := func() uint64 {
		h, err := projection.Head(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	before := head()
	if err := b.PublishPost(ctx, hello); !errors.Is(err, blog.ErrAlreadyPublished) {
		t.Fatalf("publish twice: %v", err)
	}
	if err := b.PublishPost(ctx, uuid.New()); !errors.Is(err, blog.ErrPostNotFound) {
		t.Fatalf("publish unknown: %v", err)
	}
	if _, err := b.CreatePost(ctx, " ", "x"); !errors.Is(err, blog.ErrInvalidTitle) {
		t.Fatalf("create untitled: %v", err)
	}
	if after := head(); after != before {
		t.Fatalf("refused commands wrote %d events", after-before)
	}

	// Queries read the read model, which is behind until caught up.
	if posts, _ := b.ListPosts(ctx, blog.ListOptions{}); len(posts) != 0 {
		t.Fatalf("the read model moved without a catch-up: %v", posts)
	}
	if err := b.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	posts, err := b.ListPosts(ctx, blog.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(posts) != 2 || posts[0].ID != hello || posts[1].ID != draft {
		t.Fatalf("ListPosts = %+v", posts)
	}
	p := posts[0]
	if p.Title != "Hello" || p.Content != "First post." || !p.Published || p.Created.IsZero() || p.PublishedAt.Before(p.Created) {
		t.Fatalf("post = %+v", p)
	}
	if d := posts[1]; d.Published || !d.PublishedAt.IsZero() {
		t.Fatalf("draft = %+v", d)
	}
	published, err := b.ListPosts(ctx, blog.ListOptions{Published: true})
	if err != nil || len(published) != 1 || published[0].ID != hello {
		t.Fatalf("published posts = %+v, %v", published, err)
	}
	got, err := b.GetPost(ctx, hello)
	if err != nil || got != p {
		t.Fatalf("GetPost = %+v, %v; want %+v", got, err, p)
	}
	if _, err := b.GetPost(ctx, uuid.New()); !errors.Is(err, blog.ErrPostNotFound) {
		t.Fatalf("GetPost unknown: %v", err)
	}

	// One e-mail, for the published post.
	emails, err := b.Emails(ctx)
	if err != nil || len(emails) != 1 {
		t.Fatalf("Emails = %+v, %v", emails, err)
	}
	e := emails[0]
	if e.PostID != hello || e.To != blog.DefaultTo || e.Subject != `Your post "Hello" is published` || !e.Sent.IsZero() || !e.Queued.Equal(p.PublishedAt) {
		t.Fatalf("e-mail = %+v", e)
	}

	var out bytes.Buffer
	sent, err := b.SendEmails(ctx, &out)
	if err != nil || len(sent) != 1 || !sent[0].Sent.Equal(sendTime) {
		t.Fatalf("SendEmails = %+v, %v", sent, err)
	}
	want := "From: blog@example.com\nTo: author@example.com\nDate: " + p.PublishedAt.Format(time.RFC1123Z) +
		"\nSubject: Your post \"Hello\" is published\n\nYour post \"Hello\" was published on " +
		p.PublishedAt.Format("2006-01-02 15:04:05 MST") + ".\nIts id is " + hello.String() + ".\n"
	if out.String() != want {
		t.Fatalf("sent\n%s\nwant\n%s", out.String(), want)
	}
	// Sent once: a second send has nothing to do.
	out.Reset()
	if sent, err := b.SendEmails(ctx, &out); err != nil || len(sent) != 0 || out.Len() != 0 {
		t.Fatalf("second SendEmails = %v, %v, %q", sent, err, out.String())
	}
	if emails, _ := b.Emails(ctx); len(emails) != 1 || !emails[0].Sent.Equal(sendTime) {
		t.Fatalf("after sending: %+v", emails)
	}

	// A rebuild gives the same posts, and leaves the outbox alone.
	var last projection.Progress
	if err := b.Rebuild(ctx, func(p projection.Progress) { last = p }); err != nil {
		t.Fatal(err)
	}
	if last.Done != last.Total || last.Total != head() {
		t.Fatalf("last progress %+v, head %d", last, head())
	}
	rebuilt, err := b.ListPosts(ctx, blog.ListOptions{})
	if err != nil || len(rebuilt) != 2 || rebuilt[0] != posts[0] || rebuilt[1] != posts[1] {
		t.Fatalf("after rebuild %+v, %v; want %+v", rebuilt, err, posts)
	}
	if emails, _ := b.Emails(ctx); len(emails) != 1 || !emails[0].Sent.Equal(sendTime) {
		t.Fatalf("after rebuild: %+v", emails)
	}
}

// A writer that fails leaves the e-mails unsent, to be sent next time.
func TestSendEmailsFailing(t *testing.T) { onEveryStore(t, testSendEmailsFailing) }

func testSendEmailsFailing(t *testing.T, s projection.TxStore) {
	ctx := context.Background()
	b := newBlog(t, s)
	id, _ := b.CreatePost(ctx, "Hello", "")
	if err := b.PublishPost(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := b.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := b.SendEmails(ctx, failingWriter{}); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("SendEmails to a failing writer: %v", err)
	}
	emails, err := b.Emails(ctx)
	if err != nil || len(emails) != 1 || !emails[0].Sent.IsZero() {
		t.Fatalf("after a failed send: %+v, %v", emails, err)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestRebuildEmptyStore(t *testing.T) { onEveryStore(t, testRebuildEmptyStore) }

func testRebuildEmptyStore(t *testing.T, s projection.TxStore) {
	b := newBlog(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var calls []projection.Progress
	if err := b.Rebuild(ctx, func(p projection.Progress) { calls = append(calls, p) }); err != nil {
		t.Fatal(err)
	}
	if len(calls) != 1 || calls[0].Total != 0 {
		t.Fatalf("progress of an empty rebuild: %+v", calls)
	}
}

func TestNeedsTransactions(t *testing.T) {
	if _, err := blog.New(memory.New(nil), nil); !errors.Is(err, blog.ErrNoTransactions) {
		t.Fatalf("New over the memory store: %v", err)
	}
	// The commands alone work on any store.
	ctx := context.Background()
	store := memory.New(nil)
	svc := blog.NewService(store)
	id, err := svc.CreatePost(ctx, "Hello", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.PublishPost(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := svc.PublishPost(ctx, id); !errors.Is(err, blog.ErrAlreadyPublished) {
		t.Fatalf("publish twice: %v", err)
	}
	n := 0
	for _, err := range store.ReadStream(ctx, blog.StreamName(id), chronicle.ReadStreamOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 2 {
		t.Fatalf("the post has %d events, want 2", n)
	}
}
