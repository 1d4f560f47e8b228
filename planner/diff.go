package planner

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/stack-dev/stack/internal/errdefs"
	"github.com/stack-dev/stack/spec"
)

// Observed is one container that exists for the project.
type Observed struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Project string `json:"project"`
	Service string `json:"service"`
	// Number counts the service's containers from 1.
	Number int `json:"number"`
	// ConfigHash is the [ConfigHash] the container was created with.
	ConfigHash string `json:"config_hash"`
	// ImageID is the ID of the image the container runs.
	ImageID  string `json:"image_id,omitempty"`
	Running  bool   `json:"running"`
	ExitCode int    `json:"exit_code,omitempty"`
}

// Observer reports the containers that exist for a project. The daemon
// implements it over the runtime; tests use an in-memory fake.
type Observer interface {
	// Containers returns every container of the project, running or not.
	Containers(project string) ([]Observed, error)
}

// DiffOptions tune [Diff] the way the flags of `stack up` do. All fields are
// optional.
type DiffOptions struct {
	// ForceRecreate recreates every container of the named services
	// (--force-recreate): those of Named, or every selected service when
	// Named is empty. As in compose, the dependencies a named service
	// brought into the selection are recreated only when they changed,
	// unless AlwaysRecreateDeps.
	ForceRecreate bool
	// AlwaysRecreateDeps recreates every container of the selected
	// services that are not named, the dependencies
	// (--always-recreate-deps).
	AlwaysRecreateDeps bool
	// Named are the services the command named (up SERVICE...); empty
	// means every selected service is named.
	Named []string
	// NoRecreate keeps existing containers even when they are out of date
	// (--no-recreate); stopped ones are only started.
	NoRecreate bool
	// RemoveOrphans removes the containers of services that are not in the
	// stack file (--remove-orphans).
	RemoveOrphans bool
	// Scale overrides the number of replicas per service (--scale SVC=N).
	Scale map[string]int
	// ImageIDs maps a service to the ID of the image it would run now; a
	// container running another image is recreated, as after `up --build`
	// or a pull. Services without an entry are not compared by image.
	ImageIDs map[string]string
}

// Diff compares the selected services of desired with the observed
// containers of the project and returns the plan that reconciles them, with
// the rules of docker compose up:
//
//   - a missing instance is created;
//   - an instance whose config hash or image differs from the service's is
//     recreated, unless opts.NoRecreate; opts.ForceRecreate recreates every
//     instance of the named services (opts.Named, all when empty), and
//     opts.AlwaysRecreateDeps every instance of the others, as compose's
//     recreate strategies for services and their dependencies;
//   - an up-to-date instance that is not running is started, and a running
//     one is left alone;
//   - instances beyond the scale are stopped and removed, highest number
//     first;
//   - when a service is recreated, the services that use its container
//     (network_mode service:NAME, volumes_from) are recreated too, and the
//     running, up-to-date instances of services that depend on it with
//     restart (depends_on restart: true, links) are restarted; only
//     selected services are recreated or restarted this way;
//   - containers of services that are not in desired are orphans: listed in
//     [Plan.Orphans], and removed only with opts.RemoveOrphans. Containers
//     of services that are in desired but not selected, disabled ones
//     included, are left alone.
//
// desired must be the whole project that sel was selected from, not a
// [Restrict]ed copy, or the containers of unselected services would count as
// orphans. The same input always gives the same plan. Invalid input (see
// [Instances]; also ForceRecreate with NoRecreate, or an observed container
// of another project or without a number) is an error wrapping
// errdefs.ErrInvalidArgument or errdefs.ErrNotFound.
func Diff(desired *spec.Project, sel *Selection, observed []Observed, opts DiffOptions) (*Plan, error) {
	if err := checkPlanInput(desired, sel, opts.Scale); err != nil {
		return nil, err
	}
	if opts.ForceRecreate && opts.NoRecreate {
		return nil, fmt.Errorf("plan: force-recreate and no-recreate are incompatible: %w", errdefs.ErrInvalidArgument)
	}
	if opts.AlwaysRecreateDeps && opts.NoRecreate {
		return nil, fmt.Errorf("plan: always-recreate-deps and no-recreate are incompatible: %w", errdefs.ErrInvalidArgument)
	}
	byService := make(map[string][]Observed)
	for _, o := range observed {
		if o.Project != "" && o.Project != desired.Name {
			return nil, fmt.Errorf("plan: observed container %q belongs to project %q, not %q: %w",
				o.Name, o.Project, desired.Name, errdefs.ErrInvalidArgument)
		}
		if o.Number < 1 {
			return nil, fmt.Errorf("plan: observed container %q of service %q has no container number: %w",
				o.Name, o.Service, errdefs.ErrInvalidArgument)
		}
		byService[o.Service] = append(byService[o.Service], o)
	}

	plan := &Plan{}
	for _, svc := range sortedKeys(byService) {
		if desired.Services[svc] != nil {
			continue
		}
		orphans := byService[svc]
		slices.SortFunc(orphans, compareObserved)
		plan.Orphans = append(plan.Orphans, orphans...)
		if !opts.RemoveOrphans {
			continue
		}
		for _, o := range orphans {
			plan.Actions = append(plan.Actions, Action{
				Kind: RemoveOrphan, Service: svc, Container: o.Name, ID: o.ID, Number: o.Number,
				Wave: OrphanWave, Reason: fmt.Sprintf("orphan: service %q is not in the stack file", svc),
			})
		}
	}

	d := differ{
		project:   desired,
		graph:     sel.graph,
		opts:      opts,
		recreated: make(map[string]bool),
	}
	for wave, names := range sel.graph.waves {
		for _, name := range names {
			actions, err := d.service(name, wave, byService[name])
			if err != nil {
				return nil, err
			}
			plan.Actions = append(plan.Actions, actions...)
		}
	}
	return plan, nil
}

// differ holds what the per-service diff shares across services.
type differ struct {
	project *spec.Project
	graph   *Graph
	opts    DiffOptions
	// recreated marks the services the plan recreates; the waves guarantee a
	// service's dependencies are diffed before the service.
	recreated map[string]bool
}

// service returns the actions for one selected service in plan order.
func (d *differ) service(name string, wave int, containers []Observed) ([]Action, error) {
	s := d.project.Services[name]
	want, err := replicas(name, s, d.opts.Scale)
	if err != nil {
		return nil, err
	}
	hash := ConfigHash(s)
	image := d.opts.ImageIDs[name]
	named := len(d.opts.Named) == 0 || slices.Contains(d.opts.Named, name)
	force := d.opts.ForceRecreate && named || d.opts.AlwaysRecreateDeps && !named

	// Keep one container per number: prefer a running one, then the one
	// carrying the expected name, then the smallest ID. The rest, and every
	// number beyond the scale, are extra.
	slices.SortFunc(containers, func(a, b Observed) int {
		return cmp.Or(
			cmp.Compare(a.Number, b.Number),
			compareBool(b.Running, a.Running),
			compareBool(b.Name == instance(d.project.Name, name, s, b.Number).Name,
				a.Name == instance(d.project.Name, name, s, a.Number).Name),
			strings.Compare(a.ID, b.ID),
			strings.Compare(a.Name, b.Name),
		)
	})
	keep := make(map[int]Observed)
	var extra []Observed
	for _, c := range containers {
		if _, dup := keep[c.Number]; dup || c.Number > want {
			extra = append(extra, c)
			continue
		}
		keep[c.Number] = c
	}

	var actions []Action
	// Scale down first, highest number first, as docker compose does.
	slices.SortStableFunc(extra, func(a, b Observed) int { return cmp.Compare(b.Number, a.Number) })
	for _, c := range extra {
		reason := fmt.Sprintf("scale down from %d to %d", len(containers), want)
		if c.Number <= want {
			reason = fmt.Sprintf("duplicate of container number %d", c.Number)
		}
		base := Action{Service: name, Container: c.Name, ID: c.ID, Number: c.Number, Wave: wave, Reason: reason}
		if c.Running {
			stop := base
			stop.Kind = Stop
			actions = append(actions, stop)
		}
		base.Kind = Remove
		actions = append(actions, base)
	}

	// Dependencies recreated earlier in the plan.
	var shared, restart []Edge
	for _, e := range d.graph.Dependencies(name) {
		switch {
		case !d.recreated[e.To]:
		case e.sharesContainer():
			shared = append(shared, e)
		case e.Restart:
			restart = append(restart, e)
		}
	}

	for n := 1; n <= want; n++ {
		in := instance(d.project.Name, name, s, n)
		a := Action{Service: name, Container: in.Name, Number: n, Wave: wave}
		c, exists := keep[n]
		if exists {
			a.ID = c.ID
		}
		switch {
		case !exists:
			a.Kind, a.Reason = Create, "not created yet"
		case force:
			a.Kind, a.Reason = Recreate, "force recreate"
		case d.opts.NoRecreate:
			if c.Running {
				continue
			}
			a.Kind, a.Container, a.Reason = Start, c.Name, "not running"
		case c.ConfigHash != hash:
			a.Kind, a.Reason = Recreate, "config hash changed"
		case image != "" && c.ImageID != image:
			a.Kind, a.Reason = Recreate, "image changed"
		case len(shared) > 0:
			a.Kind, a.Reason = Recreate, recreatedReason(shared, func(e Edge) string {
				if e.Refs&RefNetworkMode != 0 {
					return "network_mode service:" + e.To
				}
				return "volumes_from " + e.To
			})
		case !c.Running:
			a.Kind, a.Container, a.Reason = Start, c.Name, "not running"
		case len(restart) > 0:
			a.Kind, a.Container, a.Reason = Restart, c.Name, recreatedReason(restart, func(Edge) string { return "restart: true" })
		default:
			continue
		}
		if a.Kind == Create || a.Kind == Recreate {
			a.ConfigHash = hash
		}
		if a.Kind == Recreate {
			d.recreated[name] = true
		}
		actions = append(actions, a)
	}
	return actions, nil
}

// recreatedReason explains an action caused by recreated dependencies:
// `dependency "db" is recreated (restart: true)`.
func recreatedReason(deps []Edge, why func(Edge) string) string {
	if len(deps) == 1 {
		return fmt.Sprintf("dependency %q is recreated (%s)", deps[0].To, why(deps[0]))
	}
	names := make([]string, len(deps))
	whys := make([]string, 0, len(deps))
	for i, e := range deps {
		names[i] = fmt.Sprintf("%q", e.To)
		if w := why(e); !slices.Contains(whys, w) {
			whys = append(whys, w)
		}
	}
	return fmt.Sprintf("dependencies %s are recreated (%s)", strings.Join(names, ", "), strings.Join(whys, ", "))
}

func compareObserved(a, b Observed) int {
	return cmp.Or(
		strings.Compare(a.Service, b.Service),
		cmp.Compare(a.Number, b.Number),
		strings.Compare(a.Name, b.Name),
		strings.Compare(a.ID, b.ID),
	)
}

// compareBool orders false before true.
func compareBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	default:
		return 1
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	return sortedStrings(keys)
}

func sortedStrings(s []string) []string {
	slices.Sort(s)
	return s
}
