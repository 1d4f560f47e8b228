package network

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/stack-dev/stack/internal/errdefs"
	"github.com/stack-dev/stack/network/dns"
	"github.com/stack-dev/stack/network/ipam"
	"github.com/stack-dev/stack/network/nat"
)

// Manager sets up networks and attaches containers to them. Create it with
// [New] and release it with [Manager.Close]. It is safe for concurrent use;
// operations are serialised.
type Manager struct {
	root      string
	instance  string
	log       *slog.Logger
	hostNS    netns.NsHandle
	nl        *netlink.Handle
	rules     nat.Rules
	closeRule func() error
	ipam      *ipam.Allocator
	records   *dns.Table
	upstreams []string
	dnsPort   int
	mtu       int

	mu sync.Mutex
	st *state
}

var _ Driver = (*Manager)(nil)

// New returns a Manager with the state found under opts.StateRoot. It
// restarts the embedded resolvers of the networks it knows and loads the
// DNS records of the containers it knows; it does not check the kernel
// (see [Manager.Sweep]).
func New(opts Options) (_ *Manager, retErr error) {
	if opts.StateRoot == "" {
		return nil, fmt.Errorf("network: state root is required: %w", errdefs.ErrInvalidArgument)
	}
	if err := os.MkdirAll(filepath.Join(opts.StateRoot, netnsDir), 0o700); err != nil {
		return nil, fmt.Errorf("network: %w", err)
	}
	instance, err := LoadInstance(opts.StateRoot)
	if err != nil {
		return nil, fmt.Errorf("network: %w", err)
	}
	m := &Manager{
		root:      opts.StateRoot,
		instance:  instance,
		log:       opts.Logger,
		upstreams: slices.Clone(opts.Upstreams),
		dnsPort:   opts.DNSPort,
		mtu:       opts.MTU,
		records:   dns.NewTable(opts.DNSDomain),
	}
	if m.log == nil {
		m.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if m.dnsPort == 0 {
		m.dnsPort = DefaultDNSPort
	}
	if opts.HostNetNS != "" {
		m.hostNS, err = netns.GetFromPath(opts.HostNetNS)
	} else {
		m.hostNS, err = netns.GetFromPath("/proc/self/ns/net")
	}
	if err != nil {
		return nil, fmt.Errorf("network: open host netns: %w", err)
	}
	defer func() {
		if retErr != nil {
			m.Close()
		}
	}()
	if m.nl, err = netlink.NewHandleAt(m.hostNS); err != nil {
		return nil, fmt.Errorf("network: netlink: %w", err)
	}
	if m.mtu == 0 {
		m.mtu = hostMTU(m.nl)
	}
	m.rules = opts.Rules
	if m.rules == nil {
		table := opts.Table
		if table == "" {
			table = DefaultTable
		}
		nft, err := nat.NewNFTables(nat.NFTablesConfig{Table: table, NetNS: int(m.hostNS)})
		if err != nil {
			return nil, fmt.Errorf("network: %w", err)
		}
		m.rules, m.closeRule = nft, nft.Close
	}
	if m.ipam, err = ipam.New(ipam.Options{Path: filepath.Join(m.root, ipamFile), Pool: opts.Pool}); err != nil {
		return nil, fmt.Errorf("network: %w", err)
	}
	if m.st, err = loadState(m.root); err != nil {
		return nil, fmt.Errorf("network: load state: %w", err)
	}
	// The addresses are the containers' to keep (see ipam.Network).
	for _, id := range slices.Sorted(maps.Keys(m.st.Containers)) {
		for _, ep := range m.st.Containers[id].Endpoints {
			if err := m.ipam.Restore(ep.Network, id, ep.IP.Addr()); err != nil {
				m.log.Warn("restore an address", "container", id, "err", err)
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(m.st.Networks)) {
		n, ok := m.ipam.Network(name)
		if !ok {
			continue
		}
		m.records.AddNetwork(name, n.Subnet)
	}
	for _, id := range slices.Sorted(maps.Keys(m.st.Containers)) {
		m.addRecords(id, m.st.Containers[id])
	}
	return m, nil
}

// Close releases the manager's handles. It leaves networks, containers
// and the resolver in place: a new Manager on the same state root takes
// them over. The Manager must not be used afterwards; closing it again
// does nothing.
func (m *Manager) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	var errs []error
	if m.closeRule != nil {
		errs = append(errs, m.closeRule())
		m.closeRule = nil
	}
	if m.nl != nil {
		m.nl.Close()
		m.nl = nil
	}
	if m.hostNS.IsOpen() {
		m.hostNS.Close()
	}
	return errors.Join(errs...)
}

// Instance returns the identity of the manager's state root, which goes
// into the names of its bridges and veths.
func (m *Manager) Instance() string { return m.instance }

// Records returns the DNS record table of the manager's networks.
func (m *Manager) Records() *dns.Table { return m.records }

// CreateNetwork sets up network cfg.Name: its subnet, its bridge with the
// gateway address, its NAT and filter rules and its embedded resolver.
// It is idempotent, and it is how a restarted daemon brings a network's
// resolver and rules back: calling it for a network that exists re-applies
// what is missing. An external network is only looked up: it must have
// been created (not external) before, and it fails with
// [errdefs.ErrNotFound] otherwise.
func (m *Manager) CreateNetwork(ctx context.Context, cfg NetworkConfig) (_ NetworkStatus, retErr error) {
	if err := validateID("network", cfg.Name); err != nil {
		return NetworkStatus{}, fmt.Errorf("create network: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	ns, known := m.st.Networks[cfg.Name]
	if cfg.External {
		if !known {
			return NetworkStatus{}, fmt.Errorf("external network %q: %w", cfg.Name, errdefs.ErrNotFound)
		}
		return m.status(ns), nil
	}
	if known {
		cfg.Labels = ns.Config.Labels
		if cfg.Internal != ns.Config.Internal {
			return NetworkStatus{}, fmt.Errorf("network %q exists with internal=%v: %w", cfg.Name, ns.Config.Internal, errdefs.ErrFailedPrecondition)
		}
	}
	unlock, err := lockHost()
	if err != nil {
		return NetworkStatus{}, fmt.Errorf("create network %q: %w", cfg.Name, err)
	}
	defer unlock()
	bridges := map[string]bool{}
	for _, other := range m.st.Networks {
		bridges[other.Bridge] = true
	}
	avoid, err := hostPrefixes(m.nl, bridges)
	if err != nil {
		return NetworkStatus{}, fmt.Errorf("create network %q: %w", cfg.Name, err)
	}
	if m.dnsPort > 0 && !known {
		avoid = append(avoid, boundAddrs(m.hostNS, m.dnsPort)...)
	}
	alloc, err := m.ipam.AddNetwork(cfg.Name, ipam.Config{Subnet: cfg.Subnet, Gateway: cfg.Gateway, IPRange: cfg.IPRange}, avoid)
	if err != nil {
		return NetworkStatus{}, fmt.Errorf("create network: %w", err)
	}
	bridge := BridgeName(m.instance, cfg.Name)
	if known {
		bridge = ns.Bridge // named by an older version, maybe
	}
	ns = &networkState{Config: cfg, Bridge: bridge}
	ns.Config.Subnet, ns.Config.Gateway, ns.Config.IPRange = alloc.Subnet, alloc.Gateway, alloc.IPRange
	if !known {
		defer func() {
			if retErr != nil {
				m.removeNetworkLocked(ns)
			}
		}()
	}
	if err := m.setupBridge(ns); err != nil {
		return NetworkStatus{}, fmt.Errorf("create network %q: %w", cfg.Name, err)
	}
	if err := m.rules.AddNetwork(nat.Network{Name: cfg.Name, Bridge: ns.Bridge, Subnet: alloc.Subnet, Internal: cfg.Internal}); err != nil {
		return NetworkStatus{}, fmt.Errorf("create network %q: %w", cfg.Name, err)
	}
	m.records.AddNetwork(cfg.Name, alloc.Subnet)
	if err := m.serveNetwork(ns); err != nil {
		return NetworkStatus{}, fmt.Errorf("create network %q: %w", cfg.Name, err)
	}
	m.st.Networks[cfg.Name] = ns
	if err := m.saveNetworks(); err != nil {
		return NetworkStatus{}, err
	}
	return m.status(ns), nil
}

func (m *Manager) status(ns *networkState) NetworkStatus {
	s := NetworkStatus{
		Name:     ns.Config.Name,
		Bridge:   ns.Bridge,
		Subnet:   ns.Config.Subnet,
		Gateway:  ns.Config.Gateway,
		Internal: ns.Config.Internal,
		Labels:   maps.Clone(ns.Config.Labels),
	}
	if m.dnsPort > 0 {
		s.DNS = netip.AddrPortFrom(ns.Config.Gateway, uint16(m.dnsPort))
	}
	return s
}

// Networks returns the status of every network, sorted by name.
func (m *Manager) Networks() []NetworkStatus {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []NetworkStatus
	for _, name := range slices.Sorted(maps.Keys(m.st.Networks)) {
		out = append(out, m.status(m.st.Networks[name]))
	}
	return out
}

// RemoveNetwork removes network name: resolver, rules, bridge and subnet.
// It fails with [errdefs.ErrFailedPrecondition] while containers are
// attached, and succeeds for a network it does not know. Removal is best
// effort: it goes on after a failure and reports every error.
func (m *Manager) RemoveNetwork(ctx context.Context, name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	ns, ok := m.st.Networks[name]
	if !ok {
		return nil
	}
	var users []string
	for _, id := range slices.Sorted(maps.Keys(m.st.Containers)) {
		for _, ep := range m.st.Containers[id].Endpoints {
			if ep.Network == name {
				users = append(users, id)
			}
		}
	}
	if len(users) > 0 {
		return fmt.Errorf("remove network %q: in use by %s: %w", name, strings.Join(users, ", "), errdefs.ErrFailedPrecondition)
	}
	if err := m.removeNetworkLocked(ns); err != nil {
		return fmt.Errorf("remove network %q: %w", name, err)
	}
	return nil
}

func (m *Manager) removeNetworkLocked(ns *networkState) error {
	name := ns.Config.Name
	var errs []error
	errs = append(errs, m.unserveNetwork(name))
	m.records.RemoveNetwork(name)
	errs = append(errs, m.rules.RemoveNetwork(name))
	errs = append(errs, m.deleteLink(ns.Bridge))
	errs = append(errs, m.ipam.RemoveNetwork(name))
	delete(m.st.Networks, name)
	errs = append(errs, m.saveNetworks())
	return errors.Join(errs...)
}

// deleteLink deletes a host link by name; a missing link is fine.
func (m *Manager) deleteLink(name string) error {
	l, err := m.nl.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil
		}
		return fmt.Errorf("find link %s: %w", name, err)
	}
	if err := m.nl.LinkDel(l); err != nil && !errors.Is(err, unix.ENODEV) {
		return fmt.Errorf("delete link %s: %w", name, err)
	}
	return nil
}

// saveNetworks writes the networks' state (not the containers').
func (m *Manager) saveNetworks() error {
	if err := m.st.saveNetworks(m.root); err != nil {
		return fmt.Errorf("save network state: %w", err)
	}
	return nil
}

// Validate checks cfg against what the manager knows, without changing
// anything.
func (m *Manager) Validate(cfg AttachConfig) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, err := m.validateLocked(cfg)
	return err
}

func (m *Manager) validateLocked(cfg AttachConfig) ([]portRequest, error) {
	if err := validateID("container", cfg.ContainerID); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for i, ep := range cfg.Networks {
		ns, ok := m.st.Networks[ep.Network]
		if !ok {
			return nil, fmt.Errorf("networks[%d]: network %q: %w", i, ep.Network, errdefs.ErrNotFound)
		}
		if seen[ep.Network] {
			return nil, fmt.Errorf("networks[%d]: network %q twice: %w", i, ep.Network, errdefs.ErrInvalidArgument)
		}
		seen[ep.Network] = true
		if ep.IPv4Address.IsValid() && !ns.Config.Subnet.Contains(ep.IPv4Address) {
			return nil, fmt.Errorf("networks[%d]: ipv4_address %s is not in %s: %w", i, ep.IPv4Address, ns.Config.Subnet, errdefs.ErrInvalidArgument)
		}
	}
	reqs, err := expandPorts(cfg.Ports)
	if err != nil {
		return nil, err
	}
	if len(reqs) > 0 && m.publishNetwork(cfg) == nil {
		return nil, fmt.Errorf("ports: the container is on no network that is not internal: %w", errdefs.ErrInvalidArgument)
	}
	return reqs, nil
}

// publishNetwork returns the network published ports lead to: the first
// that is not internal.
func (m *Manager) publishNetwork(cfg AttachConfig) *networkState {
	for _, ep := range cfg.Networks {
		if ns := m.st.Networks[ep.Network]; ns != nil && !ns.Config.Internal {
			return ns
		}
	}
	return nil
}

// Setup gives container cfg.ContainerID its network: a namespace (unless
// cfg.NetNSPath names one), a veth on each network's bridge with its
// address, the default route, published ports and DNS records. Host ports
// are checked before anything is created, and a failed Setup undoes what
// it did. Setup of a container that is set up fails with
// [errdefs.ErrAlreadyExists]; call [Manager.Teardown] first.
func (m *Manager) Setup(ctx context.Context, cfg AttachConfig) (_ Status, retErr error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	reqs, err := m.validateLocked(cfg)
	if err != nil {
		return Status{}, fmt.Errorf("set up network of %q: %w", cfg.ContainerID, err)
	}
	id := cfg.ContainerID
	if _, ok := m.st.Containers[id]; ok {
		return Status{}, fmt.Errorf("set up network of %q: %w", id, errdefs.ErrAlreadyExists)
	}
	keys, err := m.reservePorts(reqs)
	if err != nil {
		return Status{}, fmt.Errorf("set up network of %q: %w", id, err)
	}

	cs := &containerState{NetNSPath: cfg.NetNSPath, Networks: cfg.Networks}
	for _, s := range cfg.DNSServers {
		cs.DNS = append(cs.DNS, netip.AddrPortFrom(s, 53).String())
	}
	defer func() {
		if retErr != nil {
			if err := m.teardownLocked(id, cs); err != nil {
				m.log.Debug("undo failed setup", "container", id, "err", err)
			}
		}
	}()
	if cfg.NetNSLater && cfg.NetNSPath != "" {
		return Status{}, fmt.Errorf("set up network of %q: a namespace both given and made later: %w", id, errdefs.ErrInvalidArgument)
	}
	cs.Later = cfg.NetNSLater
	if cs.NetNSPath == "" && !cs.Later {
		cs.NetNSPath = filepath.Join(m.root, netnsDir, id)
		cs.OwnNetNS = true
	}
	// Everything the container gets is decided, then written down,
	// before any of it exists: a crash from here on leaves a state that
	// names what Teardown (or the sweep at start) must remove.
	for i, epc := range cfg.Networks {
		nst := m.st.Networks[epc.Network]
		addr, err := m.ipam.Allocate(epc.Network, id, epc.IPv4Address)
		if err != nil {
			return Status{}, fmt.Errorf("set up network of %q: %w", id, err)
		}
		ep := Endpoint{
			Network:   epc.Network,
			Interface: fmt.Sprintf("eth%d", i),
			HostVeth:  vethName(m.instance, id, epc.Network),
			IP:        netip.PrefixFrom(addr, nst.Config.Subnet.Bits()),
			Gateway:   nst.Config.Gateway,
			MAC:       macFor(addr),
		}
		if m.dnsPort > 0 {
			ep.DNS = netip.AddrPortFrom(nst.Config.Gateway, uint16(m.dnsPort))
		}
		cs.Endpoints = append(cs.Endpoints, ep)
	}
	var ports []nat.Port
	if len(reqs) > 0 {
		pub := m.publishNetwork(cfg)
		var cip netip.Addr
		for _, ep := range cs.Endpoints {
			if ep.Network == pub.Config.Name {
				cip = ep.IP.Addr()
			}
		}
		for i, r := range reqs {
			ports = append(ports, nat.Port{Protocol: r.proto, HostIP: r.hostIP, HostPort: keys[i].port, ContainerIP: cip, ContainerPort: r.containerPort, Bridge: pub.Bridge})
			cs.Ports = append(cs.Ports, PortBinding{Protocol: r.proto, HostIP: r.hostIP, HostPort: keys[i].port, ContainerIP: cip, ContainerPort: r.containerPort})
		}
	}
	if err := saveContainer(m.root, id, cs); err != nil {
		return Status{}, fmt.Errorf("set up network of %q: record it: %w", id, err)
	}
	m.st.Containers[id] = cs

	if !cs.Later { // else Plug wires each namespace the container makes
		if cs.OwnNetNS {
			if err := createNetNS(cs.NetNSPath); err != nil {
				return Status{}, fmt.Errorf("set up network of %q: %w", id, err)
			}
		}
		ns, err := openNetNS(cs.NetNSPath)
		if err != nil {
			return Status{}, fmt.Errorf("set up network of %q: %w", id, err)
		}
		defer ns.close()
		routed := false
		for _, ep := range cs.Endpoints {
			nst := m.st.Networks[ep.Network]
			defaultRoute := !nst.Config.Internal && !routed
			routed = routed || defaultRoute
			if err := m.setupVeth(ns.h, ns.nl, id, nst, ep, defaultRoute); err != nil {
				return Status{}, fmt.Errorf("set up network of %q on %q: %w", id, ep.Network, err)
			}
		}
	}
	if len(ports) > 0 {
		if err := m.rules.AddPorts(id, ports); err != nil {
			return Status{}, fmt.Errorf("set up network of %q: publish ports: %w", id, err)
		}
	}
	if err := m.addRecords(id, cs); err != nil {
		return Status{}, fmt.Errorf("set up network of %q: %w", id, err)
	}
	return statusOf(cs), nil
}

// netNS is a container's network namespace, open, with a netlink handle
// in it.
type netNS struct {
	h  netns.NsHandle
	nl *netlink.Handle
}

func openNetNS(path string) (*netNS, error) {
	h, err := netns.GetFromPath(path)
	if err != nil {
		return nil, fmt.Errorf("open netns: %w", err)
	}
	nl, err := netlink.NewHandleAt(h)
	if err != nil {
		h.Close()
		return nil, fmt.Errorf("netlink in netns: %w", err)
	}
	if err := linkUp(nl, "lo"); err != nil {
		nl.Close()
		h.Close()
		return nil, err
	}
	return &netNS{h: h, nl: nl}, nil
}

func (n *netNS) close() {
	n.nl.Close()
	n.h.Close()
}

// Plug wires the network namespace at path (/proc/PID/ns/net of the
// container's process) to the networks Setup reserved for container id
// with NetNSLater: a veth on each network's bridge with the container's
// address, MAC and routes. Plug it again, for every run: a veth left from
// an earlier namespace is replaced. The addresses, ports and DNS names
// stay as Setup made them.
func (m *Manager) Plug(ctx context.Context, id, path string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	cs, ok := m.st.Containers[id]
	if !ok {
		return fmt.Errorf("plug network of %q: %w", id, errdefs.ErrNotFound)
	}
	if !cs.Later {
		return fmt.Errorf("plug network of %q: its namespace was not made later: %w", id, errdefs.ErrFailedPrecondition)
	}
	ns, err := openNetNS(path)
	if err != nil {
		return fmt.Errorf("plug network of %q: %w", id, err)
	}
	defer ns.close()
	routed := false
	for _, ep := range cs.Endpoints {
		nst, ok := m.st.Networks[ep.Network]
		if !ok {
			return fmt.Errorf("plug network of %q: network %q: %w", id, ep.Network, errdefs.ErrNotFound)
		}
		if err := m.deleteLink(ep.HostVeth); err != nil {
			return fmt.Errorf("plug network of %q: %w", id, err)
		}
		defaultRoute := !nst.Config.Internal && !routed
		routed = routed || defaultRoute
		if err := m.setupVeth(ns.h, ns.nl, id, nst, ep, defaultRoute); err != nil {
			return fmt.Errorf("plug network of %q on %q: %w", id, ep.Network, err)
		}
	}
	return nil
}

func statusOf(cs *containerState) Status {
	return Status{NetNSPath: cs.NetNSPath, Endpoints: slices.Clone(cs.Endpoints), Ports: slices.Clone(cs.Ports)}
}

// Status returns what Setup did for container id.
func (m *Manager) Status(id string) (Status, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cs, ok := m.st.Containers[id]
	if !ok {
		return Status{}, fmt.Errorf("network of container %q: %w", id, errdefs.ErrNotFound)
	}
	return statusOf(cs), nil
}

func (m *Manager) addRecords(id string, cs *containerState) error {
	var recs []dns.Record
	for i, ep := range cs.Endpoints {
		var names []string
		if i < len(cs.Networks) {
			for _, n := range slices.Concat(cs.Networks[i].DNSNames, cs.Networks[i].Aliases) {
				if !slices.Contains(names, n) {
					names = append(names, n)
				}
			}
		}
		r := dns.Record{Network: ep.Network, Container: id, Addr: ep.IP.Addr(), Names: names, Upstreams: cs.DNS}
		if err := m.records.Add(r); err != nil {
			return err
		}
		recs = append(recs, r)
	}
	return m.publishRecords(id, recs)
}

// reservePorts picks the host port of every request and checks that none
// is taken, by a socket on the host or by a port of ours, before anything
// is created. It returns the keys in the order of reqs.
func (m *Manager) reservePorts(reqs []portRequest) ([]portKey, error) {
	var taken []portKey
	owner := map[portKey]string{}
	for _, id := range slices.Sorted(maps.Keys(m.st.Containers)) {
		for _, p := range m.st.Containers[id].Ports {
			k := portKey{p.Protocol, p.HostIP, p.HostPort}
			taken = append(taken, k)
			owner[k] = id
		}
	}
	usedBy := func(k portKey) (string, bool) {
		for _, t := range taken {
			if t.conflicts(k) {
				return owner[t], true
			}
		}
		return "", false
	}
	out := make([]portKey, len(reqs))
	err := inNetNS(m.hostNS, func() error {
		for i, r := range reqs {
			k := portKey{proto: r.proto, hostIP: r.hostIP}
			switch {
			case r.lo == 0:
				for try := 0; ; try++ {
					p, err := probePort(k)
					if err != nil {
						return fmt.Errorf("ports: %s: %w", r, err)
					}
					if _, used := usedBy(portKey{k.proto, k.hostIP, p}); !used {
						k.port = p
						break
					}
					if try == 20 {
						return fmt.Errorf("ports: %s: no free ephemeral port: %w", r, errdefs.ErrUnavailable)
					}
				}
			default:
				var firstErr error
				for p := int(r.lo); p <= int(r.hi); p++ {
					c := portKey{k.proto, k.hostIP, uint16(p)}
					if who, used := usedBy(c); used {
						firstErr = cmpErr(firstErr, &PortInUseError{Protocol: c.proto, HostIP: c.hostIP, Port: c.port, Holder: "container " + who})
						continue
					}
					if _, err := probePort(c); err != nil {
						firstErr = cmpErr(firstErr, err)
						continue
					}
					k.port = c.port
					break
				}
				if k.port == 0 {
					return fmt.Errorf("ports: %s: %w", r, firstErr)
				}
			}
			out[i] = k
			taken = append(taken, k)
			owner[k] = "this container"
		}
		return nil
	})
	return out, err
}

func cmpErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// Teardown undoes Setup for container id: DNS records, published ports,
// veths, the namespace it created, and the addresses. It is best effort,
// reports every error, and succeeds for a container it does not know.
func (m *Manager) Teardown(ctx context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	cs, ok := m.st.Containers[id]
	if !ok {
		return nil
	}
	if err := m.teardownLocked(id, cs); err != nil {
		return fmt.Errorf("tear down network of %q: %w", id, err)
	}
	return nil
}

func (m *Manager) teardownLocked(id string, cs *containerState) error {
	m.records.Remove(id)
	errs := []error{m.publishRecords(id, nil), m.rules.RemovePorts(id)}
	for _, epc := range cs.Networks {
		// The veth's other end goes with it; deleting it also covers a
		// veth left by a setup that failed before recording it.
		errs = append(errs, m.deleteLink(vethName(m.instance, id, epc.Network)))
		errs = append(errs, m.ipam.Release(epc.Network, id))
	}
	for _, ep := range cs.Endpoints {
		// An older version named veths otherwise.
		errs = append(errs, m.deleteLink(ep.HostVeth))
	}
	if cs.OwnNetNS {
		errs = append(errs, removeNetNS(cs.NetNSPath))
	}
	if _, ok := m.st.Containers[id]; ok {
		delete(m.st.Containers, id)
		errs = append(errs, removeContainerState(m.root, id))
	}
	return errors.Join(errs...)
}

// Connect adds container id, set up already, to network ep.Network: a
// veth on its bridge with an address (ep.IPv4Address, or the next free
// one), named eth<N> after the container's other interfaces, and DNS
// records for its names on it. The container gets the default route
// through it when it has none (all its other networks are internal).
// Connecting a container that is on the network fails with
// [errdefs.ErrAlreadyExists]; one that joined another container's
// namespace cannot be connected.
func (m *Manager) Connect(ctx context.Context, id string, ep EndpointConfig) (_ Endpoint, retErr error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cs, ok := m.st.Containers[id]
	if !ok {
		return Endpoint{}, fmt.Errorf("connect %q: no network is set up for it: %w", id, errdefs.ErrNotFound)
	}
	if !cs.OwnNetNS && !cs.Later {
		return Endpoint{}, fmt.Errorf("connect %q: it shares another container's network namespace: %w", id, errdefs.ErrFailedPrecondition)
	}
	nsPath := cs.NetNSPath
	if cs.Later {
		nsPath = ep.NetNS
	}
	ep.NetNS = ""
	ns, ok := m.st.Networks[ep.Network]
	if !ok {
		return Endpoint{}, fmt.Errorf("connect %q: network %q: %w", id, ep.Network, errdefs.ErrNotFound)
	}
	for _, e := range cs.Endpoints {
		if e.Network == ep.Network {
			return Endpoint{}, fmt.Errorf("connect %q: it is on network %q already: %w", id, ep.Network, errdefs.ErrAlreadyExists)
		}
	}
	if ep.IPv4Address.IsValid() && !ns.Config.Subnet.Contains(ep.IPv4Address) {
		return Endpoint{}, fmt.Errorf("connect %q: address %s is not in %s: %w", id, ep.IPv4Address, ns.Config.Subnet, errdefs.ErrInvalidArgument)
	}
	// The first interface name no endpoint has.
	var iface string
	for i := 0; iface == ""; i++ {
		name := fmt.Sprintf("eth%d", i)
		if !slices.ContainsFunc(cs.Endpoints, func(e Endpoint) bool { return e.Interface == name }) {
			iface = name
		}
	}
	routed := false
	for _, e := range cs.Endpoints {
		if n := m.st.Networks[e.Network]; n != nil && !n.Config.Internal {
			routed = true
		}
	}
	addr, err := m.ipam.Allocate(ep.Network, id, ep.IPv4Address)
	if err != nil {
		return Endpoint{}, fmt.Errorf("connect %q: %w", id, err)
	}
	e := Endpoint{
		Network:   ep.Network,
		Interface: iface,
		HostVeth:  vethName(m.instance, id, ep.Network),
		IP:        netip.PrefixFrom(addr, ns.Config.Subnet.Bits()),
		Gateway:   ns.Config.Gateway,
		MAC:       macFor(addr),
	}
	if m.dnsPort > 0 {
		e.DNS = netip.AddrPortFrom(ns.Config.Gateway, uint16(m.dnsPort))
	}
	defer func() {
		if retErr != nil {
			m.deleteLink(e.HostVeth)
			m.ipam.Release(ep.Network, id)
		}
	}()
	if nsPath != "" { // else it does not run: its next Plug wires it
		if err := m.wire(nsPath, id, ns, e, !routed && !ns.Config.Internal); err != nil {
			return Endpoint{}, fmt.Errorf("connect %q to %q: %w", id, ep.Network, err)
		}
	}
	cs.Networks = append(cs.Networks, ep)
	cs.Endpoints = append(cs.Endpoints, e)
	m.records.Remove(id)
	if err := m.addRecords(id, cs); err != nil {
		m.log.Debug("records after connect", "container", id, "err", err)
	}
	if err := m.republishLocked(id, cs); err != nil {
		return Endpoint{}, fmt.Errorf("connect %q: %w", id, err)
	}
	if err := saveContainer(m.root, id, cs); err != nil {
		return Endpoint{}, err
	}
	return e, nil
}

// wire puts endpoint e of container id on network ns into the network
// namespace at nsPath.
func (m *Manager) wire(nsPath, id string, ns *networkState, e Endpoint, defaultRoute bool) error {
	ctrNS, err := netns.GetFromPath(nsPath)
	if err != nil {
		return fmt.Errorf("open netns: %w", err)
	}
	defer ctrNS.Close()
	ctrNL, err := netlink.NewHandleAt(ctrNS)
	if err != nil {
		return fmt.Errorf("netlink in netns: %w", err)
	}
	defer ctrNL.Close()
	return m.setupVeth(ctrNS, ctrNL, id, ns, e, defaultRoute)
}

// republishLocked points the published ports of container id at the
// network that now carries them (the first of its networks that is not
// internal), or takes their rules away while it has none: a container
// disconnected from that network and connected again (compose v1 does
// so to set its aliases) keeps its host ports.
func (m *Manager) republishLocked(id string, cs *containerState) error {
	if len(cs.Ports) == 0 {
		return nil
	}
	if err := m.rules.RemovePorts(id); err != nil {
		return err
	}
	pub := m.publishNetwork(AttachConfig{Networks: cs.Networks})
	if pub == nil {
		return nil
	}
	var cip netip.Addr
	for _, ep := range cs.Endpoints {
		if ep.Network == pub.Config.Name {
			cip = ep.IP.Addr()
		}
	}
	var ports []nat.Port
	for i, p := range cs.Ports {
		cs.Ports[i].ContainerIP = cip
		ports = append(ports, nat.Port{Protocol: p.Protocol, HostIP: p.HostIP, HostPort: p.HostPort, ContainerIP: cip, ContainerPort: p.ContainerPort, Bridge: pub.Bridge})
	}
	return m.rules.AddPorts(id, ports)
}

// Disconnect removes container id from network name: its veth, address
// and DNS records there. It fails with [errdefs.ErrNotFound] when the
// container is not on the network. Published ports that led through it
// lead through the container's next network that is not internal; with
// none, they are held (no other container takes them) and come back with
// the next Connect.
func (m *Manager) Disconnect(ctx context.Context, id, name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	cs, ok := m.st.Containers[id]
	if !ok {
		return fmt.Errorf("disconnect %q: no network is set up for it: %w", id, errdefs.ErrNotFound)
	}
	i := slices.IndexFunc(cs.Endpoints, func(e Endpoint) bool { return e.Network == name })
	if i < 0 {
		return fmt.Errorf("disconnect %q: it is not on network %q: %w", id, name, errdefs.ErrNotFound)
	}
	ep := cs.Endpoints[i]
	errs := []error{m.deleteLink(ep.HostVeth), m.ipam.Release(name, id)}
	cs.Endpoints = slices.Delete(cs.Endpoints, i, i+1)
	if j := slices.IndexFunc(cs.Networks, func(e EndpointConfig) bool { return e.Network == name }); j >= 0 {
		cs.Networks = slices.Delete(cs.Networks, j, j+1)
	}
	m.records.Remove(id)
	errs = append(errs, m.addRecords(id, cs), m.republishLocked(id, cs), saveContainer(m.root, id, cs))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("disconnect %q from %q: %w", id, name, err)
	}
	return nil
}
