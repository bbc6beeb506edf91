package kurrent

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/internal/esdbpb"
	"github.com/chronicle-es/chronicle/internal/maxage"
	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// The keys this package shares with package kurrentserver: custom
// metadata that is not a JSON object of strings travels as bytes and is
// kept base64-encoded under metaRaw, and a content type other than JSON
// under metaContentType.
const (
	metaRaw         = "$customMetadata"
	metaContentType = "$contentType"
	contentJSON     = "application/json"
)

// deadlineSkew is how close to the caller's deadline a DeadlineExceeded
// from the server counts as that deadline rather than the server's own.
const deadlineSkew = 100 * time.Millisecond

func uuidOf(u *esdbpb.UUID) (uuid.UUID, error) {
	switch v := u.GetValue().(type) {
	case *esdbpb.UUID_String_:
		return uuid.Parse(v.String_)
	case *esdbpb.UUID_Structured_:
		var id uuid.UUID
		binary.BigEndian.PutUint64(id[:8], uint64(v.Structured.GetMostSignificantBits()))
		binary.BigEndian.PutUint64(id[8:], uint64(v.Structured.GetLeastSignificantBits()))
		return id, nil
	}
	return uuid.UUID{}, errors.New("event without ID")
}

func streamID(name string) *esdbpb.StreamIdentifier {
	return &esdbpb.StreamIdentifier{StreamName: []byte(name)}
}

// proposedMessage turns an event into what the protocol appends.
func proposedMessage(e chronicle.EventData) (*esdbpb.AppendReq_ProposedMessage, error) {
	ct := contentJSON
	var custom []byte
	if m := e.Metadata; len(m) > 0 {
		if v, ok := m[metaContentType]; ok {
			ct = v
		}
		if raw, ok := m[metaRaw]; ok {
			b, err := base64.StdEncoding.DecodeString(raw)
			if err != nil {
				return nil, fmt.Errorf("%w: metadata %s is not base64: %v", chronicle.ErrInvalidEvent, metaRaw, err)
			}
			// The bytes are the whole of the custom metadata: other keys
			// would be lost without a word.
			for k := range m {
				if k != metaRaw && k != metaContentType {
					return nil, fmt.Errorf("%w: metadata %s, the event's custom metadata as bytes, cannot go with other keys such as %q: the protocol carries one or the other", chronicle.ErrInvalidEvent, metaRaw, k)
				}
			}
			custom = b
		} else {
			rest := make(chronicle.Metadata, len(m))
			for k, v := range m {
				if k != metaContentType {
					rest[k] = v
				}
			}
			b, err := chronicle.MarshalMetadata(rest)
			if err != nil {
				return nil, err
			}
			custom = b
		}
	}
	return &esdbpb.AppendReq_ProposedMessage{
		Id:             &esdbpb.UUID{Value: &esdbpb.UUID_String_{String_: e.ID.String()}},
		Metadata:       map[string]string{"type": e.Type, "content-type": ct},
		CustomMetadata: custom,
		Data:           e.Data,
	}, nil
}

// recorded turns an event read from the server into a Chronicle event.
func recorded(r *esdbpb.ReadResp_ReadEvent_RecordedEvent) (chronicle.RecordedEvent, error) {
	id, err := uuidOf(r.GetId())
	if err != nil {
		return chronicle.RecordedEvent{}, err
	}
	sys := r.GetMetadata()
	e := chronicle.RecordedEvent{
		Stream:   string(r.GetStreamIdentifier().GetStreamName()),
		Revision: r.GetStreamRevision(),
		Position: r.GetCommitPosition(),
		ID:       id,
		Type:     sys["type"],
		Data:     r.GetData(),
	}
	if ticks, err := strconv.ParseInt(sys["created"], 10, 64); err == nil {
		// .NET ticks (100 ns) since the Unix epoch.
		e.Recorded = time.UnixMicro(ticks / 10).UTC()
	}
	if custom := r.GetCustomMetadata(); len(custom) > 0 {
		m, err := chronicle.UnmarshalMetadata(custom)
		if err != nil || m[metaRaw] != "" || m[metaContentType] != "" {
			m = chronicle.Metadata{metaRaw: base64.StdEncoding.EncodeToString(custom)}
		}
		e.Metadata = m
	}
	if ct := sys["content-type"]; ct != "" && ct != contentJSON {
		e.Metadata = e.Metadata.With(metaContentType, ct)
	}
	return e, nil
}

// badInput holds the exceptions by which a server refuses bad input, and
// the error each stands for: KurrentDB's own for an append over its size
// limit, and the names that Chronicle's server (package kurrentserver)
// gives the others, for which KurrentDB has none.
var badInput = map[string]error{
	"maximum-append-size-exceeded": chronicle.ErrEventTooLarge,
	"invalid-stream-name":          chronicle.ErrInvalidStreamName,
	"invalid-event":                chronicle.ErrInvalidEvent,
}

// fromStatus turns an RPC error into Chronicle's errors, from the
// "exception" trailer that servers send with it.
func (s *Store) fromStatus(ctx context.Context, err error, op, stream string, exp chronicle.ExpectedRevision, trailer metadata.MD) error {
	if err == nil {
		return nil
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		// The call ended because the caller's context did.
		return ctxErr
	}
	if status.Code(err) == codes.DeadlineExceeded {
		// gRPC sends the caller's deadline to the server, and the server's
		// timer can end the call a moment before the context's own timer
		// fires here: still the caller's deadline.
		if d, ok := ctx.Deadline(); ok && time.Until(d) < deadlineSkew {
			return context.DeadlineExceeded
		}
	}
	get := func(k string) string {
		if v := trailer.Get(k); len(v) > 0 {
			return v[0]
		}
		return ""
	}
	switch get("exception") {
	case "wrong-expected-version":
		actual := chronicle.NoStream
		if rev, perr := strconv.ParseUint(get("actual-version"), 10, 64); perr == nil {
			actual = chronicle.Exact(rev)
		}
		return &chronicle.WrongExpectedRevisionError{Op: op, Stream: stream, Expected: exp, Actual: actual}
	case "stream-deleted":
		return &chronicle.StreamDeletedError{Stream: stream}
	case "stream-not-found":
		return &chronicle.StreamNotFoundError{Stream: stream}
	case "idempotency-conflict":
		return fmt.Errorf("%s %q: %w", op, stream, chronicle.ErrIdempotencyConflict)
	}
	if bad, ok := badInput[get("exception")]; ok {
		// The server's message says what was wrong: which event, its
		// size and the limit.
		return fmt.Errorf("kurrent: %s %q: %w; the server said: %s", op, stream, bad, status.Convert(err).Message())
	}
	if c := status.Code(err); s.closed.Load() && (c == codes.Canceled || c == codes.Unavailable) {
		// gRPC says only that the connection is closing.
		return fmt.Errorf("kurrent: %s %q: %w: %w", op, stream, chronicle.ErrClosed, err)
	}
	return fmt.Errorf("kurrent: %s %q: %w", op, stream, err)
}

// metadataJSON is m as the data of a "$metadata" event.
func metadataJSON(m chronicle.StreamMetadata) []byte {
	out := map[string]uint64{}
	if m.MaxAge > 0 {
		out["$maxAge"] = uint64(maxage.In(m.MaxAge, time.Second))
	}
	if m.MaxCount > 0 {
		out["$maxCount"] = m.MaxCount
	}
	if m.TruncateBefore > 0 {
		out["$tb"] = m.TruncateBefore
	}
	b, _ := json.Marshal(out)
	return b
}

// parseMetadata reads the settings Chronicle has from a "$metadata"
// event; other keys (ACLs, custom keys) are not Chronicle's.
func parseMetadata(data []byte) (chronicle.StreamMetadata, error) {
	var raw struct {
		MaxAge   *uint64 `json:"$maxAge"`
		MaxCount *uint64 `json:"$maxCount"`
		TB       *uint64 `json:"$tb"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return chronicle.StreamMetadata{}, fmt.Errorf("kurrent: stream metadata: %w", err)
	}
	var m chronicle.StreamMetadata
	if raw.MaxAge != nil {
		m.MaxAge = maxage.OfUnsigned(*raw.MaxAge, time.Second)
	}
	if raw.MaxCount != nil {
		m.MaxCount = *raw.MaxCount
	}
	if raw.TB != nil {
		m.TruncateBefore = *raw.TB
	}
	return m, nil
}
