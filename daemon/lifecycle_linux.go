package daemon

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/stack-dev/stack/api"
	"github.com/stack-dev/stack/internal/errdefs"
	"github.com/stack-dev/stack/internal/ident"
	"github.com/stack-dev/stack/runtime"
)

// Lifecycle stops, starts, restarts, kills, pauses or unpauses the
// containers of a project's services (all when req.Services is empty).
// One-off containers (stack run) are not the service's: only kill reaches
// them, as in compose. A start that carries the project starts in
// dependency order with conditions (startProject).
func (d *Daemon) Lifecycle(ctx context.Context, project, op string, req api.StopRequest, emit func(api.Event)) error {
	if op == "start" && len(req.Project) > 0 {
		return d.startProject(ctx, project, req, emit)
	}
	_, rt, err := d.engines()
	if err != nil {
		return err
	}
	unlock, err := d.lockProject(project)
	if err != nil {
		return err
	}
	defer unlock()
	recs, err := d.records(project)
	if err != nil {
		return err
	}
	known := map[string]bool{}
	for _, r := range recs {
		known[r.Service] = true
	}
	for _, s := range req.Services {
		if !known[s] {
			return fmt.Errorf("service %s has no container in project %s (services: %s): %w", ident.Quote(s), project, strings.Join(sortedKeys(known), ", "), errdefs.ErrNotFound)
		}
	}
	want := map[string]bool{}
	for _, s := range req.Services {
		want[s] = true
	}
	if op == "start" {
		recs = startOrder(recs)
	}
	var errs []error
	for _, r := range recs {
		if len(want) > 0 && !want[r.Service] || r.OneOff && op != "kill" {
			continue
		}
		if op == "kill" {
			// compose kills the running containers only.
			if st, err := rt.State(r.ID); err != nil || st.Status != runtime.Running && st.Status != runtime.Paused {
				continue
			}
		}
		if word := progressWords[op]; word != "" {
			emit(api.Event{Project: project, Service: r.Service, Container: r.Name, Action: word})
		}
		var err error
		switch op {
		case "stop":
			err = d.stopContainer(ctx, r, req.Timeout, true)
		case "start":
			err = d.startRecord(ctx, r)
		case "restart":
			if err = d.stopContainer(ctx, r, req.Timeout, false); err == nil {
				err = d.startRecord(ctx, r)
			}
		case "kill":
			sig := unix.SIGKILL
			if req.Signal != "" {
				if sig = unix.SignalNum(normalizeSignal(req.Signal)); sig == 0 {
					return fmt.Errorf("unknown signal %s: %w", ident.Quote(req.Signal), errdefs.ErrInvalidArgument)
				}
			}
			err = rt.Kill(ctx, r.ID, sig)
		case "pause":
			err = rt.Pause(r.ID)
		case "unpause":
			err = rt.Resume(r.ID)
		default:
			return fmt.Errorf("unknown operation %q: %w", op, errdefs.ErrInvalidArgument)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %s: %w", op, r.Name, err))
			continue
		}
		ev := containerEvent(r, op, "")
		d.events.publish(ev)
		emit(ev)
	}
	return errors.Join(errs...)
}

// progressWords are the events sent before an operation that takes time,
// so that the CLI shows "Stopping" with a timer while a container uses its
// grace period.
var progressWords = map[string]string{api.ActionStop: api.ActionStopping, api.ActionRestart: api.ActionRestarting, api.ActionStart: api.ActionStarting}

// healthDetail is a failed health check's output as the end of a
// message: ": <output>", or nothing when it printed nothing.
func healthDetail(output string) string {
	if out := strings.TrimSpace(output); out != "" {
		return ": " + out
	}
	return ""
}
