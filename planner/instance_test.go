package planner_test

import (
	"reflect"
	"testing"

	"github.com/stack-dev/stack/internal/errdefs"
	"github.com/stack-dev/stack/planner"
	"github.com/stack-dev/stack/spec"
)

func TestInstances(t *testing.T) {
	three := 3
	tests := []struct {
		name     string
		services map[string]*spec.Service
		scale    map[string]int
		want     []planner.Instance
		wantErr  string
		class    error
	}{
		{
			name:     "one replica by default",
			services: map[string]*spec.Service{"web": svc()},
			want:     []planner.Instance{{Service: "web", Number: 1, Name: "demo-web-1"}},
		},
		{
			name: "deploy replicas, in start order",
			services: map[string]*spec.Service{
				"web": svc(replicas(2), needs("db")),
				"db":  svc(),
			},
			want: []planner.Instance{
				{Service: "db", Number: 1, Name: "demo-db-1"},
				{Service: "web", Number: 1, Name: "demo-web-1"},
				{Service: "web", Number: 2, Name: "demo-web-2"},
			},
		},
		{
			name:     "scale key wins over deploy replicas",
			services: map[string]*spec.Service{"web": svc(replicas(1), func(s *spec.Service) { s.Scale = &three })},
			want: []planner.Instance{
				{Service: "web", Number: 1, Name: "demo-web-1"},
				{Service: "web", Number: 2, Name: "demo-web-2"},
				{Service: "web", Number: 3, Name: "demo-web-3"},
			},
		},
		{
			name:     "scale override wins over the file",
			services: map[string]*spec.Service{"web": svc(replicas(3)), "db": svc()},
			scale:    map[string]int{"web": 1, "db": 2},
			want: []planner.Instance{
				{Service: "db", Number: 1, Name: "demo-db-1"},
				{Service: "db", Number: 2, Name: "demo-db-2"},
				{Service: "web", Number: 1, Name: "demo-web-1"},
			},
		},
		{
			name:     "scale to zero",
			services: map[string]*spec.Service{"web": svc()},
			scale:    map[string]int{"web": 0},
			want:     nil,
		},
		{
			name:     "container_name",
			services: map[string]*spec.Service{"web": svc(containerName("frontend"))},
			want:     []planner.Instance{{Service: "web", Number: 1, Name: "frontend"}},
		},
		{
			name:     "container_name with replicas",
			services: map[string]*spec.Service{"web": svc(containerName("frontend"), replicas(2))},
			wantErr:  `service "web": container_name "frontend" names a single container, but the service runs 2: invalid argument`,
			class:    errdefs.ErrInvalidArgument,
		},
		{
			name:     "container_name scaled up",
			services: map[string]*spec.Service{"web": svc(containerName("frontend"))},
			scale:    map[string]int{"web": 2},
			wantErr:  `service "web": container_name "frontend" names a single container, but the service runs 2: invalid argument`,
			class:    errdefs.ErrInvalidArgument,
		},
		{
			name:     "negative scale",
			services: map[string]*spec.Service{"web": svc()},
			scale:    map[string]int{"web": -1},
			wantErr:  `service "web": scale -1: must not be negative: invalid argument`,
			class:    errdefs.ErrInvalidArgument,
		},
		{
			name:     "scale of an unknown service",
			services: map[string]*spec.Service{"web": svc()},
			scale:    map[string]int{"wbe": 2},
			wantErr:  `scale: service "wbe": not found (known services: web)`,
			class:    errdefs.ErrNotFound,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := project("demo", tt.services)
			sel, err := planner.Select(p, planner.SelectOptions{})
			if err != nil {
				t.Fatal(err)
			}
			got, err := planner.Instances(p, sel, tt.scale)
			checkErr(t, err, tt.wantErr, tt.class)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Instances() =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

func TestContainerName(t *testing.T) {
	if got, want := planner.ContainerName("shop", "web", 12), "shop-web-12"; got != want {
		t.Errorf("ContainerName() = %q, want %q", got, want)
	}
}
