package runtime

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	goruntime "runtime"
	"strconv"
	"syscall"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/stack-dev/stack/internal/linux"
)

// IsInit reports whether this process is one of the runtime's re-execs
// (a shim, a container's init, an exec'd process or the init: true
// reaper). It only looks at os.Args and one environment variable, so main
// and TestMain can call it before anything else:
//
//	func main() {
//		if runtime.IsInit() {
//			runtime.Init()
//		}
//		...
//	}
func IsInit() bool {
	return len(os.Args) > 1 && os.Args[1] == "init" && os.Getenv(envRole) != ""
}

// Init runs the re-exec'd role IsInit detected. It never returns: it execs
// the container's process or exits.
func Init() {
	// Namespaces, credentials and capabilities are per thread; the process
	// we exec is the thread we are on, so stay on one.
	goruntime.LockOSThread()
	goruntime.GOMAXPROCS(1)
	role := os.Getenv(envRole)
	var err error
	if v := os.Getenv(envProto); v != protocol {
		exe, _ := os.Executable()
		fmt.Fprintf(os.Stderr, "stack %s: %s speaks protocol %s, its caller %q: install stack, stack-shim and stack-init from one build\n", role, exe, protocol, v)
		os.Exit(127)
	}
	os.Unsetenv(envProto)
	if fd, err := strconv.Atoi(os.Getenv(envInitExe)); err == nil {
		// The shim's descriptor of this binary: nothing the container
		// runs may reach it.
		unix.Close(fd)
	}
	os.Unsetenv(envInitExe)
	if run, ok := roles[role]; ok {
		err = run()
	} else {
		err = fmt.Errorf("unknown role %q", role)
	}
	if err != nil {
		if err != errReported {
			fmt.Fprintf(os.Stderr, "stack %s: %v\n", role, err)
		}
		os.Exit(127)
	}
	os.Exit(0)
}

// roles are the re-exec'd roles this binary plays. The shim's is added by
// supervisor_linux.go, which stack-init (built with -tags stackinit, see
// cmd/stack-init) leaves out with all of the host side.
var roles = map[string]func() error{
	roleContainer: containerInit,
	roleExec:      execInit,
}

// openSync returns the inherited sync socket, marked close-on-exec so that
// a successful execve(2) shows up as EOF on the parent's end.
func openSync() (*syncConn, error) {
	f, err := inheritedFile(envInitPipe)
	if err != nil {
		return nil, err
	}
	unix.CloseOnExec(int(f.Fd()))
	os.Unsetenv(envInitPipe)
	os.Unsetenv(envRole)
	return newSyncConn(f), nil
}

// containerInit is the container's first process: it prepares the
// namespaces it was cloned into, reports ready, waits for run and execs.
func containerInit() error {
	tr := &trace{on: os.Getenv(envTrace) != ""}
	os.Unsetenv(envTrace)
	tr.mark("init: Go start-up")
	conn, err := openSync()
	if err != nil {
		return err
	}
	fail := func(err error) error {
		conn.send(errorMsg(err))
		return err
	}
	m, err := conn.expect(msgConfig)
	if err != nil {
		return err
	}
	cfg := m.Config
	tr.mark("init: config received")
	if err := setupContainer(cfg, tr); err != nil {
		return fail(err)
	}
	p := cfg.Spec.Process
	if p.Terminal {
		master, err := openConsole(p)
		if err != nil {
			return fail(fmt.Errorf("allocate terminal: %w", err))
		}
		err = sendFile(conn.f, master)
		master.Close()
		if err != nil {
			return err
		}
	}
	if len(p.Args) == 0 {
		return fail(errNoArgs)
	}
	argv0, err := lookPath(p.Args[0], p.Env)
	if err != nil {
		return fail(err)
	}
	env := processEnv(p.Env, homeOf(p.User.UID))
	tr.mark("init: hostname, sysctls, masks, lookup")
	if err := conn.send(syncMsg{Type: msgReady, Trace: tr.take()}); err != nil {
		return err
	}
	if _, err := conn.expect(msgRun); err != nil {
		// The shim is gone or changed its mind: never run the process.
		return err
	}
	if cfg.UserNS {
		// The caller has wired our network by now: an interface's
		// sysctls can be written.
		if err := finishSetup(cfg.Spec); err != nil {
			return fail(err)
		}
	}
	if !cfg.Init {
		return fail(finalizeProcess(p, cfg.Seccomp, argv0, p.Args, env))
	}
	// init: true. We stay PID 1 as the reaper and run the process as our
	// child, forked from this thread so it inherits the credentials set
	// here (as tini does, PID 1 runs as the container's user). We cannot
	// exec a fresh copy of ourselves instead: the binary may be
	// dynamically linked and the container has no loader for it.
	if err := applyProcess(p, cfg.Seccomp); err != nil {
		return fail(err)
	}
	sigs := make(chan os.Signal, 32)
	signal.Notify(sigs)
	child, err := syscall.ForkExec(argv0, p.Args, &syscall.ProcAttr{Env: env, Files: []uintptr{0, 1, 2}})
	if err != nil {
		return fail(&os.PathError{Op: "fork/exec", Path: argv0, Err: err})
	}
	conn.f.Close() // EOF tells the shim the process runs
	os.Exit(reap(child, sigs))
	return nil
}

// setupContainer does everything between clone and exec that needs
// privilege: the cgroup namespace, the mounts, pivot_root, the hostname and
// sysctls.
func setupContainer(cfg *initConfig, tr *trace) error {
	if cfg.CgroupNS {
		// The shim has moved us into our cgroup; a namespace made now is
		// rooted there, so the container sees "/" as its cgroup.
		if err := linux.Unshare(unix.CLONE_NEWCGROUP); err != nil {
			return err
		}
	}
	if err := setupRootfs(cfg); err != nil {
		return fmt.Errorf("prepare rootfs: %w", err)
	}
	tr.mark("init: mounts")
	if err := pivotRoot(cfg.Rootfs); err != nil {
		return fmt.Errorf("pivot_root %s: %w", cfg.Rootfs, err)
	}
	tr.mark("init: pivot_root")
	spec := cfg.Spec
	if spec.Hostname != "" {
		if err := unix.Sethostname([]byte(spec.Hostname)); err != nil {
			return fmt.Errorf("sethostname: %w", err)
		}
	}
	if spec.Domainname != "" {
		if err := unix.Setdomainname([]byte(spec.Domainname)); err != nil {
			return fmt.Errorf("setdomainname: %w", err)
		}
	}
	if cfg.UserNS {
		return nil // at msgRun: see userns_linux.go
	}
	return finishSetup(spec)
}

// finishSetup writes the sysctls, then masks and read-only paths (which
// make /proc/sys read-only).
func finishSetup(spec *specs.Spec) error {
	if err := writeSysctls(spec.Linux.Sysctl); err != nil {
		return err
	}
	return finishRootfs(spec)
}

// execInit runs a process in a running container. It was forked by the
// manager from a thread that had joined the container's namespaces but
// the mount namespace, which it joins on its own thread before applying
// the process's settings and exec'ing.
func execInit() error {
	conn, err := openSync()
	if err != nil {
		return err
	}
	m, err := conn.expect(msgConfig)
	if err != nil {
		return err
	}
	fail := func(err error) error {
		if conn.send(errorMsg(err)) == nil {
			// The parent has it: printing it too would show it twice,
			// the process's stderr being the user's.
			return errReported
		}
		return err
	}
	if err := joinMountNS(); err != nil {
		return fail(fmt.Errorf("join mount namespace: %w", err))
	}
	if p := m.Config.Spec.Process; p.Terminal {
		// A new session, so the terminal can become ours.
		if _, err := unix.Setsid(); err != nil {
			return fail(os.NewSyscallError("setsid", err))
		}
		master, err := openConsole(p)
		if err != nil {
			return fail(fmt.Errorf("allocate terminal: %w", err))
		}
		err = sendFile(conn.f, master)
		master.Close()
		if err != nil {
			return err
		}
	}
	p := m.Config.Spec.Process
	if len(p.Args) == 0 {
		return fail(errNoArgs)
	}
	argv0, err := lookPath(p.Args[0], p.Env)
	if err != nil {
		return fail(err)
	}
	return fail(finalizeProcess(p, m.Config.Seccomp, argv0, p.Args, processEnv(p.Env, homeOf(p.User.UID))))
}

// reap is PID 1 for init: true, like tini: it forwards every signal to
// child, reaps every process reparented to it, and returns child's status
// as an exit code (128+signal when the child was killed).
func reap(child int, sigs chan os.Signal) int {
	for sig := range sigs {
		s := sig.(syscall.Signal)
		switch s {
		case unix.SIGCHLD:
			for {
				var ws unix.WaitStatus
				pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
				if errors.Is(err, unix.EINTR) {
					continue
				}
				if err != nil || pid <= 0 {
					break
				}
				if pid == child {
					return exitCode(ws)
				}
			}
		case unix.SIGURG: // the Go scheduler's preemption signal
		default:
			unix.Kill(child, s)
		}
	}
	return 255
}

// exitCode maps a wait status to a shell-style exit code.
func exitCode(ws unix.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
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
