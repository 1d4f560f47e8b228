package network

import (
	"fmt"
	"net/netip"

	"github.com/stack-dev/stack/internal/errdefs"
)

// portRequest is one host port to bind. When lo == hi == 0 an ephemeral
// port is picked; when lo < hi the first free port of [lo, hi] is taken.
type portRequest struct {
	proto         string
	hostIP        netip.Addr
	lo, hi        uint16
	containerPort uint16
}

func (r portRequest) String() string {
	host := "0.0.0.0"
	if r.hostIP.IsValid() {
		host = r.hostIP.String()
	}
	switch {
	case r.lo == 0:
		return fmt.Sprintf("%s:(ephemeral)->%d/%s", host, r.containerPort, r.proto)
	case r.lo == r.hi:
		return fmt.Sprintf("%s:%d->%d/%s", host, r.lo, r.containerPort, r.proto)
	}
	return fmt.Sprintf("%s:%d-%d->%d/%s", host, r.lo, r.hi, r.containerPort, r.proto)
}

// expandPorts validates mappings and turns them into one request per
// container port.
func expandPorts(mappings []PortMapping) ([]portRequest, error) {
	var out []portRequest
	for i, m := range mappings {
		proto := m.Protocol
		if proto == "" {
			proto = "tcp"
		}
		if proto != "tcp" && proto != "udp" {
			return nil, fmt.Errorf("ports[%d]: protocol %q: only tcp and udp: %w", i, m.Protocol, errdefs.ErrNotImplemented)
		}
		if m.HostIP.IsValid() && !m.HostIP.Is4() {
			return nil, fmt.Errorf("ports[%d]: host_ip %s: only IPv4: %w", i, m.HostIP, errdefs.ErrNotImplemented)
		}
		hostIP := m.HostIP
		if hostIP.IsValid() && hostIP.IsUnspecified() {
			hostIP = netip.Addr{}
		}
		cLo, cHi := m.ContainerPort, m.ContainerPortEnd
		if cHi == 0 {
			cHi = cLo
		}
		hLo, hHi := m.HostPort, m.HostPortEnd
		if hHi == 0 {
			hHi = hLo
		}
		switch {
		case cLo == 0 || cHi < cLo:
			return nil, fmt.Errorf("ports[%d]: container port range %d-%d: %w", i, cLo, cHi, errdefs.ErrInvalidArgument)
		case hLo == 0 && m.HostPortEnd != 0:
			return nil, fmt.Errorf("ports[%d]: host port range without start: %w", i, errdefs.ErrInvalidArgument)
		case hHi < hLo:
			return nil, fmt.Errorf("ports[%d]: host port range %d-%d: %w", i, hLo, hHi, errdefs.ErrInvalidArgument)
		}
		cN, hN := int(cHi-cLo)+1, int(hHi-hLo)+1
		switch {
		case hLo == 0: // ephemeral for each container port
			for p := int(cLo); p <= int(cHi); p++ {
				out = append(out, portRequest{proto: proto, hostIP: hostIP, containerPort: uint16(p)})
			}
		case cN == hN: // one to one
			for k := 0; k < cN; k++ {
				out = append(out, portRequest{proto: proto, hostIP: hostIP, lo: hLo + uint16(k), hi: hLo + uint16(k), containerPort: cLo + uint16(k)})
			}
		case cN == 1: // a free one of the host range
			out = append(out, portRequest{proto: proto, hostIP: hostIP, lo: hLo, hi: hHi, containerPort: cLo})
		default:
			return nil, fmt.Errorf("ports[%d]: host range %d-%d and container range %d-%d differ in size: %w", i, hLo, hHi, cLo, cHi, errdefs.ErrInvalidArgument)
		}
	}
	return out, nil
}

// portKey identifies a host port for conflict checks.
type portKey struct {
	proto  string
	hostIP netip.Addr // invalid: every address
	port   uint16
}

// conflicts reports whether a and b cannot both be bound: same protocol and
// port, and one of them is on every address or both on the same one.
func (a portKey) conflicts(b portKey) bool {
	return a.proto == b.proto && a.port == b.port && (!a.hostIP.IsValid() || !b.hostIP.IsValid() || a.hostIP == b.hostIP)
}
