package planner

import (
	"fmt"
	"strconv"

	"github.com/stack-dev/stack/internal/errdefs"
	"github.com/stack-dev/stack/spec"
)

// Instance is one container a service runs.
type Instance struct {
	Service string `json:"service"`
	// Number counts the service's containers from 1.
	Number int `json:"number"`
	// Name is the container name: container_name, or
	// <project>-<service>-<number>.
	Name string `json:"name"`
}

// ContainerName returns the name of container number n of a service when
// the service sets no container_name: <project>-<service>-<n>, as docker
// compose v2 names containers.
func ContainerName(project, service string, n int) string {
	return project + "-" + service + "-" + strconv.Itoa(n)
}

// Instances returns the containers the selected services of p run, in start
// order: by wave, then service, then number. scale overrides the number of
// replicas of a service (`up --scale SVC=N`); services of p that are not
// selected are ignored, and a name that is not a service of p is an error
// wrapping errdefs.ErrNotFound. A negative scale, or container_name on a
// service with more than one replica, is an error wrapping
// errdefs.ErrInvalidArgument.
func Instances(p *spec.Project, sel *Selection, scale map[string]int) ([]Instance, error) {
	if err := checkPlanInput(p, sel, scale); err != nil {
		return nil, err
	}
	var out []Instance
	for _, wave := range sel.graph.waves {
		for _, name := range wave {
			n, err := replicas(name, p.Services[name], scale)
			if err != nil {
				return nil, err
			}
			for i := 1; i <= n; i++ {
				out = append(out, instance(p.Name, name, p.Services[name], i))
			}
		}
	}
	return out, nil
}

// checkPlanInput checks what [Instances] and [Diff] share: a named project,
// a selection made by [Select] whose services p defines, and a scale map
// naming services of p.
func checkPlanInput(p *spec.Project, sel *Selection, scale map[string]int) error {
	switch {
	case p == nil:
		return fmt.Errorf("plan: no project: %w", errdefs.ErrInvalidArgument)
	case p.Name == "":
		return fmt.Errorf("plan: project has no name: %w", errdefs.ErrInvalidArgument)
	case sel == nil || sel.graph == nil:
		return fmt.Errorf("plan: no selection (use planner.Select): %w", errdefs.ErrInvalidArgument)
	}
	for _, name := range sel.services {
		if p.Services[name] == nil {
			return fmt.Errorf("plan: selected service %q: %w", name, errdefs.ErrNotFound)
		}
	}
	var unknown []string
	for name := range scale {
		if p.Services[name] == nil {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 0 {
		return fmt.Errorf("scale: %w", unknownServicesError(sortedStrings(unknown), p.ServiceNames()))
	}
	return nil
}

// replicas returns how many containers service name runs: the scale
// override, else the service's own count.
func replicas(name string, s *spec.Service, scale map[string]int) (int, error) {
	n, ok := scale[name]
	if !ok {
		n = s.Replicas()
	}
	if n < 0 {
		return 0, fmt.Errorf("service %q: scale %d: must not be negative: %w", name, n, errdefs.ErrInvalidArgument)
	}
	if s.ContainerName != "" && n > 1 {
		return 0, fmt.Errorf("service %q: container_name %q names a single container, but the service runs %d: %w",
			name, s.ContainerName, n, errdefs.ErrInvalidArgument)
	}
	return n, nil
}

func instance(project, name string, s *spec.Service, n int) Instance {
	in := Instance{Service: name, Number: n, Name: s.ContainerName}
	if in.Name == "" {
		in.Name = ContainerName(project, name, n)
	}
	return in
}
