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
	// OwnRules says the manager's rules table is its alone, so rules that
	// no state names are its own debris and go too.
	OwnRules bool
	// LegacyLinks says links of an older version (whose aliases named no
	// instance) are this manager's: it is the only engine of the host
	// that can have made them. Links that name this manager's instance
	// are its own either way.
	LegacyLinks bool
}

// Sweep removes everything of ours that live does not name, in the state
// and in the kernel: containers' veths, namespaces, ports and addresses,
// then networks with their resolvers, rules and bridges, then any bridge,
// veth, namespace mount or nftables rule of ours that no state names at
// all (left by a crash between a kernel change and the state write). It is
// best effort and reports every error.
//
// Bridges and veths whose aliases name this manager's instance are its
// own; with live.LegacyLinks, those of an older version are too.
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
	errs = append(errs, m.sweepLinks(live.LegacyLinks))
	if live.OwnRules {
		errs = append(errs, m.sweepRules())
	}
	errs = append(errs, m.sweepNetNS(), m.sweepResolverFiles())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sweep: %w", err)
	}
	return nil
}

// sweepLinks deletes our veths of unknown containers and our bridges of
// unknown networks: this instance's, and with legacy also those whose
// aliases name no instance.
func (m *Manager) sweepLinks(legacy bool) error {
	links, err := retryDump(m.nl.LinkList)
	if err != nil {
		return fmt.Errorf("list links: %w", err)
	}
	var errs []error
	// Veths first: a bridge goes more cleanly without ports.
	for _, bridges := range []bool{false, true} {
		for _, l := range links {
			bridge, id, network, mine, old := m.linkOwner(l)
			if bridge != bridges || !mine && !(old && legacy) {
				continue
			}
			if bridge {
				if _, ok := m.st.Networks[network]; ok {
					continue
				}
			} else if cs, ok := m.st.Containers[id]; ok && slices.ContainsFunc(cs.Endpoints, func(e Endpoint) bool { return e.Network == network }) {
				continue
			}
			errs = append(errs, m.deleteLink(l.Attrs().Name))
		}
	}
	return errors.Join(errs...)
}

// sweepResolverFiles removes the resolver's files of networks and
// containers no state names (a crash between one and the other), and
// stops the resolver when no network is left.
func (m *Manager) sweepResolverFiles() error {
	var errs []error
	for dir, known := range map[string]func(string) bool{
		resolverNets: func(n string) bool { _, ok := m.st.Networks[n]; return ok },
		resolverCtrs: func(id string) bool { _, ok := m.st.Containers[id]; return ok },
	} {
		ents, _ := os.ReadDir(m.resolverPath(dir))
		for _, e := range ents {
			name := strings.TrimSuffix(e.Name(), ".json")
			if !known(name) {
				if err := os.Remove(m.resolverPath(dir, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
					errs = append(errs, err)
				}
			}
		}
	}
	if len(m.st.Networks) == 0 {
		m.stopResolver()
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
