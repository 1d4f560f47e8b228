package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	securejoin "github.com/cyphar/filepath-securejoin"
	"golang.org/x/sys/unix"

	"github.com/stack-dev/stack/api"
	"github.com/stack-dev/stack/internal/archive"
	"github.com/stack-dev/stack/internal/errdefs"
	"github.com/stack-dev/stack/internal/ident"
	"github.com/stack-dev/stack/runtime"
)

// One container's processes, resource usage and files: docker top, stats
// and cp.

// TopContainer lists the processes of a running container, as ps -ef.
func (d *Daemon) TopContainer(ctx context.Context, ref string) (api.ContainerTop, error) {
	r, err := d.findContainer(ref)
	if err != nil {
		return api.ContainerTop{}, err
	}
	_, rt, err := d.engines()
	if err != nil {
		return api.ContainerTop{}, err
	}
	if st, err := rt.State(r.ID); err != nil || st.Status != runtime.Running && st.Status != runtime.Paused {
		return api.ContainerTop{}, fmt.Errorf("container %s is not running: %w", r.Name, errdefs.ErrFailedPrecondition)
	}
	pids, err := rt.Pids(r.ID)
	if err != nil {
		return api.ContainerTop{}, fmt.Errorf("top %s: %w", r.Name, err)
	}
	clock := runtime.ReadClock()
	users := map[string]string{}
	t := api.ContainerTop{Name: r.Name, Service: r.Service, Titles: topTitles, Processes: [][]string{}}
	for _, pid := range pids {
		p, err := runtime.ReadProcess(pid)
		if err != nil {
			continue // exited since the cgroup was read
		}
		t.Processes = append(t.Processes, psRow(p, clock, users))
	}
	return t, nil
}

// StatsSample is one reading of a container's resource usage: docker
// stats shows the difference of two.
type StatsSample struct {
	Read time.Time
	// CPUUsage is the container's CPU time; SystemCPU the host's, both
	// since boot; OnlineCPUs the CPUs the host has.
	CPUUsage, SystemCPU time.Duration
	OnlineCPUs          int
	// MemoryUsage and MemoryLimit are bytes; the limit is the host's
	// memory when the container has none.
	MemoryUsage, MemoryLimit uint64
	Pids, PidsLimit          uint64
	// Networks are the bytes and packets of each interface (loopback
	// left out).
	Networks map[string]NetStats
}

// NetStats are one interface's counters.
type NetStats = runtime.NetCounters

// ContainerStats reads the resource usage of a running container.
func (d *Daemon) ContainerStats(ctx context.Context, ref string) (StatsSample, error) {
	r, err := d.findContainer(ref)
	if err != nil {
		return StatsSample{}, err
	}
	_, rt, err := d.engines()
	if err != nil {
		return StatsSample{}, err
	}
	st, err := rt.State(r.ID)
	if err != nil || st.Status != runtime.Running && st.Status != runtime.Paused {
		return StatsSample{Read: time.Now()}, nil // docker shows zeros for a stopped container
	}
	s, err := rt.Stats(r.ID)
	if err != nil {
		return StatsSample{}, fmt.Errorf("stats %s: %w", r.Name, err)
	}
	out := StatsSample{Read: time.Now(), CPUUsage: s.CPUUsage, SystemCPU: runtime.SystemCPU(), OnlineCPUs: onlineCPUs(),
		MemoryUsage: s.MemoryUsage, MemoryLimit: s.MemoryLimit, Pids: s.Pids, PidsLimit: s.PidsLimit}
	var si unix.Sysinfo_t
	if unix.Sysinfo(&si) == nil {
		if host := uint64(si.Totalram) * uint64(si.Unit); out.MemoryLimit == 0 || out.MemoryLimit > host {
			out.MemoryLimit = host
		}
	}
	if st.Pid > 0 {
		out.Networks, _ = runtime.NetDevices(st.Pid)
	}
	return out, nil
}

// onlineCPUs counts the CPUs the scheduler may use.
func onlineCPUs() int {
	var set unix.CPUSet
	if unix.SchedGetaffinity(0, &set) == nil {
		return set.Count()
	}
	return 1
}

// PathStat describes a file in a container, as docker's
// X-Docker-Container-Path-Stat.
type PathStat struct {
	Name       string
	Size       int64
	Mode       fs.FileMode
	Mtime      time.Time
	LinkTarget string
}

// containerRoot is the directory a container's files are seen through
// for a path: /proc/PID/root of its init while it runs, so its volumes
// and binds are there as it sees them; else the source of the mount the
// path is under, or its root filesystem.
func (d *Daemon) containerRoot(r *record, p string) (root, rel string, err error) {
	if !path.IsAbs(p) {
		return "", "", fmt.Errorf("path %s: want an absolute path in the container: %w", ident.Quote(p), errdefs.ErrInvalidArgument)
	}
	p = path.Clean(p)
	_, rt, err := d.engines()
	if err != nil {
		return "", "", err
	}
	if st, err := rt.State(r.ID); err == nil && st.Status == runtime.Running && st.Pid > 0 {
		return "/proc/" + strconv.Itoa(st.Pid) + "/root", p, nil
	}
	root, rel = r.Rootfs, p
	best := ""
	if r.Spec != nil {
		for _, m := range r.Spec.Mounts {
			if m.Type != "bind" || len(m.Destination) <= len(best) {
				continue
			}
			if p == m.Destination || strings.HasPrefix(p, strings.TrimSuffix(m.Destination, "/")+"/") {
				best, root, rel = m.Destination, m.Source, "/"+strings.TrimPrefix(p, m.Destination)
			}
		}
	}
	if root == "" {
		return "", "", fmt.Errorf("container %s has no root filesystem: %w", r.Name, errdefs.ErrFailedPrecondition)
	}
	return root, rel, nil
}

// resolveContainerPath returns where path p of container ref is on the
// host, the symbolic links on its way followed inside the container.
func (d *Daemon) resolveContainerPath(ref, p string) (*record, string, error) {
	r, err := d.findContainer(ref)
	if err != nil {
		return nil, "", err
	}
	root, rel, err := d.containerRoot(r, p)
	if err != nil {
		return nil, "", err
	}
	// The last element is not followed: a link is copied as a link.
	dir, base := path.Split(rel)
	parent, err := securejoin.SecureJoin(root, dir)
	if err != nil {
		return nil, "", fmt.Errorf("%s:%s: %w", r.Name, p, err)
	}
	if base == "" {
		return r, parent, nil
	}
	return r, filepath.Join(parent, base), nil
}

// StatContainerPath describes the file at path p in a container.
func (d *Daemon) StatContainerPath(ctx context.Context, ref, p string) (PathStat, error) {
	r, host, err := d.resolveContainerPath(ref, p)
	if err != nil {
		return PathStat{}, err
	}
	fi, err := os.Lstat(host)
	if err != nil {
		return PathStat{}, containerPathError(r, p, err)
	}
	st := PathStat{Name: path.Base(p), Size: fi.Size(), Mode: fi.Mode(), Mtime: fi.ModTime()}
	if fi.Mode()&fs.ModeSymlink != 0 {
		st.LinkTarget, _ = os.Readlink(host)
	}
	return st, nil
}

func containerPathError(r *record, p string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("could not find the file %s in container %s: %w", p, r.Name, errdefs.ErrNotFound)
	}
	return fmt.Errorf("%s:%s: %w", r.Name, p, err)
}

// ArchiveContainerPath writes the file or tree at path p of a container
// to w as a tar stream whose top entry is named after p's last element.
// It fails before writing anything when p does not exist.
func (d *Daemon) ArchiveContainerPath(ctx context.Context, ref, p string, w io.Writer) error {
	r, host, err := d.resolveContainerPath(ref, p)
	if err != nil {
		return err
	}
	if _, err := os.Lstat(host); err != nil {
		return containerPathError(r, p, err)
	}
	name := path.Base(path.Clean(p))
	if name == "/" {
		name = "."
	}
	return archive.Tar(w, host, name, false)
}

// ExtractToContainer unpacks the tar stream tr into the directory at path
// p of a container. With keepOwner the files get the owners the stream
// names; without, root's (the container's default user).
func (d *Daemon) ExtractToContainer(ctx context.Context, ref, p string, tr io.Reader, keepOwner bool) error {
	r, host, err := d.resolveContainerPath(ref, p)
	if err != nil {
		return err
	}
	fi, err := os.Stat(host)
	if err != nil {
		return containerPathError(r, p, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s:%s is not a directory: %w", r.Name, p, errdefs.ErrInvalidArgument)
	}
	if err := archive.Untar(tr, host, archive.Options{KeepOwner: keepOwner}); err != nil {
		return fmt.Errorf("copy to %s:%s: %w", r.Name, p, err)
	}
	return nil
}
