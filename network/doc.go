// Package network gives containers their network: a network namespace per
// container, a Linux bridge per network, a veth pair per container and
// network, addresses, routes, NAT and published ports, and an embedded
// resolver per network. It talks to the kernel through netlink
// (vishvananda/netlink, google/nftables) and runs no external command.
//
// # Objects and names
//
// A network is a bridge named [BridgeName] ("stk-" and 10 hex digits of the
// SHA-256 of the network's name, within the 15 characters of IFNAMSIZ),
// carrying the gateway address (.1 of the subnet unless configured). Each
// container gets, per network, a veth pair: the host end "stv-" and 10 hex
// digits of the hash of container ID and network, enslaved to the bridge;
// the other end created directly in the container's namespace as eth0,
// eth1, ... in the order of [AttachConfig.Networks], with a MAC derived from
// its address (02:5a:a.b.c.d) so a restarted container keeps its ARP
// entries valid. Bridges and veths carry an alias (IFLA_IFALIAS,
// "stack-net:NAME" and "stack-ep:ID NETWORK") that says whose they are, so
// [Manager.Sweep] recognises ours from the kernel alone after a crash.
// The MTU is that of the host's default-route interface.
//
// The default route of a container goes via the gateway of its first
// network that is not internal. An internal network gets neither
// masquerade nor forwarding (see package nat); its containers still reach
// the gateway, hence the resolver.
//
// # Network namespaces
//
// Unless the caller passes one ([AttachConfig.NetNSPath], for
// network_mode: container:x), Setup makes a new namespace with unshare(2)
// on a locked OS thread and bind-mounts it on StateRoot/netns/ID, as
// ip-netns(8) does but outside /run/netns, so host tooling never sees or
// removes ours. The runtime joins it by path with setns(2). Teardown
// unmounts and removes it. Every setns happens on a locked thread that
// goes back to its own namespace before it is unlocked (and stays locked,
// to be discarded, if it cannot).
//
// # The host namespace
//
// Everything that is not inside a container (bridges, host ends, sysctls,
// nftables, resolvers, port probes) lives in the host namespace: the
// daemon's own by default, or [Options.HostNetNS]. Root tests use the
// latter to run complete networks inside a namespace of their own, with an
// "eth0" (a veth pair) standing for the host's interface.
//
// # Published ports
//
// Ports are published by kernel DNAT (see nat.NFTables), in prerouting for
// traffic from outside and in output for the host's own, so
// curl http://127.0.0.1:8080 works: the bridge gets route_localnet=1 and
// the nat rules masquerade such connections to the gateway address, so the
// container's reply comes back to the host. Host ports are checked before
// anything is created: against the ports of our other containers, and by
// binding the port on the host (a listening socket of another process
// fails it with a [PortInUseError] naming the holder when procfs tells).
// HostPort 0 takes an ephemeral port the kernel offers; a host range with
// one container port takes the first free port of the range. Ports lead to
// the container's first non-internal network.
//
// # DNS
//
// Each network has an embedded resolver (package dns) on its gateway,
// port 53 UDP and TCP, in the host namespace: it runs in the daemon, so it
// forwards to the host's resolvers from the host side and loopback stubs
// such as 127.0.0.53 work. Records are added by Setup and removed by
// Teardown, atomically. The caller writes /etc/resolv.conf and /etc/hosts
// with dns.ResolvConf and dns.Hosts, using [Endpoint.DNS] of the first
// endpoint as the nameserver.
//
// # State and crashes
//
// StateRoot holds ipam.json (subnets) and network.json (networks), both
// written atomically and durably when a network comes or goes, and one
// file per attached container under containers/ (its namespace, veths,
// addresses, ports), written before any of it exists and removed with it,
// so attaching costs the same however many containers there are; the
// addresses come back from those files at start (ipam.Restore). The
// kernel holds the rest. After a crash, [New] loads the state and [Manager.Sweep]
// removes whatever of ours in the kernel belongs to no live network or
// container: bridges, veths, namespace mounts, nftables rules. Networks
// are brought back (resolvers, rules) by calling [Manager.CreateNetwork]
// again, which is idempotent.
//
// # Limits
//
//   - IPv4 only: IPv6 subnets are refused with errdefs.ErrNotImplemented
//     and bridges have IPv6 disabled.
//   - A resolver binds gateway:53; a host process holding 0.0.0.0:53
//     (a dnsmasq without bind-interfaces) makes CreateNetwork fail.
//     Internal networks resolve our names only (SERVFAIL for the rest).
//   - net.ipv4.ip_forward is set when the first non-internal network is
//     created and never reset, as Docker does. A host firewall that drops
//     forwarded packets or input to the gateways in a table of its own
//     wins over our accepts.
//   - An external network must be known to this manager's state (created
//     before by it, not external); a bridge made by someone else is not
//     adopted.
//   - Bridges and veths carry the manager's instance (see
//     [Manager.Instance]) in their names and aliases, so several managers
//     (several state roots) share a host namespace; links of an older
//     version, without an instance, are swept only with
//     [Live].LegacyLinks.
//
// # The resolver
//
// The embedded resolvers run in a process of their own ("stack-resolver"),
// started with the first network and stopped with the last, in the host
// namespace and in a session of its own: containers resolve names while
// the daemon is down. The manager describes networks and records in files
// it follows (see resolver_linux.go); a restarted manager keeps it.
//
// # Concurrency
//
// A [Manager] serialises its operations with a mutex. One Manager owns a
// state root; two processes must not share one.
//
// Owns: network namespaces of containers, bridges, veths, addresses and
// routes, the NAT and filter rules (through package nat), the embedded
// resolvers (through package dns), and subnet and address allocation
// (through package ipam).
// Must not import: runtime, image, spec, planner, daemon, api, cmd.
package network
