package planner_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stack-dev/stack/planner"
	"github.com/stack-dev/stack/spec"
)

// bigProject generates a project of n services: service i depends on one to
// three earlier services and every seventh one runs three replicas. The
// generator is seeded, so every run plans the same project.
func bigProject(n int) *spec.Project {
	r := rand.New(rand.NewPCG(42, 500))
	services := make(map[string]*spec.Service, n)
	name := func(i int) string { return fmt.Sprintf("svc%03d", i) }
	for i := range n {
		s := svc(env(fmt.Sprintf("INDEX=%d", i), "MODE=bench"))
		if i > 0 {
			for range 1 + r.IntN(3) {
				needs(name(r.IntN(i)))(s)
			}
		}
		if i%7 == 0 {
			replicas(3)(s)
		}
		services[name(i)] = s
	}
	return project("bench", services)
}

func BenchmarkPlan500(b *testing.B) {
	p := bigProject(500)
	b.ReportAllocs()
	for b.Loop() {
		sel, err := planner.Select(p, planner.SelectOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if len(sel.Waves()) == 0 {
			b.Fatal("no waves")
		}
		plan, err := planner.Diff(p, sel, nil, planner.DiffOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if len(plan.Actions) < 500 {
			b.Fatalf("%d actions for 500 services", len(plan.Actions))
		}
	}
}
