package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/examples/connectfour"
)

// Error is a refusal the server explains: an HTTP status, a stable code
// that programs can switch on, and a message for people. API errors are
// answered as JSON {"error": message, "code": code, ...}.
type Error struct {
	Status  int
	Code    string
	Message string
	// Extra holds more fields of the JSON answer, such as the actual
	// revision of a conflict.
	Extra map[string]any
}

// Error returns the message.
func (e *Error) Error() string { return e.Message }

func badRequest(format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Code: "bad_request", Message: fmt.Sprintf(format, args...)}
}

var (
	errReadOnly = &Error{Status: http.StatusForbidden, Code: "read_only",
		Message: "this server is read-only (started with --read-only): it accepts no writes"}
	errCrossOrigin = &Error{Status: http.StatusForbidden, Code: "cross_origin",
		Message: "cross-origin request refused: write to this server from its own pages or from a program, not from another site"}
)

func errNotLoopback(host string) *Error {
	return &Error{Status: http.StatusMisdirectedRequest, Code: "not_loopback",
		Message: fmt.Sprintf("this server only answers requests for localhost or a loopback address, not %q: it listens on loopback", host)}
}

// classify turns any error into an *Error: the store's and the game's
// errors get the status that fits them; the rest is a 500 whose detail
// goes to the log, not to the client.
func classify(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var wrong *chronicle.WrongExpectedRevisionError
	var rule *connectfour.RuleError
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &wrong):
		return &Error{Status: http.StatusConflict, Code: "wrong_expected_revision", Message: wrong.Error(),
			Extra: map[string]any{"stream": wrong.Stream, "expectedRevision": expectedJSON(wrong.Expected), "actualRevision": expectedJSON(wrong.Actual)}}
	case errors.As(err, &tooBig):
		return &Error{Status: http.StatusRequestEntityTooLarge, Code: "body_too_large",
			Message: fmt.Sprintf("the request body is larger than the server accepts (%d bytes)", tooBig.Limit)}
	case errors.Is(err, chronicle.ErrStreamNotFound):
		return &Error{Status: http.StatusNotFound, Code: "stream_not_found", Message: plainMessage(err)}
	case errors.Is(err, chronicle.ErrStreamDeleted):
		return &Error{Status: http.StatusGone, Code: "stream_deleted", Message: plainMessage(err)}
	case errors.Is(err, chronicle.ErrInvalidStreamName):
		return &Error{Status: http.StatusBadRequest, Code: "invalid_stream_name", Message: err.Error()}
	case errors.Is(err, chronicle.ErrInvalidEvent), errors.Is(err, chronicle.ErrNoEvents):
		return &Error{Status: http.StatusBadRequest, Code: "invalid_event", Message: err.Error()}
	case errors.Is(err, chronicle.ErrEventTooLarge):
		return &Error{Status: http.StatusRequestEntityTooLarge, Code: "event_too_large", Message: err.Error()}
	case errors.Is(err, chronicle.ErrIdempotencyConflict):
		return &Error{Status: http.StatusConflict, Code: "idempotency_conflict", Message: err.Error()}
	case errors.Is(err, connectfour.ErrGameNotFound), errors.Is(err, connectfour.ErrNotStarted):
		// A game that has not started has no events: it does not exist.
		return &Error{Status: http.StatusNotFound, Code: "game_not_found", Message: "there is no such game"}
	case errors.Is(err, connectfour.ErrNamesEncrypted):
		return &Error{Status: http.StatusConflict, Code: "names_encrypted",
			Message: "this game's players' names are stored encrypted, with their keys in the database where it was started, which this server's store does not reach: play it where that database is served"}
	case errors.Is(err, connectfour.ErrConcurrentMove):
		return &Error{Status: http.StatusConflict, Code: "concurrent_move", Message: ruleMessage(err)}
	case errors.As(err, &rule):
		return &Error{Status: http.StatusUnprocessableEntity, Code: ruleCode(rule.Rule), Message: rule.Error()}
	case errors.Is(err, context.DeadlineExceeded):
		return &Error{Status: http.StatusServiceUnavailable, Code: "timeout", Message: "the request took too long and was stopped; try again, or ask for less"}
	case errors.Is(err, chronicle.ErrClosed):
		return &Error{Status: http.StatusServiceUnavailable, Code: "store_closed", Message: "the store is closed: the server is shutting down"}
	case errors.Is(err, errors.ErrUnsupported):
		// A wrapping store over one without the ability asked for, as a
		// store without it is answered.
		return &Error{Status: http.StatusNotImplemented, Code: "not_supported", Message: err.Error()}
	}
	return &Error{Status: http.StatusInternalServerError, Code: "internal", Message: "the server failed to do this; the details are in its log"}
}

// plainMessage returns the message of the typed error inside err, which
// says it all, without the operation's prefix.
func plainMessage(err error) string {
	var nf *chronicle.StreamNotFoundError
	var del *chronicle.StreamDeletedError
	switch {
	case errors.As(err, &nf):
		return nf.Error()
	case errors.As(err, &del):
		return del.Error()
	}
	return err.Error()
}

func ruleMessage(err error) string {
	var rule *connectfour.RuleError
	if errors.As(err, &rule) {
		return rule.Error()
	}
	return err.Error()
}

func ruleCode(rule error) string {
	codes := map[error]string{
		connectfour.ErrAlreadyStarted:    "already_started",
		connectfour.ErrInvalidPlayerName: "invalid_player_name",
		connectfour.ErrSamePlayers:       "same_players",
		connectfour.ErrNotStarted:        "not_started",
		connectfour.ErrGameOver:          "game_over",
		connectfour.ErrNotYourTurn:       "not_your_turn",
		connectfour.ErrInvalidColumn:     "invalid_column",
		connectfour.ErrColumnFull:        "column_full",
	}
	if c, ok := codes[rule]; ok {
		return c
	}
	return "refused"
}

// fail answers err, as JSON on API routes and as a page on UI routes.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, rt route, err error) {
	e := classify(err)
	if e.Status >= 500 {
		s.log.LogAttrs(r.Context(), slog.LevelError, "request failed", slog.String("path", r.URL.Path), slog.Any("err", err))
	}
	if sw, ok := w.(*statusWriter); ok {
		sw.code = e.Code // for the route's metrics
	}
	if !rt.api() {
		s.ui.errorPage(w, r, e)
		return
	}
	body := map[string]any{}
	for k, v := range e.Extra {
		body[k] = v
	}
	body["error"], body["code"] = e.Message, e.Code
	writeJSON(w, e.Status, body)
}

// writeJSON answers v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// notFound answers a request that no route serves: 405 Method Not
// Allowed, with the methods it takes in Allow, for a path that a route
// serves with another method, else 404.
func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	rt := route{pattern: r.URL.Path}
	if allow := s.allowed(r); len(allow) > 0 {
		methods := strings.Join(allow, ", ")
		w.Header().Set("Allow", methods)
		s.fail(w, r, rt, &Error{Status: http.StatusMethodNotAllowed, Code: "method_not_allowed",
			Message: fmt.Sprintf("%s is not a method of %s, which takes %s (the API is described at /api/openapi.json)", r.Method, r.URL.Path, methods)})
		return
	}
	s.fail(w, r, rt, &Error{Status: http.StatusNotFound, Code: "not_found",
		Message: fmt.Sprintf("nothing here: %s %s is not a route of this server (the API is described at /api/openapi.json)", r.Method, r.URL.Path)})
}

// allowed returns the methods, sorted, of the routes that serve r's path.
// The mux that serves the routes cannot tell, as its catch-all takes every
// method: a mux of the routes alone, without it, is asked instead.
func (s *Server) allowed(r *http.Request) []string {
	var allow []string
	for _, m := range s.methods {
		other := r.WithContext(r.Context())
		other.Method = m
		if _, pattern := s.probe.Handler(other); pattern != "" {
			allow = append(allow, m)
		}
	}
	return allow
}

// apiFail answers err as JSON.
func (s *Server) apiFail(w http.ResponseWriter, r *http.Request, err error) {
	s.fail(w, r, route{pattern: "/api/"}, err)
}
