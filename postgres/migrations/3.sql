-- Version 3: streams_meta remembers where a soft delete let the stream
-- go on.
--
-- Like version 1, it runs with search_path set to the store's schema.
--
-- restart is the revision after the last one that the stream's latest
-- soft delete hid: metadata set on the deleted stream is raised to it
-- (truncate_before alone cannot say it, since a delete keeps a larger
-- one that metadata set), and once the stream is written again it is
-- the first revision of its new events, where a retry of the append
-- that expected no stream finds them. 0 for a stream never
-- soft-deleted.
ALTER TABLE streams_meta ADD COLUMN restart bigint NOT NULL DEFAULT 0;

-- Up to version 2 a soft delete set truncate_before to what it hid; for
-- a stream still deleted, that is where its revisions go on. Of a
-- stream written again since, where that began is not known: its
-- retries are recognised as before.
UPDATE streams_meta m SET restart = greatest(m.next_revision,
	coalesce((SELECT max(e.revision) + 1 FROM events e WHERE e.stream = m.stream), 0))
WHERE m.deleted = 1;
