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
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/stack-dev/stack/internal/errdefs"
)

// What the daemon does with a container's cgroup is done here with the
// cgroup's own files, as runc does it: freezing and thawing it (a write,
// then the kernel's word that it is done), whether it is frozen, which
// processes it holds, how many the OOM killer took, its CPU, memory and
// pids counts, an exec'd process joining it, its removal. Only its
// creation with the container's limits (resources translated for v1 and
// v2, device rules, the eBPF device filter) goes through containerd/cgroups,
// in the shim (cgroup_linux.go). That keeps the library, and what it links
// (protobuf descriptors of its statistics, eBPF, D-Bus), out of the
// resident daemon, stack-daemon, built with -tags stackdaemon: 1 MiB of
// its idle RSS. A statistics sample reads five files instead of every
// controller's statistics.

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
	return cgroupConfig{V2: HostCgroupMode() == CgroupUnified, Root: "/sys/fs/cgroup", Path: path}
}

// CgroupMode is how the host mounts its cgroups.
type CgroupMode int

const (
	CgroupUnavailable CgroupMode = iota
	CgroupLegacy                 // v1 controllers only
	CgroupHybrid                 // v1 controllers, and a cgroup2 at /sys/fs/cgroup/unified
	CgroupUnified                // cgroup2 alone at /sys/fs/cgroup
)

// HostCgroupMode is how this host mounts its cgroups, read once.
func HostCgroupMode() CgroupMode { return hostCgroupMode() }

// hostCgroupMode reads it as containerd/cgroups' Mode does: by the file
// system type of /sys/fs/cgroup and of /sys/fs/cgroup/unified.
var hostCgroupMode = sync.OnceValue(func() CgroupMode {
	var st unix.Statfs_t
	if err := unix.Statfs("/sys/fs/cgroup", &st); err != nil {
		return CgroupUnavailable
	}
	if st.Type == unix.CGROUP2_SUPER_MAGIC {
		return CgroupUnified
	}
	if err := unix.Statfs("/sys/fs/cgroup/unified", &st); err == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
		return CgroupHybrid
	}
	return CgroupLegacy
})

// cgroup is a container's cgroup as its shim has it, over v1 or v2
// (cgroup_linux.go).
type cgroup interface {
	// OOMKills counts the processes the OOM killer killed in the cgroup.
	OOMKills() uint64
	// Procs lists the processes in the cgroup.
	Procs() ([]int, error)
	// Delete removes the cgroup; it fails while processes remain.
	Delete() error
}

// v1Controllers are the v1 hierarchies a container's cgroup spans, those
// of them the host mounts. The named systemd hierarchy limits nothing and
// is left out.
var v1Controllers = []string{"freezer", "pids", "cpuset", "cpu", "cpuacct", "memory", "blkio", "devices"}

// cgroupFiles is a container's cgroup as the daemon sees it: its
// directory in each hierarchy (one on v2).
type cgroupFiles struct {
	c    cgroupConfig
	dirs []string
}

// openCgroupFiles finds the container's cgroup; an error wrapping
// fs.ErrNotExist says it has none (never made, or removed).
func openCgroupFiles(c cgroupConfig) (*cgroupFiles, error) {
	g := &cgroupFiles{c: c}
	if c.V2 {
		g.dirs = []string{filepath.Join(c.Root, c.Path)}
	} else {
		for _, name := range v1Controllers {
			g.dirs = append(g.dirs, filepath.Join(c.Root, name, c.Path))
		}
	}
	g.dirs = slices.DeleteFunc(g.dirs, func(dir string) bool {
		fi, err := os.Stat(dir)
		return err != nil || !fi.IsDir()
	})
	if len(g.dirs) == 0 {
		return nil, fmt.Errorf("cgroup %s: %w", c.Path, fs.ErrNotExist)
	}
	return g, nil
}

// dir is the cgroup's directory in the v1 hierarchy named, or its one
// directory on v2.
func (g *cgroupFiles) dir(controller string) string {
	if g.c.V2 {
		return filepath.Join(g.c.Root, g.c.Path)
	}
	return filepath.Join(g.c.Root, controller, g.c.Path)
}

// Frozen reports whether the cgroup is frozen (paused). It reads one
// file and needs only c, not dirs; a cgroup that is gone is not frozen.
func (g *cgroupFiles) Frozen() bool {
	if g.c.V2 {
		b, _ := os.ReadFile(filepath.Join(g.dir(""), "cgroup.freeze"))
		return strings.TrimSpace(string(b)) == "1"
	}
	b, _ := os.ReadFile(filepath.Join(g.dir("freezer"), "freezer.state"))
	return strings.TrimSpace(string(b)) == "FROZEN"
}

// freezeTimeout bounds a freeze or a thaw: a cgroup with a process stuck
// in the kernel (uninterruptible I/O) can stay FREEZING. runc gives up
// after 10 s; a pause that does not happen is reported sooner.
const freezeTimeout = 5 * time.Second

// Freeze freezes every process of the cgroup and waits until the kernel
// says they are; one that does not freeze in time is thawed again and is
// an error, as with runc.
func (g *cgroupFiles) Freeze() error { return g.setFrozen(true) }

// Thaw thaws the cgroup and waits until the kernel says it is thawed. A
// cgroup without a freezer was never frozen.
func (g *cgroupFiles) Thaw() error { return g.setFrozen(false) }

func (g *cgroupFiles) setFrozen(frozen bool) error {
	op := "thaw"
	if frozen {
		op = "freeze"
	}
	file, value := filepath.Join(g.dir("freezer"), "freezer.state"), "THAWED"
	switch {
	case g.c.V2 && frozen:
		file, value = filepath.Join(g.dir(""), "cgroup.freeze"), "1"
	case g.c.V2:
		file, value = filepath.Join(g.dir(""), "cgroup.freeze"), "0"
	case frozen:
		value = "FROZEN"
	}
	switch err := writeIfExists(file, value); {
	case err == errNoFile && !frozen:
		return nil
	case err == errNoFile:
		return fmt.Errorf("freeze cgroup %s: the host has no freezer for it", g.c.Path)
	case err != nil:
		return fmt.Errorf("%s cgroup %s: %w", op, g.c.Path, err)
	}
	deadline := time.Now().Add(freezeTimeout)
	for delay := 100 * time.Microsecond; !g.is(frozen); delay = min(2*delay, 10*time.Millisecond) {
		if time.Now().After(deadline) {
			if frozen {
				g.setFrozen(false)
			}
			return fmt.Errorf("%s cgroup %s: not done after %v: %w", op, g.c.Path, freezeTimeout, errdefs.ErrUnavailable)
		}
		time.Sleep(delay)
	}
	return nil
}

// is reports whether the kernel has the cgroup frozen (frozen) or
// thawed: v1's freezer.state (FREEZING is neither), v2's cgroup.events.
func (g *cgroupFiles) is(frozen bool) bool {
	if g.c.V2 {
		b, err := os.ReadFile(filepath.Join(g.dir(""), "cgroup.events"))
		want := uint64(0)
		if frozen {
			want = 1
		}
		return err == nil && keyedUint(b, "frozen") == want
	}
	b, _ := os.ReadFile(filepath.Join(g.dir("freezer"), "freezer.state"))
	want := "THAWED"
	if frozen {
		want = "FROZEN"
	}
	return strings.TrimSpace(string(b)) == want
}

// Add moves pid into the cgroup, in every hierarchy on v1. The kernel
// refuses (EINVAL) to move a process while one of its threads is still
// being created, which a Go program starting up does; that is tried again
// for 150 ms, as containerd/cgroups and runc do.
func (g *cgroupFiles) Add(pid int) error {
	for _, dir := range g.dirs {
		var err error
		for try := 0; try < 5; try++ {
			if try > 0 {
				time.Sleep(30 * time.Millisecond)
			}
			err = os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0)
			if !errors.Is(err, unix.EINVAL) {
				break
			}
		}
		if err != nil {
			return fmt.Errorf("add process %d to cgroup %s: %w", pid, dir, err)
		}
	}
	return nil
}

// Stats reads the cgroup's CPU time, memory and process counts: the five
// files docker stats needs (containerd/cgroups' Stat reads every
// controller's statistics for them). Unlimited memory is the largest
// uint64, unlimited pids 0, as the library has them; a file the host
// lacks counts 0.
func (g *cgroupFiles) Stats() (Stats, error) {
	var s Stats
	const noLimit, unlimitedMemory = 0, ^uint64(0)
	read := func(controller, name string, into *uint64, unlimited uint64) error {
		b, err := os.ReadFile(filepath.Join(g.dir(controller), name))
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("stats of cgroup %s: %w", g.c.Path, err)
		}
		v := strings.TrimSpace(string(b))
		if v == "max" {
			*into = unlimited
			return nil
		}
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return fmt.Errorf("stats of cgroup %s: %s: %w", g.c.Path, name, err)
		}
		*into = n
		return nil
	}
	var cpu uint64
	var errs []error
	if g.c.V2 {
		b, _ := os.ReadFile(filepath.Join(g.dir(""), "cpu.stat"))
		s.CPUUsage = time.Duration(keyedUint(b, "usage_usec")) * time.Microsecond
		errs = append(errs,
			read("", "memory.current", &s.MemoryUsage, 0), read("", "memory.max", &s.MemoryLimit, unlimitedMemory),
			read("", "pids.current", &s.Pids, 0), read("", "pids.max", &s.PidsLimit, noLimit))
	} else {
		errs = append(errs, read("cpuacct", "cpuacct.usage", &cpu, 0),
			read("memory", "memory.usage_in_bytes", &s.MemoryUsage, 0),
			read("memory", "memory.limit_in_bytes", &s.MemoryLimit, unlimitedMemory),
			read("pids", "pids.current", &s.Pids, 0), read("pids", "pids.max", &s.PidsLimit, noLimit))
		s.CPUUsage = time.Duration(cpu)
	}
	return s, errors.Join(errs...)
}

// OOMKills counts the processes the OOM killer killed in the cgroup.
func (g *cgroupFiles) OOMKills() uint64 {
	if g.c.V2 {
		return readKeyedUint(filepath.Join(g.dir(""), "memory.events"), "oom_kill")
	}
	return readKeyedUint(filepath.Join(g.dir("memory"), "memory.oom_control"), "oom_kill")
}

// Procs lists the processes in the cgroup. On v1 it reads the pids
// hierarchy, and when that lists nothing, every other: a cgroup whose
// creation and removal crossed (a daemon killed during an up, the next
// one removing the container meanwhile) may hold a process in some
// hierarchies only.
func (g *cgroupFiles) Procs() ([]int, error) {
	if g.c.V2 {
		return readProcs(filepath.Join(g.dir(""), "cgroup.procs"))
	}
	pids, err := readProcs(filepath.Join(g.dir("pids"), "cgroup.procs"))
	if err != nil || len(pids) > 0 {
		return pids, err
	}
	for _, dir := range g.dirs {
		if dir == g.dir("pids") {
			continue
		}
		more, err := readProcs(filepath.Join(dir, "cgroup.procs"))
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
// 10, 20, 40, 80 and 160 ms. containerd/cgroups' v1 Delete first walks
// every file of every hierarchy (an lstat each, ~40 per directory) and
// reads their processes: 2.4 of the 2.8 ms a removal took here
// (BenchmarkRootCgroupRemoval), for what killCgroup has just made sure of.
func (g *cgroupFiles) Delete() error {
	var errs []error
	for _, dir := range g.dirs {
		if err := removeCgroupDir(dir); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
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

// removeCgroupDir removes a cgroup directory and the cgroups under it. A
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

// readKeyedUint reads "key value" lines and returns key's value, 0 when
// the file or the key is missing.
func readKeyedUint(path, key string) uint64 {
	b, _ := os.ReadFile(path)
	return keyedUint(b, key)
}

func keyedUint(b []byte, key string) uint64 {
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
// thread that cloned an init from inside g (enterCgroupThread) lists
// the shim in g until that thread has exited, which it does once its
// goroutine ends, a moment after the clone returned. A clone that failed
// (a missing init binary) is cleaned up in that moment, and killing the
// shim then would take its group's other containers with it.
func killCgroup(g interface{ Procs() ([]int, error) }, timeout time.Duration, reap func(pid int)) error {
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
