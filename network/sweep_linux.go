package network

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Live names what is still alive: the networks of stacks that exist and
// the containers that exist (running or not).
type Live struct {
	Networks   []string
	Containers []string
	// Exclusive says this manager is the only one in its host namespace
	// and its rules table, so bridges, veths and rules of ours that no
	// state names are its own debris and go too. Without it, Sweep touches
	// only what its state names and its own namespace mounts, leaving other
	// managers' links and rules alone.
	Exclusive bool
}

// Sweep removes everything of ours that live does not name, in the state
// and in the kernel: containers' veths, namespaces, ports and addresses,
// then networks with their resolvers, rules and bridges, then any bridge,
// veth, namespace mount or nftables rule of ours that no state names at
// all (left by a crash between a kernel change and the state write). It is
// best effort and reports every error.
//
// With live.Exclusive, bridges and veths it finds in the host namespace
// with our prefixes and aliases are taken for its own.
func (m *Manager) Sweep(ctx context.Context, live Live) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	var errs []error
	for _, id := range slices.Sorted(maps.Keys(m.st.Containers)) {
		if !slices.Contains(live.Containers, id) {
			errs = append(errs, m.teardownLocked(id, m.st.Containers[id]))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(m.st.Networks)) {
		if slices.Contains(live.Networks, name) {
			continue
		}
		used := false
		for _, cs := range m.st.Containers {
			for _, ep := range cs.Endpoints {
				used = used || ep.Network == name
			}
		}
		if used {
			errs = append(errs, fmt.Errorf("sweep: network %q is not live but live containers use it", name))
			continue
		}
		errs = append(errs, m.removeNetworkLocked(m.st.Networks[name]))
	}
	// Addresses of containers that are in no state (a crash between the
	// ipam write and the state write).
	for _, n := range m.ipam.Networks() {
		for _, owner := range n.Addrs {
			if _, ok := m.st.Containers[owner]; !ok {
				errs = append(errs, m.ipam.Release(n.Name, owner))
			}
		}
		if _, ok := m.st.Networks[n.Name]; !ok && len(n.Addrs) == 0 {
			errs = append(errs, m.ipam.RemoveNetwork(n.Name))
		}
	}
	if live.Exclusive {
		errs = append(errs, m.sweepLinks(), m.sweepRules())
	}
	errs = append(errs, m.sweepNetNS())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sweep: %w", err)
	}
	return nil
}

// sweepLinks deletes our veths of unknown containers and our bridges of
// unknown networks.
func (m *Manager) sweepLinks() error {
	links, err := m.nl.LinkList()
	if err != nil {
		return fmt.Errorf("list links: %w", err)
	}
	var errs []error
	// Veths first: a bridge goes more cleanly without ports.
	for _, l := range links {
		a := l.Attrs()
		if !isOurs(l) || !strings.HasPrefix(a.Name, VethPrefix) {
			continue
		}
		id, network, _ := strings.Cut(strings.TrimPrefix(a.Alias, vethAliasPrefix), " ")
		if cs, ok := m.st.Containers[id]; ok && slices.ContainsFunc(cs.Endpoints, func(e Endpoint) bool { return e.Network == network }) {
			continue
		}
		errs = append(errs, m.deleteLink(a.Name))
	}
	for _, l := range links {
		a := l.Attrs()
		if !isOurs(l) || !strings.HasPrefix(a.Name, BridgePrefix) {
			continue
		}
		if _, ok := m.st.Networks[strings.TrimPrefix(a.Alias, bridgeAliasPrefix)]; ok {
			continue
		}
		errs = append(errs, m.deleteLink(a.Name))
	}
	return errors.Join(errs...)
}

// sweepNetNS removes namespace mounts of unknown containers.
func (m *Manager) sweepNetNS() error {
	dir := filepath.Join(m.root, netnsDir)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("list namespaces: %w", err)
	}
	var errs []error
	for _, e := range entries {
		if _, ok := m.st.Containers[e.Name()]; ok {
			continue
		}
		errs = append(errs, removeNetNS(filepath.Join(dir, e.Name())))
	}
	return errors.Join(errs...)
}

// sweepRules removes rules of unknown networks and port owners.
func (m *Manager) sweepRules() error {
	inv, err := m.rules.Inventory()
	if err != nil {
		return err
	}
	var errs []error
	for _, owner := range inv.PortOwners {
		if _, ok := m.st.Containers[owner]; !ok {
			errs = append(errs, m.rules.RemovePorts(owner))
		}
	}
	for _, name := range inv.Networks {
		if _, ok := m.st.Networks[name]; !ok {
			errs = append(errs, m.rules.RemoveNetwork(name))
		}
	}
	return errors.Join(errs...)
}
