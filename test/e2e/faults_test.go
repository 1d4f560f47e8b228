package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stack-dev/stack/internal/testutil"
)

// The fault suite kills the engine at random moments and checks that it
// never leaks nor wedges: after every fault, `up -d` then `down -v`
// succeed and leave nothing on the host. The moments come from a seed,
// printed; STACK_FAULT_SEED repeats a run.

// faultSeed returns the suite's seed, and logs how to repeat it.
func faultSeed(t *testing.T) *rand.Rand {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("STACK_FAULT_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("fault seed %d (STACK_FAULT_SEED=%d repeats this run)", seed, seed)
	return rand.New(rand.NewPCG(seed, seed^0x5eed))
}

const faultStack = `services:
  db:
    image: busybox
    command: [sleep, "3600"]
    healthcheck: {test: [CMD, "true"], interval: 1s, start_interval: 50ms}
    volumes: ["data:/data"]
  app:
    image: busybox
    command: [httpd, -f, -p, "80", -h, /var/www]
    depends_on: {db: {condition: service_healthy}}
    ports: ["127.0.0.1::80"]
  worker:
    image: busybox
    command: [sleep, "3600"]
    deploy: {replicas: 2}
    depends_on: [app]
volumes:
  data: {}
`

// killDaemonDuring runs the stack command args, SIGKILLs the daemon after
// delay (if it still runs), and waits for the command to end, whatever
// its outcome.
func (e *env) killDaemonDuring(delay time.Duration, args ...string) {
	e.t.Helper()
	cmd := exec.Command(stackBin, args...)
	cmd.Env, cmd.Dir = e.vars, e.dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	time.Sleep(delay)
	if pid := e.daemonPid(); pid > 0 {
		syscall.Kill(pid, syscall.SIGKILL)
		for i := 0; i < 200 && processRuns(pid); i++ {
			time.Sleep(5 * time.Millisecond)
		}
	}
	cmd.Wait()
}

// assertNothingLeft checks the host and the state root after a down -v:
// no process, mount, cgroup, link or rule of the engine (assertClean),
// no container state, record, storage, volume or network left, and no
// resolver running.
func (e *env) assertNothingLeft(trial string) {
	e.t.Helper()
	failed := e.t.Failed()
	e.assertClean(e.tag)
	// containers/.shims is the runtime's: it keeps one directory per
	// running shim.
	for _, dir := range []string{"projects", "containers", "containers/.shims", "rootfs", "etc", "logs", "volumes", "network/netns", "network/containers", "network/dns/networks", "network/dns/containers"} {
		ents, _ := os.ReadDir(filepath.Join(e.root, dir))
		for _, ent := range ents {
			if dir == "containers" && ent.Name() == ".shims" {
				continue
			}
			e.t.Errorf("%s: %s/%s left", trial, dir, ent.Name())
		}
	}
	var st struct {
		Networks   map[string]any `json:"networks"`
		Containers map[string]any `json:"containers"`
	}
	if data, err := os.ReadFile(filepath.Join(e.root, "network", "network.json")); err == nil {
		json.Unmarshal(data, &st)
		if len(st.Networks)+len(st.Containers) > 0 {
			e.t.Errorf("%s: network state keeps %d networks, %d containers", trial, len(st.Networks), len(st.Containers))
		}
	}
	for _, p := range globs("/sys/fs/cgroup/pids/stack-e2e/" + e.tag + "/*/cgroup.procs") {
		if data, _ := os.ReadFile(p); len(bytes.TrimSpace(data)) > 0 {
			e.t.Errorf("%s: processes left in %s", trial, filepath.Dir(p))
		}
	}
	if !failed && e.t.Failed() {
		e.t.Logf("daemon.log:\n%s", lastBytes(filepath.Join(e.root, "daemon.log"), 4000))
	}
}

func lastBytes(path string, n int) string {
	data, _ := os.ReadFile(path)
	if len(data) > n {
		data = data[len(data)-n:]
	}
	return string(data)
}

// recoverAndClean is what follows every fault: up -d, then down -v, both
// succeed, and nothing is left.
func (e *env) recoverAndClean(trial string) {
	e.t.Helper()
	if code, out, errOut := e.run("up", "-d"); code != 0 {
		e.t.Fatalf("%s: up -d after the fault: exit %d\n%s%s\ndaemon.log:\n%s", trial, code, out, errOut, lastBytes(filepath.Join(e.root, "daemon.log"), 4000))
	}
	if code, out, errOut := e.run("down", "-v", "-t", "0"); code != 0 {
		e.t.Fatalf("%s: down -v after the fault: exit %d\n%s%s\ndaemon.log:\n%s", trial, code, out, errOut, lastBytes(filepath.Join(e.root, "daemon.log"), 4000))
	}
	e.assertNothingLeft(trial)
}

// TestRootFaultsDaemonKilledDuringUp kills the daemon at random moments
// of up, 30 times.
func TestRootFaultsDaemonKilledDuringUp(t *testing.T) {
	e := newEnv(t)
	r := faultSeed(t)
	e.writeStack(faultStack)
	start := time.Now()
	e.mustRun("up", "-d")
	took := time.Since(start)
	e.mustRun("down", "-v", "-t", "0")
	t.Logf("a clean up -d takes %v", took)
	for i := range 30 {
		delay := time.Duration(r.Int64N(int64(took)))
		trial := fmt.Sprintf("kill %d during up at %v", i+1, delay)
		e.killDaemonDuring(delay, "up", "-d")
		if i%6 == 5 {
			e.pruneAfterFault(trial)
		}
		e.recoverAndClean(trial)
		if t.Failed() {
			return
		}
	}
}

// pruneAfterFault takes what a fault left away without down: stop, rm and
// system prune --volumes, then the named volume, which prune keeps
// without -a; nothing of the project may be left.
func (e *env) pruneAfterFault(trial string) {
	e.t.Helper()
	for _, args := range [][]string{{"stop", "-t", "0"}, {"rm", "-f"}, {"system", "prune", "-f", "--volumes"}} {
		if code, out, errOut := e.run(args...); code != 0 {
			e.t.Fatalf("%s: %s after the fault: exit %d\n%s%s", trial, strings.Join(args, " "), code, out, errOut)
		}
	}
	for _, v := range strings.Fields(e.mustRun("volume", "ls", "-q")) {
		e.mustRun("volume", "rm", v)
	}
	e.assertNothingLeft(trial + ", then stop, rm and system prune")
}

// TestRootFaultsDaemonKilledDuringDown kills the daemon at random
// moments of down -v, 20 times.
func TestRootFaultsDaemonKilledDuringDown(t *testing.T) {
	e := newEnv(t)
	r := faultSeed(t)
	e.writeStack(faultStack)
	e.mustRun("up", "-d")
	start := time.Now()
	e.mustRun("down", "-v", "-t", "0")
	took := time.Since(start)
	t.Logf("a clean down -v takes %v", took)
	for i := range 20 {
		e.mustRun("up", "-d")
		delay := time.Duration(r.Int64N(int64(took)))
		trial := fmt.Sprintf("kill %d during down at %v", i+1, delay)
		e.killDaemonDuring(delay, "down", "-v", "-t", "0")
		// The same command again, then the round trip.
		if code, out, errOut := e.run("down", "-v", "-t", "0"); code != 0 {
			t.Fatalf("%s: down -v again: exit %d\n%s%s", trial, code, out, errOut)
		}
		e.recoverAndClean(trial)
		if t.Failed() {
			return
		}
	}
}

const tickerStack = `services:
  ticker-shim:
    image: busybox
    restart: always
    command: &tick [sh, -c, "r=$$(cat /proc/sys/kernel/random/uuid); i=1; while true; do echo \"$$r tick $$i\"; i=$$((i+1)); sleep 0.01; done"]
  ticker-init:
    image: busybox
    restart: always
    command: *tick
`

// containerState reads the runtime state of the service's container
// straight from the state root: the fault is done to its processes.
func (e *env) containerState(service string) (id string, pid, shimPid int) {
	e.t.Helper()
	for _, p := range globs(filepath.Join(e.root, "projects", e.project, "*.json")) {
		var rec struct {
			ID      string `json:"id"`
			Service string `json:"service"`
		}
		data, _ := os.ReadFile(p)
		if json.Unmarshal(data, &rec) != nil || rec.Service != service {
			continue
		}
		var st struct {
			Pid     int    `json:"pid"`
			ShimPid int    `json:"shimPid"`
			Status  string `json:"status"`
		}
		data, _ = os.ReadFile(filepath.Join(e.root, "containers", rec.ID, "state.json"))
		if json.Unmarshal(data, &st) == nil && st.Status == "running" {
			return rec.ID, st.Pid, st.ShimPid
		}
	}
	return "", 0, 0
}

// restartCount reads the service's restart count from its record.
func (e *env) restartCount(service string) int {
	for _, p := range globs(filepath.Join(e.root, "projects", e.project, "*.json")) {
		var rec struct {
			Service      string `json:"service"`
			RestartCount int    `json:"restart_count"`
		}
		data, _ := os.ReadFile(p)
		if json.Unmarshal(data, &rec) == nil && rec.Service == service {
			return rec.RestartCount
		}
	}
	return -1
}

// checkTicks checks the ticker's log: each run numbers its lines from 1
// on, and no run misses one (a run's last line may be cut by its kill,
// and a batch may repeat after a shim's death). It returns how many runs
// the log shows.
func checkTicks(t *testing.T, logs string) int {
	t.Helper()
	runs := map[string]map[int]bool{}
	for _, l := range strings.Split(strings.TrimSpace(logs), "\n") {
		f := strings.Fields(l)
		if len(f) < 4 || f[len(f)-2] != "tick" {
			continue
		}
		n, err := strconv.Atoi(f[len(f)-1])
		if err != nil {
			continue
		}
		run := f[len(f)-3]
		if runs[run] == nil {
			runs[run] = map[int]bool{}
		}
		runs[run][n] = true
	}
	for run, seen := range runs {
		last := 0
		for n := range seen {
			last = max(last, n)
		}
		for n := 1; n <= last; n++ {
			if !seen[n] {
				t.Errorf("run %s: tick %d of %d is lost", run, n, last)
				break
			}
		}
	}
	return len(runs)
}

// TestRootFaultsShimAndInitKilled kills the project's shim 6 times,
// which takes both of its restart: always services with it, then (once
// their back-off has reset) the init of one of them 6 times: each time
// the policy restarts what died (after Docker's back-off, doubling from
// 100ms), its restart count goes up by one, and no line of its output is
// lost.
func TestRootFaultsShimAndInitKilled(t *testing.T) {
	e := newEnv(t)
	r := faultSeed(t)
	e.writeStack(tickerStack)
	e.mustRun("up", "-d")
	// running waits until service runs and returns its init and shim.
	running := func(kill int, service string) (pid, shim int) {
		for j := 0; j < 1000; j++ {
			if id, pid, shim := e.containerState(service); id != "" {
				return pid, shim
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Fatalf("kill %d: %s does not run (restart count %d)", kill, service, e.restartCount(service))
		return 0, 0
	}
	// restarted waits until service's restart count is want, the delay
	// before that restart having been at most backoff.
	restarted := func(kill int, service string, want int, backoff time.Duration) {
		deadline := time.Now().Add(backoff + 5*time.Second)
		for e.restartCount(service) < want {
			if time.Now().After(deadline) {
				t.Fatalf("after kill %d the restart count of %s is %d, want %d", kill, service, e.restartCount(service), want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	for i := range 6 {
		// The project's one shim: both services go down with it.
		_, shim := running(i+1, "ticker-shim")
		if _, other := running(i+1, "ticker-init"); other != shim {
			t.Fatalf("the two services have shims %d and %d, want one per project", shim, other)
		}
		time.Sleep(time.Duration(50+r.IntN(150)) * time.Millisecond)
		if err := syscall.Kill(shim, syscall.SIGKILL); err != nil {
			t.Fatalf("kill %d of the shim: %v", i+1, err)
		}
		restarted(i+1, "ticker-shim", i+1, 100*time.Millisecond<<i)
		restarted(i+1, "ticker-init", i+1, 100*time.Millisecond<<i)
	}
	// A run of 10s resets the back-off.
	running(7, "ticker-init")
	time.Sleep(10500 * time.Millisecond)
	for i := range 6 {
		pid, _ := running(7+i, "ticker-init")
		time.Sleep(time.Duration(50+r.IntN(150)) * time.Millisecond)
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatalf("kill %d of the init: %v", i+1, err)
		}
		restarted(7+i, "ticker-init", 7+i, 100*time.Millisecond<<i)
		if got := e.restartCount("ticker-shim"); got != 6 {
			t.Fatalf("killing ticker-init's init restarted ticker-shim too (restart count %d, want 6)", got)
		}
	}
	for service, want := range map[string]int{"ticker-shim": 6, "ticker-init": 12} {
		for j := 0; j < 500 && e.restartCount(service) == want; j++ {
			if id, _, _ := e.containerState(service); id != "" {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if got := e.restartCount(service); got != want {
			t.Errorf("%s: restart count %d, want %d", service, got, want)
		}
		if runs := checkTicks(t, e.mustRun("logs", service)); runs != want+1 {
			t.Errorf("%s: the log shows %d runs, want %d", service, runs, want+1)
		}
	}
	e.mustRun("down", "-v", "-t", "0")
	e.assertNothingLeft("shim and init kills")
}

// TestRootFaultsDiskFull runs the engine on a small tmpfs state root that
// a container fills: down -v still works; a restart that fails for lack
// of space is tried again, and succeeds once there is space, and the exit
// is recorded as it was; a build step that fails for lack of space says
// why; and once the space is back, the round trip works and leaves
// nothing.
func TestRootFaultsDiskFull(t *testing.T) {
	e := newEnv(t)
	mnt := filepath.Join(e.dir, "small")
	if err := os.Mkdir(mnt, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v: %s", err, out)
	}
	e.mounts = append(e.mounts, mnt)
	t.Cleanup(func() { exec.Command("umount", "-l", mnt).Run() })
	// The engine moves there, with an image of its own.
	e.stopDaemon()
	orig := e.root
	setRoot := func(root string) {
		e.root = root
		for i, v := range e.vars {
			if strings.HasPrefix(v, "STACK_STATE_ROOT=") {
				e.vars[i] = "STACK_STATE_ROOT=" + root
			}
		}
	}
	setRoot(filepath.Join(mnt, "root"))
	// Runs before the unmount, whatever happens: the small engine goes,
	// and the env's own cleanup works on its first state root.
	t.Cleanup(func() {
		e.run("down", "-v", "-t", "0")
		e.stopDaemon()
		setRoot(orig)
	})
	e.mustRun("image", "import", "--rootfs", testutil.BusyboxRootfs(t), "busybox")
	ctx := filepath.Join(e.dir, "ctx")
	os.MkdirAll(ctx, 0o755)
	os.WriteFile(filepath.Join(ctx, "Dockerfile"), []byte("FROM busybox\nRUN dd if=/dev/zero of=/big bs=1M count=100\n"), 0o644)
	e.writeStack(`services:
  big:
    build: ./ctx
    profiles: [build]
  filler:
    image: busybox
    command: [sh, -c, "dd if=/dev/zero of=/fill bs=1M 2>&1; echo filled; exec sleep 3600"]
    # Started last: the disk it fills must not fail the others' start.
    depends_on: [crasher, probe]
  crasher:
    image: busybox
    restart: always
    command: [sh, -c, "sleep 0.5; exit 1"]
  probe:
    image: busybox
    command: [sleep, "3600"]
    healthcheck: {test: [CMD, "true"], interval: 1s, start_interval: 50ms}
`)
	// A build step that fills the disk says so: its own output is kept.
	code, out, errOut := e.run("build", "big")
	if code == 0 || !strings.Contains(out+errOut, "No space left on device") {
		t.Errorf("a build step that fills the disk: exit %d, and not its own word of it:\n%s%s", code, out, errOut)
	}
	// Space the test can give back: the filler takes the rest.
	ballast := filepath.Join(mnt, "ballast")
	if err := os.WriteFile(ballast, make([]byte, 4<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	// The crasher's events: its restarts, failed and done.
	events := exec.Command(stackBin, "events", "crasher")
	events.Env, events.Dir = e.vars, e.dir
	var evs syncBuffer
	events.Stdout = &evs
	if err := events.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { events.Process.Kill(); events.Wait() }()
	e.mustRun("up", "-d")
	waitFull := func(what string) {
		for i := 0; ; i++ {
			var fs syscall.Statfs_t
			syscall.Statfs(mnt, &fs)
			if fs.Bavail == 0 {
				return
			}
			if i == 200 {
				t.Fatalf("%s did not fill the state root", what)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitFull("the filler")
	// The crasher exits 1 and its restart fails for lack of space, again
	// and again while the disk is full; its exit is recorded as 1, never 0.
	waitEvent := func(after int, action string) int {
		for i := 0; ; i++ {
			out := evs.String()
			if j := strings.Index(out[after:], " container "+action+" "); j >= 0 {
				return after + j + 1
			}
			if i == 600 {
				t.Fatalf("no %s of the crasher after %d bytes of its events:\n%s", action, after, out)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	failed := waitEvent(0, "restart-failed")
	for _, c := range e.psAll() {
		if c.Service == "crasher" && c.State == "exited" && c.ExitCode != 1 {
			t.Errorf("crasher: %s with exit code %d, want 1", c.State, c.ExitCode)
		}
	}
	// With space again, the failed restart is tried again, and succeeds.
	before := e.restartCount("crasher")
	os.Remove(ballast)
	waitEvent(failed, "restart")
	if after := e.restartCount("crasher"); after <= before {
		t.Errorf("the crasher restarted, but its restart count went from %d to %d", before, after)
	}
	// The disk full again, for the rest.
	if f, err := os.Create(ballast); err == nil {
		for _, err = f.Write(make([]byte, 1<<20)); err == nil; _, err = f.Write(make([]byte, 1<<20)) {
		}
		f.Close()
	}
	waitFull("the ballast")
	// Health checks go on, though their record cannot be written.
	deadline := time.Now().Add(5 * time.Second)
	for e.ps()["probe"].Health != "healthy" {
		if time.Now().After(deadline) {
			t.Fatalf("probe never healthy on a full disk: %+v", e.ps()["probe"])
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code, out, errOut := e.run("down", "-v", "-t", "0"); code != 0 {
		t.Fatalf("down -v on a full disk: exit %d\n%s%s", code, out, errOut)
	}
	os.Remove(ballast)
	e.assertNothingLeft("disk full")
	e.recoverAndClean("after the disk was full")
}

// TestRootCLIOutlivesADyingDaemon: a command run the moment the daemon is
// killed (its socket may still accept, then reset) starts a new daemon
// and succeeds, every time.
func TestRootCLIOutlivesADyingDaemon(t *testing.T) {
	e := newEnv(t)
	e.writeStack("services:\n  a:\n    image: busybox\n    command: [sleep, \"3600\"]\n")
	e.mustRun("up", "-d")
	for i := range 25 {
		pid := e.daemonPid()
		syscall.Kill(pid, syscall.SIGKILL)
		if code, out, errOut := e.run("ps"); code != 0 || !strings.Contains(out, e.project+"-a-1") {
			t.Fatalf("ps %d right after the daemon was killed: exit %d\n%s%s", i+1, code, out, errOut)
		}
	}
}
