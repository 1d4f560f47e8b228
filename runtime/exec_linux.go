//go:build !stackinit

package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"sync"
	"syscall"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/stack-dev/stack/internal/errdefs"
	"github.com/stack-dev/stack/internal/linux"
)

// Process is a process started by [Manager.Exec].
type Process struct {
	cmd     *exec.Cmd
	console *os.File
	m       *Manager
	// raw is the process when it was forked into a user namespace (cmd
	// is nil then), copies the goroutines that copy its stdio.
	raw    *os.Process
	copies sync.WaitGroup
	// closers, later and onFail belong to forkInUserNS.
	closers []io.Closer
	later   []func()
	onFail  []func()
}

// Console returns the master side of the process's terminal, or nil when
// it has none (ExecConfig.Process.Terminal false). The caller owns it.
func (p *Process) Console() *os.File { return p.console }

// Pid returns the host PID of the process.
func (p *Process) Pid() int { return p.process().Pid }

func (p *Process) process() *os.Process {
	if p.raw != nil {
		return p.raw
	}
	return p.cmd.Process
}

// Signal sends sig to the process.
func (p *Process) Signal(sig unix.Signal) error { return p.process().Signal(sig) }

// Wait waits for the process to exit and returns its exit code (128+signal
// when a signal killed it). It must be called exactly once.
func (p *Process) Wait() (int, error) {
	if p.raw != nil {
		ps, err := p.raw.Wait()
		p.copies.Wait()
		p.m.execMu.Lock()
		delete(p.m.execs, p.raw.Pid)
		p.m.execMu.Unlock()
		if err != nil {
			return -1, err
		}
		ws, _ := ps.Sys().(syscall.WaitStatus)
		return exitCode(unix.WaitStatus(ws)), nil
	}
	err := p.cmd.Wait()
	p.m.execMu.Lock()
	delete(p.m.execs, p.cmd.Process.Pid)
	p.m.execMu.Unlock()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return -1, err
	}
	ws, _ := p.cmd.ProcessState.Sys().(syscall.WaitStatus)
	return exitCode(unix.WaitStatus(ws)), nil
}

// Exec starts a process in the running container id: in all its
// namespaces and its cgroup, with the user, capabilities, environment and
// cwd of cfg.Process (nothing is inherited from the container's own
// process; the caller merges what it wants). The process is a child of
// the caller, not of the shim: it dies with the container, and its exit
// status is only available through [Process.Wait].
//
// How: a locked thread of ours joins the container's cgroup, IPC, UTS,
// network and PID namespaces with setns(2) and forks the child, which is
// born in them. The mount namespace is joined by the child itself, from
// its own locked thread after unshare(CLONE_FS) (setns(CLONE_NEWNS)
// refuses a thread that shares its fs_struct, as every Go thread does);
// it then execs from that thread. Doing so in the child, not here, lets
// the kernel find our binary's dynamic loader on the host before we enter
// the container. No cgo is needed.
//
// In a container with a user namespace the child must be in it too, and
// no Go process can join one (setns(2) wants a single thread): the child
// is forked from the locked thread with a plain fork(2), joins the user
// namespace while it has one thread, becomes its root and execs our
// binary (internal/linux.ForkExecInUserNS), which goes on as above with
// the capabilities of the container's root. Neither the shim nor a helper
// process inside the container is involved: the shim is multi-threaded
// too, and a resident helper would cost every container a process. On
// cgroup v2 the child is then moved into the cgroup, as on v1.
func (m *Manager) Exec(ctx context.Context, id string, cfg ExecConfig) (*Process, error) {
	if cfg.Process == nil || len(cfg.Process.Args) == 0 {
		return nil, fmt.Errorf("exec in %q: no args: %w", id, errdefs.ErrInvalidArgument)
	}
	st, err := m.State(id)
	if err != nil {
		return nil, err
	}
	if st.Status != Running {
		return nil, fmt.Errorf("exec in %q: container is %s: %w", id, st.Status, errdefs.ErrFailedPrecondition)
	}
	// An exec'd process runs under the container's seccomp filter, as in
	// Docker.
	dir, err := m.dir(id)
	if err != nil {
		return nil, err
	}
	var b bundle
	if err := readJSON(filepath.Join(dir, bundleFile), &b); err != nil {
		return nil, fmt.Errorf("exec in %q: %w", id, err)
	}
	cgc := m.cgroupConfig(id)
	cg, err := openCgroupFiles(cgc)
	if err != nil {
		return nil, fmt.Errorf("exec in %q: %w", id, err)
	}
	// Open every namespace first: once we are in the PID namespace the
	// host's /proc paths still work, but keep the order obvious.
	kinds := []struct {
		name string
		flag int
	}{{"cgroup", unix.CLONE_NEWCGROUP}, {"ipc", unix.CLONE_NEWIPC}, {"uts", unix.CLONE_NEWUTS}, {"net", unix.CLONE_NEWNET}, {"pid", unix.CLONE_NEWPID}, {"mnt", unix.CLONE_NEWNS}}
	files := map[string]*os.File{}
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	if hasUserNS(b.Spec) {
		kinds = append(kinds, struct {
			name string
			flag int
		}{"user", unix.CLONE_NEWUSER})
	}
	for _, k := range kinds {
		f, err := linux.Open("/proc/"+strconv.Itoa(st.Pid)+"/ns/"+k.name, unix.O_RDONLY, 0)
		if err != nil {
			return nil, fmt.Errorf("exec in %q: %w", id, err)
		}
		files[k.name] = f
	}
	// The init could have exited and its PID been reused while we opened.
	if st2, err := m.State(id); err != nil || st2.Status != Running || st2.Pid != st.Pid {
		return nil, fmt.Errorf("exec in %q: container stopped: %w", id, errdefs.ErrFailedPrecondition)
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("socketpair", err)
	}
	parent, child := os.NewFile(uintptr(fds[0]), "sync"), os.NewFile(uintptr(fds[1]), "sync-child")
	defer parent.Close()
	cmd := &exec.Cmd{
		Path:       m.execBinary(b.Spec),
		Args:       []string{"stack-exec", "init"},
		Env:        []string{envRole + "=" + roleExec, envInitPipe + "=3", envMntNS + "=4", envProto + "=" + protocol},
		ExtraFiles: []*os.File{child, files["mnt"]},
		Dir:        "/",
	}
	// With a terminal the child's stdio becomes the terminal's slave;
	// otherwise the caller's streams (a nil io.Reader/Writer means
	// /dev/null, so only set what was given).
	if !cfg.Process.Terminal {
		if cfg.Stdin != nil {
			cmd.Stdin = cfg.Stdin
		}
		if cfg.Stdout != nil {
			cmd.Stdout = cfg.Stdout
		}
		if cfg.Stderr != nil {
			cmd.Stderr = cfg.Stderr
		}
	}
	userns := files["user"]
	if cgc.V2 && userns == nil {
		// Born in the container's cgroup (clone3 CLONE_INTO_CGROUP).
		dir, err := linux.Open(filepath.Join(cgc.Root, cgc.Path), unix.O_DIRECTORY|unix.O_RDONLY, 0)
		if err != nil {
			return nil, fmt.Errorf("exec in %q: %w", id, err)
		}
		defer dir.Close()
		cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(dir.Fd())}
	}
	p := &Process{m: m}
	var start func() error
	if userns != nil {
		start, err = p.forkInUserNS(cmd, b.Spec, userns)
		if err != nil {
			child.Close()
			return nil, fmt.Errorf("exec in %q: %w", id, err)
		}
	} else {
		p.cmd = cmd
		start = cmd.Start
	}
	errc := make(chan error, 1)
	go func() {
		// This thread joins the namespaces and is never unlocked: the Go
		// runtime ends it with the goroutine rather than reuse it.
		goruntime.LockOSThread()
		for _, k := range kinds {
			if k.name == "mnt" || k.name == "user" {
				continue
			}
			if err := linux.Setns(int(files[k.name].Fd()), k.flag); err != nil {
				errc <- fmt.Errorf("join %s namespace: %w", k.name, err)
				return
			}
		}
		errc <- start()
	}()
	err = <-errc
	child.Close()
	if err != nil {
		p.closeStdio()
		return nil, fmt.Errorf("exec in %q: %w", id, err)
	}
	pid := p.Pid()
	m.execMu.Lock()
	if m.execs == nil {
		m.execs = map[int]bool{}
	}
	m.execs[pid] = true
	m.execMu.Unlock()
	fail := func(err error) (*Process, error) {
		p.process().Kill()
		p.Wait()
		return nil, fmt.Errorf("exec in %q: %w", id, err)
	}
	if !cgc.V2 || userns != nil {
		if err := cg.Add(pid); err != nil {
			return fail(fmt.Errorf("join cgroup: %w", err))
		}
	}
	conn := newSyncConn(parent)
	stop := context.AfterFunc(ctx, func() { p.process().Kill() })
	defer stop()
	if err := conn.send(syncMsg{Type: msgConfig, Config: &initConfig{Spec: &specs.Spec{Process: cfg.Process}, Seccomp: b.Seccomp}}); err != nil {
		return fail(err)
	}
	if cfg.Process.Terminal {
		master, err := recvFile(parent, "console")
		if err != nil {
			// No terminal: the child failed first, and the byte we took
			// was the "{" of its error message.
			conn.unread([]byte("{"))
			if m, rerr := conn.recv(); rerr == nil && m.Type == msgError {
				err = m.err()
			}
			return fail(fmt.Errorf("allocate terminal: %w", err))
		}
		p.console = master
	}
	msg, err := conn.recv()
	if err != io.EOF && p.console != nil {
		p.console.Close()
		p.console = nil
	}
	switch {
	case err == io.EOF:
		return p, nil // exec'd
	case err != nil:
		return fail(err)
	case msg.Type == msgError:
		return fail(msg.err())
	}
	return fail(fmt.Errorf("unexpected message %q", msg.Type))
}

// forkInUserNS prepares the start of cmd's process in the user namespace
// userns (see [Manager.Exec]): its stdio as descriptors (pipes and copying
// goroutines for what is not a file, as os/exec makes them), then the
// fork. The returned function runs on the locked thread.
func (p *Process) forkInUserNS(cmd *exec.Cmd, spec *specs.Spec, userns *os.File) (func() error, error) {
	exe, err := linux.Open(cmd.Path, unix.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	devNull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		exe.Close()
		return nil, err
	}
	// Closed once the child has them (or on failure): closeStdio.
	p.closers = append(p.closers, exe, devNull)
	stdio := []*os.File{devNull, devNull, devNull}
	if r, ok := cmd.Stdin.(*os.File); ok {
		stdio[0] = r
	} else if cmd.Stdin != nil {
		pr, pw, err := os.Pipe()
		if err != nil {
			p.closeStdio()
			return nil, err
		}
		stdio[0] = pr
		p.closers = append(p.closers, pr)
		p.onFail = append(p.onFail, func() { pw.Close() })
		p.later = append(p.later, func() {
			// Not waited for, as os/exec does not wait for its stdin
			// copy once the process has exited.
			go func() { io.Copy(pw, cmd.Stdin); pw.Close() }()
		})
	}
	for i, w := range []io.Writer{cmd.Stdout, cmd.Stderr} {
		if f, ok := w.(*os.File); ok {
			stdio[i+1] = f
			continue
		}
		if w == nil {
			continue
		}
		pr, pw, err := os.Pipe()
		if err != nil {
			p.closeStdio()
			return nil, err
		}
		stdio[i+1] = pw
		p.closers = append(p.closers, pw)
		p.copies.Add(1)
		p.later = append(p.later, func() {
			go func() { defer p.copies.Done(); defer pr.Close(); io.Copy(w, pr) }()
		})
		p.onFail = append(p.onFail, func() { pr.Close(); p.copies.Done() })
	}
	if err := chownStdio(spec, stdio); err != nil {
		p.closeStdio()
		return nil, err
	}
	files := append(stdio, cmd.ExtraFiles...)
	return func() error {
		pid, err := linux.ForkExecInUserNS(userns, exe, cmd.Args, cmd.Env, files)
		if err != nil {
			return err
		}
		proc, err := os.FindProcess(pid)
		if err != nil {
			return err
		}
		p.raw = proc
		for _, f := range p.later {
			f()
		}
		p.onFail = nil
		p.closeStdio()
		return nil
	}, nil
}

// closeStdio closes our copies of what forkInUserNS gave the child.
func (p *Process) closeStdio() {
	for _, f := range p.onFail {
		f()
	}
	p.onFail = nil
	for _, c := range p.closers {
		c.Close()
	}
	p.closers = nil
}
