package runtime

import (
	"os"
	"path/filepath"
	"testing"
)

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestReadLimitsV2(t *testing.T) {
	root := t.TempDir()
	writeFiles(t, root, map[string]string{
		"stack/c1/memory.max":  "268435456",
		"stack/c1/cpu.max":     "20000 100000",
		"stack/c1/pids.max":    "64",
		"stack/c1/cpuset.cpus": "0-1",
		"stack/c2/memory.max":  "max",
		"stack/c2/cpu.max":     "max 100000",
		"stack/c2/pids.max":    "max",
	})
	l, err := readLimits(cgroupConfig{V2: true, Root: root, Path: "/stack/c1"})
	if err != nil {
		t.Fatal(err)
	}
	if want := (Limits{MemoryBytes: 256 << 20, PidsMax: 64, CPUQuota: 20000, CPUPeriod: 100000, Cpuset: "0-1"}); l != want {
		t.Errorf("limited: %+v, want %+v", l, want)
	}
	l, err = readLimits(cgroupConfig{V2: true, Root: root, Path: "/stack/c2"})
	if err != nil || l != (Limits{}) {
		t.Errorf("unlimited: %+v, %v", l, err)
	}
	if _, err := readLimits(cgroupConfig{V2: true, Root: root, Path: "/stack/gone"}); err == nil {
		t.Error("a missing cgroup reads without error")
	}
}

func TestReadLimitsV1(t *testing.T) {
	root := t.TempDir()
	writeFiles(t, root, map[string]string{
		"memory/stack/c1/memory.limit_in_bytes": "268435456",
		"cpu/stack/c1/cpu.cfs_quota_us":         "20000",
		"cpu/stack/c1/cpu.cfs_period_us":        "100000",
		"pids/stack/c1/pids.max":                "64",
		"memory/stack/c2/memory.limit_in_bytes": "9223372036854771712",
		"cpu/stack/c2/cpu.cfs_quota_us":         "-1",
		"pids/stack/c2/pids.max":                "max",
	})
	l, _ := readLimits(cgroupConfig{Root: root, Path: "/stack/c1"})
	if want := (Limits{MemoryBytes: 256 << 20, PidsMax: 64, CPUQuota: 20000, CPUPeriod: 100000}); l != want {
		t.Errorf("limited: %+v, want %+v", l, want)
	}
	if l, _ := readLimits(cgroupConfig{Root: root, Path: "/stack/c2"}); l != (Limits{}) {
		t.Errorf("unlimited: %+v", l)
	}
}
