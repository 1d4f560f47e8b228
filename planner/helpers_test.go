package planner_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/stack-dev/stack/spec"
)

// The desired projects of the tests are built in Go: spec's loader is not
// ready, and a Go literal shows exactly which fields a case depends on.

// svcOpt changes one field of a test service.
type svcOpt func(*spec.Service)

// svc returns a service running busybox, changed by opts.
func svc(opts ...svcOpt) *spec.Service {
	s := &spec.Service{Image: "busybox:1.36", Command: spec.Command{"sleep", "infinity"}}
	for _, o := range opts {
		o(s)
	}
	return s
}

// project returns a project named name with the given services.
func project(name string, services map[string]*spec.Service) *spec.Project {
	for n, s := range services {
		s.Name = n
	}
	return &spec.Project{Name: name, Services: services}
}

// needs adds depends_on entries with the Compose defaults: condition
// service_started, required.
func needs(names ...string) svcOpt {
	return func(s *spec.Service) {
		for _, n := range names {
			dependsOn(n, spec.DependsOn{Condition: spec.ConditionStarted, Required: true})(s)
		}
	}
}

// dependsOn adds one depends_on entry as given.
func dependsOn(name string, d spec.DependsOn) svcOpt {
	return func(s *spec.Service) {
		if s.DependsOn == nil {
			s.DependsOn = make(map[string]spec.DependsOn)
		}
		s.DependsOn[name] = d
	}
}

func profiles(p ...string) svcOpt { return func(s *spec.Service) { s.Profiles = p } }

func replicas(n int) svcOpt {
	return func(s *spec.Service) { s.Deploy = &spec.Deploy{Replicas: &n} }
}

func containerName(n string) svcOpt { return func(s *spec.Service) { s.ContainerName = n } }

func networkMode(m string) svcOpt { return func(s *spec.Service) { s.NetworkMode = m } }

func volumesFrom(v ...string) svcOpt { return func(s *spec.Service) { s.VolumesFrom = v } }

func links(l ...string) svcOpt { return func(s *spec.Service) { s.Links = l } }

func env(kv ...string) svcOpt {
	return func(s *spec.Service) {
		if s.Environment == nil {
			s.Environment = make(map[string]*string)
		}
		for _, e := range kv {
			k, v, _ := strings.Cut(e, "=")
			s.Environment[k] = &v
		}
	}
}

// checkErr fails t unless err matches: no error when wantErr is "", else an
// error with exactly that message that is (errors.Is) class.
func checkErr(t *testing.T, err error, wantErr string, class error) {
	t.Helper()
	if wantErr == "" {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("got no error, want %q", wantErr)
	}
	if err.Error() != wantErr {
		t.Fatalf("error:\ngot  %s\nwant %s", err, wantErr)
	}
	if class != nil && !errors.Is(err, class) {
		t.Fatalf("error %q is not %v", err, class)
	}
}
