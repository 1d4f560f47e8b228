package planner

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/stack-dev/stack/internal/errdefs"
	"github.com/stack-dev/stack/spec"
)

// SelectOptions say which services a command acts on.
type SelectOptions struct {
	// Profiles are the active profiles (--profile, COMPOSE_PROFILES); "*"
	// activates every profile. Optional.
	Profiles []string
	// Services are the SERVICE... arguments of the command. Empty means
	// every enabled service. Optional.
	Services []string
	// NoDeps leaves out the dependencies of Services (--no-deps). Optional.
	NoDeps bool
}

// Selection is the set of services a command acts on, in dependency order.
// [Select] makes it; it is immutable and safe for concurrent use.
type Selection struct {
	services []string // sorted
	profiles []string // sorted
	disabled []string // sorted
	graph    *Graph   // over services
}

// Select applies the Compose profile rules (compose-spec 15-profiles.md) and
// the SERVICE... arguments of a command to p:
//
//   - a service without profiles is always enabled, and a service with
//     profiles is enabled when one of them is active ("*" activates all);
//   - naming a service in opts.Services activates its profiles, so it is
//     enabled whatever the active profiles;
//   - with opts.Services empty, every enabled service is selected; otherwise
//     the named services are, plus (unless opts.NoDeps) the services they
//     transitively depend on.
//
// As in docker compose, a dependency must be enabled: every service that the
// active profiles enable, and every dependency walked from a named service,
// may depend on a disabled service only with depends_on required: false
// (the dependency is then ignored). A dependency on a service p does not
// define is always an error. These errors, all of them at once, and a
// dependency cycle among the checked services ([*CycleError]), wrap
// errdefs.ErrInvalidArgument. A name in opts.Services that is not a service
// of p is an error wrapping errdefs.ErrNotFound that lists the known
// services.
func Select(p *spec.Project, opts SelectOptions) (*Selection, error) {
	if p == nil {
		return nil, fmt.Errorf("select services: no project: %w", errdefs.ErrInvalidArgument)
	}
	all := p.ServiceNames()
	for _, name := range all {
		if p.Services[name] == nil {
			return nil, fmt.Errorf("service %q: no definition: %w", name, errdefs.ErrInvalidArgument)
		}
	}

	named := slices.Clone(opts.Services)
	slices.Sort(named)
	named = slices.Compact(named)
	var unknown []string
	for _, name := range named {
		if p.Services[name] == nil {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 0 {
		return nil, unknownServicesError(unknown, all)
	}

	// The profiles the user asked for decide which services the stack file
	// enables; docker compose validates their dependencies when it loads
	// the file, before it looks at the command's arguments.
	asked := profileSet(opts.Profiles)
	check := make(map[string]bool)
	for _, name := range all {
		if enabledBy(p.Services[name], asked) {
			check[name] = true
		}
	}
	var errs []error
	for _, name := range all {
		if check[name] {
			errs = append(errs, dependencyErrors(p, name, asked)...)
		}
	}

	// Naming a service activates its profiles.
	active := maps.Clone(asked)
	for _, name := range named {
		for _, prof := range p.Services[name].Profiles {
			active[prof] = true
		}
	}
	var selected, disabled []string
	for _, name := range all {
		if !enabledBy(p.Services[name], active) {
			disabled = append(disabled, name)
		}
	}
	switch {
	case len(named) == 0:
		for name := range check {
			selected = append(selected, name)
		}
	case opts.NoDeps:
		selected = slices.Clone(named)
	default:
		var walkErrs []error
		selected, walkErrs = walkDependencies(p, named, active, check)
		errs = append(errs, walkErrs...)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	slices.Sort(selected)
	for _, name := range selected {
		check[name] = true
	}

	// Cycles are looked for among every checked service, not only the
	// selected ones, as docker compose rejects a file with a cycle whatever
	// the command.
	checked := slices.Sorted(maps.Keys(check))
	g, err := NewGraph(p, checked)
	if err != nil {
		return nil, err
	}
	if len(checked) != len(selected) {
		if g, err = NewGraph(p, selected); err != nil {
			return nil, err
		}
	}
	return &Selection{
		services: selected,
		profiles: slices.Sorted(maps.Keys(active)),
		disabled: disabled,
		graph:    g,
	}, nil
}

// walkDependencies returns the named services plus the services they
// transitively depend on, skipping dependencies that are disabled and not
// required. It reports the dependencies of walked services not already
// checked.
func walkDependencies(p *spec.Project, named []string, active, checked map[string]bool) ([]string, []error) {
	seen := make(map[string]bool)
	queue := slices.Clone(named)
	var errs []error
	for len(queue) > 0 {
		name := queue[0]
		queue = queue[1:]
		if seen[name] {
			continue
		}
		seen[name] = true
		if !checked[name] {
			errs = append(errs, dependencyErrors(p, name, active)...)
		}
		for _, e := range serviceEdges(name, p.Services[name]) {
			dep := p.Services[e.To]
			if dep != nil && enabledBy(dep, active) && !seen[e.To] {
				queue = append(queue, e.To)
			}
		}
	}
	return slices.Collect(maps.Keys(seen)), errs
}

// dependencyErrors checks that every dependency of service name exists and,
// unless it is optional, is enabled by the active profiles.
func dependencyErrors(p *spec.Project, name string, active map[string]bool) []error {
	var errs []error
	for _, e := range serviceEdges(name, p.Services[name]) {
		dep := p.Services[e.To]
		switch {
		case dep == nil:
			errs = append(errs, undefinedError(e))
		case !enabledBy(dep, active) && e.Required:
			errs = append(errs, fmt.Errorf("service %q depends on disabled service %q (profiles %s, none active; or set depends_on required: false): %w",
				e.From, e.To, strings.Join(dep.Profiles, ", "), errdefs.ErrInvalidArgument))
		}
	}
	return errs
}

func unknownServicesError(unknown, known []string) error {
	quoted := make([]string, len(unknown))
	for i, u := range unknown {
		quoted[i] = fmt.Sprintf("%q", u)
	}
	noun := "service"
	if len(unknown) > 1 {
		noun = "services"
	}
	list := strings.Join(known, ", ")
	if list == "" {
		list = "none"
	}
	return fmt.Errorf("%s %s: %w (known services: %s)", noun, strings.Join(quoted, ", "), errdefs.ErrNotFound, list)
}

func profileSet(profiles []string) map[string]bool {
	set := make(map[string]bool, len(profiles))
	for _, p := range profiles {
		if p != "" {
			set[p] = true
		}
	}
	return set
}

// enabledBy reports whether the active profiles enable s.
func enabledBy(s *spec.Service, active map[string]bool) bool {
	if len(s.Profiles) == 0 || active["*"] {
		return true
	}
	for _, p := range s.Profiles {
		if active[p] {
			return true
		}
	}
	return false
}

// Services returns the selected services, sorted.
func (s *Selection) Services() []string { return slices.Clone(s.services) }

// Has reports whether service name is selected.
func (s *Selection) Has(name string) bool {
	_, ok := slices.BinarySearch(s.services, name)
	return ok
}

// Profiles returns the active profiles, sorted: those asked for plus those
// of the services named explicitly.
func (s *Selection) Profiles() []string { return slices.Clone(s.profiles) }

// Disabled returns the services no active profile enables, sorted. Their
// containers are not orphans.
func (s *Selection) Disabled() []string { return slices.Clone(s.disabled) }

// Graph returns the dependency graph of the selected services.
func (s *Selection) Graph() *Graph { return s.graph }

// Waves returns the start order of the selected services; see
// [Graph.Waves].
func (s *Selection) Waves() [][]string { return s.graph.Waves() }

// StopWaves returns the stop order of the selected services; see
// [Graph.StopWaves].
func (s *Selection) StopWaves() [][]string { return s.graph.StopWaves() }

// Restrict returns a copy of p that holds only the selected services, the
// way `stack config` prints a project. Each service's depends_on keeps only
// the selected services, as docker compose does; everything else, top-level
// networks, volumes, secrets and configs included, is kept. The copy is
// shallow below the service level: it shares unchanged maps and slices with
// p, so treat both as read-only.
func Restrict(p *spec.Project, sel *Selection) *spec.Project {
	out := *p
	out.Services = make(map[string]*spec.Service, len(sel.services))
	for _, name := range sel.services {
		s, ok := p.Services[name]
		if !ok {
			continue
		}
		c := *s
		if s.DependsOn != nil {
			c.DependsOn = make(map[string]spec.DependsOn, len(s.DependsOn))
			for dep, d := range s.DependsOn {
				if sel.Has(dep) {
					c.DependsOn[dep] = d
				}
			}
			if len(c.DependsOn) == 0 {
				c.DependsOn = nil
			}
		}
		out.Services[name] = &c
	}
	return &out
}
