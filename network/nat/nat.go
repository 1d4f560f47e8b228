package nat

import (
	"fmt"
	"net/netip"
)

// Network is what the rules need to know of one network of ours.
type Network struct {
	Name     string       // required; unique among our networks
	Bridge   string       // required; the bridge interface
	Subnet   netip.Prefix // required
	Internal bool         // no masquerade, no forwarding in or out
}

// Port is one published port: traffic to HostIP:HostPort goes to
// ContainerIP:ContainerPort.
type Port struct {
	Protocol      string     // "tcp" or "udp"
	HostIP        netip.Addr // optional: the zero Addr means every host address
	HostPort      uint16     // required
	ContainerIP   netip.Addr // required
	ContainerPort uint16     // required
	Bridge        string     // required: the bridge ContainerIP is on
}

// String renders p as "tcp 0.0.0.0:8080 -> 10.89.0.2:80".
func (p Port) String() string {
	host := "0.0.0.0"
	if p.HostIP.IsValid() {
		host = p.HostIP.String()
	}
	return fmt.Sprintf("%s %s -> %s", p.Protocol, netip.AddrPortFrom(netip.MustParseAddr(host), p.HostPort), netip.AddrPortFrom(p.ContainerIP, p.ContainerPort))
}

// Inventory is what a [Rules] holds, by name: the networks and the owners
// (container IDs) of published ports. A crash-recovery sweep compares it
// with what is live.
type Inventory struct {
	Networks   []string
	PortOwners []string
}

// Rules installs and removes the packet filtering and NAT rules of our
// networks and published ports. Every method is idempotent: adding what is
// there replaces it, removing what is not there succeeds. Implementations
// are safe for concurrent use.
type Rules interface {
	// AddNetwork installs the rules of n: masquerade of its subnet unless
	// internal, isolation from our other networks, and the hairpin
	// masquerade that published ports need.
	AddNetwork(n Network) error
	// RemoveNetwork removes the rules of network name. When it was the
	// last network, everything of ours goes.
	RemoveNetwork(name string) error
	// AddPorts publishes ports on behalf of owner, replacing what owner
	// published before.
	AddPorts(owner string, ports []Port) error
	// RemovePorts removes the ports owner published.
	RemovePorts(owner string) error
	// Inventory lists what is installed.
	Inventory() (Inventory, error)
}
