package runtime_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/stack-dev/stack/internal/errdefs"
	"github.com/stack-dev/stack/internal/testutil"
	"github.com/stack-dev/stack/runtime"
)

// usernsBase is the host uid and gid range of these tests' containers:
// high enough that no user of a test machine has it.
const usernsBase = 1_900_000_000

// withUserNS gives spec a user namespace mapping 65536 IDs from base.
func withUserNS(spec *specs.Spec, base uint32) *specs.Spec {
	spec.Linux.Namespaces = append(spec.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
	m := []specs.LinuxIDMapping{{ContainerID: 0, HostID: base, Size: 65536}}
	spec.Linux.UIDMappings, spec.Linux.GIDMappings = m, m
	return spec
}

// shiftedRootfs is a busybox rootfs owned by the range from base, as an
// idmapped overlay shows its caller the image's files.
func shiftedRootfs(t testing.TB, base uint32) string {
	t.Helper()
	root := testutil.BusyboxRootfs(t)
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		st, err := os.Lstat(p)
		if err != nil {
			return err
		}
		s := st.Sys().(*syscall.Stat_t)
		return os.Lchown(p, int(base+s.Uid), int(base+s.Gid))
	})
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// TestRootUserNS runs a container in a user namespace of its own: its
// uid_map is not the identity, its root is uid 0 inside and the range's
// first uid outside, a bind mount shows the host's owners and what the
// container's root writes there is owned by the host's root (as without
// a user namespace), a setuid-root binary it writes to its own filesystem
// is not setuid-root on the host, and sysctls, device nodes and cgroups
// work inside.
func TestRootUserNS(t *testing.T) {
	testutil.RequiresRoot(t)
	t.Parallel()
	m := newManager(t)
	base := uint32(usernsBase)
	rootfs := shiftedRootfs(t, base)
	bind := t.TempDir()
	os.Chmod(bind, 0o755)
	if err := os.WriteFile(filepath.Join(bind, "dev-file"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chown(filepath.Join(bind, "dev-file"), 1000, 1000)
	spec := withUserNS(sh(`
cat /proc/self/uid_map
echo "id $(id -u):$(id -g)"
echo "owner $(stat -c %u:%g /data/dev-file)"
touch /data/from-root && chmod 4755 /data/from-root
cp /bin/busybox /suid && chmod 4755 /suid
echo "sysctl $(cat /proc/sys/net/ipv4/ip_unprivileged_port_start) $(cat /proc/sys/kernel/msgmax)"
echo zero | cat > /dev/null && echo "null ok"
echo "memory $(cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max)"
echo "lo $(cat /sys/class/net/lo/operstate)"
echo "reopened stderr" > /dev/stderr
`), base)
	spec.Mounts = append(spec.Mounts, specs.Mount{Destination: "/data", Type: "bind", Source: bind, Options: []string{"rbind", "rprivate"}})
	spec.Linux.Sysctl = map[string]string{"net.ipv4.ip_unprivileged_port_start": "80", "kernel.msgmax": "4096"}
	limit := int64(64 << 20)
	spec.Linux.Resources.Memory = &specs.LinuxMemory{Limit: &limit}
	st, logs := run(t, m, spec, func(c *runtime.Config) { c.Rootfs = rootfs })
	if st.ExitCode != 0 {
		t.Fatalf("exit %d, log:\n%s", st.ExitCode, logs)
	}
	want := []string{
		fmt.Sprintf("0 %d 65536", base), "id 0:0", "owner 1000:1000", "sysctl 80 4096", "null ok",
		"memory 67108864", "lo ",
		// nginx's and php-fpm's logs: /proc/self/fd/2 opened again.
		"reopened stderr",
	}
	flat := strings.Join(strings.Fields(logs), " ")
	for _, w := range want {
		if !strings.Contains(flat, w) {
			t.Errorf("log lacks %q:\n%s", w, logs)
		}
	}
	if uid, gid, _ := testutil.Owner(t, filepath.Join(bind, "from-root")); uid != 0 || gid != 0 {
		t.Errorf("a file the container's root made in a bind mount is %d:%d on the host, want 0:0 (as without a user namespace)", uid, gid)
	}
	uid, _, mode := testutil.Owner(t, filepath.Join(rootfs, "suid"))
	if mode&fs.ModeSetuid == 0 || uid != base {
		t.Errorf("the container's setuid binary is %v owned by %d on the host, want setuid to %d", mode, uid, base)
	}
}

// TestRootUserNSExec runs a process in a running container with a user
// namespace: it is in the container's user namespace (the same one, not
// one with the same map) and is its root.
func TestRootUserNSExec(t *testing.T) {
	testutil.RequiresRoot(t)
	t.Parallel()
	m := newManager(t)
	base := uint32(usernsBase + 65536)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	id := containerID(t)
	if err := m.Create(ctx, id, runtime.Config{Spec: withUserNS(sh("sleep 30"), base), Rootfs: shiftedRootfs(t, base)}); err != nil {
		t.Fatal(err)
	}
	defer m.Delete(context.Background(), id, true)
	if err := m.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	st, err := m.State(id)
	if err != nil {
		t.Fatal(err)
	}
	initNS, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/user", st.Pid))
	if err != nil {
		t.Fatal(err)
	}
	p := runtime.DefaultSpec("/bin/sh", "-c", "readlink /proc/self/ns/user; id -u; cat /proc/self/uid_map; touch /made-by-exec; echo reopened > /dev/stderr").Process
	var out, errb bytes.Buffer
	proc, err := m.Exec(ctx, id, runtime.ExecConfig{Process: p, Stdout: &out, Stderr: &errb})
	if err != nil {
		t.Fatal(err)
	}
	code, err := proc.Wait()
	if err != nil || code != 0 {
		t.Fatalf("exec: %d %v, stderr %q", code, err, errb.String())
	}
	if errb.String() != "reopened\n" {
		t.Errorf("exec'd process's /dev/stderr: %q, want it to open (its pipe is the container root's)", errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) < 3 || lines[0] != initNS || lines[1] != "0" || !strings.Contains(strings.Join(strings.Fields(lines[2]), " "), fmt.Sprintf("0 %d 65536", base)) {
		t.Errorf("exec'd process: %q, want the init's user namespace %s, uid 0 and the map from %d", lines, initNS, base)
	}
	// A terminal works there too.
	tp := runtime.DefaultSpec("/bin/sh", "-c", "tty").Process
	tp.Terminal = true
	tproc, err := m.Exec(ctx, id, runtime.ExecConfig{Process: tp})
	if err != nil {
		t.Fatal(err)
	}
	tout, _ := readAll(tproc.Console())
	if code, err := tproc.Wait(); err != nil || code != 0 || !strings.Contains(tout, "/dev/pts/") {
		t.Errorf("exec with a terminal: %d %v %q", code, err, tout)
	}
	m.Kill(ctx, id, 9)
	m.Wait(ctx, id)
}

func readAll(f *os.File) (string, error) {
	defer f.Close()
	var b bytes.Buffer
	buf := make([]byte, 4096)
	for {
		n, err := f.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			return b.String(), nil
		}
	}
}

// TestRootUserNSRefusals: a bind mount of a file system that cannot be
// idmapped fails Create naming it, and a user-namespaced container cannot
// join a network namespace it does not own.
func TestRootUserNSRefusals(t *testing.T) {
	testutil.RequiresRoot(t)
	t.Parallel()
	m := newManager(t)
	base := uint32(usernsBase + 2*65536)
	ctx := context.Background()
	spec := withUserNS(sh("true"), base)
	spec.Mounts = append(spec.Mounts, specs.Mount{Destination: "/hostproc", Type: "bind", Source: "/proc/sys", Options: []string{"rbind"}})
	err := m.Create(ctx, containerID(t), runtime.Config{Spec: spec, Rootfs: shiftedRootfs(t, base)})
	// (the error crossed the shim's socket: its class is kept, its type not)
	if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), "/proc/sys") || !strings.Contains(err.Error(), "proc") {
		t.Errorf("bind of /proc/sys: %v, want an invalid argument naming it and its file system", err)
	}
	err = m.Create(ctx, containerID(t)+"-2", runtime.Config{Spec: withUserNS(sh("true"), base), Rootfs: shiftedRootfs(t, base), NetNS: "/proc/self/ns/net"})
	if !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("joining a network namespace: %v, want invalid argument", err)
	}
}
