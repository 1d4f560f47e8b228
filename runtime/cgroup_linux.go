//go:build !stackinit

package runtime

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/cgroups/v3"
	"github.com/containerd/cgroups/v3/cgroup1"
	"github.com/containerd/cgroups/v3/cgroup2"
	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// cgroupConfig locates one container's cgroup.
type cgroupConfig struct {
	V2 bool
	// Root is where the hierarchies are mounted: the cgroup2 mount on v2,
	// the directory holding one mount per controller on v1.
	Root string
	// Path is the cgroup relative to each hierarchy's root, "/stack/<id>".
	Path string
}

// hostCgroupConfig picks the API for this host: v2 only on a pure unified
// hierarchy; hybrid hosts (v1 controllers plus an empty-ish cgroup2 at
// /sys/fs/cgroup/unified) are driven through v1, as runc and containerd do.
func hostCgroupConfig(path string) cgroupConfig {
	return cgroupConfig{V2: cgroups.Mode() == cgroups.Unified, Root: "/sys/fs/cgroup", Path: path}
}

// cgroup is the part of a container's cgroup the runtime uses, over v1 or
// v2.
type cgroup interface {
	// Add moves pid into the cgroup (every controller on v1).
	Add(pid int) error
	Freeze() error
	Thaw() error
	Frozen() bool
	Stats() (Stats, error)
	// OOMKills counts the processes the OOM killer killed in the cgroup.
	OOMKills() uint64
	// Procs lists the processes in the cgroup.
	Procs() ([]int, error)
	// Delete removes the cgroup; it fails while processes remain.
	Delete() error
}

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

var errNoFile = errors.New("no such cgroup file")

// writeIfExists writes value to an existing cgroup file, and returns
// errNoFile when there is none (never creating one).
func writeIfExists(path, value string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return errNoFile
	}
	if err != nil {
		return err
	}
	_, err = f.WriteString(value)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
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
		return &cgroupV2{m: m, dir: filepath.Join(c.Root, c.Path)}, nil
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
	return &cgroupV1{cg: cg, c: c}, nil
}

func loadCgroup(c cgroupConfig) (cgroup, error) {
	if c.V2 {
		m, err := cgroup2.Load(c.Path, cgroup2.WithMountpoint(c.Root))
		if err != nil {
			return nil, fmt.Errorf("load cgroup %s: %w", c.Path, err)
		}
		return &cgroupV2{m: m, dir: filepath.Join(c.Root, c.Path)}, nil
	}
	cg, err := cgroup1.Load(cgroup1.StaticPath(c.Path), v1Hierarchy(c.Root))
	if err != nil {
		return nil, fmt.Errorf("load cgroup %s: %w", c.Path, err)
	}
	return &cgroupV1{cg: cg, c: c}, nil
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

type cgroupV1 struct {
	cg cgroup1.Cgroup
	c  cgroupConfig
}

func (g *cgroupV1) Add(pid int) error {
	return g.cg.Add(cgroup1.Process{Pid: pid})
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
		p := filepath.Join(g.c.Root, string(s.Name()), g.c.Path, "tasks")
		if err := writeIfExists(p, "0"); err != nil && err != errNoFile {
			return fmt.Errorf("enter cgroup %s: %w", p, err)
		}
	}
	return nil
}
func (g *cgroupV1) Freeze() error { return g.cg.Freeze() }
func (g *cgroupV1) Thaw() error   { return g.cg.Thaw() }
func (g *cgroupV1) Frozen() bool  { return g.cg.State() == cgroup1.Frozen }

func (g *cgroupV1) Stats() (Stats, error) {
	m, err := g.cg.Stat(cgroup1.IgnoreNotExist)
	if err != nil {
		return Stats{}, err
	}
	var s Stats
	if m.CPU != nil && m.CPU.Usage != nil {
		s.CPUUsage = time.Duration(m.CPU.Usage.Total)
	}
	if m.Memory != nil && m.Memory.Usage != nil {
		s.MemoryUsage, s.MemoryLimit = m.Memory.Usage.Usage, m.Memory.Usage.Limit
	}
	if m.Pids != nil {
		s.Pids, s.PidsLimit = m.Pids.Current, m.Pids.Limit
	}
	return s, nil
}

func (g *cgroupV1) OOMKills() uint64 {
	return readKeyedUint(filepath.Join(g.c.Root, "memory", g.c.Path, "memory.oom_control"), "oom_kill")
}

// Procs reads the pids hierarchy, and when it lists nothing, every other:
// a cgroup whose creation and removal crossed (a daemon killed during an
// up, the next one removing the container meanwhile) may hold a process
// in some hierarchies only.
func (g *cgroupV1) Procs() ([]int, error) {
	pids, err := readProcs(filepath.Join(g.c.Root, "pids", g.c.Path, "cgroup.procs"))
	if err != nil || len(pids) > 0 {
		return pids, err
	}
	for _, s := range g.cg.Subsystems() {
		if s.Name() == cgroup1.Pids {
			continue
		}
		more, err := readProcs(filepath.Join(g.c.Root, string(s.Name()), g.c.Path, "cgroup.procs"))
		if err != nil {
			return nil, err
		}
		pids = append(pids, more...)
	}
	slices.Sort(pids)
	return slices.Compact(pids), nil
}

// Delete removes the cgroup's directory from every hierarchy, as runc
// does: an rmdir each, which the kernel refuses (EBUSY) while the cgroup
// holds a process or a cgroup of its own. The cgroups under it then go
// first; a cgroup that still lists a process is an error at once, and one
// that lists none (a process at the end of its exit) is tried again after
// 10, 20, 40, 80 and 160 ms. The library's Delete first walks every file
// of every hierarchy (an lstat each, ~40 per directory) and reads their
// processes: 2.4 of the 2.8 ms a removal took here
// (BenchmarkRootCgroupRemoval), for what killCgroup has just made sure of.
func (g *cgroupV1) Delete() error {
	var errs []error
	for _, s := range g.cg.Subsystems() {
		if err := removeCgroupDir(filepath.Join(g.c.Root, string(s.Name()), g.c.Path)); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// removeCgroupDir removes the v1 cgroup dir and the cgroups under it. A
// directory already gone (a hierarchy mounted with another, cpu and
// cpuacct, is reached twice) is not an error.
func removeCgroupDir(dir string) error {
	delay := 10 * time.Millisecond
	for try := 0; ; try++ {
		err := unix.Rmdir(dir)
		switch {
		case err == nil || errors.Is(err, unix.ENOENT):
			return nil
		case errors.Is(err, unix.EINTR):
			continue
		case !errors.Is(err, unix.EBUSY) || try == 5:
			return fmt.Errorf("remove cgroup %s: %w", dir, err)
		}
		ents, err := os.ReadDir(dir)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("remove cgroup %s: %w", dir, err)
		}
		children := false
		for _, e := range ents {
			if e.IsDir() {
				children = true
				if err := removeCgroupDir(filepath.Join(dir, e.Name())); err != nil {
					return err
				}
			}
		}
		if children {
			continue
		}
		if pids, _ := readProcs(filepath.Join(dir, "cgroup.procs")); len(pids) > 0 {
			return fmt.Errorf("remove cgroup %s: it holds %d processes: %w", dir, len(pids), unix.EBUSY)
		}
		time.Sleep(delay)
		delay *= 2
	}
}

type cgroupV2 struct {
	m   *cgroup2.Manager
	dir string
}

func (g *cgroupV2) Add(pid int) error { return g.m.AddProc(uint64(pid)) }
func (g *cgroupV2) Freeze() error     { return g.m.Freeze() }
func (g *cgroupV2) Thaw() error       { return g.m.Thaw() }
func (g *cgroupV2) Frozen() bool {
	b, _ := os.ReadFile(filepath.Join(g.dir, "cgroup.freeze"))
	return strings.TrimSpace(string(b)) == "1"
}

func (g *cgroupV2) Stats() (Stats, error) {
	m, err := g.m.Stat()
	if err != nil {
		return Stats{}, err
	}
	var s Stats
	if m.CPU != nil {
		s.CPUUsage = time.Duration(m.CPU.UsageUsec) * time.Microsecond
	}
	if m.Memory != nil {
		s.MemoryUsage, s.MemoryLimit = m.Memory.Usage, m.Memory.UsageLimit
	}
	if m.Pids != nil {
		s.Pids, s.PidsLimit = m.Pids.Current, m.Pids.Limit
	}
	return s, nil
}

func (g *cgroupV2) OOMKills() uint64 {
	return readKeyedUint(filepath.Join(g.dir, "memory.events"), "oom_kill")
}

func (g *cgroupV2) Procs() ([]int, error) { return readProcs(filepath.Join(g.dir, "cgroup.procs")) }
func (g *cgroupV2) Delete() error         { return g.m.Delete() }

// readKeyedUint reads "key value" lines and returns key's value, 0 when
// the file or the key is missing.
func readKeyedUint(path, key string) uint64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if ok && k == key {
			n, _ := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return 0
}

func readProcs(path string) ([]int, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		if n, err := strconv.Atoi(f); err == nil {
			pids = append(pids, n)
		}
	}
	slices.Sort(pids)
	return pids, nil
}

// killCgroup SIGKILLs every process of g until none is left, or fails
// after timeout. reap, when not nil, is given each pid it sees: a process
// killed here that is the caller's child stays in the cgroup as a zombie
// until its parent collects it.
//
// The caller itself is never killed, only waited for: on v1 a shim's
// thread that cloned an init from inside g (cgroupV1.enterThread) lists
// the shim in g until that thread has exited, which it does once its
// goroutine ends, a moment after the clone returned. A clone that failed
// (a missing init binary) is cleaned up in that moment, and killing the
// shim then would take its group's other containers with it.
func killCgroup(g cgroup, timeout time.Duration, reap func(pid int)) error {
	self := os.Getpid()
	deadline := time.Now().Add(timeout)
	for {
		pids, err := g.Procs()
		if err != nil {
			return err
		}
		if len(pids) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("kill cgroup: %d processes left", len(pids))
		}
		for _, p := range pids {
			if p == self {
				continue
			}
			unix.Kill(p, unix.SIGKILL)
			if reap != nil {
				reap(p)
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
}
