package planner_test

import (
	"errors"
	"reflect"
	"slices"
	"testing"

	"github.com/stack-dev/stack/internal/errdefs"
	"github.com/stack-dev/stack/planner"
	"github.com/stack-dev/stack/spec"
)

func TestWaves(t *testing.T) {
	tests := []struct {
		name     string
		services map[string]*spec.Service
		subset   []string // nil: every service
		want     [][]string
	}{
		{
			name:     "independent",
			services: map[string]*spec.Service{"c": svc(), "a": svc(), "b": svc()},
			want:     [][]string{{"a", "b", "c"}},
		},
		{
			name: "chain",
			services: map[string]*spec.Service{
				"web": svc(needs("api")),
				"api": svc(needs("db")),
				"db":  svc(),
			},
			want: [][]string{{"db"}, {"api"}, {"web"}},
		},
		{
			name: "diamond",
			services: map[string]*spec.Service{
				"top":   svc(needs("left", "right")),
				"left":  svc(needs("base")),
				"right": svc(needs("base")),
				"base":  svc(),
			},
			want: [][]string{{"base"}, {"left", "right"}, {"top"}},
		},
		{
			name: "wave follows the latest dependency",
			services: map[string]*spec.Service{
				"web": svc(needs("db", "api")),
				"api": svc(needs("db")),
				"db":  svc(),
				"log": svc(),
			},
			want: [][]string{{"db", "log"}, {"api"}, {"web"}},
		},
		{
			name: "network_mode, volumes_from and links are edges",
			services: map[string]*spec.Service{
				"app":    svc(networkMode("service:vpn")),
				"backup": svc(volumesFrom("app:ro")),
				"web":    svc(links("backup:b")),
				"vpn":    svc(),
			},
			want: [][]string{{"vpn"}, {"app"}, {"backup"}, {"web"}},
		},
		{
			name: "container references are not edges",
			services: map[string]*spec.Service{
				"app": svc(networkMode("container:abc"), volumesFrom("container:data", "container:data:ro")),
				"vpn": svc(networkMode("host")),
			},
			want: [][]string{{"app", "vpn"}},
		},
		{
			name: "edges leaving the subset are dropped",
			services: map[string]*spec.Service{
				"web": svc(needs("api", "db")),
				"api": svc(needs("db")),
				"db":  svc(),
			},
			subset: []string{"web", "api"},
			want:   [][]string{{"api"}, {"web"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := project("demo", tt.services)
			names := tt.subset
			if names == nil {
				names = p.ServiceNames()
			}
			g, err := planner.NewGraph(p, names)
			if err != nil {
				t.Fatal(err)
			}
			if got := g.Waves(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Waves() = %q, want %q", got, tt.want)
			}
			stop := slices.Clone(tt.want)
			slices.Reverse(stop)
			if got := g.StopWaves(); !reflect.DeepEqual(got, stop) {
				t.Errorf("StopWaves() = %q, want %q", got, stop)
			}
			for i, wave := range tt.want {
				for _, name := range wave {
					if w, ok := g.Wave(name); !ok || w != i {
						t.Errorf("Wave(%q) = %d, %t, want %d", name, w, ok, i)
					}
				}
			}
		})
	}
}

func TestEdges(t *testing.T) {
	restart := spec.DependsOn{Condition: spec.ConditionHealthy, Required: true, Restart: true}
	p := project("demo", map[string]*spec.Service{
		"app": svc(
			dependsOn("db", restart),
			networkMode("service:vpn"),
			volumesFrom("data:ro", "vpn"),
			links("db:database", "cache"),
		),
		"db": svc(), "vpn": svc(), "data": svc(), "cache": svc(),
	})
	g, err := planner.NewGraph(p, p.ServiceNames())
	if err != nil {
		t.Fatal(err)
	}
	want := []planner.Edge{
		{From: "app", To: "cache", Refs: planner.RefLink, Condition: spec.ConditionStarted, Required: true, Restart: true},
		{From: "app", To: "data", Refs: planner.RefVolumesFrom, Condition: spec.ConditionStarted, Required: true, Restart: false},
		// An explicit depends_on entry decides condition and restart.
		{From: "app", To: "db", Refs: planner.RefDependsOn | planner.RefLink, Condition: spec.ConditionHealthy, Required: true, Restart: true},
		{From: "app", To: "vpn", Refs: planner.RefNetworkMode | planner.RefVolumesFrom, Condition: spec.ConditionStarted, Required: true, Restart: true},
	}
	if got := g.Dependencies("app"); !reflect.DeepEqual(got, want) {
		t.Errorf("Dependencies(app) =\n%+v\nwant\n%+v", got, want)
	}
	if got := g.Dependents("vpn"); len(got) != 1 || got[0].From != "app" {
		t.Errorf("Dependents(vpn) = %+v, want one edge from app", got)
	}
	if got := g.Dependencies("missing"); got != nil {
		t.Errorf("Dependencies(missing) = %+v, want nil", got)
	}
}

func TestReferenceString(t *testing.T) {
	tests := []struct {
		name string
		ref  planner.Reference
		want string
	}{
		{name: "none", ref: 0, want: "none"},
		{name: "one", ref: planner.RefVolumesFrom, want: "volumes_from"},
		{name: "several", ref: planner.RefDependsOn | planner.RefLink | planner.RefNetworkMode, want: "depends_on+network_mode+links"},
		{name: "unknown bit", ref: planner.RefLink | 0x80, want: "links+Reference(0x80)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.ref.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestCycles(t *testing.T) {
	tests := []struct {
		name     string
		services map[string]*spec.Service
		want     string
		cycle    []string
	}{
		{
			name:     "self loop",
			services: map[string]*spec.Service{"web": svc(needs("web")), "db": svc()},
			want:     "dependency cycle detected: web -> web",
			cycle:    []string{"web", "web"},
		},
		{
			name: "two services",
			services: map[string]*spec.Service{
				"web": svc(needs("php")),
				"php": svc(needs("web")),
			},
			want:  "dependency cycle detected: php -> web -> php",
			cycle: []string{"php", "web", "php"},
		},
		{
			name: "three services start from the smallest name",
			services: map[string]*spec.Service{
				"web": svc(needs("php")),
				"php": svc(needs("db")),
				"db":  svc(needs("web")),
			},
			want:  "dependency cycle detected: db -> web -> php -> db",
			cycle: []string{"db", "web", "php", "db"},
		},
		{
			name: "service depending on a cycle is not part of it",
			services: map[string]*spec.Service{
				"a":   svc(needs("web")),
				"web": svc(needs("php")),
				"php": svc(needs("web")),
			},
			want:  "dependency cycle detected: php -> web -> php",
			cycle: []string{"php", "web", "php"},
		},
		{
			name: "cycle through implicit references",
			services: map[string]*spec.Service{
				"app":  svc(networkMode("service:vpn")),
				"vpn":  svc(volumesFrom("data")),
				"data": svc(links("app")),
			},
			want:  "dependency cycle detected: app -> vpn -> data -> app",
			cycle: []string{"app", "vpn", "data", "app"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := project("demo", tt.services)
			for range 3 { // the same error every time
				_, err := planner.NewGraph(p, p.ServiceNames())
				checkErr(t, err, tt.want, errdefs.ErrInvalidArgument)
				var ce *planner.CycleError
				if !errors.As(err, &ce) {
					t.Fatalf("error %T is not a *CycleError", err)
				}
				if !slices.Equal(ce.Cycle, tt.cycle) {
					t.Errorf("Cycle = %q, want %q", ce.Cycle, tt.cycle)
				}
			}
		})
	}
}

func TestNewGraphErrors(t *testing.T) {
	p := project("demo", map[string]*spec.Service{
		"app": svc(networkMode("service:ghost")),
		"web": svc(),
	})
	tests := []struct {
		name    string
		names   []string
		wantErr string
		class   error
	}{
		{
			name:    "unknown service",
			names:   []string{"web", "nope"},
			wantErr: `service "nope": not found`,
			class:   errdefs.ErrNotFound,
		},
		{
			name:    "undefined reference",
			names:   []string{"app"},
			wantErr: `service "app" refers to undefined service "ghost" in network_mode service:ghost: invalid argument`,
			class:   errdefs.ErrInvalidArgument,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := planner.NewGraph(p, tt.names)
			checkErr(t, err, tt.wantErr, tt.class)
		})
	}
}

func TestRestartDependents(t *testing.T) {
	restart := spec.DependsOn{Condition: spec.ConditionStarted, Required: true, Restart: true}
	p := project("p", map[string]*spec.Service{
		"db":     svc(),
		"api":    svc(dependsOn("db", restart)),
		"web":    svc(dependsOn("api", restart)),
		"worker": svc(needs("db")),
		"proxy":  svc(links("web")),
		"side":   svc(networkMode("service:worker")),
	})
	g, err := planner.NewGraph(p, p.ServiceNames())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		names []string
		want  []string
	}{
		{[]string{"db"}, []string{"api", "proxy", "web"}},
		{[]string{"api"}, []string{"proxy", "web"}},
		{[]string{"worker"}, []string{"side"}},
		{[]string{"web", "api"}, []string{"proxy"}},
		{[]string{"proxy"}, nil},
	} {
		if got := g.RestartDependents(tc.names); !slices.Equal(got, tc.want) {
			t.Errorf("RestartDependents(%v) = %v, want %v", tc.names, got, tc.want)
		}
	}
}
