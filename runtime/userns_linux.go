package runtime

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/stack-dev/stack/internal/errdefs"
	"github.com/stack-dev/stack/internal/linux"
)

// A container whose spec lists a user namespace without a path (and the
// uid and gid mappings OCI puts in Linux.UIDMappings and GIDMappings) is
// cloned by its shim with CLONE_NEWUSER together with every other
// namespace: the kernel makes the user namespace first and the others
// belong to it, so the capabilities of the container's root work on its
// own mounts, network, hostname and IPC and nowhere else. Go's exec.Cmd
// writes the maps from the shim before the child runs, and the child
// becomes uid and gid 0 of the namespace before it execs the init.
//
// The network namespace is always a new one: one the init joined would
// belong to the host's user namespace, where the container's root has no
// capability (it could not bind port 80, mount /sys, ping). The caller
// wires it between Create and Start ([State.Pid] names it).
//
// The host's root is not mapped in the namespace, so the init cannot
// reach paths the host closed to others (the state root is 0700): the
// shim hands it what it mounts from the host as open mount trees
// (open_tree(2)), as extra descriptors:
//
//   - the root file system, which the init attaches over /tmp of its own
//     (private) mount namespace before it binds it and pivots: the path
//     it then works with is its own;
//   - each bind mount, idmapped with the container's mapping
//     (mount_setattr(2) MOUNT_ATTR_IDMAP), so the container sees the host's
//     files with their owners (a file of uid 1000 is 1000 inside, and a
//     file the container's root creates is the host's uid 0), as a
//     container without a user namespace does. A file system that cannot
//     be idmapped (proc, sysfs, some network file systems) fails Create,
//     naming it.
//
// The idmapped mounts are made with a user namespace of the same mapping
// that no process lives in (the container's own does not exist before the
// clone): an idmapping is a mapping, and the mount keeps that namespace as
// long as it lives. The root file system comes idmapped from the caller
// (image/overlay mounts it with idmapped layers); its upper directory is
// not idmapped, so what the container writes there is owned by its host
// range: a setuid-root binary it writes is setuid to an unprivileged host
// uid.
//
// In the namespace, the init cannot mknod(2): device nodes are the host's,
// bind-mounted, as runc does; and it writes the sysctls and makes /proc/sys
// read-only when it is told to run, once the caller has wired its network
// (an interface's sysctls need the interface).

// usernsRoot is where the init attaches its root file system: a directory
// every host has, covered only in the init's own mount namespace.
const usernsRoot = "/tmp"

// hasUserNS reports whether the spec asks for a new user namespace.
func hasUserNS(s *specs.Spec) bool {
	return s.Linux != nil && hasNamespace(s.Linux.Namespaces, specs.UserNamespace)
}

// validateUserNS checks a spec that asks for a user namespace, and adds
// the cgroup namespace it needs (cgroup file systems are mounted in the
// container only through a cgroup namespace its user namespace owns).
func validateUserNS(cfg *Config) error {
	l := cfg.Spec.Linux
	for _, n := range l.Namespaces {
		if n.Type == specs.UserNamespace && n.Path != "" {
			return fmt.Errorf("joining the user namespace %s: %w", n.Path, errdefs.ErrNotImplemented)
		}
	}
	if !hasUserNS(cfg.Spec) {
		if len(l.UIDMappings) > 0 || len(l.GIDMappings) > 0 {
			return fmt.Errorf("uid and gid mappings without a user namespace: %w", errdefs.ErrInvalidArgument)
		}
		return nil
	}
	if len(l.UIDMappings) == 0 || len(l.GIDMappings) == 0 {
		return fmt.Errorf("a user namespace needs uid and gid mappings: %w", errdefs.ErrInvalidArgument)
	}
	joined := cfg.NetNS != ""
	for _, n := range l.Namespaces {
		joined = joined || n.Type == specs.NetworkNamespace && n.Path != ""
	}
	if joined || !hasNamespace(l.Namespaces, specs.NetworkNamespace) {
		return fmt.Errorf("a container with a user namespace gets a network namespace of its own, which the user namespace owns; it cannot share another: %w", errdefs.ErrInvalidArgument)
	}
	if !hasNamespace(l.Namespaces, specs.CgroupNamespace) {
		l.Namespaces = append(l.Namespaces, specs.LinuxNamespace{Type: specs.CgroupNamespace})
	}
	return nil
}

// idMaps converts OCI mappings.
func idMaps(ms []specs.LinuxIDMapping) ([]syscall.SysProcIDMap, []linux.IDMap) {
	sys := make([]syscall.SysProcIDMap, len(ms))
	lin := make([]linux.IDMap, len(ms))
	for i, m := range ms {
		sys[i] = syscall.SysProcIDMap{ContainerID: int(m.ContainerID), HostID: int(m.HostID), Size: int(m.Size)}
		lin[i] = linux.IDMap{Inside: m.ContainerID, Host: m.HostID, Size: m.Size}
	}
	return sys, lin
}

// openTree returns a detached copy of the mount tree at path.
func openTree(path string, recursive bool) (*os.File, error) {
	flags := uint(unix.OPEN_TREE_CLONE | unix.OPEN_TREE_CLOEXEC)
	if recursive {
		flags |= unix.AT_RECURSIVE
	}
	fd, err := unix.OpenTree(unix.AT_FDCWD, path, flags)
	if err != nil {
		return nil, &os.PathError{Op: "open_tree", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}

// IDMapError is a bind mount whose source cannot be idmapped: its file
// system does not support idmapped mounts (see mount_setattr(2)).
type IDMapError struct {
	Source string
	FSType string // as statfs(2) names it, or its magic number
	Err    error
}

func (e *IDMapError) Error() string {
	return fmt.Sprintf("bind source %s: its file system (%s) cannot be idmapped, which a container with a user namespace needs to show its files with their owners: run the service with userns_mode: host, or bind a directory of another file system: %v", e.Source, e.FSType, e.Err)
}

func (e *IDMapError) Unwrap() []error { return []error{e.Err, errdefs.ErrInvalidArgument} }

// idmappedTree returns a detached copy of the bind source at path (its
// submounts too for rbind), idmapped with userns and carrying the mount
// flags and propagation a bind remount would give it.
func idmappedTree(path string, userns *os.File, flags uintptr, propagation []uintptr) (*os.File, error) {
	f, err := openTree(path, flags&unix.MS_REC != 0)
	if err != nil {
		return nil, err
	}
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_IDMAP, Userns_fd: uint64(userns.Fd())}
	for _, a := range []struct {
		flag uintptr
		attr uint64
	}{{unix.MS_RDONLY, unix.MOUNT_ATTR_RDONLY}, {unix.MS_NOSUID, unix.MOUNT_ATTR_NOSUID}, {unix.MS_NODEV, unix.MOUNT_ATTR_NODEV}, {unix.MS_NOEXEC, unix.MOUNT_ATTR_NOEXEC}} {
		if flags&a.flag != 0 {
			attr.Attr_set |= a.attr
		}
	}
	at := uint(unix.AT_EMPTY_PATH)
	if flags&unix.MS_REC != 0 {
		at |= unix.AT_RECURSIVE
	}
	if err := unix.MountSetattr(int(f.Fd()), "", at, &attr); err != nil {
		f.Close()
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EPERM) || errors.Is(err, unix.EOPNOTSUPP) {
			return nil, &IDMapError{Source: path, FSType: fsTypeName(path), Err: os.NewSyscallError("mount_setattr", err)}
		}
		return nil, &os.PathError{Op: "mount_setattr", Path: path, Err: err}
	}
	_ = propagation // applied by the init once the tree is attached
	return f, nil
}

// fsTypeName names the file system of path for an error message.
func fsTypeName(path string) string {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return "unknown"
	}
	names := map[int64]string{
		unix.PROC_SUPER_MAGIC: "proc", unix.SYSFS_MAGIC: "sysfs", unix.NFS_SUPER_MAGIC: "nfs",
		unix.FUSE_SUPER_MAGIC: "fuse", unix.TMPFS_MAGIC: "tmpfs", unix.CGROUP2_SUPER_MAGIC: "cgroup2",
		unix.CGROUP_SUPER_MAGIC: "cgroup", unix.DEVPTS_SUPER_MAGIC: "devpts", 0x1373: "devtmpfs",
		unix.OVERLAYFS_SUPER_MAGIC: "overlay", unix.EXT4_SUPER_MAGIC: "ext4", unix.XFS_SUPER_MAGIC: "xfs",
		unix.BTRFS_SUPER_MAGIC: "btrfs", 0xfe534d42: "smb2", 0xff534d42: "cifs",
		unix.V9FS_MAGIC: "9p",
	}
	if n, ok := names[int64(st.Type)]; ok {
		return n
	}
	return fmt.Sprintf("magic %#x", st.Type)
}

// attachRootfs attaches the root file system tree the shim passed (fd)
// over usernsRoot, in the init's own mount namespace, whose mounts are
// private already.
func attachRootfs(fd int) error {
	if err := unix.MoveMount(fd, "", unix.AT_FDCWD, usernsRoot, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return &os.PathError{Op: "move_mount", Path: usernsRoot, Err: err}
	}
	unix.Close(fd)
	return nil
}

// mountTreeAt attaches a bind mount's tree (fd, see idmappedTree) at dest,
// which it creates with the kind of the source, and applies propagation.
func mountTreeAt(fd int, dest string, propagation []uintptr) error {
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return os.NewSyscallError("fstat", err)
	}
	if err := makeMountPoint(dest, st.Mode&unix.S_IFMT == unix.S_IFDIR); err != nil {
		return err
	}
	if err := unix.MoveMount(fd, "", unix.AT_FDCWD, dest, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return &os.PathError{Op: "move_mount", Path: dest, Err: err}
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

// bindDevice gives the container the host's device node d.Path, bound
// over an empty file: mknod(2) is refused in a user namespace. The node
// keeps the host's owner and mode.
func bindDevice(dest, host string) error {
	f, err := os.OpenFile(dest, os.O_CREATE|os.O_RDONLY, 0o644)
	if err != nil {
		return err
	}
	f.Close()
	return linux.Mount(host, dest, "", unix.MS_BIND, "")
}

// chownStdio gives the container's root the pipes and FIFOs among files,
// the process's stdio: opening /proc/self/fd/2 (/dev/stderr, which
// nginx's and php-fpm's logs are) checks the inode's owner, and an owner
// the namespace does not map is nobody there, whose 0600 pipe its root
// cannot open. runc's fixStdioPermissions does the same. Other files
// (/dev/null, sockets, the caller's own files) keep their owners.
func chownStdio(s *specs.Spec, files []*os.File) error {
	if !hasUserNS(s) {
		return nil
	}
	uid, gid := -1, -1
	for _, m := range s.Linux.UIDMappings {
		if m.ContainerID == 0 {
			uid = int(m.HostID)
		}
	}
	for _, m := range s.Linux.GIDMappings {
		if m.ContainerID == 0 {
			gid = int(m.HostID)
		}
	}
	for _, f := range files {
		if f == nil {
			continue
		}
		var st unix.Stat_t
		if err := unix.Fstat(int(f.Fd()), &st); err != nil {
			return &os.PathError{Op: "fstat", Path: f.Name(), Err: err}
		}
		if st.Mode&unix.S_IFMT != unix.S_IFIFO {
			continue
		}
		if err := unix.Fchown(int(f.Fd()), uid, gid); err != nil {
			return &os.PathError{Op: "fchown", Path: f.Name(), Err: err}
		}
	}
	return nil
}
