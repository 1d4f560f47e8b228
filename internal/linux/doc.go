// Package linux wraps the golang.org/x/sys/unix calls that stack's runtime
// makes: mount(2), umount2(2), pivot_root(2), setns(2) and friends. Each
// wrapper retries on EINTR where the kernel may return it and reports
// failures as structured values ([MountError], *os.PathError,
// *os.SyscallError) whose messages name flags instead of printing hex.
//
// Owns: syscall wrappers and their error types.
// Must not import: any stack package; anything but the standard library and
// golang.org/x/sys.
package linux
