package main

import (
	"errors"

	"github.com/stack-dev/stack/spec"
)

// checkServices fails with a usage error, and a suggestion, when a name
// is not a service of the stack file (p nil: nothing to check against).
func checkServices(p *spec.Project, names []string) error {
	if p == nil {
		return nil
	}
	for _, n := range names {
		if _, ok := p.Services[n]; !ok {
			return noSuchService(n, p.ServiceNames())
		}
	}
	return nil
}

// noSuchService is compose's "no such service" error, a usage error here,
// with the closest names as a suggestion.
func noSuchService(name string, known []string) error {
	msg := "no such service: " + name
	if s := spec.Closest(name, known); s != "" {
		msg += "\n\nDid you mean this?\n\t" + s
	}
	return usageError{errors.New(msg)}
}
