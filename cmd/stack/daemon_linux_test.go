package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stack-dev/stack/internal/testutil"
)

// testEngine points the CLI at a daemon of the test's own (socket and state
// root in a temporary directory) and stops that daemon at the end.
func testEngine(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	t.Setenv("STACK_HOST", "unix://"+filepath.Join(dir, "stack.sock"))
	t.Setenv("STACK_STATE_ROOT", root)
	t.Cleanup(func() {
		data, err := os.ReadFile(filepath.Join(root, "daemon.pid"))
		if err != nil {
			return
		}
		pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
		if pid > 0 {
			syscall.Kill(pid, syscall.SIGTERM)
			for i := 0; i < 200 && syscall.Kill(pid, 0) == nil; i++ {
				time.Sleep(10 * time.Millisecond)
			}
		}
	})
}

// TestDaemonStartsOnDemand: the first command starts the daemon and says so
// once; the next one finds it running.
func TestDaemonStartsOnDemand(t *testing.T) {
	testEngine(t)
	rootfs := testutil.BusyboxRootfs(t)
	code, out, errOut := runCLI(t, t.TempDir(), "image", "import", "--rootfs", rootfs, "example/busybox:1", "-c", `CMD ["sh"]`)
	if code != 0 || !strings.HasPrefix(out, "imported example/busybox:1 ") || !strings.Contains(errOut, "started the daemon") {
		t.Fatalf("import: code %d, stdout %q, stderr %q", code, out, errOut)
	}
	code, out, errOut = runCLI(t, t.TempDir(), "image", "ls")
	if code != 0 || errOut != "" || !strings.Contains(out, "example/busybox   1 ") {
		t.Fatalf("ls: code %d, stdout %q, stderr %q", code, out, errOut)
	}
	code, out, _ = runCLI(t, t.TempDir(), "image", "history", "example/busybox:1")
	if code != 0 || !strings.Contains(out, "stack image import --rootfs") {
		t.Errorf("history: code %d, stdout %q", code, out)
	}
	code, _, errOut = runCLI(t, t.TempDir(), "image", "rm", "nosuch")
	if code != 1 || errOut != "stack: remove image nosuch: image \"nosuch\": not found\n" {
		t.Errorf("rm of a missing image: code %d, stderr %q", code, errOut)
	}
	code, out, _ = runCLI(t, t.TempDir(), "image", "rm", "example/busybox:1")
	if code != 0 || !strings.Contains(out, "Untagged: ") {
		t.Errorf("rm: code %d, stdout %q", code, out)
	}
}

func TestDaemonUnreachable(t *testing.T) {
	t.Setenv("STACK_HOST", "tcp://127.0.0.1:1")
	code, _, errOut := runCLI(t, t.TempDir(), "image", "ls")
	if code != 2 || !strings.Contains(errOut, "tcp needs TLS") {
		t.Errorf("code %d, stderr %q", code, errOut)
	}
}
