package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/stack-dev/stack/api"
	"github.com/stack-dev/stack/internal/errdefs"
	"github.com/stack-dev/stack/internal/ident"
	"github.com/stack-dev/stack/spec"
)

// Handler returns the daemon's REST API. Every route is under /v1; errors
// are JSON bodies whose class maps back to an errdefs class on the client
// (api.ToHTTP / api.FromHTTP).
func (d *Daemon) Handler() http.Handler {
	h, _ := d.routes()
	return h
}

// routeMux is the daemon's ServeMux. It remembers the patterns it was
// given, so that every route can be walked: the names at the door are
// tested over all of them, a new route included.
type routeMux struct {
	*http.ServeMux
	patterns []string
}

func (m *routeMux) HandleFunc(pattern string, fn func(http.ResponseWriter, *http.Request)) {
	m.patterns = append(m.patterns, pattern)
	m.ServeMux.HandleFunc(pattern, fn)
}

// routes returns the API's handler and the patterns of its routes.
func (d *Daemon) routes() (http.Handler, []string) {
	mux := &routeMux{ServeMux: http.NewServeMux()}
	v := "/v" + api.Version
	handle := func(pattern string, fn func(w http.ResponseWriter, r *http.Request) (any, error)) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			out, err := fn(w, r)
			if err != nil {
				d.log.Debug("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
				api.WriteError(w, err)
				return
			}
			if out == nil {
				w.WriteHeader(http.StatusNoContent)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(out)
		})
	}
	handle("GET "+v+"/version", func(w http.ResponseWriter, r *http.Request) (any, error) {
		return api.VersionInfo{Version: d.cfg.Version, APIVersion: api.Version}, nil
	})
	handle("GET "+v+"/info", func(w http.ResponseWriter, r *http.Request) (any, error) {
		return d.Info(r.Context())
	})
	d.registryRoutes(mux, v)
	d.composeRoutes(mux, handle, v)
	d.inspectRoutes(handle, v)
	d.copyRoutes(mux, v)
	handle("GET "+v+"/images", func(w http.ResponseWriter, r *http.Request) (any, error) {
		return d.Images(r.Context())
	})
	handle("POST "+v+"/images/import", func(w http.ResponseWriter, r *http.Request) (any, error) {
		return d.ImportImage(r.Context(), r.Body, r.URL.Query().Get("name"))
	})
	handle("POST "+v+"/images/import-rootfs", func(w http.ResponseWriter, r *http.Request) (any, error) {
		var req api.RootfsImport
		if err := decodeJSON(r, &req); err != nil {
			return nil, err
		}
		return d.ImportRootfs(r.Context(), req)
	})
	handle("DELETE "+v+"/images/{ref...}", func(w http.ResponseWriter, r *http.Request) (any, error) {
		force, _ := strconv.ParseBool(r.URL.Query().Get("force"))
		return d.RemoveImage(r.Context(), r.PathValue("ref"), force)
	})
	handle("GET "+v+"/images/history/{ref...}", func(w http.ResponseWriter, r *http.Request) (any, error) {
		return d.ImageHistory(r.Context(), r.PathValue("ref"))
	})
	handle("GET "+v+"/images/inspect/{ref...}", func(w http.ResponseWriter, r *http.Request) (any, error) {
		return d.InspectImage(r.Context(), r.PathValue("ref"))
	})
	mux.HandleFunc("POST "+v+"/build", d.handleBuild)
	handle("POST "+v+"/projects/{name}/commit", func(w http.ResponseWriter, r *http.Request) (any, error) {
		var req api.CommitRequest
		if err := decodeJSON(r, &req); err != nil {
			return nil, err
		}
		return d.Commit(r.Context(), r.PathValue("name"), req)
	})
	handle("GET "+v+"/projects", func(w http.ResponseWriter, r *http.Request) (any, error) {
		return d.Projects(r.Context())
	})
	handle("GET "+v+"/projects/{name}/containers", func(w http.ResponseWriter, r *http.Request) (any, error) {
		return d.Containers(r.Context(), r.PathValue("name"))
	})
	mux.HandleFunc("POST "+v+"/projects/{name}/up", func(w http.ResponseWriter, r *http.Request) {
		var req api.UpRequest
		if err := decodeJSON(r, &req); err != nil {
			api.WriteError(w, err)
			return
		}
		p, err := spec.DecodeJSON(req.Project)
		if err == nil && p.Name != r.PathValue("name") {
			err = fmt.Errorf("project %s in the path, %s in the body: %w", r.PathValue("name"), p.Name, errdefs.ErrInvalidArgument)
		}
		if err != nil {
			api.WriteError(w, err)
			return
		}
		streamEvents(w, func(emit func(api.Event)) error {
			// The request's context ends if the client goes away; an up
			// carries on regardless, as docker compose's does.
			return d.Up(context.WithoutCancel(r.Context()), p, req, emit)
		})
	})
	mux.HandleFunc("POST "+v+"/projects/{name}/down", func(w http.ResponseWriter, r *http.Request) {
		var req api.DownRequest
		if err := decodeJSON(r, &req); err != nil {
			api.WriteError(w, err)
			return
		}
		if err := checkDown(req); err != nil {
			api.WriteError(w, err)
			return
		}
		streamEvents(w, func(emit func(api.Event)) error {
			return d.Down(context.WithoutCancel(r.Context()), r.PathValue("name"), req, emit)
		})
	})
	for _, op := range []string{"stop", "start", "restart", "kill", "pause", "unpause"} {
		mux.HandleFunc("POST "+v+"/projects/{name}/"+op, func(w http.ResponseWriter, r *http.Request) {
			var req api.StopRequest
			if err := decodeJSON(r, &req); err != nil {
				api.WriteError(w, err)
				return
			}
			streamEvents(w, func(emit func(api.Event)) error {
				return d.Lifecycle(context.WithoutCancel(r.Context()), r.PathValue("name"), op, req, emit)
			})
		})
	}
	mux.HandleFunc("GET "+v+"/projects/{name}/logs", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		o := LogsOptions{Services: q["service"], Tail: -1}
		o.Follow, _ = strconv.ParseBool(q.Get("follow"))
		if t := q.Get("tail"); t != "" && t != "all" {
			n, err := strconv.Atoi(t)
			if err != nil {
				api.WriteError(w, fmt.Errorf("tail %s: %w", ident.Quote(t), errdefs.ErrInvalidArgument))
				return
			}
			o.Tail = n
		}
		if s := q.Get("since"); s != "" {
			since, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				api.WriteError(w, fmt.Errorf("since %s: %w", ident.Quote(s), errdefs.ErrInvalidArgument))
				return
			}
			o.Since = since
		}
		stream(w, func(send func(any) error) error {
			return d.Logs(r.Context(), r.PathValue("name"), o, func(l api.LogLine) error { return send(l) })
		})
	})
	mux.HandleFunc("POST "+v+"/projects/{name}/exec", func(w http.ResponseWriter, r *http.Request) {
		var req api.ExecRequest
		if err := decodeJSON(r, &req); err != nil {
			api.WriteError(w, err)
			return
		}
		if err := d.serveExec(w, r, r.PathValue("name"), req); err != nil {
			api.WriteError(w, err)
		}
	})
	mux.HandleFunc("POST "+v+"/projects/{name}/run", func(w http.ResponseWriter, r *http.Request) {
		var req api.RunRequest
		if err := decodeJSON(r, &req); err != nil {
			api.WriteError(w, err)
			return
		}
		if err := d.serveRun(w, r, r.PathValue("name"), req); err != nil {
			api.WriteError(w, err)
		}
	})
	mux.HandleFunc("GET "+v+"/events", func(w http.ResponseWriter, r *http.Request) {
		ch, cancel := d.events.subscribe(r.URL.Query().Get("project"))
		defer cancel()
		stream(w, func(send func(any) error) error {
			for {
				select {
				case <-r.Context().Done():
					return nil
				case ev := <-ch:
					if err := send(ev); err != nil {
						return err
					}
				}
			}
		})
	})
	return checkNames(mux), mux.patterns
}

// checkNames refuses a request whose path or query names a project or a
// volume by a name that could not be one (a path, a glob), before any
// handler sees it: they become file names and keys. The names are taken
// from the escaped path, so an encoded slash (..%2F..) is caught too.
func checkNames(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := requestNames(r); err != nil {
			api.WriteError(w, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func requestNames(r *http.Request) error {
	segs := strings.Split(r.URL.EscapedPath(), "/")
	if len(segs) >= 3 && segs[1] == "v"+api.Version {
		// No route has an empty, "." or ".." segment. The mux would clean
		// them away and redirect, method kept, to another route's path:
		// DELETE /images/a/../b to DELETE /images/b.
		for _, seg := range segs[2:] {
			if s, err := url.PathUnescape(seg); err != nil || s == "" || s == "." || s == ".." {
				return fmt.Errorf("path %s: empty, . and .. segments are refused: %w", ident.Quote(r.URL.EscapedPath()), errdefs.ErrInvalidArgument)
			}
		}
	}
	if len(segs) >= 4 && segs[1] == "v"+api.Version {
		name, err := url.PathUnescape(segs[3])
		if err != nil {
			return fmt.Errorf("path %s: %w", ident.Quote(r.URL.EscapedPath()), errdefs.ErrInvalidArgument)
		}
		switch segs[2] {
		case "projects":
			return ident.Project(name)
		case "volumes":
			return ident.Name("volume name", name)
		}
	}
	if p := r.URL.Query().Get("project"); p != "" {
		return ident.Project(p)
	}
	return nil
}

// stream answers with a stream of JSON values, one per line, flushed as
// they come. An error after the first value can no longer change the
// status: it is sent as a last line, an [api.StreamError].
func stream(w http.ResponseWriter, fn func(send func(any) error) error) {
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	enc := json.NewEncoder(w)
	var mu sync.Mutex
	send := func(v any) error {
		mu.Lock()
		defer mu.Unlock()
		if err := enc.Encode(v); err != nil {
			return err
		}
		if flusher != nil {
			flusher.Flush()
		}
		return nil
	}
	if err := fn(send); err != nil {
		_, body := api.ToHTTP(err)
		send(api.StreamError{Error: body})
	}
}

// streamEvents streams the events of an operation, ending with the
// operation's error, if any.
func streamEvents(w http.ResponseWriter, op func(emit func(api.Event)) error) {
	stream(w, func(send func(any) error) error {
		return op(func(ev api.Event) { send(ev) })
	})
}

// maxJSONBody bounds a JSON request body. The largest is up's, which
// carries the project: a few KiB per service. Streamed bodies (image
// imports, build contexts) are not JSON and are not bounded by it.
const maxJSONBody = 8 << 20

// decodeJSON decodes a request body of at most maxJSONBody bytes into v,
// refusing fields v does not have. The error quotes little of the body.
func decodeJSON(r *http.Request, v any) error {
	body := &countingReader{r: io.LimitReader(r.Body, maxJSONBody+1)}
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if body.n > maxJSONBody {
		return fmt.Errorf("request body is larger than %d MiB: %w", maxJSONBody>>20, errdefs.ErrInvalidArgument)
	}
	if err != nil {
		return fmt.Errorf("decode request body: %s: %w", shorten(err.Error()), errdefs.ErrInvalidArgument)
	}
	return nil
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// shorten cuts a message that may quote outside input to a line's length.
func shorten(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}

// ListenUnix listens on a unix socket at path, creating its directory,
// replacing a stale socket, and making it reachable by root and the
// "stack" group only (mode 0660).
func ListenUnix(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("create socket directory: %w", err)
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("a daemon already listens on %s: %w", path, errdefs.ErrAlreadyExists)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("remove stale socket: %w", err)
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	gid := 0
	if g, err := user.LookupGroup("stack"); err == nil {
		gid, _ = strconv.Atoi(g.Gid)
	}
	if err := os.Chown(path, 0, gid); err != nil && os.Geteuid() == 0 {
		l.Close()
		return nil, fmt.Errorf("chown socket: %w", err)
	}
	if err := os.Chmod(path, 0o660); err != nil {
		l.Close()
		return nil, fmt.Errorf("chmod socket: %w", err)
	}
	return l, nil
}

// Frontend is another API the daemon serves besides its own, on a
// listener of its own: the Docker Engine API (package dockerapi).
type Frontend struct {
	Listener net.Listener
	Handler  http.Handler
}

// Serve answers API requests on l, and those of every front end on its
// listener, until ctx is done, then shuts down, giving running requests
// (log streams) a moment to end. The containers are adopted before the
// first request is answered.
func (d *Daemon) Serve(ctx context.Context, l net.Listener, more ...Frontend) error {
	// The processes of a container whose shim died come to us, not to an
	// init that may collect them late (see runtime's recover).
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		d.log.Warn("become a child subreaper", "err", err)
	}
	d.adopt(ctx)
	d.sweepNetworks(ctx)
	servers := []*http.Server{{Handler: d.Handler(), ReadHeaderTimeout: 10 * time.Second}}
	listeners := []net.Listener{l}
	for _, f := range more {
		servers = append(servers, &http.Server{Handler: f.Handler, ReadHeaderTimeout: 10 * time.Second})
		listeners = append(listeners, f.Listener)
	}
	errc := make(chan error, len(servers))
	for i, srv := range servers {
		go func() { errc <- srv.Serve(listeners[i]) }()
	}
	shutdown := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		for _, srv := range servers {
			srv.Shutdown(ctx)
		}
	}
	select {
	case err := <-errc:
		shutdown()
		return err
	case <-ctx.Done():
		shutdown()
		return nil
	}
}
