// Package blog is the blog of the event-sourcing examples, on Chronicle:
// commands, a CQRS read model kept by a projection, and a side effect
// that happens once per published post.
//
// # Writing
//
// A post is the stream "post-<uuid>", with the events
//
//	PostWasCreated    {"title": "Hello", "content": "..."}
//	PostWasPublished  {}
//
// The commands [CreatePost] and [PublishPost] are decided by a
// [chronicle.Decider] ([NewDecider]) on the post's events: a post needs a
// title; publishing a post that does not exist ([ErrPostNotFound]) or is
// already published ([ErrAlreadyPublished]) is refused, and writes no
// event. [Service] runs them against any [chronicle.Store].
//
// # Reading
//
// Queries never read the events. A projection ([PostsProjection]) keeps
// the table posts in the store's own database, and [Blog.ListPosts] and
// [Blog.GetPost] read it. The projection's writes commit in the
// transaction that records its checkpoint, so after any crash the table
// reflects every event up to the checkpoint exactly once, and a rebuild
// ([Blog.Rebuild]) gives the same table.
//
// The read models show the history that the log shows. A post whose
// creation is not in the log, because it was pruned by the stream's
// metadata (TruncateBefore, MaxCount, MaxAge) and then scavenged, or
// because another tool wrote a publication alone, is no post: its
// publication changes no row and queues no e-mail, as publishing it is
// refused with [ErrPostNotFound]. A post applied before its creation was
// pruned stays in the table posts until a rebuild.
//
// # Events the blog cannot read
//
// A post's stream may hold an event that this version of the blog cannot
// read: of a type it does not know, of a newer schema version, or with
// data that does not decode, written by a newer version of the blog or by
// another tool. The projections do not pass over it, since it may change a
// post (a newer version's retitling, say, or an unpublishing) and a read
// model that went past it would be wrong for good: for this version, and
// for a newer one that keeps the projections' names, and so their
// checkpoints. They stop on it at once, without retrying, with an error
// that matches [ErrUnreadableEvent] and [projection.ErrPermanent] and is a
// [*projection.Error], which names its stream, revision and position, and
// they resume at it once it reads. Meanwhile the commands of [Service]
// still write, since they read no more than their own post's stream, and
// the queries read the read model as it was. To go on, run a version of
// the blog that reads the event; or, when it is none of the blog's, remove
// the post: delete its stream, scavenge the store, and rebuild. Streams of
// the category that are not a post's, such as "post-office", are none of
// the blog's business, and left alone. A post that reads but breaks a rule
// is shown as it is, but for a NUL character in its title or content,
// which PostgreSQL cannot keep: the read models show U+FFFD in its place,
// on every store.
//
// # The confirmation e-mail
//
// Publishing a post queues a confirmation e-mail in the table outbox,
// written by another transactional projection ([OutboxProjection]) and
// keyed on the post: whatever the crashes, restarts and rebuilds, each
// published post has exactly one e-mail queued. [Blog.SendEmails]
// delivers queued e-mails and marks them sent in one transaction; a
// crash while delivering delivers the e-mails of that transaction again,
// so delivery itself is at-least-once, as any effect outside the
// database is (see package workflow).
//
// Because its read models live beside the events, a [Blog] needs a store
// with transactions, a [projection.TxStore]: the embedded SQLite store or
// the PostgreSQL store; the in-memory store is not one. Its SQL is plain
// enough for both.
package blog
