package daemon

import (
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/stack-dev/stack/image"
	"github.com/stack-dev/stack/spec"
)

func TestContainerArgs(t *testing.T) {
	img := image.Config{Entrypoint: []string{"/entry.sh"}, Cmd: []string{"serve", "--port", "80"}}
	tests := []struct {
		name       string
		entrypoint spec.Command
		command    spec.Command
		override   []string
		image      image.Config
		want       []string
		wantErr    bool
	}{
		{name: "image only", image: img, want: []string{"/entry.sh", "serve", "--port", "80"}},
		{name: "command replaces image cmd", image: img, command: spec.Command{"debug"}, want: []string{"/entry.sh", "debug"}},
		{name: "entrypoint discards image cmd", image: img, entrypoint: spec.Command{"/bin/sh"}, want: []string{"/bin/sh"}},
		{name: "entrypoint and command", image: img, entrypoint: spec.Command{"/bin/sh", "-c"}, command: spec.Command{"echo hi"}, want: []string{"/bin/sh", "-c", "echo hi"}},
		{name: "empty entrypoint clears it", image: img, entrypoint: spec.Command{}, command: spec.Command{"ls"}, want: []string{"ls"}},
		{name: "run override", image: img, command: spec.Command{"x"}, override: []string{"sh"}, want: []string{"/entry.sh", "sh"}},
		{name: "nothing to run", image: image.Config{}, wantErr: true},
		{name: "empty command and no entrypoint", image: image.Config{Cmd: []string{"sh"}}, command: spec.Command{}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := &spec.Service{Name: "s", Entrypoint: tt.entrypoint, Command: tt.command}
			got, err := containerArgs(svc, tt.image, tt.override)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if !tt.wantErr && !reflect.DeepEqual(got, tt.want) {
				t.Errorf("args = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestContainerEnv(t *testing.T) {
	v := func(s string) *string { return &s }
	got := containerEnv(
		[]string{"PATH=/opt/bin:/bin", "LANG=C", "KEEP=image"},
		map[string]*string{"LANG": v("C.UTF-8"), "UNSET": nil, "NEW": v("1")},
		"web-1", "/root")
	want := []string{"PATH=/opt/bin:/bin", "HOSTNAME=web-1", "LANG=C.UTF-8", "KEEP=image", "NEW=1", "HOME=/root"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("env = %q, want %q", got, want)
	}
}

func TestBuildSpec(t *testing.T) {
	rootfs := t.TempDir()
	os.MkdirAll(filepath.Join(rootfs, "etc"), 0o755)
	os.WriteFile(filepath.Join(rootfs, "etc/passwd"), []byte("root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n"), 0o644)
	os.WriteFile(filepath.Join(rootfs, "etc/group"), []byte("root:x:0:\napp:x:1000:\nextra:x:1001:app\n"), 0o644)
	swap := spec.ByteSize(-1)
	svc := &spec.Service{
		Name: "web", Image: "x", User: "app", Hostname: "box", Domainname: "example.test",
		Command: spec.Command{"run"}, CapAdd: []string{"NET_ADMIN"}, CapDrop: []string{"chown"},
		MemLimit: 64 << 20, MemswapLimit: swap, CPUs: 0.5, PidsLimit: 50, ShmSize: 1 << 20,
		Ulimits:  map[string]spec.Ulimit{"nofile": {Soft: 1024, Hard: 2048}, "core": {Single: -1}},
		Sysctls:  map[string]string{"net.core.somaxconn": "1024"},
		Tmpfs:    []string{"/run:size=1m"},
		ReadOnly: true, Tty: true,
	}
	s, err := buildSpec(specInput{Service: svc, Image: image.Config{WorkingDir: "/srv"}, Rootfs: rootfs, Hostname: "abc123"})
	if err != nil {
		t.Fatal(err)
	}
	if s.Process.User.UID != 1000 || s.Process.User.GID != 1000 || !slices.Equal(s.Process.User.AdditionalGids, []uint32{1000, 1001}) {
		t.Errorf("user = %+v", s.Process.User)
	}
	if s.Hostname != "box" || s.Domainname != "example.test" || s.Process.Cwd != "/srv" || !s.Process.Terminal || !s.Root.Readonly {
		t.Errorf("hostname %q domain %q cwd %q tty %v ro %v", s.Hostname, s.Domainname, s.Process.Cwd, s.Process.Terminal, s.Root.Readonly)
	}
	caps := s.Process.Capabilities.Effective
	if !slices.Contains(caps, "CAP_NET_ADMIN") || slices.Contains(caps, "CAP_CHOWN") || !slices.Contains(caps, "CAP_KILL") {
		t.Errorf("caps = %v", caps)
	}
	r := s.Linux.Resources
	if *r.Memory.Limit != 64<<20 || *r.Memory.Swap != -1 || *r.CPU.Quota != 50000 || *r.CPU.Period != 100000 || *r.Pids.Limit != 50 {
		t.Errorf("resources: mem %d swap %d quota %d period %d pids %d", *r.Memory.Limit, *r.Memory.Swap, *r.CPU.Quota, *r.CPU.Period, *r.Pids.Limit)
	}
	if len(r.Devices) == 0 {
		t.Error("device rules lost")
	}
	if len(s.Process.Rlimits) != 2 || s.Process.Rlimits[0].Type != "RLIMIT_CORE" || s.Process.Rlimits[0].Hard != ^uint64(0) || s.Process.Rlimits[1].Soft != 1024 {
		t.Errorf("rlimits = %+v", s.Process.Rlimits)
	}
	var shm, run string
	for _, m := range s.Mounts {
		switch m.Destination {
		case "/dev/shm":
			shm = strings.Join(m.Options, ",")
		case "/run":
			run = strings.Join(m.Options, ",")
		}
	}
	if !strings.Contains(shm, "size=1048576") || !strings.Contains(run, "size=1m") {
		t.Errorf("shm options %q, /run options %q", shm, run)
	}
	if !slices.Contains(s.Process.Env, "HOME=/home/app") {
		t.Errorf("env = %v", s.Process.Env)
	}

	wantSysctl := map[string]string{"net.core.somaxconn": "1024", "net.ipv4.ping_group_range": "0 2147483647", "net.ipv4.ip_unprivileged_port_start": "0"}
	if !maps.Equal(s.Linux.Sysctl, wantSysctl) {
		t.Errorf("sysctls = %v, want %v", s.Linux.Sysctl, wantSysctl)
	}
	if s.Linux.Seccomp == nil || s.Linux.Seccomp.DefaultAction != specs.ActErrno || s.Process.NoNewPrivileges {
		t.Errorf("want Docker's default seccomp profile and no no_new_privs: %+v", s.Process)
	}

	svc.Privileged = true
	s, err = buildSpec(specInput{Service: svc, Rootfs: rootfs})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Linux.MaskedPaths) != 0 || len(s.Process.Capabilities.Bounding) < 38 || s.Linux.Seccomp != nil {
		t.Errorf("privileged: masked %v, %d caps, seccomp %v", s.Linux.MaskedPaths, len(s.Process.Capabilities.Bounding), s.Linux.Seccomp != nil)
	}
	svc.Privileged = false

	svc.NetworkMode = "host"
	svc.GroupAdd = []string{"extra", "4000"}
	svc.User = "root"
	svc.SecurityOpt = []string{"no-new-privileges", "systempaths=unconfined", "seccomp=unconfined", "label=disable"}
	s, err = buildSpec(specInput{Service: svc, Rootfs: rootfs})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.Process.User.AdditionalGids, []uint32{0, 1001, 4000}) {
		t.Errorf("group_add: groups = %v, want [0 1001 4000]", s.Process.User.AdditionalGids)
	}
	if _, ok := s.Linux.Sysctl["net.ipv4.ping_group_range"]; ok {
		t.Errorf("host network: sysctls = %v, want the service's only", s.Linux.Sysctl)
	}
	if !s.Process.NoNewPrivileges || s.Linux.Seccomp != nil || len(s.Linux.MaskedPaths) != 0 || len(s.Linux.ReadonlyPaths) != 0 {
		t.Errorf("security_opt not applied: nnp %v seccomp %v masked %v ro %v", s.Process.NoNewPrivileges, s.Linux.Seccomp != nil, s.Linux.MaskedPaths, s.Linux.ReadonlyPaths)
	}
	profile := filepath.Join(t.TempDir(), "profile.json")
	os.WriteFile(profile, []byte(`{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}`), 0o644)
	svc.SecurityOpt = []string{"seccomp=" + profile}
	if s, err = buildSpec(specInput{Service: svc, Rootfs: rootfs}); err != nil || s.Linux.Seccomp.DefaultAction != specs.ActAllow {
		t.Errorf("seccomp=PROFILE: %v, %+v", err, s.Linux.Seccomp)
	}
	svc.GroupAdd = []string{"nosuchgroup"}
	if _, err := buildSpec(specInput{Service: svc, Rootfs: rootfs}); err == nil || !strings.Contains(err.Error(), `group "nosuchgroup"`) {
		t.Errorf("unknown group: %v", err)
	}
	svc.GroupAdd = nil

	svc.User = "nosuchuser"
	if _, err := buildSpec(specInput{Service: svc, Rootfs: rootfs}); err == nil {
		t.Error("unknown user: want an error")
	}
}

func TestRlimitUnknown(t *testing.T) {
	if _, err := rlimit("bogus", spec.Ulimit{Single: 1}); err == nil {
		t.Error("want an error for an unknown ulimit")
	}
}
