package blog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/projection"
	"github.com/google/uuid"
)

// Names of the blog's projections: of their checkpoints, too.
const (
	PostsProjectionName  = "blog-posts"
	OutboxProjectionName = "blog-outbox"
)

// timeLayout is how times are kept in the read model's tables: text,
// which SQLite and PostgreSQL both store, in UTC with a fixed width, so
// that the text sorts as the times do.
const timeLayout = "2006-01-02T15:04:05.000000Z"

func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

func parseTime(s string) (time.Time, error) { return time.Parse(timeLayout, s) }

// postsTable is the read model of posts. The SQL is plain enough for
// SQLite and PostgreSQL both.
const postsTable = `CREATE TABLE IF NOT EXISTS posts (
	id           TEXT PRIMARY KEY,   -- the post's UUID
	title        TEXT NOT NULL,
	content      TEXT NOT NULL,
	published    BOOLEAN NOT NULL DEFAULT FALSE,
	created_at   TEXT NOT NULL,      -- when PostWasCreated was recorded
	published_at TEXT                -- when PostWasPublished was; NULL for a draft
)`

// PostsProjection returns the projection that keeps the table posts: one
// row per post, with its title, content, whether it is published, and
// when it was created and published. Times are those the store recorded
// the events at, so a rebuild gives the same rows.
//
// Its writes are idempotent as well as transactional, so that two
// processes catching it up at once (two commands run together) cannot
// apply an event twice: the runner does not guard against that.
func PostsProjection() projection.Projection {
	codec := NewCodec()
	return projection.Projection{
		Name:   PostsProjectionName,
		Filter: postsFilter(),
		Setup: func(ctx context.Context, tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, postsTable); err != nil {
				return fmt.Errorf("create table posts: %w", err)
			}
			_, err := tx.ExecContext(ctx, `CREATE INDEX IF NOT EXISTS posts_created ON posts (created_at, id)`)
			if err != nil {
				return fmt.Errorf("create index posts_created: %w", err)
			}
			return nil
		},
		Apply: func(ctx context.Context, tx *sql.Tx, rec chronicle.RecordedEvent) error {
			id, e, ok, err := readEvent(codec, rec)
			if !ok || err != nil {
				return err // nil for a stream of the category that is not a post
			}
			switch e := e.(type) {
			case PostWasCreated:
				_, err = tx.ExecContext(ctx, `INSERT INTO posts (id, title, content, published, created_at)
					VALUES ($1, $2, $3, FALSE, $4) ON CONFLICT (id) DO NOTHING`,
					id.String(), e.Title, e.Content, formatTime(rec.Recorded))
			case PostWasPublished:
				// A post that the table does not hold is one whose creation
				// the log does not show: pruned by its stream's metadata
				// and scavenged, or never written, by another tool. The
				// read model shows the history that is visible, in which
				// there is no such post, so the update changes no row. To
				// stop instead would stop every command of the blog, its
				// rebuild too, over history that is gone for good. A post
				// published again, which the rules refuse but another tool
				// may write, stays published when it was first, as its
				// e-mail says.
				_, err = tx.ExecContext(ctx, `UPDATE posts SET published = TRUE, published_at = $2 WHERE id = $1 AND NOT published`,
					id.String(), formatTime(rec.Recorded))
			}
			if err != nil {
				return fmt.Errorf("posts: %w", err)
			}
			return nil
		},
		Reset: func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `DELETE FROM posts`)
			return err
		},
	}
}

// PostView is a post as the read model shows it.
type PostView struct {
	ID        uuid.UUID
	Title     string
	Content   string
	Published bool
	// Created is when the post was written; PublishedAt when it was
	// published, zero for a draft.
	Created, PublishedAt time.Time
}

// ListOptions selects the posts that [Blog.ListPosts] returns.
type ListOptions struct {
	// Published keeps only published posts.
	Published bool
}

const postColumns = `id, title, content, published, created_at, published_at`

// listPosts reads the table posts in tx, oldest first.
func listPosts(ctx context.Context, tx *sql.Tx, opts ListOptions) ([]PostView, error) {
	query := `SELECT ` + postColumns + ` FROM posts`
	if opts.Published {
		query += ` WHERE published`
	}
	rows, err := tx.QueryContext(ctx, query+` ORDER BY created_at, id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []PostView
	for rows.Next() {
		p, err := scanPost(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// getPost reads one post in tx; an unknown one is [ErrPostNotFound].
func getPost(ctx context.Context, tx *sql.Tx, id uuid.UUID) (PostView, error) {
	p, err := scanPost(tx.QueryRowContext(ctx, `SELECT `+postColumns+` FROM posts WHERE id = $1`, id.String()))
	if errors.Is(err, sql.ErrNoRows) {
		return PostView{}, ErrPostNotFound
	}
	return p, err
}

func scanPost(row interface{ Scan(...any) error }) (PostView, error) {
	var (
		p           PostView
		id, created string
		published   sql.NullString
	)
	if err := row.Scan(&id, &p.Title, &p.Content, &p.Published, &created, &published); err != nil {
		return PostView{}, err
	}
	var err error
	if p.ID, err = uuid.Parse(id); err != nil {
		return PostView{}, fmt.Errorf("posts: id %q: %w", id, err)
	}
	if p.Created, err = parseTime(created); err != nil {
		return PostView{}, fmt.Errorf("posts: created_at of %s: %w", id, err)
	}
	if published.Valid {
		if p.PublishedAt, err = parseTime(published.String); err != nil {
			return PostView{}, fmt.Errorf("posts: published_at of %s: %w", id, err)
		}
	}
	return p, nil
}
