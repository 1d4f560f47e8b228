package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// dockerImage is the busybox rootfs imported into the bench's dockerd.
const dockerImage = "stackbench-busybox:latest"

// dockerPool is where the bench's dockerd takes its networks' subnets.
var dockerPool = netip.MustParsePrefix("10.213.0.0/16")

// The engine most users come from: Debian's docker.io (dockerd and the
// containerd it starts) with Debian's docker-compose (v1). The bench
// starts a dockerd of its own, with its data, its sockets and its state
// in the scratch directory, no bridge of its own (docker0), no iptables
// rules, and networks from an address pool no host route uses; it is
// stopped and everything of it removed at the end.
func (b *bench) setupDocker() error {
	for _, c := range []string{"/usr/sbin/dockerd", "/usr/bin/docker", "/usr/bin/docker-compose"} {
		if _, err := os.Stat(c); err != nil {
			return fmt.Errorf("%s: not installed (apt-get install docker.io docker-compose)", c)
		}
	}
	dir := filepath.Join(b.tmp, "docker")
	for _, d := range []string{"data", "exec"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			return err
		}
	}
	sock := filepath.Join(dir, "docker.sock")
	logf, err := os.Create(filepath.Join(dir, "dockerd.log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command("/usr/sbin/dockerd",
		"--data-root", filepath.Join(dir, "data"), "--exec-root", filepath.Join(dir, "exec"),
		"--pidfile", filepath.Join(dir, "dockerd.pid"), "-H", "unix://"+sock,
		"--iptables=false", "--ip-masq=false", "--ip-forward=false", "--bridge=none",
		"--userland-proxy=false", "--exec-opt", "native.cgroupdriver=cgroupfs",
		"--cgroup-parent", "/"+cgroupParent+"/docker",
		"--default-address-pool", "base="+dockerPool.String()+",size=24", "--log-level=warn")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start dockerd: %w", err)
	}
	b.dockerdPid = cmd.Process.Pid
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	b.dockerEnv = append(os.Environ(), "DOCKER_HOST=unix://"+sock, "BENCH_IMAGE="+dockerImage, "COMPOSE_HTTP_TIMEOUT=120")
	b.atExit(func() { b.stopDocker(cmd, exited) })
	for i := 0; ; i++ {
		if _, err := b.docker("version"); err == nil {
			break
		}
		select {
		case <-exited:
			out, _ := os.ReadFile(filepath.Join(dir, "dockerd.log"))
			return fmt.Errorf("dockerd exited: %s", lastLines(string(out), 3))
		case <-time.After(100 * time.Millisecond):
		}
		if i == 300 {
			return errors.New("dockerd did not answer within 30 s")
		}
	}
	tar := exec.Command("tar", "-C", b.rootfs, "--exclude", "./mark", "-c", ".")
	imp := exec.CommandContext(b.ctx, "/usr/bin/docker", "import", "--change", `CMD ["/bin/sh"]`, "-", dockerImage)
	imp.Env = b.dockerEnv
	pr, pw := io.Pipe()
	tar.Stdout, imp.Stdin = pw, pr
	if err := tar.Start(); err != nil {
		return fmt.Errorf("tar: %w", err)
	}
	go func() { pw.CloseWithError(tar.Wait()) }()
	if out, err := imp.CombinedOutput(); err != nil {
		return fmt.Errorf("docker import: %w: %s", err, lastLines(string(out), 2))
	}
	_, err = b.docker("run", "--rm", "--network", "none", dockerImage, "true")
	return err
}

func (b *bench) docker(args ...string) (string, error) {
	return runCmd(b.ctx, b.dockerEnv, "/usr/bin/docker", args...)
}

// stopDocker removes the bench's containers and networks, stops dockerd
// (it stops its containerd), and unmounts what it left.
func (b *bench) stopDocker(cmd *exec.Cmd, exited chan struct{}) {
	env := b.dockerEnv
	if out, _ := runCmd(nil, env, "/usr/bin/docker", "ps", "-aq"); strings.TrimSpace(out) != "" {
		runCmd(nil, env, "/usr/bin/docker", append([]string{"rm", "-f"}, strings.Fields(out)...)...)
	}
	runCmd(nil, env, "/usr/bin/docker", "network", "prune", "-f")
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		<-exited
	}
	// dockerd leaves the bridge of a network it did not prune (one it
	// still counted an endpoint on) when it stops.
	ifaces, _ := net.Interfaces()
	for _, ifc := range ifaces {
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			if p, err := netip.ParsePrefix(a.String()); err == nil && strings.HasPrefix(ifc.Name, "br-") && dockerPool.Contains(p.Addr()) {
				fmt.Fprintf(os.Stderr, "bench: removing bridge %s (%s), which dockerd left\n", ifc.Name, p)
				if out, err := runCmd(nil, nil, "ip", "link", "del", ifc.Name); err != nil {
					fmt.Fprintf(os.Stderr, "bench: ip link del %s: %v: %s\n", ifc.Name, err, lastLines(out, 2))
				}
				break
			}
		}
	}
	sweepTmp(filepath.Join(b.tmp, "docker"))
}

// dockerCompose is the peer docker compose users come from: Debian's
// docker-compose 1.29 against the bench's dockerd. Its down removes the
// project's network, as stack's does.
func (b *bench) dockerCompose() engine {
	dc := func(p, f string, args ...string) error {
		_, err := runCmd(b.ctx, b.dockerEnv, "/usr/bin/docker-compose", append([]string{"-p", p, "-f", f}, args...)...)
		return err
	}
	return engine{
		name: "docker-compose",
		up:   func(p, f string) error { return dc(p, f, "up", "-d") },
		down: func(p, f string) error { return dc(p, f, "down", "-t", "1") },
	}
}

// dockerShims lists the containerd-shim-runc-v2 processes of the bench's
// dockerd (one per container), by the containerd address in their
// command line.
func (b *bench) dockerShims() []int {
	var pids []int
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		pid, _ := strconv.Atoi(filepath.Base(d))
		exe, _ := os.Readlink(d + "/exe")
		cmdline, _ := os.ReadFile(d + "/cmdline")
		if filepath.Base(exe) == "containerd-shim-runc-v2" && strings.Contains(string(cmdline), b.tmp) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// dockerDaemons returns the bench's dockerd and the containerd it
// started.
func (b *bench) dockerDaemons() []int {
	pids := []int{b.dockerdPid}
	children, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", b.dockerdPid, b.dockerdPid))
	for _, f := range strings.Fields(string(children)) {
		pid, _ := strconv.Atoi(f)
		if exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); filepath.Base(exe) == "containerd" {
			pids = append(pids, pid)
		}
	}
	return pids
}

// dockerMemory starts memCounts sleeping docker containers in turn and
// measures their containerd shims; the containers are removed before it
// returns. daemons is dockerd's and containerd's memory, idle (before).
func (b *bench) dockerMemory() (f memFigures, daemons daemonMemory, err error) {
	var rss, anon float64
	for _, pid := range b.dockerDaemons() {
		rss += procKiB(pid, "status", "VmRSS") / 1024
		anon += procKiB(pid, "status", "RssAnon") / 1024
	}
	daemons = daemonMemory{rss: sample{unit: "MiB", vals: []float64{rss}}, anon: sample{unit: "MiB", vals: []float64{anon}}}
	var names []string
	defer func() {
		if len(names) > 0 {
			b.docker(append([]string{"rm", "-f"}, names...)...)
		}
	}()
	for _, n := range memCounts {
		for i := len(names); i < n; i++ {
			name := fmt.Sprintf("stackbench-mem-%d", i)
			if _, err := b.docker("run", "-d", "--network", "none", "--name", name, dockerImage, "sleep", "3600"); err != nil {
				return f, daemons, err
			}
			names = append(names, name)
		}
		time.Sleep(time.Second)
		shims := b.dockerShims()
		if len(shims) != n {
			return f, daemons, fmt.Errorf("found %d containerd shims for %d containers", len(shims), n)
		}
		rss, pss := memTotals(shims)
		f.rss, f.pss = append(f.rss, rss), append(f.pss, pss)
	}
	return f, daemons, nil
}

// caseRunRm: a one-off container that runs true and is removed, on a
// network that exists: `stack run --rm` of a project's service against
// `docker run --rm` on a user-defined network.
func (b *bench) caseRunRm() error {
	project := "stackbenchrun"
	file := b.writeFile(project, "services:\n  s1:\n    image: ${BENCH_IMAGE}\n    command: [\"sleep\", \"3600\"]\n    stop_signal: SIGKILL\n")
	e := b.stackEngine()
	if err := e.up(project, file); err != nil {
		return err
	}
	defer e.down(project, file)
	n := b.runs(20, 10)
	r := row{name: "9. run --rm of true, on an existing network", peer: "docker run --rm"}
	var err error
	r.stack, err = b.measure(2, n, func(int) error {
		_, err := b.stack("-p", project, "-f", file, "run", "--rm", "s1", "true")
		return err
	})
	if err != nil {
		return fmt.Errorf("stack: %w", err)
	}
	if err := b.peerErr["docker"]; err != nil {
		r.skip = oneLine(err.Error())
	} else {
		net := "stackbench-run"
		if _, err := b.docker("network", "create", net); err != nil {
			r.skip = oneLine(err.Error())
		} else {
			defer b.docker("network", "rm", net)
			r.other, err = b.measure(2, n, func(int) error {
				_, err := b.docker("run", "--rm", "--network", net, dockerImage, "true")
				return err
			})
			if err != nil {
				r.skip = oneLine(err.Error())
			}
		}
	}
	b.rows = append(b.rows, r)
	return nil
}
