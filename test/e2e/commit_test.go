package e2e

import (
	"strings"
	"testing"
)

// TestRootCommit writes a file in a running container, commits the
// container, and runs the new image: the file is there, and the image's
// history names the container's command.
func TestRootCommit(t *testing.T) {
	e := newEnv(t)
	e.writeStack("services:\n  app:\n    image: busybox\n    command: [sleep, '3600']\n")
	e.mustRun("up", "-d")
	e.mustRun("exec", "-T", "app", "sh", "-c", "echo committed > /hello; rm /etc/group")
	id := strings.TrimSpace(e.mustRun("commit", "-m", "snapshot", "app", "snap:1"))
	if !strings.HasPrefix(id, "sha256:") {
		t.Fatalf("commit printed %q", id)
	}
	if ps := e.ps(); ps["app"].State != "running" {
		t.Errorf("app after commit: %+v", ps["app"])
	}
	if h := e.mustRun("image", "history", "snap:1"); !strings.Contains(h, "sleep 3600") || !strings.Contains(h, "snapshot") {
		t.Errorf("history of the committed image:\n%s", h)
	}
	e.writeStack("services:\n  app:\n    image: busybox\n    command: [sleep, '3600']\n  check:\n    image: snap:1\n    command: [sh, -c, 'cat /hello; ls /etc/group 2>&1; true']\n")
	out := e.mustRun("run", "--rm", "-T", "check")
	if !strings.Contains(out, "committed") || !strings.Contains(out, "No such file") {
		t.Errorf("the committed image runs with: %q", out)
	}
	e.mustRun("down", "-t", "1")
	e.mustRun("image", "rm", "snap:1")
}
