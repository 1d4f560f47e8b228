package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPTY opens a new pseudo-terminal pair of the given size.
func openPTY(t *testing.T, rows, cols uint16) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.IoctlSetWinsize(int(s.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: rows, Col: cols}); err != nil {
		t.Fatal(err)
	}
	return m, s
}

// TestRootExecInteractive drives `stack exec` from a terminal: the shell in
// the container gets a terminal of its own with our size, follows a
// resize, reads what we type, and its exit code becomes the CLI's.
func TestRootExecInteractive(t *testing.T) {
	e := newEnv(t)
	e.writeStack("services:\n  app:\n    image: busybox\n    command: [sleep, '3600']\n")
	e.mustRun("up", "-d")

	cmd := exec.Command(stackBin, "exec", "app", "sh")
	cmd.Env, cmd.Dir = e.vars, e.dir
	// The container's own devpts: its first terminal is pts/0.
	driveTerminal(t, cmd, "/dev/pts/0")
}

// driveTerminal runs cmd, a client of a shell in a container, on a new
// 40x100 terminal: the shell must show a terminal whose name starts with
// tty and has that size, follow a resize, run what is typed, and exit
// with the code typed, which must become cmd's.
func driveTerminal(t *testing.T, cmd *exec.Cmd, tty string) {
	t.Helper()
	master, slave := openPTY(t, 40, 100)
	defer master.Close()
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	var mu sync.Mutex
	var out bytes.Buffer
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			mu.Lock()
			out.Write(buf[:n])
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	shows := func(s string) bool {
		mu.Lock()
		defer mu.Unlock()
		return strings.Contains(out.String(), s)
	}
	waitFor := func(s string) {
		t.Helper()
		for i := 0; i < 100 && !shows(s); i++ {
			time.Sleep(50 * time.Millisecond)
		}
		if !shows(s) {
			mu.Lock()
			defer mu.Unlock()
			t.Fatalf("terminal never showed %q; it shows:\n%q", s, out.String())
		}
	}
	waitFor("# ")
	master.Write([]byte("tty; stty size\r"))
	waitFor(tty)
	waitFor("40 100")
	unix.IoctlSetWinsize(int(master.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 50, Col: 132})
	cmd.Process.Signal(syscall.SIGWINCH)
	// The resize travels on its own: ask until the shell sees it.
	for i := 0; i < 50 && !shows("50 132"); i++ {
		master.Write([]byte("stty size\r"))
		time.Sleep(100 * time.Millisecond)
	}
	waitFor("50 132")
	master.Write([]byte("echo typed-$((6*7))\r"))
	waitFor("typed-42")
	master.Write([]byte("exit 5\r"))
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 5 {
		t.Fatalf("%s exited with %v, want exit status 5", filepath.Base(cmd.Path), err)
	}
}

// TestRootExecStreams runs exec without a terminal: stdout and stderr stay
// apart, stdin is passed through, and an unknown service is named.
func TestRootExecStreams(t *testing.T) {
	e := newEnv(t)
	e.writeStack("services:\n  app:\n    image: busybox\n    command: [sleep, '3600']\n")
	e.mustRun("up", "-d")
	cmd := exec.Command(stackBin, "exec", "-T", "app", "sh", "-c", "cat; echo err >&2; exit 3")
	cmd.Env, cmd.Dir = e.vars, e.dir
	cmd.Stdin = strings.NewReader("from stdin\n")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 3 {
		t.Fatalf("exit: %v, want 3 (stderr %q)", err, stderr.String())
	}
	if stdout.String() != "from stdin\n" || stderr.String() != "err\n" {
		t.Fatalf("stdout %q stderr %q", stdout.String(), stderr.String())
	}
	// compose's words and a usage error's exit code.
	code, _, errOut := e.run("exec", "nope", "true")
	if code != 2 || !strings.Contains(errOut, "no such service: nope") {
		t.Fatalf("unknown service: exit %d, %q", code, errOut)
	}
	if got := e.mustRun("exec", "-T", "-u", "nobody", "-w", "/tmp", "-e", "X=1", "app", "sh", "-c", "id -u; pwd; echo $X"); got != "65534\n/tmp\n1\n" {
		t.Fatalf("user/workdir/env: %q", got)
	}
}

// TestRootRun runs one-off containers: dependencies start first, the
// command's output and exit code come back, -e adds to the environment,
// --rm leaves nothing, a detached run is listed, and up does not take it
// for a replica of its service.
func TestRootRun(t *testing.T) {
	e := newEnv(t)
	e.writeStack("services:\n  db:\n    image: busybox\n    command: [httpd, -f, -p, '80', -h, /var/www]\n  app:\n    image: busybox\n    command: [echo, default]\n    depends_on: [db]\n    environment: {A: from-file}\n")
	cmd := exec.Command(stackBin, "run", "--rm", "-e", "B=2", "app", "sh", "-c", "echo A=$A B=$B; for i in $(seq 50); do wget -qO- http://db/ && break; sleep 0.1; done; echo to-err >&2; exit 4")
	cmd.Env, cmd.Dir = e.vars, e.dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 4 {
		t.Fatalf("run exit: %v (stderr %q)", err, stderr.String())
	}
	if stdout.String() != "A=from-file B=2\nhello from busybox\n" || !strings.Contains(stderr.String(), "to-err") {
		t.Fatalf("run output: stdout %q stderr %q", stdout.String(), stderr.String())
	}
	if ps := e.ps(); len(ps) != 1 || ps["db"].State != "running" {
		t.Fatalf("after run --rm: %+v", ps)
	}
	name := strings.TrimSpace(e.mustRun("run", "-d", "app", "sleep", "100"))
	if !strings.HasPrefix(name, e.project+"-app-run-") {
		t.Fatalf("detached run named %q", name)
	}
	e.mustRun("up", "-d")
	var apps int
	for _, c := range e.psAll() {
		if c.Service == "app" {
			apps++
		}
	}
	if apps != 2 {
		t.Fatalf("want the service's container and the one-off, got %d: %+v", apps, e.psAll())
	}

	// An orphan (a service the stack file no longer has) stays through a
	// run and goes with run --remove-orphans; the one-off is no orphan.
	stack := "services:\n  db:\n    image: busybox\n    command: [httpd, -f, -p, '80', -h, /var/www]\n  app:\n    image: busybox\n    command: [echo, default]\n    depends_on: [db]\n"
	e.writeStack(stack + "  old:\n    image: busybox\n    command: [sleep, '3600']\n    stop_signal: SIGKILL\n")
	e.mustRun("up", "-d", "old")
	e.writeStack(stack)
	e.mustRun("run", "--rm", "app", "true")
	if _, ok := e.ps()["old"]; !ok {
		t.Fatalf("run without --remove-orphans removed the orphan: %+v", e.psAll())
	}
	e.mustRun("run", "--rm", "--remove-orphans", "app", "true")
	if _, ok := e.ps()["old"]; ok {
		t.Fatalf("run --remove-orphans left the orphan: %+v", e.psAll())
	}
	var oneOff bool
	for _, c := range e.psAll() {
		oneOff = oneOff || c.Name == name
	}
	if !oneOff {
		t.Fatalf("run --remove-orphans took the one-off %s: %+v", name, e.psAll())
	}
}
