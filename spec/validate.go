package spec

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/stack-dev/stack/internal/errdefs"
	"github.com/stack-dev/stack/internal/ident"
)

// normalize fills in what Compose derives: the default network,
// project-scoped network and volume names, environment values from
// env_file and the shell.
func (l *loader) normalize(p *Project) {
	usesDefault := false
	for _, name := range p.ServiceNames() {
		s := p.Services[name]
		if len(s.Networks) == 0 && s.NetworkMode == "" {
			s.Networks = map[string]*ServiceNetwork{"default": nil}
		}
		if _, ok := s.Networks["default"]; ok {
			usesDefault = true
		}
		l.resolveEnvironment(s)
		if s.Build != nil {
			for k, v := range s.Build.Args {
				if v == nil {
					if val, ok := l.env[k]; ok {
						s.Build.Args[k] = &val
					}
				}
			}
		}
	}
	if usesDefault {
		if p.Networks == nil {
			p.Networks = map[string]*Network{}
		}
		if p.Networks["default"] == nil {
			p.Networks["default"] = &Network{}
		}
	}
	for key, n := range p.Networks {
		if n.Name == "" {
			n.Name = scopedName(p.Name, key, n.External)
		}
	}
	for key, v := range p.Volumes {
		if v.Name == "" {
			v.Name = scopedName(p.Name, key, v.External)
		}
	}
	for _, m := range []map[string]*FileObj{p.Secrets, p.Configs} {
		for _, f := range m {
			if f != nil && f.Environment != "" {
				if val, ok := l.env[f.Environment]; ok {
					f.Value = &val
				}
			}
		}
	}
}

// scopedName is the host name of a network or volume: external ones keep
// their key, the others are prefixed with the project.
func scopedName(project, key string, external bool) string {
	if external {
		return key
	}
	return project + "_" + key
}

// resolveEnvironment computes a service's environment as compose does
// (compose-go's Project.WithServicesEnvironmentResolved):
//
//   - an environment entry without a value ("environment: [DEBUG]") takes
//     the shell's or .env's value, and stays unset (nil) when neither has
//     one;
//   - the env_files are read in order into one map that starts with the
//     service's environment values, so a later file replaces an earlier
//     one's value; a ${VAR} in a file is looked up in the shell and .env
//     first, then in the service's environment, then in what the earlier
//     files (and earlier lines) set;
//   - every environment entry wins over the files, even one that stayed
//     unset: the variable is then unset in the container, whatever the
//     files or the image say.
func (l *loader) resolveEnvironment(s *Service) {
	if len(s.EnvFiles) == 0 && len(s.Environment) == 0 {
		return
	}
	for k, v := range s.Environment {
		if v == nil {
			if val, ok := l.env[k]; ok {
				s.Environment[k] = &val
			}
		}
	}
	vars := map[string]string{}
	svcValues := map[string]string{}
	for k, v := range s.Environment {
		if v != nil {
			vars[k], svcValues[k] = *v, *v
		}
	}
	lookup := lookupIn(l.env, svcValues)
	for i, ef := range s.EnvFiles {
		p := fmt.Sprintf("services.%s.env_file", s.Name)
		node := l.pos[fmt.Sprintf("%s[%d]", p, i)]
		if node == nil {
			node = l.pos[p]
		}
		data, err := os.ReadFile(ef.Path)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) && !ef.Required {
				continue
			}
			l.errorf(node, p, "env file %s: %v (set required: false to make it optional)", displayPath(ef.Path), errors.Unwrap(err))
			continue
		}
		if err := ParseDotEnvInto(bytes.NewReader(data), displayPath(ef.Path), lookup, vars); err != nil {
			l.errorf(node, p, "%v", err)
		}
	}
	env := make(map[string]*string, len(vars)+len(s.Environment))
	for k, v := range vars {
		env[k] = &v
	}
	for k, v := range s.Environment {
		env[k] = v
	}
	s.Environment = env
}

// validate checks what a single key cannot: references between services,
// networks, volumes, secrets and configs, conflicts between services, and
// dependency cycles.
func (l *loader) validate(p *Project) {
	containerNames := map[string]string{}
	type hostPort struct {
		ip, proto string
		port      uint32
	}
	published := map[hostPort]string{}
	l.checkNames(p)
	for _, name := range p.ServiceNames() {
		s := p.Services[name]
		sp := "services." + name
		if s.Image == "" && s.Build == nil && l.pos[sp+".image"] == nil {
			l.errorf(l.pos[sp], sp, "has neither image nor build: set one of them")
		}
		if s.Scale != nil && s.Deploy != nil && s.Deploy.Replicas != nil && *s.Scale != *s.Deploy.Replicas {
			l.errorf(l.pos[sp+".scale"], sp+".scale", "scale (%d) and deploy.replicas (%d) disagree: keep one", *s.Scale, *s.Deploy.Replicas)
		}
		l.checkLimits(s, sp)
		if s.ContainerName != "" {
			if other, dup := containerNames[s.ContainerName]; dup {
				l.errorf(l.pos[sp+".container_name"], sp+".container_name", "container name %q is already used by service %q", s.ContainerName, other)
			}
			containerNames[s.ContainerName] = name
			if s.Replicas() > 1 {
				l.errorf(l.pos[sp+".container_name"], sp+".container_name", "a service with a container_name cannot run %d replicas: remove container_name or scale to 1", s.Replicas())
			}
		}
		for dep, d := range s.DependsOn {
			if _, ok := p.Services[dep]; !ok {
				if !d.Required {
					l.warnf(l.pos[sp+".depends_on."+dep], sp+".depends_on", "service %q is not defined; ignored because required is false", dep)
					delete(s.DependsOn, dep)
					continue
				}
				l.undefined(sp+".depends_on."+dep, "service", dep, p.ServiceNames())
			}
		}
		for _, link := range s.Links {
			target, _, _ := strings.Cut(link, ":")
			if _, ok := p.Services[target]; !ok {
				l.undefined(sp+".links", "service", target, p.ServiceNames())
			}
		}
		for _, vf := range s.VolumesFrom {
			target, _, _ := strings.Cut(vf, ":")
			if target == "container" {
				l.notImplemented(l.pos[sp+".volumes_from"], sp+".volumes_from", "volumes_from a container")
			} else if _, ok := p.Services[target]; !ok {
				l.undefined(sp+".volumes_from", "service", target, p.ServiceNames())
			}
		}
		l.checkNetworkMode(p, s, sp)
		for net, cfg := range s.Networks {
			n, ok := p.Networks[net]
			if !ok {
				l.undefined(sp+".networks."+net, "network", net, sortedKeys(p.Networks))
				continue
			}
			if cfg != nil && cfg.IPv4Address != "" {
				l.checkStaticIP(n, cfg.IPv4Address, s, sp+".networks."+net+".ipv4_address")
			}
		}
		for i, v := range s.Volumes {
			vp := fmt.Sprintf("%s.volumes[%d]", sp, i)
			if v.Type == VolumeTypeVolume && v.Source != "" {
				if _, ok := p.Volumes[v.Source]; !ok {
					l.errorf(l.pos[vp], vp, "volume %q is not defined: add it under the top-level volumes: key", v.Source)
				}
			}
		}
		for i, r := range s.Secrets {
			if _, ok := p.Secrets[r.Source]; !ok {
				l.undefined(fmt.Sprintf("%s.secrets[%d]", sp, i), "secret", r.Source, sortedKeys(p.Secrets))
			}
			l.checkFileRef(r, fmt.Sprintf("%s.secrets[%d]", sp, i))
		}
		for i, r := range s.Configs {
			if _, ok := p.Configs[r.Source]; !ok {
				l.undefined(fmt.Sprintf("%s.configs[%d]", sp, i), "config", r.Source, sortedKeys(p.Configs))
			}
			l.checkFileRef(r, fmt.Sprintf("%s.configs[%d]", sp, i))
		}
		if s.StopSignal != "" && !validSignal(s.StopSignal) {
			l.errorf(l.pos[sp+".stop_signal"], sp+".stop_signal", "unknown signal %q: want a name such as SIGTERM or SIGQUIT", s.StopSignal)
		}
		// Published ports: the same host port twice is a conflict, within
		// a service (replicas share its ports) and between services.
		for _, port := range s.Ports {
			lo, hi := port.PublishedRange()
			if lo == 0 || lo != hi {
				continue
			}
			key := hostPort{ip: port.HostIP, proto: port.Protocol, port: lo}
			if key.ip == "0.0.0.0" || key.ip == "::" {
				key.ip = ""
			}
			where := l.portPos(s, port)
			if other, dup := published[key]; dup {
				l.errorf(where, sp+".ports", "host port %d/%s is already published by service %q", lo, port.Protocol, other)
				continue
			}
			if s.Replicas() > 1 {
				l.errorf(where, sp+".ports", "host port %d is published by %d replicas: only one can have it; publish a range or an ephemeral port", lo, s.Replicas())
			}
			published[key] = name
			if key.ip == "" {
				// A wildcard binding conflicts with every address.
				for k, other := range published {
					if k.port == lo && k.proto == port.Protocol && k.ip != "" && other != name {
						l.errorf(where, sp+".ports", "host port %d/%s is already published by service %q", lo, port.Protocol, other)
					}
				}
			}
		}
	}
	l.checkCycles(p)
}

// checkFileRef checks a service's secret or config: uid and gid are
// numbers (compose refuses names too: the file is made before the
// container's /etc/passwd is known).
func (l *loader) checkFileRef(r FileRef, path string) {
	for _, id := range []struct{ key, v string }{{"uid", r.UID}, {"gid", r.GID}} {
		if id.v == "" {
			continue
		}
		if n, err := strconv.ParseUint(id.v, 10, 32); err != nil || n > 1<<31 {
			l.errorf(l.pos[path], path+"."+id.key, "%s %q: want a number", id.key, id.v)
		}
	}
	if r.Target != "" && strings.Contains(r.Target, "..") {
		l.errorf(l.pos[path], path+".target", "target %q: must not contain ..", r.Target)
	}
}

// checkNames applies internal/ident's rules to every name that becomes a
// path, a key or a link name: the daemon refuses the same names, but here
// the error has a line.
func (l *loader) checkNames(p *Project) {
	for _, name := range p.ServiceNames() {
		sp := "services." + name
		if err := ident.Service(name); err != nil {
			l.errorf(l.pos[sp], sp, "%s", strings.TrimSuffix(err.Error(), ": "+errdefs.ErrInvalidArgument.Error()))
		}
		if cn := p.Services[name].ContainerName; cn != "" {
			if err := ident.Name("container_name", cn); err != nil {
				l.errorf(l.pos[sp+".container_name"], sp+".container_name", "%s", strings.TrimSuffix(err.Error(), ": "+errdefs.ErrInvalidArgument.Error()))
			}
		}
	}
	for _, key := range sortedKeys(p.Volumes) {
		if err := ident.Name("volume name", p.Volumes[key].Name); err != nil {
			l.errorf(l.namePos("volumes."+key), "volumes."+key+".name", "%s", strings.TrimSuffix(err.Error(), ": "+errdefs.ErrInvalidArgument.Error()))
		}
	}
	for _, key := range sortedKeys(p.Networks) {
		if err := ident.Name("network name", p.Networks[key].Name); err != nil {
			l.errorf(l.namePos("networks."+key), "networks."+key+".name", "%s", strings.TrimSuffix(err.Error(), ": "+errdefs.ErrInvalidArgument.Error()))
		}
	}
}

// namePos is the node of a volume's or network's name: key, else the
// object itself.
func (l *loader) namePos(path string) *yaml.Node {
	if n := l.pos[path+".name"]; n != nil {
		return n
	}
	return l.pos[path]
}

// portPos finds the node of a port entry, for error positions.
func (l *loader) portPos(s *Service, port Port) *yaml.Node {
	for i := 0; ; i++ {
		n := l.pos[fmt.Sprintf("services.%s.ports[%d]", s.Name, i)]
		if n == nil {
			return l.pos["services."+s.Name+".ports"]
		}
		if ports, err := ParsePortSpec(n.Value); err == nil {
			for _, p := range ports {
				if p == port {
					return n
				}
			}
		} else if pub := mapValue(n, "published"); pub != nil && pub.Value == port.Published {
			return n
		}
	}
}

func (l *loader) undefined(path, kind, name string, known []string) {
	msg := fmt.Sprintf("%s %q is not defined", kind, name)
	if s := suggest(name, known); s != "" {
		msg += fmt.Sprintf(": did you mean %q?", s)
	} else if len(known) > 0 {
		msg += fmt.Sprintf(" (defined: %s)", strings.Join(known, ", "))
	}
	l.errorf(l.pos[path], path, "%s", msg)
}

func (l *loader) checkNetworkMode(p *Project, s *Service, sp string) {
	mode := s.NetworkMode
	node := l.pos[sp+".network_mode"]
	switch {
	case mode == "":
		return
	case mode == "host" || mode == "none":
	case strings.HasPrefix(mode, "service:"):
		target := strings.TrimPrefix(mode, "service:")
		if _, ok := p.Services[target]; !ok {
			l.undefined(sp+".network_mode", "service", target, p.ServiceNames())
		}
	case strings.HasPrefix(mode, "container:"), mode == "bridge":
		l.notImplemented(node, sp+".network_mode", "network_mode "+strconv.Quote(mode))
		return
	default:
		l.errorf(node, sp+".network_mode", "invalid network_mode %q: want host, none or service:NAME", mode)
		return
	}
	if _, onlyDefault := s.Networks["default"]; len(s.Networks) > 1 || len(s.Networks) == 1 && !onlyDefault {
		l.errorf(node, sp+".network_mode", "network_mode and networks cannot be combined: keep one")
	}
	s.Networks = nil
}

func (l *loader) checkStaticIP(n *Network, addr string, s *Service, path string) {
	ip, err := netip.ParseAddr(addr)
	if err != nil || !ip.Is4() {
		l.errorf(l.pos[path], path, "%q is not an IPv4 address", addr)
		return
	}
	if n.IPAM == nil || len(n.IPAM.Config) == 0 || n.IPAM.Config[0].Subnet == "" {
		l.errorf(l.pos[path], path, "a static address needs a network with a subnet: set ipam.config[].subnet on network %q", n.Name)
		return
	}
	for _, c := range n.IPAM.Config {
		if pfx, err := netip.ParsePrefix(c.Subnet); err == nil && pfx.Contains(ip) {
			if s.Replicas() > 1 {
				l.errorf(l.pos[path], path, "a static address cannot be shared by %d replicas", s.Replicas())
			}
			return
		}
	}
	l.errorf(l.pos[path], path, "%s is outside the subnets of the network", addr)
}

// checkLimits refuses a resource given twice with different values (the
// old top-level key and deploy.resources.limits).
func (l *loader) checkLimits(s *Service, sp string) {
	if s.Deploy == nil || s.Deploy.Resources.Limits == nil {
		return
	}
	lim := s.Deploy.Resources.Limits
	if s.CPUs != 0 && lim.CPUs != 0 && s.CPUs != lim.CPUs {
		l.errorf(l.pos[sp+".cpus"], sp+".cpus", "cpus (%g) and deploy.resources.limits.cpus (%g) disagree: keep one", s.CPUs, lim.CPUs)
	}
	if s.MemLimit != 0 && lim.Memory != 0 && s.MemLimit != lim.Memory {
		l.errorf(l.pos[sp+".mem_limit"], sp+".mem_limit", "mem_limit and deploy.resources.limits.memory disagree: keep one")
	}
	if s.PidsLimit != 0 && lim.Pids != 0 && s.PidsLimit != lim.Pids {
		l.errorf(l.pos[sp+".pids_limit"], sp+".pids_limit", "pids_limit and deploy.resources.limits.pids disagree: keep one")
	}
}

// checkCycles reports each dependency cycle once, as "a -> b -> a", starting
// from its smallest service name so the message is stable.
func (l *loader) checkCycles(p *Project) {
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	var stack []string
	var visit func(name string)
	visit = func(name string) {
		color[name] = grey
		stack = append(stack, name)
		for _, dep := range p.Services[name].Dependencies() {
			if _, ok := p.Services[dep]; !ok {
				continue
			}
			switch color[dep] {
			case white:
				visit(dep)
			case grey:
				i := len(stack) - 1
				for stack[i] != dep {
					i--
				}
				cycle := append(append([]string(nil), stack[i:]...), dep)
				path := "services." + name + ".depends_on." + dep
				node := l.pos[path]
				if node == nil {
					path = "services." + name
					node = l.pos[path]
				}
				l.errorf(node, path, "dependency cycle: %s", strings.Join(cycle, " -> "))
			}
		}
		stack = stack[:len(stack)-1]
		color[name] = black
	}
	for _, name := range p.ServiceNames() {
		if color[name] == white {
			visit(name)
		}
	}
}

// Dependencies returns the services s must start after, sorted: those of
// depends_on, links, volumes_from and network_mode: service:NAME.
func (s *Service) Dependencies() []string {
	set := map[string]bool{}
	for d := range s.DependsOn {
		set[d] = true
	}
	for _, link := range s.Links {
		name, _, _ := strings.Cut(link, ":")
		set[name] = true
	}
	for _, vf := range s.VolumesFrom {
		name, _, _ := strings.Cut(vf, ":")
		if name != "container" {
			set[name] = true
		}
	}
	if target, ok := strings.CutPrefix(s.NetworkMode, "service:"); ok {
		set[target] = true
	}
	return sortedKeys(set)
}

// signalNames lists the Linux signal names without their SIG prefix.
const signalNames = " HUP INT QUIT ILL TRAP ABRT BUS FPE KILL USR1 SEGV USR2 PIPE ALRM TERM STKFLT CHLD CONT STOP TSTP TTIN TTOU URG XCPU XFSZ VTALRM PROF WINCH IO PWR SYS "

func validSignal(s string) bool {
	if n, err := strconv.Atoi(s); err == nil {
		return n > 0 && n < 65
	}
	name := strings.TrimPrefix(strings.ToUpper(s), "SIG")
	if strings.HasPrefix(name, "RTMIN") || strings.HasPrefix(name, "RTMAX") {
		return true
	}
	return name != "" && strings.Contains(signalNames, " "+name+" ")
}
