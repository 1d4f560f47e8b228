package linux

import (
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Open calls open(2) with O_CLOEXEC added, retrying on EINTR, and returns an
// *os.File.
func Open(path string, flags int, mode uint32) (*os.File, error) {
	var fd int
	err := retryEINTR(func() error {
		var err error
		fd, err = unix.Open(path, flags|unix.O_CLOEXEC, mode)
		return err
	})
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}

// Setns calls setns(2) on the calling thread. The caller must hold the
// thread with runtime.LockOSThread.
func Setns(fd int, nstype int) error {
	if err := unix.Setns(fd, nstype); err != nil {
		return os.NewSyscallError("setns", err)
	}
	return nil
}

// SetnsPath opens the namespace file at path and joins it on the calling
// thread.
func SetnsPath(path string, nstype int) error {
	f, err := Open(path, unix.O_RDONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.Setns(int(f.Fd()), nstype); err != nil {
		return &os.PathError{Op: "setns", Path: path, Err: err}
	}
	return nil
}

// Unshare calls unshare(2); most namespace flags apply to the calling thread
// only, so the caller must hold it with runtime.LockOSThread.
func Unshare(flags int) error {
	if err := unix.Unshare(flags); err != nil {
		return os.NewSyscallError("unshare", err)
	}
	return nil
}

// Prctl calls prctl(2).
func Prctl(option int, arg2, arg3, arg4, arg5 uintptr) error {
	if err := unix.Prctl(option, arg2, arg3, arg4, arg5); err != nil {
		return os.NewSyscallError("prctl", err)
	}
	return nil
}

// Mknod calls mknod(2).
func Mknod(path string, mode uint32, dev int) error {
	if err := unix.Mknod(path, mode, dev); err != nil {
		return &os.PathError{Op: "mknod", Path: path, Err: err}
	}
	return nil
}

// Exec replaces the calling process with argv0, as execve(2). It only
// returns on failure.
func Exec(argv0 string, argv, env []string) error {
	err := retryEINTR(func() error { return unix.Exec(argv0, argv, env) })
	return &os.PathError{Op: "execve", Path: argv0, Err: err}
}

// ProcStartTime returns the start time of process pid in clock ticks
// since boot (proc(5) stat field 22), 0 when it is gone or a zombie. With
// the pid, it tells a process from a later one that got the same pid.
func ProcStartTime(pid int) uint64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// comm (field 2) may hold spaces and parentheses: count from the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || len(s) < i+3 || s[i+2] == 'Z' || s[i+2] == 'X' {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return 0
	}
	n, _ := strconv.ParseUint(f[19], 10, 64)
	return n
}
