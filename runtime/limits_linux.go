//go:build !stackinit

package runtime

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Limits are the resource limits the kernel holds for a container, read
// back from its cgroup after start. A zero field means no limit.
type Limits struct {
	MemoryBytes int64  // memory.max / memory.limit_in_bytes
	PidsMax     int64  // pids.max
	CPUQuota    int64  // µs per CPUPeriod (cpu.max / cpu.cfs_quota_us)
	CPUPeriod   uint64 // µs
	Cpuset      string // cpuset.cpus as written, "" when not set
}

// unlimitedMemory is the smallest value cgroup v1 reports for "no limit"
// (it rounds LONG_MAX down to a page).
const unlimitedMemory = 1 << 62

// AppliedLimits reads the container's limits from its cgroup, so a caller
// can tell a limit that did not take effect (a controller missing, a
// kernel that ignores it) from one that did.
func (m *Manager) AppliedLimits(id string) (Limits, error) {
	if err := validateID(id); err != nil {
		return Limits{}, err
	}
	c := m.cgroupConfig(id)
	l, err := readLimits(c)
	if err != nil {
		return Limits{}, fmt.Errorf("limits of container %q: %w", id, err)
	}
	return l, nil
}

// readLimits reads the limit files of cgroup c; a controller that is not
// there reads as no limit.
func readLimits(c cgroupConfig) (Limits, error) {
	var l Limits
	file := func(controller, name string) string {
		if c.V2 {
			return filepath.Join(c.Root, c.Path, name)
		}
		return filepath.Join(c.Root, controller, c.Path, name)
	}
	read := func(controller, name string) (string, bool) {
		b, err := os.ReadFile(file(controller, name))
		if err != nil {
			return "", false
		}
		return strings.TrimSpace(string(b)), true
	}
	if c.V2 {
		if _, err := os.Stat(filepath.Join(c.Root, c.Path)); err != nil {
			return l, err
		}
		if v, ok := read("", "memory.max"); ok && v != "max" {
			l.MemoryBytes, _ = strconv.ParseInt(v, 10, 64)
		}
		if v, ok := read("", "cpu.max"); ok {
			quota, period, _ := strings.Cut(v, " ")
			if quota != "max" {
				l.CPUQuota, _ = strconv.ParseInt(quota, 10, 64)
				l.CPUPeriod, _ = strconv.ParseUint(period, 10, 64)
			}
		}
	} else {
		if v, ok := read("memory", "memory.limit_in_bytes"); ok {
			if n, err := strconv.ParseInt(v, 10, 64); err == nil && n < unlimitedMemory {
				l.MemoryBytes = n
			}
		}
		if v, ok := read("cpu", "cpu.cfs_quota_us"); ok && v != "-1" {
			l.CPUQuota, _ = strconv.ParseInt(v, 10, 64)
			if p, ok := read("cpu", "cpu.cfs_period_us"); ok {
				l.CPUPeriod, _ = strconv.ParseUint(p, 10, 64)
			}
		}
	}
	if v, ok := read("pids", "pids.max"); ok && v != "max" {
		l.PidsMax, _ = strconv.ParseInt(v, 10, 64)
	}
	if v, ok := read("cpuset", "cpuset.cpus"); ok {
		l.Cpuset = v
	}
	return l, nil
}

// removeCgroupParent removes the cgroup directories that hold the
// containers' cgroups (the parent and each ancestor under the hierarchy's
// root), where they are empty. Leaving them costs little, but a host
// should not keep directories of an engine that has nothing running.
func (m *Manager) removeCgroupParent() {
	c := m.cgroupConfig("") // the hierarchy; the path is not used
	var roots []string
	if c.V2 {
		roots = []string{c.Root}
	} else {
		roots, _ = filepath.Glob(filepath.Join(c.Root, "*"))
	}
	for _, root := range roots {
		for p := m.cgroupParent; p != "/" && p != "." && p != ""; p = filepath.Dir(p) {
			// A systemd unit's cgroup is systemd's to remove.
			if ext := filepath.Ext(p); ext == ".slice" || ext == ".scope" || ext == ".service" {
				break
			}
			// rmdir fails on a cgroup with children or processes: then the
			// parent is in use, and so is every ancestor.
			if err := os.Remove(filepath.Join(root, p)); err != nil {
				break
			}
		}
	}
}
