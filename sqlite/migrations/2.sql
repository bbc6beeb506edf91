-- Version 2: snapshots, the newest one per stream, kept apart from the
-- events so that saving one never touches the log.
CREATE TABLE snapshots (
	stream   TEXT PRIMARY KEY,
	revision INTEGER NOT NULL,
	type     TEXT    NOT NULL,
	version  INTEGER NOT NULL,
	data     BLOB    NOT NULL
) WITHOUT ROWID;
