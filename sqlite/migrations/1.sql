-- Version 1: the global log.

-- events is the global log. position is the rowid, so that reading the
-- log in order walks the table itself, and it is assigned by the single
-- writer inside its write transaction: commit order is position order.
-- AUTOINCREMENT makes SQLite remember the highest position ever used (in
-- sqlite_sequence), so that a scavenge that removes the newest events
-- never lets a position be handed out twice.
--
-- There is no table of streams: a stream is its events, and its state
-- (its last revision) is one seek in events_stream_revision. Keeping a
-- row per stream up to date would cost every append a write to one more
-- B-tree page, at a random place.
CREATE TABLE events (
	position INTEGER PRIMARY KEY AUTOINCREMENT,
	stream   TEXT    NOT NULL,
	revision INTEGER NOT NULL,
	id       BLOB    NOT NULL,
	type     TEXT    NOT NULL,
	data     BLOB    NOT NULL,
	metadata BLOB,
	recorded INTEGER NOT NULL -- microseconds since the Unix epoch, UTC
);

-- Reading a stream, finding its last revision, and the guard against two
-- events at one revision.
CREATE UNIQUE INDEX events_stream_revision ON events(stream, revision);

-- Recognising a retried append by its event IDs. UUIDv7 IDs are ordered
-- by time, so new entries land at the end of this index.
CREATE INDEX events_id ON events(id);
