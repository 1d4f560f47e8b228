package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/stack-dev/stack/network"
	"github.com/stack-dev/stack/runtime"
)

// reexec dispatches the runtime's re-execs (shim and container init):
// case 1 creates containers through the runtime package in this process.
func reexec() {
	if runtime.IsInit() {
		runtime.Init()
	}
	if n, err := strconv.Atoi(os.Getenv(tcChildEnv)); err == nil {
		testcontainersChild(n)
	}
}

// cgroupParent holds every cgroup this command creates, through the
// runtime or through the daemon, so one sweep removes them all.
const cgroupParent = "stack-bench"

// bench is one run: its scratch directory, the binaries and environments
// of both engines, which peers can run, the rows so far, and what to undo.
type bench struct {
	o        options
	ctx      context.Context
	repo     string
	tmp      string
	rootfs   string
	stackBin string
	stackEnv []string
	projects []string // stack projects that may hold containers

	peerErr   map[string]error // peer name -> why it cannot run; absent: not tried
	podmanEnv []string
	dockerEnv []string
	baseline  *baseline // -baseline, nil without
	// dockerdPid is the bench's own dockerd (see setupDocker).
	dockerdPid int
	bundles    map[bool]string // OCI bundle with (true) and without a network namespace

	upTimes map[upKey]sample // up -d alone, from case 2, for case 8
	// freshIdle is the daemon's memory once it settled after the image
	// import, before any case ran: RSS and its anonymous part, MiB.
	freshIdle, freshIdleAnon sample
	rows                     []row
	cleanups                 []func()
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}

func run(o options) (err error) {
	if os.Geteuid() != 0 {
		return errors.New("containers need root: run as root")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	b := &bench{o: o, ctx: ctx, peerErr: map[string]error{}, bundles: map[bool]string{}}
	if b.repo, err = repoRoot(); err != nil {
		return err
	}
	if b.tmp, err = os.MkdirTemp("", "stack-bench-"); err != nil {
		return fmt.Errorf("scratch directory: %w", err)
	}
	// Open to others, as /usr/local/bin is: a container's root in a user
	// namespace of its own execs stack-init from here by name.
	if err := os.Chmod(b.tmp, 0o755); err != nil {
		return err
	}
	b.atExit(func() { sweepTmp(b.tmp) })
	b.atExit(func() { rmCgroups(cgroupParent) })
	defer b.cleanup()

	start := time.Now()
	if err := b.prepare(); err != nil {
		return err
	}
	cases := []struct {
		name string
		fn   func() error
	}{
		{"1 run /bin/true", b.caseRunTrue},
		{"2 up+down", b.caseUpDown},
		{"3 DNS readiness", b.caseDNSReady},
		{"4+5 DNS and TCP", b.caseNetwork},
		{"6 memory", b.caseMemory},
		{"7 image", b.caseImage},
		{"8 up curve", b.caseCurve},
		{"9 run --rm", b.caseRunRm},
		{"10 logs --tail", b.caseLogsTail},
		{"11 Docker API", b.caseDockerAPI},
	}
	for _, c := range cases {
		if !o.selects(c.name) {
			continue
		}
		if ctx.Err() != nil {
			return fmt.Errorf("interrupted: %w", ctx.Err())
		}
		logf("case %s", c.name)
		if err := c.fn(); err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("interrupted: %w", ctx.Err())
			}
			logf("case %s: %v", c.name, err)
			b.rows = append(b.rows, row{name: "case " + c.name, skip: "failed: " + oneLine(err.Error())})
		}
	}
	report := b.report(time.Since(start))
	fmt.Println(report)
	if o.out != "" {
		out := o.out
		if !filepath.IsAbs(out) {
			out = filepath.Join(b.repo, out)
		}
		if err := os.WriteFile(out, []byte(report), 0o644); err != nil {
			return fmt.Errorf("write results: %w", err)
		}
		logf("wrote %s", out)
	}
	return nil
}

// atExit registers f to run at the end, after Ctrl-C too; the last
// registered runs first, so what was built on something is undone before it.
func (b *bench) atExit(f func()) { b.cleanups = append(b.cleanups, f) }

func (b *bench) cleanup() {
	logf("cleaning up")
	for _, f := range slices.Backward(b.cleanups) {
		f()
	}
}

// prepare builds stack, assembles the busybox rootfs and imports it into
// stack, then sets up the peers. Only a failure of stack's own set-up is
// an error; a peer that fails is recorded in peerErr.
func (b *bench) prepare() error {
	b.rootfs = filepath.Join(b.tmp, "rootfs")
	if err := busyboxRootfs(b.rootfs); err != nil {
		return err
	}
	if err := b.buildStack(); err != nil {
		return err
	}
	b.stackEnv = append(os.Environ(),
		"STACK_HOST=unix://"+filepath.Join(b.tmp, "stack.sock"),
		"STACK_STATE_ROOT="+filepath.Join(b.tmp, "state"),
		"STACK_NFT_TABLE=stackbench",
		"STACK_CGROUP_PARENT="+cgroupParent+"/daemon",
		"BENCH_IMAGE=busybox",
	)
	b.atExit(b.stopStack)
	if _, err := b.stack("image", "import", "--rootfs", b.rootfs, "busybox"); err != nil {
		return err
	}
	time.Sleep(2 * time.Second) // the daemon returns freed memory a second after the last request
	b.freshIdle = sample{unit: "MiB", vals: []float64{procKiB(b.daemonPid(), "status", "VmRSS") / 1024}}
	b.freshIdleAnon = sample{unit: "MiB", vals: []float64{procKiB(b.daemonPid(), "status", "RssAnon") / 1024}}
	b.setupPeers()
	if b.o.baseline != "" {
		if err := b.prepareBaseline(); err != nil {
			return err
		}
	}
	return nil
}

// buildStack builds the stack binary with CGO_ENABLED=0, as its runtime
// documentation advises. Other work in the same checkout may leave it
// briefly unbuildable, so a failed build is retried for a few minutes.
func (b *bench) buildStack() error {
	b.stackBin = filepath.Join(b.tmp, "stack")
	var err error
	for try := 0; try < 4; try++ {
		if try > 0 {
			logf("building stack failed, retrying in 45 s: %v", err)
			if !sleepCtx(b.ctx, 45*time.Second) {
				return b.ctx.Err()
			}
		}
		// stack-daemon, stack-shim and stack-init beside stack, as make
		// build puts them.
		for _, c := range [][]string{{b.stackBin, "./cmd/stack"}, {filepath.Join(b.tmp, "stack-daemon"), "./cmd/stack", "stackdaemon"}, {b.shimBin(), "./cmd/stack-shim"}, {b.initBin(), "./cmd/stack-init", "stackinit"}} {
			args := []string{"build"}
			if len(c) > 2 {
				args = append(args, "-tags", c[2])
			}
			args = append(args, "-o", c[0], c[1])
			cmd := exec.CommandContext(b.ctx, "go", args...)
			cmd.Dir = b.repo
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			var out []byte
			if out, err = cmd.CombinedOutput(); err != nil {
				err = fmt.Errorf("go build %s: %w: %s", c[1], err, bytes.TrimSpace(out))
				break
			}
		}
		if err == nil {
			return nil
		}
	}
	return err
}

// stack runs the stack CLI and returns its standard output.
func (b *bench) stack(args ...string) (string, error) {
	return runCmd(b.ctx, b.stackEnv, b.stackBin, args...)
}

// stopStack takes down every project it may have started, stops the
// daemon and removes what a daemon leaves on the host by design (its
// nftables table and, after an interrupted run, bridges).
func (b *bench) stopStack() {
	ctx := context.Background() // b.ctx may be cancelled already
	for _, p := range b.projects {
		runCmd(ctx, b.stackEnv, b.stackBin, "-p", p, "-f", filepath.Join(b.tmp, p+".yaml"), "down", "-t", "0")
	}
	if pid := b.daemonPid(); pid > 0 {
		syscall.Kill(pid, syscall.SIGTERM)
		for i := 0; i < 500 && syscall.Kill(pid, 0) == nil; i++ {
			time.Sleep(10 * time.Millisecond)
		}
		syscall.Kill(pid, syscall.SIGKILL)
	}
	for _, fam := range []string{"inet", "ip", "ip6"} {
		exec.Command("nft", "delete", "table", fam, "stackbench").Run()
	}
	for _, p := range b.projects {
		if link := network.BridgeName(network.Instance(filepath.Join(b.tmp, "state", "network")), p+"_default"); linkExists(link) {
			exec.Command("ip", "link", "delete", link).Run()
		}
	}
}

func (b *bench) daemonPid() int {
	data, err := os.ReadFile(filepath.Join(b.tmp, "state", "daemon.pid"))
	if err != nil {
		return 0
	}
	var pid int
	fmt.Sscan(string(data), &pid)
	return pid
}

// runCmd runs name with env (nil: ours) and returns its standard output;
// the error carries the standard error. A nil ctx is for clean-up, which
// must run after Ctrl-C has cancelled the run's context.
func runCmd(ctx context.Context, env []string, name string, args ...string) (string, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = env
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%s %s: %w: %s", filepath.Base(name), strings.Join(args, " "), err, lastLines(errOut.String(), 3))
	}
	return out.String(), nil
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(l[max(0, len(l)-n):], " / ")
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	s = strings.ReplaceAll(s, "|", "/")
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	return s
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

func repoRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("run from inside the stack module (go run ./bench)")
	}
	return filepath.Dir(mod), nil
}

// measure runs f warm times untimed, then n times, and returns the wall
// times in milliseconds; it stops at the first error.
func (b *bench) measure(warm, n int, f func(i int) error) (sample, error) {
	s := sample{unit: "ms"}
	for i := 0; i < warm+n; i++ {
		if err := b.ctx.Err(); err != nil {
			return s, err
		}
		t0 := time.Now()
		if err := f(i); err != nil {
			return s, err
		}
		if i >= warm {
			s.vals = append(s.vals, float64(time.Since(t0).Microseconds())/1000)
		}
	}
	return s, nil
}

// measureInterleaved times the columns fs round by round, one run of
// each per round, so that a machine that drifts (another job, a warming
// cache) weighs on every column alike and their ratios stay true. A
// column that fails is dropped from the next rounds, its error kept.
func (b *bench) measureInterleaved(warm, n int, fs []func(i int) error) ([]sample, []error) {
	out := make([]sample, len(fs))
	errs := make([]error, len(fs))
	for j := range out {
		out[j].unit = "ms"
	}
	for i := 0; i < warm+n; i++ {
		for j, f := range fs {
			if errs[j] != nil {
				continue
			}
			if err := b.ctx.Err(); err != nil {
				errs[j] = err
				continue
			}
			t0 := time.Now()
			if err := f(i); err != nil {
				errs[j] = err
				continue
			}
			if i >= warm {
				out[j].vals = append(out[j].vals, float64(time.Since(t0).Microseconds())/1000)
			}
		}
	}
	return out, errs
}

// runs picks the number of runs for the full or the quick mode.
func (b *bench) runs(full, quick int) int {
	if b.o.quick {
		return quick
	}
	return full
}

// sweepTmp unmounts whatever is still mounted under dir (deepest first;
// a daemon killed mid-way leaves overlay and namespace mounts) and
// removes it.
func sweepTmp(dir string) {
	data, _ := os.ReadFile("/proc/self/mountinfo")
	var mps []string
	for _, l := range strings.Split(string(data), "\n") {
		if f := strings.Fields(l); len(f) > 4 && (f[4] == dir || strings.HasPrefix(f[4], dir+"/")) {
			mps = append(mps, f[4])
		}
	}
	slices.SortFunc(mps, func(a, b string) int { return len(b) - len(a) })
	for _, mp := range mps {
		syscall.Unmount(mp, syscall.MNT_DETACH)
	}
	if err := os.RemoveAll(dir); err != nil {
		logf("remove %s: %v", dir, err)
	}
}

// rmCgroups removes the cgroup parent's directories in every hierarchy,
// children first (rmdir is the only way to remove a cgroup).
func rmCgroups(parent string) {
	tops, _ := filepath.Glob("/sys/fs/cgroup/*/" + parent)
	tops = append(tops, "/sys/fs/cgroup/"+parent)
	for _, top := range tops {
		var dirs []string
		filepath.WalkDir(top, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		for _, d := range slices.Backward(dirs) {
			os.Remove(d)
		}
	}
}

func linkExists(name string) bool {
	_, err := os.Stat("/sys/class/net/" + name)
	return err == nil
}

// shimBin is where the built stack-shim is: beside stack.
func (b *bench) shimBin() string { return filepath.Join(filepath.Dir(b.stackBin), "stack-shim") }

// initBin is where the built stack-init is: beside stack.
func (b *bench) initBin() string { return filepath.Join(filepath.Dir(b.stackBin), "stack-init") }
