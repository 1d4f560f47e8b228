package daemon

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/stack-dev/stack/api"
	"github.com/stack-dev/stack/internal/errdefs"
	"github.com/stack-dev/stack/runtime"
)

// Wait is compose's wait: it waits for the running containers of
// req.Services (one-offs included) to exit, reporting each exit through
// emit, and answers with the first one's. With req.DownProject the
// project is taken down as soon as the first has exited. No running
// container is an error, as in compose.
func (d *Daemon) Wait(ctx context.Context, project string, req api.WaitRequest, emit func(api.Exit)) (api.WaitResult, error) {
	_, rt, err := d.engines()
	if err != nil {
		return api.WaitResult{}, err
	}
	var recs []*record
	for _, r := range d.store.list(project) {
		if len(req.Services) > 0 && !slices.Contains(req.Services, r.Service) {
			continue
		}
		if st, err := rt.State(r.ID); err == nil && st.Status == runtime.Running {
			recs = append(recs, r)
		}
	}
	if len(recs) == 0 {
		return api.WaitResult{}, fmt.Errorf("no running containers of %s in project %s: %w", strings.Join(req.Services, ", "), project, errdefs.ErrNotFound)
	}
	exits := make(chan api.Exit, len(recs))
	waitCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for _, r := range recs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, err := rt.Wait(waitCtx, r.ID)
			if err != nil {
				return
			}
			exits <- api.Exit{Container: r.Name, Service: r.Service, ExitCode: st.ExitCode}
		}()
	}
	go func() { wg.Wait(); close(exits) }()
	var first *api.Exit
	for e := range exits {
		emit(e)
		if first == nil {
			first = &e
			if req.DownProject {
				cancel()
				if err := d.Down(context.WithoutCancel(ctx), project, api.DownRequest{}, func(api.Event) {}); err != nil {
					return api.WaitResult{Container: e.Container, ExitCode: e.ExitCode}, err
				}
				break
			}
		}
	}
	if first == nil {
		return api.WaitResult{}, ctx.Err()
	}
	return api.WaitResult{Container: first.Container, ExitCode: first.ExitCode}, nil
}
