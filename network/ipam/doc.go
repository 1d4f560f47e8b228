// Package ipam allocates IPv4 subnets to networks and addresses to the
// containers on them, and persists what it allocated so that a restart of
// the daemon or of the host gives every container its address back.
//
// It is pure: it reads no kernel state. The caller passes the prefixes to
// stay away from (the host's routes and addresses) to [Allocator.AddNetwork];
// the allocator itself also never hands out a subnet that overlaps another
// network it knows.
//
// # Allocation rules
//
//   - A network without a configured subnet gets the first free /24 (by
//     default; see [Options]) of the pool, 10.89.0.0/16 by default, that
//     overlaps neither another of our networks nor an avoided prefix.
//   - A configured subnet is honoured as given, even when it overlaps a
//     host route (the user asked for it), but never when it overlaps
//     another network of ours.
//   - The gateway is the first address of the subnet unless configured.
//   - Dynamic addresses come from ip_range when configured, else from the
//     whole subnet, never the network, broadcast or gateway address. The
//     search starts after the last address handed out, so a released
//     address is not reused at once (stale ARP and DNS caches).
//   - A requested static address is honoured when it is free and refused
//     with [errdefs.ErrAlreadyExists] when another owner holds it.
//   - Allocation is idempotent per (network, owner).
//
// Every change is written to the state file before it is reported, as JSON,
// atomically (temporary file, fsync, rename, fsync of the directory). A
// failed write undoes the change in memory.
//
// An [Allocator] is safe for concurrent use. It does not lock the state file
// against other processes: one daemon owns the state directory.
//
// Owns: subnet and address allocation, the ipam state file.
// Must not import: golang.org/x/sys, github.com/vishvananda, or any package
// of stack other than internal/errdefs.
package ipam
