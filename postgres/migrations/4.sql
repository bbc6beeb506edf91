-- Version 4: a process that runs older code stops writing to a schema
-- that a newer one has migrated.
--
-- Like version 1, it runs with search_path set to the store's schema.
--
-- PostgreSQL tells a process nothing when another migrates the schema
-- under it, and a process that opened the schema before goes on with its
-- own statements: up to version 3, a soft delete by a process of version
-- 2 left restart stale, for instance. From this version on, the head row
-- says which version the schema is at, and every update of the row (an
-- append, a delete, a scavenge that removes a stream's last event, a
-- migration) says which version the code that runs it knows, in
-- written_by. The trigger refuses an update whose two do not match, and
-- puts written_by back to NULL, so that an update that does not set it
-- (the code of versions 1 to 3) is refused too, with SQLSTATE CH001, a
-- code of its own. The store's writes that leave the head row alone
-- check schema_version themselves (see the package documentation,
-- "Schema").
--
-- A migration's script that updates the head row must set both columns
-- to the version it migrates to, as the store does when it records it.
ALTER TABLE head ADD COLUMN schema_version integer NOT NULL DEFAULT 0,
	ADD COLUMN written_by integer;

CREATE FUNCTION head_written_by_current() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF NEW.written_by IS DISTINCT FROM NEW.schema_version THEN
		RAISE EXCEPTION USING ERRCODE = 'CH001', MESSAGE = format(
			'schema "%s" was migrated to version %s by a newer Chronicle after this process opened it (this one knows version %s): restart this process with the newer Chronicle',
			TG_TABLE_SCHEMA, NEW.schema_version, coalesce(NEW.written_by::text, '3 or older'));
	END IF;
	NEW.written_by := NULL;
	RETURN NEW;
END
$$;

CREATE TRIGGER written_by_current BEFORE UPDATE ON head
	FOR EACH ROW EXECUTE FUNCTION head_written_by_current();
