package kurrentserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/internal/maxage"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Clients keep a stream's metadata as "$metadata" events in the stream
// "$$" + name, and read the last one back. Chronicle keeps metadata as
// chronicle.StreamMetadata beside the stream instead, so the metadata
// stream is a view: a write sets the stream's metadata, and a read shows
// the metadata as one event at revision 0.
const (
	metadataEventType = "$metadata"
	keyMaxAge         = "$maxAge"
	keyMaxCount       = "$maxCount"
	keyTruncateBefore = "$tb"
)

// metastreamOf returns the stream whose metadata stream is name.
func metastreamOf(name string) (string, bool) {
	if !strings.HasPrefix(name, "$$") || len(name) == 2 {
		return "", false
	}
	return name[2:], true
}

func (s *Server) retention() (chronicle.Retention, error) {
	r, ok := s.store.(chronicle.Retention)
	if !ok {
		return nil, status.Error(codes.Unimplemented, "this store keeps no stream metadata")
	}
	return r, nil
}

func (s *Server) metadata(ctx context.Context, stream string) (chronicle.StreamMetadata, error) {
	r, err := s.retention()
	if err != nil {
		return chronicle.StreamMetadata{}, err
	}
	if chronicle.ValidateStreamName(stream) != nil {
		// A name that no stream can have, such as a system stream's
		// ("$$$all" is the metadata stream of $all), has no metadata: its
		// metadata stream reads as not found, as a "$" stream does. The
		// store would refuse the name.
		return chronicle.StreamMetadata{}, nil
	}
	m, err := r.StreamMetadata(ctx, stream)
	if errors.Is(err, errors.ErrUnsupported) {
		// A wrapping store over one without metadata: as without it.
		return m, status.Error(codes.Unimplemented, err.Error())
	}
	return m, err
}

// setMetadata writes the last of events, all "$metadata" events, as
// the metadata of stream. The expected revision is checked against the view:
// revision 0 when metadata is set, no stream when it is not.
func (s *Server) setMetadata(ctx context.Context, stream string, exp chronicle.ExpectedRevision, events []chronicle.EventData) (chronicle.AppendResult, error) {
	r, err := s.retention()
	if err != nil {
		return chronicle.AppendResult{}, err
	}
	// The last event is the metadata that stays; the others are checked
	// as well, since an event refused if sent alone is not to be
	// accepted and dropped because another follows it.
	var m chronicle.StreamMetadata
	for i, e := range events {
		if e.Type != metadataEventType {
			return chronicle.AppendResult{}, status.Errorf(codes.InvalidArgument,
				"a metadata stream takes %q events, not %q (event %d)", metadataEventType, e.Type, i)
		}
		if m, err = parseStreamMetadata(e.Data); err != nil {
			return chronicle.AppendResult{}, status.Errorf(codes.InvalidArgument, "event %d: %v", i, err)
		}
	}
	old, err := r.StreamMetadata(ctx, stream)
	if err != nil {
		return chronicle.AppendResult{}, err
	}
	state := chronicle.StreamState{Exists: !old.IsZero()}
	if !exp.Matches(state) {
		return chronicle.AppendResult{}, &chronicle.WrongExpectedRevisionError{
			Stream: "$$" + stream, Expected: exp, Actual: state.Actual(),
		}
	}
	if err := r.SetStreamMetadata(ctx, stream, m); err != nil {
		return chronicle.AppendResult{}, err
	}
	return chronicle.AppendResult{}, nil
}

// parseStreamMetadata reads the JSON object of a "$metadata" event. It
// refuses the keys that Chronicle cannot keep ($acl, $cacheControl,
// custom keys), rather than accept and then lose them.
func parseStreamMetadata(data []byte) (chronicle.StreamMetadata, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return chronicle.StreamMetadata{}, fmt.Errorf("stream metadata must be a JSON object: %v", err)
	}
	var m chronicle.StreamMetadata
	var unknown []string
	for k, v := range raw {
		if bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
			continue
		}
		var n uint64
		switch k {
		case keyMaxAge, keyMaxCount, keyTruncateBefore:
			if err := json.Unmarshal(v, &n); err != nil {
				return m, fmt.Errorf("stream metadata %s must be a whole number >= 0, not %s", k, v)
			}
		default:
			unknown = append(unknown, k)
			continue
		}
		switch k {
		case keyMaxAge:
			// Longer than the longest time.Duration, which a client rounds
			// up to whole seconds, it is the longest: it hides nothing
			// for some 292 years either way.
			m.MaxAge = maxage.OfUnsigned(n, time.Second)
		case keyMaxCount:
			m.MaxCount = n
		case keyTruncateBefore:
			m.TruncateBefore = n
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return m, fmt.Errorf("stream metadata: Chronicle keeps only %s, %s and %s; it cannot keep %s",
			keyMaxAge, keyMaxCount, keyTruncateBefore, strings.Join(unknown, ", "))
	}
	return m, nil
}

// metadataJSON is m as the data of a "$metadata" event.
func metadataJSON(m chronicle.StreamMetadata) []byte {
	out := make(map[string]uint64, 3)
	if m.MaxAge > 0 {
		// Rounded up, so that a sub-second age does not read back as none.
		out[keyMaxAge] = uint64(maxage.In(m.MaxAge, time.Second))
	}
	if m.MaxCount > 0 {
		out[keyMaxCount] = m.MaxCount
	}
	if m.TruncateBefore > 0 {
		out[keyTruncateBefore] = m.TruncateBefore
	}
	b, _ := json.Marshal(out)
	return b
}
