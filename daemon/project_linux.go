package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/stack-dev/stack/api"
	"github.com/stack-dev/stack/internal/errdefs"
	"github.com/stack-dev/stack/internal/ident"
	"github.com/stack-dev/stack/planner"
	"github.com/stack-dev/stack/runtime"
	"github.com/stack-dev/stack/spec"
)

// lockProject serialises operations on one project across requests and
// processes (two `up` of the same stack); different projects proceed in
// parallel.
func (d *Daemon) lockProject(name string) (func(), error) {
	return d.lockProjectContext(context.Background(), name)
}

// lockProjectContext is lockProject for a caller that must give up when
// ctx ends: a supervisor waiting for the lock that the one who stops it
// holds (down waits for its supervisors to end) would otherwise wait
// forever.
func (d *Daemon) lockProjectContext(ctx context.Context, name string) (func(), error) {
	dir := filepath.Join(d.cfg.StateRoot, "locks")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("lock project %s: %w", name, err)
	}
	f, err := os.OpenFile(filepath.Join(dir, name+".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock project %s: %w", name, err)
	}
	how := syscall.LOCK_EX
	if ctx.Done() != nil {
		how |= syscall.LOCK_NB
	}
	for {
		err := syscall.Flock(int(f.Fd()), how)
		if err == nil {
			return func() { f.Close() }, nil
		}
		if err != syscall.EWOULDBLOCK && err != syscall.EINTR {
			f.Close()
			return nil, fmt.Errorf("lock project %s: %w", name, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// observe reports the project's containers as the planner sees them.
func (d *Daemon) observe(project string) ([]planner.Observed, map[string]*record, error) {
	_, rt, err := d.engines()
	if err != nil {
		return nil, nil, err
	}
	recs, err := d.records(project)
	if err != nil {
		return nil, nil, err
	}
	byName := map[string]*record{}
	var out []planner.Observed
	for _, r := range recs {
		if r.OneOff {
			continue
		}
		byName[r.Name] = r
		o := planner.Observed{ID: r.ID, Name: r.Name, Project: r.Project, Service: r.Service, Number: r.Number, ConfigHash: r.ConfigHash, ImageID: r.ImageID}
		if st, err := rt.State(r.ID); err == nil {
			o.Running = st.Status == runtime.Running || st.Status == runtime.Paused
			o.ExitCode = st.ExitCode
		}
		out = append(out, o)
	}
	return out, byName, nil
}

// Up brings a project to the state its stack file describes: networks and
// volumes first, then containers wave by wave in dependency order, each
// service waiting for the conditions of its depends_on. emit receives
// every step as it happens. p is req.Project decoded (spec.DecodeJSON),
// which the caller does before it answers, so a bad project is a plain
// error response rather than the last event of a stream.
func (d *Daemon) Up(ctx context.Context, p *spec.Project, req api.UpRequest, emit func(api.Event)) error {
	defer releaseMemory()
	unlock, err := d.lockProject(p.Name)
	if err != nil {
		return err
	}
	defer unlock()
	if err := d.finishTeardowns(ctx, p.Name); err != nil {
		return err
	}
	sel, err := planner.Select(p, planner.SelectOptions{Profiles: req.Profiles, Services: req.Services, NoDeps: req.NoDeps})
	if err != nil {
		return err
	}
	observed, recs, err := d.observe(p.Name)
	if err != nil {
		return err
	}
	if err := checkUp(req); err != nil {
		return err
	}
	if err := d.checkUserNS(p, sel.Services()); err != nil {
		return err
	}
	imageIDs := map[string]string{}
	for _, name := range sel.Services() {
		svc := p.Services[name]
		ref := serviceImage(p, svc)
		if !req.NoBuild {
			if err := d.ensureBuilt(ctx, p, svc, ref, req.Build, emit); err != nil {
				return fmt.Errorf("service %q: %w", name, err)
			}
		}
		policy := pullPolicy(svc)
		if req.Pull != "" && svc.Build == nil {
			policy = req.Pull
		}
		if req.NoBuild && policy == "build" {
			policy = "never"
		}
		// Compose's lines: one when a pull starts, one when it ends.
		pulling := false
		img, err := d.ensureImage(ctx, ref, policy, func(api.ImageProgress) {
			if !pulling {
				pulling = true
				emit(api.Event{Project: p.Name, Service: name, Type: api.TypeImage, Image: ref, Action: api.ActionPulling})
			}
		})
		if err != nil {
			return fmt.Errorf("service %q: %w", name, err)
		}
		if pulling {
			emit(api.Event{Project: p.Name, Service: name, Type: api.TypeImage, Image: ref, Action: api.ActionPull})
		}
		imageIDs[name] = img.ID.String()
	}
	plan, err := planner.Diff(p, sel, observed, planner.DiffOptions{
		ForceRecreate: req.ForceRecreate, NoRecreate: req.NoRecreate, RemoveOrphans: req.RemoveOrphans,
		Scale: req.Scale, ImageIDs: imageIDs, AlwaysRecreateDeps: req.AlwaysRecreateDeps, Named: req.Services,
	})
	if err != nil {
		return err
	}
	ev := projectEmitter(d.events, p.Name, emit)
	if len(plan.Orphans) > 0 && !req.RemoveOrphans {
		var names []string
		for _, o := range plan.Orphans {
			names = append(names, o.Name)
		}
		ev(api.Event{Action: api.ActionWarning, Message: fmt.Sprintf("found orphan containers (%s) for this project: remove them with up --remove-orphans", strings.Join(names, ", "))})
	}
	if err := d.ensureVolumes(p, sel, ev); err != nil {
		return err
	}
	if err := d.ensureNetworks(ctx, p, sel, ev); err != nil {
		return err
	}

	// Actions by wave, then by service; orphans (wave -1) first.
	type key struct {
		wave    int
		service string
	}
	byService := map[key][]planner.Action{}
	waves := map[int][]string{}
	for _, a := range plan.Actions {
		k := key{a.Wave, a.Service}
		if _, seen := byService[k]; !seen {
			waves[a.Wave] = append(waves[a.Wave], a.Service)
		}
		byService[k] = append(byService[k], a)
	}
	var waveNums []int
	for w := range waves {
		waveNums = append(waveNums, w)
	}
	sort.Ints(waveNums)
	for _, w := range waveNums {
		var wg sync.WaitGroup
		errs := make([]error, len(waves[w]))
		for i, service := range waves[w] {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if svc := p.Services[service]; svc != nil && w >= 0 && !req.NoStart {
					if err := d.waitDependencies(ctx, p, sel, svc, ev); err != nil {
						errs[i] = err
						return
					}
				}
				for _, a := range byService[key{w, service}] {
					if err := d.apply(ctx, p, a, recs[a.Container], imageIDs[a.Service], req.NoStart, req.RenewAnonVolumes, ev); err != nil {
						errs[i] = fmt.Errorf("service %q: %w", service, err)
						return
					}
				}
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return err
		}
	}
	// Services with nothing to do may still have dependencies that must
	// hold (a restarted dependency); and --wait checks everything.
	if req.Wait {
		return d.waitServices(ctx, p, sel, req.Timeout, ev)
	}
	return nil
}

// serviceImage is the image a service runs: its image:, or the name
// compose gives a built one.
func serviceImage(p *spec.Project, svc *spec.Service) string {
	if svc.Image != "" {
		return svc.Image
	}
	return p.Name + "-" + svc.Name
}

// checkUp checks what Up can check before doing anything.
func checkUp(req api.UpRequest) error {
	switch req.Pull {
	case "", "always", "missing", "never":
	default:
		return fmt.Errorf("--pull %s: want always, missing or never: %w", ident.Quote(req.Pull), errdefs.ErrInvalidArgument)
	}
	if req.Build && req.NoBuild {
		return fmt.Errorf("--build and --no-build are incompatible: %w", errdefs.ErrInvalidArgument)
	}
	return nil
}

// apply carries out one planner action. With noStart (create, up
// --no-start) containers are created and left stopped. A recreated
// container takes over its predecessor's anonymous volumes, as compose's
// does, unless renew (up -V): then they are removed and the new container
// gets new ones.
func (d *Daemon) apply(ctx context.Context, p *spec.Project, a planner.Action, old *record, imageID string, noStart, renew bool, ev emitFunc) error {
	svc := p.Services[a.Service]
	switch a.Kind {
	case planner.Create:
		return d.createAndStart(ctx, p, svc, a, imageID, nil, noStart, ev)
	case planner.Recreate:
		var inherit map[string]string
		if old != nil {
			if err := d.stopAndRemove(ctx, old, 0, ev); err != nil {
				return err
			}
			inherit = old.AnonVolumes
			if renew {
				inherit = nil
				if err := d.removeAnonymousVolumes(old); err != nil {
					return err
				}
			}
		}
		return d.createAndStart(ctx, p, svc, a, imageID, inherit, noStart, ev)
	case planner.Start, planner.Restart:
		if noStart {
			return nil
		}
		if old == nil {
			return fmt.Errorf("container %s: %w", a.Container, errdefs.ErrNotFound)
		}
		if a.Kind == planner.Restart {
			if err := d.stopContainer(ctx, old, 0, false); err != nil {
				return err
			}
		}
		old.StoppedByUser = false
		ev(containerEvent(old, api.ActionStarting, ""))
		if err := d.startRecord(ctx, old); err != nil {
			return err
		}
		ev(containerEvent(old, api.ActionStart, a.Reason))
		return nil
	case planner.Stop:
		// The plan removes it next: stop it and say so, once.
		if old == nil {
			return nil
		}
		ev(containerEvent(old, api.ActionStopping, ""))
		if err := d.stopContainer(ctx, old, 0, true); err != nil {
			return err
		}
		ev(containerEvent(old, api.ActionStop, ""))
		return nil
	case planner.Remove, planner.RemoveOrphan:
		if old == nil {
			return nil
		}
		if a.Kind == planner.Remove {
			ev(containerEvent(old, api.ActionRemoving, ""))
			if err := d.removeContainer(ctx, old); err != nil {
				return err
			}
			ev(containerEvent(old, api.ActionRemove, ""))
			return nil
		}
		return d.stopAndRemove(ctx, old, 0, ev)
	}
	return fmt.Errorf("unknown action %s", a.Kind)
}

// createAndStart creates a service's container instance, with
// anonVolumes as its anonymous volumes (inherited from a predecessor) and
// starts it (with noStart, leaves it created). Its record is written
// first, marked creating: a crash from there on leaves a record that
// names everything that may exist of the container, and the teardown of
// the next up, down or daemon start removes it all.
func (d *Daemon) createAndStart(ctx context.Context, p *spec.Project, svc *spec.Service, a planner.Action, imageID string, anonVolumes map[string]string, noStart bool, ev emitFunc) (retErr error) {
	id := d.newID()
	r := &record{
		ID: id, Name: a.Container, Project: p.Name, Service: svc.Name, Number: a.Number,
		ConfigHash: a.ConfigHash, Image: serviceImage(p, svc), ImageID: imageID, Created: time.Now().UTC(),
		Restart: svc.Restart, StopSignal: svc.StopSignal, DependsOn: svc.Dependencies(), State: stateCreating,
		AnonVolumes: anonVolumes, Labels: composeLabels(p.Name, svc, a.Number, false),
	}
	if svc.StopGracePeriod != nil {
		r.StopGrace = time.Duration(*svc.StopGracePeriod)
	}
	if err := d.store.put(r, false); err != nil {
		return err
	}
	defer func() {
		if retErr != nil {
			d.removeContainer(context.WithoutCancel(ctx), r)
		}
	}()
	ev(containerEvent(r, api.ActionCreating, ""))
	if err := d.createContainer(ctx, p, r, svc, nil); err != nil {
		return namedError(err, r)
	}
	r.State = ""
	if noStart {
		r.StoppedByUser = true
	}
	if err := d.saveRecord(r); err != nil {
		return err
	}
	ev(containerEvent(r, api.ActionCreate, a.Reason))
	emitWarnings(r, ev)
	if noStart {
		return nil
	}
	ev(containerEvent(r, api.ActionStarting, ""))
	if err := d.startRecord(ctx, r); err != nil {
		return namedError(err, r)
	}
	ev(containerEvent(r, api.ActionStart, ""))
	d.warnUnappliedLimits(r, ev)
	return nil
}

// finishTeardowns removes what crashes left of project: containers whose
// creation or removal a crash cut short. The caller holds the project's
// lock.
func (d *Daemon) finishTeardowns(ctx context.Context, project string) error {
	var errs []error
	for _, r := range d.store.list(project) {
		if r.State == stateCreating || r.State == stateRemoving {
			d.log.Info("finishing the teardown a crash interrupted", "container", r.Name, "state", r.State)
			errs = append(errs, d.removeContainer(ctx, r))
		}
	}
	return errors.Join(errs...)
}

// stopAndRemove stops a container and removes it with its storage.
func (d *Daemon) stopAndRemove(ctx context.Context, r *record, grace time.Duration, ev emitFunc) error {
	ev(containerEvent(r, api.ActionStopping, ""))
	if err := d.stopContainer(ctx, r, grace, true); err != nil {
		return err
	}
	ev(containerEvent(r, api.ActionStop, ""))
	ev(containerEvent(r, api.ActionRemoving, ""))
	if err := d.removeContainer(ctx, r); err != nil {
		return err
	}
	ev(containerEvent(r, api.ActionRemove, ""))
	return nil
}

// waitDependencies blocks until every dependency of svc meets its
// depends_on condition, or fails naming the dependency that cannot.
func (d *Daemon) waitDependencies(ctx context.Context, p *spec.Project, sel *planner.Selection, svc *spec.Service, ev emitFunc) error {
	for _, dep := range sortedKeys(svc.DependsOn) {
		cond := svc.DependsOn[dep]
		if !sel.Has(dep) {
			continue
		}
		if err := d.waitCondition(ctx, p, dep, cond.Condition, 0); err != nil {
			if !cond.Required {
				ev(api.Event{Service: svc.Name, Action: api.ActionWarning, Message: fmt.Sprintf("optional dependency %s: %v", dep, err)})
				continue
			}
			return fmt.Errorf("dependency %s failed: %w", dep, err)
		}
		if cond.Condition != spec.ConditionStarted {
			d.conditionMet(p.Name, dep, cond.Condition, ev)
		}
	}
	return nil
}

// waitCondition waits until every container of service meets condition:
// running, healthy, or exited 0. timeout 0 waits as long as it takes for a
// verdict (a health check always reaches one).
func (d *Daemon) waitCondition(ctx context.Context, p *spec.Project, service, condition string, timeout time.Duration) error {
	_, rt, err := d.engines()
	if err != nil {
		return err
	}
	if condition == spec.ConditionHealthy && !d.hasHealthcheck(p, service) {
		return fmt.Errorf("service %q has no healthcheck to wait for: add one, or use condition service_started", service)
	}
	var deadline <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		deadline = t.C
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		recs, err := d.records(p.Name)
		if err != nil {
			return err
		}
		done, found := true, false
		for _, r := range recs {
			if r.Service != service || r.OneOff {
				continue
			}
			found = true
			st, err := rt.State(r.ID)
			if err != nil {
				return err
			}
			exited := st.Status == runtime.Stopped || st.Status == runtime.Unknown
			switch condition {
			case spec.ConditionCompletedSuccessfully:
				if !exited {
					done = false
				} else if st.ExitCode != 0 {
					return fmt.Errorf("container %s exited with code %d%s", r.Name, st.ExitCode, d.logTail(r, 5))
				}
			case spec.ConditionHealthy:
				switch {
				case r.Health == "unhealthy":
					return fmt.Errorf("container %s is unhealthy%s", r.Name, healthDetail(r.HealthOutput))
				case exited:
					return fmt.Errorf("container %s exited with code %d before it was healthy%s", r.Name, st.ExitCode, d.logTail(r, 5))
				case r.Health != "healthy":
					done = false
				}
			default:
				// Started: running, or run and exited.
				if st.Status == runtime.Created {
					done = false
				}
			}
		}
		if found && done {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline:
			return fmt.Errorf("service %q: not %s within %s", service, strings.TrimPrefix(condition, "service_"), timeout)
		case <-tick.C:
		}
	}
}

// conditionMet reports, once per container, that a dependency's
// containers are healthy or have completed, so the order of events shows
// why a service started when it did.
func (d *Daemon) conditionMet(project, service, condition string, ev emitFunc) {
	action := api.ActionHealthy
	if condition == spec.ConditionCompletedSuccessfully {
		action = api.ActionExited
	}
	recs, _ := d.records(project)
	for _, r := range recs {
		if r.Service == service && !r.OneOff {
			ev(containerEvent(r, action, ""))
		}
	}
}

// waitServices implements up --wait: every selected service running, and
// healthy where it has a health check.
func (d *Daemon) waitServices(ctx context.Context, p *spec.Project, sel *planner.Selection, timeout time.Duration, ev emitFunc) error {
	if timeout == 0 {
		timeout = 5 * time.Minute
	}
	for _, name := range sel.Services() {
		cond := spec.ConditionStarted
		if d.hasHealthcheck(p, name) {
			cond = spec.ConditionHealthy
		}
		if err := d.waitCondition(ctx, p, name, cond, timeout); err != nil {
			return fmt.Errorf("service %q: %w", name, err)
		}
	}
	return nil
}

// Down stops and removes every container of a project in reverse
// dependency order, then its networks, and with req.Volumes its volumes.
// With req.Services it takes down those services and their dependents
// only (downSelection), and leaves what the other containers use.
func (d *Daemon) Down(ctx context.Context, project string, req api.DownRequest, emit func(api.Event)) error {
	defer releaseMemory()
	unlock, err := d.lockProject(project)
	if err != nil {
		return err
	}
	defer unlock()
	ev := projectEmitter(d.events, project, emit)
	if err := checkDown(req); err != nil {
		return err
	}
	_, rt, err := d.engines()
	if err != nil {
		return err
	}
	recs, err := d.records(project)
	if err != nil {
		return err
	}
	picked, kept := recs, []*record(nil)
	if len(req.Services) > 0 {
		exited := func(r *record) bool {
			st, err := rt.State(r.ID)
			return err != nil || st.Status == runtime.Stopped || st.Status == runtime.Unknown
		}
		if picked, kept = downSelection(recs, req, exited); len(picked) == 0 {
			ev(api.Event{Action: api.ActionWarning, Message: fmt.Sprintf("none of the services %s has a container in project %s", strings.Join(req.Services, ", "), project)})
			return nil
		}
	}
	left := usedBy(kept)
	var images []string
	for _, r := range picked {
		local := strings.HasPrefix(r.Image, project+"-")
		if (req.RemoveImages == "all" || req.RemoveImages == "local" && local) && !slices.Contains(images, r.Image) && !left.images[r.Image] {
			images = append(images, r.Image)
		}
	}
	// Dependents first, each wave's containers in parallel: a service
	// that ignores SIGTERM costs its grace period once, not once per
	// container.
	var errs []error
	for _, wave := range stopWaves(picked) {
		var wg sync.WaitGroup
		waveErrs := make([]error, len(wave))
		for i, r := range wave {
			wg.Add(1)
			go func() {
				defer wg.Done()
				waveErrs[i] = d.stopAndRemove(ctx, r, req.Timeout, ev)
			}()
		}
		wg.Wait()
		errs = append(errs, waveErrs...)
	}
	if err := d.removeNetworks(ctx, project, left.networks, ev); err != nil {
		errs = append(errs, err)
	}
	if req.Volumes {
		if err := d.removeVolumes(project, left.volume, ev); err != nil {
			errs = append(errs, err)
		}
	}
	slices.Sort(images)
	for _, ref := range images {
		if _, err := d.RemoveImage(ctx, ref, false); err != nil {
			if !errors.Is(err, errdefs.ErrNotFound) {
				errs = append(errs, err)
			}
			continue
		}
		ev(api.Event{Type: api.TypeImage, Image: ref, Action: api.ActionImageRemove})
	}
	return errors.Join(errs...)
}

// downSelection splits a project's records for down SERVICE...: the
// containers of the named services and of every service that depends on
// them, directly or not (compose's WithRootNodesAndDown), which go; and
// the rest, which stay. One-off containers go with their service only with
// req.RemoveOrphans, which also takes the orphans: containers of services
// the stack file does not have (req.StackServices) and exited one-offs.
// Services without containers are no error: compose cannot tell a typo
// from a service already down either.
func downSelection(recs []*record, req api.DownRequest, exited func(*record) bool) (picked, kept []*record) {
	targets := map[string]bool{}
	for _, s := range req.Services {
		targets[s] = true
	}
	for grew := true; grew; {
		grew = false
		for _, r := range recs {
			if targets[r.Service] || r.OneOff {
				continue
			}
			if slices.ContainsFunc(r.DependsOn, func(dep string) bool { return targets[dep] }) {
				targets[r.Service], grew = true, true
			}
		}
	}
	orphan := func(r *record) bool {
		if !req.RemoveOrphans {
			return false
		}
		if r.OneOff {
			return exited(r)
		}
		return len(req.StackServices) > 0 && !slices.Contains(req.StackServices, r.Service)
	}
	for _, r := range recs {
		if targets[r.Service] && (!r.OneOff || req.RemoveOrphans) || orphan(r) {
			picked = append(picked, r)
		} else {
			kept = append(kept, r)
		}
	}
	return picked, kept
}

// usage is what some containers use: for down SERVICE..., what the
// containers it leaves use, which it must not remove.
type usage struct {
	networks map[string]bool
	images   map[string]bool
	mounts   []string // the host sources of their mounts
}

// volume reports whether one of the containers mounts the volume whose
// directory is dir.
func (u usage) volume(dir string) bool {
	return slices.ContainsFunc(u.mounts, func(src string) bool { return src == dir || strings.HasPrefix(src, dir+"/") })
}

func usedBy(recs []*record) usage {
	u := usage{networks: map[string]bool{}, images: map[string]bool{}}
	for _, r := range recs {
		for n := range r.Networks {
			u.networks[n] = true
		}
		u.images[r.Image] = true
		if r.Spec != nil {
			for _, m := range r.Spec.Mounts {
				u.mounts = append(u.mounts, m.Source)
			}
		}
	}
	return u
}

// checkDown checks what Down can check before doing anything.
func checkDown(req api.DownRequest) error {
	switch req.RemoveImages {
	case "", "local", "all":
		return nil
	}
	return fmt.Errorf("--rmi %s: want local or all: %w", ident.Quote(req.RemoveImages), errdefs.ErrInvalidArgument)
}

// stopWaves orders a project's containers for stopping: a container goes
// in a wave after every container of a service that depends on its
// service. Records from before dependencies were kept, and one-off
// containers, have none and go in the first wave.
func stopWaves(recs []*record) [][]*record {
	services := recordServices(recs)
	dependents := map[string]int{} // service -> how many services depend on it
	for _, svc := range services {
		for _, dep := range svc.deps {
			dependents[dep]++
		}
	}
	done := map[string]bool{}
	var waves [][]*record
	for len(done) < len(services) {
		var ready []string
		for name := range services {
			if !done[name] && dependents[name] == 0 {
				ready = append(ready, name)
			}
		}
		if len(ready) == 0 {
			// A cycle cannot come from a valid stack file; stop the rest
			// together rather than never.
			for name := range services {
				if !done[name] {
					ready = append(ready, name)
				}
			}
		}
		sort.Strings(ready)
		var wave []*record
		for _, name := range ready {
			done[name] = true
			wave = append(wave, services[name].recs...)
			for _, dep := range services[name].deps {
				dependents[dep]--
			}
		}
		waves = append(waves, wave)
	}
	return waves
}

type recordService struct {
	deps []string
	recs []*record
}

// recordServices groups records by service; one-off containers form a
// service of their own each, so they stop first.
func recordServices(recs []*record) map[string]*recordService {
	out := map[string]*recordService{}
	for _, r := range recs {
		key := r.Service
		if r.OneOff {
			key = "\x00" + r.Name
		}
		s := out[key]
		if s == nil {
			s = &recordService{}
			out[key] = s
		}
		if !r.OneOff {
			for _, d := range r.DependsOn {
				if !slices.Contains(s.deps, d) {
					s.deps = append(s.deps, d)
				}
			}
		}
		s.recs = append(s.recs, r)
	}
	return out
}

// Containers lists a project's containers (every project's when project
// is ""), for ps.
func (d *Daemon) Containers(ctx context.Context, project string) ([]api.Container, error) {
	_, rt, err := d.engines()
	if err != nil {
		return nil, err
	}
	recs, err := d.records(project)
	if err != nil {
		return nil, err
	}
	out := make([]api.Container, 0, len(recs))
	for _, r := range recs {
		c := api.Container{ID: r.ID, Name: r.Name, Project: strings.TrimPrefix(r.Project, standaloneProject), Service: r.Service, Number: r.Number, OneOff: r.OneOff,
			Image: r.Image, Created: r.Created, Health: r.Health, Networks: r.Networks, RestartCount: r.RestartCount}
		if r.Spec != nil && r.Spec.Process != nil {
			c.Command = r.Spec.Process.Args
		}
		for _, pt := range r.Ports {
			c.Ports = append(c.Ports, api.Port(pt))
		}
		st, err := rt.State(r.ID)
		switch {
		case r.State != "":
			c.State = r.State
		case err != nil:
			// Between two runs: the last one's exit.
			c.State, c.ExitCode, c.Finished = "exited", r.ExitCode, r.Finished
		case st.Status == runtime.Stopped || st.Status == runtime.Unknown:
			c.State, c.ExitCode = "exited", st.ExitCode
		default:
			c.State = st.Status.String()
		}
		if err == nil {
			c.Started, c.Finished = st.StartedAt, st.FinishedAt
		}
		out = append(out, c)
	}
	return out, nil
}

// Projects lists the projects that have containers.
func (d *Daemon) Projects(ctx context.Context) ([]api.Project, error) {
	cs, err := d.Containers(ctx, "")
	if err != nil {
		return nil, err
	}
	byName := map[string]*api.Project{}
	var names []string
	for _, c := range cs {
		if c.Project == "" {
			continue // a container of no project (the Docker API's)
		}
		p := byName[c.Project]
		if p == nil {
			p = &api.Project{Name: c.Project}
			byName[c.Project] = p
			names = append(names, c.Project)
		}
		p.Total++
		if c.State == "running" {
			p.Running++
		}
	}
	out := make([]api.Project, 0, len(names))
	for _, n := range names {
		p := byName[n]
		p.Status = fmt.Sprintf("running(%d)", p.Running)
		if exited := p.Total - p.Running; exited > 0 {
			p.Status += fmt.Sprintf(", exited(%d)", exited)
		}
		out = append(out, *p)
	}
	return out, nil
}

func (d *Daemon) hasHealthcheck(p *spec.Project, service string) bool {
	svc := p.Services[service]
	if svc == nil {
		return false
	}
	if svc.Healthcheck != nil {
		return !svc.Healthcheck.Disable && len(svc.Healthcheck.Test) > 0
	}
	img, err := d.images.Rootfs(context.Background(), serviceImage(p, svc))
	return err == nil && img.Config.Healthcheck != nil && len(img.Config.Healthcheck.Test) > 0 && img.Config.Healthcheck.Test[0] != "NONE"
}
