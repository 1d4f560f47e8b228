package daemon

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/stack-dev/stack/api"
	"github.com/stack-dev/stack/internal/errdefs"
	"github.com/stack-dev/stack/internal/ident"
	"github.com/stack-dev/stack/runtime"
)

// execTarget finds the running container of a service that an exec (or
// any other per-container request) is for: replica index, or the first
// running one when index is 0.
func (d *Daemon) execTarget(project, service string, index int) (*record, error) {
	_, rt, err := d.engines()
	if err != nil {
		return nil, err
	}
	recs, err := d.records(project)
	if err != nil {
		return nil, err
	}
	var known []string
	for _, r := range recs {
		if !slices.Contains(known, r.Service) {
			known = append(known, r.Service)
		}
		if r.Service != service || (index > 0 && r.Number != index) {
			continue
		}
		if st, err := rt.State(r.ID); err == nil && (st.Status == runtime.Running || st.Status == runtime.Paused) {
			if st.Status == runtime.Paused {
				return nil, fmt.Errorf("container %s is paused: unpause it first: %w", r.Name, errdefs.ErrFailedPrecondition)
			}
			return r, nil
		}
	}
	if !slices.Contains(known, service) {
		if len(known) == 0 {
			return nil, fmt.Errorf("project %s has no containers: run `stack up` first: %w", project, errdefs.ErrNotFound)
		}
		return nil, fmt.Errorf("service %s has no container in project %s (it has: %s): %w", ident.Quote(service), project, strings.Join(known, ", "), errdefs.ErrNotFound)
	}
	if index > 0 {
		return nil, fmt.Errorf("service %s has no running container number %d: %w", ident.Quote(service), index, errdefs.ErrFailedPrecondition)
	}
	return nil, fmt.Errorf("service %q is not running: start it with `stack up` or `stack start %s`: %w", service, service, errdefs.ErrFailedPrecondition)
}

// execProcess derives the exec'd process from the container's own: its
// environment, user, working directory and capabilities, with what the
// spec overrides.
func execProcess(r *record, spec ExecSpec) (*specs.Process, error) {
	if r.Spec == nil || r.Spec.Process == nil {
		return nil, fmt.Errorf("container %s has no process spec: %w", r.Name, errdefs.ErrFailedPrecondition)
	}
	proc := *r.Spec.Process
	proc.Args = spec.Cmd
	proc.Terminal = spec.Tty
	proc.Env = append(slices.Clone(proc.Env), spec.Env...)
	if spec.WorkingDir != "" {
		proc.Cwd = spec.WorkingDir
	}
	if spec.User != "" {
		u, err := runtime.ResolveUser(r.Rootfs, spec.User)
		if err != nil {
			return nil, fmt.Errorf("user %s: %w", ident.Quote(spec.User), err)
		}
		proc.User = u.Spec()
	}
	if spec.Tty && !slices.ContainsFunc(proc.Env, func(e string) bool { return strings.HasPrefix(e, "TERM=") }) {
		proc.Env = append(proc.Env, "TERM=xterm")
	}
	proc.ConsoleSize = nil
	if spec.Tty && spec.Width > 0 && spec.Height > 0 {
		proc.ConsoleSize = &specs.Box{Width: uint(spec.Width), Height: uint(spec.Height)}
	}
	return &proc, nil
}

// serveExec takes the connection over and runs req in its container,
// relaying frames until the process exits.
func (d *Daemon) serveExec(w http.ResponseWriter, r *http.Request, project string, req api.ExecRequest) error {
	rec, err := d.execTarget(project, req.Service, req.Index)
	if err != nil {
		return err
	}
	id, err := d.createExec(rec, ExecSpec{Cmd: req.Cmd, Tty: req.Tty, Stdin: req.Stdin, User: req.User,
		WorkingDir: req.Workdir, Env: req.Env, Width: req.Width, Height: req.Height})
	if err != nil {
		return err
	}
	defer d.removeExec(id)
	if req.Detach {
		return d.execDetached(w, r, rec, id)
	}
	fc, err := upgradeToFrames(w)
	if err != nil {
		return fmt.Errorf("exec: %w", err)
	}
	defer fc.Close()
	// The client's frames: stdin, terminal resizes, the end of stdin.
	stdinR, stdinW := io.Pipe()
	ctx := context.WithoutCancel(r.Context())
	go func() {
		for {
			kind, payload, err := fc.Read()
			if err != nil {
				stdinW.CloseWithError(err)
				return
			}
			switch kind {
			case api.FrameStdin:
				stdinW.Write(payload)
			case api.FrameCloseStdin:
				stdinW.Close()
			case api.FrameResize:
				if wd, ht, ok := api.ParseResize(payload); ok {
					d.ResizeExec(ctx, id, wd, ht)
				}
			}
		}
	}()
	stdio := ExecIO{Stdout: frameWriter{fc, api.FrameStdout}, Stderr: frameWriter{fc, api.FrameStderr}}
	if req.Stdin || req.Tty {
		stdio.Stdin = stdinR
	}
	code, err := d.StartExec(ctx, id, stdio)
	if err != nil {
		fc.Write(api.FrameError, api.ErrorFrame(namedError(err, rec)))
		return nil
	}
	fc.Write(api.FrameExit, api.ExitPayload(code))
	return nil
}

// upgradeToFrames takes the request's connection over, answers the
// protocol switch, and frames the connection for an exec or a run.
func upgradeToFrames(w http.ResponseWriter) (*api.FrameConn, error) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		return nil, fmt.Errorf("the connection cannot be taken over: %w", errdefs.ErrNotImplemented)
	}
	conn, buf, err := hj.Hijack()
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(conn, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: %s\r\n\r\n", api.ExecUpgrade)
	return api.NewFrameConn(conn, buf.Reader), nil
}

// frameWriter sends what is written to it as frames of one kind.
type frameWriter struct {
	fc   *api.FrameConn
	kind byte
}

func (f frameWriter) Write(p []byte) (int, error) {
	if err := f.fc.Write(f.kind, p); err != nil {
		return 0, err
	}
	return len(p), nil
}
