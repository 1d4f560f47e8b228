package linux

import (
	"errors"
	"testing"

	"golang.org/x/sys/unix"
)

func TestMountFlags(t *testing.T) {
	tests := []struct {
		name  string
		flags uintptr
		want  string
	}{
		{"zero", 0, "0"},
		{"bind rec", unix.MS_BIND | unix.MS_REC, "MS_BIND|MS_REC"},
		{"remount ro", unix.MS_REMOUNT | unix.MS_BIND | unix.MS_RDONLY, "MS_RDONLY|MS_REMOUNT|MS_BIND"},
		{"unknown bit", 1 << 40, "0x10000000000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := MountFlags(tt.flags); got != tt.want {
				t.Errorf("MountFlags(%#x) = %q, want %q", tt.flags, got, tt.want)
			}
		})
	}
}

func TestMountErrorUnwrap(t *testing.T) {
	err := error(&MountError{Op: "mount", Source: "proc", Target: "/x", Flags: unix.MS_NOSUID, Err: unix.EPERM})
	if got, want := err.Error(), "mount src=proc, dst=/x, flags=MS_NOSUID: operation not permitted"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(err, unix.EPERM) {
		t.Error("MountError does not unwrap to EPERM")
	}
}
