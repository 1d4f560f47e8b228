// Command sysprobe makes the system calls a seccomp profile is judged by
// and prints, for each one named on the command line, "NAME: ok" or
// "NAME: ERRNO" (EPERM, ENOSYS, ...). Tests copy it, statically linked,
// into containers.
package main

import (
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

var probes = map[string]func() error{
	"add_key": func() error {
		typ, desc, payload := cstr("user"), cstr("stack-probe"), []byte("x")
		_, _, e := unix.Syscall6(unix.SYS_ADD_KEY, ptr(typ), ptr(desc), uintptr(unsafe.Pointer(&payload[0])), 1, uintptr(^uint32(1)), 0) // KEY_SPEC_PROCESS_KEYRING = -2
		return errno(e)
	},
	"keyctl": func() error {
		_, _, e := unix.Syscall(unix.SYS_KEYCTL, unix.KEYCTL_GET_KEYRING_ID, uintptr(^uint32(2)), 0) // KEY_SPEC_SESSION_KEYRING = -3
		return errno(e)
	},
	"userfaultfd": func() error {
		const userModeOnly = 1 // UFFD_USER_MODE_ONLY: allowed without CAP_SYS_PTRACE
		fd, _, e := unix.Syscall(unix.SYS_USERFAULTFD, unix.O_CLOEXEC|userModeOnly, 0, 0)
		if e == 0 {
			unix.Close(int(fd))
		}
		return errno(e)
	},
	"bpf": func() error {
		var attr [128]byte
		_, _, e := unix.Syscall(unix.SYS_BPF, unix.BPF_MAP_CREATE, uintptr(unsafe.Pointer(&attr[0])), uintptr(len(attr)))
		return errno(e)
	},
	"perf_event_open": func() error {
		attr := unix.PerfEventAttr{Type: unix.PERF_TYPE_SOFTWARE, Config: unix.PERF_COUNT_SW_CPU_CLOCK}
		attr.Size = uint32(unsafe.Sizeof(attr))
		fd, err := unix.PerfEventOpen(&attr, 0, -1, -1, unix.PERF_FLAG_FD_CLOEXEC)
		if err == nil {
			unix.Close(fd)
		}
		return err
	},
	"mkdir": func() error { return unix.Mkdir("/tmp/sysprobe-dir", 0o755) },
	"unshare": func() error {
		// A filter answers first; without one, the kernel refuses a
		// multi-threaded caller with EINVAL, never EPERM, so EPERM here
		// means a filter.
		return unix.Unshare(unix.CLONE_NEWUSER)
	},
	"ping": func() error {
		// An ICMP datagram socket needs no CAP_NET_RAW when the group is
		// in net.ipv4.ping_group_range.
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, unix.IPPROTO_ICMP)
		if err == nil {
			unix.Close(fd)
		}
		return err
	},
}

func main() {
	for _, name := range os.Args[1:] {
		probe, ok := probes[name]
		if !ok {
			fmt.Printf("%s: no such probe\n", name)
			continue
		}
		if err := probe(); err != nil {
			e, _ := err.(unix.Errno)
			fmt.Printf("%s: %s\n", name, unix.ErrnoName(e))
			continue
		}
		fmt.Printf("%s: ok\n", name)
	}
}

func cstr(s string) []byte { return append([]byte(s), 0) }
func ptr(b []byte) uintptr { return uintptr(unsafe.Pointer(&b[0])) }
func errno(e unix.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}
