package runtime

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/stack-dev/stack/internal/linux"
)

// mountOption maps an fstab-style option to the mount(2) flag it sets (or,
// with clear, clears). Options it does not know are file system data.
func mountOption(o string) (flag uintptr, clear, ok bool) {
	switch o {
	case "ro":
		return unix.MS_RDONLY, false, true
	case "rw":
		return unix.MS_RDONLY, true, true
	case "nosuid":
		return unix.MS_NOSUID, false, true
	case "suid":
		return unix.MS_NOSUID, true, true
	case "nodev":
		return unix.MS_NODEV, false, true
	case "dev":
		return unix.MS_NODEV, true, true
	case "noexec":
		return unix.MS_NOEXEC, false, true
	case "exec":
		return unix.MS_NOEXEC, true, true
	case "sync":
		return unix.MS_SYNCHRONOUS, false, true
	case "async":
		return unix.MS_SYNCHRONOUS, true, true
	case "dirsync":
		return unix.MS_DIRSYNC, false, true
	case "remount":
		return unix.MS_REMOUNT, false, true
	case "noatime":
		return unix.MS_NOATIME, false, true
	case "atime":
		return unix.MS_NOATIME, true, true
	case "nodiratime":
		return unix.MS_NODIRATIME, false, true
	case "diratime":
		return unix.MS_NODIRATIME, true, true
	case "relatime":
		return unix.MS_RELATIME, false, true
	case "norelatime":
		return unix.MS_RELATIME, true, true
	case "strictatime":
		return unix.MS_STRICTATIME, false, true
	case "nostrictatime":
		return unix.MS_STRICTATIME, true, true
	case "bind":
		return unix.MS_BIND, false, true
	case "rbind":
		return unix.MS_BIND | unix.MS_REC, false, true
	case "defaults":
		return 0, false, true
	}
	return 0, false, false
}

// propagationFlag maps a propagation option to its mount(2) flags.
func propagationFlag(o string) (uintptr, bool) {
	switch o {
	case "private":
		return unix.MS_PRIVATE, true
	case "rprivate":
		return unix.MS_PRIVATE | unix.MS_REC, true
	case "shared":
		return unix.MS_SHARED, true
	case "rshared":
		return unix.MS_SHARED | unix.MS_REC, true
	case "slave":
		return unix.MS_SLAVE, true
	case "rslave":
		return unix.MS_SLAVE | unix.MS_REC, true
	case "unbindable":
		return unix.MS_UNBINDABLE, true
	case "runbindable":
		return unix.MS_UNBINDABLE | unix.MS_REC, true
	}
	return 0, false
}

// parseMountOptions splits options into mount flags, propagation flags and
// the data string.
func parseMountOptions(options []string) (flags uintptr, propagation []uintptr, data string) {
	var extra []string
	for _, o := range options {
		if f, clear, ok := mountOption(o); ok {
			if clear {
				flags &^= f
			} else {
				flags |= f
			}
			continue
		}
		if p, ok := propagationFlag(o); ok {
			propagation = append(propagation, p)
			continue
		}
		extra = append(extra, o)
	}
	return flags, propagation, strings.Join(extra, ",")
}

// setupRootfs runs in the container's new mount namespace, before
// pivot_root: it makes every mount private, binds the rootfs onto itself
// (pivot_root needs a mount point), mounts spec.Mounts inside it and fills
// /dev.
func setupRootfs(cfg *initConfig) error {
	spec := cfg.Spec
	propagation := uintptr(unix.MS_REC | unix.MS_PRIVATE)
	if p, ok := propagationFlag(spec.Linux.RootfsPropagation); ok {
		propagation = p
	}
	// Nothing we mount from here on may propagate back to the host.
	if err := linux.Mount("", "/", "", propagation, ""); err != nil {
		return err
	}
	rootfs := cfg.Rootfs
	if err := linux.Mount(rootfs, rootfs, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return err
	}
	devIsTmpfs := false
	for _, m := range spec.Mounts {
		if err := mountEntry(rootfs, m, cfg); err != nil {
			return fmt.Errorf("mount %s: %w", m.Destination, err)
		}
		if filepath.Clean(m.Destination) == "/dev" && m.Type == "tmpfs" {
			devIsTmpfs = true
		}
	}
	if devIsTmpfs {
		if err := createDevices(rootfs, spec.Linux.Devices); err != nil {
			return err
		}
	}
	return nil
}

// mountEntry mounts m under rootfs. The destination is resolved with
// securejoin so a symlink in the image cannot point it outside rootfs.
func mountEntry(rootfs string, m specs.Mount, cfg *initConfig) error {
	dest, err := securejoin.SecureJoin(rootfs, m.Destination)
	if err != nil {
		return err
	}
	flags, propagation, data := parseMountOptions(m.Options)
	if m.Type == "bind" || flags&unix.MS_BIND != 0 {
		return mountBind(m.Source, dest, flags, propagation)
	}
	if m.Type == "cgroup" || m.Type == "cgroup2" {
		if !cfg.CgroupV2 {
			return mountCgroupV1(dest, flags, cfg.CgroupV1)
		}
		m.Type, m.Source = "cgroup2", "cgroup2"
	}
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return err
	}
	// MS_RDONLY goes into this very call, never into a later MS_REMOUNT
	// without MS_BIND: sysfs in a joined network namespace, cgroup2 and
	// cgroup v1 hierarchies return the host's superblock, and a plain
	// remount would turn the host's /sys or cgroup tree read-only. On a
	// new mount, MS_RDONLY only marks this mount (MNT_READONLY).
	if err := linux.Mount(m.Source, dest, m.Type, flags&^unix.MS_REMOUNT, data); err != nil {
		return err
	}
	for _, p := range propagation {
		if err := linux.Mount("", dest, "", p, ""); err != nil {
			return err
		}
	}
	return nil
}

// mountCgroupV1 gives the container a v1 cgroup tree at dest: a tmpfs
// holding one mount per hierarchy the host has (read from mountinfo before
// pivot_root, while the host's mounts are still visible). We are inside
// our cgroup namespace already, so each hierarchy shows the container's
// cgroup as its root, as with runc.
func mountCgroupV1(dest string, flags uintptr, hier []cgroupHierarchy) error {
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return err
	}
	if err := linux.Mount("tmpfs", dest, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=755"); err != nil {
		return err
	}
	sub := flags &^ (unix.MS_BIND | unix.MS_REC | unix.MS_REMOUNT)
	for _, h := range hier {
		d := filepath.Join(dest, h.Name)
		if err := os.Mkdir(d, 0o755); err != nil {
			return err
		}
		if err := linux.Mount("cgroup", d, "cgroup", sub, h.Opts); err != nil {
			return err
		}
	}
	if flags&unix.MS_RDONLY != 0 {
		return remountBind(dest, unix.MS_RDONLY)
	}
	return nil
}

// cgroupHierarchy is a v1 hierarchy of the host: its directory under
// /sys/fs/cgroup and its controller options ("cpu,cpuacct").
type cgroupHierarchy struct {
	Name string `json:"name"`
	Opts string `json:"opts"`
}

// hostCgroupV1 is cgroupV1Hierarchies, read once per process: the shim
// gives it to each init, which would otherwise read a mount table that
// grows with every container of the host.
var hostCgroupV1 = sync.OnceValues(cgroupV1Hierarchies)

// cgroupV1Hierarchies lists the host's v1 hierarchies mounted under
// /sys/fs/cgroup: the directory name and the controller options
// ("cpu,cpuacct", "name=systemd").
func cgroupV1Hierarchies() ([]cgroupHierarchy, error) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	var out []cgroupHierarchy
	for _, line := range strings.Split(string(b), "\n") {
		pre, post, ok := strings.Cut(line, " - ")
		f, g := strings.Fields(pre), strings.Fields(post)
		if !ok || len(f) < 5 || len(g) < 3 || g[0] != "cgroup" || filepath.Dir(f[4]) != "/sys/fs/cgroup" {
			continue
		}
		var opts []string
		for _, o := range strings.Split(g[2], ",") {
			if o != "rw" && o != "ro" {
				opts = append(opts, o)
			}
		}
		out = append(out, cgroupHierarchy{Name: filepath.Base(f[4]), Opts: strings.Join(opts, ",")})
	}
	return out, nil
}

// mountBind bind-mounts source (a file or a directory on the host) onto
// dest, creating dest with the same kind, then applies ro/nosuid/... with a
// remount (mount(2) ignores them on the initial MS_BIND) and makes it
// private unless propagation says otherwise.
func mountBind(source, dest string, flags uintptr, propagation []uintptr) error {
	st, err := os.Stat(source)
	if err != nil {
		return err
	}
	if st.IsDir() {
		err = os.MkdirAll(dest, 0o755)
	} else {
		err = os.MkdirAll(filepath.Dir(dest), 0o755)
		if err == nil {
			var f *os.File
			f, err = os.OpenFile(dest, os.O_CREATE|os.O_RDONLY, 0o644)
			if err == nil {
				f.Close()
			}
		}
	}
	if err != nil {
		return err
	}
	bindFlags := flags & (unix.MS_BIND | unix.MS_REC)
	if err := linux.Mount(source, dest, "", unix.MS_BIND|bindFlags, ""); err != nil {
		return err
	}
	if rest := flags &^ (unix.MS_BIND | unix.MS_REC | unix.MS_REMOUNT); rest != 0 {
		if err := remountBind(dest, rest); err != nil {
			return err
		}
	}
	if len(propagation) == 0 {
		propagation = []uintptr{unix.MS_PRIVATE}
	}
	for _, p := range propagation {
		if err := linux.Mount("", dest, "", p, ""); err != nil {
			return err
		}
	}
	return nil
}

// remountBind remounts the bind mount at path with flags added to the flags
// it already has (statfs(2)); a bind remount otherwise clears nosuid, nodev
// and noexec, which an unprivileged mount namespace would refuse.
func remountBind(path string, flags uintptr) error {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return &os.PathError{Op: "statfs", Path: path, Err: err}
	}
	keep := uintptr(st.Flags) & (unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC | unix.MS_RDONLY |
		unix.MS_NOATIME | unix.MS_NODIRATIME | unix.MS_RELATIME)
	return linux.Mount("", path, "", unix.MS_BIND|unix.MS_REMOUNT|keep|flags, "")
}

// defaultDevices returns the nodes every container's /dev gets, as in runc.
func defaultDevices() []specs.LinuxDevice {
	return []specs.LinuxDevice{
		{Path: "/dev/null", Type: "c", Major: 1, Minor: 3},
		{Path: "/dev/zero", Type: "c", Major: 1, Minor: 5},
		{Path: "/dev/full", Type: "c", Major: 1, Minor: 7},
		{Path: "/dev/random", Type: "c", Major: 1, Minor: 8},
		{Path: "/dev/urandom", Type: "c", Major: 1, Minor: 9},
		{Path: "/dev/tty", Type: "c", Major: 5, Minor: 0},
	}
}

// createDevices makes the default device nodes plus the spec's in the
// container's tmpfs /dev with mknod(2), and the usual symlinks (ptmx into
// the devpts instance, fd, stdin, stdout, stderr, core).
func createDevices(rootfs string, extra []specs.LinuxDevice) error {
	devs := append(defaultDevices(), extra...)
	for _, d := range devs {
		dest, err := securejoin.SecureJoin(rootfs, d.Path)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
			return err
		}
		mode := uint32(0o666)
		if d.FileMode != nil {
			mode = uint32(*d.FileMode & fs.ModePerm)
		}
		switch d.Type {
		case "c", "u":
			mode |= unix.S_IFCHR
		case "b":
			mode |= unix.S_IFBLK
		case "p":
			mode |= unix.S_IFIFO
		default:
			return fmt.Errorf("device %s: unknown type %q", d.Path, d.Type)
		}
		// mknod(2) applies the umask; chmod afterwards for the real mode.
		if err := linux.Mknod(dest, mode, int(unix.Mkdev(uint32(d.Major), uint32(d.Minor)))); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
		if err := unix.Chmod(dest, mode&0o7777); err != nil {
			return &os.PathError{Op: "chmod", Path: dest, Err: err}
		}
		uid, gid := 0, 0
		if d.UID != nil {
			uid = int(*d.UID)
		}
		if d.GID != nil {
			gid = int(*d.GID)
		}
		if err := os.Lchown(dest, uid, gid); err != nil {
			return err
		}
	}
	links := [][2]string{
		{"/proc/self/fd", "/dev/fd"}, {"/proc/self/fd/0", "/dev/stdin"},
		{"/proc/self/fd/1", "/dev/stdout"}, {"/proc/self/fd/2", "/dev/stderr"},
		{"pts/ptmx", "/dev/ptmx"},
	}
	if _, err := os.Stat("/proc/kcore"); err == nil {
		links = append(links, [2]string{"/proc/kcore", "/dev/core"})
	}
	for _, l := range links {
		if err := os.Symlink(l[0], filepath.Join(rootfs, l[1])); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
	}
	return nil
}

// pivotRoot makes rootfs the root of the mount namespace and detaches the
// old root.
//
// pivot_root(".", ".") is valid (pivot_root(2), NOTES): with new_root and
// put_old the same directory, the old root is stacked on top of the new one
// at "/", and our cwd still points at the old root. We then unmount the old
// root lazily from where we stand, leaving the new root visible at "/",
// without needing a writable directory in the rootfs to park the old root
// in — so read-only rootfs images work.
func pivotRoot(rootfs string) error {
	oldroot, err := linux.Open("/", unix.O_DIRECTORY|unix.O_RDONLY, 0)
	if err != nil {
		return err
	}
	defer oldroot.Close()
	newroot, err := linux.Open(rootfs, unix.O_DIRECTORY|unix.O_RDONLY, 0)
	if err != nil {
		return err
	}
	defer newroot.Close()
	if err := unix.Fchdir(int(newroot.Fd())); err != nil {
		return &os.PathError{Op: "fchdir", Path: rootfs, Err: err}
	}
	if err := linux.PivotRoot(".", "."); err != nil {
		return err
	}
	// The kernel leaves cwd at the old root today, but does not promise it;
	// go there explicitly before unmounting it.
	if err := unix.Fchdir(int(oldroot.Fd())); err != nil {
		return &os.PathError{Op: "fchdir", Path: "/", Err: err}
	}
	// rslave first, so the unmount below cannot propagate to the host's
	// mounts through a shared peer group.
	if err := linux.Mount("", ".", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return err
	}
	// MNT_DETACH: the old root is busy (it is our cwd).
	if err := linux.Unmount(".", unix.MNT_DETACH); err != nil {
		return err
	}
	if err := unix.Chdir("/"); err != nil {
		return &os.PathError{Op: "chdir", Path: "/", Err: err}
	}
	return nil
}

// maskPaths hides each path: a file gets /dev/null bound over it, a
// directory an empty read-only tmpfs. Missing paths are skipped.
func maskPaths(paths []string) error {
	for _, p := range paths {
		err := linux.Mount("/dev/null", p, "", unix.MS_BIND, "")
		if errors.Is(err, unix.ENOTDIR) {
			err = linux.Mount("tmpfs", p, "tmpfs", unix.MS_RDONLY, "size=0k")
		}
		if err != nil && !errors.Is(err, unix.ENOENT) {
			return err
		}
	}
	return nil
}

// readonlyPaths bind-mounts each path onto itself read-only. Missing paths
// are skipped.
func readonlyPaths(paths []string) error {
	for _, p := range paths {
		err := linux.Mount(p, p, "", unix.MS_BIND|unix.MS_REC, "")
		if errors.Is(err, unix.ENOENT) {
			continue
		}
		if err != nil {
			return err
		}
		if err := remountBind(p, unix.MS_RDONLY); err != nil {
			return err
		}
	}
	return nil
}

// finishRootfs runs after pivot_root: masked and read-only paths, then the
// read-only root itself. Sysctls must be written before this, since
// /proc/sys turns read-only here.
func finishRootfs(spec *specs.Spec) error {
	if err := maskPaths(spec.Linux.MaskedPaths); err != nil {
		return err
	}
	if err := readonlyPaths(spec.Linux.ReadonlyPaths); err != nil {
		return err
	}
	if spec.Root != nil && spec.Root.Readonly {
		if err := remountBind("/", unix.MS_RDONLY); err != nil {
			return err
		}
	}
	return nil
}
