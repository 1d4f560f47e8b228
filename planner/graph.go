package planner

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/stack-dev/stack/internal/errdefs"
	"github.com/stack-dev/stack/spec"
)

// Reference is a set of ways one service refers to another. A dependency
// [Edge] records every reference that created it.
type Reference uint8

// The references that make one service depend on another.
const (
	// RefDependsOn is an entry of depends_on.
	RefDependsOn Reference = 1 << iota
	// RefNetworkMode is network_mode: service:NAME.
	RefNetworkMode
	// RefVolumesFrom is volumes_from: NAME, NAME:ro or NAME:rw.
	RefVolumesFrom
	// RefLink is links: NAME or NAME:ALIAS.
	RefLink
)

var referenceNames = []struct {
	ref  Reference
	name string
}{
	{RefDependsOn, "depends_on"},
	{RefNetworkMode, "network_mode"},
	{RefVolumesFrom, "volumes_from"},
	{RefLink, "links"},
}

// String returns the stack-file keys of the references joined with "+", such
// as "depends_on+links".
func (r Reference) String() string {
	if r == 0 {
		return "none"
	}
	var parts []string
	rest := r
	for _, rn := range referenceNames {
		if r&rn.ref != 0 {
			parts = append(parts, rn.name)
			rest &^= rn.ref
		}
	}
	if rest != 0 {
		parts = append(parts, fmt.Sprintf("Reference(%#x)", uint8(rest)))
	}
	return strings.Join(parts, "+")
}

// Edge is the dependency of service From on service To: To starts first.
type Edge struct {
	From, To string
	// Refs are the ways From refers to To.
	Refs Reference
	// Condition is the depends_on condition, or spec.ConditionStarted for a
	// dependency that only network_mode, volumes_from or links imply.
	Condition string
	// Required is false when From may run without To (depends_on
	// required: false); implicit dependencies are always required.
	Required bool
	// Restart is true when From must be restarted after To is recreated:
	// depends_on restart: true, or implied by links and network_mode.
	Restart bool
}

// sharesContainer reports whether From uses the container of To itself (its
// network namespace or its volumes), so that From must be recreated, not
// only restarted, when To is recreated.
func (e Edge) sharesContainer() bool { return e.Refs&(RefNetworkMode|RefVolumesFrom) != 0 }

// serviceEdges returns the dependencies service name declares, sorted by
// target. As in Compose, an explicit depends_on entry decides the condition,
// required and restart of its edge; implicit references fill in a missing
// entry with service_started and required: true.
func serviceEdges(name string, s *spec.Service) []Edge {
	byTarget := make(map[string]*Edge)
	edge := func(to string) *Edge {
		e, ok := byTarget[to]
		if !ok {
			e = &Edge{From: name, To: to}
			byTarget[to] = e
		}
		return e
	}
	for to, d := range s.DependsOn {
		e := edge(to)
		e.Refs |= RefDependsOn
		e.Condition, e.Required, e.Restart = d.Condition, d.Required, d.Restart
	}
	implicit := func(to string, ref Reference, restart bool) {
		e := edge(to)
		switch {
		case e.Refs == 0:
			e.Condition, e.Required, e.Restart = spec.ConditionStarted, true, restart
		case e.Refs&RefDependsOn == 0:
			e.Restart = e.Restart || restart
		}
		e.Refs |= ref
	}
	if to, ok := strings.CutPrefix(s.NetworkMode, "service:"); ok {
		implicit(to, RefNetworkMode, true)
	}
	for _, v := range s.VolumesFrom {
		to, _, _ := strings.Cut(v, ":")
		if to == "container" {
			continue
		}
		implicit(to, RefVolumesFrom, false)
	}
	for _, l := range s.Links {
		to, _, _ := strings.Cut(l, ":")
		implicit(to, RefLink, true)
	}
	edges := make([]Edge, 0, len(byTarget))
	for _, e := range byTarget {
		edges = append(edges, *e)
	}
	slices.SortFunc(edges, func(a, b Edge) int { return strings.Compare(a.To, b.To) })
	return edges
}

// describe names the references of e the way the stack file spells them,
// for error messages and plan reasons.
func (e Edge) describe() string {
	var parts []string
	for _, rn := range referenceNames {
		if e.Refs&rn.ref == 0 {
			continue
		}
		switch rn.ref {
		case RefNetworkMode:
			parts = append(parts, "network_mode service:"+e.To)
		default:
			parts = append(parts, rn.name)
		}
	}
	return strings.Join(parts, ", ")
}

// Graph is the dependency graph of a set of services, ordered in start waves.
// It is immutable once built and safe for concurrent use.
type Graph struct {
	names      []string       // sorted
	index      map[string]int // name -> position in names
	deps       [][]Edge       // by index, sorted by To
	dependents [][]Edge       // by index, sorted by From
	wave       []int          // by index
	waves      [][]string
}

// NewGraph builds the dependency graph of the named services of p. Edges to
// services of p outside names are left out, so the graph of a selection
// orders only what the selection runs. It returns an error wrapping
// errdefs.ErrNotFound for a name that is not a service of p, one wrapping
// errdefs.ErrInvalidArgument for a reference to a service p does not
// define, and a [*CycleError] when the services depend on each other in a
// cycle.
func NewGraph(p *spec.Project, names []string) (*Graph, error) {
	if p == nil {
		return nil, fmt.Errorf("build dependency graph: no project: %w", errdefs.ErrInvalidArgument)
	}
	g := &Graph{index: make(map[string]int, len(names))}
	g.names = slices.Clone(names)
	slices.Sort(g.names)
	g.names = slices.Compact(g.names)
	for i, n := range g.names {
		if p.Services[n] == nil {
			return nil, fmt.Errorf("service %q: %w", n, errdefs.ErrNotFound)
		}
		g.index[n] = i
	}
	g.deps = make([][]Edge, len(g.names))
	g.dependents = make([][]Edge, len(g.names))
	var errs []error
	for i, n := range g.names {
		for _, e := range serviceEdges(n, p.Services[n]) {
			if p.Services[e.To] == nil {
				errs = append(errs, undefinedError(e))
				continue
			}
			j, ok := g.index[e.To]
			if !ok {
				continue
			}
			g.deps[i] = append(g.deps[i], e)
			g.dependents[j] = append(g.dependents[j], e)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	// dependents[j] was filled in ascending order of From, since i ascends.
	if err := g.order(); err != nil {
		return nil, err
	}
	return g, nil
}

func undefinedError(e Edge) error {
	if e.Refs&RefDependsOn != 0 {
		return fmt.Errorf("service %q depends on undefined service %q: %w", e.From, e.To, errdefs.ErrInvalidArgument)
	}
	return fmt.Errorf("service %q refers to undefined service %q in %s: %w", e.From, e.To, e.describe(), errdefs.ErrInvalidArgument)
}

// order computes the start waves with Kahn's algorithm: a service's wave is
// one more than the latest wave among its dependencies.
func (g *Graph) order() error {
	n := len(g.names)
	pending := make([]int, n) // unplaced dependencies per node
	g.wave = make([]int, n)
	var ready []int
	for i := range g.names {
		pending[i] = len(g.deps[i])
		if pending[i] == 0 {
			ready = append(ready, i)
		}
	}
	placed := 0
	for len(ready) > 0 {
		var next []int
		for _, i := range ready {
			placed++
			for _, e := range g.dependents[i] {
				j := g.index[e.From]
				g.wave[j] = max(g.wave[j], g.wave[i]+1)
				if pending[j]--; pending[j] == 0 {
					next = append(next, j)
				}
			}
		}
		ready = next
	}
	if placed < n {
		return g.cycle(pending)
	}
	depth := 0
	for _, w := range g.wave {
		depth = max(depth, w+1)
	}
	g.waves = make([][]string, depth)
	for i, name := range g.names { // names are sorted, so each wave is too
		g.waves[g.wave[i]] = append(g.waves[g.wave[i]], name)
	}
	return nil
}

// cycle finds a dependency cycle among the nodes Kahn's algorithm could not
// place. Every such node has an unplaced dependency, so walking unplaced
// dependencies from any of them must come back to a node already walked.
// The walk starts at the smallest name and always takes the smallest
// dependency, and the cycle is printed from its smallest name, so the
// error is the same for the same input.
func (g *Graph) cycle(pending []int) error {
	start := -1
	for i := range g.names {
		if pending[i] > 0 {
			start = i
			break
		}
	}
	pos := make(map[int]int) // node -> position on path
	var path []int
	for i := start; ; {
		if at, seen := pos[i]; seen {
			path = path[at:]
			break
		}
		pos[i] = len(path)
		path = append(path, i)
		for _, e := range g.deps[i] { // sorted by To
			if j := g.index[e.To]; pending[j] > 0 {
				i = j
				break
			}
		}
	}
	smallest := slices.Min(path) // indexes follow sorted names
	at := slices.Index(path, smallest)
	cycle := make([]string, 0, len(path)+1)
	for k := range path {
		cycle = append(cycle, g.names[path[(at+k)%len(path)]])
	}
	cycle = append(cycle, cycle[0])
	return &CycleError{Cycle: cycle}
}

// CycleError reports services that depend on each other in a cycle. It
// wraps errdefs.ErrInvalidArgument.
type CycleError struct {
	// Cycle lists the services of the cycle, starting and ending with the
	// smallest name: [php web php] for php -> web -> php.
	Cycle []string
}

// Error prints the cycle as "dependency cycle detected: php -> web -> php".
func (e *CycleError) Error() string {
	return "dependency cycle detected: " + strings.Join(e.Cycle, " -> ")
}

// Unwrap returns errdefs.ErrInvalidArgument, the class of a cycle.
func (e *CycleError) Unwrap() error { return errdefs.ErrInvalidArgument }

// Services returns the services of the graph, sorted.
func (g *Graph) Services() []string { return slices.Clone(g.names) }

// Dependencies returns the edges from service name to the services it
// depends on, sorted by target, or nil when name is not in the graph.
func (g *Graph) Dependencies(name string) []Edge {
	i, ok := g.index[name]
	if !ok {
		return nil
	}
	return slices.Clone(g.deps[i])
}

// Dependents returns the edges from the services that depend on service
// name, sorted by dependent, or nil when name is not in the graph.
func (g *Graph) Dependents(name string) []Edge {
	i, ok := g.index[name]
	if !ok {
		return nil
	}
	return slices.Clone(g.dependents[i])
}

// RestartDependents returns the services that must be restarted when
// the named ones are, as compose's restart (prepareRestartProject): those
// that depend on one of them, directly or through others, by an edge with
// Restart (depends_on restart: true, links, network_mode). The named
// services are not in it; it is sorted.
func (g *Graph) RestartDependents(names []string) []string {
	seen := map[string]bool{}
	for _, n := range names {
		seen[n] = true
	}
	var out []string
	queue := slices.Clone(names)
	for len(queue) > 0 {
		name := queue[0]
		queue = queue[1:]
		for _, e := range g.Dependents(name) {
			if e.Restart && !seen[e.From] {
				seen[e.From] = true
				out = append(out, e.From)
				queue = append(queue, e.From)
			}
		}
	}
	slices.Sort(out)
	return out
}

// Wave returns the start wave of service name, and false when name is not in
// the graph.
func (g *Graph) Wave(name string) (int, bool) {
	i, ok := g.index[name]
	if !ok {
		return 0, false
	}
	return g.wave[i], true
}

// Waves returns the start order: wave 0 holds the services without
// dependencies, and every other service sits one wave after its latest
// dependency. The services of a wave may start in parallel once the previous
// wave has started. Each wave is sorted.
func (g *Graph) Waves() [][]string {
	out := make([][]string, len(g.waves))
	for i, w := range g.waves {
		out[i] = slices.Clone(w)
	}
	return out
}

// StopWaves returns the stop order: the start waves in reverse, so a
// service stops before the services it depends on.
func (g *Graph) StopWaves() [][]string {
	out := g.Waves()
	slices.Reverse(out)
	return out
}
