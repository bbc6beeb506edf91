-- Version 7: streams_meta remembers where a soft delete let the stream
-- go on.
--
-- restart is the revision after the last one that the stream's latest
-- soft delete hid: metadata set on the deleted stream is raised to it
-- (truncate_before alone cannot say it, since a delete keeps a larger
-- one that metadata set), and once the stream is written again it is
-- the first revision of its new events, where a retry of the append
-- that expected no stream finds them. 0 for a stream never
-- soft-deleted.
ALTER TABLE streams_meta ADD COLUMN restart INTEGER NOT NULL DEFAULT 0;

-- Up to version 6 a soft delete set truncate_before to what it hid; for
-- a stream still deleted, that is where its revisions go on. Of a
-- stream written again since, where that began is not known: its
-- retries are recognised as before.
UPDATE streams_meta SET restart = max(next_revision,
	coalesce((SELECT max(e.revision) + 1 FROM events e JOIN stream_ids i ON i.id = e.stream_id
		WHERE i.name = streams_meta.stream), 0))
WHERE deleted = 1;
