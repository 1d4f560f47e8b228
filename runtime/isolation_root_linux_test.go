package runtime_test

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/stack-dev/stack/internal/testutil"
	"github.com/stack-dev/stack/runtime"
)

// TestRootIsolation runs one container per assertion of issue 3's
// "Inside" list.
func TestRootIsolation(t *testing.T) {
	testutil.RequiresRoot(t)
	hostNS := map[string]string{}
	for _, ns := range []string{"mnt", "pid", "uts", "ipc", "net", "cgroup"} {
		l, err := os.Readlink("/proc/self/ns/" + ns)
		if err != nil {
			t.Fatal(err)
		}
		hostNS[ns] = l
	}
	tests := []struct {
		name   string
		script string
		mut    func(*specs.Spec)
		check  func(t *testing.T, st runtime.State, out string)
	}{
		{name: "pid 1", script: "echo $$", check: want("1\n")},
		{name: "ps shows only the container", script: "sleep 5 & ps -o pid,comm; kill $!",
			check: func(t *testing.T, _ runtime.State, out string) {
				// busybox re-execs its applets through /proc/self/exe, so
				// comm says "exe" for sleep; count processes instead.
				lines := strings.Split(strings.TrimSpace(out), "\n")
				if len(lines) != 4 || strings.Fields(lines[1])[0] != "1" {
					t.Errorf("ps:\n%s", out)
				}
			}},
		{name: "hostname", script: "hostname; cat /proc/sys/kernel/domainname",
			mut:   func(s *specs.Spec) { s.Hostname = "web-1"; s.Domainname = "example.test" },
			check: want("web-1\nexample.test\n")},
		{name: "namespaces differ", script: "for n in mnt pid uts ipc net cgroup; do echo $n $(readlink /proc/self/ns/$n); done",
			check: func(t *testing.T, _ runtime.State, out string) {
				for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
					ns, link, _ := strings.Cut(line, " ")
					if link == "" || link == hostNS[ns] {
						t.Errorf("namespace %s: %q, host has %q", ns, link, hostNS[ns])
					}
				}
			}},
		{name: "kcore masked", script: "for f in " + strings.Join(maskedOnHost(t), " ") + "; do echo $f $(cat $f 2>/dev/null | wc -c); done; ls /sys/firmware | wc -l",
			check: func(t *testing.T, _ runtime.State, out string) {
				lines := strings.Split(strings.TrimSpace(out), "\n")
				if len(lines) < 2 || lines[len(lines)-1] != "0" {
					t.Errorf("/sys/firmware not masked: %q", out)
				}
				for _, l := range lines[:len(lines)-1] {
					if !strings.HasSuffix(l, " 0") {
						t.Errorf("not masked: %s", l)
					}
				}
			}},
		{name: "mount fails", script: "mount -t tmpfs tmpfs /tmp 2>/dev/null && echo mounted || echo denied", check: want("denied\n")},
		{name: "proc sys read-only", script: "(echo 1 > /proc/sys/kernel/ns_last_pid) 2>/dev/null && echo written || echo denied",
			check: want("denied\n")},
		{name: "sys read-only", script: "touch /sys/x 2>/dev/null && echo written || echo denied", check: want("denied\n")},
		{name: "default capabilities", script: "grep -E '^Cap(Eff|Bnd)' /proc/self/status",
			check: want("CapEff:\t00000000a80425fb\nCapBnd:\t00000000a80425fb\n")},
		{name: "cap_add and cap_drop", script: "grep CapEff /proc/self/status",
			mut: func(s *specs.Spec) {
				caps, err := runtime.TweakCapabilities(runtime.DefaultCapabilities(), []string{"NET_ADMIN"}, []string{"chown"}, false)
				if err != nil {
					panic(err)
				}
				s.Process.Capabilities = &specs.LinuxCapabilities{Bounding: caps, Effective: caps, Permitted: caps}
			},
			check: want(fmt.Sprintf("CapEff:\t%016x\n", 0xa80425fb&^1|1<<12))},
		{name: "dev nodes", script: "ls /dev | tr '\\n' ' '; echo; echo x > /dev/null && head -c 4 /dev/zero | wc -c",
			check: func(t *testing.T, _ runtime.State, out string) {
				for _, d := range []string{"full", "mqueue", "null", "ptmx", "pts", "random", "shm", "tty", "urandom", "zero"} {
					if !strings.Contains(out, " "+d+" ") && !strings.HasPrefix(out, d+" ") {
						t.Errorf("/dev lacks %s: %q", d, out)
					}
				}
				if !strings.HasSuffix(out, "\n4\n") {
					t.Errorf("dev nodes unusable: %q", out)
				}
			}},
		{name: "child killed by signal", script: "sh -c 'kill -KILL $$'; echo $?",
			check: func(t *testing.T, _ runtime.State, out string) {
				// stdout and stderr ("Killed") are separate pipes, so
				// their order in the log is not fixed.
				if !strings.Contains(out, "137\n") {
					t.Errorf("output = %q, want 137", out)
				}
			}},
		{name: "readonly rootfs", script: "touch /x 2>/dev/null && echo written || echo denied; touch /tmp/x && echo tmpfs ok",
			mut: func(s *specs.Spec) {
				s.Root.Readonly = true
				s.Mounts = append(s.Mounts, specs.Mount{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev", "size=1m"}})
			},
			check: want("denied\ntmpfs ok\n")},
		{name: "env cwd and user", script: "echo $FOO $HOME $(pwd) $(id -u):$(id -g):$(id -G)",
			mut: func(s *specs.Spec) {
				s.Process.Env = append(s.Process.Env, "FOO=bar")
				s.Process.Cwd = "/var/www"
				s.Process.User = specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{1001}}
			},
			check: want("bar /home/app /var/www 1000:1000:1000 1001\n")},
		{name: "cgroup tree", script: "ls /sys/fs/cgroup | tr '\\n' ' '; cat /sys/fs/cgroup/pids/pids.max; cat /sys/fs/cgroup/pids/cgroup.procs; mkdir /sys/fs/cgroup/pids/x 2>/dev/null || echo ro",
			mut: func(s *specs.Spec) {
				s.Linux.Resources.Pids = &specs.LinuxPids{Limit: int64p(50)}
			},
			check: func(t *testing.T, _ runtime.State, out string) {
				if _, err := os.Stat("/sys/fs/cgroup/pids/cgroup.procs"); err != nil {
					t.Skip("not a v1 host")
				}
				// The hierarchies, our pids limit, PID 1 at the root of the
				// namespaced tree, and a read-only mount.
				if !strings.Contains(out, "memory ") || !strings.Contains(out, " 50\n1\n") || !strings.HasSuffix(out, "\nro\n") {
					t.Errorf("cgroup tree: %q", out)
				}
			}},
		{name: "sysctl", script: "cat /proc/sys/net/ipv4/ip_forward",
			mut:   func(s *specs.Spec) { s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1"} },
			check: want("1\n")},
		{name: "rlimit", script: "ulimit -n",
			mut: func(s *specs.Spec) {
				s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 321, Hard: 321}}
			},
			check: want("321\n")},
		{name: "no new privileges", script: "grep NoNewPrivs /proc/self/status",
			mut: func(s *specs.Spec) { s.Process.NoNewPrivileges = true }, check: want("NoNewPrivs:\t1\n")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := newManager(t)
			spec := sh(tt.script)
			if tt.mut != nil {
				tt.mut(spec)
			}
			st, out := run(t, m, spec)
			tt.check(t, st, out)
		})
	}
}

// maskedOnHost returns the masked /proc files this kernel has (it may be
// built without /proc/kcore).
func maskedOnHost(t *testing.T) []string {
	var out []string
	for _, p := range []string{"/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug"} {
		if _, err := os.Stat(p); err == nil {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		t.Fatal("no masked /proc file exists on this kernel")
	}
	return out
}

func want(s string) func(*testing.T, runtime.State, string) {
	return func(t *testing.T, st runtime.State, out string) {
		t.Helper()
		if out != s {
			t.Errorf("output = %q, want %q (exit %d)", out, s, st.ExitCode)
		}
	}
}
