-- Version 5: the log remembers its head in log_state, not through
-- AUTOINCREMENT.
--
-- AUTOINCREMENT kept the highest position ever used in sqlite_sequence,
-- so that a scavenge that removed the newest events never let a position
-- be handed out twice. It did so at a cost to every append: each INSERT
-- also updated sqlite_sequence, one more page written to the WAL at
-- every commit (a fifth of a lone append's pages). Only a scavenge can
-- remove the newest events, so it now writes the head down itself before
-- it deletes, and the head is the larger of that and the last position
-- in events.

-- log_state holds the highest position ever used, once a scavenge has
-- run. The writer's head is max(head, the last position in events).
CREATE TABLE log_state (
	id   INTEGER PRIMARY KEY CHECK (id = 1),
	head INTEGER NOT NULL
);
INSERT INTO log_state (id, head) SELECT 1, seq FROM sqlite_sequence WHERE name = 'events';

-- SQLite cannot drop AUTOINCREMENT from a table: copy the events into a
-- table without it, in position order, and build the indexes again.
CREATE TABLE events_v5 (
	position INTEGER PRIMARY KEY,
	stream   TEXT    NOT NULL,
	revision INTEGER NOT NULL,
	id       BLOB    NOT NULL,
	type     TEXT    NOT NULL,
	data     BLOB    NOT NULL,
	metadata BLOB,
	recorded INTEGER NOT NULL -- microseconds since the Unix epoch, UTC
);
INSERT INTO events_v5 (position, stream, revision, id, type, data, metadata, recorded)
SELECT position, stream, revision, id, type, data, metadata, recorded FROM events ORDER BY position;
DROP TABLE events;
ALTER TABLE events_v5 RENAME TO events;
CREATE UNIQUE INDEX events_stream_revision ON events(stream, revision);
CREATE INDEX events_id ON events(id);
