package kurrentserver

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/internal/esdbpb"
	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// The protocol's system metadata keys of an event.
const (
	keyType        = "type"
	keyContentType = "content-type"
	keyCreated     = "created"
	contentJSON    = "application/json"
)

// Keys this package keeps in an event's chronicle.Metadata so that what a
// client wrote reads back exactly. Chronicle reserves "$" keys for itself.
const (
	// metaContentType holds the content type when it is not JSON, the
	// convention of Chronicle events.
	metaContentType = "$contentType"
	// metaRaw holds, base64-encoded, custom metadata that is not a JSON
	// object of strings, which is all that chronicle.Metadata holds.
	metaRaw = "$customMetadata"
)

func newID() uuid.UUID { return uuid.Must(uuid.NewV7()) }

// parseUUID reads a protocol UUID in either of its forms. A missing one
// gives the zero UUID, which the store replaces.
func parseUUID(u *esdbpb.UUID) (uuid.UUID, error) {
	switch v := u.GetValue().(type) {
	case nil:
		return uuid.UUID{}, nil
	case *esdbpb.UUID_String_:
		return uuid.Parse(v.String_)
	case *esdbpb.UUID_Structured_:
		var id uuid.UUID
		binary.BigEndian.PutUint64(id[:8], uint64(v.Structured.GetMostSignificantBits()))
		binary.BigEndian.PutUint64(id[8:], uint64(v.Structured.GetLeastSignificantBits()))
		return id, nil
	}
	return uuid.UUID{}, errors.New("unknown UUID form")
}

func uuidString(id uuid.UUID) *esdbpb.UUID {
	return &esdbpb.UUID{Value: &esdbpb.UUID_String_{String_: id.String()}}
}

func uuidStructured(id uuid.UUID) *esdbpb.UUID {
	return &esdbpb.UUID{Value: &esdbpb.UUID_Structured_{Structured: &esdbpb.UUID_Structured{
		MostSignificantBits:  int64(binary.BigEndian.Uint64(id[:8])),
		LeastSignificantBits: int64(binary.BigEndian.Uint64(id[8:])),
	}}}
}

func streamID(name string) *esdbpb.StreamIdentifier {
	return &esdbpb.StreamIdentifier{StreamName: []byte(name)}
}

// proposed is an event as a client proposes it, in either append call.
type proposed interface {
	GetId() *esdbpb.UUID
	GetMetadata() map[string]string
	GetCustomMetadata() []byte
	GetData() []byte
}

// eventData turns a proposed event into what a chronicle.Store appends.
func eventData(p proposed) (chronicle.EventData, error) {
	id, err := parseUUID(p.GetId())
	if err != nil {
		return chronicle.EventData{}, status.Errorf(codes.InvalidArgument, "bad event ID: %v", err)
	}
	sys := p.GetMetadata()
	for _, k := range requiredKeys {
		if _, ok := sys[k]; !ok {
			return chronicle.EventData{}, missingKeyError(k)
		}
	}
	e := chronicle.EventData{ID: id, Type: sys[keyType], Data: p.GetData()}
	custom := p.GetCustomMetadata()
	if len(custom) > 0 {
		m, err := chronicle.UnmarshalMetadata(custom)
		if err != nil || hasReserved(m) {
			// Not a JSON object of strings, or one that uses our keys:
			// keep the bytes as they are.
			m = chronicle.Metadata{metaRaw: base64.StdEncoding.EncodeToString(custom)}
		}
		e.Metadata = m
	}
	if ct := sys[keyContentType]; ct != "" && ct != contentJSON {
		e.Metadata = e.Metadata.With(metaContentType, ct)
	}
	return e, nil
}

// requiredKeys are the keys of a proposed event's metadata that the
// protocol requires: without a content type, an event could only be
// guessed to be JSON, and read back as if it were.
var requiredKeys = []string{keyType, keyContentType}

// missingKeyError refuses a proposed event without one of requiredKeys.
type missingKeyError string

func (k missingKeyError) Error() string {
	return fmt.Sprintf("the event's metadata has no %q: every proposed event needs %q and %q", string(k), keyType, keyContentType)
}

// GRPCStatus makes the error an InvalidArgument status.
func (k missingKeyError) GRPCStatus() *status.Status {
	return status.New(codes.InvalidArgument, k.Error())
}

// setExceptionTrailer sends, when err is a missingKeyError or an
// appendTooLarge, the trailer that the official clients turn into their
// error for it.
func setExceptionTrailer(ctx context.Context, err error) {
	var missing missingKeyError
	var large appendTooLarge
	switch {
	case errors.As(err, &missing):
		_ = grpc.SetTrailer(ctx, metadata.Pairs("exception", "missing-required-metadata-property",
			"required-metadata-properties", strings.Join(requiredKeys, ",")))
	case errors.As(err, &large):
		_ = grpc.SetTrailer(ctx, metadata.Pairs("exception", "maximum-append-size-exceeded",
			"maximum-append-size", strconv.Itoa(large.max)))
	}
}

// appendTooLarge refuses an append whose events take more than max
// bytes in all (see Options.MaxAppendSize).
type appendTooLarge struct{ max int }

func (e appendTooLarge) Error() string {
	return fmt.Sprintf("the append's events take more than %d bytes, the most this server takes in one append: "+
		"split it into smaller appends, or raise kurrentserver.Options.MaxAppendSize", e.max)
}

// GRPCStatus makes the error an InvalidArgument status.
func (e appendTooLarge) GRPCStatus() *status.Status {
	return status.New(codes.InvalidArgument, e.Error())
}

func hasReserved(m chronicle.Metadata) bool {
	_, raw := m[metaRaw]
	_, ct := m[metaContentType]
	return raw || ct
}

// recordedEvent turns a stored event into the protocol's form.
func recordedEvent(e chronicle.RecordedEvent, structured bool) *esdbpb.ReadResp_ReadEvent_RecordedEvent {
	ct := contentJSON
	var custom []byte
	if e.Metadata != nil {
		m := e.Metadata
		if v, ok := m[metaContentType]; ok {
			ct = v
		}
		if raw, ok := m[metaRaw]; ok {
			custom, _ = base64.StdEncoding.DecodeString(raw)
		} else {
			rest := make(chronicle.Metadata, len(m))
			for k, v := range m {
				if k != metaContentType {
					rest[k] = v
				}
			}
			custom, _ = chronicle.MarshalMetadata(rest)
		}
	}
	id := uuidString(e.ID)
	if structured {
		id = uuidStructured(e.ID)
	}
	return &esdbpb.ReadResp_ReadEvent_RecordedEvent{
		Id:               id,
		StreamIdentifier: streamID(e.Stream),
		StreamRevision:   e.Revision,
		PreparePosition:  e.Position,
		CommitPosition:   e.Position,
		Metadata: map[string]string{
			keyType:        e.Type,
			keyContentType: ct,
			keyCreated:     strconv.FormatInt(ticks(e.Recorded), 10),
		},
		CustomMetadata: custom,
		Data:           e.Data,
	}
}

// ticks is t in .NET ticks (100 ns) since the Unix epoch, the protocol's
// unit for "created".
func ticks(t time.Time) int64 { return t.UnixNano() / 100 }

// expectedRevision is the expected state an append, delete or tombstone
// carries; all of them use the same four cases.
type expectedOption interface {
	GetRevision() uint64
	GetNoStream() *esdbpb.Empty
	GetStreamExists() *esdbpb.Empty
}

func expected(o expectedOption, isRevision bool) chronicle.ExpectedRevision {
	switch {
	case isRevision:
		return chronicle.Exact(o.GetRevision())
	case o.GetNoStream() != nil:
		return chronicle.NoStream
	case o.GetStreamExists() != nil:
		return chronicle.StreamExists
	}
	return chronicle.Any
}

// expectedNumber is how the protocol's error metadata writes an expected
// state: the revision, or -1 for no stream, -2 for any, -4 for exists.
func expectedNumber(e chronicle.ExpectedRevision) string {
	if rev, ok := e.Revision(); ok {
		return strconv.FormatUint(rev, 10)
	}
	switch {
	case e.IsNoStream():
		return "-1"
	case e.IsStreamExists():
		return "-4"
	}
	return "-2"
}

// limit turns a read count into a chronicle limit; 0 or too big is none.
func limit(count uint64) int {
	if count == 0 || count > math.MaxInt {
		return 0
	}
	return int(count)
}

// rpcError turns a store error into the status and trailers that the
// official clients turn back into their own error types: they look at
// the "exception" trailer, and at others that say which stream and which
// revisions.
func rpcError(ctx context.Context, err error, stream string) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	trailer := func(kv ...string) {
		_ = grpc.SetTrailer(ctx, metadata.Pairs(kv...))
	}
	var wrong *chronicle.WrongExpectedRevisionError
	exception := badInputException(err)
	switch {
	case errors.As(err, &wrong):
		kv := []string{"exception", "wrong-expected-version", "stream-name", stream,
			"expected-version", expectedNumber(wrong.Expected)}
		if rev, ok := wrong.Actual.Revision(); ok {
			kv = append(kv, "actual-version", strconv.FormatUint(rev, 10))
		}
		trailer(kv...)
		return status.Error(codes.FailedPrecondition, err.Error())
	case errors.Is(err, chronicle.ErrStreamDeleted):
		trailer("exception", "stream-deleted", "stream-name", stream)
		return status.Error(codes.FailedPrecondition, err.Error())
	case errors.Is(err, chronicle.ErrStreamNotFound):
		trailer("exception", "stream-not-found", "stream-name", stream)
		return status.Error(codes.NotFound, err.Error())
	case exception != "":
		trailer("exception", exception, "stream-name", stream)
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, chronicle.ErrNoEvents):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	case errors.Is(err, chronicle.ErrClosed):
		return status.Error(codes.Unavailable, err.Error())
	case errors.Is(err, errors.ErrUnsupported):
		// A wrapping store over one without the ability asked for, as a
		// store without it is answered.
		return status.Error(codes.Unimplemented, err.Error())
	}
	return status.Error(codes.Internal, err.Error())
}

// badInputExceptions name, in the "exception" trailer, the store's
// refusals of bad input, which package kurrent turns back into their
// errors. An event too large has KurrentDB's own exception for an append
// over its size limit, which the official clients turn into their error
// for it (KurrentDB also sends its limit, as "maximum-append-size",
// which Chronicle's error does not carry in a form to send). KurrentDB's
// protocol names no exception for the others, so they have Chronicle's
// own names, and other clients see a plain InvalidArgument.
var badInputExceptions = []struct {
	err       error
	exception string
}{
	{chronicle.ErrEventTooLarge, "maximum-append-size-exceeded"},
	{chronicle.ErrInvalidStreamName, "invalid-stream-name"},
	{chronicle.ErrInvalidEvent, "invalid-event"},
	{chronicle.ErrIdempotencyConflict, "idempotency-conflict"},
}

// badInputException is the exception of err in badInputExceptions, or "".
func badInputException(err error) string {
	for _, b := range badInputExceptions {
		if errors.Is(err, b.err) {
			return b.exception
		}
	}
	return ""
}

// splitHostPort splits a host:port into what Gossip reports.
func splitHostPort(addr string) (string, uint32, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return "", 0, err
	}
	return host, uint32(p), nil
}
