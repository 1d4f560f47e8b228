package daemon

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stack-dev/stack/api"
	"github.com/stack-dev/stack/internal/testutil"
)

// tenSteps is the Dockerfile of the build benchmarks: FROM and nine
// steps, the last a COPY whose source the miss benchmark changes.
const tenSteps = `FROM busybox:bench
ENV A=1
WORKDIR /app
RUN echo one > one
COPY a.txt .
RUN echo two > two
LABEL x=y
COPY b.txt .
RUN cat a.txt b.txt > ab
COPY stamp.txt .
`

// benchBuild times b.N builds of the ten-step Dockerfile after a first
// one, calling change before each, and reports the median as well as
// Go's mean: a build's time has a long tail (page cache, fsync).
func benchBuild(b *testing.B, change func(dir string, i int)) {
	testutil.RequiresRoot(b)
	root := b.TempDir()
	d, err := New(Config{StateRoot: root, CgroupParent: "stack-test/bench-build", NetworkTable: "stackbench_build"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		d.Close()
		// The step containers are gone; their parent cgroups are empty.
		dirs, _ := filepath.Glob("/sys/fs/cgroup/*/stack-test/bench-build")
		for _, d := range append(dirs, "/sys/fs/cgroup/stack-test/bench-build") {
			os.Remove(d)
		}
	})
	ctx := context.Background()
	if _, err := d.ImportRootfs(ctx, api.RootfsImport{Source: testutil.BusyboxRootfs(b), Ref: "busybox:bench"}); err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	for name, content := range map[string]string{"a.txt": "a", "b.txt": "b", "stamp.txt": "0", "Dockerfile": tenSteps} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	req := api.BuildRequest{Context: dir, Tags: []string{"bench:latest"}}
	if _, err := d.Build(ctx, req, func(api.BuildEvent) {}); err != nil {
		b.Fatal(err)
	}
	times := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		change(dir, i)
		b.StartTimer()
		start := time.Now()
		res, err := d.Build(ctx, req, func(api.BuildEvent) {})
		times = append(times, time.Since(start))
		if err != nil {
			b.Fatal(err)
		}
		if res.Steps != 6 {
			b.Fatalf("%d layer steps, want 6", res.Steps)
		}
	}
	b.StopTimer()
	slices.Sort(times)
	b.ReportMetric(float64(times[len(times)/2].Nanoseconds()), "median-ns/op")
}

// BenchmarkRootBuildCached rebuilds with nothing changed: every layer
// from the cache.
func BenchmarkRootBuildCached(b *testing.B) {
	benchBuild(b, func(string, int) {})
}

// BenchmarkRootBuildLastStepMiss changes the source of the last COPY
// before each build, so that step alone runs.
func BenchmarkRootBuildLastStepMiss(b *testing.B) {
	benchBuild(b, func(dir string, i int) {
		os.WriteFile(filepath.Join(dir, "stamp.txt"), []byte(fmt.Sprint(i+1)), 0o644)
	})
}
