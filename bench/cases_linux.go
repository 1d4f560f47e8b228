package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/stack-dev/stack/runtime"
	"github.com/stack-dev/stack/runtime/seccomp"
)

// caseRunTrue: create + start + wait + remove of /bin/true, with the host's
// network namespace joined and with a new one, then with a new one under
// Docker's default seccomp profile; stack through the runtime package in
// this process, crun and runc through `run` on an OCI bundle of the same
// rootfs (their run does all four steps). stack's containers are in a
// group whose shim runs (another container of it sleeps), as a project's
// are once its first container is up; one more row starts a shim of the
// container's own each time, and one more gives each container a user
// namespace of its own. The filtered row is also set against stack's
// own unfiltered one, measured in the same run, and against crun with the
// same profile (crun compiles it with libseccomp). Every variant and
// every peer runs once per round, so that the machine's drift weighs on
// all alike. Then the new-netns case is broken down into its phases, as
// the runtime traces them.
func (b *bench) caseRunTrue() error {
	tr := newPhaseTracer()
	m, err := runtime.New(runtime.Options{StateRoot: filepath.Join(b.tmp, "runtime"), CgroupParent: cgroupParent + "/runtime",
		ShimBinary: b.shimBin(), InitBinary: b.initBin(), Trace: tr.record})
	if err != nil {
		return fmt.Errorf("runtime: %w", err)
	}
	const group = "bench"
	keeper := runtime.DefaultSpec("/bin/sleep", "3600")
	if err := m.Create(b.ctx, "keeper", runtime.Config{Spec: keeper, Rootfs: b.rootfs, NetNS: "/proc/self/ns/net", Group: group}); err != nil {
		return fmt.Errorf("keeper: %w", err)
	}
	// The keeper holds the group's shim running for this case only: later
	// cases count the shims of their projects.
	removeKeeper := func() { m.Delete(context.Background(), "keeper", true) }
	b.atExit(removeKeeper)
	defer removeKeeper()
	if err := m.Start(b.ctx, "keeper"); err != nil {
		return fmt.Errorf("keeper: %w", err)
	}
	n := b.runs(40, 15)
	type variant struct {
		name    string
		netns   bool
		seccomp bool
		ownShim bool
		userns  bool
	}
	variants := []variant{
		{"1. create+start+wait+rm /bin/true, host netns", false, false, false, false},
		{"1. create+start+wait+rm /bin/true, new netns", true, false, false, false},
		{"1. create+start+wait+rm /bin/true, new netns, Docker's seccomp profile", true, true, false, false},
		{"1. create+start+wait+rm /bin/true, new netns, a shim of its own", true, false, true, false},
		{"1. create+start+wait+rm /bin/true, new netns, a user namespace of its own", true, false, false, true},
	}
	// Every run of stack and of the peers is one column, timed round by
	// round (measureInterleaved); the rows pair the columns afterwards.
	var columns []func(i int) error
	var prepErr []error // of a peer column that could not be made
	column := func(f func(i int) error, err error) int {
		columns = append(columns, f)
		prepErr = append(prepErr, err)
		return len(columns) - 1
	}
	type peerColumn struct {
		rt  string
		col int
	}
	stackCol := make([]int, len(variants))
	peerCols := make([][]peerColumn, len(variants))
	base := -1 // the new netns column, the others' reference
	for k, v := range variants {
		join := "/proc/self/ns/net"
		if v.netns {
			join = ""
		}
		spec := runtime.DefaultSpec("/bin/true")
		if v.seccomp {
			if spec.Linux.Seccomp, err = seccomp.Default(spec); err != nil {
				return err
			}
		}
		g := group
		if v.ownShim {
			g = ""
		}
		rootfs := b.rootfs
		if v.userns {
			if rootfs, err = b.usernsRootfs(); err != nil {
				return err
			}
			m := []specs.LinuxIDMapping{{ContainerID: 0, HostID: benchUsernsBase, Size: 65536}}
			spec.Linux.UIDMappings, spec.Linux.GIDMappings = m, m
			spec.Linux.Namespaces = append(spec.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
		}
		traced := v.netns && !v.seccomp && !v.ownShim && !v.userns
		var ids []string
		b.atExit(func() {
			for _, id := range ids {
				m.Delete(context.Background(), id, true)
			}
		})
		stackCol[k] = column(func(i int) error {
			id := fmt.Sprintf("true-%v-%v-%v-%v-%d", v.netns, v.seccomp, v.ownShim, v.userns, i)
			ids = append(ids, id)
			ctx := b.ctx
			tr.begin(id, traced && i >= 3)
			if err := m.Create(ctx, id, runtime.Config{Spec: spec, Rootfs: rootfs, NetNS: join, Group: g}); err != nil {
				return err
			}
			if err := m.Start(ctx, id); err != nil {
				return err
			}
			if s, err := m.Wait(ctx, id); err != nil || s.ExitCode != 0 {
				return fmt.Errorf("wait: exit %d: %w", s.ExitCode, err)
			}
			tr.record(id, "bench: Wait returned", time.Now())
			if err := m.Delete(ctx, id, false); err != nil {
				return err
			}
			tr.end(id)
			ids = ids[:len(ids)-1]
			return nil
		}, nil)
		if traced {
			base = stackCol[k]
		}
		peers := []string{"crun", "runc"}
		if v.seccomp || v.ownShim || v.userns {
			peers = []string{"crun"}
		}
		for _, rt := range peers {
			bundle, err := b.bundleFor(rt, v.netns, v.seccomp)
			if err == nil {
				err = b.peerErr[rt]
			}
			id := fmt.Sprintf("stackbench-%d", k)
			peerCols[k] = append(peerCols[k], peerColumn{rt, column(func(i int) error {
				defer exec.Command(rt, "delete", "-f", id).Run()
				_, err := runCmd(b.ctx, nil, rt, "run", "--bundle", bundle, id)
				return err
			}, err)})
		}
	}
	for j, err := range prepErr {
		if err != nil {
			columns[j] = func(int) error { return err }
		}
	}
	samples, errs := b.measureInterleaved(3, n, columns)
	for k, v := range variants {
		st := samples[stackCol[k]]
		if err := errs[stackCol[k]]; err != nil {
			return fmt.Errorf("stack runtime: %w", err)
		}
		switch {
		case v.seccomp:
			b.rows = append(b.rows, row{name: v.name, stack: st, peer: "stack, no filter", other: samples[base]})
		case v.ownShim:
			b.rows = append(b.rows, row{name: v.name, stack: st, peer: "stack, in a running shim", other: samples[base]})
		case v.userns:
			b.rows = append(b.rows, row{name: v.name, stack: st, peer: "stack, no user namespace", other: samples[base]})
		}
		for _, pc := range peerCols[k] {
			r := row{name: v.name, stack: st, peer: pc.rt + " run", other: samples[pc.col]}
			if v.seccomp {
				r.peer += ", same profile"
			}
			if v.userns {
				r.peer += ", no user namespace"
			}
			if err := errs[pc.col]; err != nil {
				r.skip, r.other = oneLine(err.Error()), sample{}
			}
			b.rows = append(b.rows, r)
		}
	}
	for _, ph := range tr.phases() {
		b.rows = append(b.rows, row{name: "1. new netns, phase: " + ph.name, stack: ph.took})
	}
	return nil
}

// benchUsernsBase is the first host uid and gid of case 1's user
// namespace: far above any user of a test machine.
const benchUsernsBase = 1_800_000_000

// usernsRootfs returns a copy of the busybox rootfs owned by the range
// of benchUsernsBase, as an idmapped overlay shows it to a container
// with that user namespace (the daemon's idmapped layers are measured
// by its own tests; here the runtime alone).
func (b *bench) usernsRootfs() (string, error) {
	dir := b.rootfs + "-userns"
	if _, err := os.Stat(dir); err == nil {
		return dir, nil
	}
	if _, err := runCmd(b.ctx, nil, "cp", "-a", b.rootfs, dir); err != nil {
		return "", err
	}
	return dir, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		st, err := os.Lstat(p)
		if err != nil {
			return err
		}
		s := st.Sys().(*syscall.Stat_t)
		return os.Lchown(p, int(benchUsernsBase+s.Uid), int(benchUsernsBase+s.Gid))
	})
}

// bundleFor returns the /bin/true bundle of a case: the smoke test's, or
// for seccomp one whose spec has Docker's default profile for the peer's
// own capabilities.
func (b *bench) bundleFor(rt string, netns, filter bool) (string, error) {
	if !filter {
		return b.bundles[netns], nil
	}
	dir := filepath.Join(b.tmp, "bundle-seccomp-"+rt)
	if _, err := os.Stat(filepath.Join(dir, "config.json")); err == nil {
		return dir, nil
	}
	if err := b.bundle(rt, dir, netns, "/bin/true"); err != nil {
		return "", err
	}
	data, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		return "", err
	}
	var s specs.Spec
	if err := json.Unmarshal(data, &s); err != nil {
		return "", err
	}
	if s.Linux.Seccomp, err = seccomp.Default(&s); err != nil {
		return "", err
	}
	if data, err = json.MarshalIndent(&s, "", "\t"); err != nil {
		return "", err
	}
	return dir, os.WriteFile(filepath.Join(dir, "config.json"), data, 0o644)
}

// serviceFile writes a stack file of n busybox services that sleep, the
// same file for stack and podman-compose (the image comes from
// BENCH_IMAGE, set per engine). SIGKILL as the stop signal keeps both
// engines from waiting out a grace period: sleep as PID 1 ignores SIGTERM.
func (b *bench) serviceFile(project string, n int) string {
	var s strings.Builder
	s.WriteString("services:\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&s, "  s%d:\n    image: ${BENCH_IMAGE}\n    command: [\"sleep\", \"3600\"]\n    stop_signal: SIGKILL\n", i)
	}
	return b.writeFile(project, s.String())
}

func (b *bench) writeFile(project, content string) string {
	p := filepath.Join(b.tmp, project+".yaml")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		logf("write %s: %v", p, err)
	}
	return p
}

// engine drives one compose implementation: up -d and down of a project.
type engine struct {
	name string
	up   func(project, file string) error
	down func(project, file string) error
}

func (b *bench) stackEngine() engine {
	return engine{
		name: "stack",
		up: func(p, f string) error {
			if !containsStr(b.projects, p) {
				b.projects = append(b.projects, p)
			}
			_, err := b.stack("-p", p, "-f", f, "up", "-d")
			return err
		},
		down: func(p, f string) error { _, err := b.stack("-p", p, "-f", f, "down", "-t", "1"); return err },
	}
}

// podmanCompose is the peer. podman-compose 1.0.3's down leaves the
// project's network behind, so removing it is part of the timed down:
// stack's down removes its network too.
func (b *bench) podmanCompose() engine {
	pc := func(p, f string, args ...string) error {
		_, err := runCmd(b.ctx, b.podmanEnv, "podman-compose", append([]string{"-p", p, "-f", f}, args...)...)
		return err
	}
	return engine{
		name: "podman-compose",
		up:   func(p, f string) error { return pc(p, f, "up", "-d") },
		down: func(p, f string) error {
			if err := pc(p, f, "down", "-t", "1"); err != nil {
				return err
			}
			_, err := b.podman("network", "rm", "-f", p+"_default")
			return err
		},
	}
}

func containsStr(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// upDown times up -d and down of an n-service stack, runs times after a
// warm-up when warm; it returns the up, down and total times.
func (b *bench) upDown(e engine, n, runs int, warm bool) (up, down, total sample, err error) {
	project := fmt.Sprintf("stackbench%d", n)
	file := b.serviceFile(project, n)
	up, down, total = sample{unit: "ms"}, sample{unit: "ms"}, sample{unit: "ms"}
	w := 0
	if warm {
		w = 1
	}
	defer e.down(project, file)
	for i := 0; i < w+runs; i++ {
		if err := b.ctx.Err(); err != nil {
			return up, down, total, err
		}
		t0 := time.Now()
		if err := e.up(project, file); err != nil {
			return up, down, total, err
		}
		t1 := time.Now()
		if err := e.down(project, file); err != nil {
			return up, down, total, err
		}
		if i >= w {
			up.vals = append(up.vals, ms(t1.Sub(t0)))
			down.vals = append(down.vals, ms(time.Since(t1)))
			total.vals = append(total.vals, ms(time.Since(t0)))
		}
	}
	return up, down, total, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// upTimes keeps the up-only samples of case 2 for the curve of case 8.
type upKey struct {
	engine string
	n      int
}

// caseUpDown: up -d + down of 1, 10 and 50 services, against
// podman-compose and docker-compose. podman-compose 1.0.3 sleeps 1 s
// after each `podman run`, so its 50-service stack takes over a minute a
// run and is skipped in -quick.
func (b *bench) caseUpDown() error {
	b.upTimes = map[upKey]sample{}
	for _, c := range []struct{ n, stackRuns, peerRuns, dockerRuns int }{
		{1, b.runs(10, 5), b.runs(5, 3), b.runs(10, 3)},
		{10, b.runs(7, 3), b.runs(3, 1), b.runs(5, 2)},
		{50, b.runs(5, 2), b.runs(1, 0), b.runs(3, 1)},
	} {
		r := row{name: fmt.Sprintf("2. up -d + down, %d service(s)", c.n), peer: "podman-compose"}
		up, _, total, err := b.upDown(b.stackEngine(), c.n, c.stackRuns, c.n < 50)
		if err != nil {
			return fmt.Errorf("stack, %d services: %w", c.n, err)
		}
		r.stack = total
		b.upTimes[upKey{"stack", c.n}] = up
		switch {
		case b.peerErr["podman-compose"] != nil:
			r.skip = oneLine(b.peerErr["podman-compose"].Error())
		case c.peerRuns == 0:
			r.skip = "-quick: podman-compose sleeps 1 s per service"
		default:
			up, _, total, err := b.upDown(b.podmanCompose(), c.n, c.peerRuns, c.n == 1)
			if err != nil {
				r.skip = oneLine(err.Error())
			} else {
				r.other = total
				b.upTimes[upKey{"podman-compose", c.n}] = up
			}
		}
		b.rows = append(b.rows, r)
		d := row{name: r.name, stack: total, peer: "docker-compose"}
		if err := b.peerErr["docker"]; err != nil {
			d.skip = oneLine(err.Error())
		} else if up, _, total, err := b.upDown(b.dockerCompose(), c.n, c.dockerRuns, c.n == 1); err != nil {
			d.skip = oneLine(err.Error())
		} else {
			d.other = total
			b.upTimes[upKey{"docker-compose", c.n}] = up
		}
		b.rows = append(b.rows, d)
		if b.baseline != nil {
			b.rows = append(b.rows, b.baselineRow(r.name, total, "", func() (sample, error) {
				up, _, total, err := b.upDown(b.baselineEngine(), c.n, c.stackRuns, c.n < 50)
				b.upTimes[upKey{"baseline", c.n}] = up
				return total, err
			}))
		}
	}
	return nil
}

// caseCurve: how up -d grows with the number of services, the up halves
// of case 2 plus 100 services; ms in all and per service.
func (b *bench) caseCurve() error {
	up, _, _, err := b.upDown(b.stackEngine(), 100, b.runs(3, 1), false)
	if err != nil {
		return fmt.Errorf("stack, 100 services: %w", err)
	}
	if b.upTimes == nil { // -only 8: case 2 did not run
		b.upTimes = map[upKey]sample{}
	}
	b.upTimes[upKey{"stack", 100}] = up
	for _, n := range []int{10, 50, 100} {
		st, ok := b.upTimes[upKey{"stack", n}]
		if !ok {
			continue
		}
		r := row{name: fmt.Sprintf("8. up -d alone, %d services", n), stack: st, peer: "podman-compose",
			suffix: fmt.Sprintf(" (%s/svc)", num(st.median()/float64(n)))}
		if pc, ok := b.upTimes[upKey{"podman-compose", n}]; ok {
			r.other = pc
		} else if b.peerErr["podman-compose"] != nil {
			r.skip = oneLine(b.peerErr["podman-compose"].Error())
		} else {
			r.skip = "sleeps 1 s per service: 100 would take minutes a run"
			if n == 50 {
				r.skip = "-quick"
			}
		}
		b.rows = append(b.rows, r)
		d := row{name: r.name, stack: st, peer: "docker-compose", suffix: r.suffix}
		if dc, ok := b.upTimes[upKey{"docker-compose", n}]; ok {
			d.other = dc
			d.otherSuffix = fmt.Sprintf(" (%s/svc)", num(dc.median()/float64(n)))
		} else if err := b.peerErr["docker"]; err != nil {
			d.skip = oneLine(err.Error())
		} else {
			d.skip = "not measured at this size (case 2 measures 1, 10 and 50)"
		}
		b.rows = append(b.rows, d)
		if b.baseline != nil {
			br := b.baselineRow(r.name, st, r.suffix, func() (sample, error) {
				if n == 100 {
					up, _, _, err := b.upDown(b.baselineEngine(), 100, b.runs(3, 1), false)
					return up, err
				}
				if s, ok := b.upTimes[upKey{"baseline", n}]; ok {
					return s, nil
				}
				return sample{}, fmt.Errorf("not measured (case 2 measures it)")
			})
			if br.other.ok() {
				br.otherSuffix = fmt.Sprintf(" (%s/svc)", num(br.other.median()/float64(n)))
			}
			b.rows = append(b.rows, br)
		}
	}
	return b.caseCurveShape()
}

// caseCurveShape: up -d per service at 50 and 100 services against 10,
// sizes interleaved round by round, on this machine's root ext4 (no
// journal) and on a journaled ext4 (see journal_linux.go).
func (b *bench) caseCurveShape() error {
	// Eight rounds: with three, the ratios of the same tree moved by 0.15
	// from one run to the next on this machine; an even number gives each
	// order of the sizes as many rounds.
	sizes, rounds := []int{10, 50, 100}, b.runs(8, 2)
	ups, err := b.upCurve(b.stackEngine(), sizes, rounds)
	if err != nil {
		return err
	}
	b.rows = append(b.rows, flatRows("state root on this machine's ext4 (no journal)", sizes, ups)...)
	j, err := b.prepareJournaled()
	if err != nil {
		b.rows = append(b.rows, row{name: "8. up -d, state root on a journaled ext4", skip: oneLine(err.Error())})
		return nil
	}
	if ups, err = b.upCurve(b.journaledEngine(j), sizes, rounds); err != nil {
		return err
	}
	for _, n := range sizes {
		if st, ok := ups[n]; ok {
			b.rows = append(b.rows, row{name: fmt.Sprintf("8. up -d alone, %d services, state root on a journaled ext4", n),
				stack: st, suffix: fmt.Sprintf(" (%s/svc)", num(st.median()/float64(n)))})
		}
	}
	b.rows = append(b.rows, flatRows("state root on a journaled ext4", sizes, ups)...)
	return nil
}

// caseDNSReady: from the start of up -d until a client container has
// fetched http://web/ by name; the client touches a file in a bind-mounted
// directory that the host polls every 5 ms. down is not timed.
func (b *bench) caseDNSReady() error {
	mark := filepath.Join(b.tmp, "mark")
	if err := os.MkdirAll(mark, 0o755); err != nil {
		return fmt.Errorf("mark dir: %w", err)
	}
	project := "stackbenchdns"
	file := b.writeFile(project, fmt.Sprintf(`services:
  web:
    image: ${BENCH_IMAGE}
    command: ["httpd", "-f", "-p", "80", "-h", "/var/www"]
    stop_signal: SIGKILL
  client:
    image: ${BENCH_IMAGE}
    command: ["sh", "-c", "until wget -q -O /dev/null http://web/; do sleep 0.02; done; touch /mark/ready; exec sleep 3600"]
    volumes: ["%s:/mark"]
    stop_signal: SIGKILL
`, mark))
	ready := filepath.Join(mark, "ready")
	timed := func(e engine, runs int) (sample, error) {
		s := sample{unit: "ms"}
		defer e.down(project, file)
		for i := 0; i < 1+runs; i++ { // one warm-up
			e.down(project, file)
			os.Remove(ready)
			t0 := time.Now()
			if err := e.up(project, file); err != nil {
				return s, err
			}
			if err := b.waitFile(ready, 60*time.Second); err != nil {
				return s, err
			}
			if i > 0 {
				s.vals = append(s.vals, ms(time.Since(t0)))
			}
		}
		return s, nil
	}
	r := row{name: "3. up -d until a client fetched http://web/ by name", peer: "podman-compose"}
	var err error
	if r.stack, err = timed(b.stackEngine(), b.runs(10, 5)); err != nil {
		return fmt.Errorf("stack: %w", err)
	}
	if err := b.peerErr["podman-compose"]; err != nil {
		r.skip = oneLine(err.Error())
	} else if r.other, err = timed(b.podmanCompose(), b.runs(5, 3)); err != nil {
		r.skip = oneLine(err.Error())
	}
	b.rows = append(b.rows, r)
	d := row{name: r.name, stack: r.stack, peer: "docker-compose"}
	if err := b.peerErr["docker"]; err != nil {
		d.skip = oneLine(err.Error())
	} else if d.other, err = timed(b.dockerCompose(), b.runs(5, 3)); err != nil {
		d.skip = oneLine(err.Error())
	}
	b.rows = append(b.rows, d)
	return nil
}

// waitFile polls for path every 5 ms.
func (b *bench) waitFile(path string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		if _, err := os.Stat(path); err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not appear within %v", filepath.Base(path), limit)
		}
		if !sleepCtx(b.ctx, 5*time.Millisecond) {
			return b.ctx.Err()
		}
	}
}
