package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os/exec"

	"github.com/stack-dev/stack/internal/errdefs"
)

// Error is the body of every failed request: the error class, so that
// errors.Is(err, errdefs.ErrNotFound) holds on the client as it did on the
// server, and the message.
type Error struct {
	Class   string `json:"class"`
	Message string `json:"message"`
}

// The classes, one per errdefs sentinel.
var classes = []struct {
	name   string
	err    error
	status int
	also   error // a broader class the error is of too
}{
	// A command of exec or run that does not exist: the CLI exits 127
	// for it, as docker does. Before not_found, which it is too.
	{"command_not_found", exec.ErrNotFound, http.StatusNotFound, errdefs.ErrNotFound},
	{"not_found", errdefs.ErrNotFound, http.StatusNotFound, nil},
	{"already_exists", errdefs.ErrAlreadyExists, http.StatusConflict, nil},
	{"invalid_argument", errdefs.ErrInvalidArgument, http.StatusBadRequest, nil},
	{"failed_precondition", errdefs.ErrFailedPrecondition, http.StatusPreconditionFailed, nil},
	{"unavailable", errdefs.ErrUnavailable, http.StatusServiceUnavailable, nil},
	{"not_implemented", errdefs.ErrNotImplemented, http.StatusNotImplemented, nil},
	// A command of exec or run that may not be executed: the CLI exits
	// 126 for it, as docker does.
	{"permission_denied", fs.ErrPermission, http.StatusForbidden, nil},
}

// ToHTTP maps err to its HTTP status and body: the one place where error
// classes become statuses.
func ToHTTP(err error) (int, Error) {
	for _, c := range classes {
		if errors.Is(err, c.err) {
			return c.status, Error{Class: c.name, Message: err.Error()}
		}
	}
	return http.StatusInternalServerError, Error{Class: "internal", Message: err.Error()}
}

// WriteError writes err as a JSON error response.
func WriteError(w http.ResponseWriter, err error) {
	status, body := ToHTTP(err)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(body)
}

// StreamError is the last line of a streamed answer (NDJSON: up, down,
// logs, events, pull, push, build) whose operation failed after the
// stream began, when the status can no longer say so: the one framing of
// an error in every stream.
type StreamError struct {
	Error Error `json:"error"`
}

// streamError returns the error a stream line carries when it is a
// StreamError, nil otherwise. Only an "error" that is an object is one: a
// line of an older daemon may have an "error" string of its own.
func streamError(line []byte) error {
	if !bytes.Contains(line, []byte(`"error"`)) {
		return nil
	}
	var probe struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(line, &probe) != nil || len(probe.Error) == 0 || probe.Error[0] != '{' {
		return nil
	}
	var e Error
	if json.Unmarshal(probe.Error, &e) != nil || e.Message == "" {
		return nil
	}
	return FromHTTP(0, probe.Error)
}

// remoteError is an error that came over the wire: its message is the
// server's, and it unwraps to the class the server named.
type remoteError struct {
	msg   string
	class []error
}

func (e *remoteError) Error() string   { return e.msg }
func (e *remoteError) Unwrap() []error { return e.class }

// FromHTTP turns an error response back into an error of the same class:
// the one place where statuses become error classes.
func FromHTTP(status int, body []byte) error {
	var e Error
	if err := json.Unmarshal(body, &e); err != nil || e.Message == "" {
		return fmt.Errorf("daemon answered %d %s: %s", status, http.StatusText(status), body)
	}
	for _, c := range classes {
		if c.name == e.Class {
			classes := []error{c.err}
			if c.also != nil {
				classes = append(classes, c.also)
			}
			return &remoteError{msg: e.Message, class: classes}
		}
	}
	return &remoteError{msg: e.Message}
}

// ErrorFrame is the payload of a FrameError: the error with its class,
// as an error response's body.
func ErrorFrame(err error) []byte {
	_, body := ToHTTP(err)
	data, _ := json.Marshal(body)
	return data
}

// ParseErrorFrame rebuilds the error of a FrameError; a payload that is
// not JSON (an older daemon's) is the message itself.
func ParseErrorFrame(payload []byte) error {
	var e Error
	if json.Unmarshal(payload, &e) != nil || e.Message == "" {
		return errors.New(string(payload))
	}
	return FromHTTP(0, payload)
}
