package dockerapi

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	goruntime "runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	units "github.com/docker/go-units"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"

	"github.com/stack-dev/stack/api"
	"github.com/stack-dev/stack/daemon"
	"github.com/stack-dev/stack/internal/errdefs"
	"github.com/stack-dev/stack/internal/ident"
)

func (s *server) containerRoutes() {
	s.raw("POST /containers/create", s.createContainer)
	s.handle("GET /containers/json", s.listContainers)
	s.handle("GET /containers/{id}/json", s.inspectContainer)
	s.handle("POST /containers/{id}/start", func(w http.ResponseWriter, r *http.Request) (any, error) {
		return nil, s.b.StartContainer(r.Context(), r.PathValue("id"))
	})
	s.handle("POST /containers/{id}/stop", func(w http.ResponseWriter, r *http.Request) (any, error) {
		if r.URL.Query().Get("signal") != "" {
			return nil, fmt.Errorf("stop: signal: not supported by stack: the container's stop signal is used: %w", errdefs.ErrNotImplemented)
		}
		t, err := stopTimeout(r)
		if err != nil {
			return nil, err
		}
		return nil, s.b.StopContainer(r.Context(), r.PathValue("id"), t)
	})
	s.handle("POST /containers/{id}/restart", func(w http.ResponseWriter, r *http.Request) (any, error) {
		t, err := stopTimeout(r)
		if err != nil {
			return nil, err
		}
		return nil, s.b.RestartContainer(r.Context(), r.PathValue("id"), t)
	})
	s.handle("POST /containers/{id}/kill", func(w http.ResponseWriter, r *http.Request) (any, error) {
		return nil, s.b.KillContainer(r.Context(), r.PathValue("id"), r.URL.Query().Get("signal"))
	})
	s.handle("POST /containers/{id}/pause", func(w http.ResponseWriter, r *http.Request) (any, error) {
		return nil, s.b.PauseContainer(r.Context(), r.PathValue("id"))
	})
	s.handle("POST /containers/{id}/unpause", func(w http.ResponseWriter, r *http.Request) (any, error) {
		return nil, s.b.UnpauseContainer(r.Context(), r.PathValue("id"))
	})
	s.raw("POST /containers/{id}/wait", s.waitContainer)
	s.handle("DELETE /containers/{id}", func(w http.ResponseWriter, r *http.Request) (any, error) {
		if boolValue(r, "link") {
			return nil, fmt.Errorf("remove container: link: legacy links are not supported by stack: %w", errdefs.ErrNotImplemented)
		}
		return nil, s.b.RemoveContainer(r.Context(), r.PathValue("id"), daemon.RemoveOptions{Force: boolValue(r, "force"), Volumes: boolValue(r, "v")})
	})
	s.raw("GET /containers/{id}/logs", s.containerLogs)
	s.raw("POST /containers/{id}/attach", s.attachContainer)
	s.handle("POST /containers/{id}/resize", func(w http.ResponseWriter, r *http.Request) (any, error) {
		wd, ht, err := size(r)
		if err != nil {
			return nil, err
		}
		err = s.b.ResizeContainer(r.Context(), r.PathValue("id"), wd, ht)
		if errors.Is(err, errdefs.ErrFailedPrecondition) {
			err = nil // no terminal: nothing to size, as dockerd
		}
		return nil, err
	})
	s.handle("GET /containers/{id}/top", func(w http.ResponseWriter, r *http.Request) (any, error) {
		if a := r.URL.Query().Get("ps_args"); a != "" && a != "-ef" {
			return nil, fmt.Errorf("top: ps_args %s: stack lists the columns of ps -ef only: %w", ident.Quote(a), errdefs.ErrNotImplemented)
		}
		t, err := s.b.TopContainer(r.Context(), r.PathValue("id"))
		if err != nil {
			return nil, err
		}
		return container.TopResponse{Titles: t.Titles, Processes: t.Processes}, nil
	})
	s.raw("GET /containers/{id}/stats", s.containerStats)
	s.raw("HEAD /containers/{id}/archive", s.statPath)
	s.raw("GET /containers/{id}/archive", s.getArchive)
	s.raw("PUT /containers/{id}/archive", s.putArchive)
	s.handle("POST /containers/prune", s.pruneContainers)
}

func goarch() string { return goruntime.GOARCH }

// stopTimeout reads the t= of stop and restart: seconds, nil when absent.
func stopTimeout(r *http.Request) (*time.Duration, error) {
	q := r.URL.Query().Get("t")
	if q == "" {
		return nil, nil
	}
	n, err := strconv.Atoi(q)
	if err != nil {
		return nil, fmt.Errorf("t %s: want seconds: %w", ident.Quote(q), errdefs.ErrInvalidArgument)
	}
	d := time.Duration(n) * time.Second
	if n < 0 {
		d = 24 * time.Hour // -1: wait as long as it takes
	}
	return &d, nil
}

// size reads the h= and w= of a resize.
func size(r *http.Request) (width, height uint16, err error) {
	h, err1 := strconv.ParseUint(r.URL.Query().Get("h"), 10, 16)
	w, err2 := strconv.ParseUint(r.URL.Query().Get("w"), 10, 16)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("resize: want h and w, numbers of rows and columns: %w", errdefs.ErrInvalidArgument)
	}
	return uint16(w), uint16(h), nil
}

// resolveNetwork names a network of a create request (a name or an ID).
// The default network may not exist yet: it is made with its first
// container.
func (s *server) resolveNetwork(ctx context.Context) networkResolver {
	return func(ref string) (string, error) {
		n, err := s.b.InspectNetwork(ctx, ref)
		if err == nil {
			return n.Name, nil
		}
		if errors.Is(err, errdefs.ErrNotFound) && ref == daemon.DefaultNetwork {
			return ref, nil
		}
		return "", err
	}
}

func (s *server) createContainer(w http.ResponseWriter, r *http.Request) error {
	var req container.CreateRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if p := r.URL.Query().Get("platform"); p != "" && p != "linux" && !strings.HasPrefix(p, "linux/"+goarch()) {
		return fmt.Errorf("create container: platform %s: stack runs linux/%s only: %w", ident.Quote(p), goarch(), errdefs.ErrNotImplemented)
	}
	cc, err := translateCreate(r.URL.Query().Get("name"), req, s.resolveNetwork(r.Context()))
	if err != nil {
		return err
	}
	id, err := s.b.CreateContainer(r.Context(), cc)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, container.CreateResponse{ID: id, Warnings: []string{}})
	return nil
}

// containerFilters are the keys /containers/json filters on.
var containerFilters = []string{"id", "name", "label", "status", "exited", "health", "ancestor", "network", "volume",
	"before", "since", "publish", "expose", "is-task"}

func (s *server) listContainers(w http.ResponseWriter, r *http.Request) (any, error) {
	f, err := parseFilters(r.URL.Query().Get("filters"))
	if err != nil {
		return nil, err
	}
	if err := f.check(containerFilters...); err != nil {
		return nil, err
	}
	limit, err := intValue(r, "limit", -1)
	if err != nil {
		return nil, err
	}
	cs, err := s.b.ListContainers(r.Context())
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(cs, func(a, b daemon.ContainerInfo) int { return b.Created.Compare(a.Created) })
	created := func(ref string) (time.Time, bool) {
		for _, c := range cs {
			if c.ID == ref || c.Name == strings.TrimPrefix(ref, "/") || len(ref) >= 4 && strings.HasPrefix(c.ID, ref) {
				return c.Created, true
			}
		}
		return time.Time{}, false
	}
	all := boolValue(r, "all") || limit > 0 || len(f["status"]) > 0 || len(f["exited"]) > 0
	out := []container.Summary{}
	for _, c := range cs {
		if !all && c.State != "running" && c.State != "paused" && c.State != "restarting" {
			continue
		}
		if !matchContainer(f, c, created) {
			continue
		}
		sum := containerSummary(r, c)
		if boolValue(r, "size") {
			sum.SizeRw, _ = s.b.ContainerSize(r.Context(), c.ID)
		}
		out = append(out, sum)
		if limit > 0 && len(out) == int(limit) {
			break
		}
	}
	return out, nil
}

// matchContainer applies /containers/json filters.
func matchContainer(f filters, c daemon.ContainerInfo, created func(string) (time.Time, bool)) bool {
	health := c.Health
	if health == "" {
		health = "none"
	}
	ports := func(key string, published bool) bool {
		return f.anyOf(key, func(v string) bool {
			port, proto, _ := strings.Cut(v, "/")
			if proto == "" {
				proto = "tcp"
			}
			if published {
				return slices.ContainsFunc(c.Ports, func(p api.Port) bool {
					return strconv.Itoa(p.HostPort) == port && p.Protocol == proto
				})
			}
			return slices.Contains(c.ExposedPorts, port+"/"+proto)
		})
	}
	return f.anyOf("id", func(v string) bool { return strings.HasPrefix(c.ID, v) }) &&
		f.anyOf("name", func(v string) bool { return matchName(strings.TrimPrefix(v, "/"), c.Name) }) &&
		f.labels("label", c.Labels) &&
		f.is("status", c.State) &&
		f.anyOf("exited", func(v string) bool { return c.State == "exited" && strconv.Itoa(c.ExitCode) == v }) &&
		f.is("health", health) &&
		f.anyOf("ancestor", func(v string) bool {
			return c.Image == v || strings.TrimPrefix(c.ImageID, "sha256:") == strings.TrimPrefix(v, "sha256:") ||
				len(v) >= 4 && strings.HasPrefix(strings.TrimPrefix(c.ImageID, "sha256:"), strings.TrimPrefix(v, "sha256:"))
		}) &&
		f.anyOf("network", func(v string) bool {
			return slices.ContainsFunc(c.Networks, func(e daemon.EndpointInfo) bool { return e.Network == v || e.NetworkID == v })
		}) &&
		f.anyOf("volume", func(v string) bool {
			return slices.ContainsFunc(c.Mounts, func(m daemon.MountInfo) bool { return m.Name == v || m.Destination == v })
		}) &&
		f.anyOf("before", func(v string) bool { t, ok := created(v); return ok && c.Created.Before(t) }) &&
		f.anyOf("since", func(v string) bool { t, ok := created(v); return ok && c.Created.After(t) }) &&
		ports("publish", true) && ports("expose", false) &&
		f.is("is-task", "false")
}

// dockerTime renders t as dockerd does in inspect.
func dockerTime(t time.Time) string {
	if t.IsZero() {
		return "0001-01-01T00:00:00Z"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// statusText is docker ps's STATUS: "Up 3 minutes (healthy)".
func statusText(c daemon.ContainerInfo) string {
	ago := func(t time.Time) string { return units.HumanDuration(time.Since(t)) }
	switch c.State {
	case "running", "paused":
		s := "Up " + ago(c.StartedAt)
		switch {
		case c.State == "paused":
			s += " (Paused)"
		case c.Health == "starting":
			s += " (health: starting)"
		case c.Health != "":
			s += " (" + c.Health + ")"
		}
		return s
	case "restarting":
		return fmt.Sprintf("Restarting (%d) %s ago", c.ExitCode, ago(c.FinishedAt))
	case "exited":
		if c.FinishedAt.IsZero() {
			return fmt.Sprintf("Exited (%d)", c.ExitCode)
		}
		return fmt.Sprintf("Exited (%d) %s ago", c.ExitCode, ago(c.FinishedAt))
	case "removing":
		return "Removal In Progress"
	}
	return "Created"
}

// networkMode is HostConfig.NetworkMode: docker's "bridge" for the
// default network, else the first network or the mode.
func networkMode(c daemon.ContainerInfo) string {
	if c.NetworkMode != "" {
		return c.NetworkMode
	}
	for _, e := range c.Networks {
		if e.Network == daemon.DefaultNetwork {
			return "bridge"
		}
	}
	if len(c.Networks) > 0 {
		return c.Networks[0].Network
	}
	return "none"
}

func endpointSettings(e daemon.EndpointInfo) *network.EndpointSettings {
	sum := sha256.Sum256([]byte(e.NetworkID + " " + e.IP))
	es := &network.EndpointSettings{NetworkID: e.NetworkID, EndpointID: hex.EncodeToString(sum[:]), Aliases: e.Aliases,
		IPPrefixLen: e.PrefixLen, DNSNames: e.DNSNames}
	es.IPAddress, _ = netip.ParseAddr(e.IP)
	es.Gateway, _ = netip.ParseAddr(e.Gateway)
	if mac, err := net.ParseMAC(e.MAC); err == nil {
		es.MacAddress = network.HardwareAddr(mac)
	}
	return es
}

func args(c daemon.ContainerInfo) []string {
	if c.Spec != nil && c.Spec.Process != nil {
		return c.Spec.Process.Args
	}
	return append(slices.Clone(c.Entrypoint), c.Cmd...)
}

func mountPoints(c daemon.ContainerInfo) []container.MountPoint {
	out := []container.MountPoint{}
	for _, m := range c.Mounts {
		mp := container.MountPoint{Type: mount.Type(m.Type), Name: m.Name, Source: m.Source, Destination: m.Destination,
			RW: !m.ReadOnly, Propagation: mount.Propagation(m.Propagation)}
		if m.Type == "volume" {
			mp.Driver = "local"
			mp.Source = m.Source
		}
		if m.ReadOnly {
			mp.Mode = "ro"
		}
		out = append(out, mp)
	}
	return out
}

// portMap is the container's exposed ports with where each is
// published.
func portMap(c daemon.ContainerInfo) network.PortMap {
	pm := network.PortMap{}
	for _, e := range c.ExposedPorts {
		if p, err := network.ParsePort(e); err == nil {
			pm[p] = nil
		}
	}
	for _, p := range c.Ports {
		port, err := network.ParsePort(fmt.Sprintf("%d/%s", p.ContainerPort, p.Protocol))
		if err != nil {
			continue
		}
		b := network.PortBinding{HostPort: strconv.Itoa(p.HostPort)}
		b.HostIP, _ = netip.ParseAddr(p.HostIP)
		if !b.HostIP.IsValid() {
			b.HostIP = netip.IPv4Unspecified()
		}
		pm[port] = append(pm[port], b)
	}
	return pm
}

func containerSummary(r *http.Request, c daemon.ContainerInfo) container.Summary {
	s := container.Summary{
		ID: c.ID, Names: []string{"/" + c.Name}, Image: c.Image, ImageID: c.ImageID,
		Command: strings.Join(args(c), " "), Created: c.Created.Unix(), Labels: c.Labels,
		State: container.ContainerState(c.State), Status: statusText(c), Mounts: mountPoints(c),
		NetworkSettings: &container.NetworkSettingsSummary{Networks: map[string]*network.EndpointSettings{}},
	}
	if s.Labels == nil {
		s.Labels = map[string]string{}
	}
	s.HostConfig.NetworkMode = networkMode(c)
	for _, e := range c.Networks {
		s.NetworkSettings.Networks[e.Network] = endpointSettings(e)
	}
	published := map[string]bool{}
	for _, p := range c.Ports {
		ps := container.PortSummary{PrivatePort: uint16(p.ContainerPort), PublicPort: uint16(p.HostPort), Type: p.Protocol}
		ps.IP, _ = netip.ParseAddr(p.HostIP)
		if !ps.IP.IsValid() {
			ps.IP = netip.IPv4Unspecified()
		}
		s.Ports = append(s.Ports, ps)
		published[fmt.Sprintf("%d/%s", p.ContainerPort, p.Protocol)] = true
	}
	for _, e := range c.ExposedPorts {
		if published[e] {
			continue
		}
		if p, err := network.ParsePort(e); err == nil {
			s.Ports = append(s.Ports, container.PortSummary{PrivatePort: p.Num(), Type: string(p.Proto())})
		}
	}
	if s.Ports == nil {
		s.Ports = []container.PortSummary{}
	}
	if c.Healthcheck != nil {
		h := c.Health
		if h == "" {
			h = "starting"
		}
		s.Health = &container.HealthSummary{Status: container.HealthStatus(h)}
	}
	return s
}

func (s *server) inspectContainer(w http.ResponseWriter, r *http.Request) (any, error) {
	c, err := s.b.InspectContainer(r.Context(), r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	out := containerInspect(c)
	if boolValue(r, "size") {
		if n, err := s.b.ContainerSize(r.Context(), c.ID); err == nil {
			out.SizeRw = &n
		}
	}
	if versionBefore(r, "1.45") {
		// Before 1.45 docker listed the container's short ID among its
		// aliases on every network but the default one (compose v1 looks
		// for it to tell a container it connected).
		for name, ep := range out.NetworkSettings.Networks {
			if short := c.ID[:12]; name != daemon.DefaultNetwork && !slices.Contains(ep.Aliases, short) {
				ep.Aliases = append(slices.Clone(ep.Aliases), short)
			}
		}
	}
	if versionBefore(r, "1.52") {
		return legacyInspect(out), nil
	}
	return out, nil
}

// legacyNetworkSettings are the network settings of inspect before API
// 1.52, with the top-level fields of the container's endpoint on the
// default network that scripts read ({{.NetworkSettings.IPAddress}}).
type legacyNetworkSettings struct {
	container.NetworkSettings
	Bridge                 string
	HairpinMode            bool
	LinkLocalIPv6Address   string
	LinkLocalIPv6PrefixLen int
	SecondaryIPAddresses   []string
	SecondaryIPv6Addresses []string
	EndpointID             string
	Gateway                string
	GlobalIPv6Address      string
	GlobalIPv6PrefixLen    int
	IPAddress              string
	IPPrefixLen            int
	IPv6Gateway            string
	MacAddress             string
}

// legacyInspectResponse is inspect's answer before API 1.52.
type legacyInspectResponse struct {
	container.InspectResponse
	NetworkSettings *legacyNetworkSettings
}

func legacyInspect(in container.InspectResponse) legacyInspectResponse {
	ns := &legacyNetworkSettings{}
	if in.NetworkSettings != nil {
		ns.NetworkSettings = *in.NetworkSettings
		if ep := in.NetworkSettings.Networks[daemon.DefaultNetwork]; ep != nil {
			ns.EndpointID, ns.IPPrefixLen, ns.MacAddress = ep.EndpointID, ep.IPPrefixLen, ep.MacAddress.String()
			if ep.IPAddress.IsValid() {
				ns.IPAddress = ep.IPAddress.String()
			}
			if ep.Gateway.IsValid() {
				ns.Gateway = ep.Gateway.String()
			}
		}
	}
	return legacyInspectResponse{InspectResponse: in, NetworkSettings: ns}
}

func containerInspect(c daemon.ContainerInfo) container.InspectResponse {
	a := args(c)
	out := container.InspectResponse{
		ID: c.ID, Created: dockerTime(c.Created), Image: c.ImageID, Name: "/" + c.Name, RestartCount: c.RestartCount,
		Driver: "overlay", Platform: "linux", LogPath: c.LogPath, Mounts: mountPoints(c), ExecIDs: nil,
	}
	if len(a) > 0 {
		out.Path, out.Args = a[0], a[1:]
	}
	running := c.State == "running" || c.State == "paused"
	out.State = &container.State{
		Status: container.ContainerState(c.State), Running: running, Paused: c.State == "paused",
		Restarting: c.State == "restarting", OOMKilled: c.OOMKilled, Pid: c.Pid, ExitCode: c.ExitCode,
		Error: c.Error, StartedAt: dockerTime(c.StartedAt), FinishedAt: dockerTime(c.FinishedAt),
	}
	if c.Healthcheck != nil {
		h := c.Health
		if h == "" {
			h = "starting"
		}
		out.State.Health = &container.Health{Status: container.HealthStatus(h), Log: []*container.HealthcheckResult{}}
		if c.HealthOutput != "" {
			code := 0
			if h == "unhealthy" {
				code = 1
			}
			out.State.Health.Log = append(out.State.Health.Log, &container.HealthcheckResult{ExitCode: code, Output: c.HealthOutput})
		}
	}
	cfg := &container.Config{Image: c.Image, Labels: c.Labels, User: c.User, OpenStdin: c.OpenStdin,
		StopSignal: c.StopSignal, Cmd: c.Cmd, Entrypoint: c.Entrypoint, ExposedPorts: network.PortSet{}}
	if cfg.Labels == nil {
		cfg.Labels = map[string]string{}
	}
	stop := int(c.StopTimeout / time.Second)
	cfg.StopTimeout = &stop
	for p := range portMap(c) {
		cfg.ExposedPorts[p] = struct{}{}
	}
	hc := &container.HostConfig{NetworkMode: container.NetworkMode(networkMode(c)), PortBindings: network.PortMap{},
		AutoRemove: c.AutoRemove, LogConfig: container.LogConfig{Type: "json-file", Config: map[string]string{}}}
	hc.RestartPolicy = restartPolicy(c.Restart)
	for p, b := range portMap(c) {
		if len(b) > 0 {
			hc.PortBindings[p] = b
		}
	}
	if sp := c.Spec; sp != nil {
		if sp.Process != nil {
			cfg.Env, cfg.WorkingDir, cfg.Tty = sp.Process.Env, sp.Process.Cwd, sp.Process.Terminal
		}
		cfg.Hostname, cfg.Domainname = sp.Hostname, sp.Domainname
		if sp.Root != nil {
			hc.ReadonlyRootfs = sp.Root.Readonly
		}
		for _, m := range sp.Mounts {
			switch m.Destination {
			case "/etc/hosts":
				out.HostsPath = m.Source
			case "/etc/hostname":
				out.HostnamePath = m.Source
			case "/etc/resolv.conf":
				out.ResolvConfPath = m.Source
			}
		}
		if sp.Linux != nil && sp.Linux.Resources != nil {
			res := sp.Linux.Resources
			if res.Memory != nil && res.Memory.Limit != nil {
				hc.Memory = *res.Memory.Limit
			}
			if res.Memory != nil && res.Memory.Reservation != nil {
				hc.MemoryReservation = *res.Memory.Reservation
			}
			if res.CPU != nil && res.CPU.Quota != nil && res.CPU.Period != nil && *res.CPU.Period > 0 {
				hc.CPUQuota, hc.CPUPeriod = *res.CPU.Quota, int64(*res.CPU.Period)
			}
			if res.Pids != nil && res.Pids.Limit != nil {
				l := *res.Pids.Limit
				hc.PidsLimit = &l
			}
		}
	}
	for _, m := range c.Mounts {
		if m.Type == "bind" && !strings.HasPrefix(m.Destination, "/etc/") {
			b := m.Source + ":" + m.Destination
			if m.ReadOnly {
				b += ":ro"
			}
			hc.Binds = append(hc.Binds, b)
		}
	}
	if h := c.Healthcheck; h != nil {
		cfg.Healthcheck = &container.HealthConfig{Test: h.Test, Interval: h.Interval, Timeout: h.Timeout,
			StartPeriod: h.StartPeriod, StartInterval: h.StartInterval, Retries: h.Retries}
	}
	out.Config, out.HostConfig = cfg, hc
	out.NetworkSettings = &container.NetworkSettings{SandboxKey: c.NetNSPath, Ports: portMap(c), Networks: map[string]*network.EndpointSettings{}}
	for _, e := range c.Networks {
		out.NetworkSettings.Networks[e.Network] = endpointSettings(e)
	}
	return out
}

// restartPolicy reads a compose restart policy.
func restartPolicy(p string) container.RestartPolicy {
	switch {
	case p == "always" || p == "unless-stopped":
		return container.RestartPolicy{Name: container.RestartPolicyMode(p)}
	case strings.HasPrefix(p, "on-failure"):
		n := 0
		if _, max, ok := strings.Cut(p, ":"); ok {
			n, _ = strconv.Atoi(max)
		}
		return container.RestartPolicy{Name: container.RestartPolicyOnFailure, MaximumRetryCount: n}
	}
	return container.RestartPolicy{Name: container.RestartPolicyDisabled}
}

// waitContainer answers /wait: the headers at once, so the client knows
// the wait is in place before it starts the container, and the exit when
// the condition holds.
func (s *server) waitContainer(w http.ResponseWriter, r *http.Request) error {
	wait, err := s.b.WatchContainer(r.PathValue("id"), daemon.WaitCondition(r.URL.Query().Get("condition")))
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	flush(w)
	res, err := wait(r.Context())
	out := container.WaitResponse{StatusCode: int64(res.ExitCode)}
	if err != nil {
		if r.Context().Err() != nil {
			return nil
		}
		out.Error = &container.WaitExitError{Message: err.Error()}
	} else if res.Error != "" {
		out.Error = &container.WaitExitError{Message: res.Error}
	}
	return json.NewEncoder(w).Encode(out)
}

func (s *server) containerLogs(w http.ResponseWriter, r *http.Request) error {
	ref := r.PathValue("id")
	c, err := s.b.InspectContainer(r.Context(), ref)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	o := daemon.ContainerLogsOptions{Tail: -1, Follow: boolValue(r, "follow")}
	if t := q.Get("tail"); t != "" && t != "all" {
		n, err := strconv.Atoi(t)
		if err != nil || n < 0 {
			return fmt.Errorf("logs: tail %s: want a number or all: %w", ident.Quote(t), errdefs.ErrInvalidArgument)
		}
		o.Tail = n
	}
	if o.Since, err = parseTime(q.Get("since")); err != nil {
		return err
	}
	if o.Until, err = parseTime(q.Get("until")); err != nil {
		return err
	}
	if boolValue(r, "details") {
		return fmt.Errorf("logs: details: not supported by stack: %w", errdefs.ErrNotImplemented)
	}
	stdout, stderr := boolValue(r, "stdout"), boolValue(r, "stderr")
	if !stdout && !stderr {
		return fmt.Errorf("logs: choose stdout and/or stderr: %w", errdefs.ErrInvalidArgument)
	}
	tty := c.Spec != nil && c.Spec.Process != nil && c.Spec.Process.Terminal
	timestamps := boolValue(r, "timestamps")
	if tty {
		w.Header().Set("Content-Type", "application/vnd.docker.raw-stream")
	} else {
		w.Header().Set("Content-Type", "application/vnd.docker.multiplexed-stream")
	}
	w.WriteHeader(http.StatusOK)
	flush(w)
	fw := &flushWriter{w: w}
	var outW, errW io.Writer = fw, fw
	if !tty {
		outW, errW = muxStreams(fw)
	}
	err = s.b.ContainerLogs(r.Context(), c.ID, o, func(l api.LogLine) error {
		target := outW
		if l.Stream == "stderr" {
			if !stderr {
				return nil
			}
			target = errW
		} else if !stdout {
			return nil
		}
		line := l.Line
		if timestamps {
			line = l.Time.UTC().Format(time.RFC3339Nano) + " " + line
		}
		_, err := io.WriteString(target, line)
		return err
	})
	if err != nil && r.Context().Err() == nil {
		s.log.Debug("logs stream ended", "container", ref, "err", err)
	}
	return nil
}

// errDetachKeys refuses detach keys, which stack does not watch for.
func errDetachKeys(where string) error {
	return fmt.Errorf("%s: detach keys are not supported by stack: end the session instead (exit, or ^D): %w", where, errdefs.ErrNotImplemented)
}

func (s *server) attachContainer(w http.ResponseWriter, r *http.Request) error {
	if r.URL.Query().Get("detachKeys") != "" {
		return errDetachKeys("attach: detachKeys")
	}
	o := daemon.AttachOptions{Stdin: boolValue(r, "stdin"), Stdout: boolValue(r, "stdout"), Stderr: boolValue(r, "stderr"),
		Logs: boolValue(r, "logs"), Stream: boolValue(r, "stream")}
	a, err := s.b.AttachContainer(r.Context(), r.PathValue("id"), o)
	if err != nil {
		return err
	}
	h, err := hijack(w, r, a.TTY())
	if err != nil {
		a.Close()
		return err
	}
	defer h.Close()
	var stdout, stderr io.Writer = h, h
	if !a.TTY() {
		stdout, stderr = muxStreams(h)
	}
	var stdin io.Reader
	if o.Stdin {
		stdin = h
	}
	if err := a.Stream(context.WithoutCancel(r.Context()), stdin, stdout, stderr); err != nil {
		s.log.Debug("attach ended", "container", r.PathValue("id"), "err", err)
	}
	h.closeWrite()
	return nil
}

// statsOut is docker's stats of a sample, with the previous one as its
// "pre" reading.
func statsOut(c daemon.ContainerInfo, cur, pre daemon.StatsSample) container.StatsResponse {
	cpu := func(s daemon.StatsSample) container.CPUStats {
		return container.CPUStats{CPUUsage: container.CPUUsage{TotalUsage: uint64(s.CPUUsage)},
			SystemUsage: uint64(s.SystemCPU), OnlineCPUs: uint32(s.OnlineCPUs)}
	}
	out := container.StatsResponse{ID: c.ID, Name: "/" + c.Name, OSType: "linux", Read: cur.Read, PreRead: pre.Read,
		CPUStats: cpu(cur), PreCPUStats: cpu(pre),
		MemoryStats: container.MemoryStats{Usage: cur.MemoryUsage, Limit: cur.MemoryLimit, Stats: map[string]uint64{}},
		PidsStats:   container.PidsStats{Current: cur.Pids, Limit: cur.PidsLimit}, Networks: map[string]container.NetworkStats{},
	}
	for name, n := range cur.Networks {
		out.Networks[name] = container.NetworkStats{RxBytes: n.RxBytes, RxPackets: n.RxPackets, TxBytes: n.TxBytes, TxPackets: n.TxPackets}
	}
	return out
}

func (s *server) containerStats(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	c, err := s.b.InspectContainer(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	stream := r.URL.Query().Get("stream") == "" || boolValue(r, "stream")
	pre, err := s.b.ContainerStats(ctx, c.ID)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	if !stream && boolValue(r, "one-shot") {
		return json.NewEncoder(w).Encode(statsOut(c, pre, daemon.StatsSample{}))
	}
	interval := time.Second
	if !stream {
		interval = 500 * time.Millisecond
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(interval):
		}
		cur, err := s.b.ContainerStats(ctx, c.ID)
		if err != nil {
			return nil
		}
		if err := writeLine(w, statsOut(c, cur, pre)); err != nil || !stream {
			return nil
		}
		flush(w)
		pre = cur
	}
}

// pathStatHeader is the header docker cp reads a path's description from.
const pathStatHeader = "X-Docker-Container-Path-Stat"

func (s *server) setPathStat(w http.ResponseWriter, r *http.Request) error {
	st, err := s.b.StatContainerPath(r.Context(), r.PathValue("id"), r.URL.Query().Get("path"))
	if err != nil {
		return err
	}
	data, err := json.Marshal(container.PathStat{Name: st.Name, Size: st.Size, Mode: os.FileMode(st.Mode), Mtime: st.Mtime, LinkTarget: st.LinkTarget})
	if err != nil {
		return err
	}
	w.Header().Set(pathStatHeader, base64.StdEncoding.EncodeToString(data))
	return nil
}

func (s *server) statPath(w http.ResponseWriter, r *http.Request) error {
	if err := s.setPathStat(w, r); err != nil {
		// HEAD has no body: the status says it.
		w.WriteHeader(statusOf(err))
		return nil
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *server) getArchive(w http.ResponseWriter, r *http.Request) error {
	if err := s.setPathStat(w, r); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/x-tar")
	err := s.b.ArchiveContainerPath(r.Context(), r.PathValue("id"), r.URL.Query().Get("path"), w)
	if err != nil {
		s.log.Warn("copy from a container", "path", r.URL.Query().Get("path"), "err", err)
		// The status is sent: break the connection so that the client
		// sees a truncated archive, not a complete one.
		panic(http.ErrAbortHandler)
	}
	return nil
}

func (s *server) putArchive(w http.ResponseWriter, r *http.Request) error {
	err := s.b.ExtractToContainer(r.Context(), r.PathValue("id"), r.URL.Query().Get("path"), r.Body, boolValue(r, "copyUIDGID"))
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *server) pruneContainers(w http.ResponseWriter, r *http.Request) (any, error) {
	f, err := parseFilters(r.URL.Query().Get("filters"))
	if err != nil {
		return nil, err
	}
	if err := f.check("until", "label", "label!"); err != nil {
		return nil, err
	}
	until := time.Time{}
	if vals := f["until"]; len(vals) > 0 {
		if until, err = parseTime(vals[0]); err != nil {
			return nil, err
		}
	}
	removed, err := s.b.PruneContainers(r.Context(), func(c daemon.ContainerInfo) bool {
		return (until.IsZero() || c.Created.Before(until)) && f.labels("label", c.Labels) && !negLabels(f["label!"], c.Labels)
	})
	if err != nil && len(removed) == 0 {
		return nil, err
	}
	if removed == nil {
		removed = []string{}
	}
	return container.PruneReport{ContainersDeleted: removed}, nil
}

// negLabels reports whether labels match any label! filter.
func negLabels(vals []string, labels map[string]string) bool {
	for _, want := range vals {
		k, v, hasValue := strings.Cut(want, "=")
		if got, ok := labels[k]; ok && (!hasValue || got == v) {
			return true
		}
	}
	return false
}
