package planner_test

import (
	"reflect"
	"slices"
	"testing"

	"github.com/stack-dev/stack/internal/errdefs"
	"github.com/stack-dev/stack/planner"
	"github.com/stack-dev/stack/spec"
)

// profilesProject is the example of compose-spec 15-profiles.md.
func profilesProject() *spec.Project {
	return project("demo", map[string]*spec.Service{
		"foo": svc(),
		"bar": svc(profiles("test")),
		"baz": svc(profiles("test"), needs("bar")),
		"zot": svc(profiles("debug"), needs("bar")),
	})
}

func TestSelect(t *testing.T) {
	optional := spec.DependsOn{Condition: spec.ConditionStarted, Required: false}
	tests := []struct {
		name    string
		project func() *spec.Project
		opts    planner.SelectOptions
		want    []string // selected services
		profs   []string // active profiles
		wantErr string
		class   error
	}{
		{
			name:    "no profile enables services without profiles",
			project: profilesProject,
			want:    []string{"foo"},
		},
		{
			name:    "profile enables its services",
			project: profilesProject,
			opts:    planner.SelectOptions{Profiles: []string{"test"}},
			want:    []string{"bar", "baz", "foo"},
			profs:   []string{"test"},
		},
		{
			name:    "both profiles enable everything",
			project: profilesProject,
			opts:    planner.SelectOptions{Profiles: []string{"debug", "test"}},
			want:    []string{"bar", "baz", "foo", "zot"},
			profs:   []string{"debug", "test"},
		},
		{
			name:    "star activates every profile",
			project: profilesProject,
			opts:    planner.SelectOptions{Profiles: []string{"*"}},
			want:    []string{"bar", "baz", "foo", "zot"},
			profs:   []string{"*"},
		},
		{
			name:    "enabled service depending on a disabled one is invalid",
			project: profilesProject,
			opts:    planner.SelectOptions{Profiles: []string{"debug"}},
			wantErr: `service "zot" depends on disabled service "bar" (profiles test, none active; or set depends_on required: false): invalid argument`,
			class:   errdefs.ErrInvalidArgument,
		},
		{
			name:    "named service is enabled and activates its profiles",
			project: profilesProject,
			opts:    planner.SelectOptions{Services: []string{"bar"}},
			want:    []string{"bar"},
			profs:   []string{"test"},
		},
		{
			name:    "named service pulls in its dependencies",
			project: profilesProject,
			opts:    planner.SelectOptions{Services: []string{"baz"}},
			want:    []string{"bar", "baz"},
			profs:   []string{"test"},
		},
		{
			name:    "named service depending on a disabled service is invalid",
			project: profilesProject,
			opts:    planner.SelectOptions{Services: []string{"zot"}},
			wantErr: `service "zot" depends on disabled service "bar" (profiles test, none active; or set depends_on required: false): invalid argument`,
			class:   errdefs.ErrInvalidArgument,
		},
		{
			name:    "named service with the dependency's profile active",
			project: profilesProject,
			opts:    planner.SelectOptions{Profiles: []string{"test"}, Services: []string{"zot"}},
			want:    []string{"bar", "zot"},
			profs:   []string{"debug", "test"},
		},
		{
			name:    "no deps selects only the named services",
			project: profilesProject,
			opts:    planner.SelectOptions{Services: []string{"baz"}, NoDeps: true},
			want:    []string{"baz"},
			profs:   []string{"test"},
		},
		{
			name:    "no deps skips the check of a named service's dependencies",
			project: profilesProject,
			opts:    planner.SelectOptions{Services: []string{"zot"}, NoDeps: true},
			want:    []string{"zot"},
			profs:   []string{"debug"},
		},
		{
			name:    "repeated names count once",
			project: profilesProject,
			opts:    planner.SelectOptions{Services: []string{"foo", "foo"}},
			want:    []string{"foo"},
		},
		{
			name:    "unknown service lists the known ones",
			project: profilesProject,
			opts:    planner.SelectOptions{Services: []string{"fooo"}},
			wantErr: `service "fooo": not found (known services: bar, baz, foo, zot)`,
			class:   errdefs.ErrNotFound,
		},
		{
			name:    "unknown services are reported together",
			project: profilesProject,
			opts:    planner.SelectOptions{Services: []string{"x", "foo", "a"}},
			wantErr: `services "a", "x": not found (known services: bar, baz, foo, zot)`,
			class:   errdefs.ErrNotFound,
		},
		{
			name: "transitive dependencies are pulled in",
			project: func() *spec.Project {
				return project("demo", map[string]*spec.Service{
					"web":   svc(needs("api")),
					"api":   svc(needs("db")),
					"db":    svc(),
					"other": svc(),
				})
			},
			opts: planner.SelectOptions{Services: []string{"web"}},
			want: []string{"api", "db", "web"},
		},
		{
			name: "implicit dependencies are pulled in",
			project: func() *spec.Project {
				return project("demo", map[string]*spec.Service{
					"app":   svc(networkMode("service:vpn"), volumesFrom("data:ro", "container:foreign"), links("cache:c")),
					"vpn":   svc(),
					"data":  svc(),
					"cache": svc(),
					"other": svc(),
				})
			},
			opts: planner.SelectOptions{Services: []string{"app"}},
			want: []string{"app", "cache", "data", "vpn"},
		},
		{
			name: "optional dependency on a disabled service is dropped",
			project: func() *spec.Project {
				return project("demo", map[string]*spec.Service{
					"web":      svc(dependsOn("debugger", optional)),
					"debugger": svc(profiles("debug")),
				})
			},
			want: []string{"web"},
		},
		{
			name: "dependency on an undefined service is invalid even if optional",
			project: func() *spec.Project {
				return project("demo", map[string]*spec.Service{
					"web": svc(dependsOn("ghost", optional), links("phantom")),
				})
			},
			wantErr: `service "web" depends on undefined service "ghost": invalid argument` + "\n" +
				`service "web" refers to undefined service "phantom" in links: invalid argument`,
			class: errdefs.ErrInvalidArgument,
		},
		{
			name: "any enabled service is checked, as docker compose checks the file",
			project: func() *spec.Project {
				return project("demo", map[string]*spec.Service{
					"web":  svc(),
					"tool": svc(needs("seed")),
					"seed": svc(profiles("seed")),
				})
			},
			opts:    planner.SelectOptions{Services: []string{"web"}},
			wantErr: `service "tool" depends on disabled service "seed" (profiles seed, none active; or set depends_on required: false): invalid argument`,
			class:   errdefs.ErrInvalidArgument,
		},
		{
			name: "a cycle outside the named services is still an error",
			project: func() *spec.Project {
				return project("demo", map[string]*spec.Service{
					"web": svc(),
					"a":   svc(needs("b")),
					"b":   svc(needs("a")),
				})
			},
			opts:    planner.SelectOptions{Services: []string{"web"}},
			wantErr: "dependency cycle detected: a -> b -> a",
			class:   errdefs.ErrInvalidArgument,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sel, err := planner.Select(tt.project(), tt.opts)
			checkErr(t, err, tt.wantErr, tt.class)
			if err != nil {
				return
			}
			if got := sel.Services(); !slices.Equal(got, tt.want) {
				t.Errorf("Services() = %q, want %q", got, tt.want)
			}
			if got := sel.Profiles(); !slices.Equal(got, tt.profs) {
				t.Errorf("Profiles() = %q, want %q", got, tt.profs)
			}
			for _, name := range tt.want {
				if !sel.Has(name) {
					t.Errorf("Has(%q) = false", name)
				}
			}
		})
	}
}

func TestSelectDisabled(t *testing.T) {
	sel, err := planner.Select(profilesProject(), planner.SelectOptions{Services: []string{"baz"}})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := sel.Disabled(), []string{"zot"}; !slices.Equal(got, want) {
		t.Errorf("Disabled() = %q, want %q", got, want)
	}
}

func TestRestrict(t *testing.T) {
	p := project("demo", map[string]*spec.Service{
		"web": svc(needs("api", "db")),
		"api": svc(),
		"db":  svc(),
		"job": svc(profiles("batch")),
	})
	p.Networks = map[string]*spec.Network{"default": {Name: "demo_default"}}
	sel, err := planner.Select(p, planner.SelectOptions{Services: []string{"web", "db"}, NoDeps: true})
	if err != nil {
		t.Fatal(err)
	}
	got := planner.Restrict(p, sel)
	if names := got.ServiceNames(); !slices.Equal(names, []string{"db", "web"}) {
		t.Errorf("services = %q, want [db web]", names)
	}
	if deps := got.Services["web"].DependsOn; !reflect.DeepEqual(deps, map[string]spec.DependsOn{"db": p.Services["web"].DependsOn["db"]}) {
		t.Errorf("web depends_on = %v, want only db", deps)
	}
	if len(p.Services) != 4 || len(p.Services["web"].DependsOn) != 2 {
		t.Error("Restrict changed the original project")
	}
	if got.Name != "demo" || got.Networks["default"] == nil {
		t.Error("Restrict dropped project-level fields")
	}
}
