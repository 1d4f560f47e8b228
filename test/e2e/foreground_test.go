package e2e

import (
	"bytes"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe to read while a process writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestRootForegroundUp runs `up` in the foreground: it streams every
// service's output prefixed with the container's name, and an interrupt
// stops the stack gracefully and ends the command with 130, as compose.
func TestRootForegroundUp(t *testing.T) {
	e := newEnv(t)
	e.writeStack("services:\n  web:\n    image: busybox\n    command: [httpd, -f, -p, '80', -h, /var/www]\n  client:\n    image: busybox\n    command: [sh, -c, 'for i in $(seq 50); do wget -qO- http://web/ && break; sleep 0.1; done; exec sleep 3600']\n    depends_on: [web]\n")
	cmd := exec.Command(stackBin, "up", "-t", "1")
	cmd.Env, cmd.Dir = e.vars, e.dir
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	want := "\nclient-1  | hello from busybox"
	for i := 0; i < 100 && !strings.Contains(out.String(), want); i++ {
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(out.String(), want) {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("foreground up never showed %q:\n%s", want, out.String())
	}
	cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		// compose's exit code for an interrupted foreground up.
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 130 {
			t.Errorf("up ended with %v, want exit status 130", err)
		}
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("up did not end after an interrupt:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "Gracefully stopping") {
		t.Errorf("no word of stopping:\n%s", out.String())
	}
	for _, c := range e.psAll() {
		if c.State != "exited" {
			t.Errorf("%s is %s after the interrupt", c.Name, c.State)
		}
	}
}

// TestRootForegroundFlags: a foreground up's output and end under
// compose's flags: --abort-on-container-failure lets a clean exit pass
// and stops everything at a failed one, returning its code;
// --no-log-prefix, --no-color and --timestamps shape the lines as they do
// for logs; --attach-dependencies shows the dependencies' output too,
// and up still ends with the named service.
func TestRootForegroundFlags(t *testing.T) {
	e := newEnv(t)
	e.writeStack(`services:
  db:
    image: busybox
    command: [sh, -c, 'echo db-up; exec sleep 3600']
  job:
    image: busybox
    command: [sh, -c, 'echo job-line; exit 0']
  bad:
    image: busybox
    command: [sh, -c, 'sleep 1; echo bad-line; exit 4']
    depends_on: [db]
`)
	code, out, errOut := e.run("--ansi", "always", "up", "-t", "1", "--abort-on-container-failure")
	if code != 4 {
		t.Errorf("--abort-on-container-failure: exit %d, want bad's 4\n%s%s", code, out, errOut)
	}
	for _, want := range []string{`(?m)^\x1b\[[0-9;]*mjob-1\x1b\[0m exited with code 0$`, `(?m)^\x1b\[[0-9;]*mbad-1\x1b\[0m exited with code 4$`, `(?m)^Aborting on container exit\.\.\.$`, "\x1b\\["} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("--abort-on-container-failure: no %q in:\n%s", want, out)
		}
	}
	if i, j := strings.Index(out, "job-1\x1b[0m exited with code 0"), strings.Index(out, "Aborting"); i < 0 || j < i {
		t.Errorf("job's clean exit should not abort, bad's failure should:\n%q", out)
	}
	for _, c := range e.psAll() {
		if c.State == "running" {
			t.Errorf("%s still runs after the abort", c.Name)
		}
	}

	code, out, errOut = e.run("--ansi", "always", "up", "-t", "1", "--no-color", "--no-log-prefix", "--timestamps", "job")
	if code != 0 {
		t.Errorf("up job: exit %d\n%s%s", code, out, errOut)
	}
	if !regexp.MustCompile(`(?m)^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}(Z|[+-]\d\d:\d\d) job-line$`).MatchString(out) {
		t.Errorf("--no-log-prefix --timestamps: want a bare line after its time:\n%s", out)
	}
	if strings.Contains(out, "\x1b[") || strings.Contains(out, " | ") {
		t.Errorf("--no-color --no-log-prefix: colour or a prefix in:\n%q", out)
	}

	// db and bad ran before: what they printed then is not shown again.
	code, out, errOut = e.run("up", "-t", "1", "--attach-dependencies", "bad")
	if code != 0 || len(regexp.MustCompile(`(?m)^db-1 +\| db-up$`).FindAllString(out, -1)) != 1 ||
		len(regexp.MustCompile(`(?m)^bad-1 +\| bad-line$`).FindAllString(out, -1)) != 1 {
		t.Errorf("--attach-dependencies bad: exit %d, want db's and bad's output of this run, once\n%s%s", code, out, errOut)
	}
	if !strings.Contains(out, "\nbad-1 exited with code 4") {
		t.Errorf("--attach-dependencies bad: no exit line for bad\n%s", out)
	}
	if ps := e.ps(); ps["db"].State != "running" {
		t.Errorf("up returned with bad and stopped db, which only --abort-on-container-exit does: %s", ps["db"].State)
	}
	code, out, _ = e.run("up", "-t", "1", "bad")
	if code != 0 || strings.Contains(out, "db-up") || !strings.Contains(out, "bad-line") {
		t.Errorf("up bad: exit %d, want bad's output only\n%s", code, out)
	}
}
