package e2e

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stack-dev/stack/internal/testutil"
)

// stackBin is the stack binary under test, built once by TestMain;
// udpEcho a static UDP echo server and client to mount into containers.
var stackBin, udpEcho string

func TestMain(m *testing.M) {
	if os.Getenv("STACK_TEST_ROOT") != "1" || os.Geteuid() != 0 {
		fmt.Println("e2e: skipped (set STACK_TEST_ROOT=1 and run as root)")
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "stack-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	stackBin = filepath.Join(dir, "stack")
	build := exec.Command("go", "build", "-o", stackBin, "../../cmd/stack")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build stack:", err)
		os.Exit(1)
	}
	// Beside stack, as make build puts them: the daemon runs containers'
	// shims from stack-shim and their inits from stack-init. A container's
	// root in a user namespace execs the init by name, as an unprivileged
	// uid: the directory must be open to it, as /usr/local/bin is.
	if err := os.Chmod(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// stack-daemon is stack's own package with the daemon command alone:
	// built as stack is, it is of the same build, and the daemon runs
	// from it.
	build = exec.Command("go", "build", "-tags", "stackdaemon", "-o", filepath.Join(dir, "stack-daemon"), "../../cmd/stack")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build stack-daemon:", err)
		os.Exit(1)
	}
	for _, b := range [][]string{
		{"-o", filepath.Join(dir, "stack-shim"), "../../cmd/stack-shim"},
		{"-tags", "stackinit", "-o", filepath.Join(dir, "stack-init"), "../../cmd/stack-init"},
	} {
		build = exec.Command("go", append([]string{"build"}, b...)...)
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "build", b[len(b)-1]+":", err)
			os.Exit(1)
		}
	}
	udpEcho = filepath.Join(dir, "udpecho")
	build = exec.Command("go", "build", "-o", udpEcho, "./testdata/udpecho")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build udpecho:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// env is one test's engine: its daemon's socket and state, and the
// project under test.
type env struct {
	t       *testing.T
	dir     string
	root    string
	project string
	tag     string
	vars    []string
	mounts  []string // the test's own mounts under dir
}

// newEnv prepares an engine of the test's own, imports a busybox image,
// and at the end takes the project down and checks that nothing of it is
// left on the host.
func newEnv(t *testing.T) *env {
	t.Helper()
	e := newBareEnv(t)
	e.mustRun("image", "import", "--rootfs", testutil.BusyboxRootfs(t), "busybox")
	return e
}

// newBareEnv is newEnv without the image: nothing runs yet, and the
// first command starts the daemon.
func newBareEnv(t *testing.T) *env {
	t.Helper()
	testutil.RequiresRoot(t)
	dir := t.TempDir()
	// The test's name and the test binary's pid: the same test run from
	// two checkouts on one machine at once gets names, cgroups and nft
	// tables of its own in each.
	sum := sha256.Sum256(fmt.Appendf(nil, "%s %d", t.Name(), os.Getpid()))
	tag := hex.EncodeToString(sum[:4])
	e := &env{t: t, dir: dir, root: filepath.Join(dir, "root"), project: "e2e" + tag, tag: tag}
	e.vars = append(os.Environ(),
		"STACK_HOST=unix://"+filepath.Join(dir, "stack.sock"),
		"STACK_STATE_ROOT="+e.root,
		"STACK_NFT_TABLE=stacke2e_"+tag,
		"STACK_CGROUP_PARENT=stack-e2e/"+tag,
		"COMPOSE_PROJECT_NAME="+e.project,
		// The daemon's containers' user namespace ranges: 16 of its own,
		// so that the daemons of tests running at once never share one
		// (each allocates from its own records) and /etc/subuid is left
		// alone.
		// User namespaces on, unless the run says otherwise (they are
		// the daemon's opt-in).
		"STACK_USERNS_REMAP="+cmp.Or(os.Getenv("STACK_USERNS_REMAP"), "default"),
		fmt.Sprintf("STACK_USERNS_RANGE=%d:%d", 3_000_000_000+(uint32(sum[4])<<8|uint32(sum[5]))%1000*16*65536, 16*65536),
	)
	t.Cleanup(func() {
		e.run("down", "-v", "-t", "1")
		e.stopDaemon()
		e.assertClean(tag)
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(e.root, "daemon.log"))
			t.Logf("daemon.log:\n%s", log)
		}
	})
	return e
}

// run runs the stack CLI and returns its exit code and output.
func (e *env) run(args ...string) (int, string, string) {
	e.t.Helper()
	return e.runProgram(stackBin, args...)
}

// runProgram runs bin with the test's environment in its directory and
// returns its exit code and output.
func (e *env) runProgram(bin string, args ...string) (int, string, string) {
	e.t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = e.vars
	cmd.Dir = e.dir
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatalf("run %s %v: %v", filepath.Base(bin), args, err)
	}
	return code, out.String(), errOut.String()
}

func (e *env) mustRun(args ...string) string {
	e.t.Helper()
	code, out, errOut := e.run(args...)
	if code != 0 {
		e.t.Fatalf("stack %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// mustProgress runs the stack CLI, which must succeed, and returns what
// it printed on stderr: the progress of an operation, as compose prints
// it there.
func (e *env) mustProgress(args ...string) string {
	e.t.Helper()
	code, out, errOut := e.run(args...)
	if code != 0 {
		e.t.Fatalf("stack %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out, errOut)
	}
	return errOut
}

// writeStack writes a stack file into the test directory.
func (e *env) writeStack(content string) {
	e.t.Helper()
	if err := os.WriteFile(filepath.Join(e.dir, "stack.yaml"), []byte(content), 0o644); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) daemonPid() int {
	data, err := os.ReadFile(filepath.Join(e.root, "daemon.pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	return pid
}

func (e *env) stopDaemon() {
	if pid := e.daemonPid(); pid > 0 {
		syscall.Kill(pid, syscall.SIGTERM)
		for i := 0; i < 300 && processRuns(pid); i++ {
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// assertClean checks that no container process, mount, cgroup, bridge,
// veth or nftables table of the test remains.
func (e *env) assertClean(tag string) {
	t := e.t
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(mounts), "\n") {
		if f := strings.Fields(line); len(f) > 4 && strings.HasPrefix(f[4], e.dir) && !slices.Contains(e.mounts, f[4]) {
			t.Errorf("mount left behind: %s", line)
		}
	}
	for _, d := range globs("/sys/fs/cgroup/*/stack-e2e/" + tag + "/*") {
		if fi, err := os.Stat(d); err == nil && fi.IsDir() {
			t.Errorf("cgroup left behind: %s", d)
		}
	}
	// down removes the emptied cgroup parent too.
	for _, d := range globs("/sys/fs/cgroup/*/stack-e2e/" + tag) {
		t.Errorf("cgroup parent left behind: %s", d)
		os.Remove(d)
	}
	for _, d := range globs("/sys/fs/cgroup/*/stack-e2e") {
		os.Remove(d) // empty once every test's parent is gone
	}
	// No shim, init or resolver of the engine runs.
	for _, p := range engineProcesses(e.root) {
		t.Errorf("process left behind: %s", p)
	}
	// The networks' resolver ends with the last network.
	if data, err := os.ReadFile(filepath.Join(e.root, "network", "dns", "pid")); err == nil {
		var pid int
		fmt.Sscan(string(data), &pid)
		if pid > 0 && processRuns(pid) {
			t.Errorf("the resolver (pid %d) still runs", pid)
		}
	}
	// Every link of the engine has an alias that names its instance.
	if inst := engineInstance(e.root); inst != "" {
		for _, l := range engineLinks(inst) {
			t.Errorf("link left behind: %s", l)
		}
	}
	if out, err := exec.Command("/usr/sbin/nft", "list", "tables").Output(); err == nil && strings.Contains(string(out), "stacke2e_"+tag) {
		t.Errorf("nftables table left behind: %s", out)
	}
}

// engineProcesses lists the processes whose environment names a
// directory under root: shims (_STACK_STATEDIR) and resolvers
// (_STACK_RESOLVER) of the engine.
func engineProcesses(root string) []string {
	var out []string
	for _, p := range globs("/proc/[0-9]*/environ") {
		env, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		for _, kv := range strings.Split(string(env), "\x00") {
			k, v, _ := strings.Cut(kv, "=")
			if (k == "_STACK_STATEDIR" || k == "_STACK_RESOLVER") && strings.HasPrefix(v, root+"/") {
				pid := filepath.Base(filepath.Dir(p))
				cmd, _ := os.ReadFile("/proc/" + pid + "/cmdline")
				out = append(out, pid+" "+strings.ReplaceAll(string(cmd), "\x00", " ")+"("+kv+")")
			}
		}
	}
	return out
}

// engineInstance is the network instance of the engine with state root
// root: it names the engine's bridges and veths.
func engineInstance(root string) string {
	b, _ := os.ReadFile(filepath.Join(root, "network", "instance"))
	return strings.TrimSpace(string(b))
}

// engineLinks lists the links whose alias names instance: "stack-net:" or
// "stack-ep:" and the instance.
func engineLinks(instance string) []string {
	var out []string
	for _, p := range globs("/sys/class/net/*/ifalias") {
		alias, _ := os.ReadFile(p)
		a := strings.TrimSpace(string(alias))
		if strings.HasPrefix(a, "stack-net:"+instance+":") || strings.HasPrefix(a, "stack-ep:"+instance+":") {
			out = append(out, filepath.Base(filepath.Dir(p))+" ("+a+")")
		}
	}
	return out
}

// killContainers SIGKILLs every process of the test's containers, as an
// OOM killer or a careless admin would, and waits until they are gone.
func (e *env) killContainers() {
	for i := 0; i < 100; i++ {
		var pids []string
		for _, f := range globs("/sys/fs/cgroup/pids/stack-e2e/" + e.tag + "/*/cgroup.procs") {
			data, _ := os.ReadFile(f)
			pids = append(pids, strings.Fields(string(data))...)
		}
		if len(pids) == 0 {
			return
		}
		for _, p := range pids {
			if pid, err := strconv.Atoi(p); err == nil {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.t.Fatal("container processes survive SIGKILL")
}

func globs(pattern string) []string {
	m, _ := filepath.Glob(pattern)
	return m
}

// httpGet fetches url with a short timeout, retrying for up to 5 seconds
// while the connection is refused.
func httpGet(t *testing.T, url string) string {
	t.Helper()
	c := &http.Client{Timeout: 2 * time.Second}
	var lastErr error
	for i := 0; i < 50; i++ {
		resp, err := c.Get(url)
		if err == nil {
			var b bytes.Buffer
			b.ReadFrom(resp.Body)
			resp.Body.Close()
			return b.String()
		}
		lastErr = err
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("GET %s: %v", url, lastErr)
	return ""
}
