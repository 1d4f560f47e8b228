package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/stack-dev/stack/api"
	"github.com/stack-dev/stack/internal/errdefs"
	"github.com/stack-dev/stack/internal/ident"
	"github.com/stack-dev/stack/network"
	"github.com/stack-dev/stack/runtime"
)

// The network service: networks by name or ID, and containers connected
// to and disconnected from them while they run, as the Docker API asks.

// NetworkCreate asks for a network.
type NetworkCreate struct {
	// Name is the network's name. Required.
	Name string
	// Internal networks have no route out.
	Internal bool
	// Labels are kept. LabelProject puts the network in that project:
	// its down removes it.
	Labels map[string]string
	// Subnet, Gateway and IPRange fix its addresses. Optional.
	Subnet, Gateway, IPRange string
}

// NetworkInfo describes a network.
type NetworkInfo struct {
	ID, Name        string
	Bridge          string
	Subnet, Gateway string
	Internal        bool
	Labels          map[string]string
	// Project is the project that made the network, "" for none.
	Project string
	// Containers are the containers on it.
	Containers []NetworkEndpoint
}

// NetworkEndpoint is a container's interface on a network.
type NetworkEndpoint struct {
	ContainerID, Name string
	IP                string // "10.1.2.3/24"
	MAC               string
}

// EndpointRequest is how a container joins a network.
type EndpointRequest struct {
	// Aliases are more names the container answers to on the network.
	Aliases []string
	// IPv4Address fixes its address. Optional.
	IPv4Address string
}

// findNetwork returns the network named, or whose ID (or a unique prefix
// of it) is ref.
func (d *Daemon) findNetwork(ref string) (network.NetworkStatus, error) {
	nm, err := d.networks()
	if err != nil {
		return network.NetworkStatus{}, err
	}
	all := nm.Networks()
	for _, n := range all {
		if n.Name == ref || networkID(n.Name) == ref {
			return n, nil
		}
	}
	var found []network.NetworkStatus
	for _, n := range all {
		if len(ref) >= 3 && strings.HasPrefix(networkID(n.Name), ref) {
			found = append(found, n)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return network.NetworkStatus{}, fmt.Errorf("network %s not found: %w", ident.Quote(ref), errdefs.ErrNotFound)
	}
	return network.NetworkStatus{}, fmt.Errorf("network %s: several networks have IDs that start so: %w", ident.Quote(ref), errdefs.ErrInvalidArgument)
}

// CreateNetwork creates a network; one of the name must not exist.
func (d *Daemon) CreateNetwork(ctx context.Context, req NetworkCreate) (NetworkInfo, error) {
	if err := ident.Name("network name", req.Name); err != nil {
		return NetworkInfo{}, err
	}
	nm, err := d.networks()
	if err != nil {
		return NetworkInfo{}, err
	}
	if _, err := d.findNetwork(req.Name); err == nil {
		return NetworkInfo{}, fmt.Errorf("network with name %s already exists: %w", req.Name, errdefs.ErrAlreadyExists)
	}
	cfg := network.NetworkConfig{Name: req.Name, Internal: req.Internal, Labels: map[string]string{}}
	for k, v := range req.Labels {
		cfg.Labels[k] = v
	}
	if p := containerProject(req.Labels); p != standaloneProject {
		cfg.Labels[projectLabel] = p
	}
	parse := func(what, s string, fn func(string) error) error {
		if s == "" {
			return nil
		}
		if err := fn(s); err != nil {
			return fmt.Errorf("network %s: %s %s: %w", req.Name, what, ident.Quote(s), errdefs.ErrInvalidArgument)
		}
		return nil
	}
	err = errors.Join(
		parse("subnet", req.Subnet, func(s string) (err error) { cfg.Subnet, err = netip.ParsePrefix(s); return }),
		parse("gateway", req.Gateway, func(s string) (err error) { cfg.Gateway, err = netip.ParseAddr(s); return }),
		parse("ip range", req.IPRange, func(s string) (err error) { cfg.IPRange, err = netip.ParsePrefix(s); return }),
	)
	if err != nil {
		return NetworkInfo{}, err
	}
	st, err := nm.CreateNetwork(ctx, cfg)
	if err != nil {
		return NetworkInfo{}, fmt.Errorf("create network %s: %w", req.Name, err)
	}
	d.events.publish(networkEvent(st.Name, st.Labels, api.ActionNetworkCreate, st.Name))
	return d.networkInfo(st, false), nil
}

// networkInfo describes n, its containers from the records; detail adds
// their MACs.
func (d *Daemon) networkInfo(n network.NetworkStatus, detail bool) NetworkInfo {
	info := NetworkInfo{ID: networkID(n.Name), Name: n.Name, Bridge: n.Bridge, Subnet: n.Subnet.String(),
		Gateway: n.Gateway.String(), Internal: n.Internal, Labels: n.Labels, Project: n.Labels[projectLabel]}
	nm, _ := d.networks()
	for _, r := range d.store.list("") {
		ip, ok := r.Networks[n.Name]
		if !ok {
			continue
		}
		ep := NetworkEndpoint{ContainerID: r.ID, Name: r.Name, IP: fmt.Sprintf("%s/%d", ip, n.Subnet.Bits())}
		if detail && nm != nil {
			if st, err := nm.Status(r.ID); err == nil {
				for _, e := range st.Endpoints {
					if e.Network == n.Name {
						ep.MAC = e.MAC.String()
					}
				}
			}
		}
		info.Containers = append(info.Containers, ep)
	}
	return info
}

// NetworkList lists the engine's networks, sorted by name.
func (d *Daemon) NetworkList(ctx context.Context) ([]NetworkInfo, error) {
	nm, err := d.networks()
	if err != nil {
		return nil, err
	}
	var out []NetworkInfo
	for _, n := range nm.Networks() {
		if n.Labels["stack.build"] != "" {
			continue // a build's own, gone with it
		}
		out = append(out, d.networkInfo(n, false))
	}
	return out, nil
}

// InspectNetwork describes one network.
func (d *Daemon) InspectNetwork(ctx context.Context, ref string) (NetworkInfo, error) {
	n, err := d.findNetwork(ref)
	if err != nil {
		return NetworkInfo{}, err
	}
	return d.networkInfo(n, true), nil
}

// RemoveNetwork removes a network no container is on.
func (d *Daemon) RemoveNetwork(ctx context.Context, ref string) error {
	n, err := d.findNetwork(ref)
	if err != nil {
		return err
	}
	nm, err := d.networks()
	if err != nil {
		return err
	}
	if info := d.networkInfo(n, false); len(info.Containers) > 0 {
		var names []string
		for _, c := range info.Containers {
			names = append(names, c.Name)
		}
		return fmt.Errorf("network %s has active endpoints (%s): remove or disconnect them first: %w", n.Name, strings.Join(names, ", "), errdefs.ErrFailedPrecondition)
	}
	if err := nm.RemoveNetwork(ctx, n.Name); err != nil {
		return err
	}
	d.events.publish(networkEvent(n.Name, n.Labels, api.ActionNetworkRemove, n.Name))
	return nil
}

// ConnectNetwork connects a container to a network. A running container
// gets its interface at once; one that does not run has it on its
// network namespace all the same (stack makes the namespace at create).
func (d *Daemon) ConnectNetwork(ctx context.Context, netRef, containerRef string, req EndpointRequest) error {
	n, err := d.findNetwork(netRef)
	if err != nil {
		return err
	}
	r, err := d.findContainer(containerRef)
	if err != nil {
		return err
	}
	if _, ok := r.Networks[n.Name]; ok {
		return fmt.Errorf("container %s is already connected to network %s: %w", r.Name, n.Name, errdefs.ErrAlreadyExists)
	}
	ep := network.EndpointConfig{Network: n.Name, Aliases: req.Aliases, DNSNames: r.dnsNames()}
	if req.IPv4Address != "" {
		if ep.IPv4Address, err = netip.ParseAddr(req.IPv4Address); err != nil {
			return fmt.Errorf("address %s: %w", ident.Quote(req.IPv4Address), errdefs.ErrInvalidArgument)
		}
	}
	nm, err := d.networks()
	if err != nil {
		return err
	}
	unlock, err := d.lockProject(r.Project)
	if err != nil {
		return err
	}
	defer unlock()
	if r.UserNS != nil {
		// Its network namespace is its user namespace's, made by each
		// run: the running one gets the interface now, a stopped one
		// at its next start.
		if _, rt, err := d.engines(); err == nil {
			if st, err := rt.State(r.ID); err == nil && st.Status == runtime.Running && st.Pid > 0 {
				ep.NetNS = fmt.Sprintf("/proc/%d/ns/net", st.Pid)
			}
		}
	}
	got, err := nm.Connect(ctx, r.ID, ep)
	if err != nil {
		return err
	}
	r, err = d.store.update(r.Project, r.Name, true, func(c *record) error {
		if c.Networks == nil {
			c.Networks = map[string]string{}
		}
		if c.Aliases == nil {
			c.Aliases = map[string][]string{}
		}
		c.Networks[n.Name] = got.IP.Addr().String()
		if len(req.Aliases) > 0 {
			c.Aliases[n.Name] = slices.Clone(req.Aliases)
		}
		return nil
	})
	if err != nil {
		return err
	}
	ev := networkEvent(n.Name, n.Labels, api.ActionNetworkConnect, r.Name)
	ev.Container = r.Name
	d.events.publish(ev)
	return nil
}

// dnsNames are the names a container answers to on every network: its
// service's, its own and its hostname.
func (r *record) dnsNames() []string {
	hostname := ""
	if r.Spec != nil {
		hostname = r.Spec.Hostname
	}
	return uniqueNames(r.Service, r.Name, hostname)
}

// DisconnectNetwork disconnects a container from a network.
func (d *Daemon) DisconnectNetwork(ctx context.Context, netRef, containerRef string) error {
	n, err := d.findNetwork(netRef)
	if err != nil {
		return err
	}
	r, err := d.findContainer(containerRef)
	if err != nil {
		return err
	}
	if _, ok := r.Networks[n.Name]; !ok {
		return fmt.Errorf("container %s is not connected to network %s: %w", r.Name, n.Name, errdefs.ErrNotFound)
	}
	nm, err := d.networks()
	if err != nil {
		return err
	}
	unlock, err := d.lockProject(r.Project)
	if err != nil {
		return err
	}
	defer unlock()
	if err := nm.Disconnect(ctx, r.ID, n.Name); err != nil {
		return err
	}
	if _, err := d.store.update(r.Project, r.Name, true, func(c *record) error {
		delete(c.Networks, n.Name)
		delete(c.Aliases, n.Name)
		return nil
	}); err != nil {
		return err
	}
	ev := networkEvent(n.Name, n.Labels, api.ActionNetworkDisconnect, r.Name)
	ev.Container = r.Name
	d.events.publish(ev)
	return nil
}

// PruneNetworks removes the networks no container is on that match
// (nil: all) and returns their names.
func (d *Daemon) PruneNetworks(ctx context.Context, match func(NetworkInfo) bool) ([]string, error) {
	infos, err := d.NetworkList(ctx)
	if err != nil {
		return nil, err
	}
	var removed []string
	var errs []error
	for _, n := range infos {
		if len(n.Containers) > 0 || match != nil && !match(n) {
			continue
		}
		if err := d.RemoveNetwork(ctx, n.Name); err != nil {
			if !errors.Is(err, errdefs.ErrFailedPrecondition) {
				errs = append(errs, err)
			}
			continue
		}
		removed = append(removed, n.Name)
	}
	return removed, errors.Join(errs...)
}

// NetworkID is the ID the Docker API shows for the network named name.
func NetworkID(name string) string { return networkID(name) }

// ListNetworks lists the networks the daemon manages.
func (d *Daemon) ListNetworks(ctx context.Context) ([]api.Network, error) {
	nm, err := d.networks()
	if err != nil {
		return nil, err
	}
	out := []api.Network{}
	for _, n := range nm.Networks() {
		out = append(out, api.Network{Name: n.Name, Driver: "bridge", Bridge: n.Bridge, Subnet: n.Subnet.String(),
			Gateway: n.Gateway.String(), Internal: n.Internal, Project: n.Labels[projectLabel]})
	}
	return out, nil
}

func (d *Daemon) pruneNetworks(ctx context.Context, recs []*record, rep *api.PruneReport) error {
	nm, err := d.networks()
	if err != nil {
		return err
	}
	var errs []error
	for _, n := range nm.Networks() {
		if slices.ContainsFunc(recs, func(r *record) bool { _, ok := r.Networks[n.Name]; return ok }) {
			continue
		}
		unlock := func() {}
		if p := n.Labels[projectLabel]; p != "" {
			if unlock, err = d.lockProject(p); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		err := nm.RemoveNetwork(ctx, n.Name)
		unlock()
		switch {
		case errors.Is(err, errdefs.ErrFailedPrecondition):
			// a container joined it meanwhile
		case err != nil:
			errs = append(errs, err)
		default:
			rep.Networks = append(rep.Networks, n.Name)
		}
	}
	return errors.Join(errs...)
}
