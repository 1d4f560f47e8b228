package daemon

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/stack-dev/stack/api"
	"github.com/stack-dev/stack/internal/errdefs"
	"github.com/stack-dev/stack/planner"
	"github.com/stack-dev/stack/runtime"
	"github.com/stack-dev/stack/spec"
)

// startProject is compose's start: the selected services (with their
// dependencies) start wave by wave in dependency order, each once its
// dependencies meet their depends_on conditions (healthy, completed),
// as up does. A service without a container is an error, as in compose
// ("has no container to start"); one-off containers are not started.
func (d *Daemon) startProject(ctx context.Context, project string, req api.StopRequest, emit func(api.Event)) error {
	p, err := spec.DecodeJSON(req.Project)
	if err != nil {
		return err
	}
	if p.Name != project {
		return fmt.Errorf("start: project %s in the path, %s in the body: %w", project, p.Name, errdefs.ErrInvalidArgument)
	}
	sel, err := planner.Select(p, planner.SelectOptions{Profiles: req.Profiles, Services: req.Services})
	if err != nil {
		return err
	}
	unlock, err := d.lockProject(project)
	if err != nil {
		return err
	}
	defer unlock()
	_, rt, err := d.engines()
	if err != nil {
		return err
	}
	ev := d.reporter(project, emit)
	for _, wave := range sel.Waves() {
		var wg sync.WaitGroup
		errs := make([]error, len(wave))
		for i, name := range wave {
			wg.Add(1)
			go func() {
				defer wg.Done()
				svc := p.Services[name]
				if svc.Replicas() == 0 {
					return
				}
				var recs []*record
				for _, r := range d.store.list(project) {
					if r.Service == name && !r.OneOff && r.State == "" {
						recs = append(recs, r)
					}
				}
				if len(recs) == 0 {
					errs[i] = fmt.Errorf("service %q has no container to start: create it with up: %w", name, errdefs.ErrNotFound)
					return
				}
				if err := d.waitDependencies(ctx, p, sel, svc, ev); err != nil {
					errs[i] = fmt.Errorf("service %q: %w", name, err)
					return
				}
				for _, r := range recs {
					if st, err := rt.State(r.ID); err == nil && (st.Status == runtime.Running || st.Status == runtime.Paused) {
						continue
					}
					if err := d.startRecord(ctx, r); err != nil {
						errs[i] = fmt.Errorf("start %s: %w", r.Name, err)
						return
					}
					ev(containerEvent(r, api.ActionStart, ""))
				}
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return err
		}
	}
	return nil
}

// restartProject is compose's restart: the named services (all when none
// is) and, unless req.NoDeps, the services that depend on them with
// restart: true (links and network_mode too), restarted wave by wave in
// dependency order, each once those of its dependencies that restart with
// it meet their conditions again. One-off containers are not restarted.
func (d *Daemon) restartProject(ctx context.Context, project string, req api.StopRequest, emit func(api.Event)) error {
	p, err := spec.DecodeJSON(req.Project)
	if err != nil {
		return err
	}
	if p.Name != project {
		return fmt.Errorf("restart: project %s in the path, %s in the body: %w", project, p.Name, errdefs.ErrInvalidArgument)
	}
	sel, err := planner.Select(p, planner.SelectOptions{Profiles: req.Profiles})
	if err != nil {
		return err
	}
	restart := map[string]bool{}
	names := req.Services
	if len(names) == 0 {
		names = sel.Services()
	}
	for _, n := range names {
		restart[n] = true
	}
	if !req.NoDeps {
		for _, n := range sel.Graph().RestartDependents(names) {
			restart[n] = true
		}
	}
	unlock, err := d.lockProject(project)
	if err != nil {
		return err
	}
	defer unlock()
	ev := d.reporter(project, emit)
	for _, wave := range sel.Waves() {
		var wg sync.WaitGroup
		errs := make([]error, len(wave))
		for i, name := range wave {
			if !restart[name] {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				var recs []*record
				for _, r := range d.store.list(project) {
					if r.Service == name && !r.OneOff && r.State == "" {
						recs = append(recs, r)
					}
				}
				for _, e := range sel.Graph().Dependencies(name) {
					if !e.Restart || !restart[e.To] || len(recs) == 0 {
						continue
					}
					if err := d.waitCondition(ctx, p, e.To, e.Condition, 0); err != nil {
						errs[i] = fmt.Errorf("service %q: dependency %s failed: %w", name, e.To, err)
						return
					}
					if e.Condition != spec.ConditionStarted {
						d.conditionMet(p.Name, e.To, e.Condition, ev)
					}
				}
				rerrs := make([]error, len(recs))
				var rwg sync.WaitGroup
				for j, r := range recs {
					rwg.Add(1)
					go func() {
						defer rwg.Done()
						ev(containerEvent(r, api.ActionRestarting, ""))
						if err := d.stopContainer(ctx, r, req.Timeout, false); err != nil {
							rerrs[j] = fmt.Errorf("restart %s: %w", r.Name, err)
							return
						}
						if err := d.startRecord(ctx, r); err != nil {
							rerrs[j] = fmt.Errorf("restart %s: %w", r.Name, err)
							return
						}
						ev(containerEvent(r, api.ActionRestart, ""))
					}()
				}
				rwg.Wait()
				errs[i] = errors.Join(rerrs...)
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return err
		}
	}
	return nil
}

// reporter returns the event function of an operation on project: each
// event goes to the event bus (stack events) and to emit (the request's
// stream).
func (d *Daemon) reporter(project string, emit func(api.Event)) emitFunc {
	return projectEmitter(d.events, project, emit)
}
