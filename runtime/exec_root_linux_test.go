package runtime_test

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/stack-dev/stack/internal/testutil"
	"github.com/stack-dev/stack/runtime"
)

func TestRootExec(t *testing.T) {
	testutil.RequiresRoot(t)
	t.Parallel()
	m := newManager(t)
	spec := sh("echo up; sleep 100")
	spec.Hostname = "box"
	id := startContainer(t, m, spec)
	waitLog(t, m, id, "up")
	st, _ := m.State(id)
	initNS, err := os.Readlink("/proc/" + itoa(st.Pid) + "/ns/mnt")
	if err != nil {
		t.Fatal(err)
	}

	p := runtime.DefaultSpec("/bin/sh", "-c", "echo $$ $(hostname) $(id -u) $(pwd) $FOO; readlink /proc/self/ns/mnt; ps -o pid | wc -l; grep CapEff /proc/self/status; cat /proc/self/cgroup | head -1; exit 4").Process
	p.Env = append(p.Env, "FOO=bar")
	p.Cwd = "/var/www"
	p.User = specs.User{UID: 1000, GID: 1000}
	var out, errb bytes.Buffer
	proc, err := m.Exec(ctxT(t), id, runtime.ExecConfig{Process: p, Stdout: &out, Stderr: &errb})
	if err != nil {
		t.Fatal(err)
	}
	code, err := proc.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if code != 4 {
		t.Errorf("exit code = %d, want 4 (stdout %q, stderr %q)", code, out.String(), errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 5 {
		t.Fatalf("output = %q", out.String())
	}
	f := strings.Fields(lines[0])
	if len(f) != 5 || f[0] == "1" || f[1] != "box" || f[2] != "1000" || f[3] != "/var/www" || f[4] != "bar" {
		t.Errorf("pid, hostname, uid, cwd, env = %q", lines[0])
	}
	if lines[1] != initNS {
		t.Errorf("mount namespace = %s, want the container's %s", lines[1], initNS)
	}
	// header, sh (1), sleep, sh (exec), ps, wc; busybox may add a
	// subshell for $(...), so allow a little slack but not the host.
	if n := atoi(lines[2]); n < 4 || n > 8 {
		t.Errorf("ps shows %d lines", n)
	}
	if lines[3] != "CapEff:\t0000000000000000" {
		t.Errorf("non-root exec: %q", lines[3])
	}
	if !strings.HasSuffix(lines[4], ":/") {
		t.Errorf("cgroup = %q, want the container's root", lines[4])
	}

	_, err = m.Exec(ctxT(t), id, runtime.ExecConfig{Process: runtime.DefaultSpec("nosuchcmd").Process})
	if err == nil || !strings.Contains(err.Error(), "executable file not found") {
		t.Errorf("exec of a missing command = %v", err)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func atoi(s string) int {
	n, _ := strconv.Atoi(strings.TrimSpace(s))
	return n
}
