package runtime

import (
	"fmt"
	"slices"
	"strings"

	"github.com/stack-dev/stack/internal/errdefs"
)

// capNames returns the capabilities the kernel knows, indexed by number
// (linux/capability.h), named the way OCI specs write them. (A function,
// not a package variable, so nothing can change the table.)
func capNames() [41]string {
	return [41]string{
		"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER",
		"CAP_FSETID", "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP",
		"CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST",
		"CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
		"CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
		"CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
		"CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD",
		"CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP",
		"CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
		"CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
		"CAP_CHECKPOINT_RESTORE",
	}
}

// DefaultCapabilities returns Docker's default capability set (moby
// oci/caps/defaults.go), in kernel order. The caller owns the slice.
func DefaultCapabilities() []string {
	return []string{
		"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
		"CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
		"CAP_NET_RAW", "CAP_SYS_CHROOT", "CAP_MKNOD", "CAP_AUDIT_WRITE", "CAP_SETFCAP",
	}
}

// AllCapabilities returns every capability this package knows, in kernel
// order; capabilities above the running kernel's cap_last_cap are dropped
// when the set is applied.
func AllCapabilities() []string {
	names := capNames()
	return names[:]
}

// NormalizeCapability turns "net_admin", "NET_ADMIN" or "CAP_NET_ADMIN"
// into "CAP_NET_ADMIN". It returns an error wrapping
// errdefs.ErrInvalidArgument for an unknown name; "ALL" is returned as is.
func NormalizeCapability(name string) (string, error) {
	n := strings.ToUpper(strings.TrimSpace(name))
	if n == "ALL" {
		return n, nil
	}
	if !strings.HasPrefix(n, "CAP_") {
		n = "CAP_" + n
	}
	if capNumber(n) < 0 {
		return "", fmt.Errorf("capability %q: %w", name, errdefs.ErrInvalidArgument)
	}
	return n, nil
}

// capNumber returns the kernel number of a normalized capability name, or -1.
func capNumber(name string) int {
	for i, n := range capNames() {
		if n == name {
			return i
		}
	}
	return -1
}

// TweakCapabilities computes a container's capability set the way Docker
// does: privileged gives every capability; otherwise add and drop modify
// base ("ALL" in add starts from every capability, "ALL" in drop from none,
// and a capability both added and dropped is added, since Docker applies
// drops first). Names may be given with or without the CAP_ prefix and in
// any case. The result is sorted in kernel order.
func TweakCapabilities(base, add, drop []string, privileged bool) ([]string, error) {
	if privileged {
		return AllCapabilities(), nil
	}
	norm := func(in []string) ([]string, bool, error) {
		var out []string
		all := false
		for _, c := range in {
			n, err := NormalizeCapability(c)
			if err != nil {
				return nil, false, err
			}
			if n == "ALL" {
				all = true
				continue
			}
			out = append(out, n)
		}
		return out, all, nil
	}
	addN, addAll, err := norm(add)
	if err != nil {
		return nil, err
	}
	dropN, dropAll, err := norm(drop)
	if err != nil {
		return nil, err
	}
	baseN, _, err := norm(base)
	if err != nil {
		return nil, err
	}
	set := map[string]bool{}
	if !dropAll {
		for _, c := range baseN {
			set[c] = true
		}
	}
	for _, c := range dropN {
		delete(set, c)
	}
	if addAll {
		for _, c := range capNames() {
			set[c] = true
		}
	}
	for _, c := range addN {
		set[c] = true
	}
	out := make([]string, 0, len(set))
	for c := range set {
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b string) int { return capNumber(a) - capNumber(b) })
	return out, nil
}

// capMask turns capability names into a bit mask, ignoring capabilities
// above lastCap (the running kernel's /proc/sys/kernel/cap_last_cap).
func capMask(names []string, lastCap int) (uint64, error) {
	var m uint64
	for _, c := range names {
		n := capNumber(c)
		if n < 0 {
			return 0, fmt.Errorf("capability %q: %w", c, errdefs.ErrInvalidArgument)
		}
		if n > lastCap {
			continue
		}
		m |= 1 << uint(n)
	}
	return m, nil
}
