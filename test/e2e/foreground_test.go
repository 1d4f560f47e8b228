package e2e

import (
	"bytes"
	"os/exec"
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
	want := e.project + "-client-1  | hello from busybox"
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
