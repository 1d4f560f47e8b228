package network

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/stack-dev/stack/internal/errdefs"
)

// writeSysctl writes a value under /proc/sys/net. The net sysctls are per
// network namespace, resolved at open(2) against the calling thread's
// namespace: call it inside inNetNS.
func writeSysctl(name, value string) error {
	path := filepath.Join("/proc/sys", strings.ReplaceAll(name, ".", "/"))
	cur, err := os.ReadFile(path)
	if err == nil && strings.TrimSpace(string(cur)) == value {
		return nil
	}
	if err := os.WriteFile(path, []byte(value), 0o644); err != nil {
		return fmt.Errorf("sysctl %s=%s: %w", name, value, err)
	}
	return nil
}

// dumpTries bounds how often a netlink dump is asked for again when the
// kernel flags it interrupted (NLM_F_DUMP_INTR: the table changed while it
// was read, which another engine adding or deleting links on the host
// does). netlink then returns what it read with ErrDumpInterrupted, and
// that may be incomplete.
const dumpTries = 5

// retryDump runs dump until it is not interrupted, at most dumpTries times.
func retryDump[T any](dump func() (T, error)) (T, error) {
	var v T
	var err error
	for range dumpTries {
		if v, err = dump(); !errors.Is(err, netlink.ErrDumpInterrupted) {
			break
		}
	}
	return v, err
}

// mainRoutes lists the IPv4 routes of the main table.
func mainRoutes(h *netlink.Handle) ([]netlink.Route, error) {
	return retryDump(func() ([]netlink.Route, error) {
		return h.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
	})
}

// hostMTU returns the MTU of the interface of the default route, or 1500.
func hostMTU(h *netlink.Handle) int {
	routes, err := mainRoutes(h)
	if err != nil {
		return 1500
	}
	for _, r := range routes {
		if (r.Dst == nil || r.Dst.IP.IsUnspecified() && maskBits(r.Dst) == 0) && r.LinkIndex > 0 {
			if l, err := h.LinkByIndex(r.LinkIndex); err == nil && l.Attrs().MTU > 0 {
				return l.Attrs().MTU
			}
		}
	}
	return 1500
}

func maskBits(n *net.IPNet) int {
	ones, _ := n.Mask.Size()
	return ones
}

// hostPrefixes returns the IPv4 prefixes a new subnet must not overlap:
// every route of the main table but the default, and every address, except
// those on the bridges named in skip (ours: ipam knows their subnets
// already). Bridges of another manager on the same host count as the
// host's, so two daemons never pick the same subnet.
func hostPrefixes(h *netlink.Handle, skip map[string]bool) ([]netip.Prefix, error) {
	links, err := retryDump(h.LinkList)
	if err != nil {
		return nil, fmt.Errorf("list links: %w", err)
	}
	ours := map[int]bool{}
	for _, l := range links {
		if skip[l.Attrs().Name] {
			ours[l.Attrs().Index] = true
		}
	}
	var out []netip.Prefix
	routes, err := mainRoutes(h)
	if err != nil {
		return nil, fmt.Errorf("list routes: %w", err)
	}
	for _, r := range routes {
		if r.Dst == nil || ours[r.LinkIndex] {
			continue
		}
		if p, ok := prefixOf(r.Dst); ok && p.Bits() > 0 {
			out = append(out, p)
		}
	}
	addrs, err := retryDump(func() ([]netlink.Addr, error) { return h.AddrList(nil, netlink.FAMILY_V4) })
	if err != nil {
		return nil, fmt.Errorf("list addresses: %w", err)
	}
	for _, a := range addrs {
		if ours[a.LinkIndex] || a.IPNet == nil {
			continue
		}
		if p, ok := prefixOf(a.IPNet); ok {
			out = append(out, p.Masked())
		}
	}
	return out, nil
}

func prefixOf(n *net.IPNet) (netip.Prefix, bool) {
	ip, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ip = ip.Unmap()
	if !ip.Is4() {
		return netip.Prefix{}, false
	}
	ones, bits := n.Mask.Size()
	if bits == 128 {
		ones -= 96
	}
	return netip.PrefixFrom(ip, ones), true
}

// probePort checks that k can be bound on the host, by binding it; with
// port 0 it returns the port the kernel picked. Call it inside inNetNS.
// Listening sockets of other processes make it fail with EADDRINUSE; our
// own DNAT rules bind nothing, so the caller checks those separately.
func probePort(k portKey) (uint16, error) {
	host := "0.0.0.0"
	if k.hostIP.IsValid() {
		host = k.hostIP.String()
	}
	addr := net.JoinHostPort(host, fmt.Sprint(k.port))
	var (
		got net.Addr
		err error
	)
	if k.proto == "udp" {
		var c net.PacketConn
		if c, err = net.ListenPacket("udp4", addr); err == nil {
			got = c.LocalAddr()
			c.Close()
		}
	} else {
		var l net.Listener
		if l, err = net.Listen("tcp4", addr); err == nil {
			got = l.Addr()
			l.Close()
		}
	}
	switch {
	case errors.Is(err, unix.EADDRINUSE):
		return 0, &PortInUseError{Protocol: k.proto, HostIP: k.hostIP, Port: k.port, Holder: portHolder(k)}
	case errors.Is(err, unix.EADDRNOTAVAIL):
		return 0, fmt.Errorf("host_ip %s is not an address of the host: %w", host, errdefs.ErrInvalidArgument)
	case err != nil:
		return 0, fmt.Errorf("probe %s/%s: %w", addr, k.proto, err)
	}
	return uint16(netip.MustParseAddrPort(got.String()).Port()), nil
}

// PortInUseError reports a host port that is taken, by a process on the
// host or by another container of ours. It wraps
// [errdefs.ErrAlreadyExists].
type PortInUseError struct {
	Protocol string
	HostIP   netip.Addr // invalid: every address
	Port     uint16
	Holder   string // who has it, when known: "container abc", "pid 42 (nginx)"
}

func (e *PortInUseError) Error() string {
	host := "0.0.0.0"
	if e.HostIP.IsValid() {
		host = e.HostIP.String()
	}
	s := fmt.Sprintf("host port %s:%d/%s is already in use", host, e.Port, e.Protocol)
	if e.Holder != "" {
		s += " by " + e.Holder
	}
	return s
}

// Unwrap returns errdefs.ErrAlreadyExists.
func (e *PortInUseError) Unwrap() error { return errdefs.ErrAlreadyExists }

// portHolder names the process that holds k, from /proc/net/{tcp,udp}
// and the sockets in /proc/*/fd, or returns "" when it cannot tell. It
// reads the procfs of the calling thread's namespace (/proc/thread-self).
func portHolder(k portKey) string {
	file := "/proc/thread-self/net/tcp"
	if k.proto == "udp" {
		file = "/proc/thread-self/net/udp"
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return ""
	}
	inode := ""
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 10 {
			continue
		}
		_, portHex, ok := strings.Cut(f[1], ":")
		if !ok {
			continue
		}
		var port uint16
		if _, err := fmt.Sscanf(portHex, "%X", &port); err != nil || port != k.port {
			continue
		}
		// TCP: only listening sockets (state 0A) hold a port.
		if k.proto == "tcp" && f[3] != "0A" {
			continue
		}
		inode = f[9]
		break
	}
	if inode == "" || inode == "0" {
		return ""
	}
	target := "socket:[" + inode + "]"
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		if p.Name()[0] < '0' || p.Name()[0] > '9' {
			continue
		}
		fds, _ := os.ReadDir(filepath.Join("/proc", p.Name(), "fd"))
		for _, fd := range fds {
			if l, _ := os.Readlink(filepath.Join("/proc", p.Name(), "fd", fd.Name())); l == target {
				comm, _ := os.ReadFile(filepath.Join("/proc", p.Name(), "comm"))
				return fmt.Sprintf("pid %s (%s)", p.Name(), strings.TrimSpace(string(comm)))
			}
		}
	}
	return ""
}

// boundAddrs returns the addresses that UDP sockets of the host namespace
// are bound to on port: a subnet whose gateway one of them holds cannot
// have its resolver there (a process keeps an address that no interface
// has any more).
func boundAddrs(hostNS netns.NsHandle, port int) []netip.Prefix {
	var data []byte
	inNetNS(hostNS, func() error {
		// The thread is in the host namespace now; /proc/thread-self/net
		// is its namespace's (proc(5)).
		data, _ = os.ReadFile("/proc/thread-self/net/udp")
		return nil
	})
	var out []netip.Prefix
	lines := strings.Split(string(data), "\n")
	for _, l := range lines[min(1, len(lines)):] {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		hexAddr, hexPort, ok := strings.Cut(f[1], ":")
		p, err1 := strconv.ParseUint(hexPort, 16, 16)
		a, err2 := strconv.ParseUint(hexAddr, 16, 32)
		if !ok || err1 != nil || err2 != nil || int(p) != port || a == 0 {
			continue
		}
		// Little-endian on the architectures stack runs on.
		ip := netip.AddrFrom4([4]byte{byte(a), byte(a >> 8), byte(a >> 16), byte(a >> 24)})
		out = append(out, netip.PrefixFrom(ip, 32))
	}
	return out
}
