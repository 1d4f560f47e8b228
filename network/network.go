package network

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/netip"

	"github.com/stack-dev/stack/internal/ident"
	"github.com/stack-dev/stack/network/nat"
)

// Interface name prefixes. Everything of ours in the kernel carries one, and
// an alias (IFLA_IFALIAS) that says what it belongs to, so a sweep after a
// crash can tell ours from the host's without any state file.
//
// The names and aliases also carry the manager's instance (see
// [Manager.Instance]): two engines with state roots of their own may run
// networks of the same name (two checkouts of a project), and must never
// share a bridge or delete each other's links.
const (
	BridgePrefix = "stk-" // bridges: "stk-" + 10 hex digits
	VethPrefix   = "stv-" // host ends of veth pairs: "stv-" + 10 hex digits

	bridgeAliasPrefix = "stack-net:" // + instance + ":" + network name
	vethAliasPrefix   = "stack-ep:"  // + instance + ":" + container ID + " " + network name
)

// DefaultTable is the nftables table of ours when [Options.Table] is empty.
const DefaultTable = "stack"

// DefaultDNSPort is the port of the embedded resolvers.
const DefaultDNSPort = 53

// Options configures a [Manager].
type Options struct {
	// StateRoot is the directory of the manager's state: ipam.json,
	// network.json and netns/<container-id>. Required.
	StateRoot string
	// Logger receives debug messages. Optional: discarded.
	Logger *slog.Logger
	// Rules installs the NAT and filter rules. Optional: nftables in
	// table Table of the host namespace.
	Rules nat.Rules
	// Table is the nftables table used when Rules is nil. Optional:
	// [DefaultTable].
	Table string
	// HostNetNS is the path of the network namespace the manager treats
	// as the host: bridges, host ends of veths, rules and resolvers live
	// there. Optional: the namespace of the calling process. Tests use it
	// to run a whole stack of networks in a namespace of their own.
	HostNetNS string
	// Pool is the prefix network subnets are carved from. Optional:
	// ipam.DefaultPool.
	Pool netip.Prefix
	// MTU of bridges and veths. Optional: the MTU of the host's
	// default-route interface, or 1500.
	MTU int
	// Upstreams are the resolvers ("ip:port") names outside our networks
	// are forwarded to. Optional: none, and such names fail with SERVFAIL.
	// The caller reads them from the host's resolv.conf (see
	// dns.ParseResolvConf). Loopback stubs such as 127.0.0.53 are fine:
	// the embedded resolvers forward from the host side.
	Upstreams []string
	// DNSPort is the port of the embedded resolvers on each gateway.
	// Optional: [DefaultDNSPort]. A negative value disables them.
	DNSPort int
	// DNSDomain is the domain of our names. Optional: dns.DefaultDomain.
	DNSDomain string
}

// NetworkConfig describes a network.
type NetworkConfig struct {
	Name     string            // required; the full name, e.g. "myproj_default"
	Internal bool              // no masquerade, no default route, no forwarding out
	External bool              // must already exist; never created or removed
	Subnet   netip.Prefix      // optional
	Gateway  netip.Addr        // optional
	IPRange  netip.Prefix      // optional
	Labels   map[string]string // optional; kept, not interpreted
}

// NetworkStatus is what a network looks like once it is set up.
type NetworkStatus struct {
	Name     string
	Bridge   string
	Subnet   netip.Prefix
	Gateway  netip.Addr
	Internal bool
	Labels   map[string]string
	// DNS is the address of the network's embedded resolver, invalid
	// when resolvers are disabled.
	DNS netip.AddrPort
}

// AttachConfig is what a container needs of the network.
type AttachConfig struct {
	ContainerID string // required; path-safe
	// NetNSPath joins an existing namespace instead of creating one
	// (network_mode: container:x). Optional. Such a namespace is never
	// removed by the manager.
	NetNSPath string
	// NetNSLater says the container makes a network namespace of its own,
	// which does not exist yet (a user namespace owns it, and is made with
	// the container's process): Setup reserves its addresses, ports and
	// DNS names, and [Manager.Plug] wires each namespace it is given, one
	// per run. NetNSPath must be empty. Optional.
	NetNSLater bool
	// Networks, in order: the first becomes eth0, and the first that is
	// not internal carries the default route. Empty means network_mode
	// none: a namespace with lo only.
	Networks []EndpointConfig
	Ports    []PortMapping
	// DNSServers replaces the upstream resolvers for this container's
	// queries (a service's dns:). Optional: [Options.Upstreams].
	DNSServers []netip.Addr
}

// EndpointConfig is a container's membership of one network.
type EndpointConfig struct {
	Network     string     // required
	IPv4Address netip.Addr // optional: static address
	// Aliases and DNSNames are the names the container answers to on
	// this network: service name, container name, hostname, aliases.
	Aliases  []string
	DNSNames []string
	// NetNS is, for Connect of a container whose namespace is plugged
	// run by run (AttachConfig.NetNSLater), the path of the one it runs
	// in now; without it the endpoint is wired by the next Plug.
	NetNS string `json:"-"`
}

// PortMapping is one entry of a service's ports. A single container port
// with a host range (8080-8085:80) takes the first free port of the range;
// equal ranges (8080-8081:80-81) map one to one.
type PortMapping struct {
	HostIP           netip.Addr // optional: every host address
	HostPort         uint16     // optional: 0 picks a free ephemeral port
	HostPortEnd      uint16     // optional: last port of a host range
	ContainerPort    uint16     // required
	ContainerPortEnd uint16     // optional: last port of a container range
	Protocol         string     // "tcp" (default) or "udp"
}

// Status is what [Manager.Setup] did for a container.
type Status struct {
	NetNSPath string
	Endpoints []Endpoint
	Ports     []PortBinding
}

// Endpoint is a container's interface on one network.
type Endpoint struct {
	Network   string
	Interface string // in the container: eth0, eth1, ...
	HostVeth  string // on the host, on the bridge
	IP        netip.Prefix
	Gateway   netip.Addr
	MAC       net.HardwareAddr
	// DNS is the resolver a container on this network uses (invalid when
	// resolvers are disabled).
	DNS netip.AddrPort
}

// PortBinding is a published port with its real host port.
type PortBinding struct {
	Protocol      string
	HostIP        netip.Addr // invalid: every host address
	HostPort      uint16
	ContainerIP   netip.Addr
	ContainerPort uint16
}

// String renders b as docker port does: "80/tcp -> 0.0.0.0:8080".
func (b PortBinding) String() string {
	host := netip.IPv4Unspecified()
	if b.HostIP.IsValid() {
		host = b.HostIP
	}
	return fmt.Sprintf("%d/%s -> %s", b.ContainerPort, b.Protocol, netip.AddrPortFrom(host, b.HostPort))
}

// Driver is the contract of a network driver: check a container's
// configuration, wire it up, and undo that. Setup returns what it did.
type Driver interface {
	Validate(cfg AttachConfig) error
	Setup(ctx context.Context, cfg AttachConfig) (Status, error)
	Teardown(ctx context.Context, containerID string) error
}

// BridgeName returns the bridge interface of network name of a manager's
// instance: "stk-" and the first 10 hex digits of the SHA-256 of both (14
// characters, within IFNAMSIZ).
func BridgeName(instance, name string) string {
	return BridgePrefix + shortHash(instance+"\x00"+name)
}

// vethName returns the host end of container id's veth on network.
func vethName(instance, id, network string) string {
	return VethPrefix + shortHash(instance+"\x00"+id+"\x00"+network)
}

func shortHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:5])
}

// macFor derives a locally administered unicast MAC from ip, so an
// address keeps its MAC across restarts (stable ARP caches).
func macFor(ip netip.Addr) net.HardwareAddr {
	b := ip.As4()
	return net.HardwareAddr{0x02, 0x5a, b[0], b[1], b[2], b[3]}
}

// bridgeMAC is a fixed MAC for the bridge of network name: without one a
// bridge takes the lowest MAC of its ports and changes it as they come and
// go.
func bridgeMAC(name string) net.HardwareAddr {
	sum := sha256.Sum256([]byte("bridge\x00" + name))
	return net.HardwareAddr{0x02, 0x5b, sum[0], sum[1], sum[2], sum[3]}
}

// validateID checks a name that becomes a link name, a file name or a
// key: see internal/ident.
func validateID(kind, id string) error { return ident.Name(kind, id) }
