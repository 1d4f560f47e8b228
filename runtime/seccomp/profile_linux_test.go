package seccomp

import (
	"errors"
	goruntime "runtime"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/stack-dev/stack/internal/errdefs"
)

// dockerCaps are Docker's default capabilities.
var dockerCaps = []string{"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"}

func specWithCaps(caps ...string) *specs.Spec {
	return &specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{Bounding: caps, Effective: caps, Permitted: caps}}}
}

func TestDefaultProfile(t *testing.T) {
	if goruntime.GOARCH != "amd64" {
		t.Skip("the expected verdicts are x86_64's")
	}
	profile, err := Default(specWithCaps(dockerCaps...))
	if err != nil {
		t.Fatal(err)
	}
	p, err := Compile(profile, goruntime.GOARCH)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Docker's default profile: %d instructions, unknown to the tables: %v", p.Len(), p.Unknown)
	withAdmin, err := Default(specWithCaps(append(dockerCaps, "CAP_SYS_ADMIN")...))
	if err != nil {
		t.Fatal(err)
	}
	admin, err := Compile(withAdmin, goruntime.GOARCH)
	if err != nil {
		t.Fatal(err)
	}
	x64 := archX86_64
	eperm := uint32(retErrno | errnoEPERM)
	const cloneNewUser = 0x10000000
	cases := []struct {
		name        string
		c           call
		want, admin uint32
	}{
		{"read", call{nr: nr(t, x64, "read"), arch: x64.audit}, retAllow, retAllow},
		{"add_key", call{nr: nr(t, x64, "add_key"), arch: x64.audit}, eperm, eperm},
		{"keyctl", call{nr: nr(t, x64, "keyctl"), arch: x64.audit}, eperm, eperm},
		{"userfaultfd", call{nr: nr(t, x64, "userfaultfd"), arch: x64.audit}, eperm, eperm},
		{"bpf", call{nr: nr(t, x64, "bpf"), arch: x64.audit}, eperm, retAllow},
		{"perf_event_open", call{nr: nr(t, x64, "perf_event_open"), arch: x64.audit}, eperm, retAllow},
		{"unshare", call{nr: nr(t, x64, "unshare"), arch: x64.audit, args: [6]uint64{cloneNewUser}}, eperm, retAllow},
		{"mount", call{nr: nr(t, x64, "mount"), arch: x64.audit}, eperm, retAllow},
		{"clone CLONE_NEWUSER", call{nr: nr(t, x64, "clone"), arch: x64.audit, args: [6]uint64{cloneNewUser}}, eperm, retAllow},
		{"clone thread", call{nr: nr(t, x64, "clone"), arch: x64.audit, args: [6]uint64{0x3d0f00}}, retAllow, retAllow},
		{"clone3", call{nr: nr(t, x64, "clone3"), arch: x64.audit}, retErrno | errnoENOSYS, retAllow},
		{"socket vsock", call{nr: nr(t, x64, "socket"), arch: x64.audit, args: [6]uint64{40}}, eperm, eperm},
		{"socket inet", call{nr: nr(t, x64, "socket"), arch: x64.audit, args: [6]uint64{2}}, retAllow, retAllow},
		{"personality linux", call{nr: nr(t, x64, "personality"), arch: x64.audit}, retAllow, retAllow},
		{"i386 read", call{nr: nr(t, archX86, "read"), arch: archX86.audit}, retAllow, retAllow},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := run(t, p, tc.c); got != tc.want {
				t.Errorf("default capabilities: %#x, want %#x", got, tc.want)
			}
			if got := run(t, admin, tc.c); got != tc.admin {
				t.Errorf("with CAP_SYS_ADMIN: %#x, want %#x", got, tc.admin)
			}
			if got := evaluate(profile, goruntime.GOARCH, tc.c); got != tc.want {
				t.Errorf("reference: %#x, want %#x", got, tc.want)
			}
		})
	}
}

func TestLoadProfile(t *testing.T) {
	docker := `{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}`
	p, err := LoadProfile([]byte(docker), specWithCaps(dockerCaps...))
	if err != nil {
		t.Fatal(err)
	}
	if p.DefaultAction != specs.ActAllow || len(p.Syscalls) != 1 {
		t.Errorf("LoadProfile = %+v", p)
	}
	for _, bad := range []string{`{`, `{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "name": "write", "action": "SCMP_ACT_ERRNO"}]}`, `{}`} {
		if _, err := LoadProfile([]byte(bad), specWithCaps()); !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("LoadProfile(%s): %v, want invalid argument", bad, err)
		}
	}
}

func FuzzLoadProfile(f *testing.F) {
	f.Add([]byte(`{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}]}]}`))
	f.Add([]byte(`{"defaultAction": "SCMP_ACT_ALLOW", "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]}], "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := LoadProfile(data, specWithCaps(dockerCaps...))
		if err != nil {
			return
		}
		// Whatever loads either compiles or is refused with a class.
		if _, err := Compile(p, goruntime.GOARCH); err != nil && !errors.Is(err, errdefs.ErrInvalidArgument) && !errors.Is(err, errdefs.ErrNotImplemented) {
			t.Fatalf("Compile: %v has no class", err)
		}
	})
}

// BenchmarkDefaultAndCompile is what a container's create pays for its
// filter before any process starts: Docker's profile resolved for the
// container's capabilities, then compiled.
func BenchmarkDefaultAndCompile(b *testing.B) {
	s := specWithCaps(dockerCaps...)
	for b.Loop() {
		p, err := Default(s)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Compile(p, goruntime.GOARCH); err != nil {
			b.Fatal(err)
		}
	}
}
