package dockerapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/stack-dev/stack/internal/errdefs"
	"github.com/stack-dev/stack/internal/ident"
)

// APIVersion is the newest version of the Docker Engine API served: the
// one whose wire types (github.com/moby/moby/api v1.56) stack speaks.
const APIVersion = "1.56"

// MinAPIVersion is the oldest version served, docker's own minimum.
const MinAPIVersion = "1.24"

// Options configure [Handler].
type Options struct {
	// Version is stack's version, as /version and the Server header show
	// it. Optional.
	Version string
	// Logger receives what the API logs. Optional.
	Logger *slog.Logger
}

// server answers the Docker API's requests with a Backend.
type server struct {
	b   Backend
	o   Options
	log *slog.Logger
	mux *http.ServeMux
}

// Handler returns the Docker Engine API served by b: every route with or
// without its /vX.Y/ prefix.
func Handler(b Backend, o Options) http.Handler {
	s := &server{b: b, o: o, log: o.Logger, mux: http.NewServeMux()}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.o.Version == "" {
		s.o.Version = "dev"
	}
	s.routes()
	return s
}

// versionKey is the context key of a request's API version.
type versionKey struct{}

// apiVersion is the API version the request was made in: its /vX.Y/
// prefix, the newest without one.
func apiVersion(r *http.Request) string {
	if v, ok := r.Context().Value(versionKey{}).(string); ok {
		return v
	}
	return APIVersion
}

// versionBefore reports whether the request's version is older than v.
func versionBefore(r *http.Request, v string) bool { return compareVersions(apiVersion(r), v) < 0 }

// compareVersions compares "1.41" and "1.9" as versions.
func compareVersions(a, b string) int {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < max(len(pa), len(pb)); i++ {
		var x, y int
		if i < len(pa) {
			x, _ = strconv.Atoi(pa[i])
		}
		if i < len(pb) {
			y, _ = strconv.Atoi(pb[i])
		}
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}

// ServeHTTP strips the version prefix, refuses versions outside
// [MinAPIVersion, APIVersion] as dockerd does, and routes the request.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Api-Version", APIVersion)
	h.Set("Docker-Experimental", "false")
	h.Set("Ostype", "linux")
	h.Set("Server", "stack/"+s.o.Version+" (linux)")
	if rest, ok := strings.CutPrefix(r.URL.Path, "/v"); ok {
		if v, tail, ok := strings.Cut(rest, "/"); ok && isVersion(v) {
			switch {
			case compareVersions(v, MinAPIVersion) < 0:
				writeError(w, fmt.Errorf("client version %s is too old. Minimum supported API version is %s, please upgrade your client to a newer version: %w", v, MinAPIVersion, errdefs.ErrInvalidArgument))
				return
			case compareVersions(v, APIVersion) > 0:
				writeError(w, fmt.Errorf("client version %s is too new. Maximum supported API version is %s: %w", v, APIVersion, errdefs.ErrInvalidArgument))
				return
			}
			r = r.WithContext(context.WithValue(r.Context(), versionKey{}, v))
			r.URL.Path = "/" + tail
			r.URL.RawPath = ""
		}
	}
	s.log.Debug("docker api", "method", r.Method, "path", r.URL.Path, "version", apiVersion(r))
	s.mux.ServeHTTP(w, r)
}

// isVersion reports whether s is "X.Y".
func isVersion(s string) bool {
	a, b, ok := strings.Cut(s, ".")
	if !ok || a == "" || b == "" {
		return false
	}
	for _, c := range a + b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// handle registers a route whose handler returns a value to send as
// JSON (200, or 204 when nil) or an error.
func (s *server) handle(pattern string, fn func(w http.ResponseWriter, r *http.Request) (any, error)) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		out, err := fn(w, r)
		if err != nil {
			s.log.Debug("docker api request failed", "method", r.Method, "path", r.URL.Path, "err", err)
			writeError(w, err)
			return
		}
		if out == nil {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		writeJSON(w, http.StatusOK, out)
	})
}

// raw registers a route that writes its own answer; an error it returns
// is sent only while nothing was.
func (s *server) raw(pattern string, fn func(w http.ResponseWriter, r *http.Request) error) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		if err := fn(w, r); err != nil {
			s.log.Debug("docker api request failed", "method", r.Method, "path", r.URL.Path, "err", err)
			writeError(w, err)
		}
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// errorBody is the body of every failed request (docker's
// common.ErrorResponse).
type errorBody struct {
	Message string `json:"message"`
}

// statusOf maps an error's class to the status dockerd answers with.
// What stack does not implement is a request it refuses, by the name of
// the field or parameter that asks for it: a 400, so that a client shows
// the message as the request's fault and does not retry (dockerd's 501 is
// for an engine that lacks a feature it could have).
func statusOf(err error) int {
	switch {
	case errors.Is(err, errdefs.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, errdefs.ErrInvalidArgument), errors.Is(err, errdefs.ErrNotImplemented):
		return http.StatusBadRequest
	case errors.Is(err, errdefs.ErrAlreadyExists), errors.Is(err, errdefs.ErrFailedPrecondition):
		return http.StatusConflict
	case errors.Is(err, errdefs.ErrUnavailable):
		return http.StatusServiceUnavailable
	case errors.Is(err, context.Canceled):
		return 499
	}
	return http.StatusInternalServerError
}

// writeError answers with err: its status and {"message": ...}.
func writeError(w http.ResponseWriter, err error) {
	writeJSON(w, statusOf(err), errorBody{Message: err.Error()})
}

// maxBody bounds a JSON request body.
const maxBody = 8 << 20

// decode reads a JSON request body of at most maxBody bytes into v. An
// empty body leaves v as it is.
func decode(r *http.Request, v any) error {
	data, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return fmt.Errorf("read request body: %w", err)
	}
	if len(data) > maxBody {
		return fmt.Errorf("request body is larger than %d MiB: %w", maxBody>>20, errdefs.ErrInvalidArgument)
	}
	if len(strings.TrimSpace(string(data))) == 0 {
		return nil
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("decode request body: %s: %w", shorten(err.Error()), errdefs.ErrInvalidArgument)
	}
	return nil
}

// shorten cuts a message that may quote outside input to a line's length.
func shorten(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}

// boolValue reads a boolean query value as dockerd does: anything but
// "", "0", "no", "false" and "none" is true.
func boolValue(r *http.Request, key string) bool {
	switch strings.ToLower(strings.TrimSpace(r.URL.Query().Get(key))) {
	case "", "0", "no", "false", "none":
		return false
	}
	return true
}

// intValue reads an integer query value, def when absent.
func intValue(r *http.Request, key string, def int64) (int64, error) {
	s := r.URL.Query().Get(key)
	if s == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s %s: want an integer: %w", key, ident.Quote(s), errdefs.ErrInvalidArgument)
	}
	return n, nil
}

// notFound answers a route the API does not have.
func notFound(w http.ResponseWriter, r *http.Request) {
	writeError(w, fmt.Errorf("stack's Docker API has no route %s %s (README: what the Docker API covers): %w", r.Method, r.URL.Path, errdefs.ErrNotFound))
}

// flush sends what w holds.
func flush(w http.ResponseWriter) {
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
}
