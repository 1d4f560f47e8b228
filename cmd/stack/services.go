package main

import (
	"errors"
	"strings"

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
	if s := suggest(name, known); len(s) > 0 {
		msg += "\n\nDid you mean this?\n\t" + strings.Join(s, "\n\t")
	}
	return usageError{errors.New(msg)}
}
