package planner_test

import (
	"fmt"
	"regexp"
	"testing"

	"github.com/stack-dev/stack/planner"
	"github.com/stack-dev/stack/spec"
)

// hashBase is a service with enough maps to make map order matter.
func hashBase() *spec.Service {
	s := svc(env("A=1", "B=2"), replicas(2))
	s.Labels = map[string]string{"tier": "front", "team": "web"}
	s.Sysctls = map[string]string{"net.core.somaxconn": "1024"}
	s.Networks = map[string]*spec.ServiceNetwork{"front": {Aliases: []string{"www"}}, "back": nil}
	s.Deploy.Resources.Limits = &spec.Resource{Memory: 64 << 20}
	return s
}

func TestConfigHashStable(t *testing.T) {
	want := planner.ConfigHash(hashBase())
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(want) {
		t.Fatalf("ConfigHash() = %q, want 64 hex digits", want)
	}

	// Maps filled in different orders, many times over: Go randomises map
	// iteration, so an order-dependent encoding would show here.
	for i := range 20 {
		a, b := svc(), svc()
		a.Environment, b.Environment = map[string]*string{}, map[string]*string{}
		for k := range 50 {
			v := fmt.Sprint(k)
			a.Environment[fmt.Sprintf("K%02d", k)] = &v
			w := fmt.Sprint(49 - k)
			b.Environment[fmt.Sprintf("K%02d", 49-k)] = &w
		}
		if ha, hb := planner.ConfigHash(a), planner.ConfigHash(b); ha != hb {
			t.Fatalf("run %d: hashes differ with map insertion order: %s != %s", i, ha, hb)
		}
	}

	tests := []struct {
		name   string
		change func(*spec.Service)
	}{
		{name: "build", change: func(s *spec.Service) { s.Build = &spec.Build{Context: "/src"} }},
		{name: "pull_policy", change: func(s *spec.Service) { s.PullPolicy = "always" }},
		{name: "scale", change: func(s *spec.Service) { n := 5; s.Scale = &n }},
		{name: "deploy replicas", change: func(s *spec.Service) { n := 7; s.Deploy.Replicas = &n }},
		{name: "depends_on", change: needs("db")},
		{name: "profiles", change: profiles("dev")},
		{name: "service name", change: func(s *spec.Service) { s.Name = "other" }},
		{name: "extensions", change: func(s *spec.Service) { s.Extensions = map[string]any{"x-note": "hi"} }},
	}
	for _, tt := range tests {
		t.Run("ignores "+tt.name, func(t *testing.T) {
			s := hashBase()
			tt.change(s)
			if got := planner.ConfigHash(s); got != want {
				t.Errorf("ConfigHash changed with %s", tt.name)
			}
		})
	}
}

func TestConfigHashDeployReplicasOnly(t *testing.T) {
	plain := svc()
	scaled := svc(replicas(3))
	if planner.ConfigHash(plain) != planner.ConfigHash(scaled) {
		t.Error("deploy: {replicas: 3} hashes differently from no deploy")
	}
	if scaled.Deploy.Replicas == nil || *scaled.Deploy.Replicas != 3 {
		t.Error("ConfigHash changed its argument")
	}
}

func TestConfigHashSensitive(t *testing.T) {
	base := planner.ConfigHash(hashBase())
	tests := []struct {
		name   string
		change func(*spec.Service)
	}{
		{name: "environment value", change: env("A=2")},
		{name: "environment added", change: env("C=3")},
		{name: "environment unset", change: func(s *spec.Service) { s.Environment["A"] = nil }},
		{name: "image", change: func(s *spec.Service) { s.Image = "busybox:1.37" }},
		{name: "command", change: func(s *spec.Service) { s.Command = spec.Command{"sleep", "1"} }},
		{name: "label", change: func(s *spec.Service) { s.Labels["tier"] = "back" }},
		{name: "port", change: func(s *spec.Service) { s.Ports = []spec.Port{{Target: 80, Protocol: "tcp"}} }},
		{name: "network alias", change: func(s *spec.Service) { s.Networks["front"].Aliases = []string{"w3"} }},
		{name: "memory limit", change: func(s *spec.Service) { s.Deploy.Resources.Limits.Memory = 128 << 20 }},
		{name: "container_name", change: containerName("web")},
		{name: "network_mode", change: networkMode("service:vpn")},
		{name: "links", change: links("db")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := hashBase()
			tt.change(s)
			if planner.ConfigHash(s) == base {
				t.Errorf("ConfigHash did not change with %s", tt.name)
			}
		})
	}
}
