package e2e

import (
	"strings"
	"testing"
)

// TestRootDownOrderAndImages takes a stack down: dependents stop before
// what they depend on, and --rmi all removes the images its services used.
func TestRootDownOrderAndImages(t *testing.T) {
	e := newEnv(t)
	e.writeStack("services:\n  db:\n    image: busybox\n    command: [sleep, '3600']\n  app:\n    image: busybox\n    command: [sleep, '3600']\n    depends_on: [db]\n    stop_signal: SIGKILL\n")
	e.mustRun("up", "-d")
	out := e.mustProgress("down", "-t", "1", "--rmi", "all")
	app, db := strings.Index(out, e.project+"-app-1  Stopped"), strings.Index(out, e.project+"-db-1  Stopped")
	if app < 0 || db < 0 || app > db {
		t.Errorf("want app stopped before db:\n%s", out)
	}
	if !strings.Contains(out, "Image busybox  Removed") {
		t.Errorf("down --rmi all did not remove busybox:\n%s", out)
	}
	if ls := e.mustRun("image", "ls"); strings.Contains(ls, "busybox") {
		t.Errorf("busybox still listed:\n%s", ls)
	}
	if code, _, errOut := e.run("down", "--rmi", "some"); code == 0 || !strings.Contains(errOut, "want local or all") {
		t.Errorf("--rmi some: exit %d, %q", code, errOut)
	}
}
