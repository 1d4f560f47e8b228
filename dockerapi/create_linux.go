package dockerapi

import (
	"fmt"
	"maps"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"

	"github.com/stack-dev/stack/daemon"
	"github.com/stack-dev/stack/internal/errdefs"
	"github.com/stack-dev/stack/internal/ident"
	"github.com/stack-dev/stack/spec"
)

// createFields are the fields of a create request that stack implements,
// and for some the values it does: any other field that is set is
// refused by name. Output-only fields of the endpoint settings, which a
// client copying an inspect may send back, are accepted and ignored, as
// dockerd ignores them.
var createFields = map[string]fieldRule{
	"Hostname": nil, "Domainname": nil, "User": nil, "AttachStdin": nil, "AttachStdout": nil, "AttachStderr": nil,
	"ExposedPorts": nil, "Tty": nil, "OpenStdin": nil, "StdinOnce": nil, "Env": nil, "Cmd": nil, "Healthcheck": nil,
	"Image": nil, "Volumes": nil, "WorkingDir": nil, "Entrypoint": nil, "NetworkDisabled": nil, "Labels": nil,
	"StopSignal": nil, "StopTimeout": nil, "ArgsEscaped": isFalse,
	// Image metadata a client may copy over; dockerd ignores them too.
	"OnBuild": nil, "Shell": nil,

	"HostConfig.Binds": nil, "HostConfig.ContainerIDFile": nil, "HostConfig.LogConfig": nil,
	"HostConfig.NetworkMode": nil, "HostConfig.PortBindings": nil, "HostConfig.RestartPolicy": nil,
	"HostConfig.AutoRemove": nil, "HostConfig.VolumeDriver": equals("local"), "HostConfig.ConsoleSize": nil,
	"HostConfig.CapAdd": nil, "HostConfig.CapDrop": nil, "HostConfig.CgroupnsMode": equals("private"),
	"HostConfig.Dns": nil, "HostConfig.DnsOptions": nil, "HostConfig.DnsSearch": nil, "HostConfig.ExtraHosts": nil,
	"HostConfig.GroupAdd": nil, "HostConfig.IpcMode": equals("private", "shareable"),
	"HostConfig.Privileged": nil, "HostConfig.PublishAllPorts": nil, "HostConfig.ReadonlyRootfs": nil,
	"HostConfig.SecurityOpt": nil, "HostConfig.Tmpfs": nil, "HostConfig.ShmSize": nil, "HostConfig.Sysctls": nil,
	"HostConfig.Init": nil, "HostConfig.Isolation": equals("default"),
	"HostConfig.Memory": nil, "HostConfig.MemoryReservation": nil, "HostConfig.MemorySwap": nil,
	"HostConfig.NanoCpus": nil, "HostConfig.CpuShares": nil, "HostConfig.CpuQuota": nil, "HostConfig.CpuPeriod": nil,
	"HostConfig.CpusetCpus": nil, "HostConfig.PidsLimit": nil, "HostConfig.Ulimits": nil,
	"HostConfig.MemorySwappiness": equals("-1"), "HostConfig.OomKillDisable": isFalse,
	"HostConfig.Mounts.*.Type": equals("bind", "volume", "tmpfs"), "HostConfig.Mounts.*.Source": nil,
	"HostConfig.Mounts.*.Target": nil, "HostConfig.Mounts.*.ReadOnly": nil, "HostConfig.Mounts.*.Consistency": nil,
	"HostConfig.Mounts.*.BindOptions.Propagation": nil, "HostConfig.Mounts.*.BindOptions.CreateMountpoint": nil,
	"HostConfig.Mounts.*.VolumeOptions.NoCopy": nil, "HostConfig.Mounts.*.VolumeOptions.Labels": nil,
	"HostConfig.Mounts.*.TmpfsOptions.SizeBytes": nil, "HostConfig.Mounts.*.TmpfsOptions.Mode": nil,

	"NetworkingConfig.EndpointsConfig.*.Aliases": nil, "NetworkingConfig.EndpointsConfig.*.IPAMConfig.IPv4Address": nil,
	"NetworkingConfig.EndpointsConfig.*.GwPriority": nil, "NetworkingConfig.EndpointsConfig.*.NetworkID": nil,
	"NetworkingConfig.EndpointsConfig.*.EndpointID": nil, "NetworkingConfig.EndpointsConfig.*.Gateway": nil,
	"NetworkingConfig.EndpointsConfig.*.IPAddress": nil, "NetworkingConfig.EndpointsConfig.*.IPPrefixLen": nil,
	"NetworkingConfig.EndpointsConfig.*.DNSNames": nil,
}

// networkResolver names the network ref (a name or an ID) stands for.
type networkResolver func(ref string) (string, error)

// translateCreate turns a create request into the daemon's: the
// container's configuration as a stack file's service. name is the
// ?name= of the request.
func translateCreate(name string, req container.CreateRequest, resolve networkResolver) (daemon.ContainerCreate, error) {
	if req.Config == nil {
		req.Config = &container.Config{}
	}
	if req.HostConfig == nil {
		req.HostConfig = &container.HostConfig{}
	}
	if err := checkFields("create container", req, createFields); err != nil {
		return daemon.ContainerCreate{}, err
	}
	c, hc := req.Config, req.HostConfig
	if c.Image == "" {
		return daemon.ContainerCreate{}, fmt.Errorf("create container: Config.Image: an image is required: %w", errdefs.ErrInvalidArgument)
	}
	svc := &spec.Service{
		Image: c.Image, User: c.User, WorkingDir: c.WorkingDir, Hostname: c.Hostname, Domainname: c.Domainname,
		Tty: c.Tty, StdinOpen: c.OpenStdin, StopSignal: c.StopSignal, Labels: maps.Clone(c.Labels),
		CapAdd: hc.CapAdd, CapDrop: hc.CapDrop, Privileged: hc.Privileged, ReadOnly: hc.ReadonlyRootfs,
		DNSSearch: hc.DNSSearch, DNSOpt: hc.DNSOptions, GroupAdd: hc.GroupAdd, Sysctls: hc.Sysctls, Init: hc.Init,
		ShmSize: spec.ByteSize(hc.ShmSize), MemLimit: spec.ByteSize(hc.Memory), MemReservation: spec.ByteSize(hc.MemoryReservation),
		MemswapLimit: spec.ByteSize(hc.MemorySwap), CPUShares: hc.CPUShares, CPUQuota: hc.CPUQuota, CPUPeriod: hc.CPUPeriod,
		CPUSet: hc.CpusetCpus, Networks: map[string]*spec.ServiceNetwork{},
	}
	out := daemon.ContainerCreate{Name: name, Service: svc, Labels: maps.Clone(c.Labels), OpenStdin: c.OpenStdin,
		AutoRemove: hc.AutoRemove, PublishAll: hc.PublishAllPorts, VolumeLabels: map[string]map[string]string{}}
	if c.Cmd != nil {
		svc.Command = spec.Command(c.Cmd)
	}
	if c.Entrypoint != nil {
		svc.Entrypoint = spec.Command(c.Entrypoint)
	}
	if len(c.Env) > 0 {
		svc.Environment = map[string]*string{}
		for _, kv := range c.Env {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || k == "" {
				continue // a name alone asks for nothing (the CLI resolves -e NAME)
			}
			svc.Environment[k] = &v
		}
	}
	if c.StopTimeout != nil {
		d := spec.Duration(time.Duration(*c.StopTimeout) * time.Second)
		svc.StopGracePeriod = &d
	}
	for p := range c.ExposedPorts {
		svc.Expose = append(svc.Expose, p.String())
	}
	slices.Sort(svc.Expose)
	if hc.NanoCPUs > 0 {
		svc.CPUs = float64(hc.NanoCPUs) / 1e9
	}
	if hc.PidsLimit != nil && *hc.PidsLimit > 0 {
		svc.PidsLimit = *hc.PidsLimit
	}
	for _, a := range hc.DNS {
		svc.DNS = append(svc.DNS, a.String())
	}
	// host:ip or host=ip, checked when the container's /etc/hosts is
	// written.
	svc.ExtraHosts = slices.Clone(hc.ExtraHosts)
	for _, dst := range slices.Sorted(maps.Keys(hc.Tmpfs)) {
		entry := dst
		if o := hc.Tmpfs[dst]; o != "" {
			entry += ":" + o
		}
		svc.Tmpfs = append(svc.Tmpfs, entry)
	}
	if len(hc.Ulimits) > 0 {
		svc.Ulimits = map[string]spec.Ulimit{}
		for _, u := range hc.Ulimits {
			if u == nil || u.Name == "" {
				continue
			}
			svc.Ulimits[u.Name] = spec.Ulimit{Soft: u.Soft, Hard: u.Hard}
		}
	}
	for _, o := range hc.SecurityOpt {
		if strings.HasPrefix(o, "seccomp=") && strings.HasPrefix(strings.TrimSpace(strings.TrimPrefix(o, "seccomp=")), "{") {
			return out, fmt.Errorf("create container: HostConfig.SecurityOpt: a seccomp profile sent inline is not supported by stack: use seccomp=unconfined or the default: %w", errdefs.ErrNotImplemented)
		}
		if _, err := spec.ParseSecurityOpt(o); err != nil {
			return out, fmt.Errorf("create container: HostConfig.SecurityOpt: %w: %w", err, errdefs.ErrInvalidArgument)
		}
		svc.SecurityOpt = append(svc.SecurityOpt, o)
	}
	if err := translateRestart(hc, svc); err != nil {
		return out, err
	}
	if err := translateLogConfig(hc.LogConfig, svc); err != nil {
		return out, err
	}
	if c.Healthcheck != nil {
		svc.Healthcheck = translateHealthcheck(c.Healthcheck)
	}
	if err := translatePorts(hc.PortBindings, svc); err != nil {
		return out, err
	}
	if err := translateMounts(c, hc, svc, out.VolumeLabels); err != nil {
		return out, err
	}
	if err := translateNetworks(c, hc, req.NetworkingConfig, svc, resolve); err != nil {
		return out, err
	}
	return out, nil
}

func translateRestart(hc *container.HostConfig, svc *spec.Service) error {
	rp := hc.RestartPolicy
	switch rp.Name {
	case "", container.RestartPolicyDisabled:
	case container.RestartPolicyAlways, container.RestartPolicyUnlessStopped:
		svc.Restart = string(rp.Name)
	case container.RestartPolicyOnFailure:
		svc.Restart = "on-failure"
		if rp.MaximumRetryCount > 0 {
			svc.Restart += ":" + strconv.Itoa(rp.MaximumRetryCount)
		}
	default:
		return fmt.Errorf("create container: HostConfig.RestartPolicy.Name %s: want no, always, unless-stopped or on-failure: %w", ident.Quote(string(rp.Name)), errdefs.ErrInvalidArgument)
	}
	if rp.MaximumRetryCount < 0 || rp.MaximumRetryCount > 0 && rp.Name != container.RestartPolicyOnFailure {
		return fmt.Errorf("create container: HostConfig.RestartPolicy.MaximumRetryCount: only on-failure takes one, and not below 0: %w", errdefs.ErrInvalidArgument)
	}
	if hc.AutoRemove && svc.Restart != "" {
		return fmt.Errorf("create container: HostConfig.AutoRemove and HostConfig.RestartPolicy cannot be combined: %w", errdefs.ErrInvalidArgument)
	}
	return nil
}

// translateLogConfig accepts json-file, stack's format, with its
// rotation options.
func translateLogConfig(lc container.LogConfig, svc *spec.Service) error {
	switch lc.Type {
	case "", "json-file":
	default:
		return fmt.Errorf("create container: HostConfig.LogConfig.Type %s: stack logs json-file only: %w", ident.Quote(lc.Type), errdefs.ErrNotImplemented)
	}
	for k, v := range lc.Config {
		switch k {
		case "max-size", "max-file":
			if svc.Logging == nil {
				svc.Logging = &spec.Logging{Driver: "json-file", Options: map[string]string{}}
			}
			svc.Logging.Options[k] = v
		default:
			return fmt.Errorf("create container: HostConfig.LogConfig.Config[%s]: stack knows max-size and max-file: %w", k, errdefs.ErrNotImplemented)
		}
	}
	return nil
}

func translateHealthcheck(h *container.HealthConfig) *spec.Healthcheck {
	if len(h.Test) > 0 && h.Test[0] == "NONE" {
		return &spec.Healthcheck{Disable: true}
	}
	out := &spec.Healthcheck{Test: h.Test}
	dur := func(d time.Duration) *spec.Duration {
		if d <= 0 {
			return nil
		}
		v := spec.Duration(d)
		return &v
	}
	out.Interval, out.Timeout, out.StartPeriod, out.StartInterval = dur(h.Interval), dur(h.Timeout), dur(h.StartPeriod), dur(h.StartInterval)
	if h.Retries > 0 {
		r := uint64(h.Retries)
		out.Retries = &r
	}
	return out
}

func translatePorts(pm network.PortMap, svc *spec.Service) error {
	for _, p := range slices.SortedFunc(maps.Keys(pm), func(a, b network.Port) int { return strings.Compare(a.String(), b.String()) }) {
		proto := string(p.Proto())
		if proto != "tcp" && proto != "udp" {
			return fmt.Errorf("create container: HostConfig.PortBindings[%s]: stack publishes tcp and udp: %w", p, errdefs.ErrNotImplemented)
		}
		bindings := pm[p]
		if len(bindings) == 0 {
			bindings = []network.PortBinding{{}}
		}
		for _, b := range bindings {
			sp := spec.Port{Target: uint32(p.Num()), Protocol: proto, Published: b.HostPort}
			if b.HostIP.IsValid() && !b.HostIP.IsUnspecified() {
				sp.HostIP = b.HostIP.String()
			}
			if b.HostPort != "" {
				lo, hi, _ := strings.Cut(b.HostPort, "-")
				for _, n := range []string{lo, hi} {
					if v, err := strconv.Atoi(n); n != "" && (err != nil || v < 0 || v > 65535) {
						return fmt.Errorf("create container: HostConfig.PortBindings[%s].HostPort %s: want a port or a range: %w", p, ident.Quote(b.HostPort), errdefs.ErrInvalidArgument)
					}
				}
				if lo == "0" {
					sp.Published = ""
				}
			}
			svc.Ports = append(svc.Ports, sp)
		}
	}
	return nil
}

// translateMounts turns Binds, Mounts and the image-style Volumes into
// the service's volumes. A named volume's labels (Mounts'
// VolumeOptions.Labels) go to labels, by volume name.
func translateMounts(c *container.Config, hc *container.HostConfig, svc *spec.Service, labels map[string]map[string]string) error {
	targets := map[string]bool{}
	add := func(v spec.ServiceVolume) error {
		v.Target = path.Clean(v.Target)
		if !path.IsAbs(v.Target) {
			return fmt.Errorf("create container: mount target %s: want an absolute path: %w", ident.Quote(v.Target), errdefs.ErrInvalidArgument)
		}
		if targets[v.Target] {
			return fmt.Errorf("create container: duplicate mount point %s: %w", v.Target, errdefs.ErrInvalidArgument)
		}
		targets[v.Target] = true
		svc.Volumes = append(svc.Volumes, v)
		return nil
	}
	for _, b := range hc.Binds {
		v, err := parseBind(b)
		if err != nil {
			return err
		}
		if err := add(v); err != nil {
			return err
		}
	}
	for i, m := range hc.Mounts {
		v := spec.ServiceVolume{Type: string(m.Type), Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly}
		switch m.Type {
		case mount.TypeBind:
			if !path.IsAbs(m.Source) {
				return fmt.Errorf("create container: HostConfig.Mounts[%d].Source %s: a bind mount needs an absolute host path: %w", i, ident.Quote(m.Source), errdefs.ErrInvalidArgument)
			}
			v.Bind = &spec.BindOptions{}
			if o := m.BindOptions; o != nil {
				v.Bind.Propagation, v.Bind.CreateHostPath = string(o.Propagation), o.CreateMountpoint
			}
		case mount.TypeVolume:
			if o := m.VolumeOptions; o != nil {
				v.Volume = &spec.VolumeOptions{NoCopy: o.NoCopy}
				if len(o.Labels) > 0 && m.Source != "" {
					labels[m.Source] = o.Labels
				}
			}
			if m.Source != "" {
				if err := ident.Name("volume name", m.Source); err != nil {
					return fmt.Errorf("create container: HostConfig.Mounts[%d].Source: %w", i, err)
				}
			}
		case mount.TypeTmpfs:
			v.Source = ""
			if o := m.TmpfsOptions; o != nil {
				v.Tmpfs = &spec.TmpfsOptions{Size: spec.ByteSize(o.SizeBytes), Mode: spec.FileMode(o.Mode.Perm())}
			}
		}
		if err := add(v); err != nil {
			return err
		}
	}
	// The image-style volumes of the config: anonymous, unless a bind or
	// mount is there already.
	for _, t := range slices.Sorted(maps.Keys(c.Volumes)) {
		if targets[path.Clean(t)] {
			continue
		}
		if err := add(spec.ServiceVolume{Type: spec.VolumeTypeVolume, Target: t}); err != nil {
			return err
		}
	}
	return nil
}

// parseBind reads a Binds entry: SOURCE:TARGET[:OPTIONS], SOURCE a host
// path (absolute) or a volume name, OPTIONS ro, rw, z, Z, nocopy and a
// propagation mode, comma-separated.
func parseBind(b string) (spec.ServiceVolume, error) {
	bad := func(why string) (spec.ServiceVolume, error) {
		return spec.ServiceVolume{}, fmt.Errorf("create container: HostConfig.Binds %s: %s: %w", ident.Quote(b), why, errdefs.ErrInvalidArgument)
	}
	parts := strings.Split(b, ":")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return bad("want SOURCE:TARGET[:OPTIONS]")
	}
	v := spec.ServiceVolume{Source: parts[0], Target: parts[1]}
	if path.IsAbs(parts[0]) {
		v.Type, v.Bind = spec.VolumeTypeBind, &spec.BindOptions{CreateHostPath: true}
	} else {
		if err := ident.Name("volume name", parts[0]); err != nil {
			return bad("the source is neither an absolute path nor a volume name")
		}
		v.Type = spec.VolumeTypeVolume
	}
	if len(parts) == 3 {
		for _, o := range strings.Split(parts[2], ",") {
			switch o {
			case "ro":
				v.ReadOnly = true
			case "rw", "":
			case "z", "Z":
				// SELinux relabelling: dockerd does it only where SELinux
				// is enabled, and stack runs no SELinux policy.
			case "nocopy":
				if v.Type != spec.VolumeTypeVolume {
					return bad("nocopy is for volumes")
				}
				v.Volume = &spec.VolumeOptions{NoCopy: true}
			case "private", "rprivate", "shared", "rshared", "slave", "rslave":
				if v.Type != spec.VolumeTypeBind {
					return bad("a propagation mode is for binds")
				}
				v.Bind.Propagation = o
			default:
				return bad("unknown option " + ident.Quote(o))
			}
		}
	}
	return v, nil
}

// translateNetworks sets the service's networks from the network mode
// and the endpoints config.
func translateNetworks(c *container.Config, hc *container.HostConfig, nc *network.NetworkingConfig, svc *spec.Service, resolve networkResolver) error {
	if len(hc.Links) > 0 {
		return fmt.Errorf("create container: HostConfig.Links: legacy links are not supported by stack: put the containers on one network, where they resolve each other by name: %w", errdefs.ErrNotImplemented)
	}
	var endpoints map[string]*network.EndpointSettings
	if nc != nil {
		endpoints = nc.EndpointsConfig
	}
	mode := string(hc.NetworkMode)
	switch {
	case c.NetworkDisabled || mode == "none":
		svc.NetworkMode = "none"
		if len(endpoints) > 0 {
			return fmt.Errorf("create container: NetworkingConfig.EndpointsConfig: a container with network mode none joins no network: %w", errdefs.ErrInvalidArgument)
		}
		return nil
	case mode == "host":
		return fmt.Errorf("create container: HostConfig.NetworkMode host: not supported by stack: publish ports instead: %w", errdefs.ErrNotImplemented)
	case strings.HasPrefix(mode, "container:"):
		svc.NetworkMode = mode
		return nil
	case mode == "" || mode == "default" || mode == "bridge":
		mode = daemon.DefaultNetwork
	}
	primary, err := resolve(mode)
	if err != nil {
		return fmt.Errorf("create container: HostConfig.NetworkMode: %w", err)
	}
	// The primary network is eth0: the highest priority.
	svc.Networks[primary] = &spec.ServiceNetwork{Priority: 1 << 20}
	for _, key := range slices.Sorted(maps.Keys(endpoints)) {
		ep := endpoints[key]
		name := daemon.DefaultNetwork
		if key != "default" && key != "bridge" {
			var err error
			if name, err = resolve(key); err != nil {
				return fmt.Errorf("create container: NetworkingConfig.EndpointsConfig[%s]: %w", key, err)
			}
		}
		sn := svc.Networks[name]
		if sn == nil {
			sn = &spec.ServiceNetwork{}
			svc.Networks[name] = sn
		}
		if ep == nil {
			continue
		}
		sn.Aliases = slices.Clone(ep.Aliases)
		if ep.GwPriority != 0 && name != primary {
			sn.Priority = ep.GwPriority
		}
		if ep.IPAMConfig != nil && ep.IPAMConfig.IPv4Address.IsValid() {
			if !ep.IPAMConfig.IPv4Address.Is4() {
				return fmt.Errorf("create container: NetworkingConfig.EndpointsConfig[%s].IPAMConfig.IPv4Address: want an IPv4 address: %w", key, errdefs.ErrInvalidArgument)
			}
			sn.IPv4Address = ep.IPAMConfig.IPv4Address.String()
		}
	}
	return nil
}
