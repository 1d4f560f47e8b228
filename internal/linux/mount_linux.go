package linux

import (
	"errors"
	"strings"

	"golang.org/x/sys/unix"
)

// MountError records a failed mount(2), umount2(2) or pivot_root(2): the
// operation, its source and target, the flags named by [MountFlags], the data
// string and the underlying errno.
type MountError struct {
	Op     string // "mount", "umount2" or "pivot_root"
	Source string
	Target string
	Flags  uintptr
	Data   string
	Err    error
}

func (e *MountError) Error() string {
	var b strings.Builder
	b.WriteString(e.Op)
	if e.Source != "" {
		b.WriteString(" src=" + e.Source + ",")
	}
	b.WriteString(" dst=" + e.Target)
	if e.Flags != 0 {
		b.WriteString(", flags=" + MountFlags(e.Flags))
	}
	if e.Data != "" {
		b.WriteString(", data=" + e.Data)
	}
	b.WriteString(": " + e.Err.Error())
	return b.String()
}

func (e *MountError) Unwrap() error { return e.Err }

// MountFlags names the bits of a mount(2) flags word, joined by "|"; bits
// without a name are kept in hex. (MNT_DETACH shares bit 1 with MS_NOSUID;
// the umount2 flags are rarely combined, so both names may print.)
func MountFlags(flags uintptr) string {
	mountFlagNames := []struct {
		flag uintptr
		name string
	}{
		{unix.MS_RDONLY, "MS_RDONLY"},
		{unix.MS_NOSUID, "MS_NOSUID"},
		{unix.MS_NODEV, "MS_NODEV"},
		{unix.MS_NOEXEC, "MS_NOEXEC"},
		{unix.MS_SYNCHRONOUS, "MS_SYNCHRONOUS"},
		{unix.MS_REMOUNT, "MS_REMOUNT"},
		{unix.MS_MANDLOCK, "MS_MANDLOCK"},
		{unix.MS_DIRSYNC, "MS_DIRSYNC"},
		{unix.MS_NOSYMFOLLOW, "MS_NOSYMFOLLOW"},
		{unix.MS_NOATIME, "MS_NOATIME"},
		{unix.MS_NODIRATIME, "MS_NODIRATIME"},
		{unix.MS_BIND, "MS_BIND"},
		{unix.MS_MOVE, "MS_MOVE"},
		{unix.MS_REC, "MS_REC"},
		{unix.MS_SILENT, "MS_SILENT"},
		{unix.MS_UNBINDABLE, "MS_UNBINDABLE"},
		{unix.MS_PRIVATE, "MS_PRIVATE"},
		{unix.MS_SLAVE, "MS_SLAVE"},
		{unix.MS_SHARED, "MS_SHARED"},
		{unix.MS_RELATIME, "MS_RELATIME"},
		{unix.MS_STRICTATIME, "MS_STRICTATIME"},
		{unix.MNT_DETACH, "MNT_DETACH"},
	}

	var names []string
	rest := flags
	for _, f := range mountFlagNames {
		if flags&f.flag == f.flag && f.flag != 0 && rest&f.flag != 0 {
			names = append(names, f.name)
			rest &^= f.flag
		}
	}
	if rest != 0 {
		names = append(names, "0x"+strings.ToLower(uintHex(uint64(rest))))
	}
	if len(names) == 0 {
		return "0"
	}
	return strings.Join(names, "|")
}

func uintHex(v uint64) string {
	const digits = "0123456789ABCDEF"
	if v == 0 {
		return "0"
	}
	var buf [16]byte
	i := len(buf)
	for v > 0 {
		i--
		buf[i] = digits[v&0xf]
		v >>= 4
	}
	return string(buf[i:])
}

// Mount calls mount(2), retrying on EINTR.
func Mount(source, target, fstype string, flags uintptr, data string) error {
	err := retryEINTR(func() error { return unix.Mount(source, target, fstype, flags, data) })
	if err != nil {
		return &MountError{Op: "mount", Source: source, Target: target, Flags: flags, Data: data, Err: err}
	}
	return nil
}

// Unmount calls umount2(2), retrying on EINTR.
func Unmount(target string, flags int) error {
	err := retryEINTR(func() error { return unix.Unmount(target, flags) })
	if err != nil {
		return &MountError{Op: "umount2", Target: target, Flags: uintptr(flags), Err: err}
	}
	return nil
}

// PivotRoot calls pivot_root(2).
func PivotRoot(newRoot, putOld string) error {
	if err := unix.PivotRoot(newRoot, putOld); err != nil {
		return &MountError{Op: "pivot_root", Source: newRoot, Target: putOld, Err: err}
	}
	return nil
}

func retryEINTR(fn func() error) error {
	for {
		err := fn()
		if !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}
