package planner_test

import (
	"fmt"

	"github.com/stack-dev/stack/planner"
	"github.com/stack-dev/stack/spec"
)

// memObserver is an in-memory Observer, as a test or a dry run would use.
type memObserver []planner.Observed

func (m memObserver) Containers(project string) ([]planner.Observed, error) {
	var out []planner.Observed
	for _, c := range m {
		if c.Project == project {
			out = append(out, c)
		}
	}
	return out, nil
}

// This is what `stack up web` does before it changes anything: select the
// services, list what exists, and diff.
func Example() {
	two := 2
	p := &spec.Project{
		Name: "shop",
		Services: map[string]*spec.Service{
			"db": {Image: "postgres:16"},
			"web": {
				Image:  "shop/web:1.4",
				Deploy: &spec.Deploy{Replicas: &two},
				DependsOn: map[string]spec.DependsOn{
					"db": {Condition: spec.ConditionHealthy, Required: true, Restart: true},
				},
			},
			"adminer": {Image: "adminer", Profiles: []string{"debug"}},
		},
	}
	sel, err := planner.Select(p, planner.SelectOptions{Services: []string{"web"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("services:", sel.Services(), "waves:", sel.Waves())

	// The database runs with an older configuration; web-1 runs up to date.
	observer := memObserver{
		{ID: "c1", Name: "shop-db-1", Project: "shop", Service: "db", Number: 1, ConfigHash: "0ld", Running: true},
		{ID: "c2", Name: "shop-web-1", Project: "shop", Service: "web", Number: 1, ConfigHash: planner.ConfigHash(p.Services["web"]), Running: true},
		{ID: "c3", Name: "shop-legacy-1", Project: "shop", Service: "legacy", Number: 1},
	}
	observed, err := observer.Containers(p.Name)
	if err != nil {
		fmt.Println(err)
		return
	}
	plan, err := planner.Diff(p, sel, observed, planner.DiffOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(plan)
	for _, o := range plan.Orphans {
		fmt.Printf("found orphan container %s\n", o.Name)
	}
	// Output:
	// services: [db web] waves: [[db] [web]]
	// recreate  shop-db-1   (wave 0): config hash changed
	// restart   shop-web-1  (wave 1): dependency "db" is recreated (restart: true)
	// create    shop-web-2  (wave 1): not created yet
	// found orphan container shop-legacy-1
}

func ExampleNewGraph() {
	p := &spec.Project{
		Name: "blog",
		Services: map[string]*spec.Service{
			"web": {Image: "nginx", Links: []string{"php:app"}},
			"php": {Image: "php", DependsOn: map[string]spec.DependsOn{"web": {Condition: spec.ConditionStarted, Required: true}}},
		},
	}
	_, err := planner.NewGraph(p, p.ServiceNames())
	fmt.Println(err)
	// Output:
	// dependency cycle detected: php -> web -> php
}
