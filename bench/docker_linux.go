package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"
)

// Case 9: stack as a Docker host. The same docker CLI runs `docker run
// --rm busybox true` against stack's Docker Engine API and against
// dockerd (Debian's docker.io, started by the bench on sockets and a data
// root of its own, stopped after), and testcontainers-go starts one
// container with a port and a wait for a log line against each: its
// start-to-ready time. Both engines run the same busybox rootfs.

// tcChildEnv makes the bench binary the testcontainers child: it starts
// and terminates containers against DOCKER_HOST and prints each
// start-to-ready time. A child of its own per engine, because
// testcontainers resolves the Docker host once per process.
const tcChildEnv = "STACK_BENCH_TESTCONTAINERS"

// dockerBridge is the bridge of the bench's dockerd, made by the bench so
// that another dockerd's docker0 is never touched.
const dockerBridge = "stkbench-dk0"

func (b *bench) caseDockerAPI() error {
	cli, err := dockerCLI()
	if err != nil {
		return err
	}
	stackHost, err := b.startStackDockerAPI()
	if err != nil {
		return fmt.Errorf("stack's Docker API: %w", err)
	}
	peerHost, peerErr := b.startDockerd()
	if peerErr != nil {
		logf("peer dockerd skipped: %v", peerErr)
	}
	peer := "dockerd " + dockerdVersion() + " (docker.io)"
	n := b.runs(20, 8)
	cfg := filepath.Join(b.tmp, "docker-config")
	runRm := func(host string) (sample, error) {
		env := append(os.Environ(), "DOCKER_HOST="+host, "DOCKER_CONFIG="+cfg)
		return b.measure(2, n, func(int) error {
			_, err := runCmd(b.ctx, env, cli, "run", "--rm", "busybox", "true")
			return err
		})
	}
	name := fmt.Sprintf("9. `docker run --rm busybox true`, docker CLI %s", cliVersion(cli))
	st, err := runRm(stackHost)
	if err != nil {
		return fmt.Errorf("docker run against stack: %w", err)
	}
	r := row{name: name, stack: st, peer: peer, skip: errString(peerErr)}
	if peerErr == nil {
		if r.other, err = runRm(peerHost); err != nil {
			r.skip = oneLine(err.Error())
		}
	}
	b.rows = append(b.rows, r)

	tcRuns := b.runs(10, 4)
	st, err = b.testcontainersRuns(stackHost, tcRuns)
	if err != nil {
		return fmt.Errorf("testcontainers against stack: %w", err)
	}
	r = row{name: "9. testcontainers-go start-to-ready: one container, a port, wait for a log line", stack: st, peer: peer, skip: errString(peerErr)}
	if peerErr == nil {
		if r.other, err = b.testcontainersRuns(peerHost, tcRuns); err != nil {
			r.skip = oneLine(err.Error())
		}
	}
	b.rows = append(b.rows, r)
	return nil
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return oneLine(err.Error())
}

// dockerCLI is the client both engines are driven with: Debian's (the
// one dockerd comes with) when it is there, else the docker in PATH.
func dockerCLI() (string, error) {
	if _, err := os.Stat("/usr/bin/docker"); err == nil {
		return "/usr/bin/docker", nil
	}
	p, err := exec.LookPath("docker")
	if err != nil {
		return "", errors.New("no docker CLI: apt-get install docker.io")
	}
	return p, nil
}

// cliVersion reads "Docker version 20.10.24+dfsg1, build 297e128".
func cliVersion(cli string) string {
	out, err := exec.Command(cli, "--version").Output()
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(out))
	if len(f) < 3 {
		return "?"
	}
	v, _, _ := strings.Cut(strings.TrimSuffix(f[2], ","), "+")
	return v
}

func dockerdVersion() string { return cliVersion("dockerd") }

// pingDocker waits until a Docker API answers /_ping on the unix socket
// sock.
func pingDocker(ctx context.Context, sock string, limit time.Duration) error {
	c := &http.Client{Timeout: time.Second, Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}}
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if resp, err := c.Get("http://docker/_ping"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		if !sleepCtx(ctx, 50*time.Millisecond) {
			return ctx.Err()
		}
	}
	return fmt.Errorf("nothing answered /_ping on %s within %s", sock, limit)
}

// startStackDockerAPI starts a stack daemon of the case's own serving the
// Docker API, with the busybox image, and returns its DOCKER_HOST.
func (b *bench) startStackDockerAPI() (string, error) {
	dir := filepath.Join(b.tmp, "dockerapi")
	state := filepath.Join(dir, "state")
	if err := os.MkdirAll(state, 0o700); err != nil {
		return "", err
	}
	host, sock := "unix://"+filepath.Join(dir, "stack.sock"), filepath.Join(dir, "docker.sock")
	env := append(os.Environ(), "STACK_HOST="+host, "STACK_STATE_ROOT="+state,
		"STACK_NFT_TABLE=stackbenchdk", "STACK_CGROUP_PARENT="+cgroupParent+"/dockerapi")
	log, err := os.Create(filepath.Join(dir, "daemon.log"))
	if err != nil {
		return "", err
	}
	defer log.Close()
	cmd := exec.Command(b.stackBin, "daemon", "-H", host, "--state-root", state, "--docker-host", "unix://"+sock)
	cmd.Env, cmd.Stdout, cmd.Stderr = env, log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return "", err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	b.atExit(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		for _, fam := range []string{"inet", "ip", "ip6"} {
			exec.Command("nft", "delete", "table", fam, "stackbenchdk").Run()
		}
	})
	if err := pingDocker(b.ctx, sock, 15*time.Second); err != nil {
		return "", err
	}
	if _, err := runCmd(b.ctx, env, b.stackBin, "image", "import", "--rootfs", b.rootfs, "busybox"); err != nil {
		return "", err
	}
	return "unix://" + sock, nil
}

// startDockerd starts the peer: Debian's dockerd (installed when missing)
// on a socket, data root, exec root and bridge of its own, without
// touching the host's firewall, with the busybox image imported. It
// returns its DOCKER_HOST.
func (b *bench) startDockerd() (string, error) {
	if _, err := exec.LookPath("dockerd"); err != nil {
		if !b.o.install {
			return "", errors.New("dockerd is not installed (apt-get install docker.io)")
		}
		if err := installDockerIO(); err != nil {
			return "", err
		}
	}
	dir := filepath.Join(b.tmp, "dockerd")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	if err := exec.Command("ip", "link", "add", dockerBridge, "type", "bridge").Run(); err != nil {
		return "", fmt.Errorf("create bridge %s: %w", dockerBridge, err)
	}
	b.atExit(func() { exec.Command("ip", "link", "delete", dockerBridge).Run() })
	for _, args := range [][]string{{"addr", "add", "172.31.254.1/24", "dev", dockerBridge}, {"link", "set", dockerBridge, "up"}} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			return "", fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, out)
		}
	}
	sock := filepath.Join(dir, "docker.sock")
	log, err := os.Create(filepath.Join(dir, "dockerd.log"))
	if err != nil {
		return "", err
	}
	defer log.Close()
	cmd := exec.Command("dockerd", "-H", "unix://"+sock, "--data-root", filepath.Join(dir, "data"),
		"--exec-root", filepath.Join(dir, "exec"), "--pidfile", filepath.Join(dir, "dockerd.pid"),
		"--bridge", dockerBridge, "--iptables=false", "--ip-masq=false", "--ip-forward=false",
		"--exec-opt", "native.cgroupdriver=cgroupfs", "--log-level=warn")
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return "", err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	b.atExit(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})
	if err := pingDocker(b.ctx, sock, 30*time.Second); err != nil {
		data, _ := os.ReadFile(filepath.Join(dir, "dockerd.log"))
		return "", fmt.Errorf("%w: %s", err, lastLines(string(data), 3))
	}
	cli, err := dockerCLI()
	if err != nil {
		return "", err
	}
	imp := exec.CommandContext(b.ctx, "sh", "-c", `tar -C "$0" -c . | "$1" -H "unix://$2" import --change 'CMD ["sh"]' - busybox:latest`, b.rootfs, cli, sock)
	if out, err := imp.CombinedOutput(); err != nil {
		return "", fmt.Errorf("import busybox into dockerd: %w: %s", err, out)
	}
	return "unix://" + sock, nil
}

// installDockerIO installs Debian's docker.io without letting its daemon
// start as a service: its iptables rules would change the host's
// forwarding for every other case and engineer.
func installDockerIO() error {
	const policy = "/usr/sbin/policy-rc.d"
	if _, err := os.Stat(policy); errors.Is(err, os.ErrNotExist) {
		if err := os.WriteFile(policy, []byte("#!/bin/sh\nexit 101\n"), 0o755); err != nil {
			return err
		}
		defer os.Remove(policy)
	}
	logf("apt-get install docker.io")
	if err := aptInstall([]string{"docker.io"}); err != nil {
		return err
	}
	exec.Command("systemctl", "disable", "--now", "docker.socket", "docker.service").Run()
	return nil
}

// testcontainersRuns runs the testcontainers child against host and
// returns its start-to-ready times.
func (b *bench) testcontainersRuns(host string, n int) (sample, error) {
	self, err := os.Executable()
	if err != nil {
		return sample{}, err
	}
	env := append(os.Environ(), tcChildEnv+"="+strconv.Itoa(n), "DOCKER_HOST="+host,
		"TESTCONTAINERS_RYUK_DISABLED=true", "DOCKER_CONFIG="+filepath.Join(b.tmp, "docker-config"))
	out, err := runCmd(b.ctx, env, self)
	if err != nil {
		return sample{}, err
	}
	s := sample{unit: "ms"}
	if err := json.Unmarshal([]byte(lastLines(out, 1)), &s.vals); err != nil {
		return sample{}, fmt.Errorf("the testcontainers child printed %q: %w", lastLines(out, 1), err)
	}
	return s, nil
}

// testcontainersChild is the child's main: one warm-up, then n timed
// starts, each terminated (untimed) before the next; the times go to
// stdout as a JSON list of milliseconds.
func testcontainersChild(n int) {
	ctx := context.Background()
	var times []float64
	for i := 0; i <= n; i++ {
		t0 := time.Now()
		c, err := testcontainers.Run(ctx, "busybox",
			testcontainers.WithCmd("sh", "-c", "httpd -p 8080 -h /; trap 'exit 0' TERM; echo ready; while :; do sleep 0.1; done"),
			testcontainers.WithExposedPorts("8080/tcp"),
			testcontainers.WithWaitStrategy(wait.ForLog("ready").WithPollInterval(10*time.Millisecond).WithStartupTimeout(time.Minute)),
		)
		took := time.Since(t0)
		if err != nil {
			fmt.Fprintln(os.Stderr, "testcontainers:", err)
			os.Exit(1)
		}
		if err := testcontainers.TerminateContainer(c); err != nil {
			fmt.Fprintln(os.Stderr, "testcontainers terminate:", err)
			os.Exit(1)
		}
		if i > 0 {
			times = append(times, float64(took.Microseconds())/1000)
		}
	}
	data, _ := json.Marshal(times)
	fmt.Println(string(data))
	os.Exit(0)
}
