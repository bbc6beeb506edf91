package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"strconv"
	"time"

	"github.com/chronicle-es/chronicle"
)

// Subscription timing.
const (
	// heartbeat is how often an idle subscription sends a comment, so that
	// proxies and browsers keep the connection open.
	heartbeat = 15 * time.Second
	// writeTimeout ends a subscription whose client stops reading.
	writeTimeout = 30 * time.Second
	// retryMillis tells EventSource how long to wait before reconnecting.
	retryMillis = 2000
)

// subscribeAll streams the global log as Server-Sent Events. Each event's
// SSE id is its position, so that a reconnecting EventSource resumes after
// the last one it received (the Last-Event-ID header).
func (s *Server) subscribeAll(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if err := checkQuery(r, "from", "prefix", "category", "type"); err != nil {
		s.apiFail(w, r, err)
		return
	}
	from, err := resumeFrom(r, "position")
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	if from == 0 {
		from = 1
	}
	// A filter the store would refuse is refused here, with a status,
	// before the stream of events starts.
	f, err := filterOf(q)
	if err == nil {
		err = f.Validate()
	}
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	s.stream(w, r, "all", func(ctx context.Context, send func(chronicle.RecordedEvent, string) error) error {
		for e, err := range s.store.Subscribe(ctx, chronicle.SubscribeOptions{From: from, Filter: f}) {
			if err != nil {
				return err
			}
			if err := send(e, strconv.FormatUint(e.Position, 10)); err != nil {
				return err
			}
		}
		return nil
	})
}

// subscribeStream streams one stream's events as Server-Sent Events from
// a revision. Each event's SSE id is its revision.
func (s *Server) subscribeStream(w http.ResponseWriter, r *http.Request) {
	stream := r.PathValue("stream")
	if err := checkQuery(r, "from"); err != nil {
		s.apiFail(w, r, err)
		return
	}
	if err := chronicle.ValidateStreamName(stream); err != nil {
		s.apiFail(w, r, err)
		return
	}
	from, err := resumeFrom(r, "revision")
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	s.stream(w, r, "stream", func(ctx context.Context, send func(chronicle.RecordedEvent, string) error) error {
		// What a read of the stream shows, live events too: streamsub
		// follows the stream, and Live goes on where CatchUp ended.
		follow, err := s.streams.Start(ctx, stream)
		if err != nil {
			return err
		}
		for _, seq := range []iter.Seq2[chronicle.RecordedEvent, error]{follow.CatchUp(ctx, from), follow.Live(ctx)} {
			for e, err := range seq {
				if err != nil {
					return err
				}
				if err := send(e, strconv.FormatUint(e.Revision, 10)); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// errCannotFlush refuses a subscription behind a ResponseWriter that
// cannot flush, which would hold its events back.
var errCannotFlush = &Error{Status: http.StatusInternalServerError, Code: "streaming_unsupported",
	Message: "this server cannot stream events: the http.ResponseWriter it answers with cannot flush, so they would not reach you; " +
		"the program that embeds the server must give it one that can (an http.Flusher, or one with an Unwrap method that leads to one)"}

// resumeFrom returns where a subscription starts: after the Last-Event-ID
// of a reconnecting client, else at the "from" query parameter, else 0.
func resumeFrom(r *http.Request, what string) (uint64, error) {
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		n, err := strconv.ParseUint(id, 10, 64)
		if err != nil || n == ^uint64(0) {
			return 0, badRequest("Last-Event-ID %q: want the %s of the last event received", id, what)
		}
		return n + 1, nil
	}
	if f := r.URL.Query().Get("from"); f != "" {
		n, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return 0, badRequest("from %q: want the %s to start at (0 or more)", f, what)
		}
		return n, nil
	}
	return 0, nil
}

func isNotFound(err error) bool {
	e := classify(err)
	return e.Code == "stream_not_found"
}

// stream runs a subscription: it answers with an event stream and calls
// follow with a function that sends one event. It ends when the client
// goes, the server shuts down, or follow fails. A HEAD request gets the
// headers alone.
func (s *Server) stream(w http.ResponseWriter, r *http.Request, kind string,
	follow func(ctx context.Context, send func(chronicle.RecordedEvent, string) error) error) {
	if r.Method == http.MethodHead {
		// A HEAD answer has no body, so the events would go nowhere,
		// and the client, which takes the answer as whole, would wait
		// on the same connection for the answer to its next request
		// while the subscription went on.
		eventStreamHeaders(w.Header())
		w.WriteHeader(http.StatusOK)
		return
	}
	select {
	case s.subscribers <- struct{}{}:
		defer func() { <-s.subscribers }()
	default:
		s.apiFail(w, r, &Error{Status: http.StatusServiceUnavailable, Code: "too_many_subscriptions",
			Message: fmt.Sprintf("the server already serves %d subscriptions, its limit: try again later", cap(s.subscribers))})
		return
	}
	// The events must reach the client as they come: a ResponseWriter
	// that cannot flush (an embedder's, without Flush or Unwrap) would
	// keep them in its buffer. The first flush sends the headers, and
	// one that is not supported writes nothing, so that the refusal can
	// still say why, with a status.
	rc := http.NewResponseController(w)
	eventStreamHeaders(w.Header())
	if err := rc.Flush(); err != nil {
		if errors.Is(err, http.ErrNotSupported) {
			for _, kv := range eventStreamHeader {
				w.Header().Del(kv.name)
			}
			s.apiFail(w, r, errCannotFlush)
		}
		return
	}
	s.m.subscriptions.Add(1, kind)
	defer s.m.subscriptions.Add(-1, kind)

	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	go func() {
		select {
		case <-s.closing:
			cancel()
		case <-ctx.Done():
		}
	}()

	fmt.Fprintf(w, "retry: %d\n\n", retryMillis)
	rc.Flush()

	// The writes happen on this goroutine only: the follower hands events
	// over a channel, so heartbeats and events never interleave.
	type item struct {
		e  chronicle.RecordedEvent
		id string
	}
	items := make(chan item)
	done := make(chan error, 1)
	go func() {
		done <- follow(ctx, func(e chronicle.RecordedEvent, id string) error {
			select {
			case items <- item{e, id}:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	write := func(f func() error) bool {
		rc.SetWriteDeadline(time.Now().Add(writeTimeout))
		if err := f(); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	tick := time.NewTicker(heartbeat)
	defer tick.Stop()
	for {
		select {
		case it := <-items:
			s.m.subscriptionLag.Observe(max(time.Since(it.e.Recorded).Seconds(), 0), kind)
			ok := write(func() error { return writeEvent(w, it.id, toJSON(it.e)) })
			if !ok {
				cancel()
				<-done
				return
			}
		case <-tick.C:
			if !write(func() error { _, err := fmt.Fprint(w, ": keep-alive\n\n"); return err }) {
				cancel()
				<-done
				return
			}
		case err := <-done:
			if err != nil && ctx.Err() == nil {
				// Tell the client why, in the stream: the status is sent.
				e := classify(err)
				b, _ := json.Marshal(map[string]string{"error": e.Message, "code": e.Code})
				write(func() error { _, err := fmt.Fprintf(w, "event: error\ndata: %s\n\n", b); return err })
				if e.Status >= 500 {
					s.log.Error("subscription failed", "path", r.URL.Path, "err", err)
				}
			}
			return
		}
	}
}

// eventStreamHeader holds the headers of a subscription's answer, in one
// place for eventStreamHeaders to set them and for a refused
// subscription to take them back.
var eventStreamHeader = [...]struct{ name, value string }{
	{"Content-Type", "text/event-stream; charset=utf-8"},
	{"Cache-Control", "no-store"},
	{"X-Accel-Buffering", "no"}, // let nginx pass events on at once
}

// eventStreamHeaders sets the headers of a subscription's answer.
func eventStreamHeaders(h http.Header) {
	for _, kv := range eventStreamHeader {
		h.Set(kv.name, kv.value)
	}
}

// writeEvent writes one SSE message. JSON has no raw newlines, so the
// data fits one data: line. The event's data goes as it is stored, but
// for the spaces between its tokens: escaping <, > and & for HTML, as
// json.Marshal does, would change what the live tail shows of it.
func writeEvent(w http.ResponseWriter, id string, e eventJSON) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(e); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "id: %s\ndata: %s\n\n", id, bytes.TrimSpace(b.Bytes()))
	return err
}
