//go:build !stackdaemon

package runtime

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/containerd/cgroups/v3/cgroup2"
	"github.com/opencontainers/runtime-spec/specs-go"
)

func i64(v int64) *int64   { return &v }
func u64(v uint64) *uint64 { return &v }
func u16(v uint16) *uint16 { return &v }

func TestCgroupV2Resources(t *testing.T) {
	tests := []struct {
		name string
		res  *specs.LinuxResources
		want map[string]string
	}{
		{
			name: "limits",
			res: &specs.LinuxResources{
				Memory:  &specs.LinuxMemory{Limit: i64(64 << 20), Swap: i64(128 << 20), Reservation: i64(32 << 20)},
				CPU:     &specs.LinuxCPU{Shares: u64(512), Quota: i64(20000), Period: u64(100000), Cpus: "0-1", Mems: "0"},
				Pids:    &specs.LinuxPids{Limit: i64(32)},
				BlockIO: &specs.LinuxBlockIO{Weight: u16(500)},
			},
			want: map[string]string{
				"cgroup.subtree_control":       "+cpu +cpuset +memory +pids +io",
				"stack/cgroup.subtree_control": "+cpu +cpuset +memory +pids +io",
				"stack/c1/memory.max":          "67108864",
				"stack/c1/memory.swap.max":     "67108864",
				"stack/c1/memory.low":          "33554432",
				"stack/c1/cpu.weight":          "59", // cgroups v3.1's quadratic shares mapping (runc 1.3)
				"stack/c1/cpu.max":             "20000 100000",
				"stack/c1/cpuset.cpus":         "0-1",
				"stack/c1/cpuset.mems":         "0",
				"stack/c1/pids.max":            "32",
				"stack/c1/io.weight":           "default 4950", // runc's 10-1000 to 1-10000 mapping
			},
		},
		{
			name: "unlimited",
			res: &specs.LinuxResources{
				Memory: &specs.LinuxMemory{Limit: i64(-1), Swap: i64(-1)},
				CPU:    &specs.LinuxCPU{Quota: i64(-1), Period: u64(50000)},
				Pids:   &specs.LinuxPids{Limit: i64(-1)},
			},
			want: map[string]string{
				"cgroup.subtree_control":       "+cpu +memory +pids",
				"stack/cgroup.subtree_control": "+cpu +memory +pids",
				"stack/c1/cpu.max":             "max 50000",
				"stack/c1/pids.max":            "max",
			},
		},
		{
			name: "none",
			res:  nil,
			want: map[string]string{"cgroup.subtree_control": "", "stack/cgroup.subtree_control": ""},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			for _, f := range []string{"cgroup.subtree_control", "stack/cgroup.subtree_control"} {
				os.MkdirAll(filepath.Dir(filepath.Join(root, f)), 0o755)
				if err := os.WriteFile(filepath.Join(root, f), nil, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			r := v2Resources(tt.res)
			if len(r.Devices) != len(DefaultDeviceRules()) || r.Devices[0].Type != "a" || *r.Devices[0].Major != -1 {
				t.Errorf("devices = %+v, want Docker's defaults, explicit", r.Devices)
			}
			// The eBPF device filter cannot attach to a fixture directory;
			// its program is checked in TestCgroupV2DeviceFilter.
			r.Devices = nil
			if _, err := cgroup2.NewManager(root, "/stack/c1", r); err != nil {
				t.Fatal(err)
			}
			if w := tt.res; w != nil && w.BlockIO != nil {
				// A kernel with the io cost model but no BFQ.
				os.WriteFile(filepath.Join(root, "stack/c1/io.weight"), []byte("default 100\n"), 0o644)
				if err := setIOWeight(filepath.Join(root, "stack/c1"), *w.BlockIO.Weight); err != nil {
					t.Fatal(err)
				}
			}
			if got := fixtureFiles(t, root); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("files:\n got  %v\n want %v", got, tt.want)
			}
		})
	}
}

func TestCgroupV2DeviceFilter(t *testing.T) {
	insts, license, err := cgroup2.DeviceFilter(v2Resources(nil).Devices)
	if err != nil {
		t.Fatal(err)
	}
	if license != "Apache" || len(insts) < 20 {
		t.Errorf("device filter: license %q, %d instructions", license, len(insts))
	}
}

func TestCgroupV1Resources(t *testing.T) {
	res := &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(64 << 20), Swap: i64(128 << 20)}}
	if got := v1Resources(res, false); got.Memory.Swap != nil || *got.Memory.Limit != 64<<20 {
		t.Errorf("swap kept without memsw: %+v", got.Memory)
	}
	if res.Memory.Swap == nil {
		t.Error("v1Resources modified its input")
	}
	if got := v1Resources(res, true); *got.Memory.Swap != 128<<20 {
		t.Errorf("swap dropped with memsw: %+v", got.Memory)
	}
	if got := v1Resources(nil, true); !reflect.DeepEqual(got.Devices, DefaultDeviceRules()) {
		t.Errorf("devices = %+v", got.Devices)
	}
}

func TestCgroupV1Fixture(t *testing.T) {
	root := t.TempDir()
	for _, c := range []string{"memory", "cpu", "cpuacct", "cpuset", "pids", "devices", "freezer", "blkio"} {
		if err := os.MkdirAll(filepath.Join(root, c), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(root, "cpuset/cpuset.cpus"), []byte("0-1\n"), 0o644)
	os.WriteFile(filepath.Join(root, "cpuset/cpuset.mems"), []byte("0\n"), 0o644)
	os.WriteFile(filepath.Join(root, "memory/memory.memsw.limit_in_bytes"), []byte("9223372036854771712\n"), 0o644) // swap accounting on
	res := &specs.LinuxResources{
		Memory:  &specs.LinuxMemory{Limit: i64(64 << 20), Swap: i64(128 << 20)},
		CPU:     &specs.LinuxCPU{Shares: u64(512), Quota: i64(20000), Period: u64(100000)},
		Pids:    &specs.LinuxPids{Limit: i64(32)},
		BlockIO: &specs.LinuxBlockIO{Weight: u16(300)},
	}
	// A BFQ kernel: the weight file exists in child cgroups only.
	os.MkdirAll(filepath.Join(root, "blkio/stack/c1"), 0o755)
	os.WriteFile(filepath.Join(root, "blkio/stack/c1/blkio.bfq.weight"), []byte("100\n"), 0o644)
	cg, err := createCgroup(cgroupConfig{Root: root, Path: "/stack/c1"}, res)
	if err != nil {
		t.Fatal(err)
	}
	got := fixtureFiles(t, root)
	for f, want := range map[string]string{
		"memory/stack/c1/memory.limit_in_bytes":       "67108864",
		"memory/stack/c1/memory.memsw.limit_in_bytes": "134217728",
		"cpu/stack/c1/cpu.shares":                     "512",
		"cpu/stack/c1/cpu.cfs_quota_us":               "20000",
		"cpu/stack/c1/cpu.cfs_period_us":              "100000",
		"pids/stack/c1/pids.max":                      "32",
		"devices/stack/c1/devices.allow":              "c 10:200 rwm",
		"cpuset/stack/c1/cpuset.cpus":                 "0-1",
		"blkio/stack/c1/blkio.bfq.weight":             "300",
	} {
		if got[f] != want {
			t.Errorf("%s = %q, want %q", f, got[f], want)
		}
	}
	if n := cg.OOMKills(); n != 0 {
		t.Errorf("OOMKills = %d", n)
	}
	os.WriteFile(filepath.Join(root, "memory/stack/c1/memory.oom_control"), []byte("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n"), 0o644)
	if n := cg.OOMKills(); n != 2 {
		t.Errorf("OOMKills = %d, want 2", n)
	}
}
