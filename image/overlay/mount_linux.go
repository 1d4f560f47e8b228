package overlay

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	goruntime "runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// MountError is a failed mount(2) or umount2(2).
type MountError struct {
	Op     string // "mount" or "umount"
	Source string
	Target string
	FSType string
	Data   string
	Err    error
}

func (e *MountError) Error() string {
	if e.Op == "umount" {
		return fmt.Sprintf("umount %s: %v", e.Target, e.Err)
	}
	return fmt.Sprintf("mount src=%s, dst=%s, fstype=%s, data=%q: %v", e.Source, e.Target, e.FSType, e.Data, e.Err)
}

func (e *MountError) Unwrap() error { return e.Err }

// mountAt mounts with chdir as the working directory, so that relative
// paths in data resolve against it. The working directory is shared by
// all threads of a process; unshare(CLONE_FS) on a locked thread gives
// that thread its own, and the thread is never unlocked, so the Go runtime
// discards it when the goroutine ends instead of reusing it elsewhere.
func mountAt(chdir, source, target, fstype string, flags uintptr, data string) error {
	errc := make(chan error, 1)
	go func() {
		goruntime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_FS); err != nil {
			errc <- os.NewSyscallError("unshare CLONE_FS", err)
			return
		}
		if err := unix.Chdir(chdir); err != nil {
			errc <- &os.PathError{Op: "chdir", Path: chdir, Err: err}
			return
		}
		if err := unix.Mount(source, target, fstype, flags, data); err != nil {
			errc <- &MountError{Op: "mount", Source: source, Target: target, FSType: fstype, Data: data, Err: err}
			return
		}
		errc <- nil
	}()
	return <-errc
}

// unmount unmounts target, retrying while it is busy and detaching it
// lazily as a last resort. It is not an error if target is not mounted.
func unmount(target string) error {
	var err error
	for i := 0; i < 50; i++ {
		err = unix.Unmount(target, 0)
		if err == nil || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) {
			return nil
		}
		if !errors.Is(err, unix.EBUSY) {
			return &MountError{Op: "umount", Target: target, Err: err}
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := unix.Unmount(target, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
		return &MountError{Op: "umount", Target: target, Err: err}
	}
	return nil
}

// isMounted reports whether target is a mount point in this process'
// mount namespace, from /proc/self/mountinfo (proc(5)).
func isMounted(target string) (bool, error) {
	// statx says whether a path is the root of a mount (Linux 5.8), at
	// the cost of one lookup; the mount table grows with every container
	// of the host, and reading it for each one made up -d quadratic.
	var stx unix.Statx_t
	err := unix.Statx(unix.AT_FDCWD, target, unix.AT_SYMLINK_NOFOLLOW, 0, &stx)
	switch {
	case errors.Is(err, unix.ENOENT):
		return false, nil
	case err == nil && stx.Attributes_mask&unix.STATX_ATTR_MOUNT_ROOT != 0:
		return stx.Attributes&unix.STATX_ATTR_MOUNT_ROOT != 0, nil
	}
	return isMountedByTable(target)
}

// isMountedByTable is isMounted by the mount table, for kernels whose
// statx does not tell.
func isMountedByTable(target string) (bool, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return false, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && unescapeMountinfo(fields[4]) == target {
			return true, nil
		}
	}
	return false, sc.Err()
}

// unescapeMountinfo undoes the octal escapes (\040 for space) of
// /proc/self/mountinfo.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var c byte
			if _, err := fmt.Sscanf(s[i+1:i+4], "%03o", &c); err == nil {
				b.WriteByte(c)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
