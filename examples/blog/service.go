package blog

import (
	"context"
	"fmt"

	"github.com/chronicle-es/chronicle"
	"github.com/google/uuid"
)

// Service runs the commands of the blog against any [chronicle.Store]:
// the write side, which a [Blog] extends with its read model. It is safe
// for concurrent use.
type Service struct {
	posts *chronicle.Repository[Post, Command, Event]
}

// NewService returns a service that keeps posts in store.
func NewService(store chronicle.Store) *Service {
	return &Service{posts: chronicle.NewRepository(store, NewCodec(), NewDecider(), nil)}
}

// CreatePost writes a draft post and returns its id. A refused title
// gives an error matching [ErrInvalidTitle], and writes nothing.
func (s *Service) CreatePost(ctx context.Context, title, content string) (uuid.UUID, error) {
	// A time-ordered (version 7) id, so that posts sort by creation in
	// indexes, and ids read in order on the command line.
	id, err := uuid.NewV7()
	if err != nil {
		return uuid.Nil, fmt.Errorf("create post: %w", err)
	}
	if _, err := s.posts.HandleNew(ctx, StreamName(id), CreatePost{Title: title, Content: content}); err != nil {
		return uuid.Nil, fmt.Errorf("create post: %w", err)
	}
	return id, nil
}

// PublishPost publishes post id. It is refused with an error matching
// [ErrPostNotFound] or [ErrAlreadyPublished], and then writes nothing.
// Two concurrent publications of one post are decided one after the
// other, so one of them is refused.
func (s *Service) PublishPost(ctx context.Context, id uuid.UUID) error {
	if _, err := s.posts.Handle(ctx, StreamName(id), PublishPost{}); err != nil {
		return fmt.Errorf("publish post %s: %w", id, err)
	}
	return nil
}
