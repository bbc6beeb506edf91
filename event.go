package chronicle

import (
	"encoding/json"
	"time"

	"github.com/chronicle-es/chronicle/internal/jsonread"
	"github.com/google/uuid"
)

// EventData is an event as it is appended to a [Store]: a fact that
// happened, not yet given a place in a stream.
type EventData struct {
	// ID identifies the event. Appending the same IDs again at the same
	// place in a stream is acknowledged without writing them twice, so a
	// client may safely retry an append whose outcome it did not see,
	// also after the stream was soft-deleted, or deleted and started
	// again (see [Store.Append] for the rules). A zero ID is replaced by
	// a new UUIDv7 when the event is appended.
	ID uuid.UUID

	// Type names what happened, such as "MoveMade". It must not be empty.
	Type string

	// Data is the event's payload, JSON by convention.
	Data []byte

	// Metadata holds data about the event rather than about the domain,
	// such as correlation and causation IDs.
	Metadata Metadata
}

// RecordedEvent is an event as it is read back from a [Store].
type RecordedEvent struct {
	// Stream is the name of the stream the event belongs to.
	Stream string

	// Revision is the event's 0-based place in its stream. Revisions of a
	// stream are gapless: 0, 1, 2, ...
	Revision uint64

	// Position is the event's place in the store's global log, starting
	// at 1. Positions follow commit order: once a reader has seen position
	// p, every event that commits later gets a position above p, so a
	// checkpoint of p never skips an event. They are gapless, until a
	// scavenge (see [Scavenger]) removes events and leaves their
	// positions empty; positions are never reused.
	Position uint64

	// ID, Type, Data and Metadata are as appended, with the ID that the
	// store assigned if the append left it zero.
	ID       uuid.UUID
	Type     string
	Data     []byte
	Metadata Metadata

	// Recorded is when the store committed the event, in UTC, truncated to
	// the microsecond so that every store reports the same value.
	Recorded time.Time
}

// Metadata is the metadata of an event: a JSON object of string values.
// Keys starting with "$" are reserved for Chronicle; the correlation and
// causation IDs use the names that KurrentDB clients use.
//
// Values are strings, rather than arbitrary JSON, so that metadata reads
// back exactly as it was written. Keys and values are valid UTF-8: an
// append refuses others (see [PrepareAppend]).
type Metadata map[string]string

// Metadata keys with a meaning to Chronicle.
const (
	// MetadataCorrelationID groups the events caused, directly or not,
	// by one request.
	MetadataCorrelationID = "$correlationId"
	// MetadataCausationID names the event or command that caused this one.
	MetadataCausationID = "$causationId"
)

// CorrelationID reports the correlation ID, or "" when there is none.
func (m Metadata) CorrelationID() string { return m[MetadataCorrelationID] }

// CausationID reports the causation ID, or "" when there is none.
func (m Metadata) CausationID() string { return m[MetadataCausationID] }

// With returns a copy of m with key set to value. It leaves m unchanged,
// so a Metadata can be shared between events and extended per event.
func (m Metadata) With(key, value string) Metadata {
	out := make(Metadata, len(m)+1)
	for k, v := range m {
		out[k] = v
	}
	out[key] = value
	return out
}

// WithCorrelationID returns a copy of m with the correlation ID set.
func (m Metadata) WithCorrelationID(id string) Metadata {
	return m.With(MetadataCorrelationID, id)
}

// WithCausationID returns a copy of m with the causation ID set.
func (m Metadata) WithCausationID(id string) Metadata {
	return m.With(MetadataCausationID, id)
}

// CausedBy returns metadata for an event caused by cause: its causation
// ID is cause's ID and its correlation ID is cause's correlation ID, or
// cause's ID when cause starts a new chain.
func CausedBy(cause RecordedEvent) Metadata {
	corr := cause.Metadata.CorrelationID()
	if corr == "" {
		corr = cause.ID.String()
	}
	return Metadata{
		MetadataCorrelationID: corr,
		MetadataCausationID:   cause.ID.String(),
	}
}

// MarshalMetadata encodes m as a JSON object, or nil when m is empty, so
// that stores do not keep "{}" for every event without metadata.
func MarshalMetadata(m Metadata) ([]byte, error) {
	if len(m) == 0 {
		return nil, nil
	}
	return json.Marshal(m)
}

// UnmarshalMetadata decodes what [MarshalMetadata] produced. Empty input
// gives nil metadata.
func UnmarshalMetadata(b []byte) (Metadata, error) {
	if len(b) == 0 {
		return nil, nil
	}
	var m Metadata
	if err := jsonread.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	return m, nil
}
