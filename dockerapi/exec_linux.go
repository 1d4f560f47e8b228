package dockerapi

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/moby/moby/api/types/common"
	"github.com/moby/moby/api/types/container"

	"github.com/stack-dev/stack/daemon"
	"github.com/stack-dev/stack/internal/errdefs"
)

func (s *server) execRoutes() {
	s.raw("POST /containers/{id}/exec", s.createExec)
	s.raw("POST /exec/{id}/start", s.startExec)
	s.handle("POST /exec/{id}/resize", func(w http.ResponseWriter, r *http.Request) (any, error) {
		wd, ht, err := size(r)
		if err != nil {
			return nil, err
		}
		return nil, s.b.ResizeExec(r.Context(), r.PathValue("id"), wd, ht)
	})
	s.handle("GET /exec/{id}/json", s.inspectExec)
}

func (s *server) createExec(w http.ResponseWriter, r *http.Request) error {
	var req container.ExecCreateRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.DetachKeys != "" {
		return errDetachKeys("exec: DetachKeys")
	}
	if req.Privileged {
		return fmt.Errorf("exec: Privileged: not supported by stack: an exec runs with the container's capabilities: %w", errdefs.ErrNotImplemented)
	}
	spec := daemon.ExecSpec{Cmd: req.Cmd, Tty: req.Tty, Stdin: req.AttachStdin, User: req.User, WorkingDir: req.WorkingDir, Env: req.Env}
	if req.ConsoleSize != nil {
		spec.Height, spec.Width = uint16(req.ConsoleSize[0]), uint16(req.ConsoleSize[1])
	}
	id, err := s.b.CreateExec(r.Context(), r.PathValue("id"), spec)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, common.IDResponse{ID: id})
	return nil
}

func (s *server) startExec(w http.ResponseWriter, r *http.Request) error {
	var req container.ExecStartRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	id := r.PathValue("id")
	info, err := s.b.InspectExec(r.Context(), id)
	if err != nil {
		return err
	}
	if info.Running || info.ExitCode != nil {
		return fmt.Errorf("exec %s was started already: %w", id, errdefs.ErrFailedPrecondition)
	}
	if req.ConsoleSize != nil && info.Spec.Tty {
		s.b.ResizeExec(r.Context(), id, uint16(req.ConsoleSize[1]), uint16(req.ConsoleSize[0]))
	}
	if req.Detach {
		go func() {
			if _, err := s.b.StartExec(context.WithoutCancel(r.Context()), id, daemon.ExecIO{}); err != nil {
				s.log.Debug("detached exec", "exec", id, "err", err)
			}
		}()
		w.WriteHeader(http.StatusOK)
		return nil
	}
	h, err := hijack(w, r, info.Spec.Tty)
	if err != nil {
		return err
	}
	defer h.Close()
	stdio := daemon.ExecIO{Stdout: h, Stderr: h}
	if !info.Spec.Tty {
		stdio.Stdout, stdio.Stderr = muxStreams(h)
	}
	if info.Spec.Stdin {
		stdio.Stdin = h
	}
	if _, err := s.b.StartExec(context.WithoutCancel(r.Context()), id, stdio); err != nil {
		// The status is sent: the error goes where the client reads.
		io.WriteString(stdio.Stderr, "stack: exec: "+err.Error()+"\n")
	}
	h.closeWrite()
	return nil
}

func (s *server) inspectExec(w http.ResponseWriter, r *http.Request) (any, error) {
	e, err := s.b.InspectExec(r.Context(), r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	out := container.ExecInspectResponse{ID: e.ID, Running: e.Running, ExitCode: e.ExitCode, ContainerID: e.ContainerID,
		OpenStdin: e.Spec.Stdin, OpenStdout: true, OpenStderr: true, Pid: e.Pid, CanRemove: e.ExitCode != nil,
		ProcessConfig: &container.ExecProcessConfig{Tty: e.Spec.Tty, User: e.Spec.User}}
	if len(e.Spec.Cmd) > 0 {
		out.ProcessConfig.Entrypoint, out.ProcessConfig.Arguments = e.Spec.Cmd[0], e.Spec.Cmd[1:]
	}
	return out, nil
}
