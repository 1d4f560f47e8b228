package network

import (
	"errors"
	"fmt"
	"os"
	goruntime "runtime"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/stack-dev/stack/internal/linux"
)

// inNetNS runs fn on a locked OS thread that has joined ns, and puts the
// thread back in its own namespace afterwards. setns(2) changes the calling
// thread only, so the thread must stay locked for as long as it is in ns,
// and fn must not hand work to other goroutines that expect to be in ns
// (sockets, on the other hand, stay in the namespace they were made in and
// may be used from anywhere). If the thread cannot be put back it stays
// locked, and the Go runtime throws it away when the goroutine ends instead
// of reusing a thread in the wrong namespace.
func inNetNS(ns netns.NsHandle, fn func() error) error {
	goruntime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		goruntime.UnlockOSThread()
		return fmt.Errorf("get current netns: %w", err)
	}
	defer orig.Close()
	if orig.Equal(ns) {
		goruntime.UnlockOSThread()
		return fn()
	}
	if err := linux.Setns(int(ns), unix.CLONE_NEWNET); err != nil {
		goruntime.UnlockOSThread()
		return err
	}
	fnErr := fn()
	if err := linux.Setns(int(orig), unix.CLONE_NEWNET); err != nil {
		return errors.Join(fnErr, fmt.Errorf("restore netns: %w", err))
	}
	goruntime.UnlockOSThread()
	return fnErr
}

// createNetNS makes a new network namespace and bind-mounts it on path, as
// ip-netns(8) does under /run/netns: the mount keeps the namespace alive
// with no process in it, and the runtime joins it by opening path. The
// namespace is made by unshare(2) on a locked thread, which then goes back
// to the namespace it came from.
func createNetNS(path string) (retErr error) {
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		return fmt.Errorf("create netns mount point: %w", err)
	}
	f.Close()
	defer func() {
		if retErr != nil {
			os.Remove(path)
		}
	}()

	goruntime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		goruntime.UnlockOSThread()
		return fmt.Errorf("get current netns: %w", err)
	}
	defer orig.Close()
	if err := linux.Unshare(unix.CLONE_NEWNET); err != nil {
		goruntime.UnlockOSThread()
		return err
	}
	self := fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())
	mountErr := linux.Mount(self, path, "", unix.MS_BIND, "")
	if err := linux.Setns(int(orig), unix.CLONE_NEWNET); err != nil {
		// Leave the thread locked: the runtime discards it.
		return errors.Join(mountErr, fmt.Errorf("restore netns: %w", err))
	}
	goruntime.UnlockOSThread()
	return mountErr
}

// removeNetNS unmounts the namespace bind mount at path and removes the
// file. The namespace itself lives on while a process is still in it. A
// missing path is not an error.
func removeNetNS(path string) error {
	var errs []error
	if err := linux.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		errs = append(errs, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
