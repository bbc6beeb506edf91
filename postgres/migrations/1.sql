-- Version 1: the global log, and the head row that orders it.
--
-- The store runs this script with search_path set to its own schema, so
-- the names below are unqualified.

-- events is the global log. position is assigned inside the appending
-- transaction while it holds the lock on the head row, and that lock is
-- held until commit: positions are gapless, and their order is the order
-- of commits.
--
-- There is no table of streams: a stream is its events, and its state
-- (its last revision) is one backward seek in events_stream_revision.
CREATE TABLE events (
	position bigint      PRIMARY KEY,
	stream   text        NOT NULL,
	revision bigint      NOT NULL,
	id       uuid        NOT NULL,
	type     text        NOT NULL,
	data     bytea       NOT NULL,
	-- The JSON object that chronicle.MarshalMetadata wrote, kept as bytes
	-- so that it reads back exactly (jsonb refuses "\u0000"); query it
	-- with convert_from(metadata, 'UTF8')::json.
	metadata bytea,
	-- The database's clock when the append took the head lock, so that
	-- it grows with position whatever the clocks of the writing machines.
	recorded timestamptz NOT NULL,
	-- Reading a stream, finding its last revision, and the guard against
	-- two events at one revision: an append that checked a stream's state
	-- before another process appended to it fails here, and is checked
	-- again under the lock.
	CONSTRAINT events_stream_revision UNIQUE (stream, revision)
);

-- Recognising a retried append by its event IDs. UUIDv7 IDs are ordered
-- by time, so new entries land at the end of this index.
CREATE INDEX events_id ON events (id);

-- head holds the last position given out: one row, whose row lock every
-- append takes, as late as it can, to number its events. Its value equals
-- max(events.position) in every committed state.
CREATE TABLE head (
	singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
	position  bigint  NOT NULL
);
INSERT INTO head (position) VALUES (0);
