package runtime_test

import (
	"bufio"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/stack-dev/stack/internal/errdefs"
	"github.com/stack-dev/stack/internal/testutil"
	"github.com/stack-dev/stack/runtime"
)

func TestRootTerminal(t *testing.T) {
	testutil.RequiresRoot(t)
	t.Parallel()
	m := newManager(t)
	spec := sh("tty; stty size; read line; echo got $line; stty size")
	spec.Process.Terminal = true
	spec.Process.ConsoleSize = &specs.Box{Height: 40, Width: 100}
	id := startContainer(t, m, spec)
	conn, err := m.Attach(ctxT(t), id)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	waitLog(t, m, id, "40 100")
	if err := m.Resize(ctxT(t), id, 120, 50); err != nil {
		st, _ := m.State(id)
		t.Fatalf("%v; state %+v, log %q", err, st, readLog(t, m, id))
	}
	if _, err := conn.Write([]byte("hello\n")); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(conn)
	var seen []string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("read from terminal: %v (seen %q)", err, seen)
		}
		seen = append(seen, line)
		if strings.HasPrefix(line, "got hello") {
			break
		}
	}
	st, err := m.Wait(ctxT(t), id)
	if err != nil || st.ExitCode != 0 {
		t.Fatalf("Wait = %+v, %v", st, err)
	}
	if log := readLog(t, m, id); !strings.HasPrefix(log, "/dev/pts/0\r\n40 100\r\n") || !strings.HasSuffix(log, "got hello\r\n50 120\r\n") {
		t.Errorf("log = %q", log)
	}
	if _, err := m.Attach(ctxT(t), id); !errors.Is(err, errdefs.ErrFailedPrecondition) {
		t.Errorf("Attach after exit = %v", err)
	}
}

func TestRootExecTerminal(t *testing.T) {
	testutil.RequiresRoot(t)
	t.Parallel()
	m := newManager(t)
	id := startContainer(t, m, sh("echo up; sleep 100"))
	waitLog(t, m, id, "up")
	p := sh("tty; read x; echo got $x").Process
	p.Terminal = true
	proc, err := m.Exec(ctxT(t), id, runtime.ExecConfig{Process: p})
	if err != nil {
		t.Fatal(err)
	}
	console := proc.Console()
	defer console.Close()
	if _, err := console.Write([]byte("hi\n")); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(console)
	var out []string
	for len(out) < 3 {
		line, err := r.ReadString('\n')
		if err != nil {
			break
		}
		out = append(out, line)
	}
	code, err := proc.Wait()
	if err != nil || code != 0 {
		t.Errorf("Wait = %d, %v", code, err)
	}
	// The terminal comes from the container's own devpts instance (so it
	// is pts/0 there); the echo of our input may come before or after
	// tty's output.
	got := strings.Join(out, "")
	if !strings.Contains(got, "/dev/pts/0\r\n") || !strings.Contains(got, "hi\r\n") || !strings.HasSuffix(got, "got hi\r\n") {
		t.Errorf("terminal output = %q", out)
	}
}
