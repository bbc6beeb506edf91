-- Version 3: retention and deletion.

-- streams_meta holds the streams that have metadata, or were deleted. A
-- stream without a row has neither. truncate_before also remembers where
-- a stream's revisions go on when a scavenge has removed all its events.
CREATE TABLE streams_meta (
	stream          TEXT PRIMARY KEY,
	max_age_us      INTEGER NOT NULL DEFAULT 0,
	max_count       INTEGER NOT NULL DEFAULT 0,
	truncate_before INTEGER NOT NULL DEFAULT 0,
	deleted         INTEGER NOT NULL DEFAULT 0 -- 0 no, 1 soft-deleted, 2 tombstoned
) WITHOUT ROWID;

-- scavenge_state lets an interrupted scavenge resume: it holds the last
-- stream whose hidden events were removed.
CREATE TABLE scavenge_state (
	id    INTEGER PRIMARY KEY CHECK (id = 1),
	after TEXT NOT NULL
);
