-- Version 4: metadata no longer moves a stream's revisions.
--
-- Up to version 3, truncate_before also remembered where a stream's
-- revisions go on once a scavenge had removed all its events, so a
-- truncate-before past the end of a stream, or set before the stream had
-- events, moved its next revision up to it. next_revision now keeps that
-- alone: an append numbers its events from the larger of it and the last
-- revision in events, plus one, and truncate_before is only what
-- SetStreamMetadata set, or what a soft delete hid.
ALTER TABLE streams_meta ADD COLUMN next_revision INTEGER NOT NULL DEFAULT 0;

-- A stream without events may be one that a scavenge emptied, whose
-- revisions must not be handed out again: keep where they went on.
UPDATE streams_meta SET next_revision = truncate_before
WHERE NOT EXISTS (SELECT 1 FROM events WHERE events.stream = streams_meta.stream);
