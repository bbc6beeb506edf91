package blog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/projection"
	"github.com/google/uuid"
)

// Defaults for [Mail].
const (
	DefaultFrom = "blog@example.com"
	DefaultTo   = "author@example.com"
)

// Mail says who the confirmation e-mails are from and to.
type Mail struct {
	// From and To are the sender and the recipient. Empty means
	// [DefaultFrom] and [DefaultTo].
	From, To string
}

func (m Mail) withDefaults() Mail {
	if m.From == "" {
		m.From = DefaultFrom
	}
	if m.To == "" {
		m.To = DefaultTo
	}
	return m
}

// The outbox's tables. outbox_posts holds the titles of posts, so that
// the outbox projection writes an e-mail from its own tables alone: the
// posts table is another projection's, which may be behind or rebuilding.
const (
	outboxTable = `CREATE TABLE IF NOT EXISTS outbox (
	post_id   TEXT PRIMARY KEY,   -- one e-mail per post, whatever happens
	sender    TEXT NOT NULL,
	recipient TEXT NOT NULL,
	subject   TEXT NOT NULL,
	body      TEXT NOT NULL,
	queued_at TEXT NOT NULL,      -- when PostWasPublished was recorded
	sent_at   TEXT                -- NULL until sent
)`
	outboxPostsTable = `CREATE TABLE IF NOT EXISTS outbox_posts (
	id    TEXT PRIMARY KEY,
	title TEXT NOT NULL
)`
)

// OutboxProjection returns the projection that queues a confirmation
// e-mail in the table outbox when a post is published.
//
// The e-mail is written in the transaction that records the projection's
// checkpoint, and keyed on the post: a crash before the commit loses
// neither the e-mail nor the event, which is applied again; a crash after
// it does not apply the event again; and should the event be applied
// again anyway (a rebuild of this projection, or two processes at once),
// the key keeps the first e-mail and writes no second one. For the same
// reason the projection has no Reset: the outbox records what was
// queued, and a replay must not queue it again.
func OutboxProjection(mail Mail) projection.Projection {
	mail = mail.withDefaults()
	codec := NewCodec()
	return projection.Projection{
		Name:   OutboxProjectionName,
		Filter: postsFilter(),
		Setup: func(ctx context.Context, tx *sql.Tx) error {
			for _, table := range []string{outboxTable, outboxPostsTable} {
				if _, err := tx.ExecContext(ctx, table); err != nil {
					return fmt.Errorf("create outbox tables: %w", err)
				}
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
				_, err = tx.ExecContext(ctx, `INSERT INTO outbox_posts (id, title) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING`,
					id.String(), e.Title)
			case PostWasPublished:
				err = queue(ctx, tx, mail, id, rec.Recorded)
			}
			if err != nil {
				return fmt.Errorf("outbox: %w", err)
			}
			return nil
		},
	}
}

// queue writes the confirmation e-mail of post id, published at t,
// unless the outbox has it already.
//
// A post whose creation the projection never saw gets no e-mail: its
// creation is not in the log (pruned by its stream's metadata and
// scavenged, or never written, by another tool), so there is no such
// post in the history that is visible, and no title to tell its author.
// To stop instead would stop every command of the blog over history that
// is gone for good.
func queue(ctx context.Context, tx *sql.Tx, mail Mail, id uuid.UUID, t time.Time) error {
	var title string
	err := tx.QueryRowContext(ctx, `SELECT title FROM outbox_posts WHERE id = $1`, id.String()).Scan(&title)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	subject := fmt.Sprintf("Your post %q is published", title)
	body := fmt.Sprintf("Your post %q was published on %s.\nIts id is %s.\n",
		title, t.UTC().Format("2006-01-02 15:04:05 MST"), id)
	_, err = tx.ExecContext(ctx, `INSERT INTO outbox (post_id, sender, recipient, subject, body, queued_at)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (post_id) DO NOTHING`,
		id.String(), mail.From, mail.To, subject, body, formatTime(t))
	return err
}

// Email is a confirmation e-mail in the outbox.
type Email struct {
	// PostID is the post the e-mail confirms the publication of.
	PostID            uuid.UUID
	From, To, Subject string
	Body              string
	// Queued is when the post was published. Sent is when the e-mail was
	// sent, zero while it waits.
	Queued, Sent time.Time
}

// Format returns the e-mail as a message: headers, an empty line, and the
// body.
func (e Email) Format() string {
	return fmt.Sprintf("From: %s\nTo: %s\nDate: %s\nSubject: %s\n\n%s",
		e.From, e.To, e.Queued.UTC().Format(time.RFC1123Z), e.Subject, e.Body)
}

const emailColumns = `post_id, sender, recipient, subject, body, queued_at, sent_at`

// listEmails reads the outbox in tx, oldest first; only the unsent ones
// with pending.
func listEmails(ctx context.Context, tx *sql.Tx, pending bool) ([]Email, error) {
	query := `SELECT ` + emailColumns + ` FROM outbox`
	if pending {
		query += ` WHERE sent_at IS NULL`
	}
	rows, err := tx.QueryContext(ctx, query+` ORDER BY queued_at, post_id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Email
	for rows.Next() {
		var (
			e          Email
			id, queued string
			sent       sql.NullString
		)
		if err := rows.Scan(&id, &e.From, &e.To, &e.Subject, &e.Body, &queued, &sent); err != nil {
			return nil, err
		}
		if e.PostID, err = uuid.Parse(id); err != nil {
			return nil, fmt.Errorf("outbox: post_id %q: %w", id, err)
		}
		if e.Queued, err = parseTime(queued); err != nil {
			return nil, fmt.Errorf("outbox: queued_at of %s: %w", id, err)
		}
		if sent.Valid {
			if e.Sent, err = parseTime(sent.String); err != nil {
				return nil, fmt.Errorf("outbox: sent_at of %s: %w", id, err)
			}
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// send delivers the pending e-mails by writing them to w, and marks them
// sent at now, in tx: should writing fail, none is marked.
func send(ctx context.Context, tx *sql.Tx, w io.Writer, now time.Time) ([]Email, error) {
	pending, err := listEmails(ctx, tx, true)
	if err != nil {
		return nil, err
	}
	for i := range pending {
		e := &pending[i]
		if i > 0 {
			if _, err := io.WriteString(w, "\n"); err != nil {
				return nil, fmt.Errorf("deliver: %w", err)
			}
		}
		if _, err := io.WriteString(w, e.Format()); err != nil {
			return nil, fmt.Errorf("deliver the e-mail of post %s: %w", e.PostID, err)
		}
		e.Sent = now.UTC().Truncate(time.Microsecond)
		if _, err := tx.ExecContext(ctx, `UPDATE outbox SET sent_at = $2 WHERE post_id = $1`,
			e.PostID.String(), formatTime(e.Sent)); err != nil {
			return nil, fmt.Errorf("mark the e-mail of post %s sent: %w", e.PostID, err)
		}
	}
	return pending, nil
}
