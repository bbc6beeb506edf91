-- Version 5: the log remembers its head in log_state, not through
-- AUTOINCREMENT.
--
-- AUTOINCREMENT kept the highest position ever used in sqlite_sequence,
-- so that a scavenge that removed the newest events never let a position
-- be handed out twice. It did so at a cost to every append: each INSERT
-- also updated sqlite_sequence, one more page written to the WAL at
-- every commit (a fifth of a lone append's pages). Only a deletion can
-- lose the head, so a trigger on deletions now writes it down, and the
-- head is the larger of that and the last position in events.
--
-- After this script, dropAutoincrement (migrate.go) takes AUTOINCREMENT
-- out of the table's definition in place, and marks the sqlite_sequence
-- row that processes still running older code read their head from.

-- log_state holds the highest position ever used, once a scavenge has
-- run. The writer's head is max(head, the last position in events).
CREATE TABLE log_state (
	id   INTEGER PRIMARY KEY CHECK (id = 1),
	head INTEGER NOT NULL
);
INSERT INTO log_state (id, head) SELECT 1, seq FROM sqlite_sequence WHERE name = 'events';

-- Whatever deletes events (a scavenge, an application's own SQL through
-- Update, a process still running older code) leaves the highest
-- position it removed in log_state, so that the writer never hands it
-- out again. Only the deletion of the log's newest event writes. The
-- trigger runs for every deleted event all the same: it made a scavenge
-- of 199,000 events 35-40% slower (1.3-1.7 s -> 1.8-2.4 s), a price
-- paid by deletions, which are rare, rather than by every append.
CREATE TRIGGER events_keep_head AFTER DELETE ON events
WHEN old.position > coalesce((SELECT max(position) FROM events), 0)
BEGIN
	INSERT INTO log_state (id, head) VALUES (1, old.position)
	ON CONFLICT (id) DO UPDATE SET head = max(head, excluded.head);
END;
