package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/stack-dev/stack/api"
	"github.com/stack-dev/stack/internal/errdefs"
	"github.com/stack-dev/stack/internal/ident"
	"github.com/stack-dev/stack/runtime"
)

// The exec service: a process run in a running container, created, then
// started with its client's streams, resized and inspected by ID, as the
// Docker API does it. `stack exec` goes through it too.

// ExecSpec is a process to run in a container.
type ExecSpec struct {
	// Cmd is the command line. Required.
	Cmd []string
	// Tty gives the process a terminal; Stdin connects the client's
	// input (always, with a terminal).
	Tty, Stdin bool
	// User and WorkingDir replace the container's; Env adds KEY=VALUE
	// entries to its environment.
	User, WorkingDir string
	Env              []string
	// Width and Height are the terminal's first size.
	Width, Height uint16
}

// ExecInfo is what InspectExec says of an exec.
type ExecInfo struct {
	ID, ContainerID string
	Spec            ExecSpec
	Running         bool
	// ExitCode is set once the process has exited.
	ExitCode *int
	Pid      int
}

// ExecIO connects an exec'd process to its client.
type ExecIO struct {
	// Stdin is the client's input, read when the spec asks for it; its
	// end closes the process's input (with a terminal: sends ^D). An
	// error other than io.EOF (the client went away) sends nothing.
	Stdin io.Reader
	// Stdout and Stderr receive the process's output; with a terminal,
	// everything goes to Stdout. Nil discards.
	Stdout, Stderr io.Writer
	// Started, when set, is called once the process runs.
	Started func()
}

// execTable holds the execs of the engine, by ID.
type execTable struct {
	mu sync.Mutex
	m  map[string]*execEntry
}

type execEntry struct {
	id, container string
	spec          ExecSpec

	mu       sync.Mutex
	started  bool
	running  bool
	exitCode *int
	pid      int
	console  *os.File
}

func (t *execTable) get(id string) (*execEntry, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.m[id]
	if !ok {
		return nil, fmt.Errorf("no such exec instance: %s: %w", ident.Quote(id), errdefs.ErrNotFound)
	}
	return e, nil
}

// maxExecsPerContainer bounds what execs of one container are kept
// after they ended (docker keeps them until the container goes).
const maxExecsPerContainer = 64

func (t *execTable) add(e *execEntry) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = map[string]*execEntry{}
	}
	n := 0
	for id, o := range t.m {
		if o.container != e.container {
			continue
		}
		if n++; n >= maxExecsPerContainer {
			o.mu.Lock()
			done := o.exitCode != nil || !o.started
			o.mu.Unlock()
			if done {
				delete(t.m, id)
			}
		}
	}
	t.m[e.id] = e
}

// forgetExecs drops the execs of container id (it is being removed).
func (d *Daemon) forgetExecs(id string) {
	d.execs.mu.Lock()
	defer d.execs.mu.Unlock()
	for k, e := range d.execs.m {
		if e.container == id {
			delete(d.execs.m, k)
		}
	}
}

// CreateExec makes an exec of spec in the running container ref and
// returns its ID; StartExec runs it.
func (d *Daemon) CreateExec(ctx context.Context, ref string, spec ExecSpec) (string, error) {
	r, err := d.findContainer(ref)
	if err != nil {
		return "", err
	}
	if err := d.checkRunning(r); err != nil {
		return "", err
	}
	return d.createExec(r, spec)
}

// checkRunning fails unless the container of r runs (and is not paused).
func (d *Daemon) checkRunning(r *record) error {
	_, rt, err := d.engines()
	if err != nil {
		return err
	}
	st, err := rt.State(r.ID)
	switch {
	case err != nil || st.Status != runtime.Running && st.Status != runtime.Paused:
		return fmt.Errorf("container %s is not running: start it first: %w", r.Name, errdefs.ErrFailedPrecondition)
	case st.Status == runtime.Paused:
		return fmt.Errorf("container %s is paused: unpause it first: %w", r.Name, errdefs.ErrFailedPrecondition)
	}
	return nil
}

func (d *Daemon) createExec(r *record, spec ExecSpec) (string, error) {
	if len(spec.Cmd) == 0 {
		return "", fmt.Errorf("exec: no command given: %w", errdefs.ErrInvalidArgument)
	}
	if _, err := execProcess(r, spec); err != nil {
		return "", err
	}
	e := &execEntry{id: newContainerID(), container: r.ID, spec: spec}
	d.execs.add(e)
	d.events.publish(containerEvent(r, api.ActionExecCreate, ""))
	return e.id, nil
}

// InspectExec describes an exec.
func (d *Daemon) InspectExec(ctx context.Context, id string) (ExecInfo, error) {
	e, err := d.execs.get(id)
	if err != nil {
		return ExecInfo{}, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return ExecInfo{ID: e.id, ContainerID: e.container, Spec: e.spec, Running: e.running, ExitCode: e.exitCode, Pid: e.pid}, nil
}

// ResizeExec sets the size of an exec's terminal: at once when it runs,
// else as its first size.
func (d *Daemon) ResizeExec(ctx context.Context, id string, width, height uint16) error {
	e, err := d.execs.get(id)
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.spec.Tty {
		return fmt.Errorf("exec %s has no terminal: %w", ident.Quote(id), errdefs.ErrFailedPrecondition)
	}
	if e.console == nil {
		e.spec.Width, e.spec.Height = width, height
		return nil
	}
	return unix.IoctlSetWinsize(int(e.console.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Col: width, Row: height})
}

// StartExec runs an exec with its client's streams and returns its exit
// code once it has exited and its output is sent. An exec runs once.
func (d *Daemon) StartExec(ctx context.Context, id string, stdio ExecIO) (int, error) {
	e, err := d.execs.get(id)
	if err != nil {
		return 0, err
	}
	e.mu.Lock()
	if e.started {
		e.mu.Unlock()
		return 0, fmt.Errorf("exec %s was started already: %w", ident.Quote(id), errdefs.ErrFailedPrecondition)
	}
	e.started = true
	spec := e.spec
	e.mu.Unlock()
	r, err := d.findContainer(e.container)
	if err != nil {
		return 0, err
	}
	if err := d.checkRunning(r); err != nil {
		return 0, err
	}
	proc, err := execProcess(r, spec)
	if err != nil {
		return 0, err
	}
	_, rt, err := d.engines()
	if err != nil {
		return 0, err
	}
	cfg := runtime.ExecConfig{Process: proc}
	// Stdin is a real pipe, not an io.Reader: exec.Cmd would otherwise
	// wait, after the process exits, for a copy that only ends when the
	// client closes its input.
	var stdinW *os.File
	if !spec.Tty {
		cfg.Stdout, cfg.Stderr = stdio.Stdout, stdio.Stderr
		if spec.Stdin && stdio.Stdin != nil {
			pr, pw, err := os.Pipe()
			if err != nil {
				return 0, err
			}
			cfg.Stdin, stdinW = pr, pw
			defer pr.Close()
		}
	}
	p, err := rt.Exec(ctx, r.ID, cfg)
	if err != nil {
		if stdinW != nil {
			stdinW.Close()
		}
		return 0, err
	}
	console := p.Console()
	e.mu.Lock()
	e.running, e.pid, e.console = true, p.Pid(), console
	if console != nil && (e.spec.Width != spec.Width || e.spec.Height != spec.Height) {
		// A resize came while the process was being made (clients
		// resize right after they start an exec).
		unix.IoctlSetWinsize(int(console.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Col: e.spec.Width, Row: e.spec.Height})
	}
	e.mu.Unlock()
	d.events.publish(containerEvent(r, api.ActionExecStart, ""))
	if stdio.Started != nil {
		stdio.Started()
	}
	var copied sync.WaitGroup
	if console != nil {
		defer console.Close()
		copied.Add(1)
		go func() {
			defer copied.Done()
			out := stdio.Stdout
			if out == nil {
				out = io.Discard
			}
			io.Copy(out, console)
		}()
		if stdio.Stdin != nil {
			go func() {
				_, err := io.Copy(console, stdio.Stdin)
				if err == nil {
					console.Write([]byte{4}) // ^D: end of input at the terminal
				}
			}()
		}
	} else if stdinW != nil {
		go func() {
			io.Copy(stdinW, stdio.Stdin)
			stdinW.Close()
		}()
	}
	code, err := p.Wait()
	if console != nil {
		// The terminal's last output is still in the master: drain it
		// before reporting the exit.
		copied.Wait()
	}
	e.mu.Lock()
	e.running, e.console = false, nil
	if err == nil {
		e.exitCode = &code
	}
	e.mu.Unlock()
	die := containerEvent(r, api.ActionExecDie, "")
	die.ExitCode = &code
	d.events.publish(die)
	if err != nil && !errors.Is(err, context.Canceled) {
		return 0, err
	}
	return code, err
}

// removeExec forgets an exec that no one will inspect (stack exec's).
func (d *Daemon) removeExec(id string) {
	d.execs.mu.Lock()
	defer d.execs.mu.Unlock()
	delete(d.execs.m, id)
}
