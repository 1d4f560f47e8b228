package planner_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/stack-dev/stack/internal/errdefs"
	"github.com/stack-dev/stack/internal/testutil"
	"github.com/stack-dev/stack/planner"
	"github.com/stack-dev/stack/spec"
)

var update = flag.Bool("update", false, "update testdata/*/plan.golden files")

// fakeObserver is an in-memory [planner.Observer].
type fakeObserver struct{ containers []planner.Observed }

func (f *fakeObserver) Containers(project string) ([]planner.Observed, error) {
	var out []planner.Observed
	for _, c := range f.containers {
		if c.Project == project {
			out = append(out, c)
		}
	}
	return out, nil
}

// running returns an up-to-date running container of service name in p.
func running(p *spec.Project, name string, n int) planner.Observed {
	return planner.Observed{
		ID:         fmt.Sprintf("id-%s-%d", name, n),
		Name:       planner.ContainerName(p.Name, name, n),
		Project:    p.Name,
		Service:    name,
		Number:     n,
		ConfigHash: planner.ConfigHash(p.Services[name]),
		ImageID:    "sha256:busybox",
		Running:    true,
	}
}

// with returns c changed by f.
func with(c planner.Observed, f func(*planner.Observed)) planner.Observed {
	f(&c)
	return c
}

func stopped(c *planner.Observed) { c.Running, c.ExitCode = false, 137 }
func stale(c *planner.Observed)   { c.ConfigHash = "stale" }

func TestDiff(t *testing.T) {
	p := project("demo", map[string]*spec.Service{
		"db":  svc(),
		"web": svc(needs("db")),
	})
	dbHash, webHash := planner.ConfigHash(p.Services["db"]), planner.ConfigHash(p.Services["web"])
	tests := []struct {
		name     string
		observed []planner.Observed
		opts     planner.DiffOptions
		want     []planner.Action
	}{
		{
			name:     "create",
			observed: []planner.Observed{running(p, "db", 1)},
			want: []planner.Action{
				{Kind: planner.Create, Service: "web", Container: "demo-web-1", Number: 1, Wave: 1, ConfigHash: webHash, Reason: "not created yet"},
			},
		},
		{
			name:     "recreate on config change",
			observed: []planner.Observed{with(running(p, "db", 1), stale), running(p, "web", 1)},
			want: []planner.Action{
				{Kind: planner.Recreate, Service: "db", Container: "demo-db-1", ID: "id-db-1", Number: 1, Wave: 0, ConfigHash: dbHash, Reason: "config hash changed"},
			},
		},
		{
			name:     "no recreate keeps a stale running container",
			observed: []planner.Observed{with(running(p, "db", 1), stale), running(p, "web", 1)},
			opts:     planner.DiffOptions{NoRecreate: true},
			want:     nil,
		},
		{
			name:     "recreate on image change",
			observed: []planner.Observed{running(p, "db", 1), running(p, "web", 1)},
			opts:     planner.DiffOptions{ImageIDs: map[string]string{"db": "sha256:busybox", "web": "sha256:rebuilt"}},
			want: []planner.Action{
				{Kind: planner.Recreate, Service: "web", Container: "demo-web-1", ID: "id-web-1", Number: 1, Wave: 1, ConfigHash: webHash, Reason: "image changed"},
			},
		},
		{
			name:     "force recreate",
			observed: []planner.Observed{running(p, "db", 1), running(p, "web", 1)},
			opts:     planner.DiffOptions{ForceRecreate: true},
			want: []planner.Action{
				{Kind: planner.Recreate, Service: "db", Container: "demo-db-1", ID: "id-db-1", Number: 1, Wave: 0, ConfigHash: dbHash, Reason: "force recreate"},
				{Kind: planner.Recreate, Service: "web", Container: "demo-web-1", ID: "id-web-1", Number: 1, Wave: 1, ConfigHash: webHash, Reason: "force recreate"},
			},
		},
		{
			// compose's up --force-recreate web: web's recreate strategy is
			// force, its dependency db's is "diverged" (cmd/compose/create.go
			// recreateStrategy, dependenciesRecreateStrategy).
			name:     "force recreate of a named service leaves its dependencies",
			observed: []planner.Observed{running(p, "db", 1), running(p, "web", 1)},
			opts:     planner.DiffOptions{ForceRecreate: true, Named: []string{"web"}},
			want: []planner.Action{
				{Kind: planner.Recreate, Service: "web", Container: "demo-web-1", ID: "id-web-1", Number: 1, Wave: 1, ConfigHash: webHash, Reason: "force recreate"},
			},
		},
		{
			name:     "always recreate deps",
			observed: []planner.Observed{running(p, "db", 1), running(p, "web", 1)},
			opts:     planner.DiffOptions{ForceRecreate: true, AlwaysRecreateDeps: true, Named: []string{"web"}},
			want: []planner.Action{
				{Kind: planner.Recreate, Service: "db", Container: "demo-db-1", ID: "id-db-1", Number: 1, Wave: 0, ConfigHash: dbHash, Reason: "force recreate"},
				{Kind: planner.Recreate, Service: "web", Container: "demo-web-1", ID: "id-web-1", Number: 1, Wave: 1, ConfigHash: webHash, Reason: "force recreate"},
			},
		},
		{
			name:     "always recreate deps alone recreates the dependencies only",
			observed: []planner.Observed{running(p, "db", 1), running(p, "web", 1)},
			opts:     planner.DiffOptions{AlwaysRecreateDeps: true, Named: []string{"web"}},
			want: []planner.Action{
				{Kind: planner.Recreate, Service: "db", Container: "demo-db-1", ID: "id-db-1", Number: 1, Wave: 0, ConfigHash: dbHash, Reason: "force recreate"},
			},
		},
		{
			name:     "start",
			observed: []planner.Observed{with(running(p, "db", 1), stopped), running(p, "web", 1)},
			want: []planner.Action{
				{Kind: planner.Start, Service: "db", Container: "demo-db-1", ID: "id-db-1", Number: 1, Wave: 0, Reason: "not running"},
			},
		},
		{
			name:     "no recreate still starts",
			observed: []planner.Observed{with(with(running(p, "db", 1), stale), stopped), running(p, "web", 1)},
			opts:     planner.DiffOptions{NoRecreate: true},
			want: []planner.Action{
				{Kind: planner.Start, Service: "db", Container: "demo-db-1", ID: "id-db-1", Number: 1, Wave: 0, Reason: "not running"},
			},
		},
		{
			name:     "unchanged",
			observed: []planner.Observed{running(p, "db", 1), running(p, "web", 1)},
			want:     nil,
		},
		{
			name: "stop and remove beyond the scale, highest first",
			observed: []planner.Observed{
				running(p, "db", 1), running(p, "web", 1),
				running(p, "web", 2), with(running(p, "web", 3), stopped),
			},
			want: []planner.Action{
				{Kind: planner.Remove, Service: "web", Container: "demo-web-3", ID: "id-web-3", Number: 3, Wave: 1, Reason: "scale down from 3 to 1"},
				{Kind: planner.Stop, Service: "web", Container: "demo-web-2", ID: "id-web-2", Number: 2, Wave: 1, Reason: "scale down from 3 to 1"},
				{Kind: planner.Remove, Service: "web", Container: "demo-web-2", ID: "id-web-2", Number: 2, Wave: 1, Reason: "scale down from 3 to 1"},
			},
		},
		{
			name: "duplicate number keeps the running container",
			observed: []planner.Observed{
				running(p, "db", 1),
				with(running(p, "web", 1), func(c *planner.Observed) { c.ID = "id-a"; c.Running = false }),
				with(running(p, "web", 1), func(c *planner.Observed) { c.ID = "id-b" }),
			},
			want: []planner.Action{
				{Kind: planner.Remove, Service: "web", Container: "demo-web-1", ID: "id-a", Number: 1, Wave: 1, Reason: "duplicate of container number 1"},
			},
		},
		{
			name:     "orphan is reported, not removed",
			observed: []planner.Observed{running(p, "db", 1), running(p, "web", 1), with(running(p, "db", 1), func(c *planner.Observed) { c.Service = "old" })},
			want:     nil,
		},
		{
			name:     "remove orphan",
			observed: []planner.Observed{running(p, "db", 1), running(p, "web", 1), with(running(p, "db", 1), func(c *planner.Observed) { c.Service, c.Name = "old", "demo-old-1" })},
			opts:     planner.DiffOptions{RemoveOrphans: true},
			want: []planner.Action{
				{Kind: planner.RemoveOrphan, Service: "old", Container: "demo-old-1", ID: "id-db-1", Number: 1, Wave: planner.OrphanWave, Reason: `orphan: service "old" is not in the stack file`},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sel, err := planner.Select(p, planner.SelectOptions{})
			if err != nil {
				t.Fatal(err)
			}
			obs := &fakeObserver{containers: tt.observed}
			observed, err := obs.Containers(p.Name)
			if err != nil {
				t.Fatal(err)
			}
			plan, err := planner.Diff(p, sel, observed, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(plan.Actions, tt.want) {
				t.Errorf("Actions =\n%s\nwant\n%s", dump(plan.Actions), dump(tt.want))
			}
		})
	}
}

func TestDiffRestart(t *testing.T) {
	restart := spec.DependsOn{Condition: spec.ConditionHealthy, Required: true, Restart: true}
	p := project("demo", map[string]*spec.Service{
		"db":     svc(),
		"web":    svc(dependsOn("db", restart)),
		"worker": svc(needs("db")),
		"proxy":  svc(links("web")),
	})
	sel, err := planner.Select(p, planner.SelectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	observed := []planner.Observed{
		with(running(p, "db", 1), stale),
		running(p, "web", 1),
		running(p, "worker", 1),
		running(p, "proxy", 1),
	}
	plan, err := planner.Diff(p, sel, observed, planner.DiffOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := []planner.Action{
		{Kind: planner.Recreate, Service: "db", Container: "demo-db-1", ID: "id-db-1", Number: 1, Wave: 0, ConfigHash: planner.ConfigHash(p.Services["db"]), Reason: "config hash changed"},
		// worker depends on db without restart; proxy links web, which is
		// restarted, not recreated.
		{Kind: planner.Restart, Service: "web", Container: "demo-web-1", ID: "id-web-1", Number: 1, Wave: 1, Reason: `dependency "db" is recreated (restart: true)`},
	}
	if !reflect.DeepEqual(plan.Actions, want) {
		t.Errorf("Actions =\n%s\nwant\n%s", dump(plan.Actions), dump(want))
	}
}

func TestDiffErrors(t *testing.T) {
	p := project("demo", map[string]*spec.Service{"web": svc()})
	sel, err := planner.Select(p, planner.SelectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		project  *spec.Project
		sel      *planner.Selection
		observed []planner.Observed
		opts     planner.DiffOptions
		wantErr  string
		class    error
	}{
		{
			name:    "no selection",
			project: p,
			wantErr: "plan: no selection (use planner.Select): invalid argument",
			class:   errdefs.ErrInvalidArgument,
		},
		{
			name:    "project without name",
			project: project("", map[string]*spec.Service{"web": svc()}),
			sel:     sel,
			wantErr: "plan: project has no name: invalid argument",
			class:   errdefs.ErrInvalidArgument,
		},
		{
			name:    "selection from another project",
			project: project("demo", map[string]*spec.Service{"api": svc()}),
			sel:     sel,
			wantErr: `plan: selected service "web": not found`,
			class:   errdefs.ErrNotFound,
		},
		{
			name:    "force and no recreate",
			project: p,
			sel:     sel,
			opts:    planner.DiffOptions{ForceRecreate: true, NoRecreate: true},
			wantErr: "plan: force-recreate and no-recreate are incompatible: invalid argument",
			class:   errdefs.ErrInvalidArgument,
		},
		{
			name:     "container of another project",
			project:  p,
			sel:      sel,
			observed: []planner.Observed{with(running(p, "web", 1), func(c *planner.Observed) { c.Project = "shop" })},
			wantErr:  `plan: observed container "demo-web-1" belongs to project "shop", not "demo": invalid argument`,
			class:    errdefs.ErrInvalidArgument,
		},
		{
			name:     "container without number",
			project:  p,
			sel:      sel,
			observed: []planner.Observed{with(running(p, "web", 1), func(c *planner.Observed) { c.Number = 0 })},
			wantErr:  `plan: observed container "demo-web-1" of service "web" has no container number: invalid argument`,
			class:    errdefs.ErrInvalidArgument,
		},
		{
			name:    "container_name scaled up",
			project: project("demo", map[string]*spec.Service{"web": svc(containerName("www"))}),
			sel:     sel,
			opts:    planner.DiffOptions{Scale: map[string]int{"web": 2}},
			wantErr: `service "web": container_name "www" names a single container, but the service runs 2: invalid argument`,
			class:   errdefs.ErrInvalidArgument,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := planner.Diff(tt.project, tt.sel, tt.observed, tt.opts)
			checkErr(t, err, tt.wantErr, tt.class)
		})
	}
}

// TestDiffDeterministic checks that the order of the observed containers
// does not change the plan.
func TestDiffDeterministic(t *testing.T) {
	p := goldenProject()
	sel, err := planner.Select(p, planner.SelectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	observed := []planner.Observed{
		with(running(p, "db", 1), stale),
		running(p, "cache", 1),
		with(running(p, "web", 1), stopped),
		running(p, "worker", 1), running(p, "worker", 2), running(p, "worker", 3), running(p, "worker", 4),
		with(running(p, "web", 1), func(c *planner.Observed) { c.Service, c.Name = "old", "demo-old-1" }),
		with(running(p, "web", 1), func(c *planner.Observed) { c.Service, c.Name, c.Number = "old", "demo-old-2", 2 }),
	}
	opts := planner.DiffOptions{RemoveOrphans: true}
	first, err := planner.Diff(p, sel, observed, opts)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 50 {
		r.Shuffle(len(observed), func(i, j int) { observed[i], observed[j] = observed[j], observed[i] })
		again, err := planner.Diff(p, sel, observed, opts)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(first, again) {
			t.Fatalf("plan depends on observed order:\n%s\nvs\n%s", first, again)
		}
	}
}

func TestActionKind(t *testing.T) {
	tests := []struct {
		name string
		kind planner.ActionKind
		want string
	}{
		{name: "create", kind: planner.Create, want: "create"},
		{name: "recreate", kind: planner.Recreate, want: "recreate"},
		{name: "start", kind: planner.Start, want: "start"},
		{name: "restart", kind: planner.Restart, want: "restart"},
		{name: "stop", kind: planner.Stop, want: "stop"},
		{name: "remove", kind: planner.Remove, want: "remove"},
		{name: "remove orphan", kind: planner.RemoveOrphan, want: "remove-orphan"},
		{name: "zero", kind: 0, want: "ActionKind(0)"},
		{name: "out of range", kind: 42, want: "ActionKind(42)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.kind.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
			b, err := tt.kind.MarshalText()
			if tt.kind < planner.Create || tt.kind > planner.RemoveOrphan {
				if err == nil {
					t.Errorf("MarshalText() of an invalid kind = %q, want error", b)
				}
				return
			}
			var back planner.ActionKind
			if err != nil || back.UnmarshalText(b) != nil || back != tt.kind {
				t.Errorf("text round trip: %q, %v -> %v", b, err, back)
			}
		})
	}
}

// goldenProject is the desired project of the golden cases:
//
//	db, cache           wave 0
//	web (db, cache)     wave 1; restarts when db is recreated
//	worker ×2 (db)      wave 1
//	vpn                 wave 0
//	app (service:vpn)   wave 1
//	backup (from app)   wave 2
//	tool [profile ops]  disabled
func goldenProject() *spec.Project {
	return project("demo", map[string]*spec.Service{
		"db":     svc(env("POSTGRES_DB=demo")),
		"cache":  svc(),
		"web":    svc(dependsOn("db", spec.DependsOn{Condition: spec.ConditionHealthy, Required: true, Restart: true}), needs("cache")),
		"worker": svc(needs("db"), replicas(2)),
		"vpn":    svc(),
		"app":    svc(networkMode("service:vpn")),
		"backup": svc(volumesFrom("app:ro")),
		"tool":   svc(profiles("ops"), needs("db")),
	})
}

// The golden cases: testdata/<name>/observed.json holds the observed
// containers, where the config hash "current" stands for the hash of the
// service in goldenProject (so the files do not change when spec.Service
// gains a field); plan.golden holds the rendered plan and orphans.
var goldenCases = []struct {
	name string
	sel  planner.SelectOptions
	opts planner.DiffOptions
}{
	{name: "fresh"},
	{name: "steady"},
	{name: "config-changed"},
	{name: "stopped"},
	{name: "scale", opts: planner.DiffOptions{Scale: map[string]int{"worker": 1, "web": 2}}},
	{name: "orphans-kept"},
	{name: "orphans-removed", opts: planner.DiffOptions{RemoveOrphans: true}},
	{name: "force-recreate", opts: planner.DiffOptions{ForceRecreate: true}},
	{name: "no-recreate", opts: planner.DiffOptions{NoRecreate: true}},
	{name: "network-mode"},
	{name: "image-changed", opts: planner.DiffOptions{ImageIDs: map[string]string{"cache": "sha256:new", "db": "sha256:busybox"}}},
	{name: "named-no-deps", sel: planner.SelectOptions{Services: []string{"web"}, NoDeps: true}},
	{name: "named-profile", sel: planner.SelectOptions{Services: []string{"tool"}}},
}

func TestDiffGolden(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join("testdata", tc.name)
			p := goldenProject()
			raw, err := os.ReadFile(filepath.Join(dir, "observed.json"))
			if err != nil {
				t.Fatal(err)
			}
			var observed []planner.Observed
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&observed); err != nil {
				t.Fatalf("decode observed.json: %v", err)
			}
			for i, o := range observed {
				if s := p.Services[o.Service]; s != nil && o.ConfigHash == "current" {
					observed[i].ConfigHash = planner.ConfigHash(s)
				}
			}
			sel, err := planner.Select(p, tc.sel)
			if err != nil {
				t.Fatal(err)
			}
			plan, err := planner.Diff(p, sel, (&fakeObserver{observed}).mustContainers(t, p.Name), tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			out.WriteString(plan.String())
			if len(plan.Orphans) > 0 {
				out.WriteString("orphans:\n")
				for _, o := range plan.Orphans {
					fmt.Fprintf(&out, "  %s (service %q)\n", o.Name, o.Service)
				}
			}
			testutil.Golden(t, filepath.Join(dir, "plan.golden"), out.Bytes(), *update)
		})
	}
}

func (f *fakeObserver) mustContainers(t *testing.T, project string) []planner.Observed {
	t.Helper()
	c, err := f.Containers(project)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func dump(actions []planner.Action) string {
	var b bytes.Buffer
	for _, a := range actions {
		fmt.Fprintf(&b, "  %+v\n", a)
	}
	return b.String()
}
