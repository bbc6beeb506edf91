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

// ErrNoTransactions means that a [Blog] was given a store that cannot
// keep read models beside its events.
var ErrNoTransactions = errors.New("the blog's read model needs a store with transactions")

// Options configures a [Blog]. A nil *Options gives the defaults.
type Options struct {
	// Mail says who the confirmation e-mails are from and to.
	Mail Mail
	// Runner configures the runner of the projections; nil gives its
	// defaults.
	Runner *projection.Options
	// Now tells the time at which e-mails are sent; nil means [time.Now].
	Now func() time.Time
}

// Blog is the whole application: the commands of [Service], and the read
// model and outbox that its projections keep in the store's database.
// It is safe for concurrent use.
//
// Queries read the read model as it is: a program that writes and reads
// in one go, such as a command line, calls [Blog.CatchUp] first, while a
// server runs [Blog.Run] beside its requests.
type Blog struct {
	*Service
	store  projection.TxStore
	runner *projection.Runner
	now    func() time.Time
}

// New returns the blog whose posts, read model and outbox are in store.
// The store must be a [projection.TxStore] (*sqlite.Store or
// *postgres.Store); New takes any [chronicle.Store] so that it can say so
// with an error matching [ErrNoTransactions] rather than leave it to the
// compiler.
// opts may be nil.
func New(store chronicle.Store, opts *Options) (*Blog, error) {
	tx, ok := store.(projection.TxStore)
	if !ok {
		return nil, fmt.Errorf("new blog: %w: %T keeps no tables beside its events; use the embedded SQLite store or PostgreSQL",
			ErrNoTransactions, store)
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	runner, err := projection.NewRunner(tx, o.Runner, PostsProjection(), OutboxProjection(o.Mail))
	if err != nil {
		return nil, fmt.Errorf("new blog: %w", err)
	}
	return &Blog{Service: NewService(tx), store: tx, runner: runner, now: o.Now}, nil
}

// Runner returns the runner of the blog's projections, for their status
// and lag.
func (b *Blog) Runner() *projection.Runner { return b.runner }

// CatchUp brings the read model and the outbox up to the last event
// committed when it is called.
func (b *Blog) CatchUp(ctx context.Context) error {
	if err := b.runner.CatchUp(ctx); err != nil {
		return fmt.Errorf("catch up the read model: %w", err)
	}
	return nil
}

// Run keeps the read model and the outbox up to date until ctx ends.
func (b *Blog) Run(ctx context.Context) error { return b.runner.Run(ctx) }

// Rebuild empties the table posts and replays every post's events into
// it; progress, if not nil, is told how far it got after each batch (see
// [projection.Runner.Rebuild]). The outbox is not rebuilt: it records the
// e-mails queued, which a replay must not queue again.
func (b *Blog) Rebuild(ctx context.Context, progress func(projection.Progress)) error {
	if err := b.runner.Rebuild(ctx, PostsProjectionName, progress); err != nil {
		return fmt.Errorf("rebuild: %w", err)
	}
	return nil
}

// ListPosts returns the posts of the read model, oldest first.
func (b *Blog) ListPosts(ctx context.Context, opts ListOptions) ([]PostView, error) {
	var out []PostView
	err := b.view(ctx, func(tx *sql.Tx) (err error) {
		out, err = listPosts(ctx, tx, opts)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list posts: %w", err)
	}
	return out, nil
}

// GetPost returns post id from the read model. A post that it does not
// hold gives an error matching [ErrPostNotFound].
func (b *Blog) GetPost(ctx context.Context, id uuid.UUID) (PostView, error) {
	var p PostView
	err := b.view(ctx, func(tx *sql.Tx) (err error) {
		p, err = getPost(ctx, tx, id)
		return err
	})
	if err != nil {
		return PostView{}, fmt.Errorf("get post %s: %w", id, err)
	}
	return p, nil
}

// Emails returns the confirmation e-mails in the outbox, sent or not,
// oldest first.
func (b *Blog) Emails(ctx context.Context) ([]Email, error) {
	var out []Email
	err := b.view(ctx, func(tx *sql.Tx) (err error) {
		out, err = listEmails(ctx, tx, false)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list e-mails: %w", err)
	}
	return out, nil
}

// SendEmails delivers the e-mails not sent yet by writing each to w, as
// a message (see [Email.Format]), and marks them sent, all in one
// transaction, and returns them. Should writing fail, none is marked;
// should the process die after writing and before the commit, they are
// delivered again the next time: delivery is at-least-once, while the
// queueing is exactly-once.
func (b *Blog) SendEmails(ctx context.Context, w io.Writer) ([]Email, error) {
	if err := b.setup(ctx); err != nil {
		return nil, fmt.Errorf("send e-mails: %w", err)
	}
	var sent []Email
	err := b.store.Update(ctx, func(tx *sql.Tx) (err error) {
		sent, err = send(ctx, tx, w, b.now())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("send e-mails: %w", err)
	}
	return sent, nil
}

// view runs fn in a read transaction, once the tables exist.
func (b *Blog) view(ctx context.Context, fn func(*sql.Tx) error) error {
	if err := b.setup(ctx); err != nil {
		return err
	}
	return b.store.View(ctx, fn)
}

// setup makes sure the tables exist, which the runner's Setup does: a
// query on a new store finds empty tables rather than none.
func (b *Blog) setup(ctx context.Context) error {
	_, err := b.runner.Status(ctx)
	return err
}
