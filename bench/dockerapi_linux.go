package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"
)

// Case 11: stack as a Docker host. The same docker CLI (Debian's, the
// one the bench's dockerd comes with) runs `docker run --rm` of true on a
// user-defined network against stack's Docker Engine API and against the
// bench's dockerd (setupDocker), and testcontainers-go starts one
// container with a port and a wait for a log line against each: its
// start-to-ready time. Both engines run the same busybox rootfs.
// tcChildEnv makes the bench binary the testcontainers child: it starts
// and terminates containers against DOCKER_HOST and prints each
// start-to-ready time. A child of its own per engine, because
// testcontainers resolves the Docker host once per process.
const tcChildEnv = "STACK_BENCH_TESTCONTAINERS"

func (b *bench) caseDockerAPI() error {
	const cli = "/usr/bin/docker"
	if _, err := os.Stat(cli); err != nil {
		return fmt.Errorf("%s: not installed (apt-get install docker.io)", cli)
	}
	stackHost, err := b.startStackDockerAPI()
	if err != nil {
		return fmt.Errorf("stack's Docker API: %w", err)
	}
	stackEnv := append(os.Environ(), "DOCKER_HOST="+stackHost, "DOCKER_CONFIG="+filepath.Join(b.tmp, "docker-config"))
	peer, peerErr := "dockerd "+cliVersion("/usr/sbin/dockerd")+" (docker.io)", b.peerErr["docker"]
	// A network of its own on each engine, as case 9's: dockerd's runs
	// with no default bridge.
	const net = "stackbench-api"
	if _, err := runCmd(b.ctx, stackEnv, cli, "network", "create", net); err != nil {
		return err
	}
	// The network outlives the daemon, as dockerd's: its bridge would
	// outlive the case's state root.
	defer runCmd(b.ctx, stackEnv, cli, "network", "rm", net)
	if peerErr == nil {
		if _, peerErr = b.docker("network", "create", net); peerErr == nil {
			defer b.docker("network", "rm", net)
		}
	}
	n := b.runs(20, 8)
	runRm := func(env []string, image string) (sample, error) {
		return b.measure(2, n, func(int) error {
			_, err := runCmd(b.ctx, env, cli, "run", "--rm", "--network", net, image, "true")
			return err
		})
	}
	name := fmt.Sprintf("11. `docker run --rm --network NET busybox true`, docker CLI %s", cliVersion(cli))
	st, err := runRm(stackEnv, "busybox")
	if err != nil {
		return fmt.Errorf("docker run against stack: %w", err)
	}
	r := row{name: name, stack: st, peer: peer, skip: errString(peerErr)}
	if peerErr == nil {
		if r.other, err = runRm(b.dockerEnv, dockerImage); err != nil {
			r.skip = oneLine(err.Error())
		}
	}
	b.rows = append(b.rows, r)

	tcRuns := b.runs(10, 4)
	st, err = b.testcontainersRuns(stackEnv, "busybox", net, tcRuns)
	if err != nil {
		return fmt.Errorf("testcontainers against stack: %w", err)
	}
	r = row{name: "11. testcontainers-go start-to-ready: one container, a port, wait for a log line", stack: st, peer: peer, skip: errString(peerErr)}
	if peerErr == nil {
		if r.other, err = b.testcontainersRuns(b.dockerEnv, dockerImage, net, tcRuns); err != nil {
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

// testcontainersRuns runs the testcontainers child against the engine
// of env (its DOCKER_HOST) and returns its start-to-ready times.
func (b *bench) testcontainersRuns(env []string, image, network string, n int) (sample, error) {
	self, err := os.Executable()
	if err != nil {
		return sample{}, err
	}
	env = append(slices.Clone(env), tcChildEnv+"="+strconv.Itoa(n), "BENCH_TC_IMAGE="+image, "BENCH_TC_NETWORK="+network,
		"TESTCONTAINERS_RYUK_DISABLED=true")
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
		c, err := testcontainers.Run(ctx, os.Getenv("BENCH_TC_IMAGE"),
			testcontainers.WithCmd("sh", "-c", "httpd -p 8080 -h /; trap 'exit 0' TERM; echo ready; while :; do sleep 0.1; done"),
			testcontainers.WithExposedPorts("8080/tcp"),
			testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) {
				hc.NetworkMode = container.NetworkMode(os.Getenv("BENCH_TC_NETWORK"))
			}),
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
