package seccomp

import (
	"encoding/binary"
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Load installs the program as a filter of the calling process, on every
// thread (SECCOMP_FILTER_FLAG_TSYNC), so no thread of a Go process escapes
// it. Without no_new_privs the caller needs CAP_SYS_ADMIN: the container's
// init loads it before dropping capabilities in that case, as runc does.
// A filter cannot be removed; the process and its children keep it.
func (p *Program) Load() error {
	n := p.Len()
	if n == 0 || n*8 != len(p.Filter) {
		return fmt.Errorf("seccomp: malformed program of %d bytes", len(p.Filter))
	}
	filters := make([]unix.SockFilter, n)
	for i := range filters {
		b := p.Filter[8*i:]
		filters[i] = unix.SockFilter{
			Code: binary.LittleEndian.Uint16(b),
			Jt:   b[2],
			Jf:   b[3],
			K:    binary.LittleEndian.Uint32(b[4:]),
		}
	}
	prog := unix.SockFprog{Len: uint16(n), Filter: &filters[0]}
	flags := uintptr(p.Flags) | flagTsync
	for {
		r, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, flags, uintptr(unsafe.Pointer(&prog)))
		switch {
		case errno == unix.EINTR:
			continue
		case errno != 0:
			return os.NewSyscallError("seccomp", errno)
		case r != 0:
			// TSYNC: the id of a thread that could not take the filter.
			return fmt.Errorf("seccomp: thread %d cannot synchronize to the filter", r)
		}
		return nil
	}
}
