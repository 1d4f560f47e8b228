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
)

// The daemon's side of a container's cgroup is its files, read and
// written here as runc does: whether it is frozen, which processes it
// holds, how many the OOM killer took, an exec'd process joining it, its
// removal. What needs more (its creation with the container's limits,
// freezing and thawing it, its statistics) is done by the shim, which owns
// the cgroup, through containerd/cgroups (cgroup_linux.go); the daemon
// asks the shim for it. That keeps the library, and what it links
// (protobuf descriptors, eBPF, D-Bus), out of the resident daemon, built
// with -tags stackdaemon: 1 MiB of its idle RSS.

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

// HostCgroupMode reads it once, as containerd/cgroups' Mode does: by the
// file system type of /sys/fs/cgroup and of /sys/fs/cgroup/unified.
var HostCgroupMode = sync.OnceValue(func() CgroupMode {
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
	Freeze() error
	Thaw() error
	Stats() (Stats, error)
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

// Frozen reports whether the cgroup is frozen (paused).
func (g *cgroupFiles) Frozen() bool {
	if g.c.V2 {
		b, _ := os.ReadFile(filepath.Join(g.dir(""), "cgroup.freeze"))
		return strings.TrimSpace(string(b)) == "1"
	}
	b, _ := os.ReadFile(filepath.Join(g.dir("freezer"), "freezer.state"))
	return strings.TrimSpace(string(b)) == "FROZEN"
}

// Thaw asks the kernel to thaw the cgroup, without waiting for it: for a
// cgroup about to be killed, whose SIGKILLs a frozen process would only
// act on once thawed.
func (g *cgroupFiles) Thaw() error {
	var err error
	if g.c.V2 {
		err = writeIfExists(filepath.Join(g.dir(""), "cgroup.freeze"), "0")
	} else {
		err = writeIfExists(filepath.Join(g.dir("freezer"), "freezer.state"), "THAWED")
	}
	if err == errNoFile {
		return nil
	}
	return err
}

// Add moves pid into the cgroup, in every hierarchy on v1.
func (g *cgroupFiles) Add(pid int) error {
	for _, dir := range g.dirs {
		if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0); err != nil {
			return fmt.Errorf("add process %d to cgroup %s: %w", pid, dir, err)
		}
	}
	return nil
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
