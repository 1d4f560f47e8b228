package e2e

import (
	"strings"
	"testing"
)

// TestRootLimitsApplied brings up a service with memory, pids and cpu
// limits: up reads them back from the cgroup and, since the kernel holds
// them all, warns of none; the container sees its memory limit.
func TestRootLimitsApplied(t *testing.T) {
	e := newEnv(t)
	e.writeStack("services:\n  app:\n    image: busybox\n    command: [sleep, '3600']\n    mem_limit: 64m\n    pids_limit: 32\n    cpus: 0.5\n")
	_, out, errOut := e.run("up", "-d")
	if strings.Contains(out+errOut, "warning") {
		t.Errorf("up warned of limits the kernel holds:\n%s%s", out, errOut)
	}
	// cgroup v1 and v2 name the file differently; one of them is there.
	got := e.mustRun("exec", "-T", "app", "sh", "-c", "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/memory.max 2>/dev/null; true")
	if !strings.Contains(got, "67108864") {
		t.Errorf("memory limit inside the container: %q", got)
	}
}
