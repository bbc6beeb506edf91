package postgres

import (
	"strconv"
	"strings"

	"github.com/chronicle-es/chronicle"
	"github.com/jackc/pgx/v5"
)

const eventColumns = "position, stream, revision, id, type, data, metadata, recorded"

// queries holds the statements of one schema, with its name quoted, built
// once at Open.
type queries struct {
	schema string

	// The writer's.
	states, eventsAt, findID, lockHead, insert, notify string

	// The readers'.
	streamForward, streamBackward, page, allBackward string

	// Snapshots, retention and deletion.
	lockSnapshot, saveSnapshot, loadSnapshot, hasEvent     string
	setMeta, getMeta, bumpMeta, deleteState, markDeleted   string
	dropSnapshot, scavengeStreams, scavengeAfter           string
	scavengeMeta, scavengeLast, scavengeBelow, scavengeAge string
	scavengeNext, scavengeMark, scavengeDone, scavengeTail string
	rescavenge                                             string

	// Listing streams.
	listStreams, listRecentStreams, countStreams string

	// The first statement of an Update's transaction.
	beginUpdate string
}

func newQueries(schema string) queries {
	q := queries{schema: schema}
	events, head := q.table("events"), q.table("head")
	meta, snapshots, scavenge := q.table("streams_meta"), q.table("snapshots"), q.table("scavenge_state")
	// Every update of the head row says which schema version this code
	// knows; the row's trigger refuses it once the schema is at another
	// (see migrations/4.sql). The writes that leave the row alone read its
	// schema_version instead, as the first of the store's tables they
	// lock (see Store.migrate), and the store refuses them itself.
	current := strconv.Itoa(schemaVersion)
	written := ", written_by = " + current

	// The state of each stream of a batch (its last revision in events,
	// whether it is deleted, where its revisions go on, and where they
	// went on after its latest soft delete), where the
	// first event ID of each append already is in its stream (for retries
	// with Any or StreamExists, recognised by that ID; ids holds NULL for
	// the others), and the head's meta_version, all in one snapshot.
	q.states = `SELECT r.last, f.revision, coalesce(m.deleted, 0), coalesce(m.next_revision, 0), coalesce(m.restart, 0), h.meta_version
FROM unnest($1::text[], $2::uuid[]) WITH ORDINALITY AS q(stream, id, i)
CROSS JOIN (SELECT meta_version FROM ` + head + ` LIMIT 1) h
LEFT JOIN ` + meta + ` m ON m.stream = q.stream
LEFT JOIN LATERAL (SELECT revision AS last FROM ` + events + ` WHERE stream = q.stream ORDER BY revision DESC LIMIT 1) r ON true
LEFT JOIN LATERAL (SELECT revision FROM ` + events + ` WHERE stream = q.stream AND id = q.id ORDER BY revision LIMIT 1) f ON true
ORDER BY q.i`
	q.eventsAt = "SELECT id, position, revision FROM " + events + " WHERE stream = $1 AND revision >= $2 ORDER BY revision LIMIT $3"
	q.findID = "SELECT revision FROM " + events + " WHERE id = $1 AND stream = $2 ORDER BY revision LIMIT 1"
	q.lockHead = "SELECT position FROM " + head + " FOR UPDATE"
	// Taking the head lock, numbering and inserting the batch, in one
	// statement: the UPDATE waits for the lock and then reads the newest
	// head (READ COMMITTED re-reads a row it waited for), so the numbers
	// follow every commit before this one. recorded is taken under the
	// lock too, so that it grows with position.
	//
	// The head is updated only if its meta_version is still the one read
	// with the streams' states ($8): if a delete came in between, nothing
	// is written, the statement returns NULL, and the batch is checked
	// again under the lock. Appending to a soft-deleted stream brings it
	// back ($9 names those streams).
	q.insert = `WITH h AS (
	UPDATE ` + head + ` SET position = position + $1` + written + ` WHERE meta_version = $8
	RETURNING position - $1 AS base, clock_timestamp() AS at
), ins AS (
	INSERT INTO ` + events + ` (` + eventColumns + `)
	SELECT h.base + e.ord, e.stream, e.revision, e.id, e.type, e.data, e.metadata, h.at
	FROM h, unnest($2::text[], $3::bigint[], $4::uuid[], $5::text[], $6::bytea[], $7::bytea[])
		WITH ORDINALITY AS e(stream, revision, id, type, data, metadata, ord)
), undelete AS (
	UPDATE ` + meta + ` SET deleted = 0 FROM h WHERE stream = ANY($9::text[]) AND deleted = 1
)
SELECT (SELECT base FROM h)`
	q.notify = "SELECT pg_notify($1, position::text) FROM " + head

	// view is what stream $1 shows to reads, in one row: whether it is
	// deleted, whether it exists, and its lowest revision and oldest
	// recorded time that reads return.
	view := `SELECT coalesce(m.deleted, 0) AS deleted,
		l.last IS NOT NULL OR coalesce(m.next_revision, 0) > 0 AS present,
		greatest(coalesce(m.truncate_before, 0), CASE WHEN m.max_count > 0 THEN l.last + 1 - m.max_count
			ELSE 0 END) AS lowest,
		CASE WHEN m.max_age_us > 0 THEN clock_timestamp() - m.max_age_us * interval '1 microsecond'
			ELSE '-infinity'::timestamptz END AS oldest
	FROM (SELECT (SELECT revision FROM ` + events + ` WHERE stream = $1 ORDER BY revision DESC LIMIT 1) AS last) l
		LEFT JOIN ` + meta + ` m ON m.stream = $1`

	// A page of a stream, with the stream's deletion state and whether it
	// exists (it has events, or had events that a scavenge removed), in
	// the page's own snapshot. The stream's metadata (one row, of zeros
	// when it has none) decides which events are visible, so retention
	// hides events at once, before a scavenge removes them. The stream's
	// last revision, one backward seek of its index, says both whether it
	// has events and where a max count cuts (an EXISTS instead was
	// planned as a scan of the whole table on a connection's first runs
	// of the statement). The LEFT JOIN yields the metadata row alone when
	// no event qualifies. %s is the condition on revision and the order.
	streamPage := `SELECT v.deleted, v.present, e.* FROM (
	` + view + `
) v LEFT JOIN LATERAL (
	SELECT ` + eventColumns + ` FROM ` + events + `
	WHERE v.deleted = 0 AND stream = $1 AND revision >= v.lowest AND recorded >= v.oldest AND %s LIMIT $3
) e ON true`
	q.streamForward = fill(streamPage, "revision >= $2 ORDER BY revision")
	q.streamBackward = fill(streamPage, "revision <= $2 ORDER BY revision DESC")
	// page reads the head and the events up to it in one statement, so in
	// one snapshot: the events at or below a committed head are all
	// committed (see the package doc), so "examined up to head" holds even
	// when a filter leaves the page short. The filter's conditions replace
	// %s; the head row comes back alone when no event qualifies.
	// The LIMIT tells the planner that head has one row, which it cannot
	// know before the table is analysed.
	q.page = `SELECT h.position, e.* FROM (SELECT position FROM ` + head + ` LIMIT 1) h LEFT JOIN LATERAL (
	SELECT ` + eventColumns + ` FROM ` + events + ` WHERE position >= $1 AND position <= h.position%s ORDER BY position LIMIT $2
) e ON true`
	q.allBackward = "SELECT " + eventColumns + " FROM " + events + " WHERE position <= $1%s ORDER BY position DESC LIMIT $2"

	// lockSnapshot takes the snapshot lock of one stream (see
	// snapshotLockClass) until the transaction ends.
	q.lockSnapshot = "SELECT pg_advisory_xact_lock($1, hashtext($2))"
	// saveSnapshot keeps a snapshot of stream $1 at revision $2 if a read
	// returns the event there, and returns the stream's deletion state
	// and whether a read does. It runs after lockSnapshot, as a statement
	// of its own, so that it sees what a delete committed before it.
	q.saveSnapshot = `WITH h AS (
	SELECT schema_version FROM ` + head + `
), v AS (
	` + view + `
), c AS (
	SELECT v.deleted, v.deleted = 0 AND EXISTS (SELECT 1 FROM ` + events + `
		WHERE stream = $1 AND revision = $2 AND revision >= v.lowest AND recorded >= v.oldest) AS visible
	FROM v
), saved AS (
	INSERT INTO ` + snapshots + ` (stream, revision, type, version, data)
	SELECT $1, $2, $3::text, $4::integer, $5::bytea FROM h, c WHERE h.schema_version = ` + current + ` AND c.visible
	ON CONFLICT (stream) DO UPDATE SET revision = excluded.revision, type = excluded.type, version = excluded.version, data = excluded.data
	WHERE excluded.revision >= ` + snapshots + `.revision
)
SELECT h.schema_version, c.deleted, c.visible FROM h, c`
	q.loadSnapshot = "SELECT revision, type, version, data FROM " + snapshots + " WHERE stream = $1"
	q.hasEvent = "SELECT EXISTS (SELECT 1 FROM " + events + " WHERE id = $1 AND stream = $2)"

	// Setting metadata needs no head lock: it changes no append's check.
	// The row lock of the upsert orders it with deletes, and a
	// soft-deleted stream keeps hiding what its delete hid: up to its
	// restart, read from the row as the upsert locked it, after a delete
	// it waited for. A process still running the code of version 2
	// soft-deleted without setting restart, until version 4 stopped such
	// processes from writing: for those deletes, where the stream's
	// revisions go on, as no append has followed the delete (as of the
	// statement's snapshot, which may predate a delete it waited for:
	// restart covers that case for this version's). It returns the
	// schema's version, and whether the row was written: not when the
	// stream is tombstoned.
	// rescavenge moves the resume point of an interrupted scavenge back
	// to before stream $1, whose metadata or deletion changes: a
	// scavenge that resumes it must scavenge that stream again, as what
	// it hides now must be gone once that scavenge returns. Streams
	// compare in byte order, as the scavenge walks them.
	rescavenge := `UPDATE ` + scavenge + ` SET after = coalesce((SELECT max(stream COLLATE "C") FROM ` + meta + `
		WHERE stream COLLATE "C" < $1 COLLATE "C"), '') WHERE after COLLATE "C" >= $1 COLLATE "C"`
	q.rescavenge = rescavenge
	q.setMeta = `WITH h AS (
	SELECT schema_version FROM ` + head + `
), up AS (
	INSERT INTO ` + meta + ` AS m (stream, max_age_us, max_count, truncate_before)
	SELECT $1, $2, $3, $4 FROM h WHERE h.schema_version = ` + current + `
	ON CONFLICT (stream) DO UPDATE SET max_age_us = excluded.max_age_us, max_count = excluded.max_count,
		truncate_before = CASE WHEN m.deleted = 1 THEN greatest(excluded.truncate_before, m.restart, m.next_revision,
			(SELECT revision + 1 FROM ` + events + ` WHERE stream = m.stream ORDER BY revision DESC LIMIT 1))
		ELSE excluded.truncate_before END
	WHERE m.deleted <> 2
	RETURNING 1
), rescavenge AS (
	` + rescavenge + ` AND EXISTS (SELECT 1 FROM up)
)
SELECT h.schema_version, EXISTS (SELECT 1 FROM up) FROM h`
	q.getMeta = "SELECT max_age_us, max_count, truncate_before, deleted FROM " + meta + " WHERE stream = $1"
	q.bumpMeta = "UPDATE " + head + " SET meta_version = meta_version + 1" + written
	q.deleteState = `SELECT (SELECT revision FROM ` + events + ` WHERE stream = $1 ORDER BY revision DESC LIMIT 1),
	coalesce(m.deleted, 0), coalesce(m.next_revision, 0)
FROM (SELECT 1) one LEFT JOIN ` + meta + ` m ON m.stream = $1`
	// A delete never reveals what metadata hid past the stream's end.
	q.markDeleted = `INSERT INTO ` + meta + ` AS m (stream, truncate_before, deleted, restart) VALUES ($1, $2, $3, $2)
ON CONFLICT (stream) DO UPDATE SET truncate_before = greatest(m.truncate_before, excluded.truncate_before),
	deleted = excluded.deleted, restart = excluded.restart`
	q.dropSnapshot = "DELETE FROM " + snapshots + " WHERE stream = $1"

	// Streams are scavenged in byte order, as Go compares their names.
	q.scavengeStreams = `SELECT stream FROM ` + meta + ` ORDER BY stream COLLATE "C"`
	q.scavengeAfter = "SELECT after FROM " + scavenge
	q.scavengeMeta = "SELECT h.schema_version, m.max_age_us, m.max_count, m.truncate_before, m.deleted FROM " + head + " h, " + meta + " m WHERE m.stream = $1 FOR UPDATE OF m"
	q.scavengeLast = "SELECT revision FROM " + events + " WHERE stream = $1 ORDER BY revision DESC LIMIT 1"
	q.scavengeBelow = "DELETE FROM " + events + " WHERE stream = $1 AND revision < $2"
	q.scavengeAge = "DELETE FROM " + events + " WHERE stream = $1 AND recorded < clock_timestamp() - $2::float8 * interval '1 microsecond' AND revision < $3"
	// scavengeTail moves meta_version, and so takes the head lock, when
	// the scavenge of a live stream will remove its last event (see
	// scavengeStream); it returns no row when it will not.
	q.scavengeTail = `UPDATE ` + head + ` SET meta_version = meta_version + 1` + written + `
WHERE EXISTS (SELECT 1 FROM ` + meta + ` m, LATERAL (SELECT revision, recorded FROM ` + events + `
		WHERE stream = m.stream ORDER BY revision DESC LIMIT 1) l
	WHERE m.stream = $1 AND m.deleted = 0 AND (m.truncate_before > l.revision
		OR m.max_age_us > 0 AND l.recorded < clock_timestamp() - m.max_age_us * interval '1 microsecond'))
RETURNING true`
	q.scavengeNext = "UPDATE " + meta + " SET next_revision = greatest(next_revision, $2) WHERE stream = $1"
	// scavengeMark moves the resume point from $2, where the scavenge
	// last left it, to $1; one moved back since (see rescavenge) stays.
	q.scavengeMark = "INSERT INTO " + scavenge + " AS sc (after) VALUES ($1) ON CONFLICT (singleton) DO UPDATE SET after = excluded.after WHERE sc.after = $2"
	q.scavengeDone = "DELETE FROM " + scavenge

	// Each stream's last event is one backward step in the
	// events_stream_revision index (DISTINCT ON keeps the first row of
	// each stream in that order); deleted streams are left out. A NULL
	// limit is no limit. The position bound (Before) is cast, here and
	// below: compared with the literal 0 first, it would be taken for an
	// integer of 32 bits, and a Before past 2^31-1 refused.
	notDeleted := "NOT EXISTS (SELECT 1 FROM " + meta + " m WHERE m.stream = s.stream AND m.deleted <> 0)"
	q.listStreams = `SELECT stream, revision, position, recorded FROM (
	SELECT DISTINCT ON (stream) stream, revision, position, recorded FROM ` + events + `
	WHERE left(stream, length($1)) = $1
	  AND ($2 = '' OR strpos($2, '-') = 0 AND (stream = $2 OR left(stream, length($2) + 1) = $2 || '-'))
	ORDER BY stream, revision DESC
) s
WHERE ($3::bigint = 0 OR position < $3::bigint) AND ` + notDeleted + `
ORDER BY position DESC
LIMIT $4`
	// Without a filter, walking the log back from the end and keeping
	// each stream's last event finds the streams written last after as
	// many events as were written since, whatever the store's size.
	q.listRecentStreams = `SELECT s.stream, s.revision, s.position, s.recorded FROM ` + events + ` s
WHERE ($1::bigint = 0 OR s.position < $1::bigint)
  AND s.revision = (SELECT max(revision) FROM ` + events + ` WHERE stream = s.stream)
  AND ` + notDeleted + `
ORDER BY s.position DESC
LIMIT $2`
	q.countStreams = `SELECT
	(SELECT count(*) FROM (SELECT DISTINCT stream FROM ` + events + `) s WHERE ` + notDeleted + `),
	(SELECT count(*) FROM ` + events + `)`

	// beginUpdate takes the update lock ($2, $3), sets the search path
	// ($1) for the transaction, and returns the schema's version. Reading
	// the head row takes a lock on the table that the transaction keeps:
	// a migration, which takes the table exclusively first, waits for the
	// transaction to end, and an Update that begins meanwhile waits for
	// the migration, then reads the version it recorded (see
	// Store.migrate): under READ COMMITTED, a statement takes its
	// snapshot once it holds its tables' locks.
	q.beginUpdate = "SELECT h.schema_version FROM " + head + " h, pg_advisory_xact_lock($2, hashtext($3)), set_config('search_path', $1, true)"
	return q
}

// table returns the quoted, schema-qualified name of one of the store's
// tables.
func (q queries) table(name string) string {
	return pgx.Identifier{q.schema, name}.Sanitize()
}

// fill replaces the %s of a statement template with cond. It replaces
// the last %s: the schema's name, quoted into the table names before it,
// may hold "%s" too.
func fill(template, cond string) string {
	i := strings.LastIndex(template, "%s")
	return template[:i] + cond + template[i+2:]
}

// filterSQL returns the conditions, each starting with " AND", that select
// what f selects, and their arguments, numbered from $first.
func filterSQL(f chronicle.Filter, first int) (string, []any) {
	var b strings.Builder
	var args []any
	param := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(first+len(args)-1)
	}
	if f.StreamPrefix != "" {
		// starts_with compares bytes, unlike LIKE, which would treat '%'
		// and '_' in the prefix as wildcards.
		b.WriteString(" AND starts_with(stream, " + param(f.StreamPrefix) + ")")
	}
	if len(f.Categories) > 0 {
		// split_part returns the whole name when it has no '-'.
		b.WriteString(" AND split_part(stream, '-', 1) = ANY(" + param(f.Categories) + "::text[])")
	}
	if len(f.Types) > 0 {
		b.WriteString(" AND type = ANY(" + param(f.Types) + "::text[])")
	}
	return b.String(), args
}
