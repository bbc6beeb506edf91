-- Version 2: snapshots, retention and deletion.
--
-- Like version 1, it runs with search_path set to the store's schema.

-- snapshots holds the newest snapshot of each stream, apart from the
-- events, so that saving one never touches the log.
CREATE TABLE snapshots (
	stream   text    PRIMARY KEY,
	revision bigint  NOT NULL,
	type     text    NOT NULL,
	version  integer NOT NULL,
	data     bytea   NOT NULL
);

-- streams_meta holds the streams that have metadata, or were deleted; a
-- stream without a row has neither.
--
-- next_revision remembers where a stream's revisions go on once a
-- scavenge has removed its last events, which the events table alone
-- would forget: an append numbers its events from the larger of it and
-- the last revision in events, plus one.
CREATE TABLE streams_meta (
	stream          text     PRIMARY KEY,
	max_age_us      bigint   NOT NULL DEFAULT 0,
	max_count       bigint   NOT NULL DEFAULT 0,
	truncate_before bigint   NOT NULL DEFAULT 0,
	-- 0: no; 1: soft-deleted; 2: tombstoned.
	deleted         smallint NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1, 2)),
	next_revision   bigint   NOT NULL DEFAULT 0
);

-- scavenge_state lets an interrupted scavenge resume: it holds the last
-- stream whose hidden events were removed. Streams are scavenged in byte
-- order (COLLATE "C"), which is how the store compares the names.
CREATE TABLE scavenge_state (
	singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
	after     text    NOT NULL
);

-- meta_version counts the deletions. An append reads it with the states
-- of its streams, before it takes the head lock, and its insert goes
-- ahead only if it has not moved by the time it holds the lock: a delete,
-- which takes the same lock to bump it, cannot slip in between an
-- append's check and its commit unseen.
ALTER TABLE head ADD COLUMN meta_version bigint NOT NULL DEFAULT 0;
