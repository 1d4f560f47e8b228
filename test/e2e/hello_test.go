package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stack-dev/stack/api"
)

// psEntry is a container as the engine describes it, with more than ps
// prints (addresses, restart counts).
type psEntry = api.Container

// psAll lists every container of the project, one-off ones included,
// from the daemon's API.
func (e *env) psAll() []psEntry {
	e.t.Helper()
	var cs []psEntry
	e.apiDo("GET", "/projects/"+e.project+"/containers", &cs)
	return cs
}

// apiDo asks the daemon's API for path and decodes the answer into out.
func (e *env) apiDo(method, path string, out any) {
	e.t.Helper()
	e.mustRun("ps", "-a", "-q") // starts the daemon when it is not running
	host := ""
	for _, v := range e.vars {
		if h, ok := strings.CutPrefix(v, "STACK_HOST="); ok {
			host = h
		}
	}
	c, err := api.NewClient(host, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := c.Do(context.Background(), method, path, nil, out); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) ps() map[string]psEntry {
	e.t.Helper()
	cs := e.psAll()
	out := map[string]psEntry{}
	for _, c := range cs {
		out[c.Service] = c
	}
	return out
}

// TestRootHello runs examples/hello: the web service becomes healthy
// before the client starts (the order of up's events shows it), the
// client fetches the page by service name, the port is published on
// 127.0.0.1, and down leaves nothing behind.
func TestRootHello(t *testing.T) {
	e := newEnv(t)
	example, _ := filepath.Abs("../../examples/hello/stack.yaml")
	out := e.mustProgress("-f", example, "up", "-d")
	healthy := strings.Index(out, "Container "+e.project+"-web-1  Healthy")
	clientStart := strings.Index(out, "Container "+e.project+"-client-1  Started")
	if healthy < 0 || clientStart < 0 || healthy > clientStart {
		t.Fatalf("want web healthy before client started; up said:\n%s", out)
	}
	ps := e.ps()
	if ps["web"].State != "running" || ps["client"].State != "running" || ps["web"].Health != "healthy" {
		t.Fatalf("ps: %+v", ps)
	}
	if got := httpGet(t, "http://127.0.0.1:8080/"); got != "hello from busybox\n" {
		t.Errorf("published port: got %q", got)
	}
	var logs string
	for i := 0; i < 50; i++ {
		logs = e.mustRun("-f", example, "logs", "client")
		if strings.Contains(logs, "hello from busybox") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(logs, "client-1  | hello from busybox") {
		t.Errorf("client log: %q", logs)
	}
	// A second up with nothing changed touches nothing, and says the
	// containers are running, as compose does.
	again := e.mustProgress("-f", example, "up", "-d")
	if strings.TrimSpace(again) != "Container "+e.project+"-client-1  Running\n Container "+e.project+"-web-1  Running" {
		t.Errorf("second up did something:\n%s", again)
	}
	if ps2 := e.ps(); ps2["web"].ID != ps["web"].ID || ps2["client"].ID != ps["client"].ID {
		t.Errorf("second up recreated containers: %+v -> %+v", ps, ps2)
	}
	e.mustRun("-f", example, "down", "-t", "1")
	if left := e.ps(); len(left) != 0 {
		t.Errorf("containers after down: %+v", left)
	}
}

// TestRootRecreateOnlyChanged: changing one service's environment
// recreates that service only.
func TestRootRecreateOnlyChanged(t *testing.T) {
	e := newEnv(t)
	stack := "services:\n  a:\n    image: busybox\n    command: [sleep, '3600']\n    init: true\n    environment: {V: '1'}\n  b:\n    image: busybox\n    command: [sleep, '3600']\n    init: true\n"
	e.writeStack(stack)
	e.mustRun("up", "-d")
	before := e.ps()
	e.writeStack(strings.Replace(stack, "V: '1'", "V: '2'", 1))
	out := e.mustProgress("up", "-d")
	after := e.ps()
	if after["a"].ID == before["a"].ID || after["b"].ID != before["b"].ID {
		t.Errorf("want only a recreated: before %+v after %+v\nup said:\n%s", before, after, out)
	}
}

// TestRootUnhealthyDependencyFailsUp: a dependency that never becomes
// healthy fails up, naming it.
func TestRootUnhealthyDependencyFailsUp(t *testing.T) {
	e := newEnv(t)
	e.writeStack(`services:
  db:
    image: busybox
    command: [sleep, "3600"]
    init: true
    healthcheck:
      test: ["CMD", "false"]
      interval: 100ms
      start_interval: 100ms
      retries: 2
  app:
    image: busybox
    command: [sleep, "3600"]
    depends_on:
      db: {condition: service_healthy}
`)
	code, out, errOut := e.run("up", "-d")
	if code == 0 || !strings.Contains(errOut, "dependency db failed") || !strings.Contains(errOut, "unhealthy") {
		t.Fatalf("up: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if _, ok := e.ps()["app"]; ok {
		t.Errorf("app was created although its dependency failed")
	}
}

// TestRootVolumeSurvivesDown: a named volume keeps its data across down
// and up, and goes with down -v.
func TestRootVolumeSurvivesDown(t *testing.T) {
	e := newEnv(t)
	e.writeStack("services:\n  w:\n    image: busybox\n    command: [sh, -c, 'cat /data/f 2>/dev/null; echo written > /data/f; sleep 3600']\n    init: true\n    volumes: [data:/data]\nvolumes:\n  data:\n")
	e.mustRun("up", "-d")
	e.mustRun("down", "-t", "1")
	e.mustRun("up", "-d")
	var logs string
	for i := 0; i < 50 && !strings.Contains(logs, "written"); i++ {
		time.Sleep(100 * time.Millisecond)
		logs = e.mustRun("logs")
	}
	if !strings.Contains(logs, "w-1  | written") {
		t.Fatalf("volume content lost across down/up: logs %q", logs)
	}
	e.mustRun("down", "-v", "-t", "1")
	if _, err := os.Stat(filepath.Join(e.root, "volumes", e.project+"_data")); !os.IsNotExist(err) {
		t.Errorf("down -v left the volume: %v", err)
	}
}

// TestRootDaemonCrash: containers outlive a killed daemon; the next CLI
// call brings it back, and ps and restart policies work again.
func TestRootDaemonCrash(t *testing.T) {
	e := newEnv(t)
	e.writeStack("services:\n  web:\n    image: busybox\n    command: [httpd, -f, -p, '80', -h, /var/www]\n    ports: ['127.0.0.1:18081:80']\n  flaky:\n    image: busybox\n    command: [sh, -c, 'echo run; sleep 0.3; exit 3']\n    restart: on-failure\n  client:\n    image: busybox\n    command: [sleep, '3600']\n")
	e.mustRun("up", "-d")
	before := e.ps()
	pid := e.daemonPid()
	if pid == 0 {
		t.Fatal("no daemon pid")
	}
	syscall.Kill(pid, syscall.SIGKILL)
	for i := 0; i < 100 && syscall.Kill(pid, 0) == nil; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if got := httpGet(t, "http://127.0.0.1:18081/"); got != "hello from busybox\n" {
		t.Errorf("web stopped serving when the daemon died: %q", got)
	}
	after := e.ps() // starts the daemon again
	if after["web"].ID != before["web"].ID || after["web"].State != "running" {
		t.Errorf("web after the daemon came back: %+v (before %+v)", after["web"], before["web"])
	}
	// Names resolve again: the resolver lived in the daemon that died.
	if out := e.mustRun("exec", "-T", "client", "nslookup", "web"); !strings.Contains(out, "Address") || strings.Contains(out, "timed out") {
		t.Errorf("web does not resolve after the daemon came back:\n%s", out)
	}
	// The restart policy works again, and logs -f, started now, follows
	// flaky across the restarts the new daemon makes.
	logged := strings.Count(e.mustRun("logs", "flaky"), "run")
	follow := exec.Command(stackBin, "logs", "-f", "flaky")
	follow.Env, follow.Dir = e.vars, e.dir
	var followed syncBuffer
	follow.Stdout = &followed
	if err := follow.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { follow.Process.Kill(); follow.Wait() }()
	restarts := after["flaky"].RestartCount
	deadline := time.Now().Add(15 * time.Second)
	for e.ps()["flaky"].RestartCount < restarts+2 {
		if time.Now().After(deadline) {
			t.Fatalf("flaky was not restarted after the daemon came back: %+v", e.ps()["flaky"])
		}
		time.Sleep(200 * time.Millisecond)
	}
	// The restarts are logged; logs -f shows them as they come.
	for i := 0; i < 50 && strings.Count(followed.String(), "run") <= logged; i++ {
		time.Sleep(100 * time.Millisecond)
	}
	follow.Process.Kill()
	follow.Wait()
	if got := strings.Count(followed.String(), "run"); got <= logged {
		t.Errorf("logs -f showed %d runs of flaky, %d were logged before it started:\n%s", got, logged, followed.String())
	}
}
