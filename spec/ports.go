package spec

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// ParsePortSpec parses a port in short syntax:
//
//	[[HOST_IP:][HOST_PORT[-HOST_PORT]]:]CONTAINER_PORT[-CONTAINER_PORT][/PROTOCOL]
//
// ("8080:80", "127.0.0.1:8080:80", "[::1]:53:53/udp", "8000-8001:80-81",
// "127.0.0.1::80", "3000"). A range expands to one Port per container port.
// A host range with a single container port means "any free port of the
// range" and is kept as a range in Published.
func ParsePortSpec(s string) ([]Port, error) {
	orig := s
	proto := "tcp"
	if i := strings.LastIndexByte(s, '/'); i >= 0 {
		proto = strings.ToLower(s[i+1:])
		s = s[:i]
		if proto != "tcp" && proto != "udp" && proto != "sctp" {
			return nil, fmt.Errorf("invalid port %q: protocol must be tcp, udp or sctp", orig)
		}
	}
	var hostIP, host, container string
	if strings.HasPrefix(s, "[") {
		end := strings.Index(s, "]")
		if end < 0 || end+1 >= len(s) || s[end+1] != ':' {
			return nil, fmt.Errorf("invalid port %q: want [IPv6]:HOST_PORT:CONTAINER_PORT", orig)
		}
		hostIP = s[1:end]
		s = s[end+2:]
		var ok bool
		if host, container, ok = strings.Cut(s, ":"); !ok {
			return nil, fmt.Errorf("invalid port %q: want [IPv6]:HOST_PORT:CONTAINER_PORT", orig)
		}
	} else {
		parts := strings.Split(s, ":")
		switch len(parts) {
		case 1:
			container = parts[0]
		case 2:
			host, container = parts[0], parts[1]
		case 3:
			hostIP, host, container = parts[0], parts[1], parts[2]
		default:
			return nil, fmt.Errorf("invalid port %q: want [HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTOCOL]", orig)
		}
	}
	if hostIP != "" {
		if _, err := netip.ParseAddr(hostIP); err != nil {
			return nil, fmt.Errorf("invalid port %q: host IP %q is not an IP address", orig, hostIP)
		}
	}
	cLo, cHi, err := parsePortRange(container)
	if err != nil {
		return nil, fmt.Errorf("invalid port %q: container port: %w", orig, err)
	}
	var hLo, hHi uint32
	if host != "" {
		if hLo, hHi, err = parsePortRange(host); err != nil {
			return nil, fmt.Errorf("invalid port %q: host port: %w", orig, err)
		}
	}
	cn, hn := cHi-cLo+1, hHi-hLo+1
	if host != "" && hn != cn && cn != 1 {
		return nil, fmt.Errorf("invalid port %q: the host range has %d ports but the container range %d", orig, hn, cn)
	}
	var out []Port
	for i := uint32(0); i < cn; i++ {
		p := Port{Mode: "ingress", HostIP: hostIP, Target: cLo + i, Protocol: proto}
		switch {
		case host == "":
		case cn == 1 && hn > 1:
			p.Published = fmt.Sprintf("%d-%d", hLo, hHi)
		default:
			p.Published = strconv.FormatUint(uint64(hLo+i), 10)
		}
		out = append(out, p)
	}
	return out, nil
}

// parsePortRange parses "80" or "8000-8010".
func parsePortRange(s string) (lo, hi uint32, err error) {
	a, b, isRange := strings.Cut(s, "-")
	if lo, err = parsePort(a); err != nil {
		return 0, 0, err
	}
	hi = lo
	if isRange {
		if hi, err = parsePort(b); err != nil {
			return 0, 0, err
		}
		if hi < lo {
			return 0, 0, fmt.Errorf("range %q ends before it starts", s)
		}
	}
	return lo, hi, nil
}

func parsePort(s string) (uint32, error) {
	n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 32)
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("%q is not a port number (1-65535)", s)
	}
	return uint32(n), nil
}

// PublishedRange returns the host ports a Port may be published on: one
// port, a range, or none (0, 0) for an ephemeral port.
func (p Port) PublishedRange() (lo, hi uint32) {
	if p.Published == "" {
		return 0, 0
	}
	lo, hi, err := parsePortRange(p.Published)
	if err != nil {
		return 0, 0
	}
	return lo, hi
}

// shortSyntax writes p in short syntax: [HOST_IP:][HOST_PORT:]TARGET/PROTOCOL.
func (p Port) shortSyntax() string {
	s := strconv.FormatUint(uint64(p.Target), 10) + "/" + p.Protocol
	if p.Published != "" || p.HostIP != "" {
		s = p.Published + ":" + s
	}
	if p.HostIP != "" {
		ip := p.HostIP
		if strings.Contains(ip, ":") {
			ip = "[" + ip + "]"
		}
		s = ip + ":" + s
	}
	return s
}
