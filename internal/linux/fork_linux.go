package linux

import (
	"errors"
	"fmt"
	"os"
	goruntime "runtime"
	"strconv"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// This file is the one place where a process is forked without os/exec:
// the two things Go's SysProcAttr cannot do.
//
//   - Join an existing user namespace. setns(2) with CLONE_NEWUSER refuses
//     a multi-threaded caller (EINVAL), and a Go process always is one:
//     the runtime starts threads before any package init runs. runc joins
//     from a C constructor (nsexec) that runs before the Go runtime; we
//     fork instead. The child of fork(2) has a single thread, so it may
//     join, and it then execs a fresh binary that starts its own runtime
//     inside the namespace.
//   - Make a user namespace that no process lives in: a child is cloned
//     into it, its maps are written, the namespace is opened through
//     /proc and the child killed before it ran anything but a read(2).
//
// The child runs on a copy of the caller's memory (no CLONE_VM: the
// parent keeps running) and between fork and exec it only makes raw
// system calls with arguments prepared before the fork, from nosplit
// functions, so it never allocates, grows its stack or meets the
// scheduler, as syscall.forkAndExecInChild does. Signals are blocked
// around the fork, so that no Go signal handler runs in the child, and
// the child restores the caller's mask before exec. syscall.ForkLock is
// held, as os/exec holds it, so that no descriptor being made without
// close-on-exec at that moment leaks into the child.

// IDMap is one line of a uid_map or gid_map (user_namespaces(7)): IDs
// [Inside, Inside+Size) of the namespace are host IDs [Host, Host+Size).
type IDMap struct {
	Inside, Host, Size uint32
}

// mapLines renders maps as the kernel reads them.
func mapLines(maps []IDMap) []byte {
	var b []byte
	for _, m := range maps {
		b = fmt.Appendf(b, "%d %d %d\n", m.Inside, m.Host, m.Size)
	}
	return b
}

// forkArgs is everything the child needs, made before the fork.
type forkArgs struct {
	userns  uintptr // joined when newUserNS is false
	newNS   bool    // clone into a new user namespace and wait (NewUserNS)
	fds     []uintptr
	exe     uintptr
	empty   *byte
	argv    **byte
	envv    **byte
	sigmask uint64
	report  uintptr // write end of a close-on-exec pipe: a failure's step and errno
	wait    uintptr // NewUserNS: read end the child blocks on
	waitEnd uintptr // NewUserNS: its write end, which the child closes
}

// Steps of the child, reported with the errno of the one that failed.
const (
	stepSetns = iota + 1
	stepSetgid
	stepSetuid
	stepDup
	stepExec
)

var stepNames = map[uintptr]string{stepSetns: "setns user namespace", stepSetgid: "setresgid", stepSetuid: "setresuid", stepDup: "dup3", stepExec: "execveat"}

// child is what the forked child runs. It must not return.
//
//go:nosplit
//go:norace
func child(a *forkArgs) {
	var errno syscall.Errno
	var step uintptr
	var word uintptr
	var one [1]byte
	if a.newNS {
		// NewUserNS: wait for the parent, which opens our namespace and
		// kills us; a closed pipe (the parent died) ends us too, once our
		// copy of its write end is closed. Without an exec, close-on-exec
		// does not: a child left so would keep every descriptor of a
		// killed daemon (its socket, its lock) open for ever.
		syscall.RawSyscall(unix.SYS_CLOSE, a.waitEnd, 0, 0)
		syscall.RawSyscall(unix.SYS_READ, a.wait, uintptr(unsafe.Pointer(&one[0])), 1)
		for {
			syscall.RawSyscall(unix.SYS_EXIT_GROUP, 0, 0, 0)
		}
	}
	if _, _, errno = syscall.RawSyscall(unix.SYS_SETNS, a.userns, unix.CLONE_NEWUSER, 0); errno != 0 {
		step = stepSetns
		goto fail
	}
	// Root of the namespace, so that the exec gives us its capabilities
	// (the host's root is not mapped in it).
	if _, _, errno = syscall.RawSyscall(unix.SYS_SETRESGID, 0, 0, 0); errno != 0 {
		step = stepSetgid
		goto fail
	}
	if _, _, errno = syscall.RawSyscall(unix.SYS_SETRESUID, 0, 0, 0); errno != 0 {
		step = stepSetuid
		goto fail
	}
	// The caller put every descriptor above len(fds) (see ForkExecInUserNS),
	// so none is overwritten before it is moved.
	for i := uintptr(0); i < uintptr(len(a.fds)); i++ {
		if _, _, errno = syscall.RawSyscall(unix.SYS_DUP3, a.fds[i], i, 0); errno != 0 {
			step = stepDup
			goto fail
		}
	}
	syscall.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(&a.sigmask)), 0, 8, 0, 0)
	_, _, errno = syscall.RawSyscall6(unix.SYS_EXECVEAT, a.exe, uintptr(unsafe.Pointer(a.empty)),
		uintptr(unsafe.Pointer(a.argv)), uintptr(unsafe.Pointer(a.envv)), unix.AT_EMPTY_PATH, 0)
	step = stepExec
fail:
	word = step<<16 | uintptr(errno)
	syscall.RawSyscall(unix.SYS_WRITE, a.report, uintptr(unsafe.Pointer(&word)), unsafe.Sizeof(word))
	for {
		syscall.RawSyscall(unix.SYS_EXIT_GROUP, 127, 0, 0)
	}
}

// fork forks the calling thread's process with the given clone flags and
// runs child(a) in the child. It returns the child's pid.
func fork(a *forkArgs, flags uintptr) (int, error) {
	goruntime.LockOSThread()
	defer goruntime.UnlockOSThread()
	syscall.ForkLock.Lock()
	defer syscall.ForkLock.Unlock()
	all, old := ^uint64(0), uint64(0)
	syscall.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(&all)), uintptr(unsafe.Pointer(&old)), 8, 0, 0)
	a.sigmask = old
	pid, _, errno := syscall.RawSyscall6(unix.SYS_CLONE, flags|uintptr(unix.SIGCHLD), 0, 0, 0, 0, 0)
	if errno == 0 && pid == 0 {
		child(a) // never returns
	}
	syscall.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(&old)), 0, 8, 0, 0)
	if errno != 0 {
		return 0, os.NewSyscallError("clone", errno)
	}
	return int(pid), nil
}

// NewUserNS returns an open user namespace with the given maps, in which
// no process lives: it is kept by the returned file (an idmapped mount made
// with it keeps it too). setgroups(2) stays allowed in it. It costs a fork
// of the caller, no exec.
func NewUserNS(uidMap, gidMap []IDMap) (*os.File, error) {
	pid, release, err := cloneIntoUserNS()
	if err != nil {
		return nil, fmt.Errorf("new user namespace: %w", err)
	}
	defer func() {
		unix.Kill(pid, unix.SIGKILL)
		waitChild(pid)
		release()
	}()
	proc := "/proc/" + strconv.Itoa(pid)
	if err := os.WriteFile(proc+"/uid_map", mapLines(uidMap), 0); err != nil {
		return nil, fmt.Errorf("new user namespace: %w", err)
	}
	if err := os.WriteFile(proc+"/gid_map", mapLines(gidMap), 0); err != nil {
		return nil, fmt.Errorf("new user namespace: %w", err)
	}
	f, err := Open(proc+"/ns/user", unix.O_RDONLY, 0)
	if err != nil {
		return nil, fmt.Errorf("new user namespace: %w", err)
	}
	return f, nil
}

// cloneIntoUserNS clones a child into a new user namespace, where it
// waits until it is killed or release closes its pipe.
func cloneIntoUserNS() (pid int, release func(), err error) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return 0, nil, os.NewSyscallError("pipe2", err)
	}
	release = func() {
		unix.Close(p[0])
		unix.Close(p[1])
	}
	a := &forkArgs{newNS: true, wait: uintptr(p[0]), waitEnd: uintptr(p[1])}
	pid, err = fork(a, unix.CLONE_NEWUSER)
	goruntime.KeepAlive(a)
	if err != nil {
		release()
		return 0, nil, err
	}
	return pid, release, nil
}

// waitChild collects the child pid.
func waitChild(pid int) {
	var ws unix.WaitStatus
	for {
		if _, err := unix.Wait4(pid, &ws, 0, nil); err != unix.EINTR {
			return
		}
	}
}

// ForkExecInUserNS starts exe (an open file, run with execveat(2)) with
// argv and env as root of the user namespace userns, with files as its
// descriptors 0, 1, 2... It is forked from the calling goroutine's thread,
// so it is born in every other namespace and cgroup that thread joined;
// the thread must be locked by the caller if it joined any. The child is
// the caller's: wait for it with os.FindProcess and Wait.
func ForkExecInUserNS(userns, exe *os.File, argv, env []string, files []*os.File) (int, error) {
	argvp, err := syscall.SlicePtrFromStrings(argv)
	if err != nil {
		return 0, err
	}
	envp, err := syscall.SlicePtrFromStrings(env)
	if err != nil {
		return 0, err
	}
	empty, _ := syscall.BytePtrFromString("")
	// Every descriptor the child moves, and the ones it uses, above the
	// targets 0..len(files)-1, so that no dup3 overwrites a source.
	var dups []int
	defer func() {
		for _, fd := range dups {
			unix.Close(fd)
		}
	}()
	high := func(fd uintptr) (uintptr, error) {
		nfd, err := unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, len(files)+3)
		if err != nil {
			return 0, os.NewSyscallError("fcntl F_DUPFD_CLOEXEC", err)
		}
		dups = append(dups, nfd)
		return uintptr(nfd), nil
	}
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return 0, os.NewSyscallError("pipe2", err)
	}
	dups = append(dups, p[0])
	a := &forkArgs{empty: empty, argv: &argvp[0], envv: &envp[0]}
	w, err := unix.FcntlInt(uintptr(p[1]), unix.F_DUPFD_CLOEXEC, len(files)+3)
	unix.Close(p[1])
	if err != nil {
		return 0, os.NewSyscallError("fcntl F_DUPFD_CLOEXEC", err)
	}
	wOpen := true
	defer func() {
		if wOpen {
			unix.Close(w)
		}
	}()
	a.report = uintptr(w)
	if a.userns, err = high(userns.Fd()); err != nil {
		return 0, err
	}
	if a.exe, err = high(exe.Fd()); err != nil {
		return 0, err
	}
	for _, f := range files {
		fd, err := high(f.Fd())
		if err != nil {
			return 0, err
		}
		a.fds = append(a.fds, fd)
	}
	pid, err := fork(a, 0)
	goruntime.KeepAlive(a)
	goruntime.KeepAlive(argvp)
	goruntime.KeepAlive(envp)
	goruntime.KeepAlive(empty)
	if err != nil {
		return 0, err
	}
	// Close our copy of the report pipe's write end: EOF then means the
	// exec succeeded (the child's copy closed on exec).
	unix.Close(w)
	wOpen = false
	var word uintptr
	buf := (*[unsafe.Sizeof(word)]byte)(unsafe.Pointer(&word))[:]
	var n int
	for {
		n, err = unix.Read(p[0], buf)
		if err != unix.EINTR {
			break
		}
	}
	if n == 0 && err == nil {
		return pid, nil
	}
	var ws unix.WaitStatus
	for {
		if _, werr := unix.Wait4(pid, &ws, 0, nil); werr != unix.EINTR {
			break
		}
	}
	if err != nil {
		return 0, os.NewSyscallError("read", err)
	}
	if n != len(buf) {
		return 0, errors.New("start process in user namespace: short report from the child")
	}
	return 0, &os.SyscallError{Syscall: stepNames[word>>16], Err: syscall.Errno(word & 0xffff)}
}
