package daemon

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/stack-dev/stack/api"
	"github.com/stack-dev/stack/runtime"
)

// RemoveResult names the containers rm removed (or, dry, would remove).
type RemoveResult struct {
	Containers []string `json:"containers"`
}

// Remove is compose's rm: it removes the project's stopped containers of
// req.Services (all when empty), one-off containers included, after
// stopping them with req.Stop, and their anonymous volumes with
// req.Volumes. Running containers are left alone. With req.DryRun it only
// says which it would remove.
func (d *Daemon) Remove(ctx context.Context, project string, req api.RemoveRequest, emit func(api.Event)) (RemoveResult, error) {
	_, rt, err := d.engines()
	if err != nil {
		return RemoveResult{}, err
	}
	unlock, err := d.lockProject(project)
	if err != nil {
		return RemoveResult{}, err
	}
	defer unlock()
	ev := d.reporter(project, emit)
	var picked []*record
	for _, r := range d.store.list(project) {
		if len(req.Services) == 0 || slices.Contains(req.Services, r.Service) {
			picked = append(picked, r)
		}
	}
	if req.Stop && !req.DryRun {
		for _, wave := range stopWaves(picked) {
			for _, r := range wave {
				if err := d.stopContainer(ctx, r, 0, true); err != nil {
					return RemoveResult{}, err
				}
				ev(containerEvent(r, api.ActionStop, ""))
			}
		}
	}
	res := RemoveResult{Containers: []string{}}
	var errs []error
	for _, r := range picked {
		st, err := rt.State(r.ID)
		if r.State == "" && err == nil && st.Status != runtime.Stopped && st.Status != runtime.Unknown && st.Status != runtime.Created {
			if !(req.Stop && req.DryRun) {
				continue // running: rm leaves it
			}
		}
		res.Containers = append(res.Containers, r.Name)
		if req.DryRun {
			continue
		}
		if err := d.removeContainer(ctx, r); err != nil {
			errs = append(errs, err)
			continue
		}
		if req.Volumes {
			if err := d.removeAnonymousVolumes(r); err != nil {
				errs = append(errs, err)
			}
		}
		ev(containerEvent(r, api.ActionRemove, ""))
	}
	if err := errors.Join(errs...); err != nil {
		return res, fmt.Errorf("rm: %w", err)
	}
	return res, nil
}
