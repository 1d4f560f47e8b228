package runtime_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/stack-dev/stack/internal/errdefs"
	"github.com/stack-dev/stack/internal/testutil"
	"github.com/stack-dev/stack/runtime"
	"github.com/stack-dev/stack/runtime/seccomp"
)

// withProbe puts the sysprobe command at /sysprobe in the container's
// root file system.
func withProbe(t *testing.T) func(*runtime.Config) {
	probe, err := os.ReadFile(testutil.SysProbe(t))
	if err != nil {
		t.Fatal(err)
	}
	return func(c *runtime.Config) {
		if err := os.WriteFile(filepath.Join(c.Rootfs, "sysprobe"), probe, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

// defaultSeccomp gives spec Docker's default profile for its capabilities.
func defaultSeccomp(t *testing.T, s *specs.Spec) *specs.Spec {
	t.Helper()
	p, err := seccomp.Default(s)
	if err != nil {
		t.Fatal(err)
	}
	s.Linux.Seccomp = p
	return s
}

const probeScript = "grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status | tr '\\t' ' '; " +
	"/sysprobe add_key keyctl userfaultfd bpf perf_event_open unshare; " +
	"unshare -U -r true 2>/dev/null && echo userns: ok || echo userns: denied"

func TestRootSeccomp(t *testing.T) {
	testutil.RequiresRoot(t)
	t.Parallel()
	m := newManager(t)
	probe := withProbe(t)
	filtered := "NoNewPrivs: 0\nSeccomp: 2\nadd_key: EPERM\nkeyctl: EPERM\nuserfaultfd: EPERM\nbpf: EPERM\nperf_event_open: EPERM\nunshare: EPERM\nuserns: denied\n"
	t.Run("default profile", func(t *testing.T) {
		_, out := run(t, m, defaultSeccomp(t, sh(probeScript)), probe)
		if out != filtered {
			t.Errorf("under Docker's default profile:\n%s\nwant:\n%s", out, filtered)
		}
	})
	t.Run("unconfined", func(t *testing.T) {
		_, out := run(t, m, sh(probeScript), probe)
		for _, want := range []string{"Seccomp: 0\n", "add_key: ok\n", "keyctl: ok\n", "userfaultfd: ok\n", "unshare: EINVAL\n", "userns: ok\n"} {
			if !strings.Contains(out, want) {
				t.Errorf("without a filter, want %q in:\n%s", want, out)
			}
		}
	})
	t.Run("no_new_privs", func(t *testing.T) {
		s := defaultSeccomp(t, sh(probeScript))
		s.Process.NoNewPrivileges = true
		_, out := run(t, m, s, probe)
		if want := strings.Replace(filtered, "NoNewPrivs: 0", "NoNewPrivs: 1", 1); out != want {
			t.Errorf("with no_new_privs:\n%s\nwant:\n%s", out, want)
		}
	})
	t.Run("init reaper", func(t *testing.T) {
		_, out := run(t, m, defaultSeccomp(t, sh(probeScript)), probe, func(c *runtime.Config) { c.Init = true })
		if out != filtered {
			t.Errorf("under init: true:\n%s\nwant:\n%s", out, filtered)
		}
	})
	t.Run("profile denying mkdir", func(t *testing.T) {
		s := sh("mkdir /tmp/a 2>&1; /sysprobe mkdir")
		p, err := seccomp.LoadProfile([]byte(`{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}`), s)
		if err != nil {
			t.Fatal(err)
		}
		s.Linux.Seccomp = p
		_, out := run(t, m, s, probe)
		if want := "mkdir: can't create directory '/tmp/a': Operation not permitted\nmkdir: EPERM\n"; out != want {
			t.Errorf("mkdir under a profile that denies it:\n%s\nwant:\n%s", out, want)
		}
	})
	t.Run("exec", func(t *testing.T) {
		id := startContainer(t, m, defaultSeccomp(t, sh("echo up; sleep 100")), probe)
		waitLog(t, m, id, "up")
		var out bytes.Buffer
		proc, err := m.Exec(ctxT(t), id, runtime.ExecConfig{Process: runtime.DefaultSpec("/bin/sh", "-c", probeScript).Process, Stdout: &out, Stderr: &out})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := proc.Wait(); err != nil {
			t.Fatal(err)
		}
		if out.String() != filtered {
			t.Errorf("exec'd process:\n%s\nwant:\n%s", out.String(), filtered)
		}
	})
	t.Run("bad profile", func(t *testing.T) {
		s := sh("true")
		s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: "SCMP_ACT_SOMETIMES"}
		err := m.Create(ctxT(t), containerID(t), runtime.Config{Spec: s, Rootfs: testutil.BusyboxRootfs(t)})
		if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), "SCMP_ACT_SOMETIMES") {
			t.Errorf("Create with a bad profile = %v", err)
		}
	})
}
