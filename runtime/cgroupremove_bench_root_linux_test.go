package runtime

import (
	"fmt"
	"testing"
	"time"

	"github.com/stack-dev/stack/internal/testutil"
)

// BenchmarkRootCgroupRemoval times the steps of an exited container's
// cgroup removal in cleanup, on the host's cgroups: find its directories, thaw, the kill
// loop's look for processes (none left), delete. The cgroup is created
// fresh each time, outside the timing.
func BenchmarkRootCgroupRemoval(b *testing.B) {
	testutil.RequiresRoot(b)
	parent := "stack-bench-cgroup-removal"
	// The parent and, after a failure, the cgroup under it.
	b.Cleanup(func() {
		if cg, err := openCgroupFiles(hostCgroupConfig(parent)); err == nil {
			cg.Delete()
		}
	})
	var steps [4]time.Duration
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		c := hostCgroupConfig(fmt.Sprintf("%s/c%d", parent, i))
		if _, err := createCgroup(c, nil); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		t0 := time.Now()
		cg, err := openCgroupFiles(c)
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		cg.Thaw()
		t2 := time.Now()
		if err := killCgroup(cg, time.Second, nil); err != nil {
			b.Fatal(err)
		}
		t3 := time.Now()
		if err := cg.Delete(); err != nil {
			b.Fatal(err)
		}
		t4 := time.Now()
		for j, d := range []time.Duration{t1.Sub(t0), t2.Sub(t1), t3.Sub(t2), t4.Sub(t3)} {
			steps[j] += d
		}
	}
	for j, name := range []string{"load", "thaw", "procs", "delete"} {
		b.ReportMetric(float64(steps[j].Microseconds())/float64(b.N), name+"-µs")
	}
}
