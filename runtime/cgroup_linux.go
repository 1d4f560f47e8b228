//go:build !stackinit && !stackdaemon

// The shim's side of a container's cgroup: its creation with the
// container's limits (resources translated for v1 and v2, device rules,
// an eBPF device filter on v2), through containerd/cgroups. Left out of
// stack-daemon (cgroupfs_linux.go says why).

package runtime

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/containerd/cgroups/v3/cgroup1"
	"github.com/containerd/cgroups/v3/cgroup2"
	"github.com/opencontainers/runtime-spec/specs-go"
)

// v1Resources adapts spec resources for cgroup1: Docker's device rules when
// the spec has none, and no swap limit where the kernel does not account
// swap (Docker ignores it there too, with a warning).
func v1Resources(r *specs.LinuxResources, memswSupported bool) *specs.LinuxResources {
	var out specs.LinuxResources
	if r != nil {
		out = *r
	}
	if len(out.Devices) == 0 {
		out.Devices = DefaultDeviceRules()
	}
	if m := out.Memory; m != nil && m.Swap != nil && !memswSupported {
		mem := *m
		mem.Swap = nil
		out.Memory = &mem
	}
	if b := out.BlockIO; b != nil && (b.Weight != nil || b.LeafWeight != nil) {
		// cgroup1 writes blkio.weight, which only CFQ provided; the
		// weight is written by setBlkioWeight instead.
		io := *b
		io.Weight, io.LeafWeight = nil, nil
		out.BlockIO = &io
	}
	return &out
}

// setIOWeight writes a blkio-scale weight (10-1000) to a v2 cgroup:
// io.bfq.weight takes it as is, io.weight (the cost model, 1-10000) takes
// it rescaled as runc does. Without either file the weight is dropped.
func setIOWeight(dir string, weight uint16) error {
	if err := writeIfExists(filepath.Join(dir, "io.bfq.weight"), strconv.Itoa(int(weight))); err != errNoFile {
		return err
	}
	scaled := 1 + (int(weight)-10)*9999/990
	if err := writeIfExists(filepath.Join(dir, "io.weight"), "default "+strconv.Itoa(scaled)); err != errNoFile {
		return err
	}
	return nil
}

// setBlkioWeight writes a v1 blkio weight where the kernel has a file for
// it: blkio.weight (CFQ, before 5.0) or blkio.bfq.weight (BFQ). Without
// either (no proportional I/O scheduler) the weight has no effect and is
// dropped, as Docker does with a warning.
func setBlkioWeight(dir string, weight uint16) error {
	for _, name := range []string{"blkio.weight", "blkio.bfq.weight"} {
		if err := writeIfExists(filepath.Join(dir, name), strconv.Itoa(int(weight))); err != errNoFile {
			return err
		}
	}
	return nil
}

// v2Resources translates spec resources (written in v1 terms) into
// cgroup2 values: shares become cpu.weight, quota/period cpu.max,
// memory+swap becomes memory.swap.max (swap only), blkio weight io.weight
// via BFQ, and -1 ("unlimited" in the spec) becomes the kernel's default
// "max" rather than an invalid write.
func v2Resources(r *specs.LinuxResources) *cgroup2.Resources {
	if r == nil {
		r = &specs.LinuxResources{}
	}
	out := cgroup2.ToResources(r)
	if m := r.Memory; m != nil {
		mem := &cgroup2.Memory{}
		if m.Limit != nil && *m.Limit > 0 {
			mem.Max = m.Limit
		}
		if m.Reservation != nil && *m.Reservation > 0 {
			mem.Low = m.Reservation
		}
		if m.Swap != nil && *m.Swap >= 0 && mem.Max != nil && *m.Swap >= *mem.Max {
			swap := *m.Swap - *mem.Max
			mem.Swap = &swap
		}
		out.Memory = mem
	}
	if c := r.CPU; c != nil && out.CPU != nil {
		quota := c.Quota
		if quota != nil && *quota <= 0 {
			quota = nil
		}
		if quota != nil || c.Period != nil {
			out.CPU.Max = cgroup2.NewCPUMax(quota, c.Period)
		}
	}
	if out.IO != nil {
		// The weight is written by setIOWeight, which picks the file the
		// kernel has (cgroup2.ToResources would write io.bfq.weight only,
		// rescaled to io.weight's range in a uint16 that overflows).
		out.IO.BFQ.Weight = 0
	}
	devices := r.Devices
	if len(devices) == 0 {
		devices = DefaultDeviceRules()
	}
	out.Devices = make([]specs.LinuxDeviceCgroup, len(devices))
	for i, d := range devices {
		// The eBPF filter generator wants what the spec leaves implicit:
		// type "a" for all, -1 for any major or minor.
		if d.Type == "" {
			d.Type = "a"
		}
		if d.Major == nil {
			d.Major = int64p(-1)
		}
		if d.Minor == nil {
			d.Minor = int64p(-1)
		}
		out.Devices[i] = d
	}
	return out
}

func createCgroup(c cgroupConfig, r *specs.LinuxResources) (cgroup, error) {
	if c.V2 {
		m, err := cgroup2.NewManager(c.Root, c.Path, v2Resources(r))
		if err != nil {
			return nil, fmt.Errorf("create cgroup %s: %w", c.Path, err)
		}
		if r != nil && r.BlockIO != nil && r.BlockIO.Weight != nil {
			if err := setIOWeight(filepath.Join(c.Root, c.Path), *r.BlockIO.Weight); err != nil {
				m.Delete()
				return nil, fmt.Errorf("create cgroup %s: io weight: %w", c.Path, err)
			}
		}
		files, err := openCgroupFiles(c)
		if err != nil {
			m.Delete()
			return nil, fmt.Errorf("create cgroup %s: %w", c.Path, err)
		}
		return files, nil
	}
	_, err := os.Stat(filepath.Join(c.Root, "memory", "memory.memsw.limit_in_bytes"))
	cg, err := cgroup1.New(cgroup1.StaticPath(c.Path), v1Resources(r, err == nil), v1Hierarchy(c.Root))
	if err != nil {
		// cgroup1.New leaves the controllers it managed to create.
		if l, lerr := cgroup1.Load(cgroup1.StaticPath(c.Path), v1Hierarchy(c.Root)); lerr == nil {
			l.Delete()
		}
		return nil, fmt.Errorf("create cgroup %s: %w", c.Path, err)
	}
	if r != nil && r.BlockIO != nil && r.BlockIO.Weight != nil {
		if err := setBlkioWeight(filepath.Join(c.Root, "blkio", c.Path), *r.BlockIO.Weight); err != nil {
			cg.Delete()
			return nil, fmt.Errorf("create cgroup %s: blkio weight: %w", c.Path, err)
		}
	}
	files, err := openCgroupFiles(c)
	if err != nil {
		cg.Delete()
		return nil, fmt.Errorf("create cgroup %s: %w", c.Path, err)
	}
	return &cgroupV1{cg: cg, cgroupFiles: files}, nil
}

// v1Hierarchy lists the v1 controllers mounted under root. It replaces
// cgroup1.Default so that tests can point it at a fixture directory, and
// leaves out the named systemd hierarchy, which limits nothing.
func v1Hierarchy(root string) cgroup1.InitOpts {
	return cgroup1.WithHierarchy(func() ([]cgroup1.Subsystem, error) {
		all := []cgroup1.Subsystem{
			cgroup1.NewFreezer(root), cgroup1.NewPids(root), cgroup1.NewCpuset(root),
			cgroup1.NewCpu(root), cgroup1.NewCpuacct(root), cgroup1.NewMemory(root),
			cgroup1.NewBlkio(root), cgroup1.NewDevices(root),
		}
		var out []cgroup1.Subsystem
		for _, s := range all {
			if _, err := os.Stat(filepath.Join(root, string(s.Name()))); err == nil {
				out = append(out, s)
			}
		}
		return out, nil
	})
}

// cgroupV1 is a v1 cgroup the library created: its hierarchies, which the
// shim's thread enters (enterThread); the rest is cgroupFiles'. On v2 the
// shim has the cgroupFiles alone.
type cgroupV1 struct {
	cg cgroup1.Cgroup
	*cgroupFiles
}

// enterCgroupThread is how a shim's thread enters cg before it clones the
// container's init: on v1, cgroupV1.enterThread; nothing on v2, where the
// clone goes into the cgroup itself (CLONE_INTO_CGROUP).
func enterCgroupThread(cg cgroup) func() error {
	if v1, ok := cg.(*cgroupV1); ok {
		return v1.enterThread
	}
	return nil
}

// enterThread moves the calling thread, and only it, into the cgroup in
// every hierarchy, so that a process it clones is born there: v1 has no
// CLONE_INTO_CGROUP. The thread must be locked and never unlocked.
//
// Why not move the process after the clone: moving a process (a pid written to
// cgroup.procs) write-locks the kernel's global cgroup_threadgroup_rwsem,
// and taking it waits for an RCU grace period: 10-15 ms on this project's
// 2-core VM unless another migration ran just before. A thread moving
// itself ("0" written to tasks) cannot exit or exec meanwhile, so the
// kernel ("cgroup: Optimize single thread migration") skips that lock:
// 0.35 ms for all eight hierarchies here.
//
// Only for a process whose every member may be killed with the container
// (the shim, which owns it): while the thread is there, the process is
// listed in the cgroup's cgroup.procs. Exec, which runs in the caller,
// still moves its child after the clone.
func (g *cgroupV1) enterThread() error {
	for _, s := range g.cg.Subsystems() {
		p := filepath.Join(g.dir(string(s.Name())), "tasks")
		if err := writeIfExists(p, "0"); err != nil && err != errNoFile {
			return fmt.Errorf("enter cgroup %s: %w", p, err)
		}
	}
	return nil
}
