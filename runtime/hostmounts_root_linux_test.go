package runtime_test

import (
	"os"
	"strings"
	"testing"

	"github.com/stack-dev/stack/internal/testutil"
	"github.com/stack-dev/stack/runtime"
)

// superOptions maps each host mount point under /sys to its superblock
// options (the last field of mountinfo).
func superOptions(t *testing.T) map[string]string {
	out := hostSuperOptions()
	if len(out) == 0 {
		t.Fatal("no /sys mounts in mountinfo")
	}
	return out
}

func hostSuperOptions() map[string]string {
	b, _ := os.ReadFile("/proc/self/mountinfo")
	out := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		pre, post, ok := strings.Cut(line, " - ")
		f, g := strings.Fields(pre), strings.Fields(post)
		if ok && len(f) > 4 && len(g) > 2 && strings.HasPrefix(f[4], "/sys") {
			out[f[4]] = g[2]
		}
	}
	return out
}

// TestRootHostMountsUntouched runs containers whose read-only sysfs and
// cgroup mounts share the host's superblocks (the host's network
// namespace, the host's cgroup hierarchies) and checks that the host's
// mounts stay as they were.
func TestRootHostMountsUntouched(t *testing.T) {
	testutil.RequiresRoot(t)
	before := superOptions(t)
	m := newManager(t)
	_, out := run(t, m, sh("touch /sys/x 2>/dev/null || echo ro; ls /sys/fs/cgroup | wc -l"), func(c *runtime.Config) { c.NetNS = "/proc/self/ns/net" })
	if !strings.HasPrefix(out, "ro\n") {
		t.Errorf("output = %q", out)
	}
	after := superOptions(t)
	for mp, o := range before {
		if after[mp] != o {
			t.Errorf("host mount %s: superblock options %q, were %q", mp, after[mp], o)
		}
	}
}
