package runtime

import (
	"reflect"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func TestNamespaceFlags(t *testing.T) {
	all := DefaultSpec().Linux.Namespaces
	tests := []struct {
		name      string
		ns        []specs.LinuxNamespace
		netns     string
		wantFlags uintptr
		wantJoins []nsJoin
		wantErr   bool
	}{
		{name: "default", ns: all,
			wantFlags: unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC | unix.CLONE_NEWNET},
		{name: "netns path", ns: all, netns: "/run/netns/x",
			wantFlags: unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC,
			wantJoins: []nsJoin{{"/run/netns/x", unix.CLONE_NEWNET}}},
		{name: "join ipc by path", ns: []specs.LinuxNamespace{{Type: specs.MountNamespace}, {Type: specs.IPCNamespace, Path: "/proc/1/ns/ipc"}},
			wantFlags: unix.CLONE_NEWNS, wantJoins: []nsJoin{{"/proc/1/ns/ipc", unix.CLONE_NEWIPC}}},
		// CLONE_NEWUSER comes from usernsClone, with the maps.
		{name: "user namespace", ns: []specs.LinuxNamespace{{Type: specs.MountNamespace}, {Type: specs.UserNamespace}},
			wantFlags: unix.CLONE_NEWNS},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			flags, joins, err := namespaceFlags(tt.ns, tt.netns)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v", err)
			}
			if flags != tt.wantFlags || !reflect.DeepEqual(joins, tt.wantJoins) {
				t.Errorf("got %#x %v, want %#x %v", flags, joins, tt.wantFlags, tt.wantJoins)
			}
		})
	}
}

func TestParseMountOptions(t *testing.T) {
	flags, prop, data := parseMountOptions([]string{"rbind", "ro", "nosuid", "rprivate", "mode=755", "size=64k", "rw", "noexec"})
	if want := uintptr(unix.MS_BIND | unix.MS_REC | unix.MS_NOSUID | unix.MS_NOEXEC); flags != want {
		t.Errorf("flags = %#x, want %#x", flags, want)
	}
	if !reflect.DeepEqual(prop, []uintptr{unix.MS_PRIVATE | unix.MS_REC}) || data != "mode=755,size=64k" {
		t.Errorf("propagation %v, data %q", prop, data)
	}
}
