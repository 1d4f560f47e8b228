package daemon

import (
	"strings"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/stack-dev/stack/runtime"
)

func TestLimitWarnings(t *testing.T) {
	i64 := func(v int64) *int64 { return &v }
	u64 := func(v uint64) *uint64 { return &v }
	want := &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: i64(256 << 20)},
		Pids:   &specs.LinuxPids{Limit: i64(64)},
		CPU:    &specs.LinuxCPU{Quota: i64(20000), Period: u64(100000), Cpus: "0"},
	}
	applied := runtime.Limits{MemoryBytes: 256 << 20, PidsMax: 64, CPUQuota: 20000, CPUPeriod: 100000, Cpuset: "0"}
	if w := limitWarnings(want, applied); len(w) != 0 {
		t.Errorf("all applied, yet: %v", w)
	}
	rounded := applied
	rounded.MemoryBytes = 256<<20 - 4096
	if w := limitWarnings(want, rounded); len(w) != 0 {
		t.Errorf("a page of rounding warned: %v", w)
	}
	w := limitWarnings(want, runtime.Limits{})
	if len(w) != 4 || !strings.Contains(w[0], "memory limit 268435456 bytes asked, the kernel holds none") || !strings.Contains(w[2], "cpu quota") {
		t.Errorf("nothing applied: %q", w)
	}
	if w := limitWarnings(nil, runtime.Limits{}); w != nil {
		t.Errorf("no limits asked: %v", w)
	}
}
