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
)

// Lifecycle stops, starts, restarts, kills, pauses or unpauses the
// containers of a project's services (all when req.Services is empty).
func (d *Daemon) Lifecycle(ctx context.Context, project, op string, req api.StopRequest, emit func(api.Event)) error {
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
	var errs []error
	for _, r := range recs {
		if len(want) > 0 && !want[r.Service] {
			continue
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
