// Package dns is the resolver embedded in each network of stack: it answers
// for the containers of our networks by name and forwards every other
// question to the host's upstream resolvers.
//
// # Records
//
// A [Table] holds one [Record] per container and network: the container's
// address there and the names it answers to (service name, container
// name, hostname, aliases). [Table.Add] and [Table.Remove] update its
// indexes in place under a write lock, at the cost of the container's own
// records (an up of N services is N changes, not N rebuilds of N
// records); a query reads what it needs under the read lock, once, so it
// sees the records either before or after a change, never half of one.
//
// # Handler chain
//
// Queries pass through a chain of [Handler]s, as in CoreDNS: [Records],
// then [Forward]. Records refuses (REFUSED) a client whose address is not
// on the listener's network: every network's gateway is reachable from
// every container through the host, and another project's container must
// learn nothing of this one's names, nor use its forwarder. Otherwise it
// answers
//
//   - A for the names of containers on the networks the client can see:
//     the network the listener belongs to, plus the other networks of the
//     container that owns the client's address. All addresses of a name
//     (the replicas of a service) are returned, rotated by one per query;
//   - PTR for the addresses of those containers;
//   - NOERROR with no answer for other types of those names (AAAA), so
//     clients do not wait for one;
//   - NXDOMAIN at once for names of our own that are not there: single
//     labels, names under the domain ([DefaultDomain]), and the reverse
//     names of our subnets. Such names never leak to the upstream.
//
// Everything else goes to Forward, which asks the upstream resolvers in
// order (the container's own dns: servers when it has them) and relays the
// first answer, over TCP when the client used TCP or the UDP answer was
// truncated. The resolvers run in the daemon, in the host's network
// namespace, so a loopback stub such as systemd-resolved's 127.0.0.53 is a
// perfectly good upstream: forwarding happens from the host side.
//
// A [Server] serves one handler on a UDP socket and a TCP listener the
// caller made (in the namespace it wanted, on the address it wanted).
//
// [ResolvConf] and [Hosts] render a container's /etc/resolv.conf and
// /etc/hosts.
//
// Owns: the record table, the handler chain, the DNS server, resolv.conf
// and hosts rendering.
// Must not import: any package of stack but internal/errdefs;
// golang.org/x/sys, github.com/vishvananda (it is portable).
package dns
