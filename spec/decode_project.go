package spec

import (
	"fmt"
	"net/netip"
	goruntime "runtime"
	"strconv"

	"gopkg.in/yaml.v3"

	"github.com/stack-dev/stack/internal/errdefs"
)

func hostPlatform() string { return "linux/" + goruntime.GOARCH }

func (l *loader) decodeProject(root *yaml.Node) *Project {
	p := &Project{Services: map[string]*Service{}}
	l.fields(root, "", []string{"name", "services", "networks", "volumes", "secrets", "configs", "version", "include"},
		map[string]fieldKind{"models": unsupported},
		func(key string, k, v *yaml.Node, path string) bool {
			l.pos[path] = v
			switch key {
			case "name":
				p.Name = l.str(v, path)
			case "version":
				l.warnf(k, path, "obsolete: it is ignored, and can be removed")
			case "services":
				eachEntry(l, v, path, func(name string, n *yaml.Node) { p.Services[name] = l.decodeService(name, n) })
			case "networks":
				p.Networks = map[string]*Network{}
				eachEntry(l, v, path, func(name string, n *yaml.Node) { p.Networks[name] = l.decodeNetwork(name, n) })
			case "volumes":
				p.Volumes = map[string]*Volume{}
				eachEntry(l, v, path, func(name string, n *yaml.Node) { p.Volumes[name] = l.decodeVolume(name, n) })
			case "secrets":
				p.Secrets = map[string]*FileObj{}
				eachEntry(l, v, path, func(name string, n *yaml.Node) { p.Secrets[name] = l.decodeFileObj(name, n, path) })
			case "configs":
				p.Configs = map[string]*FileObj{}
				eachEntry(l, v, path, func(name string, n *yaml.Node) { p.Configs[name] = l.decodeFileObj(name, n, path) })
			case "include":
				// Resolved before merging; see includes.
			default:
				return false
			}
			return true
		})
	if mapValue(root, "services") == nil && len(l.errs) == 0 {
		l.errorf(root, "", "no services: key: a stack file defines at least one service")
	}
	p.Extensions = extensions(root)
	return p
}

// eachEntry calls fn for each entry of a top-level section mapping.
func eachEntry(l *loader, n *yaml.Node, path string, fn func(name string, v *yaml.Node)) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		l.wrongType(n, path, "a mapping of names to definitions")
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if k.Value == "" {
			l.errorf(k, path, "empty name")
			continue
		}
		if mapKey(n, k.Value) != k {
			l.errorf(k, joinPath(path, k.Value), "defined twice: remove one")
			continue
		}
		l.pos[joinPath(path, k.Value)] = k
		fn(k.Value, n.Content[i+1])
	}
}

func (l *loader) decodeNetwork(name string, n *yaml.Node) *Network {
	path := "networks." + name
	nw := &Network{}
	if isNull(n) {
		return nw
	}
	l.fields(n, path, []string{"name", "driver", "external", "internal", "ipam", "labels", "enable_ipv6", "enable_ipv4"},
		map[string]fieldKind{"attachable": ignored, "driver_opts": unsupported},
		func(key string, k, v *yaml.Node, p string) bool {
			switch key {
			case "name":
				nw.Name = l.str(v, p)
				l.pos[p] = v
			case "driver":
				nw.Driver = l.str(v, p)
				if nw.Driver != "bridge" && nw.Driver != "" {
					l.notImplemented(v, p, "network driver "+nw.Driver+" (stack has bridge networks)")
				}
			case "external":
				if v.Kind == yaml.MappingNode {
					// Legacy form: external: {name: NAME}.
					nw.External = true
					if en := mapValue(v, "name"); en != nil {
						nw.Name = l.str(en, p+".name")
					}
				} else {
					nw.External = l.boolean(v, p)
				}
			case "internal":
				nw.Internal = l.boolean(v, p)
			case "labels":
				nw.Labels = l.stringMap(l.kvListToMap(v, "="), p)
			case "enable_ipv6":
				if l.boolean(v, p) {
					l.notImplemented(v, p, "IPv6 networks")
				}
			case "enable_ipv4":
				if !isNull(v) && !l.boolean(v, p) {
					l.notImplemented(v, p, "networks without IPv4")
				}
			case "ipam":
				nw.IPAM = l.decodeIPAM(v, p)
			default:
				return false
			}
			return true
		})
	return nw
}

func (l *loader) decodeIPAM(n *yaml.Node, path string) *IPAM {
	if isNull(n) {
		return nil
	}
	ipam := &IPAM{}
	l.fields(n, path, []string{"driver", "config", "options"}, nil, func(key string, k, v *yaml.Node, p string) bool {
		switch key {
		case "driver":
			if ipam.Driver = l.str(v, p); ipam.Driver != "default" && ipam.Driver != "" {
				l.notImplemented(v, p, "IPAM driver "+ipam.Driver)
			}
		case "options":
			if !isNull(v) {
				l.notImplemented(k, p, "IPAM options")
			}
		case "config":
			if isNull(v) {
				return true
			}
			if v.Kind != yaml.SequenceNode {
				l.wrongType(v, p, "a list of {subnet, gateway, ip_range}")
				return true
			}
			for i, c := range v.Content {
				cp := p + "[" + strconv.Itoa(i) + "]"
				var cfg IPAMConfig
				l.fields(c, cp, []string{"subnet", "gateway", "ip_range"}, map[string]fieldKind{"aux_addresses": unsupported},
					func(key string, _, cv *yaml.Node, fp string) bool {
						switch key {
						case "subnet":
							cfg.Subnet = l.prefix(cv, fp)
						case "ip_range":
							cfg.IPRange = l.prefix(cv, fp)
						case "gateway":
							cfg.Gateway = l.str(cv, fp)
							if _, err := netip.ParseAddr(cfg.Gateway); err != nil {
								l.errorf(cv, fp, "%q is not an IP address", cfg.Gateway)
							}
						default:
							return false
						}
						return true
					})
				ipam.Config = append(ipam.Config, cfg)
				l.checkIPAMConfig(c, cp, cfg)
			}
		default:
			return false
		}
		return true
	})
	return ipam
}

func (l *loader) prefix(n *yaml.Node, path string) string {
	s := l.str(n, path)
	pfx, err := netip.ParsePrefix(s)
	if err != nil {
		l.errorf(n, path, "%q is not a subnet in CIDR notation such as 172.28.0.0/16", s)
		return s
	}
	if pfx.Addr().Is6() {
		l.notImplemented(n, path, "IPv6 subnets")
	}
	return pfx.Masked().String()
}

func (l *loader) checkIPAMConfig(n *yaml.Node, path string, cfg IPAMConfig) {
	subnet, err := netip.ParsePrefix(cfg.Subnet)
	if err != nil {
		if cfg.Gateway != "" || cfg.IPRange != "" {
			l.errorf(n, path, "gateway and ip_range need a subnet")
		}
		return
	}
	if subnet.Bits() > 30 && subnet.Addr().Is4() {
		l.errorf(n, path, "subnet %s is too small: it needs room for a gateway and a container (/30 or larger)", cfg.Subnet)
	}
	if gw, err := netip.ParseAddr(cfg.Gateway); err == nil && !subnet.Contains(gw) {
		l.errorf(n, path, "gateway %s is outside subnet %s", cfg.Gateway, cfg.Subnet)
	}
	if r, err := netip.ParsePrefix(cfg.IPRange); err == nil && (!subnet.Contains(r.Addr()) || r.Bits() < subnet.Bits()) {
		l.errorf(n, path, "ip_range %s is outside subnet %s", cfg.IPRange, cfg.Subnet)
	}
}

func (l *loader) decodeVolume(name string, n *yaml.Node) *Volume {
	path := "volumes." + name
	vol := &Volume{}
	if isNull(n) {
		return vol
	}
	l.fields(n, path, []string{"name", "driver", "external", "labels"}, map[string]fieldKind{"driver_opts": unsupported},
		func(key string, k, v *yaml.Node, p string) bool {
			switch key {
			case "name":
				vol.Name = l.str(v, p)
				l.pos[p] = v
			case "driver":
				if vol.Driver = l.str(v, p); vol.Driver != "local" && vol.Driver != "" {
					l.notImplemented(v, p, "volume driver "+vol.Driver+" (stack has local volumes)")
				}
			case "external":
				if v.Kind == yaml.MappingNode {
					vol.External = true
					if en := mapValue(v, "name"); en != nil {
						vol.Name = l.str(en, p+".name")
					}
				} else {
					vol.External = l.boolean(v, p)
				}
			case "labels":
				vol.Labels = l.stringMap(l.kvListToMap(v, "="), p)
			default:
				return false
			}
			return true
		})
	return vol
}

func (l *loader) decodeFileObj(name string, n *yaml.Node, section string) *FileObj {
	path := section + "." + name
	f := &FileObj{}
	known := []string{"name", "file", "environment"}
	if section == "configs" {
		known = append(known, "content")
	}
	known = append(known, "external")
	l.fields(n, path, known, map[string]fieldKind{"driver": unsupported, "driver_opts": unsupported, "template_driver": unsupported, "labels": ignored},
		func(key string, k, v *yaml.Node, p string) bool {
			switch key {
			case "external":
				if l.boolean(v, p) {
					l.report(v, p, errdefs.ErrNotImplemented, fmt.Sprintf("external %s are kept by a Docker Swarm, which stack does not run: give %s a file: or an environment: source instead", section, name))
				}
			case "name":
				f.Name = l.str(v, p)
			case "file":
				f.File = l.absPath(v, l.str(v, p))
			case "environment":
				f.Environment = l.str(v, p)
			case "content":
				f.Content = l.str(v, p)
			default:
				return false
			}
			return true
		})
	set := 0
	for _, s := range []string{f.File, f.Environment, f.Content} {
		if s != "" {
			set++
		}
	}
	if set != 1 && n.Kind == yaml.MappingNode {
		l.errorf(n, path, "set exactly one of file, environment%s", map[bool]string{true: " or content", false: ""}[section == "configs"])
	}
	return f
}
