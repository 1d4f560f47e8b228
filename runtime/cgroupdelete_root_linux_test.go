package runtime

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stack-dev/stack/internal/testutil"
)

// TestRootCgroupV1Delete: Delete removes a cgroup from every hierarchy
// with the cgroups under it, fails on one that still holds a process, and
// takes one already gone.
func TestRootCgroupV1Delete(t *testing.T) {
	testutil.RequiresRoot(t)
	t.Parallel()
	parent := "stack-test-cgroup-v1-delete"
	c := hostCgroupConfig(parent + "/c")
	if c.V2 {
		t.Skip("the host's cgroups are v2: the v1 removal does not run here")
	}
	cg, err := createCgroup(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, s := range cg.(*cgroupV1).cg.Subsystems() {
		dirs = append(dirs, filepath.Join(c.Root, string(s.Name()), c.Path))
	}
	t.Cleanup(func() {
		for _, d := range dirs {
			os.Remove(filepath.Join(d, "child", "grandchild"))
			os.Remove(filepath.Join(d, "child"))
			os.Remove(d)
			os.Remove(filepath.Dir(d))
		}
	})
	for _, d := range dirs {
		if err := os.MkdirAll(filepath.Join(d, "child", "grandchild"), 0o755); err != nil && !os.IsExist(err) {
			t.Fatal(err)
		}
	}
	sleeper := exec.Command("sleep", "60")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	if err := cg.Add(sleeper.Process.Pid); err != nil {
		sleeper.Process.Kill()
		t.Fatal(err)
	}
	if err := cg.Delete(); err == nil {
		t.Error("deleted a cgroup that holds a process")
	}
	sleeper.Process.Kill()
	sleeper.Wait()
	if err := cg.Delete(); err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("%s is left (%v)", d, err)
		}
	}
	if err := cg.Delete(); err != nil {
		t.Errorf("delete of a cgroup already gone: %v", err)
	}
}
