package blog_test

import (
	"strings"
	"testing"

	"github.com/chronicle-es/chronicle/chronicletest"
	"github.com/chronicle-es/chronicle/examples/blog"
)

func scenario(t *testing.T) *chronicletest.Scenario[blog.Post, blog.Command, blog.Event] {
	t.Helper()
	return chronicletest.For(t, blog.NewDecider()).WithCodec(blog.NewCodec())
}

var created = blog.PostWasCreated{Title: "Hello", Content: "First post."}

func TestCreatePost(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		scenario(t).
			When(blog.CreatePost{Title: "Hello", Content: "First post."}).
			Then(created).
			ThenState(blog.Post{Created: true})
	})
	t.Run("EmptyContent", func(t *testing.T) {
		scenario(t).
			When(blog.CreatePost{Title: "Hello"}).
			Then(blog.PostWasCreated{Title: "Hello"})
	})
	for name, title := range map[string]string{
		"Empty":     "",
		"Blank":     " \t ",
		"LineBreak": "Hello\nworld",
		"TooLong":   strings.Repeat("é", blog.MaxTitleLength+1),
		"NotUTF8":   "\xff",
	} {
		t.Run("ErrInvalidTitle/"+name, func(t *testing.T) {
			scenario(t).
				When(blog.CreatePost{Title: title, Content: "x"}).
				ThenError(blog.ErrInvalidTitle)
		})
	}
	// The event's JSON would change content that is not UTF-8, and the
	// read model cannot keep a NUL in PostgreSQL, where the post would
	// stop the projection for good.
	for name, content := range map[string]string{
		"NotUTF8": "caf\xe9",
		"NUL":     "a\x00b",
	} {
		t.Run("ErrInvalidContent/"+name, func(t *testing.T) {
			scenario(t).
				When(blog.CreatePost{Title: "Hello", Content: content}).
				ThenError(blog.ErrInvalidContent)
		})
	}
	t.Run("LongestTitle", func(t *testing.T) {
		title := strings.Repeat("é", blog.MaxTitleLength)
		scenario(t).
			When(blog.CreatePost{Title: title}).
			Then(blog.PostWasCreated{Title: title})
	})
	t.Run("ErrPostExists", func(t *testing.T) {
		scenario(t).
			Given(created).
			When(blog.CreatePost{Title: "Again"}).
			ThenError(blog.ErrPostExists)
	})
}

func TestPublishPost(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		scenario(t).
			Given(created).
			When(blog.PublishPost{}).
			Then(blog.PostWasPublished{}).
			ThenState(blog.Post{Created: true, Published: true})
	})
	t.Run("ErrPostNotFound", func(t *testing.T) {
		s := scenario(t).
			When(blog.PublishPost{}).
			ThenError(blog.ErrPostNotFound)
		if got := s.Err().Error(); got != "post does not exist" {
			t.Errorf("message %q", got)
		}
	})
	t.Run("ErrAlreadyPublished", func(t *testing.T) {
		s := scenario(t).
			Given(created, blog.PostWasPublished{}).
			When(blog.PublishPost{}).
			ThenError(blog.ErrAlreadyPublished)
		if got := s.Err().Error(); got != "post is already published" {
			t.Errorf("message %q", got)
		}
	})
}
