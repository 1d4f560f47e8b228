package dockerapi

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/moby/moby/api/types/network"

	"github.com/stack-dev/stack/daemon"
	"github.com/stack-dev/stack/internal/errdefs"
	"github.com/stack-dev/stack/internal/ident"
)

func (s *server) networkRoutes() {
	s.handle("GET /networks", s.listNetworks)
	s.handle("GET /networks/{id}", s.inspectNetwork)
	s.raw("POST /networks/create", s.createNetwork)
	s.raw("POST /networks/{id}/connect", s.connectNetwork)
	s.raw("POST /networks/{id}/disconnect", s.disconnectNetwork)
	s.handle("DELETE /networks/{id}", func(w http.ResponseWriter, r *http.Request) (any, error) {
		ref := r.PathValue("id")
		if ref == daemon.DefaultNetwork || ref == daemon.NetworkID(daemon.DefaultNetwork) {
			return nil, fmt.Errorf("bridge is a pre-defined network and cannot be removed (it goes with its last container): %w", errdefs.ErrFailedPrecondition)
		}
		return nil, s.b.RemoveNetwork(r.Context(), ref)
	})
	s.handle("POST /networks/prune", s.pruneNetworks)
}

// defaultNetwork is the default network as docker shows it before a
// container made it.
func defaultNetwork() daemon.NetworkInfo {
	return daemon.NetworkInfo{ID: daemon.NetworkID(daemon.DefaultNetwork), Name: daemon.DefaultNetwork}
}

func networkOut(n daemon.NetworkInfo) network.Network {
	out := network.Network{Name: n.Name, ID: n.ID, Scope: "local", Driver: "bridge", EnableIPv4: true, Internal: n.Internal,
		Attachable: true, IPAM: network.IPAM{Driver: "default", Options: map[string]string{}, Config: []network.IPAMConfig{}},
		Options: map[string]string{}, Labels: n.Labels}
	if n.Bridge != "" {
		out.Options["com.docker.network.bridge.name"] = n.Bridge
	}
	if out.Labels == nil {
		out.Labels = map[string]string{}
	}
	delete(out.Labels, "stack.default-network")
	if p, err := netip.ParsePrefix(n.Subnet); err == nil {
		c := network.IPAMConfig{Subnet: p}
		c.Gateway, _ = netip.ParseAddr(n.Gateway)
		out.IPAM.Config = append(out.IPAM.Config, c)
	}
	return out
}

func networkInspect(n daemon.NetworkInfo) network.Inspect {
	out := network.Inspect{Network: networkOut(n), Containers: map[string]network.EndpointResource{}}
	for _, c := range n.Containers {
		ep := network.EndpointResource{Name: c.Name, EndpointID: endpointSettings(daemon.EndpointInfo{NetworkID: n.ID, IP: c.IP}).EndpointID}
		ep.IPv4Address, _ = netip.ParsePrefix(c.IP)
		if mac, err := net.ParseMAC(c.MAC); err == nil {
			ep.MacAddress = network.HardwareAddr(mac)
		}
		out.Containers[c.ContainerID] = ep
	}
	return out
}

// networkFilters are the keys /networks filters on.
var networkFilters = []string{"driver", "id", "label", "name", "scope", "type", "dangling"}

func matchNetwork(f filters, n daemon.NetworkInfo) bool {
	return f.is("driver", "bridge") && f.is("scope", "local") &&
		f.anyOf("id", func(v string) bool { return strings.HasPrefix(n.ID, v) }) &&
		f.anyOf("name", func(v string) bool { return strings.Contains(n.Name, v) }) &&
		f.anyOf("type", func(v string) bool {
			return v == "custom" && n.Name != daemon.DefaultNetwork || v == "builtin" && n.Name == daemon.DefaultNetwork
		}) &&
		f.anyOf("dangling", func(v string) bool { return (v == "true" || v == "1") == (len(n.Containers) == 0) }) &&
		f.labels("label", n.Labels)
}

func (s *server) listNetworks(w http.ResponseWriter, r *http.Request) (any, error) {
	f, err := parseFilters(r.URL.Query().Get("filters"))
	if err != nil {
		return nil, err
	}
	if err := f.check(networkFilters...); err != nil {
		return nil, err
	}
	infos, err := s.b.NetworkList(r.Context())
	if err != nil {
		return nil, err
	}
	hasDefault := false
	for _, n := range infos {
		hasDefault = hasDefault || n.Name == daemon.DefaultNetwork
	}
	if !hasDefault {
		infos = append(infos, defaultNetwork())
	}
	out := []network.Summary{}
	for _, n := range infos {
		if matchNetwork(f, n) {
			out = append(out, network.Summary{Network: networkOut(n)})
		}
	}
	return out, nil
}

func (s *server) inspectNetwork(w http.ResponseWriter, r *http.Request) (any, error) {
	if scope := r.URL.Query().Get("scope"); scope != "" && scope != "local" {
		return nil, fmt.Errorf("network %s: scope %s: stack has local networks only: %w", r.PathValue("id"), ident.Quote(scope), errdefs.ErrNotFound)
	}
	ref := r.PathValue("id")
	n, err := s.b.InspectNetwork(r.Context(), ref)
	if errors.Is(err, errdefs.ErrNotFound) && (ref == daemon.DefaultNetwork || ref == daemon.NetworkID(daemon.DefaultNetwork)) {
		n, err = defaultNetwork(), nil
	}
	if err != nil {
		return nil, err
	}
	return networkInspect(n), nil
}

// networkCreateFields are the fields of a network create request stack
// implements; the others that are set are refused by name.
var networkCreateFields = map[string]fieldRule{
	"Name": nil, "Driver": equals("bridge"), "Scope": equals("local"), "EnableIPv4": func(v reflectValue) bool { return v.Bool() },
	"EnableIPv6": isFalse, "IPAM.Driver": equals("default"), "IPAM.Config.*.Subnet": nil, "IPAM.Config.*.IPRange": nil,
	"IPAM.Config.*.Gateway": nil, "Internal": nil, "Attachable": nil, "Labels": nil,
	// A bridge's options docker's own CLI and compose may send, with
	// the values that are what stack does.
	"Options": func(v reflectValue) bool {
		for _, k := range v.MapKeys() {
			switch val := v.MapIndex(k).String(); k.String() {
			case "com.docker.network.bridge.enable_ip_masquerade", "com.docker.network.bridge.enable_icc":
				if val != "true" {
					return false
				}
			default:
				return false
			}
		}
		return true
	},
}

func (s *server) createNetwork(w http.ResponseWriter, r *http.Request) error {
	var req network.CreateRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := checkFields("create network", req, networkCreateFields); err != nil {
		return err
	}
	nc := daemon.NetworkCreate{Name: req.Name, Internal: req.Internal, Labels: req.Labels}
	if req.IPAM != nil && len(req.IPAM.Config) > 0 {
		if len(req.IPAM.Config) > 1 {
			return fmt.Errorf("create network: IPAM.Config: stack gives a network one subnet: %w", errdefs.ErrNotImplemented)
		}
		c := req.IPAM.Config[0]
		if c.Subnet.IsValid() {
			nc.Subnet = c.Subnet.String()
		}
		if c.Gateway.IsValid() {
			nc.Gateway = c.Gateway.String()
		}
		if c.IPRange.IsValid() {
			nc.IPRange = c.IPRange.String()
		}
	}
	if req.Name == daemon.DefaultNetwork {
		return fmt.Errorf("create network: bridge is a pre-defined network: %w", errdefs.ErrAlreadyExists)
	}
	n, err := s.b.CreateNetwork(r.Context(), nc)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, network.CreateResponse{ID: n.ID, Warning: ""})
	return nil
}

// connectFields are the endpoint settings a connect implements.
var connectFields = map[string]fieldRule{
	"Container": nil, "EndpointConfig.Aliases": nil, "EndpointConfig.IPAMConfig.IPv4Address": nil,
	"EndpointConfig.NetworkID": nil, "EndpointConfig.EndpointID": nil, "EndpointConfig.DNSNames": nil,
}

func (s *server) connectNetwork(w http.ResponseWriter, r *http.Request) error {
	var req network.ConnectRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := checkFields("connect", req, connectFields); err != nil {
		return err
	}
	ep := daemon.EndpointRequest{}
	if c := req.EndpointConfig; c != nil {
		ep.Aliases = c.Aliases
		if c.IPAMConfig != nil && c.IPAMConfig.IPv4Address.IsValid() {
			ep.IPv4Address = c.IPAMConfig.IPv4Address.String()
		}
	}
	ref := r.PathValue("id")
	if ref == daemon.DefaultNetwork {
		return fmt.Errorf("connect: containers join the default network when they are created, not later: %w", errdefs.ErrNotImplemented)
	}
	if err := s.b.ConnectNetwork(r.Context(), ref, req.Container, ep); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *server) disconnectNetwork(w http.ResponseWriter, r *http.Request) error {
	var req network.DisconnectRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := s.b.DisconnectNetwork(r.Context(), r.PathValue("id"), req.Container); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *server) pruneNetworks(w http.ResponseWriter, r *http.Request) (any, error) {
	f, err := parseFilters(r.URL.Query().Get("filters"))
	if err != nil {
		return nil, err
	}
	if err := f.check("until", "label", "label!"); err != nil {
		return nil, err
	}
	removed, err := s.b.PruneNetworks(r.Context(), func(n daemon.NetworkInfo) bool {
		return n.Name != daemon.DefaultNetwork && f.labels("label", n.Labels) && !negLabels(f["label!"], n.Labels)
	})
	if err != nil && len(removed) == 0 {
		return nil, err
	}
	if removed == nil {
		removed = []string{}
	}
	return network.PruneReport{NetworksDeleted: removed}, nil
}
