package spec

import (
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// serviceKeys are the service keys stack decodes.
var serviceKeys = []string{
	"annotations", "attach", "build", "cap_add", "cap_drop", "command", "configs", "container_name", "cpu_period", "cpu_quota",
	"cpu_shares", "cpus", "cpuset", "depends_on", "deploy", "develop", "dns", "dns_opt", "dns_search", "domainname",
	"entrypoint", "env_file", "environment", "expose", "extra_hosts", "group_add", "healthcheck", "hostname", "image", "init",
	"labels", "links", "logging", "mem_limit", "mem_reservation", "memswap_limit", "network_mode", "networks",
	"pids_limit", "platform", "ports", "privileged", "profiles", "pull_policy", "read_only", "restart", "scale",
	"secrets", "security_opt", "shm_size", "stdin_open", "stop_grace_period", "stop_signal", "sysctls", "tmpfs", "tty", "ulimits",
	"user", "volumes", "volumes_from", "working_dir",
}

// serviceExtra are the Compose service keys stack does not decode.
var serviceExtra = map[string]fieldKind{
	"blkio_config": unsupported, "cgroup": unsupported, "cgroup_parent": unsupported,
	"cpu_count": unsupported, "cpu_percent": unsupported, "cpu_rt_period": unsupported, "cpu_rt_runtime": unsupported,
	"credential_spec": unsupported, "device_cgroup_rules": unsupported, "devices": unsupported, "external_links": unsupported,
	"gpus": unsupported, "ipc": unsupported, "isolation": unsupported, "label_file": unsupported,
	"mac_address": unsupported, "mem_swappiness": unsupported, "models": unsupported, "oom_kill_disable": unsupported,
	"oom_score_adj": unsupported, "pid": unsupported, "post_start": unsupported, "pre_start": unsupported,
	"pre_stop": unsupported, "provider": unsupported, "runtime": unsupported,
	"storage_opt": unsupported, "use_api_socket": unsupported, "userns_mode": unsupported, "uts": unsupported,
}

func (l *loader) decodeService(name string, n *yaml.Node) *Service {
	path := "services." + name
	s := &Service{Name: name}
	if isNull(n) {
		return s
	}
	l.pos[path] = n
	l.fields(n, path, serviceKeys, serviceExtra, func(key string, k, v *yaml.Node, p string) bool {
		l.pos[p] = v
		switch key {
		case "image":
			s.Image = l.str(v, p)
		case "build":
			s.Build = l.decodeBuild(v, p)
		case "pull_policy":
			s.PullPolicy = l.oneOf(v, p, "always", "missing", "never", "build", "if_not_present")
			if s.PullPolicy == "if_not_present" {
				s.PullPolicy = "missing"
			}
		case "command":
			s.Command = l.command(v, p)
		case "entrypoint":
			s.Entrypoint = l.command(v, p)
		case "environment":
			s.Environment = l.envMap(v, p)
		case "env_file":
			s.EnvFiles = l.decodeEnvFiles(v, p)
		case "working_dir":
			s.WorkingDir = l.str(v, p)
		case "user":
			s.User = l.str(v, p)
		case "hostname":
			s.Hostname = l.str(v, p)
		case "domainname":
			s.Domainname = l.str(v, p)
		case "container_name":
			s.ContainerName = l.str(v, p)
		case "labels":
			s.Labels = l.stringMap(v, p)
		case "annotations":
			if !isNull(v) {
				l.notImplemented(k, p, "`annotations`")
			}
		case "depends_on":
			s.DependsOn = l.decodeDependsOn(v, p)
		case "links":
			s.Links = l.strList(v, p, false)
		case "healthcheck":
			s.Healthcheck = l.decodeHealthcheck(v, p)
		case "restart":
			s.Restart = l.str(v, p)
			if !validRestart(s.Restart) {
				l.errorf(v, p, "invalid restart policy %q: want no, always, on-failure, on-failure:N or unless-stopped", s.Restart)
			}
		case "ports":
			s.Ports = l.decodePorts(v, p)
		case "expose":
			for _, e := range l.scalarList(v, p) {
				if _, _, err := parsePortRange(strings.Split(e.Value, "/")[0]); err != nil {
					l.errorf(e, p, "invalid exposed port: %v", err)
				}
				s.Expose = append(s.Expose, e.Value)
			}
		case "networks":
			s.Networks = l.decodeServiceNetworks(v, p)
		case "network_mode":
			s.NetworkMode = l.str(v, p)
		case "extra_hosts":
			s.ExtraHosts = l.decodeExtraHosts(v, p)
		case "dns":
			s.DNS = l.strList(v, p, true)
		case "dns_search":
			s.DNSSearch = l.strList(v, p, true)
		case "dns_opt":
			s.DNSOpt = l.strList(v, p, false)
		case "volumes":
			s.Volumes = l.decodeServiceVolumes(v, p)
		case "volumes_from":
			s.VolumesFrom = l.strList(v, p, false)
		case "tmpfs":
			s.Tmpfs = l.strList(v, p, true)
		case "secrets":
			s.Secrets = l.decodeFileRefs(v, p, "secrets")
		case "configs":
			s.Configs = l.decodeFileRefs(v, p, "configs")
		case "stop_signal":
			s.StopSignal = l.str(v, p)
		case "stop_grace_period":
			s.StopGracePeriod = l.duration(v, p)
		case "init":
			s.Init = l.boolPtr(v, p)
		case "attach":
			s.Attach = l.boolPtr(v, p)
		case "tty":
			s.Tty = l.boolean(v, p)
		case "stdin_open":
			s.StdinOpen = l.boolean(v, p)
		case "read_only":
			s.ReadOnly = l.boolean(v, p)
		case "privileged":
			s.Privileged = l.boolean(v, p)
		case "cap_add":
			s.CapAdd = l.strList(v, p, false)
		case "security_opt":
			s.SecurityOpt = l.securityOpts(v, p)
		case "group_add":
			for _, g := range l.scalarList(v, p) {
				if g.Value == "" || strings.ContainsAny(g.Value, ":\n") {
					l.errorf(g, p, "group %q: want a group name or number", g.Value)
					continue
				}
				s.GroupAdd = append(s.GroupAdd, g.Value)
			}
		case "cap_drop":
			s.CapDrop = l.strList(v, p, false)
		case "sysctls":
			s.Sysctls = l.stringMap(v, p)
		case "ulimits":
			s.Ulimits = l.decodeUlimits(v, p)
		case "shm_size":
			s.ShmSize = l.byteSize(v, p)
		case "mem_limit":
			s.MemLimit = l.byteSize(v, p)
		case "mem_reservation":
			s.MemReservation = l.byteSize(v, p)
		case "memswap_limit":
			s.MemswapLimit = l.byteSize(v, p)
		case "cpus":
			s.CPUs = l.cpus(v, p)
		case "cpu_shares":
			s.CPUShares = l.integer(v, p, 0, 262144)
		case "cpu_quota":
			s.CPUQuota = l.integer(v, p, -1, math.MaxInt64)
		case "cpu_period":
			s.CPUPeriod = l.integer(v, p, 0, 1000000)
		case "cpuset":
			s.CPUSet = l.str(v, p)
		case "pids_limit":
			s.PidsLimit = l.integer(v, p, -1, math.MaxInt64)
		case "deploy":
			s.Deploy = l.decodeDeploy(v, p)
		case "scale":
			s.Scale = l.intPtr(v, p, 0, 1000)
		case "profiles":
			s.Profiles = l.strList(v, p, false)
		case "platform":
			l.checkPlatform(v, p)
		case "logging":
			s.Logging = l.decodeLogging(v, p)
		case "develop":
			s.Develop = l.decodeDevelop(v, p)
		default:
			return false
		}
		return true
	})
	s.Extensions = extensions(n)
	return s
}

func (l *loader) oneOf(n *yaml.Node, path string, allowed ...string) string {
	s := l.str(n, path)
	for _, a := range allowed {
		if s == a {
			return s
		}
	}
	if s != "" || !isNull(n) {
		l.errorf(n, path, "invalid value %q: want one of %s", s, strings.Join(allowed, ", "))
	}
	return s
}

func validRestart(s string) bool {
	switch s {
	case "no", "always", "on-failure", "unless-stopped":
		return true
	}
	if n, ok := strings.CutPrefix(s, "on-failure:"); ok {
		v, err := strconv.Atoi(n)
		return err == nil && v >= 0
	}
	return false
}

func (l *loader) decodeBuild(n *yaml.Node, path string) *Build {
	if isNull(n) {
		return nil
	}
	b := &Build{}
	var contextNode *yaml.Node
	l.fields(n, path,
		[]string{"context", "dockerfile", "dockerfile_inline", "args", "target", "labels", "network", "no_cache", "pull", "tags", "shm_size", "extra_hosts"},
		map[string]fieldKind{"cache_from": ignored, "cache_to": ignored, "additional_contexts": unsupported, "ssh": unsupported,
			"secrets": unsupported, "entitlements": unsupported, "isolation": unsupported, "privileged": unsupported,
			"provenance": unsupported, "sbom": unsupported, "ulimits": unsupported, "platforms": unsupported},
		func(key string, k, v *yaml.Node, p string) bool {
			switch key {
			case "context":
				b.Context, contextNode = l.str(v, p), v
			case "dockerfile":
				b.Dockerfile = l.str(v, p)
			case "dockerfile_inline":
				b.DockerfileInline = l.str(v, p)
			case "args":
				b.Args = l.envMap(v, p)
			case "target":
				b.Target = l.str(v, p)
			case "labels":
				b.Labels = l.stringMap(v, p)
			case "network":
				b.Network = l.str(v, p)
			case "no_cache":
				b.NoCache = l.boolean(v, p)
			case "pull":
				b.Pull = l.boolean(v, p)
			case "tags":
				b.Tags = l.strList(v, p, false)
			case "shm_size":
				b.ShmSize = l.byteSize(v, p)
			case "extra_hosts":
				b.ExtraHosts = l.decodeExtraHosts(l.kvListToMap(v, "=:"), p)
			default:
				return false
			}
			return true
		})
	switch {
	case contextNode == nil:
		b.Context = l.dirOf(n)
	case strings.Contains(b.Context, "://") || strings.HasPrefix(b.Context, "git@"):
		l.notImplemented(contextNode, path+".context", "a remote build context")
	default:
		b.Context = l.absPath(contextNode, b.Context)
	}
	if b.Dockerfile == "" && b.DockerfileInline == "" {
		b.Dockerfile = "Dockerfile"
	}
	if b.Dockerfile != "" && b.DockerfileInline != "" {
		l.errorf(n, path, "dockerfile and dockerfile_inline are mutually exclusive: keep one")
	}
	return b
}

func (l *loader) decodeEnvFiles(n *yaml.Node, path string) []EnvFile {
	if isNull(n) {
		return nil
	}
	items := []*yaml.Node{n}
	if n.Kind == yaml.SequenceNode {
		items = n.Content
	}
	var out []EnvFile
	for i, item := range items {
		p := path
		if n.Kind == yaml.SequenceNode {
			p += "[" + strconv.Itoa(i) + "]"
		}
		switch item.Kind {
		case yaml.ScalarNode:
			out = append(out, EnvFile{Path: l.absPath(item, item.Value), Required: true})
			l.pos[p] = item
		case yaml.MappingNode:
			ef := EnvFile{Required: true}
			var pathNode *yaml.Node
			l.fields(item, p, []string{"path", "required", "format"}, nil, func(key string, k, v *yaml.Node, fp string) bool {
				switch key {
				case "path":
					pathNode = v
					ef.Path = l.absPath(v, l.str(v, fp))
				case "required":
					ef.Required = l.boolean(v, fp)
				case "format":
					if f := l.str(v, fp); f != "" && f != "raw" {
						l.notImplemented(v, fp, "env_file format "+strconv.Quote(f))
					}
				default:
					return false
				}
				return true
			})
			if pathNode == nil {
				l.errorf(item, p, "missing path:")
				continue
			}
			l.pos[p] = pathNode
			out = append(out, ef)
		default:
			l.wrongType(item, p, "a path or a {path, required} mapping")
		}
	}
	return out
}

func (l *loader) decodeDependsOn(n *yaml.Node, path string) map[string]DependsOn {
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		l.wrongType(n, path, "a list of service names or a mapping")
		return nil
	}
	out := map[string]DependsOn{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		p := joinPath(path, k.Value)
		l.pos[p] = k
		d := DependsOn{Condition: ConditionStarted, Required: true}
		if !isNull(v) {
			l.fields(v, p, []string{"condition", "restart", "required"}, nil, func(key string, _, fv *yaml.Node, fp string) bool {
				switch key {
				case "condition":
					d.Condition = l.oneOf(fv, fp, ConditionStarted, ConditionHealthy, ConditionCompletedSuccessfully)
				case "restart":
					d.Restart = l.boolean(fv, fp)
				case "required":
					d.Required = l.boolean(fv, fp)
				default:
					return false
				}
				return true
			})
		}
		out[k.Value] = d
	}
	return out
}

func (l *loader) decodeHealthcheck(n *yaml.Node, path string) *Healthcheck {
	if isNull(n) {
		return nil
	}
	h := &Healthcheck{}
	l.fields(n, path, []string{"test", "interval", "timeout", "retries", "start_period", "start_interval", "disable"}, nil,
		func(key string, k, v *yaml.Node, p string) bool {
			switch key {
			case "test":
				h.Test = l.healthTest(v, p)
			case "interval":
				h.Interval = l.duration(v, p)
			case "timeout":
				h.Timeout = l.duration(v, p)
			case "retries":
				h.Retries = l.uintPtr(v, p)
			case "start_period":
				h.StartPeriod = l.duration(v, p)
			case "start_interval":
				h.StartInterval = l.duration(v, p)
			case "disable":
				h.Disable = l.boolean(v, p)
			default:
				return false
			}
			return true
		})
	if len(h.Test) == 1 && h.Test[0] == "NONE" {
		h.Disable = true
	}
	return h
}

// healthTest decodes healthcheck.test into its canonical form.
func (l *loader) healthTest(n *yaml.Node, path string) []string {
	if isNull(n) {
		return nil
	}
	if n.Kind == yaml.ScalarNode {
		if n.Value == "NONE" {
			return []string{"NONE"}
		}
		return []string{"CMD-SHELL", n.Value}
	}
	test := l.command(n, path)
	if len(test) == 0 {
		return nil
	}
	switch test[0] {
	case "NONE":
		return []string{"NONE"}
	case "CMD", "CMD-SHELL":
		if len(test) < 2 {
			l.errorf(n, path, "%s needs a command after it", test[0])
		}
		if test[0] == "CMD-SHELL" && len(test) > 2 {
			return []string{"CMD-SHELL", strings.Join(test[1:], " ")}
		}
		return test
	}
	l.errorf(n, path, `a test list must start with "CMD", "CMD-SHELL" or "NONE" (got %q)`, test[0])
	return nil
}

func (l *loader) decodePorts(n *yaml.Node, path string) []Port {
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		l.wrongType(n, path, "a list of ports")
		return nil
	}
	var out []Port
	for i, item := range n.Content {
		p := path + "[" + strconv.Itoa(i) + "]"
		l.pos[p] = item
		switch item.Kind {
		case yaml.ScalarNode:
			ports, err := ParsePortSpec(item.Value)
			if err != nil {
				l.errorf(item, p, "%v", err)
				continue
			}
			out = append(out, ports...)
		case yaml.MappingNode:
			port := Port{Mode: "ingress", Protocol: "tcp"}
			var target *yaml.Node
			l.fields(item, p, []string{"name", "target", "published", "host_ip", "protocol", "app_protocol", "mode"}, nil,
				func(key string, k, v *yaml.Node, fp string) bool {
					switch key {
					case "name":
						port.Name = l.str(v, fp)
					case "target":
						target = v
						port.Target = uint32(l.integer(v, fp, 1, 65535))
					case "published":
						port.Published = l.str(v, fp)
						if _, _, err := parsePortRange(port.Published); port.Published != "" && err != nil {
							l.errorf(v, fp, "invalid published port: %v", err)
						}
					case "host_ip":
						port.HostIP = l.str(v, fp)
						if _, err := ParsePortSpec(port.HostIP + ":1:1"); port.HostIP != "" && err != nil && !strings.Contains(port.HostIP, ":") {
							l.errorf(v, fp, "%q is not an IP address", port.HostIP)
						}
					case "protocol":
						port.Protocol = strings.ToLower(l.oneOf(v, fp, "tcp", "udp", "sctp", "TCP", "UDP", "SCTP"))
					case "app_protocol":
						port.AppProtocol = l.str(v, fp)
					case "mode":
						port.Mode = l.oneOf(v, fp, "host", "ingress")
					default:
						return false
					}
					return true
				})
			if target == nil {
				l.errorf(item, p, "missing target: the container port")
				continue
			}
			out = append(out, port)
		default:
			l.wrongType(item, p, `a port such as "8080:80" or a {target, published} mapping`)
		}
	}
	return out
}

func (l *loader) decodeServiceNetworks(n *yaml.Node, path string) map[string]*ServiceNetwork {
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		l.wrongType(n, path, "a list of network names or a mapping")
		return nil
	}
	out := map[string]*ServiceNetwork{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		p := joinPath(path, k.Value)
		l.pos[p] = k
		if isNull(v) {
			out[k.Value] = nil
			continue
		}
		sn := &ServiceNetwork{}
		l.fields(v, p, []string{"aliases", "ipv4_address", "priority", "gw_priority"},
			map[string]fieldKind{"ipv6_address": unsupported, "link_local_ips": unsupported, "mac_address": unsupported,
				"driver_opts": unsupported, "interface_name": unsupported},
			func(key string, fk, fv *yaml.Node, fp string) bool {
				switch key {
				case "aliases":
					sn.Aliases = l.strList(fv, fp, false)
				case "ipv4_address":
					sn.IPv4Address = l.str(fv, fp)
					l.pos[fp] = fv
				case "priority", "gw_priority":
					sn.Priority = int(l.integer(fv, fp, math.MinInt32, math.MaxInt32))
				default:
					return false
				}
				return true
			})
		out[k.Value] = sn
	}
	return out
}

// decodeExtraHosts turns the canonical mapping host -> ip (or list of ips)
// into sorted "host=ip" entries, the form docker compose config prints.
func (l *loader) decodeExtraHosts(n *yaml.Node, path string) []string {
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		l.wrongType(n, path, `a list of "HOST=IP" strings or a mapping`)
		return nil
	}
	var out []string
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		for _, ip := range l.strList(v, joinPath(path, k.Value), true) {
			ip = strings.TrimSuffix(strings.TrimPrefix(ip, "["), "]")
			out = append(out, k.Value+"="+ip)
		}
	}
	return out
}

func (l *loader) decodeServiceVolumes(n *yaml.Node, path string) []ServiceVolume {
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		l.wrongType(n, path, "a list of volumes")
		return nil
	}
	var out []ServiceVolume
	for i, item := range n.Content {
		p := path + "[" + strconv.Itoa(i) + "]"
		l.pos[p] = item
		switch item.Kind {
		case yaml.ScalarNode:
			v, err := ParseVolumeSpec(item.Value)
			if err != nil {
				l.errorf(item, p, "%v", err)
				continue
			}
			if v.Type == VolumeTypeBind {
				v.Source = l.absPath(item, v.Source)
			}
			out = append(out, v)
		case yaml.MappingNode:
			if v, ok := l.decodeVolumeLong(item, p); ok {
				out = append(out, v)
			}
		default:
			l.wrongType(item, p, `a volume such as "data:/var/lib/data" or a {type, source, target} mapping`)
		}
	}
	return out
}

func (l *loader) decodeVolumeLong(n *yaml.Node, path string) (ServiceVolume, bool) {
	var v ServiceVolume
	var sourceNode *yaml.Node
	ok := true
	l.fields(n, path, []string{"type", "source", "target", "read_only", "bind", "volume", "tmpfs", "consistency"}, nil,
		func(key string, k, fv *yaml.Node, p string) bool {
			switch key {
			case "type":
				v.Type = l.str(fv, p)
				switch v.Type {
				case VolumeTypeBind, VolumeTypeVolume, VolumeTypeTmpfs:
				case "image", "npipe", "cluster":
					l.notImplemented(fv, p, "volume type "+strconv.Quote(v.Type))
					ok = false
				default:
					l.errorf(fv, p, "invalid volume type %q: want bind, volume or tmpfs", v.Type)
					ok = false
				}
			case "source":
				v.Source, sourceNode = l.str(fv, p), fv
			case "target":
				v.Target = l.str(fv, p)
			case "read_only":
				v.ReadOnly = l.boolean(fv, p)
			case "consistency":
			case "bind":
				v.Bind = &BindOptions{}
				l.fields(fv, p, []string{"propagation", "create_host_path", "selinux"}, nil, func(key string, _, bv *yaml.Node, bp string) bool {
					switch key {
					case "propagation":
						v.Bind.Propagation = l.oneOf(bv, bp, "shared", "rshared", "slave", "rslave", "private", "rprivate")
					case "create_host_path":
						v.Bind.CreateHostPath = l.boolean(bv, bp)
					case "selinux":
						v.Bind.SELinux = l.oneOf(bv, bp, "z", "Z")
					default:
						return false
					}
					return true
				})
			case "volume":
				v.Volume = &VolumeOptions{}
				l.fields(fv, p, []string{"nocopy", "subpath"}, map[string]fieldKind{"labels": unsupported}, func(key string, _, vv *yaml.Node, vp string) bool {
					switch key {
					case "nocopy":
						v.Volume.NoCopy = l.boolean(vv, vp)
					case "subpath":
						v.Volume.Subpath = l.str(vv, vp)
					default:
						return false
					}
					return true
				})
			case "tmpfs":
				v.Tmpfs = &TmpfsOptions{}
				l.fields(fv, p, []string{"size", "mode"}, nil, func(key string, _, tv *yaml.Node, tp string) bool {
					switch key {
					case "size":
						v.Tmpfs.Size = l.byteSize(tv, tp)
					case "mode":
						m, err := strconv.ParseUint(l.str(tv, tp), 8, 32)
						if err != nil {
							l.errorf(tv, tp, "invalid mode %q: want an octal mode such as 1777", tv.Value)
						}
						v.Tmpfs.Mode = FileMode(m)
					default:
						return false
					}
					return true
				})
			default:
				return false
			}
			return true
		})
	if v.Type == "" {
		l.errorf(n, path, "missing type: bind, volume or tmpfs")
		return v, false
	}
	if v.Target == "" || !strings.HasPrefix(v.Target, "/") {
		l.errorf(n, path, "target must be an absolute path in the container")
		return v, false
	}
	v.Target = filepath.Clean(v.Target)
	switch v.Type {
	case VolumeTypeBind:
		if sourceNode == nil || v.Source == "" {
			l.errorf(n, path, "a bind mount needs source: the host path")
			return v, false
		}
		v.Source = l.absPath(sourceNode, v.Source)
	case VolumeTypeTmpfs:
		if v.Source != "" {
			l.errorf(sourceNode, path+".source", "a tmpfs mount has no source")
		}
	}
	return v, ok
}

func (l *loader) decodeFileRefs(n *yaml.Node, path, kind string) []FileRef {
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		l.wrongType(n, path, "a list")
		return nil
	}
	var out []FileRef
	for i, item := range n.Content {
		p := path + "[" + strconv.Itoa(i) + "]"
		l.pos[p] = item
		if item.Kind == yaml.ScalarNode {
			out = append(out, FileRef{Source: item.Value})
			continue
		}
		var r FileRef
		l.fields(item, p, []string{"source", "target", "uid", "gid", "mode"}, nil, func(key string, _, v *yaml.Node, fp string) bool {
			switch key {
			case "source":
				r.Source = l.str(v, fp)
			case "target":
				r.Target = l.str(v, fp)
			case "uid":
				r.UID = l.str(v, fp)
			case "gid":
				r.GID = l.str(v, fp)
			case "mode":
				m, err := strconv.ParseUint(l.str(v, fp), 0, 32)
				if err != nil {
					l.errorf(v, fp, "invalid mode %q: want a number such as 0440", v.Value)
				}
				mode := FileMode(m)
				r.Mode = &mode
			default:
				return false
			}
			return true
		})
		if r.Source == "" {
			l.errorf(item, p, "missing source: the name of a top-level %s entry", strings.TrimSuffix(kind, "s"))
			continue
		}
		out = append(out, r)
	}
	return out
}

func (l *loader) decodeUlimits(n *yaml.Node, path string) map[string]Ulimit {
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		l.wrongType(n, path, "a mapping of limit names")
		return nil
	}
	out := map[string]Ulimit{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		p := joinPath(path, k.Value)
		var u Ulimit
		if v.Kind == yaml.ScalarNode {
			u.Single = l.integer(v, p, -1, math.MaxInt64)
		} else {
			l.fields(v, p, []string{"soft", "hard"}, nil, func(key string, _, fv *yaml.Node, fp string) bool {
				switch key {
				case "soft":
					u.Soft = l.integer(fv, fp, -1, math.MaxInt64)
				case "hard":
					u.Hard = l.integer(fv, fp, -1, math.MaxInt64)
				default:
					return false
				}
				return true
			})
			if u.Hard >= 0 && u.Soft > u.Hard {
				l.errorf(v, p, "soft limit %d is above the hard limit %d", u.Soft, u.Hard)
			}
		}
		out[k.Value] = u
	}
	return out
}

func (l *loader) decodeDeploy(n *yaml.Node, path string) *Deploy {
	if isNull(n) {
		return nil
	}
	d := &Deploy{}
	l.fields(n, path, []string{"replicas", "resources", "restart_policy", "labels", "mode"},
		map[string]fieldKind{"placement": ignored, "update_config": ignored, "rollback_config": ignored, "endpoint_mode": ignored},
		func(key string, k, v *yaml.Node, p string) bool {
			switch key {
			case "replicas":
				d.Replicas = l.intPtr(v, p, 0, 1000)
			case "labels":
				d.Labels = l.stringMap(l.kvListToMap(v, "="), p)
			case "mode":
				if m := l.oneOf(v, p, "replicated", "global", "replicated-job", "global-job"); strings.HasSuffix(m, "-job") {
					l.notImplemented(v, p, "deploy mode "+strconv.Quote(m))
				}
			case "restart_policy":
				d.RestartPolicy = &RestartPolicy{}
				l.fields(v, p, []string{"condition", "delay", "max_attempts", "window"}, nil, func(key string, _, rv *yaml.Node, rp string) bool {
					switch key {
					case "condition":
						d.RestartPolicy.Condition = l.oneOf(rv, rp, "none", "on-failure", "any")
					case "delay":
						d.RestartPolicy.Delay = l.duration(rv, rp)
					case "max_attempts":
						d.RestartPolicy.MaxAttempts = l.uintPtr(rv, rp)
					case "window":
						d.RestartPolicy.Window = l.duration(rv, rp)
					default:
						return false
					}
					return true
				})
			case "resources":
				l.fields(v, p, []string{"limits", "reservations"}, nil, func(key string, _, rv *yaml.Node, rp string) bool {
					switch key {
					case "limits":
						d.Resources.Limits = l.decodeResource(rv, rp)
					case "reservations":
						d.Resources.Reservations = l.decodeResource(rv, rp)
					default:
						return false
					}
					return true
				})
			default:
				return false
			}
			return true
		})
	return d
}

func (l *loader) decodeResource(n *yaml.Node, path string) *Resource {
	if isNull(n) {
		return nil
	}
	r := &Resource{}
	l.fields(n, path, []string{"cpus", "memory", "pids"}, map[string]fieldKind{"devices": unsupported, "generic_resources": unsupported},
		func(key string, _, v *yaml.Node, p string) bool {
			switch key {
			case "cpus":
				r.CPUs = l.cpus(v, p)
			case "memory":
				r.Memory = l.byteSize(v, p)
			case "pids":
				r.Pids = l.integer(v, p, -1, math.MaxInt64)
			default:
				return false
			}
			return true
		})
	return r
}

// checkPlatform accepts a platform that is this host's, and refuses any
// other: stack does not emulate.
func (l *loader) checkPlatform(n *yaml.Node, path string) {
	want := hostPlatform()
	got := strings.TrimSuffix(l.str(n, path), "/")
	if got != want && !strings.HasPrefix(got, want+"/") {
		l.notImplemented(n, path, "platform "+strconv.Quote(got)+" (this host is "+want+")")
	}
}

// decodeLogging accepts the file-based log drivers, and of their options
// the rotation ones, max-size and max-file; the others change nothing
// stack does and are warned about. Any other driver is unsupported.
func (l *loader) decodeLogging(n *yaml.Node, path string) *Logging {
	lg := &Logging{}
	l.fields(n, path, []string{"driver", "options"}, nil, func(key string, _, v *yaml.Node, p string) bool {
		switch key {
		case "driver":
			switch lg.Driver = l.str(v, p); lg.Driver {
			case "json-file", "local", "":
			default:
				l.notImplemented(v, p, "log driver "+strconv.Quote(lg.Driver))
			}
		case "options":
			opts := l.stringMap(v, p)
			for _, k := range sortedKeys(opts) {
				kp := p + "." + k
				switch val := opts[k]; k {
				case "max-size":
					if size, err := ParseByteSize(val); err != nil || size <= 0 {
						l.errorf(mapValue(v, k), kp, "invalid size %q: want a positive size such as 10m", val)
						continue
					}
				case "max-file":
					if n, err := strconv.Atoi(val); err != nil || n < 1 {
						l.errorf(mapValue(v, k), kp, "invalid count %q: want a positive number of files", val)
						continue
					}
				default:
					l.warnf(mapValue(v, k), kp, "ignored: stack applies max-size and max-file only")
					continue
				}
				if lg.Options == nil {
					lg.Options = map[string]string{}
				}
				lg.Options[k] = opts[k]
			}
		default:
			return false
		}
		return true
	})
	return lg
}

// resolveRelative makes p absolute against dir, for paths that do not come
// from a node.
func resolveRelative(dir, p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}

// decodeDevelop decodes develop: (compose's watch rules); paths are made
// absolute against the file's directory.
func (l *loader) decodeDevelop(n *yaml.Node, path string) *Develop {
	if isNull(n) {
		return nil
	}
	d := &Develop{}
	l.fields(n, path, []string{"watch"}, nil, func(key string, k, v *yaml.Node, p string) bool {
		if key != "watch" {
			return false
		}
		if v.Kind != yaml.SequenceNode {
			l.errorf(v, p, "must be a list of watch rules")
			return true
		}
		for i, item := range v.Content {
			d.Watch = append(d.Watch, l.decodeWatchRule(item, fmt.Sprintf("%s[%d]", p, i)))
		}
		return true
	})
	return d
}

func (l *loader) decodeWatchRule(n *yaml.Node, path string) WatchRule {
	var w WatchRule
	var pathNode *yaml.Node
	l.fields(n, path, []string{"path", "action", "target", "ignore", "include", "exec", "initial_sync"}, nil,
		func(key string, k, v *yaml.Node, p string) bool {
			switch key {
			case "path":
				w.Path, pathNode = l.str(v, p), v
			case "action":
				w.Action = l.oneOf(v, p, WatchSync, WatchRebuild, WatchRestart, WatchSyncRestart, WatchSyncExec)
			case "target":
				w.Target = l.str(v, p)
			case "ignore":
				w.Ignore = l.strList(v, p, false)
			case "include":
				w.Include = l.strList(v, p, false)
			case "initial_sync":
				w.InitialSync = l.boolean(v, p)
			case "exec":
				l.fields(v, p, []string{"command", "user", "privileged", "working_dir", "environment"}, nil,
					func(key string, k, v *yaml.Node, p string) bool {
						switch key {
						case "command":
							w.Exec.Command = l.command(v, p)
						case "user":
							w.Exec.User = l.str(v, p)
						case "working_dir":
							w.Exec.WorkingDir = l.str(v, p)
						case "privileged":
							l.boolean(v, p)
						case "environment":
							w.Exec.Environment = l.envMap(v, p)
						default:
							return false
						}
						return true
					})
			default:
				return false
			}
			return true
		})
	switch {
	case w.Path == "":
		l.errorf(n, path+".path", "a watch rule needs a path")
	case w.Action == "":
		l.errorf(n, path+".action", "a watch rule needs an action: sync, rebuild, restart, sync+restart or sync+exec")
	case strings.HasPrefix(w.Action, "sync") && w.Target == "":
		l.errorf(n, path+".target", "action %s needs a target: the path in the container", w.Action)
	case w.Action == WatchSyncExec && len(w.Exec.Command) == 0:
		l.errorf(n, path+".exec", "action sync+exec needs exec.command")
	}
	if pathNode != nil {
		w.Path = l.absPath(pathNode, w.Path)
	}
	return w
}
