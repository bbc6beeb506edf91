package blog_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/examples/blog"
	"github.com/chronicle-es/chronicle/projection"
	"github.com/chronicle-es/chronicle/projection/projectiontest"
	"github.com/google/uuid"
)

// Fixed ids, so that rows sort the same in every run.
var (
	post1 = uuid.MustParse("00000000-0000-7000-8000-000000000001")
	post2 = uuid.MustParse("00000000-0000-7000-8000-000000000002")
)

func TestPostsProjection(t *testing.T) {
	fx := projectiontest.New(t, blog.PostsProjection())
	fx.GivenJSON(blog.StreamName(post1), blog.TypePostWasCreated, blog.PostWasCreated{Title: "One", Content: "first"}).
		GivenJSON(blog.StreamName(post2), blog.TypePostWasCreated, blog.PostWasCreated{Title: "Two", Content: "second"}).
		GivenJSON(blog.StreamName(post1), blog.TypePostWasPublished, blog.PostWasPublished{}).
		// Not a post's stream, though of the category: left alone.
		GivenJSON("post-office", blog.TypePostWasCreated, blog.PostWasCreated{Title: "Stamps"}).
		// Nor is a type the blog does not know, in that stream.
		GivenJSON("post-office", "PostWasLiked", map[string]int{"likes": 3}).
		// Post two's id spelled otherwise than its stream's name: another
		// stream, whose publication is not post two's.
		GivenJSON(blog.Category+"-"+strings.ReplaceAll(post2.String(), "-", ""), blog.TypePostWasPublished, blog.PostWasPublished{}).
		GivenJSON(blog.Category+"-{"+post2.String()+"}", blog.TypePostWasPublished, blog.PostWasPublished{})

	fx.ThenRows(`SELECT id, title, content, published, published_at IS NOT NULL FROM posts ORDER BY id`, [][]any{
		{post1.String(), "One", "first", 1, 1},
		{post2.String(), "Two", "second", 0, 0},
	})

	// The times are those the events were recorded at.
	recorded := map[string]string{}
	for e, err := range fx.Store().ReadAll(context.Background(), chronicle.ReadAllOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		recorded[e.Stream+"/"+e.Type] = e.Recorded.Format("2006-01-02T15:04:05.000000Z")
	}
	fx.ThenRows(`SELECT created_at, published_at FROM posts WHERE id = $1`, [][]any{
		{recorded[blog.StreamName(post1)+"/"+blog.TypePostWasCreated], recorded[blog.StreamName(post1)+"/"+blog.TypePostWasPublished]},
	}, post1.String())
}

func TestOutboxProjection(t *testing.T) {
	fx := projectiontest.New(t, blog.OutboxProjection(blog.Mail{To: "ann@example.com"}))
	fx.GivenJSON(blog.StreamName(post1), blog.TypePostWasCreated, blog.PostWasCreated{Title: "One"}).
		GivenJSON(blog.StreamName(post2), blog.TypePostWasCreated, blog.PostWasCreated{Title: "Two"}).
		GivenJSON(blog.StreamName(post2), blog.TypePostWasPublished, blog.PostWasPublished{})

	// One e-mail for the published post, none for the draft; and the
	// rebuild that ThenRows does queues no second one.
	fx.ThenRows(`SELECT post_id, sender, recipient, subject, sent_at FROM outbox ORDER BY post_id`, [][]any{
		{post2.String(), "blog@example.com", "ann@example.com", `Your post "Two" is published`, nil},
	})

	// An e-mail sent stays sent through a replay.
	err := fx.Store().Update(context.Background(), func(tx *sql.Tx) error {
		_, err := tx.Exec(`UPDATE outbox SET sent_at = 'then'`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	fx.GivenJSON(blog.StreamName(post1), blog.TypePostWasPublished, blog.PostWasPublished{})
	fx.ThenRows(`SELECT post_id, sent_at FROM outbox ORDER BY post_id`, [][]any{
		{post1.String(), nil},
		{post2.String(), "then"},
	})
}

// A publication without a creation cannot be written by the rules, but
// the creation may be pruned from the log, or another tool may write
// one: the projections pass over it, as the log shows no such post.
func TestProjectionsPassOverAPublicationWithoutPost(t *testing.T) {
	posts := projectiontest.New(t, blog.PostsProjection())
	posts.GivenJSON(blog.StreamName(post1), blog.TypePostWasPublished, blog.PostWasPublished{}).
		GivenJSON(blog.StreamName(post2), blog.TypePostWasCreated, blog.PostWasCreated{Title: "Two"})
	posts.ThenRows(`SELECT id, published FROM posts`, [][]any{{post2.String(), 0}})

	outbox := projectiontest.New(t, blog.OutboxProjection(blog.Mail{}))
	outbox.GivenJSON(blog.StreamName(post1), blog.TypePostWasPublished, blog.PostWasPublished{}).
		GivenJSON(blog.StreamName(post2), blog.TypePostWasCreated, blog.PostWasCreated{Title: "Two"}).
		GivenJSON(blog.StreamName(post2), blog.TypePostWasPublished, blog.PostWasPublished{})
	outbox.ThenRows(`SELECT post_id FROM outbox`, [][]any{{post2.String()}})
}

// fastFail gives up on a failing event at once, for tests that expect
// one.
func fastFail() *projection.Options {
	return &projection.Options{Retries: -1, Backoff: time.Millisecond}
}
