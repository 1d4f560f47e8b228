package daemon

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/stack-dev/stack/api"
	"github.com/stack-dev/stack/internal/errdefs"
	"github.com/stack-dev/stack/internal/ident"
	"github.com/stack-dev/stack/network"
	"github.com/stack-dev/stack/network/dns"
	"github.com/stack-dev/stack/planner"
	"github.com/stack-dev/stack/spec"
)

// The state of the network manager, and the /etc files written for each
// container.
const (
	networkDir = "network"
	etcDir     = "etc"
)

// projectLabel marks the networks a project created, so down removes
// those and no others.
const projectLabel = "stack.project"

// openNetwork opens the network manager, forwarding names outside the
// stack to the host's resolvers.
func (d *Daemon) openNetwork() (*network.Manager, error) {
	var upstreams []string
	if data, err := os.ReadFile("/etc/resolv.conf"); err == nil {
		upstreams = dns.ParseResolvConf(data).Upstreams()
	}
	root := filepath.Join(d.cfg.StateRoot, networkDir)
	table := d.cfg.NetworkTable
	if table == "" && filepath.Clean(d.cfg.StateRoot) != DefaultStateRoot {
		// An engine of its own (a second state root) has rules of its
		// own: its down must not take another's networks' rules.
		inst, err := network.LoadInstance(root)
		if err != nil {
			return nil, fmt.Errorf("open network manager: %w", err)
		}
		table = network.DefaultTable + "_" + inst
	}
	m, err := network.New(network.Options{
		StateRoot: root,
		Logger:    d.log,
		Table:     table,
		Upstreams: upstreams,
	})
	if err != nil {
		return nil, fmt.Errorf("open network manager: %w", err)
	}
	return m, nil
}

// ensureNetworks creates the networks the selected services use.
func (d *Daemon) ensureNetworks(ctx context.Context, p *spec.Project, sel *planner.Selection, ev emitFunc) error {
	nm, err := d.networks()
	if err != nil {
		return err
	}
	existing := map[string]bool{}
	for _, n := range nm.Networks() {
		existing[n.Name] = true
	}
	used := map[string]bool{}
	for _, s := range sel.Services() {
		for key := range p.Services[s].Networks {
			used[key] = true
		}
	}
	for _, key := range sortedKeys(used) {
		n := p.Networks[key]
		cfg := network.NetworkConfig{Name: n.Name, Internal: n.Internal, External: n.External, Labels: map[string]string{projectLabel: p.Name}}
		if n.IPAM != nil && len(n.IPAM.Config) > 0 {
			c := n.IPAM.Config[0]
			cfg.Subnet, _ = netip.ParsePrefix(c.Subnet)
			cfg.Gateway, _ = netip.ParseAddr(c.Gateway)
			cfg.IPRange, _ = netip.ParsePrefix(c.IPRange)
		}
		st, err := nm.CreateNetwork(ctx, cfg)
		if err != nil {
			return fmt.Errorf("network %s: %w", n.Name, err)
		}
		if !existing[n.Name] && !n.External {
			ev(networkEvent(st.Name, st.Labels, api.ActionNetworkCreate, fmt.Sprintf("%s (%s, bridge %s)", n.Name, st.Subnet, st.Bridge)))
		}
	}
	return nil
}

// removeNetworks removes the networks project created, but for those in
// inUse (names of networks containers that stay are attached to).
func (d *Daemon) removeNetworks(ctx context.Context, project string, inUse map[string]bool, ev emitFunc) error {
	nm, err := d.networks()
	if err != nil {
		return err
	}
	var errs []error
	for _, n := range nm.Networks() {
		if n.Labels[projectLabel] != project {
			continue
		}
		if inUse[n.Name] {
			ev(networkEvent(n.Name, n.Labels, api.ActionNetworkInUse, ""))
			continue
		}
		if err := nm.RemoveNetwork(ctx, n.Name); err != nil {
			errs = append(errs, err)
			continue
		}
		ev(networkEvent(n.Name, n.Labels, api.ActionNetworkRemove, n.Name))
	}
	return errors.Join(errs...)
}

// attached is what wiring a container to its networks gives it: the
// namespace to join and its /etc/hosts, /etc/hostname and
// /etc/resolv.conf.
type attached struct {
	netns  string
	mounts []specs.Mount
}

// attachNetwork connects the container of r to the service's networks
// and writes the /etc files that go with them.
func (d *Daemon) attachNetwork(ctx context.Context, p *spec.Project, r *record, svc *spec.Service) (attached, error) {
	nm, err := d.networks()
	if err != nil {
		return attached{}, err
	}
	hostname := svc.Hostname
	if hostname == "" {
		hostname = shortContainerID(r.ID)
	}
	// A container with a user namespace makes its network namespace with
	// each run (see plugNetwork).
	cfg := network.AttachConfig{ContainerID: r.ID, NetNSLater: r.UserNS != nil}
	switch mode := svc.NetworkMode; {
	case mode == "" || mode == "none":
	case strings.HasPrefix(mode, "service:"):
		target := strings.TrimPrefix(mode, "service:")
		other, err := d.serviceContainer(p.Name, target)
		if err != nil {
			return attached{}, fmt.Errorf("network_mode %s: %w", mode, err)
		}
		cfg.NetNSPath = other.NetNS
	case strings.HasPrefix(mode, "container:"):
		other, err := d.findContainer(strings.TrimPrefix(mode, "container:"))
		if err != nil {
			return attached{}, fmt.Errorf("network_mode %s: %w", mode, err)
		}
		if other.NetNS == "" {
			return attached{}, fmt.Errorf("network_mode %s: the container has no network namespace: %w", mode, errdefs.ErrFailedPrecondition)
		}
		cfg.NetNSPath = other.NetNS
	default:
		return attached{}, fmt.Errorf("network_mode %s: %w", mode, errdefs.ErrNotImplemented)
	}
	// A one-off container answers to its own name only, unless run
	// --use-aliases, as compose's (getAliases): the service's name must
	// keep leading to the service.
	aliases := !r.OneOff || r.UseAliases
	for _, key := range networkOrder(svc) {
		n := p.Networks[key]
		ep := network.EndpointConfig{Network: n.Name, DNSNames: uniqueNames(r.Name, hostname)}
		if aliases {
			ep.DNSNames = uniqueNames(svc.Name, r.Name, hostname)
		}
		if sn := svc.Networks[key]; sn != nil {
			if aliases {
				ep.Aliases = sn.Aliases
			}
			ep.IPv4Address, _ = netip.ParseAddr(sn.IPv4Address)
		}
		for _, link := range svc.Links {
			if _, alias, ok := strings.Cut(link, ":"); ok && aliases {
				ep.Aliases = append(ep.Aliases, alias)
			}
		}
		cfg.Networks = append(cfg.Networks, ep)
	}
	for _, pt := range svc.Ports {
		m := network.PortMapping{ContainerPort: uint16(pt.Target), Protocol: pt.Protocol}
		m.HostIP, _ = netip.ParseAddr(pt.HostIP)
		lo, hi := pt.PublishedRange()
		m.HostPort = uint16(lo)
		if hi > lo {
			m.HostPortEnd = uint16(hi)
		}
		cfg.Ports = append(cfg.Ports, m)
	}
	for _, s := range svc.DNS {
		if a, err := netip.ParseAddr(s); err == nil {
			cfg.DNSServers = append(cfg.DNSServers, a)
		}
	}
	st, err := nm.Setup(ctx, cfg)
	if err != nil {
		return attached{}, err
	}
	r.Networks = map[string]string{}
	r.Aliases = map[string][]string{}
	for _, ep := range cfg.Networks {
		if len(ep.Aliases) > 0 {
			r.Aliases[ep.Network] = ep.Aliases
		}
	}
	var addrs []netip.Addr
	var gateway netip.Addr
	var resolver netip.Addr
	for _, ep := range st.Endpoints {
		r.Networks[ep.Network] = ep.IP.Addr().String()
		addrs = append(addrs, ep.IP.Addr())
		if !gateway.IsValid() {
			gateway = ep.Gateway
		}
		if !resolver.IsValid() && ep.DNS.IsValid() {
			resolver = ep.DNS.Addr()
		}
	}
	r.Ports = nil
	for _, b := range st.Ports {
		rp := recordPort{HostPort: int(b.HostPort), ContainerPort: int(b.ContainerPort), Protocol: b.Protocol}
		if b.HostIP.IsValid() {
			rp.HostIP = b.HostIP.String()
		}
		r.Ports = append(r.Ports, rp)
	}
	mounts, err := d.writeEtc(r, svc, hostname, addrs, gateway, resolver)
	if err != nil {
		nm.Teardown(context.WithoutCancel(ctx), r.ID)
		return attached{}, err
	}
	return attached{netns: st.NetNSPath, mounts: mounts}, nil
}

// plugNetwork wires the network namespace of the current run of r, a
// container with a user namespace (which owns it), to the networks
// attachNetwork reserved for it.
func (d *Daemon) plugNetwork(ctx context.Context, r *record) error {
	_, rt, err := d.engines()
	if err != nil {
		return err
	}
	nm, err := d.networks()
	if err != nil {
		return err
	}
	st, err := rt.State(r.ID)
	if err != nil {
		return err
	}
	if st.Pid <= 0 {
		return fmt.Errorf("plug network: no process: %w", errdefs.ErrFailedPrecondition)
	}
	return nm.Plug(ctx, r.ID, fmt.Sprintf("/proc/%d/ns/net", st.Pid))
}

// networkOrder returns the service's networks, highest priority first and
// then by name: the first one is eth0 and carries the default route.
func networkOrder(svc *spec.Service) []string {
	keys := sortedKeys(svc.Networks)
	prio := func(k string) int {
		if n := svc.Networks[k]; n != nil {
			return n.Priority
		}
		return 0
	}
	sort.SliceStable(keys, func(i, j int) bool { return prio(keys[i]) > prio(keys[j]) })
	return keys
}

// writeEtc writes the container's /etc/hostname, /etc/hosts and
// /etc/resolv.conf and returns the bind mounts that put them in place.
func (d *Daemon) writeEtc(r *record, svc *spec.Service, hostname string, addrs []netip.Addr, gateway, resolver netip.Addr) ([]specs.Mount, error) {
	dir := filepath.Join(d.cfg.StateRoot, etcDir, r.ID)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	hosts, err := dns.Hosts(dns.HostsConfig{Hostname: hostname, Domainname: svc.Domainname, Addrs: addrs, ExtraHosts: svc.ExtraHosts, Gateway: gateway})
	if err != nil {
		return nil, fmt.Errorf("service %q: /etc/hosts: %w", svc.Name, err)
	}
	var resolv []byte
	if resolver.IsValid() {
		search := svc.DNSSearch
		host := dns.ResolvConfig{}
		if data, err := os.ReadFile("/etc/resolv.conf"); err == nil {
			host = dns.ParseResolvConf(data)
		}
		if search == nil {
			search = host.Search
		}
		if resolv, err = dns.ResolvConf(dns.ContainerResolv{Nameserver: resolver, Search: search, Options: svc.DNSOpt}); err != nil {
			return nil, fmt.Errorf("service %q: /etc/resolv.conf: %w", svc.Name, err)
		}
	} else if resolv, err = os.ReadFile("/etc/resolv.conf"); err != nil {
		resolv = nil
	}
	files := map[string][]byte{"hostname": []byte(hostname + "\n"), "hosts": hosts, "resolv.conf": resolv}
	var mounts []specs.Mount
	for _, name := range []string{"hostname", "hosts", "resolv.conf"} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, files[name], 0o644); err != nil {
			return nil, err
		}
		mounts = append(mounts, specs.Mount{Destination: "/etc/" + name, Type: "bind", Source: path, Options: []string{"rbind", "rprivate"}})
	}
	return mounts, nil
}

// etcDir is where the /etc files of container id are.
func (d *Daemon) etcDir(id string) string { return filepath.Join(d.cfg.StateRoot, etcDir, id) }

// detachNetwork undoes attachNetwork.
func (d *Daemon) detachNetwork(ctx context.Context, r *record) error {
	nm, err := d.networks()
	if err != nil {
		return err
	}
	err = nm.Teardown(ctx, r.ID)
	if errors.Is(err, errdefs.ErrNotFound) {
		err = nil
	}
	return errors.Join(err, os.RemoveAll(filepath.Join(d.cfg.StateRoot, etcDir, r.ID)))
}

// serviceContainer returns the first container of a service.
func (d *Daemon) serviceContainer(project, service string) (*record, error) {
	recs, err := d.records(project)
	if err != nil {
		return nil, err
	}
	for _, r := range recs {
		if r.Service == service && !r.OneOff {
			return r, nil
		}
	}
	return nil, fmt.Errorf("service %s has no container: %w", ident.Quote(service), errdefs.ErrNotFound)
}

// networkID is the ID the Docker API shows for network name: 64 hex
// digits, as docker's, the same for the name on every call.
func networkID(name string) string {
	sum := sha256.Sum256([]byte("stack network " + name))
	return hex.EncodeToString(sum[:])
}

// uniqueNames is names without the empty ones and without repeats, in
// their order: a container of the Docker API is its own service, and a
// hostname is often the container's name.
func uniqueNames(names ...string) []string {
	out := make([]string, 0, len(names))
	for _, n := range names {
		if n != "" && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}
