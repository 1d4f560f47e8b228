package daemon

import (
	"fmt"
	"maps"
	"os"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/stack-dev/stack/image"
	"github.com/stack-dev/stack/internal/errdefs"
	"github.com/stack-dev/stack/runtime"
	"github.com/stack-dev/stack/runtime/seccomp"
	"github.com/stack-dev/stack/spec"
)

// specInput is what a container's OCI runtime spec is built from.
type specInput struct {
	// Service is the service the container runs. Required.
	Service *spec.Service
	// Image is the runtime configuration of the service's image.
	Image image.Config
	// Rootfs is the container's assembled root file system, read for
	// /etc/passwd and /etc/group when resolving the user. Required.
	Rootfs string
	// Hostname is used when the service sets none (Docker uses the short
	// container id).
	Hostname string
	// Mounts are the service's volumes, binds and tmpfs mounts, resolved
	// to host paths, plus the /etc files the daemon writes.
	Mounts []specs.Mount
	// Command, when set, replaces the service's command (stack run).
	Command []string
}

// defaultPath is the PATH Docker gives a container whose image sets none.
const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// buildSpec builds the OCI runtime spec of a container, applying the
// service over its image the way Docker does.
func buildSpec(in specInput) (*specs.Spec, error) {
	svc := in.Service
	args, err := containerArgs(svc, in.Image, in.Command)
	if err != nil {
		return nil, err
	}
	s := runtime.DefaultSpec(args...)
	p := s.Process

	user := svc.User
	if user == "" {
		user = in.Image.User
	}
	u, err := runtime.ResolveUser(in.Rootfs, user)
	if err != nil {
		return nil, fmt.Errorf("service %q: user %q: %w", svc.Name, user, err)
	}
	extra, err := runtime.ResolveGroups(in.Rootfs, svc.GroupAdd)
	if err != nil {
		return nil, fmt.Errorf("service %q: group_add: %w", svc.Name, err)
	}
	for _, g := range extra {
		if !slices.Contains(u.AdditionalGids, g) {
			u.AdditionalGids = append(u.AdditionalGids, g)
		}
	}
	p.User = u.Spec()

	hostname := svc.Hostname
	if hostname == "" {
		hostname = in.Hostname
	}
	s.Hostname = hostname
	s.Domainname = svc.Domainname
	p.Env = containerEnv(in.Image.Env, svc.Environment, hostname, u.Home)
	p.Cwd = svc.WorkingDir
	if p.Cwd == "" {
		p.Cwd = in.Image.WorkingDir
	}
	if p.Cwd == "" {
		p.Cwd = "/"
	}
	p.Terminal = svc.Tty

	caps, err := runtime.TweakCapabilities(runtime.DefaultCapabilities(), svc.CapAdd, svc.CapDrop, svc.Privileged)
	if err != nil {
		return nil, fmt.Errorf("service %q: %w: %w", svc.Name, err, errdefs.ErrInvalidArgument)
	}
	p.Capabilities = &specs.LinuxCapabilities{Bounding: caps, Effective: caps, Permitted: caps}
	if svc.Privileged {
		// A privileged container sees the host's devices and kernel
		// interfaces, as with docker --privileged.
		s.Linux.MaskedPaths = nil
		s.Linux.ReadonlyPaths = nil
		s.Linux.Resources.Devices = []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}
		for i := range s.Mounts {
			if s.Mounts[i].Destination == "/sys" {
				s.Mounts[i].Options = []string{"nosuid", "noexec", "nodev", "rw"}
			}
		}
	}
	for _, name := range sortedKeys(svc.Ulimits) {
		rl, err := rlimit(name, svc.Ulimits[name])
		if err != nil {
			return nil, fmt.Errorf("service %q: %w", svc.Name, err)
		}
		p.Rlimits = append(p.Rlimits, rl)
	}
	s.Linux.Sysctl = sysctls(svc)
	s.Root.Readonly = svc.ReadOnly
	s.Linux.Resources = resources(svc, s.Linux.Resources)

	if svc.ShmSize > 0 {
		for i := range s.Mounts {
			if s.Mounts[i].Destination == "/dev/shm" {
				s.Mounts[i].Options = []string{"nosuid", "noexec", "nodev", "mode=1777", "size=" + strconv.FormatInt(int64(svc.ShmSize), 10)}
			}
		}
	}
	for _, t := range svc.Tmpfs {
		m, err := tmpfsMount(t)
		if err != nil {
			return nil, fmt.Errorf("service %q: %w", svc.Name, err)
		}
		s.Mounts = append(s.Mounts, m)
	}
	s.Mounts = append(s.Mounts, in.Mounts...)
	if err := applySecurityOpts(s, svc); err != nil {
		return nil, fmt.Errorf("service %q: %w", svc.Name, err)
	}
	return s, nil
}

// sysctls are the service's, over the two Docker sets in a container with
// a network namespace of its own: unprivileged ICMP echo sockets (ping
// without CAP_NET_RAW) and binding any port without
// CAP_NET_BIND_SERVICE.
func sysctls(svc *spec.Service) map[string]string {
	out := map[string]string{}
	if svc.NetworkMode != "host" && !strings.HasPrefix(svc.NetworkMode, "service:") {
		out["net.ipv4.ping_group_range"] = "0 2147483647"
		out["net.ipv4.ip_unprivileged_port_start"] = "0"
	}
	maps.Copy(out, svc.Sysctls)
	if len(out) == 0 {
		return nil
	}
	return out
}

// applySecurityOpts sets the container's seccomp profile (Docker's default
// unless the service has seccomp=unconfined or a profile of its own, or is
// privileged), no_new_privs and systempaths=unconfined. It runs once the
// capabilities are settled: the default profile grants calls by
// capability.
func applySecurityOpts(s *specs.Spec, svc *spec.Service) error {
	profile, unconfined := "", svc.Privileged
	for _, entry := range svc.SecurityOpt {
		o, err := spec.ParseSecurityOpt(entry)
		if err != nil {
			return fmt.Errorf("security_opt: %w: %w", err, errdefs.ErrInvalidArgument)
		}
		switch o.Kind {
		case "seccomp":
			if o.Unconfined() {
				unconfined = true
			} else {
				profile = o.Value
			}
		case "no-new-privileges":
			s.Process.NoNewPrivileges = o.Value == "true"
		case "systempaths":
			s.Linux.MaskedPaths, s.Linux.ReadonlyPaths = nil, nil
		}
	}
	var err error
	switch {
	case unconfined:
		s.Linux.Seccomp = nil
	case profile != "":
		data, rerr := os.ReadFile(profile)
		if rerr != nil {
			return fmt.Errorf("security_opt: seccomp profile: %w", rerr)
		}
		if s.Linux.Seccomp, err = seccomp.LoadProfile(data, s); err != nil {
			return fmt.Errorf("security_opt: seccomp profile %s: %w", profile, err)
		}
	default:
		s.Linux.Seccomp, err = seccomp.Default(s)
	}
	return err
}

// containerArgs merges the service's entrypoint and command with the
// image's, as Docker does: a service entrypoint replaces the image's and
// discards the image's command; a service command replaces the image's
// command. override (stack run's command) wins over both commands.
func containerArgs(svc *spec.Service, img image.Config, override []string) ([]string, error) {
	entrypoint, command := commandParts(svc, img, override)
	args := append(append([]string(nil), entrypoint...), command...)
	if len(args) == 0 {
		return nil, fmt.Errorf("service %q: no command: neither the service nor its image sets entrypoint or command: %w", svc.Name, errdefs.ErrInvalidArgument)
	}
	return args, nil
}

// commandParts are the entrypoint and the command containerArgs joins.
func commandParts(svc *spec.Service, img image.Config, override []string) (entrypoint, command []string) {
	entrypoint, command = img.Entrypoint, img.Cmd
	if svc.Entrypoint != nil {
		entrypoint, command = svc.Entrypoint, nil
	}
	if svc.Command != nil {
		command = svc.Command
	}
	if override != nil {
		command = override
	}
	return slices.Clone(entrypoint), slices.Clone(command)
}

// exposedPorts are the container ports a container of svc exposes: the
// image's, the service's expose and ports, as docker inspect lists them
// ("80/tcp").
func exposedPorts(svc *spec.Service, img image.Config) []string {
	var out []string
	add := func(p string) {
		if !strings.Contains(p, "/") {
			p += "/tcp"
		}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	for _, p := range sortedKeys(img.ExposedPorts) {
		add(p)
	}
	for _, p := range svc.Expose {
		add(p)
	}
	for _, p := range svc.Ports {
		proto := p.Protocol
		if proto == "" {
			proto = "tcp"
		}
		add(fmt.Sprintf("%d/%s", p.Target, proto))
	}
	return out
}

// containerEnv is the image's environment with the service's on top, plus
// PATH, HOSTNAME and HOME when nothing sets them (Docker's behaviour). A
// service variable with no value (environment: [KEY] with KEY unset in
// the shell) unsets the variable, the image's value included, as compose
// does: it sends a bare KEY, which the engine takes as "remove".
func containerEnv(imageEnv []string, svcEnv map[string]*string, hostname, home string) []string {
	vals := map[string]string{}
	var order []string
	set := func(k, v string) {
		if _, ok := vals[k]; !ok {
			order = append(order, k)
		}
		vals[k] = v
	}
	set("PATH", strings.TrimPrefix(defaultPath, "PATH="))
	if hostname != "" {
		set("HOSTNAME", hostname)
	}
	for _, kv := range imageEnv {
		k, v, _ := strings.Cut(kv, "=")
		set(k, v)
	}
	unset := map[string]bool{}
	for _, k := range sortedKeys(svcEnv) {
		if v := svcEnv[k]; v != nil {
			set(k, *v)
		} else {
			unset[k] = true
		}
	}
	if _, ok := vals["HOME"]; !ok && !unset["HOME"] {
		set("HOME", home)
	}
	env := make([]string, 0, len(order))
	for _, k := range order {
		if !unset[k] {
			env = append(env, k+"="+vals[k])
		}
	}
	return env
}

// resources translates the service's limits into OCI resources, keeping
// the device rules already in r. Compose's two spellings (mem_limit and
// deploy.resources.limits.memory, ...) are the same limit; spec validation
// has already refused a conflict.
func resources(svc *spec.Service, r *specs.LinuxResources) *specs.LinuxResources {
	if r == nil {
		r = &specs.LinuxResources{}
	}
	var lim, res spec.Resource
	if svc.Deploy != nil && svc.Deploy.Resources.Limits != nil {
		lim = *svc.Deploy.Resources.Limits
	}
	if svc.Deploy != nil && svc.Deploy.Resources.Reservations != nil {
		res = *svc.Deploy.Resources.Reservations
	}
	mem := int64(svc.MemLimit)
	if mem == 0 {
		mem = int64(lim.Memory)
	}
	reservation := int64(svc.MemReservation)
	if reservation == 0 {
		reservation = int64(res.Memory)
	}
	if mem > 0 || reservation > 0 {
		r.Memory = &specs.LinuxMemory{}
		if mem > 0 {
			r.Memory.Limit = &mem
			// Docker's default: as much swap as memory (memory+swap = 2x).
			swap := 2 * mem
			if svc.MemswapLimit != 0 {
				swap = int64(svc.MemswapLimit)
			}
			r.Memory.Swap = &swap
		}
		if reservation > 0 {
			r.Memory.Reservation = &reservation
		}
	}
	cpus := svc.CPUs
	if cpus == 0 {
		cpus = lim.CPUs
	}
	if cpus > 0 || svc.CPUQuota != 0 || svc.CPUShares != 0 || svc.CPUSet != "" {
		r.CPU = &specs.LinuxCPU{}
		period := uint64(100000)
		if svc.CPUPeriod > 0 {
			period = uint64(svc.CPUPeriod)
		}
		switch {
		case svc.CPUQuota != 0:
			q := svc.CPUQuota
			r.CPU.Quota, r.CPU.Period = &q, &period
		case cpus > 0:
			q := int64(cpus * float64(period))
			r.CPU.Quota, r.CPU.Period = &q, &period
		}
		if svc.CPUShares > 0 {
			shares := uint64(svc.CPUShares)
			r.CPU.Shares = &shares
		}
		r.CPU.Cpus = svc.CPUSet
	}
	pids := svc.PidsLimit
	if pids == 0 {
		pids = lim.Pids
	}
	if pids != 0 {
		r.Pids = &specs.LinuxPids{Limit: &pids}
	}
	return r
}

// rlimit translates one ulimits entry ("nofile") to an OCI rlimit.
func rlimit(name string, u spec.Ulimit) (specs.POSIXRlimit, error) {
	soft, hard := u.Soft, u.Hard
	if u.Single != 0 || (soft == 0 && hard == 0) {
		soft, hard = u.Single, u.Single
	}
	toU := func(v int64) uint64 {
		if v < 0 {
			return ^uint64(0) // unlimited
		}
		return uint64(v)
	}
	typ := "RLIMIT_" + strings.ToUpper(name)
	switch typ {
	case "RLIMIT_AS", "RLIMIT_CORE", "RLIMIT_CPU", "RLIMIT_DATA", "RLIMIT_FSIZE", "RLIMIT_LOCKS", "RLIMIT_MEMLOCK",
		"RLIMIT_MSGQUEUE", "RLIMIT_NICE", "RLIMIT_NOFILE", "RLIMIT_NPROC", "RLIMIT_RSS", "RLIMIT_RTPRIO",
		"RLIMIT_RTTIME", "RLIMIT_SIGPENDING", "RLIMIT_STACK":
	default:
		return specs.POSIXRlimit{}, fmt.Errorf("unknown ulimit %q: %w", name, errdefs.ErrInvalidArgument)
	}
	return specs.POSIXRlimit{Type: typ, Soft: toU(soft), Hard: toU(hard)}, nil
}

// tmpfsMount parses a tmpfs entry, "/path[:opt,opt]", with Docker's
// defaults for options it does not set.
func tmpfsMount(entry string) (specs.Mount, error) {
	dst, opts, _ := strings.Cut(entry, ":")
	if !path.IsAbs(dst) {
		return specs.Mount{}, fmt.Errorf("tmpfs %q: the path must be absolute: %w", entry, errdefs.ErrInvalidArgument)
	}
	options := []string{"nosuid", "nodev", "noexec"}
	if opts != "" {
		options = append(options, strings.Split(opts, ",")...)
	}
	return specs.Mount{Destination: path.Clean(dst), Type: "tmpfs", Source: "tmpfs", Options: options}, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
