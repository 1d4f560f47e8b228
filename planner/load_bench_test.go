package planner_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stack-dev/stack/planner"
	"github.com/stack-dev/stack/spec"
)

// generateStackFile writes a stack file of n services in the shapes real
// files use: dependencies on earlier services, ports, volumes, env lists,
// health checks and replicas.
func generateStackFile(n int) string {
	var b strings.Builder
	b.WriteString("name: big\nservices:\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "  svc%d:\n    image: registry.local/app%d:1.${MINOR:-0}\n", i, i%17)
		fmt.Fprintf(&b, "    command: [\"serve\", \"--port\", \"%d\"]\n", 8000+i)
		fmt.Fprintf(&b, "    environment:\n      - INDEX=%d\n      - PEER=svc%d\n      - DEBUG\n", i, (i+1)%n)
		fmt.Fprintf(&b, "    ports:\n      - \"127.0.0.1:%d:80\"\n", 20000+i)
		fmt.Fprintf(&b, "    volumes:\n      - data:/data/%d\n      - ./conf/%d:/etc/app:ro\n", i, i)
		if i%5 == 0 {
			b.WriteString("    healthcheck:\n      test: [\"CMD\", \"true\"]\n      interval: 5s\n")
		}
		if i%7 == 0 {
			b.WriteString("    deploy:\n      replicas: 3\n")
			// Replicas cannot share a fixed host port: give them a range.
			s := b.String()
			b.Reset()
			b.WriteString(strings.Replace(s, fmt.Sprintf("\"127.0.0.1:%d:80\"", 20000+i), fmt.Sprintf("\"127.0.0.1:%d-%d:80\"", 40000+i*3, 40000+i*3+2), 1))
		}
		if i > 0 {
			b.WriteString("    depends_on:\n")
			for d := 1; d <= 1+i%3 && i-d*7 >= 0; d++ {
				fmt.Fprintf(&b, "      - svc%d\n", i-d*7)
			}
			if i < 7 {
				fmt.Fprintf(&b, "      - svc%d\n", i-1)
			}
		}
	}
	b.WriteString("volumes:\n  data:\n")
	return b.String()
}

// BenchmarkLoadAndPlan500 measures what `stack up` does before touching the
// kernel, on a 500-service file: read + interpolate + decode + validate the
// file, select services, order them in waves, and diff against an empty
// host.
func BenchmarkLoadAndPlan500(b *testing.B) {
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "stack.yaml"), []byte(generateStackFile(500)), 0o644); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		p, err := spec.Load(spec.LoadOptions{WorkingDir: dir, Environ: []string{"HOME=/h"}})
		if err != nil {
			b.Fatal(err)
		}
		sel, err := planner.Select(p, planner.SelectOptions{})
		if err != nil {
			b.Fatal(err)
		}
		plan, err := planner.Diff(p, sel, nil, planner.DiffOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if len(plan.Actions) < 500 {
			b.Fatalf("plan has %d actions, want at least 500", len(plan.Actions))
		}
	}
}
