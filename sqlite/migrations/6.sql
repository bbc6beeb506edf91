-- Version 6: streams get numbers, and the index of streams is by number.
--
-- Up to version 5 the index that reading a stream and checking its
-- revisions use was on (stream, revision), by name. Names such as
-- "game-" and a random UUID put each append's index entry at a random
-- leaf page, so a commit of appends to many streams wrote as many pages
-- of the index to the WAL. Numbered in order of creation, the streams in
-- use now are mostly the newer ones, whose entries share the last few
-- leaf pages: for Connect Four's events, 64 games in play, SQLite's
-- commit of one event of each costs half the CPU it did
-- (docs/benchmarks.md).
--
-- stream_ids holds a number per name. A row is written once, when the
-- stream's first event is appended, and never changed, so appends to an
-- existing stream do not write to it (the reason migration 1 had no
-- table of streams). A scavenge that removes a stream's last event
-- removes its number too; the stream's next event gives it a new one.
--
-- migrate.go runs this script with the application's own triggers on
-- events set aside, so that the UPDATE below fires none of them, and
-- makes stream_id NOT NULL afterwards (see editEvents).
CREATE TABLE stream_ids (
	id   INTEGER PRIMARY KEY,
	name TEXT NOT NULL UNIQUE
);

-- Numbered in the order of their first events.
INSERT INTO stream_ids (name) SELECT stream FROM events GROUP BY stream ORDER BY min(position);

-- events keeps the stream's name too, so that reading the log needs no
-- join. stream_id becomes NOT NULL once every row has its number: SQL of
-- an application's own that inserts an event without one fails, rather
-- than add an event that no read of its stream would find.
ALTER TABLE events ADD COLUMN stream_id INTEGER;
DROP INDEX events_stream_revision;
UPDATE events SET stream_id = (SELECT id FROM stream_ids WHERE name = events.stream);

-- Reading a stream, finding its last revision, and the guard against two
-- events at one revision.
CREATE UNIQUE INDEX events_stream_revision ON events(stream_id, revision);
