package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/stack-dev/stack/internal/testutil"
)

// The Docker Engine API driven by real clients: the docker CLI here,
// docker-compose v1 and testcontainers-go in their own files. Each test
// has an engine of its own whose daemon serves the Docker API on a
// socket of the test's, and ends with the same leak check as the rest.

// requireTool returns the path of a client a test drives. Without it the
// test is skipped, except in CI (CI=true), where a missing prerequisite
// is a failure: .ci/run installs it.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not installed (.ci/run installs it): %v", name, err)
	}
	t.Skipf("%s is not installed: %v", name, err)
	return ""
}

// dockerEnv is a test's engine with the Docker API on DOCKER_HOST.
type dockerEnv struct {
	*env
	host   string // DOCKER_HOST
	docker string // the docker CLI
}

// newDockerEnv starts the test's daemon with --docker-host, imports the
// busybox image, and at the end removes what the Docker API made before
// the engine's own leak check.
func newDockerEnv(t *testing.T) *dockerEnv {
	t.Helper()
	// STACK_TEST_DOCKER picks another docker CLI (Debian's docker.io
	// client is /usr/bin/docker, API 1.41).
	docker := os.Getenv("STACK_TEST_DOCKER")
	if docker == "" {
		docker = requireTool(t, "docker")
	}
	e := newBareEnv(t)
	de := &dockerEnv{env: e, host: "unix://" + filepath.Join(e.dir, "docker.sock"), docker: docker}
	e.vars = append(e.vars, "DOCKER_HOST="+de.host, "DOCKER_CONFIG="+filepath.Join(e.dir, "docker-config"))
	de.startDaemon()
	e.mustRun("image", "import", "--rootfs", testutil.BusyboxRootfs(t), "busybox")
	t.Cleanup(func() {
		// What a test left: its containers, networks and volumes.
		if ids := strings.Fields(de.out("ps", "-aq")); len(ids) > 0 {
			de.run(append([]string{"rm", "-f", "-v"}, ids...)...)
		}
		de.run("network", "prune", "-f")
		de.run("volume", "prune", "-af")
	})
	return de
}

// startDaemon starts `stack daemon` serving the Docker API and waits
// until /_ping answers.
func (de *dockerEnv) startDaemon() {
	t := de.t
	if err := os.MkdirAll(de.root, 0o700); err != nil {
		t.Fatal(err)
	}
	log, err := os.OpenFile(filepath.Join(de.root, "daemon.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	stackHost := "unix://" + filepath.Join(de.dir, "stack.sock")
	cmd := exec.Command(stackBin, "daemon", "--debug", "-H", stackHost, "--state-root", de.root, "--docker-host", de.host)
	cmd.Env, cmd.Stdout, cmd.Stderr = de.vars, log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go cmd.Wait()
	c := de.httpClient()
	for i := 0; i < 150; i++ {
		if resp, err := c.Get("http://docker/_ping"); err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("the daemon's Docker API did not answer within 3s")
}

// httpClient talks to the Docker API's socket directly.
func (de *dockerEnv) httpClient() *http.Client {
	sock := strings.TrimPrefix(de.host, "unix://")
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
	}}
}

// run runs the docker CLI and returns its exit code and output.
func (de *dockerEnv) run(args ...string) (int, string, string) {
	de.t.Helper()
	return de.runProgram(de.docker, args...)
}

// out runs the docker CLI, fails the test unless it succeeds, and returns
// its output.
func (de *dockerEnv) out(args ...string) string {
	de.t.Helper()
	code, out, errOut := de.run(args...)
	if code != 0 {
		de.t.Fatalf("docker %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// events follows `docker events` from now until stop, which returns the
// lines it printed ("TYPE ACTION NAME").
func (de *dockerEnv) events() (stop func() []string) {
	cmd := exec.Command(de.docker, "events", "--format", "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}")
	cmd.Env = de.vars
	var mu sync.Mutex
	var lines []string
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		de.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		de.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			mu.Lock()
			lines = append(lines, sc.Text())
			mu.Unlock()
		}
	}()
	// The subscription is in place once the request is answered: give
	// the CLI a moment to make it.
	time.Sleep(300 * time.Millisecond)
	return func() []string {
		time.Sleep(200 * time.Millisecond)
		cmd.Process.Kill()
		<-done
		cmd.Wait()
		mu.Lock()
		defer mu.Unlock()
		return lines
	}
}

// TestRootDockerCLI drives the docker CLI through the life of containers,
// images, networks and volumes, with docker events watching all of it:
// version and info, run --rm with its output and exit code, a detached
// httpd with a published port reached by HTTP, ps with filters and
// --format, logs -f, cp both ways, stop and rm, a container with
// compose's labels in stack ps -p, and the refusal of what stack does
// not do.
func TestRootDockerCLI(t *testing.T) {
	de := newDockerEnv(t)
	stopEvents := de.events()

	// version and info negotiate and describe the engine.
	v := de.out("version", "--format", "{{.Server.APIVersion}} {{.Server.MinAPIVersion}} {{.Server.Os}}")
	if strings.TrimSpace(v) != "1.56 1.24 linux" {
		t.Errorf("docker version: %q", v)
	}
	info := de.out("info", "--format", "{{.Driver}} {{.OSType}} {{.DockerRootDir}} {{.Images}}")
	if !strings.Contains(info, "linux "+de.root+" 1") {
		t.Errorf("docker info: %q", info)
	}

	// stack docker-host says what to set, and a docker context made from
	// what it says reaches the engine without DOCKER_HOST.
	hostOut := de.env.mustRun("docker-host")
	if !strings.HasPrefix(hostOut, "export DOCKER_HOST="+de.host+"\n") || !strings.Contains(hostOut, "docker context create stack --docker host="+de.host) {
		t.Errorf("stack docker-host:\n%s", hostOut)
	}
	var noHost []string
	for _, v := range de.vars {
		if !strings.HasPrefix(v, "DOCKER_HOST=") {
			noHost = append(noHost, v)
		}
	}
	for _, args := range [][]string{{"context", "create", "stack", "--docker", "host=" + de.host}, {"--context", "stack", "version", "--format", "{{.Server.Os}}"}} {
		cmd := exec.Command(de.docker, args...)
		cmd.Env, cmd.Dir = noHost, de.dir
		if out, err := cmd.CombinedOutput(); err != nil || args[0] == "--context" && string(out) != "linux\n" {
			t.Errorf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}

	// run --rm: the output, the exit code, stderr apart, nothing left.
	if got := de.out("run", "--rm", "busybox", "echo", "hi"); got != "hi\n" {
		t.Errorf("run --rm echo hi: %q", got)
	}
	code, out, errOut := de.run("run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3")
	if code != 3 || out != "out\n" || errOut != "err\n" {
		t.Errorf("run exit 3: code %d stdout %q stderr %q", code, out, errOut)
	}
	if left := de.out("ps", "-aq"); left != "" {
		t.Errorf("run --rm left containers: %q", left)
	}

	// The same engine as stack's containers: Docker's default
	// capabilities and seccomp filter, and the limits asked for.
	if got := de.out("run", "--rm", "busybox", "grep", "-E", "^(CapEff|Seccomp):", "/proc/self/status"); got != "CapEff:\t00000000a80425fb\nSeccomp:\t2\n" {
		t.Errorf("capabilities and seccomp of a docker run: %q", got)
	}
	de.out("run", "-d", "--name", "lim", "--memory", "64m", "--pids-limit", "50", "busybox", "sleep", "300")
	if got := de.out("stats", "--no-stream", "--format", "{{.MemUsage}}", "lim"); !strings.HasSuffix(strings.TrimSpace(got), "/ 64MiB") {
		t.Errorf("stats of a container with --memory 64m: %q", got)
	}
	de.out("rm", "-f", "lim")

	// A detached httpd with a published port and a bind mount.
	www := filepath.Join(de.dir, "www")
	os.MkdirAll(www, 0o755)
	os.WriteFile(filepath.Join(www, "index.html"), []byte("hello from docker run\n"), 0o644)
	port := freePort(t)
	de.out("run", "-d", "--name", "web", "--label", "tier=front", "-p", fmt.Sprintf("127.0.0.1:%d:80", port),
		"-v", www+":/www:ro", "busybox", "httpd", "-f", "-p", "80", "-h", "/www")
	if got := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/", port)); got != "hello from docker run\n" {
		t.Errorf("GET the published port: %q", got)
	}
	de.out("run", "--name", "done", "busybox", "true")
	ps := de.out("ps", "-a", "--filter", "label=tier=front", "--format", "{{.Names}}|{{.Status}}|{{.Ports}}")
	if !strings.HasPrefix(ps, "web|Up ") || !strings.Contains(ps, fmt.Sprintf("127.0.0.1:%d->80/tcp", port)) || strings.Count(ps, "\n") != 1 {
		t.Errorf("ps --filter label: %q", ps)
	}
	if got := de.out("ps", "-a", "--filter", "status=exited", "--format", "{{.Names}} {{.Status}}"); !strings.HasPrefix(got, "done Exited (0)") {
		t.Errorf("ps --filter status=exited: %q", got)
	}
	if got := de.out("ps", "--format", "{{.Names}}"); got != "web\n" {
		t.Errorf("ps (running only): %q", got)
	}
	if got := de.out("ps", "-a", "--filter", "name=^do", "--format", "{{.Names}}"); got != "done\n" {
		t.Errorf("ps --filter name: %q", got)
	}
	if got := de.out("inspect", "-f", "{{.State.Status}} {{.HostConfig.RestartPolicy.Name}} {{.Config.Labels.tier}}", "web"); got != "running no front\n" {
		t.Errorf("inspect: %q", got)
	}

	// top and stats read the container's processes and cgroup.
	if got := de.out("top", "web"); !strings.Contains(got, "PID") || !strings.Contains(got, "httpd -f -p 80 -h /www") {
		t.Errorf("docker top:\n%s", got)
	}
	if got := de.out("stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}}", "web"); got != "web 1\n" {
		t.Errorf("docker stats --no-stream: %q", got)
	}

	// logs -f follows until the container exits.
	de.out("run", "-d", "--name", "ticker", "busybox", "sh", "-c", "for i in 1 2 3; do echo tick $i; sleep 0.2; done; echo bye >&2")
	code, out, errOut = de.run("logs", "-f", "ticker")
	if code != 0 || out != "tick 1\ntick 2\ntick 3\n" || errOut != "bye\n" {
		t.Errorf("logs -f: exit %d stdout %q stderr %q", code, out, errOut)
	}
	if code, out, errOut := de.run("logs", "--tail", "2", "ticker"); code != 0 || out != "tick 3\n" || errOut != "bye\n" {
		t.Errorf("logs --tail 2: exit %d stdout %q stderr %q", code, out, errOut)
	}
	_, out, _ = de.run("logs", "-t", "--since", "10m", "ticker")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 3 || !regexp.MustCompile(`^20\d\d-\d\d-\d\dT[0-9:.]+Z tick 1$`).MatchString(lines[0]) {
		t.Errorf("logs -t --since 10m: %q", out)
	}
	if _, out, errOut := de.run("logs", "--until", "2000-01-01T00:00:00Z", "ticker"); out != "" || errOut != "" {
		t.Errorf("logs --until 2000: stdout %q stderr %q", out, errOut)
	}

	// cp both ways, a file and a tree.
	os.WriteFile(filepath.Join(de.dir, "in.txt"), []byte("copied in\n"), 0o644)
	de.out("cp", filepath.Join(de.dir, "in.txt"), "web:/tmp/in.txt")
	if got := de.out("exec", "web", "cat", "/tmp/in.txt"); got != "copied in\n" {
		t.Errorf("cp into the container: %q", got)
	}
	de.out("exec", "web", "sh", "-c", "mkdir -p /tmp/tree/sub && echo deep > /tmp/tree/sub/f")
	de.out("cp", "web:/tmp/tree", filepath.Join(de.dir, "tree"))
	if got, err := os.ReadFile(filepath.Join(de.dir, "tree", "sub", "f")); err != nil || string(got) != "deep\n" {
		t.Errorf("cp out of the container: %q, %v", got, err)
	}
	de.out("cp", "web:/www/index.html", filepath.Join(de.dir, "out.html"))
	if got, _ := os.ReadFile(filepath.Join(de.dir, "out.html")); string(got) != "hello from docker run\n" {
		t.Errorf("cp of a file out of a bind mount: %q", got)
	}

	// A container with compose's labels belongs to that project.
	proj := "dk" + de.tag
	de.out("run", "-d", "--name", proj+"-svc-1", "--label", "com.docker.compose.project="+proj,
		"--label", "com.docker.compose.service=svc", "busybox", "sleep", "300")
	if got := de.env.mustRun("-p", proj, "ps"); !strings.Contains(got, proj+"-svc-1") || !strings.Contains(got, " svc ") {
		t.Errorf("stack -p %s ps: %q", proj, got)
	}

	// What stack does not do is refused by name, not dropped.
	code, _, errOut = de.run("run", "--rm", "--device", "/dev/null", "busybox", "true")
	if code == 0 || !strings.Contains(errOut, "HostConfig.Devices") {
		t.Errorf("run --device: exit %d, %q", code, errOut)
	}
	code, _, errOut = de.run("run", "--rm", "--network", "host", "busybox", "true")
	if code == 0 || !strings.Contains(errOut, "NetworkMode host") {
		t.Errorf("run --network host: exit %d, %q", code, errOut)
	}

	// pause, unpause and restart keep the published port working; an
	// exec's exit code is the CLI's (exec inspect); kill and wait.
	de.out("pause", "web")
	if got := de.out("inspect", "-f", "{{.State.Status}}", "web"); got != "paused\n" {
		t.Errorf("after pause: %q", got)
	}
	de.out("unpause", "web")
	de.out("restart", "-t", "1", "web")
	if got := de.out("inspect", "-f", "{{.State.Status}} {{.RestartCount}}", "web"); !strings.HasPrefix(got, "running ") {
		t.Errorf("after restart: %q", got)
	}
	var served string
	for i := 0; i < 50 && served == ""; i++ {
		if resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", port)); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			served = string(b)
		} else {
			time.Sleep(100 * time.Millisecond)
		}
	}
	if served != "hello from docker run\n" {
		t.Errorf("GET the published port after restart: %q", served)
	}
	if code, _, _ := de.run("exec", "web", "sh", "-c", "exit 4"); code != 4 {
		t.Errorf("exec exit 4: exit %d", code)
	}
	de.out("run", "-d", "--name", "victim", "busybox", "sleep", "300")
	de.out("kill", "victim")
	if got := de.out("wait", "victim"); got != "137\n" {
		t.Errorf("wait after kill: %q, want 137", got)
	}
	de.out("rm", "victim")

	// stop and rm.
	de.out("stop", "-t", "1", "web")
	if got := de.out("inspect", "-f", "{{.State.Status}}", "web"); got != "exited\n" {
		t.Errorf("after stop: %q", got)
	}
	// container prune takes the stopped ones and leaves the running one.
	if got := de.out("container", "prune", "-f"); !strings.Contains(got, "Deleted Containers:") || strings.Count(got, "\n") < 4 {
		t.Errorf("container prune:\n%s", got)
	}
	if got := de.out("ps", "-a", "--format", "{{.Names}}"); got != proj+"-svc-1\n" {
		t.Errorf("after container prune: %q", got)
	}
	de.out("rm", "-f", proj+"-svc-1")
	if left := de.out("ps", "-aq"); left != "" {
		t.Errorf("after rm: %q", left)
	}

	// docker events saw it happen.
	lines := stopEvents()
	all := strings.Join(lines, "\n")
	for _, want := range []string{"container create web", "container start web", "container die web", "container destroy web",
		"container die ticker", "container exec_create web", "container exec_die web"} {
		if !strings.Contains(all, want) {
			t.Errorf("docker events lacks %q; it printed:\n%s", want, all)
		}
	}
}

// TestRootDockerCLIExecTTY runs docker exec -it and docker run -it from a
// terminal: the shell gets a terminal of our size, follows a resize,
// reads what we type, and its exit code becomes the CLI's.
func TestRootDockerCLIExecTTY(t *testing.T) {
	de := newDockerEnv(t)
	de.out("run", "-d", "--name", "box", "busybox", "sleep", "300")
	for _, args := range [][]string{{"exec", "-it", "box", "sh"}, {"run", "-it", "--rm", "busybox", "sh"}} {
		t.Run(args[0], func(t *testing.T) {
			cmd := exec.Command(de.docker, args...)
			cmd.Env, cmd.Dir = de.vars, de.dir
			driveTerminal(t, cmd, "/dev/pts/")
		})
	}
}

// TestRootDockerCLIImages: images, tag, rmi, build of a Dockerfile from a
// tar context through stack's builder, history, and save | load.
func TestRootDockerCLIImages(t *testing.T) {
	de := newDockerEnv(t)
	if got := de.out("images", "--format", "{{.Repository}}:{{.Tag}}"); got != "busybox:latest\n" {
		t.Errorf("images: %q", got)
	}
	de.out("tag", "busybox", "team/box:1")
	if got := de.out("images", "--format", "{{.Repository}}:{{.Tag}}", "team/box"); got != "team/box:1\n" {
		t.Errorf("images after tag: %q", got)
	}
	if got := de.out("rmi", "team/box:1"); got != "Untagged: team/box:1\n" {
		t.Errorf("rmi: %q", got)
	}

	// push to a registry (an in-process one on loopback), and pull back
	// what was pushed once it is gone here.
	reg := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer reg.Close()
	remoteRef := strings.TrimPrefix(reg.URL, "http://") + "/team/bb:1"
	de.out("tag", "busybox", remoteRef)
	if got := de.out("push", remoteRef); !strings.Contains(got, "1: digest: sha256:") {
		t.Errorf("push:\n%s", got)
	}
	de.out("rmi", remoteRef)
	if got := de.out("pull", remoteRef); !strings.Contains(got, "Status: Downloaded newer image for "+remoteRef) && !strings.Contains(got, "Status: Image is up to date for "+remoteRef) {
		t.Errorf("pull:\n%s", got)
	}
	if got := de.out("run", "--rm", remoteRef, "echo", "pulled"); got != "pulled\n" {
		t.Errorf("run the pulled image: %q", got)
	}
	de.out("rmi", remoteRef)

	ctxDir := filepath.Join(de.dir, "ctx")
	os.MkdirAll(ctxDir, 0o755)
	os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte("FROM busybox\nARG WHO=nobody\nRUN echo built by $WHO > /built.txt\nCOPY note.txt /note.txt\nCMD [\"cat\", \"/built.txt\", \"/note.txt\"]\n"), 0o644)
	os.WriteFile(filepath.Join(ctxDir, "note.txt"), []byte("from the context\n"), 0o644)
	out := de.out("build", "-t", "built:1", "--build-arg", "WHO=docker", ctxDir)
	if !strings.Contains(out, "Step 3/5 : RUN echo built by $WHO > /built.txt") || !strings.Contains(out, "Successfully tagged built:1") {
		t.Errorf("build output:\n%s", out)
	}
	if got := de.out("run", "--rm", "built:1"); got != "built by docker\nfrom the context\n" {
		t.Errorf("run the built image: %q", got)
	}
	if got := de.out("history", "--format", "{{.CreatedBy}}", "built:1"); !strings.Contains(got, "COPY note.txt /note.txt") {
		t.Errorf("history: %q", got)
	}

	// save | load, through pipes (save writes the tar to its stdout),
	// after the image is gone.
	archive := de.out("save", "built:1")
	if !strings.Contains(archive, "manifest.json") {
		t.Fatalf("docker save wrote %d bytes, no manifest.json", len(archive))
	}
	de.out("rmi", "built:1")
	if code, _, _ := de.run("image", "inspect", "built:1"); code == 0 {
		t.Fatal("built:1 is still here after rmi")
	}
	cmd := exec.Command(de.docker, "load")
	cmd.Env, cmd.Stdin = de.vars, strings.NewReader(archive)
	loaded, err := cmd.Output()
	if err != nil || !strings.Contains(string(loaded), "Loaded image: built:1") {
		t.Errorf("load: %q, %v", loaded, err)
	}
	if got := de.out("run", "--rm", "built:1"); got != "built by docker\nfrom the context\n" {
		t.Errorf("run the loaded image: %q", got)
	}
	de.out("rmi", "built:1")
	if got := de.out("image", "prune", "-f"); !strings.Contains(got, "Total reclaimed space") {
		t.Errorf("image prune: %q", got)
	}
	if got := de.out("images", "--format", "{{.Repository}}"); got != "busybox\n" {
		t.Errorf("image prune took more than dangling images: %q", got)
	}
}

// TestRootDockerCLINetworks: network create, containers on it resolving
// each other by name, connect with an alias, ls, disconnect and rm.
func TestRootDockerCLINetworks(t *testing.T) {
	de := newDockerEnv(t)
	stopEvents := de.events()
	net := "net" + de.tag
	de.out("network", "create", "--label", "purpose=test", net)
	if got := de.out("network", "ls", "--filter", "label=purpose=test", "--format", "{{.Name}} {{.Driver}}"); got != net+" bridge\n" {
		t.Errorf("network ls: %q", got)
	}
	de.out("run", "-d", "--name", "srv", "--network", net, "busybox", "sh", "-c", "echo served > /index.html; httpd -f -p 80 -h /")
	de.out("run", "-d", "--name", "client", "busybox", "sleep", "300")
	de.out("network", "connect", "--alias", "front", net, "client")
	fetch := func(from, url string) string {
		for i := 0; i < 50; i++ {
			if code, out, _ := de.run("exec", from, "wget", "-qO-", url); code == 0 {
				return out
			}
			time.Sleep(100 * time.Millisecond)
		}
		return ""
	}
	if got := fetch("client", "http://srv/"); got != "served\n" {
		t.Errorf("client -> srv by name: %q", got)
	}
	// The alias resolves for the others on the network.
	if got := de.out("exec", "srv", "sh", "-c", "ping -c1 -W2 front >/dev/null && echo reachable"); got != "reachable\n" {
		t.Errorf("srv -> client by its alias: %q", got)
	}
	insp := de.out("network", "inspect", net, "--format", "{{range .Containers}}{{.Name}} {{end}}")
	if !strings.Contains(insp, "srv") || !strings.Contains(insp, "client") {
		t.Errorf("network inspect: %q", insp)
	}
	de.out("network", "disconnect", net, "client")
	if code, _, _ := de.run("exec", "client", "wget", "-qO-", "-T", "2", "http://srv/"); code == 0 {
		t.Error("client still reaches srv after disconnect")
	}
	if code, _, errOut := de.run("network", "rm", net); code == 0 || !strings.Contains(errOut, "srv") {
		t.Errorf("network rm while srv is on it: exit %d %q", code, errOut)
	}
	de.out("rm", "-f", "srv", "client")
	de.out("network", "rm", net)
	if got := de.out("network", "ls", "--filter", "label=purpose=test", "-q"); got != "" {
		t.Errorf("network ls after rm: %q", got)
	}
	all := strings.Join(stopEvents(), "\n")
	for _, want := range []string{"network create " + net, "network connect " + net, "network disconnect " + net, "network destroy " + net} {
		if !strings.Contains(all, want) {
			t.Errorf("docker events lacks %q; it printed:\n%s", want, all)
		}
	}
}

// TestRootDockerCLIVolumes: a named volume keeps its data from one
// container to the next, ls and inspect show it, rm removes it, and
// system df counts what there is.
func TestRootDockerCLIVolumes(t *testing.T) {
	de := newDockerEnv(t)
	stopEvents := de.events()
	vol := "vol" + de.tag
	de.out("volume", "create", "--label", "kept=yes", vol)
	de.out("run", "--rm", "-v", vol+":/data", "busybox", "sh", "-c", "echo kept > /data/f")
	if got := de.out("run", "--rm", "-v", vol+":/data:ro", "busybox", "cat", "/data/f"); got != "kept\n" {
		t.Errorf("the volume's data in the next container: %q", got)
	}
	if got := de.out("volume", "ls", "--filter", "label=kept=yes", "--format", "{{.Name}} {{.Driver}}"); got != vol+" local\n" {
		t.Errorf("volume ls: %q", got)
	}
	if got := de.out("volume", "inspect", "-f", "{{.Mountpoint}}", vol); !strings.HasPrefix(got, de.root) {
		t.Errorf("volume inspect: %q", got)
	}
	df := de.out("system", "df", "--format", "{{.Type}} {{.TotalCount}}")
	if !strings.Contains(df, "Images 1") || !strings.Contains(df, "Local Volumes 1") {
		t.Errorf("system df: %q", df)
	}
	if got := de.out("system", "df", "-v"); !strings.Contains(got, vol) {
		t.Errorf("system df -v does not list the volume:\n%s", got)
	}
	de.out("volume", "rm", vol)
	if code, _, _ := de.run("volume", "inspect", vol); code == 0 {
		t.Error("the volume is still there after rm")
	}
	all := strings.Join(stopEvents(), "\n")
	for _, want := range []string{"volume create ", "volume destroy "} {
		if !strings.Contains(all, want) {
			t.Errorf("docker events lacks %q; it printed:\n%s", want, all)
		}
	}
}
