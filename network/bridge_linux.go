package network

import (
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/stack-dev/stack/internal/errdefs"
)

// setupBridge makes sure the bridge of ns exists, carries the gateway
// address and is up, and sets the sysctls the network needs. It adopts a
// bridge of ours that is already there (a restarted daemon) and refuses a
// link of the same name that is not ours.
func (m *Manager) setupBridge(ns *networkState) error {
	alias := m.bridgeAlias(ns.Config.Name)
	l, err := m.nl.LinkByName(ns.Bridge)
	switch {
	case err == nil:
		// An older version's bridge has an alias without our instance;
		// one without an alias was made by a daemon killed before it
		// could set one (the kernel takes no alias with RTM_NEWLINK),
		// and its name is ours: it hashes our instance and network.
		switch a := l.Attrs().Alias; {
		case l.Type() != "bridge" || a != "" && a != alias && a != bridgeAliasPrefix+ns.Config.Name:
			return fmt.Errorf("link %s exists and is not the bridge of this network (alias %q): %w", ns.Bridge, l.Attrs().Alias, errdefs.ErrAlreadyExists)
		case a == "":
			if err := m.nl.LinkSetAlias(l, alias); err != nil {
				return fmt.Errorf("set alias of %s: %w", ns.Bridge, err)
			}
		}
	case errors.As(err, new(netlink.LinkNotFoundError)):
		br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: ns.Bridge, MTU: m.mtu, HardwareAddr: bridgeMAC(ns.Config.Name)}}
		if err := m.nl.LinkAdd(br); err != nil {
			return fmt.Errorf("add bridge %s: %w", ns.Bridge, err)
		}
		if l, err = m.nl.LinkByName(ns.Bridge); err != nil {
			return fmt.Errorf("find bridge %s: %w", ns.Bridge, err)
		}
		if err := m.nl.LinkSetAlias(l, alias); err != nil {
			return fmt.Errorf("set alias of %s: %w", ns.Bridge, err)
		}
	default:
		return fmt.Errorf("find bridge %s: %w", ns.Bridge, err)
	}
	gw := &netlink.Addr{IPNet: &net.IPNet{IP: ns.Config.Gateway.AsSlice(), Mask: net.CIDRMask(ns.Config.Subnet.Bits(), 32)}}
	if err := m.nl.AddrAdd(l, gw); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("add %s to %s: %w", gw.IPNet, ns.Bridge, err)
	}
	if err := m.nl.LinkSetUp(l); err != nil {
		return fmt.Errorf("set %s up: %w", ns.Bridge, err)
	}
	return inNetNS(m.hostNS, func() error {
		// route_localnet lets packets from 127.0.0.1, DNATed to a
		// container by a published port, be routed out of the bridge
		// (ip-sysctl.rst: "route_localnet"); the nat rules then
		// masquerade them to the gateway address so the reply comes back.
		if err := writeSysctl("net.ipv4.conf."+ns.Bridge+".route_localnet", "1"); err != nil {
			return err
		}
		// No router advertisements or addresses on the bridge: IPv4 only.
		writeSysctl("net.ipv6.conf."+ns.Bridge+".disable_ipv6", "1")
		if ns.Config.Internal {
			return nil
		}
		// Forwarding is what lets containers out; it is per namespace.
		return writeSysctl("net.ipv4.ip_forward", "1")
	})
}

// linkUp sets link name up.
func linkUp(h *netlink.Handle, name string) error {
	l, err := h.LinkByName(name)
	if err != nil {
		return fmt.Errorf("find %s: %w", name, err)
	}
	if err := h.LinkSetUp(l); err != nil {
		return fmt.Errorf("set %s up: %w", name, err)
	}
	return nil
}

// setupVeth creates the veth pair of ep: the host end on the bridge of ns,
// the other end created straight in the container's namespace under its
// final name (eth0, ...), so no temporary name can clash there, with its
// MAC, address and, when defaultRoute, the default route via the gateway.
func (m *Manager) setupVeth(ctrNS netns.NsHandle, ctrNL *netlink.Handle, id string, ns *networkState, ep Endpoint, defaultRoute bool) error {
	br, err := m.nl.LinkByName(ns.Bridge)
	if err != nil {
		return fmt.Errorf("find bridge %s: %w", ns.Bridge, err)
	}
	veth := &netlink.Veth{
		LinkAttrs:        netlink.LinkAttrs{Name: ep.HostVeth, MTU: m.mtu, MasterIndex: br.Attrs().Index},
		PeerName:         ep.Interface,
		PeerMTU:          uint32(m.mtu),
		PeerHardwareAddr: ep.MAC,
		PeerNamespace:    netlink.NsFd(int(ctrNS)),
	}
	if err := m.nl.LinkAdd(veth); err != nil {
		if errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("add veth %s: %w: %w", ep.HostVeth, err, errdefs.ErrAlreadyExists)
		}
		return fmt.Errorf("add veth %s: %w", ep.HostVeth, err)
	}
	host, err := m.nl.LinkByName(ep.HostVeth)
	if err != nil {
		return fmt.Errorf("find veth %s: %w", ep.HostVeth, err)
	}
	if err := m.nl.LinkSetAlias(host, m.vethAlias(id, ep.Network)); err != nil {
		return fmt.Errorf("set alias of %s: %w", ep.HostVeth, err)
	}
	if err := m.nl.LinkSetUp(host); err != nil {
		return fmt.Errorf("set %s up: %w", ep.HostVeth, err)
	}
	peer, err := ctrNL.LinkByName(ep.Interface)
	if err != nil {
		return fmt.Errorf("find %s in container: %w", ep.Interface, err)
	}
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: ep.IP.Addr().AsSlice(), Mask: net.CIDRMask(ep.IP.Bits(), 32)}}
	if err := ctrNL.AddrAdd(peer, addr); err != nil {
		return fmt.Errorf("add %s to %s: %w", ep.IP, ep.Interface, err)
	}
	if err := ctrNL.LinkSetUp(peer); err != nil {
		return fmt.Errorf("set %s up: %w", ep.Interface, err)
	}
	if defaultRoute {
		r := &netlink.Route{LinkIndex: peer.Attrs().Index, Gw: ep.Gateway.AsSlice(), Scope: netlink.SCOPE_UNIVERSE}
		if err := ctrNL.RouteAdd(r); err != nil {
			return fmt.Errorf("add default route via %s: %w", ep.Gateway, err)
		}
	}
	return nil
}

func (m *Manager) bridgeAlias(network string) string {
	return bridgeAliasPrefix + m.instance + ":" + network
}

func (m *Manager) vethAlias(id, network string) string {
	return vethAliasPrefix + m.instance + ":" + id + " " + network
}

// linkOwner says whose a link of ours is: its network (a bridge) or its
// container and network (a veth), and whether it is this manager's own
// (its alias names this instance) or an older one's, whose alias named
// no instance. Links of other instances, and the host's, are not ours.
func (m *Manager) linkOwner(l netlink.Link) (bridge bool, id, network string, mine, legacy bool) {
	a := l.Attrs()
	switch {
	case strings.HasPrefix(a.Name, BridgePrefix) && strings.HasPrefix(a.Alias, bridgeAliasPrefix):
		bridge = true
		network = strings.TrimPrefix(a.Alias, bridgeAliasPrefix)
	case strings.HasPrefix(a.Name, VethPrefix) && strings.HasPrefix(a.Alias, vethAliasPrefix):
		id, network, _ = strings.Cut(strings.TrimPrefix(a.Alias, vethAliasPrefix), " ")
	default:
		return false, "", "", false, false
	}
	// A network or container name has no colon: an instance comes first.
	owner := id
	if bridge {
		owner = network
	}
	inst, rest, tagged := strings.Cut(owner, ":")
	switch {
	case !tagged:
		legacy = true
	case inst == m.instance:
		mine = true
		if bridge {
			network = rest
		} else {
			id = rest
		}
	}
	return bridge, id, network, mine, legacy
}
