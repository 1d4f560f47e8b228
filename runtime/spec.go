package runtime

import (
	"github.com/opencontainers/runtime-spec/specs-go"
)

// DefaultMaskedPaths returns the paths Docker hides from a container: each
// is covered by /dev/null (files) or an empty read-only tmpfs (directories).
func DefaultMaskedPaths() []string {
	return []string{
		"/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore",
		"/proc/keys", "/proc/latency_stats", "/proc/timer_list",
		"/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
		"/sys/firmware", "/sys/devices/virtual/powercap",
	}
}

// DefaultReadonlyPaths returns the paths Docker bind-mounts read-only.
func DefaultReadonlyPaths() []string {
	return []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}
}

func int64p(v int64) *int64 { return &v }

// DefaultDeviceRules returns Docker's default device cgroup allow-list:
// deny everything, then allow the standard character devices, pts and the
// mknod of any char or block device (creating a node is harmless when the
// cgroup denies opening it).
func DefaultDeviceRules() []specs.LinuxDeviceCgroup {
	c := func(major, minor int64, access string) specs.LinuxDeviceCgroup {
		d := specs.LinuxDeviceCgroup{Allow: true, Type: "c", Access: access}
		if major >= 0 {
			d.Major = int64p(major)
		}
		if minor >= 0 {
			d.Minor = int64p(minor)
		}
		return d
	}
	return []specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		c(-1, -1, "m"),
		{Allow: true, Type: "b", Access: "m"},
		c(1, 3, "rwm"),    // /dev/null
		c(1, 8, "rwm"),    // /dev/random
		c(1, 7, "rwm"),    // /dev/full
		c(5, 0, "rwm"),    // /dev/tty
		c(1, 5, "rwm"),    // /dev/zero
		c(1, 9, "rwm"),    // /dev/urandom
		c(136, -1, "rwm"), // /dev/pts/*
		c(5, 2, "rwm"),    // /dev/ptmx
		c(10, 200, "rwm"), // /dev/net/tun
	}
}

// DefaultMounts returns the kernel file systems a Docker container gets:
// /proc, /dev (tmpfs), /dev/pts, /dev/shm (64 MiB), /dev/mqueue, /sys and
// the container's view of its cgroup at /sys/fs/cgroup (both read-only).
func DefaultMounts() []specs.Mount {
	return []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
		{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
		{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
		{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"ro", "nosuid", "noexec", "nodev", "relatime"}},
	}
}

// DefaultSpec returns the OCI runtime spec of a Docker container running
// args as root with Docker's defaults: the environment PATH, cwd /, the
// default capabilities (bounding, effective and permitted), no_new_privs
// off, mount, PID, UTS, IPC, network and cgroup namespaces, [DefaultMounts],
// masked and read-only paths, and the default device rules. The caller
// fills in the rest (user, hostname, mounts, resources) before
// [Manager.Create].
func DefaultSpec(args ...string) *specs.Spec {
	caps := DefaultCapabilities()
	return &specs.Spec{
		Version: specs.Version,
		Process: &specs.Process{
			Args: args,
			Env:  []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
			Cwd:  "/",
			Capabilities: &specs.LinuxCapabilities{
				Bounding: caps, Effective: caps, Permitted: caps,
			},
		},
		Root:   &specs.Root{Path: "rootfs"},
		Mounts: DefaultMounts(),
		Linux: &specs.Linux{
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.MountNamespace}, {Type: specs.PIDNamespace},
				{Type: specs.UTSNamespace}, {Type: specs.IPCNamespace},
				{Type: specs.NetworkNamespace}, {Type: specs.CgroupNamespace},
			},
			Resources:     &specs.LinuxResources{Devices: DefaultDeviceRules()},
			MaskedPaths:   DefaultMaskedPaths(),
			ReadonlyPaths: DefaultReadonlyPaths(),
		},
	}
}

func hasNamespace(ns []specs.LinuxNamespace, t specs.LinuxNamespaceType) bool {
	for _, n := range ns {
		if n.Type == t && n.Path == "" {
			return true
		}
	}
	return false
}
