package runtime_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/stack-dev/stack/internal/testutil"
	"github.com/stack-dev/stack/runtime"
)

func withResources(r *specs.LinuxResources) func(*runtime.Config) {
	return func(c *runtime.Config) {
		r.Devices = c.Spec.Linux.Resources.Devices
		c.Spec.Linux.Resources = r
	}
}

func int64p(v int64) *int64    { return &v }
func uint64p(v uint64) *uint64 { return &v }

func TestRootOOMKill(t *testing.T) {
	testutil.RequiresRoot(t)
	t.Parallel()
	m := newManager(t)
	// tail buffers its input until a newline that /dev/zero never sends.
	st, _ := run(t, m, sh("exec tail /dev/zero"),
		withResources(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: int64p(32 << 20), Swap: int64p(32 << 20)}}))
	if st.ExitCode != 137 || !st.OOMKilled {
		t.Errorf("state = %+v, want exit 137 and OOMKilled", st)
	}
}

func TestRootPidsLimit(t *testing.T) {
	testutil.RequiresRoot(t)
	t.Parallel()
	m := newManager(t)
	// PID 1 prepares its wait before the bomb goes off: once the limit is
	// reached, it could not fork a sleep. Opening a FIFO blocks without a
	// fork; SIGCHLD from the bomb interrupts the open, hence the loop.
	id := startContainer(t, m, sh("mkfifo /tmp/f; echo up; bomb() { bomb | bomb & }; bomb; while :; do read x < /tmp/f; done 2>/dev/null"),
		withResources(&specs.LinuxResources{Pids: &specs.LinuxPids{Limit: int64p(32)}}))
	waitLog(t, m, id, "up")
	time.Sleep(500 * time.Millisecond)
	s, err := m.Stats(id)
	if err != nil {
		t.Fatal(err)
	}
	if s.Pids > 32 || s.PidsLimit != 32 || !strings.Contains(readLog(t, m, id), "can't fork") {
		t.Errorf("stats = %+v, want a bomb held at 32 pids; log %.300q", s, readLog(t, m, id))
	}
	start := time.Now()
	st, err := m.Stop(ctxT(t), id, unix.SIGKILL, 0)
	if err != nil {
		t.Fatal(err)
	}
	if st.ExitCode != 137 || time.Since(start) > 5*time.Second {
		t.Errorf("stop took %v, state %+v", time.Since(start), st)
	}
}

func TestRootCPUQuota(t *testing.T) {
	testutil.RequiresRoot(t)
	t.Parallel()
	m := newManager(t)
	// cpus: 0.2
	id := startContainer(t, m, sh("echo up; while :; do :; done"),
		withResources(&specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: int64p(20000), Period: uint64p(100000)}}))
	waitLog(t, m, id, "up")
	s1, err := m.Stats(id)
	if err != nil {
		t.Fatal(err)
	}
	t1 := time.Now()
	time.Sleep(2 * time.Second)
	s2, _ := m.Stats(id)
	share := float64(s2.CPUUsage-s1.CPUUsage) / float64(time.Since(t1))
	t.Logf("cpu share %.3f", share)
	if share < 0.1 || share > 0.3 {
		t.Errorf("a busy loop under cpus=0.2 used %.0f%% of a core", share*100)
	}
}

func TestRootCgroupFiles(t *testing.T) {
	testutil.RequiresRoot(t)
	t.Parallel()
	m := newManager(t)
	id := startContainer(t, m, sh("cat /proc/self/cgroup; sleep 100"),
		withResources(&specs.LinuxResources{
			Memory: &specs.LinuxMemory{Limit: int64p(64 << 20)},
			CPU:    &specs.LinuxCPU{Shares: uint64p(512), Cpus: "0"},
		}))
	waitLog(t, m, id, "memory")
	st, _ := m.State(id)
	read := func(ctrl, file string) string {
		b, err := os.ReadFile(filepath.Join("/sys/fs/cgroup", ctrl, st.CgroupPath, file))
		if err != nil {
			t.Error(err)
		}
		return strings.TrimSpace(string(b))
	}
	if _, err := os.Stat("/sys/fs/cgroup/memory"); err != nil {
		t.Skip("not a v1 host")
	}
	for _, c := range []struct{ ctrl, file, want string }{
		{"memory", "memory.limit_in_bytes", "67108864"},
		{"cpu", "cpu.shares", "512"},
		{"cpuset", "cpuset.cpus", "0"},
	} {
		if got := read(c.ctrl, c.file); got != c.want {
			t.Errorf("%s = %q, want %q", c.file, got, c.want)
		}
	}
	if got := read("devices", "devices.list"); !strings.Contains(got, "c 1:3 rwm") || strings.Contains(got, "a *:* rwm") {
		t.Errorf("devices.list = %q", got)
	}
	// The cgroup namespace makes the container's cgroup its root.
	for _, line := range strings.Split(strings.TrimSpace(readLog(t, m, id)), "\n") {
		if !strings.HasSuffix(line, ":/") {
			t.Errorf("/proc/self/cgroup in the container: %q", line)
		}
	}
}

func TestRootBlkioWeight(t *testing.T) {
	testutil.RequiresRoot(t)
	t.Parallel()
	m := newManager(t)
	id := startContainer(t, m, sh("sleep 100"),
		withResources(&specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{Weight: func() *uint16 { w := uint16(300); return &w }()}}))
	st, _ := m.State(id)
	for _, f := range []string{"blkio.weight", "blkio.bfq.weight"} {
		if b, err := os.ReadFile(filepath.Join("/sys/fs/cgroup/blkio", st.CgroupPath, f)); err == nil {
			if got := strings.Fields(string(b)); len(got) == 0 || got[len(got)-1] != "300" {
				t.Errorf("%s = %q, want 300", f, b)
			}
			return
		}
	}
	t.Log("no proportional I/O scheduler: the weight was dropped")
}
