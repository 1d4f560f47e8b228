// Package nat installs the packet filtering and NAT of stack's networks:
// masquerade of outbound traffic, isolation between networks, internal
// networks without a way out, and published ports by kernel DNAT.
//
// [Rules] is the contract; [NFTables] implements it over netlink with
// google/nftables in a table of our own (no nft binary), and [Fake] records
// the operations as text for tests that run without root. See [NFTables]
// for the ruleset.
//
// Owns: the nftables table of stack and what goes in it.
// Must not import: any package of stack but internal/errdefs; it knows
// nothing of containers beyond an owner name, an address and a bridge.
package nat
