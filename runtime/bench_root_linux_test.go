package runtime_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stack-dev/stack/internal/testutil"
	"github.com/stack-dev/stack/runtime"
)

// BenchmarkRootRunTrue measures create + start + wait + delete of
// /bin/true, in a new network namespace and in a joined one (the host's,
// as --network host), and in a new one owned by a user namespace of the
// container's own (its rootfs owned by the range, as an idmapped overlay
// shows it), and reports the median.
func BenchmarkRootRunTrue(b *testing.B) {
	testutil.RequiresRoot(b)
	rootfs := testutil.BusyboxRootfs(b)
	for _, bc := range []struct {
		name   string
		netns  string
		userns bool
	}{{"newnetns", "", false}, {"joinnetns", "/proc/self/ns/net", false}, {"newnetns-userns", "", true}} {
		b.Run(bc.name, func(b *testing.B) {
			rootfs := rootfs
			if bc.userns {
				rootfs = shiftedRootfs(b, usernsBase)
			}
			root := b.TempDir()
			parent := "stack-bench-" + bc.name
			m, err := runtime.New(runtime.Options{StateRoot: root, CgroupParent: parent})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			var times []time.Duration
			var phases [4][]time.Duration // create, start, wait, delete
			for i := 0; b.Loop(); i++ {
				id := fmt.Sprintf("true-%d", i)
				start := time.Now()
				lap := start
				mark := func(p int) {
					now := time.Now()
					phases[p] = append(phases[p], now.Sub(lap))
					lap = now
				}
				spec := runtime.DefaultSpec("/bin/true")
				if bc.userns {
					spec = withUserNS(spec, usernsBase)
				}
				if err := m.Create(ctx, id, runtime.Config{Spec: spec, Rootfs: rootfs, NetNS: bc.netns}); err != nil {
					b.Fatal(err)
				}
				mark(0)
				if err := m.Start(ctx, id); err != nil {
					b.Fatal(err)
				}
				mark(1)
				if st, err := m.Wait(ctx, id); err != nil || st.ExitCode != 0 {
					b.Fatalf("wait: %+v, %v", st, err)
				}
				mark(2)
				if err := m.Delete(ctx, id, false); err != nil {
					b.Fatal(err)
				}
				mark(3)
				times = append(times, time.Since(start))
			}
			b.ReportMetric(median(times), "ms/median")
			for i, name := range []string{"create", "start", "wait", "delete"} {
				b.ReportMetric(median(phases[i]), "ms/"+name)
			}
			removeCgroupParent(parent)
		})
	}
}

func median(d []time.Duration) float64 {
	slices.Sort(d)
	return float64(d[len(d)/2].Microseconds()) / 1000
}

func removeCgroupParent(parent string) {
	for _, d := range append(globDirs("/sys/fs/cgroup/*/"+parent), globDirs("/sys/fs/cgroup/"+parent)...) {
		os.Remove(d)
	}
}

// TestRootShimRSS reports the resident memory of a running container's
// shim (VmRSS counts the binary's pages, shared by every shim;
// Private_Dirty is what each shim adds) and fails if it grows past a
// bound.
func TestRootShimRSS(t *testing.T) {
	testutil.RequiresRoot(t)
	t.Parallel()
	m := newManager(t)
	id := startContainer(t, m, sh("echo up; while :; do echo tick; sleep 0.01; done"))
	waitLog(t, m, id, "tick")
	time.Sleep(300 * time.Millisecond) // let the log copier run a while
	st, _ := m.State(id)
	rss, hwm := procMem(t, st.ShimPid)
	status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", st.ShimPid))
	rollup, _ := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", st.ShimPid))
	t.Logf("shim VmRSS %d KiB, VmHWM %d KiB\n%s\n%s", rss, hwm, grepLines(string(status), "Rss"), grepLines(string(rollup), "P"))
	if hwm > 16<<10 {
		t.Errorf("shim peak RSS %d KiB, want under 16 MiB", hwm)
	}
}

func procMem(t *testing.T, pid int) (rss, hwm int) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "VmRSS:":
			rss = atoi(f[1])
		case "VmHWM:":
			hwm = atoi(f[1])
		}
	}
	return rss, hwm
}

func grepLines(s, prefix string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
