package e2e

import (
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stack-dev/stack/internal/testutil"
)

// TestRootDaemonGroup: `stack daemon --group NAME` creates the group when
// it is missing and gives it the socket, which its members may then use.
func TestRootDaemonGroup(t *testing.T) {
	testutil.RequiresRoot(t)
	dir := t.TempDir()
	group := "stke2e" + strconv.Itoa(os.Getpid()%100000)
	t.Cleanup(func() { exec.Command("groupdel", group).Run() })
	sock := filepath.Join(dir, "stack.sock")
	d := exec.Command(stackBin, "daemon", "-H", "unix://"+sock, "--state-root", filepath.Join(dir, "root"), "--group", group)
	d.Env = append(os.Environ(), "STACK_NFT_TABLE=stacke2e_group", "STACK_CGROUP_PARENT=stack-e2e/group")
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		d.Process.Signal(syscall.SIGTERM)
		d.Wait()
	}()
	var fi os.FileInfo
	for i := 0; i < 100; i++ {
		if st, err := os.Stat(sock); err == nil && st.Sys().(*syscall.Stat_t).Gid != 0 {
			fi = st
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	g, err := user.LookupGroup(group)
	if err != nil {
		t.Fatalf("the daemon did not create group %s: %v", group, err)
	}
	if fi == nil || strconv.Itoa(int(fi.Sys().(*syscall.Stat_t).Gid)) != g.Gid || fi.Mode().Perm() != 0o660 {
		t.Fatalf("socket %v: want group %s (%s) and mode 0660", fi, group, g.Gid)
	}
}

// TestRootDaemonRefusesNonRoot: a daemon started by another user than
// root says in one line that it needs root, and exits 1.
func TestRootDaemonRefusesNonRoot(t *testing.T) {
	testutil.RequiresRoot(t)
	// Not t.TempDir(): its parent is closed to other users.
	dir, err := os.MkdirTemp("", "stack-e2e-nonroot")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	bin := filepath.Join(dir, "stack")
	data, err := os.ReadFile(stackBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	d := exec.Command(bin, "daemon", "-H", "unix://"+filepath.Join(dir, "s.sock"), "--state-root", filepath.Join(dir, "root"))
	d.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := d.CombinedOutput()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 1 {
		t.Fatalf("daemon as nobody: %v, want exit 1:\n%s", err, out)
	}
	if lines := strings.Split(strings.TrimSpace(string(out)), "\n"); len(lines) != 1 || !strings.Contains(lines[0], "needs root") {
		t.Errorf("want one line saying it needs root, got:\n%s", out)
	}
}

// TestRootDaemonBinary: the daemon the CLI starts runs from stack-daemon,
// beside stack, under the pid it was started with; a stack-daemon started
// by a stack of another build refuses to serve, in one line.
func TestRootDaemonBinary(t *testing.T) {
	e := newBareEnv(t)
	e.mustRun("image", "ls")
	pid := e.daemonPid()
	exe, err := os.Readlink(filepath.Join("/proc", strconv.Itoa(pid), "exe"))
	want := filepath.Join(filepath.Dir(stackBin), "stack-daemon")
	if err != nil || exe != want {
		t.Errorf("the daemon (pid %d) runs %q (%v), want %s", pid, exe, err, want)
	}
	dir := t.TempDir()
	refusesToStart(t, "stack-daemon started by another build", want, dir, "from one build", "STACK_DAEMON_STARTED_BY=v0.0.1 0123456789ab")
	// stack-daemon cannot be its containers' shim: without stack-shim
	// beside it, it refuses to start rather than fail every container.
	alone := filepath.Join(t.TempDir(), "stack-daemon")
	data, err := os.ReadFile(want)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(alone, data, 0o755); err != nil {
		t.Fatal(err)
	}
	refusesToStart(t, "stack-daemon without stack-shim", alone, dir, "no stack-shim beside")
}

// refusesToStart runs the daemon binary bin with its socket and state in
// dir, and wants it to exit 1 with one line containing line, before it
// listens.
func refusesToStart(t *testing.T, what, bin, dir, line string, env ...string) {
	t.Helper()
	d := exec.Command(bin, "daemon", "-H", "unix://"+filepath.Join(dir, "s.sock"), "--state-root", filepath.Join(dir, "root"))
	d.Env = append(os.Environ(), env...)
	out, err := d.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("%s: %v, want exit 1:\n%s", what, err, out)
	}
	if lines := strings.Split(strings.TrimSpace(string(out)), "\n"); len(lines) != 1 || !strings.Contains(lines[0], line) {
		t.Errorf("%s: want one line with %q, got:\n%s", what, line, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "s.sock")); err == nil {
		t.Errorf("%s: it made its socket", what)
	}
}
