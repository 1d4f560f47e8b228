package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/stack-dev/stack/api"
	"github.com/stack-dev/stack/internal/errdefs"
	"github.com/stack-dev/stack/internal/ident"
	"github.com/stack-dev/stack/planner"
	"github.com/stack-dev/stack/runtime"
	"github.com/stack-dev/stack/spec"
)

// startOneOff creates and starts the one-off container of req: its
// dependencies first (unless NoDeps), then the service's networks and
// volumes, then the container, attached before it starts when it has a
// terminal so that nothing it prints is lost.
func (d *Daemon) startOneOff(ctx context.Context, project string, req api.RunRequest, beforeStart func(*record) error) (*record, error) {
	p, err := spec.DecodeJSON(req.Project)
	if err != nil {
		return nil, err
	}
	if p.Name != project {
		return nil, fmt.Errorf("run: project %s in the path, %s in the body: %w", project, p.Name, errdefs.ErrInvalidArgument)
	}
	base, ok := p.Services[req.Service]
	if !ok {
		return nil, fmt.Errorf("no such service %s (the stack has: %s): %w", ident.Quote(req.Service), strings.Join(sortedKeys(p.Services), ", "), errdefs.ErrNotFound)
	}
	if err := checkUp(api.UpRequest{Pull: req.Pull}); err != nil {
		return nil, fmt.Errorf("run: %w", err)
	}
	if req.RemoveOrphans {
		if err := d.removeOrphans(ctx, p); err != nil {
			return nil, fmt.Errorf("run: %w", err)
		}
	}
	if deps := base.Dependencies(); !req.NoDeps && len(deps) > 0 {
		up := api.UpRequest{Project: req.Project, Services: deps, Pull: req.Pull}
		if err := d.Up(ctx, p, up, func(api.Event) {}); err != nil {
			return nil, fmt.Errorf("start the dependencies of %s: %w", req.Service, err)
		}
	}
	// The service's image, pulled as up would (compose's run pulls a
	// missing one too); one with build: the CLI has built.
	policy := pullPolicy(base)
	if req.Pull != "" && base.Build == nil {
		policy = req.Pull
	}
	if _, err := d.ensureImage(ctx, serviceImage(p, base), policy, func(api.ImageProgress) {}); err != nil {
		return nil, fmt.Errorf("service %q: %w", req.Service, err)
	}
	unlock, err := d.lockProject(project)
	if err != nil {
		return nil, err
	}
	defer unlock()
	sel, err := planner.Select(p, planner.SelectOptions{Services: []string{req.Service}, NoDeps: true})
	if err != nil {
		return nil, err
	}
	quiet := func(api.Event) {}
	if err := d.ensureVolumes(p, sel, quiet); err != nil {
		return nil, err
	}
	if err := d.ensureNetworks(ctx, p, sel, quiet); err != nil {
		return nil, err
	}
	svc := *base
	svc.Environment = make(map[string]*string, len(base.Environment)+len(req.Env))
	for k, v := range base.Environment {
		svc.Environment[k] = v
	}
	for _, kv := range req.Env {
		k, v, _ := strings.Cut(kv, "=")
		svc.Environment[k] = &v
	}
	if req.User != "" {
		svc.User = req.User
	}
	if req.Workdir != "" {
		svc.WorkingDir = req.Workdir
	}
	if req.Entrypoint != nil {
		svc.Entrypoint = req.Entrypoint
	}
	// As docker compose run: no published ports, no restart policy, no
	// health check gating anything, and a terminal only when asked.
	svc.Restart, svc.Tty = "", req.Tty
	if !req.KeepPorts {
		svc.Ports = nil
	}
	id := d.newID()
	name := req.Name
	if name == "" {
		name = fmt.Sprintf("%s-%s-run-%s", p.Name, svc.Name, id[:12])
	}
	if err := ident.Name("container name", name); err != nil {
		return nil, fmt.Errorf("run: %w", err)
	}
	if err := d.finishTeardowns(ctx, project); err != nil {
		return nil, err
	}
	if recs, err := d.records(project); err == nil && slices.ContainsFunc(recs, func(r *record) bool { return r.Name == name }) {
		return nil, fmt.Errorf("a container named %s exists: %w", name, errdefs.ErrAlreadyExists)
	}
	r := &record{
		ID: id, Name: name, Project: p.Name, Service: svc.Name, OneOff: true, UseAliases: req.UseAliases,
		Image: serviceImage(p, &svc), Created: time.Now().UTC(), StopSignal: svc.StopSignal, State: stateCreating,
		Labels: composeLabels(p.Name, &svc, 1, true),
	}
	var cmd []string
	if len(req.Cmd) > 0 {
		cmd = req.Cmd
	}
	// The record first, as for up: see createAndStart.
	if err := d.store.put(r, false); err != nil {
		return nil, err
	}
	if err := d.createContainer(ctx, p, r, &svc, cmd); err != nil {
		d.removeContainer(context.WithoutCancel(ctx), r)
		return nil, namedError(err, r)
	}
	r.Healthcheck, r.State = nil, ""
	if err := d.saveRecord(r); err != nil {
		d.removeContainer(context.WithoutCancel(ctx), r)
		return nil, err
	}
	if beforeStart != nil {
		if err := beforeStart(r); err != nil {
			d.removeContainer(context.WithoutCancel(ctx), r)
			return nil, err
		}
	}
	if err := d.startRecord(ctx, r); err != nil {
		d.removeContainer(context.WithoutCancel(ctx), r)
		return nil, err
	}
	d.events.publish(containerEvent(r, api.ActionStart, "one-off"))
	return r, nil
}

// removeOrphans stops and removes the containers of services p does not
// have (one-offs aside), as up --remove-orphans does.
func (d *Daemon) removeOrphans(ctx context.Context, p *spec.Project) error {
	unlock, err := d.lockProject(p.Name)
	if err != nil {
		return err
	}
	defer unlock()
	ev := d.reporter(p.Name, func(api.Event) {})
	var errs []error
	for _, r := range d.store.list(p.Name) {
		if !r.OneOff && p.Services[r.Service] == nil {
			errs = append(errs, d.stopAndRemove(ctx, r, 0, ev))
		}
	}
	return errors.Join(errs...)
}

// serveRun answers POST /projects/{name}/run: a detached run answers the
// container's name; otherwise the connection is taken over and carries
// the container's output (or terminal) and its exit code.
func (d *Daemon) serveRun(w http.ResponseWriter, r *http.Request, project string, req api.RunRequest) error {
	ctx := context.WithoutCancel(r.Context())
	if req.Detach {
		rec, err := d.startOneOff(ctx, project, req, nil)
		if err != nil {
			return err
		}
		w.Header().Set("Content-Type", "application/json")
		return json.NewEncoder(w).Encode(api.RunResult{Name: rec.Name})
	}
	_, rt, err := d.engines()
	if err != nil {
		return err
	}
	var term io.ReadWriteCloser
	rec, err := d.startOneOff(ctx, project, req, func(rec *record) error {
		if !req.Tty {
			return nil
		}
		c, err := rt.Attach(ctx, rec.ID)
		if err != nil {
			return err
		}
		term = c
		if req.Width > 0 && req.Height > 0 {
			rt.Resize(ctx, rec.ID, req.Width, req.Height)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if term != nil {
		defer term.Close()
	}
	fc, err := upgradeToFrames(w)
	if err != nil {
		return fmt.Errorf("run: %w", err)
	}
	defer fc.Close()
	go func() {
		for {
			kind, payload, err := fc.Read()
			if err != nil {
				return
			}
			switch kind {
			case api.FrameStdin:
				if term != nil {
					term.Write(payload)
				}
			case api.FrameCloseStdin:
				if term != nil {
					term.Write([]byte{4})
				}
			case api.FrameResize:
				if wd, ht, ok := api.ParseResize(payload); ok && term != nil {
					rt.Resize(ctx, rec.ID, wd, ht)
				}
			}
		}
	}()
	var copied chan struct{}
	if term != nil {
		copied = make(chan struct{})
		go func() {
			defer close(copied)
			io.Copy(frameWriter{fc, api.FrameStdout}, term)
		}()
	}
	code, err := d.relayUntilExit(ctx, rt, rec, fc, term == nil)
	if copied != nil {
		select {
		case <-copied:
		case <-time.After(time.Second):
		}
	}
	if req.Remove {
		// As docker run --rm: its anonymous volumes go with it.
		if rmErr := errors.Join(d.removeContainer(ctx, rec), d.removeAnonymousVolumes(rec)); rmErr != nil {
			d.log.Warn("remove one-off container", "container", rec.Name, "err", rmErr)
		}
	}
	if err != nil {
		fc.Write(api.FrameError, api.ErrorFrame(err))
		return nil
	}
	fc.Write(api.FrameExit, api.ExitPayload(code))
	return nil
}

// relayUntilExit waits for the container to exit and, when sendLog, sends
// its output from the log as it is written.
func (d *Daemon) relayUntilExit(ctx context.Context, rt containerRuntime, rec *record, fc *api.FrameConn, sendLog bool) (int, error) {
	cur := &logCursor{}
	relay := func() error {
		return cur.readNew(logFiles(rec.Log), func(e runtime.LogEntry) error {
			kind := api.FrameStdout
			if e.Stream == "stderr" {
				kind = api.FrameStderr
			}
			return fc.Write(kind, []byte(e.Log))
		})
	}
	exited := make(chan runtime.State, 1)
	waitErr := make(chan error, 1)
	go func() {
		st, err := rt.Wait(ctx, rec.ID)
		if err != nil {
			waitErr <- err
			return
		}
		exited <- st
	}()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case st := <-exited:
			if sendLog {
				if err := relay(); err != nil {
					return 0, err
				}
			}
			return st.ExitCode, nil
		case err := <-waitErr:
			return 0, err
		case <-tick.C:
			if sendLog {
				if err := relay(); err != nil {
					return 0, err
				}
			}
		}
	}
}
