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
	"syscall"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/stack-dev/stack/internal/errdefs"
	"github.com/stack-dev/stack/internal/linux"
)

// envMntNS names the fd of the container's mount namespace in an exec'd
// child.
const envMntNS = "_STACK_MNTNS"

// Process is a process started by [Manager.Exec].
type Process struct {
	cmd     *exec.Cmd
	console *os.File
	m       *Manager
}

// Console returns the master side of the process's terminal, or nil when
// it has none (ExecConfig.Process.Terminal false). The caller owns it.
func (p *Process) Console() *os.File { return p.console }

// Pid returns the host PID of the process.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Signal sends sig to the process.
func (p *Process) Signal(sig unix.Signal) error { return p.cmd.Process.Signal(sig) }

// Wait waits for the process to exit and returns its exit code (128+signal
// when a signal killed it). It must be called exactly once.
func (p *Process) Wait() (int, error) {
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
	cg, err := loadCgroup(cgc)
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
		Path:       m.shimBinary,
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
	if cgc.V2 {
		// Born in the container's cgroup (clone3 CLONE_INTO_CGROUP).
		dir, err := linux.Open(filepath.Join(cgc.Root, cgc.Path), unix.O_DIRECTORY|unix.O_RDONLY, 0)
		if err != nil {
			return nil, fmt.Errorf("exec in %q: %w", id, err)
		}
		defer dir.Close()
		cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(dir.Fd())}
	}
	errc := make(chan error, 1)
	go func() {
		// This thread joins the namespaces and is never unlocked: the Go
		// runtime ends it with the goroutine rather than reuse it.
		goruntime.LockOSThread()
		for _, k := range kinds {
			if k.name == "mnt" {
				continue
			}
			if err := linux.Setns(int(files[k.name].Fd()), k.flag); err != nil {
				errc <- fmt.Errorf("join %s namespace: %w", k.name, err)
				return
			}
		}
		errc <- cmd.Start()
	}()
	err = <-errc
	child.Close()
	if err != nil {
		return nil, fmt.Errorf("exec in %q: %w", id, err)
	}
	p := &Process{cmd: cmd, m: m}
	m.execMu.Lock()
	if m.execs == nil {
		m.execs = map[int]bool{}
	}
	m.execs[cmd.Process.Pid] = true
	m.execMu.Unlock()
	fail := func(err error) (*Process, error) {
		cmd.Process.Kill()
		p.Wait()
		return nil, fmt.Errorf("exec in %q: %w", id, err)
	}
	if !cgc.V2 {
		if err := cg.Add(cmd.Process.Pid); err != nil {
			return fail(fmt.Errorf("join cgroup: %w", err))
		}
	}
	conn := newSyncConn(parent)
	stop := context.AfterFunc(ctx, func() { cmd.Process.Kill() })
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

// joinMountNS moves the calling thread into the mount namespace whose fd
// is in envMntNS; see [Manager.Exec].
func joinMountNS() error {
	fd, err := strconv.Atoi(os.Getenv(envMntNS))
	if err != nil {
		return fmt.Errorf("%s: %w", envMntNS, err)
	}
	defer unix.Close(fd)
	if err := linux.Unshare(unix.CLONE_FS); err != nil {
		return err
	}
	return linux.Setns(fd, unix.CLONE_NEWNS)
}
