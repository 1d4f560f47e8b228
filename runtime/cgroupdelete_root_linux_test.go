package runtime

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stack-dev/stack/internal/testutil"
)

// TestRootCgroupDelete: the daemon's Delete removes a cgroup the shim's
// library made from every hierarchy, with the cgroups under it, fails on
// one that still holds a process (which Add put there), and takes one
// already gone.
func TestRootCgroupDelete(t *testing.T) {
	testutil.RequiresRoot(t)
	t.Parallel()
	parent := "stack-test-cgroup-delete"
	c := hostCgroupConfig(parent + "/c")
	if _, err := createCgroup(c, nil); err != nil {
		t.Fatal(err)
	}
	cg, err := openCgroupFiles(c)
	if err != nil {
		t.Fatal(err)
	}
	dirs := cg.dirs
	if !c.V2 && len(dirs) < 2 {
		t.Fatalf("v1 cgroup in %d hierarchies: %v", len(dirs), dirs)
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
