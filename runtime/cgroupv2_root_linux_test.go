package runtime_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/stack-dev/stack/internal/testutil"
	"github.com/stack-dev/stack/runtime"
)

// TestRootCgroupV2 runs the v2 code (clone into the cgroup, freeze, the
// eBPF device filter, stats, delete) on the host's cgroup2 mount, which on
// a hybrid host is /sys/fs/cgroup/unified without controllers: limits are
// covered by the v1 tests and the fixture tests.
func TestRootCgroupV2(t *testing.T) {
	testutil.RequiresRoot(t)
	t.Parallel()
	root := "/sys/fs/cgroup"
	var st unix.Statfs_t
	if unix.Statfs(root, &st); st.Type != unix.CGROUP2_SUPER_MAGIC {
		root = "/sys/fs/cgroup/unified"
		if unix.Statfs(root, &st); st.Type != unix.CGROUP2_SUPER_MAGIC {
			t.Skip("no cgroup2 mount")
		}
	}
	state := t.TempDir()
	parent := "stack-test-" + containerID(t)
	m, err := runtime.New(runtime.WithCgroupV2Root(runtime.Options{StateRoot: state, CgroupParent: parent}, root))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		checkLeaks(t, state, parent)
		if err := os.Remove(filepath.Join(root, parent)); err != nil && !os.IsNotExist(err) {
			t.Errorf("remove parent cgroup: %v", err)
		}
	})
	id := startContainer(t, m, sh("cat /proc/self/cgroup; head -c 1 /dev/zero | wc -c; (head -c 1 /dev/sda || echo denied) 2>/dev/null; mknod /tmp/sda b 8 0 && (head -c 1 /tmp/sda 2>/dev/null || echo denied); while :; do sleep 0.05; done"))
	waitLog(t, m, id, "denied\ndenied\n")
	procs, err := os.ReadFile(filepath.Join(root, parent, id, "cgroup.procs"))
	if err != nil || len(strings.Fields(string(procs))) == 0 {
		t.Errorf("cgroup.procs = %q, %v", procs, err)
	}
	var out strings.Builder
	p := sh("cat /proc/self/cgroup").Process
	proc, err := m.Exec(ctxT(t), id, runtime.ExecConfig{Process: p, Stdout: &out})
	if err != nil {
		t.Fatal(err)
	}
	if code, err := proc.Wait(); err != nil || code != 0 || !strings.HasSuffix(out.String(), "0::/\n") {
		t.Errorf("exec: %d, %v, %q; want the container's v2 cgroup", code, err, out.String())
	}
	if err := m.Pause(id); err != nil {
		t.Fatal(err)
	}
	if s, _ := m.State(id); s.Status != runtime.Paused {
		t.Errorf("status after Pause = %s", s.Status)
	}
	if err := m.Resume(id); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Stats(id); err != nil {
		t.Errorf("Stats: %v", err)
	}
	st2, err := m.Stop(ctxT(t), id, unix.SIGKILL, time.Second)
	if err != nil || st2.ExitCode != 137 {
		t.Errorf("Stop = %+v, %v", st2, err)
	}
	// On a hybrid host the v1 lines come first; the v2 line shows the
	// container's cgroup as the namespace's root. The two denials come
	// from the eBPF device filter alone (the process is in no v1 devices
	// cgroup of ours in this mode).
	if out := readLog(t, m, id); !strings.Contains(out, "0::/\n1\ndenied\ndenied\n") {
		t.Errorf("log = %q", out)
	}
	if err := m.Delete(ctxT(t), id, false); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, parent, id)); !os.IsNotExist(err) {
		t.Errorf("cgroup left after Delete: %v", err)
	}
}
