package spec

import (
	"encoding/json"
	"fmt"
)

// The model below is the normalised form of a stack file: every short syntax
// has been expanded to its long form, interpolation is done, relative paths are
// absolute, and project-scoped names are filled in. Its YAML and JSON shape is
// the one `docker compose config` prints, so tools that read one read the
// other. Maps marshal in sorted key order, which keeps output deterministic.

// Project is a loaded, merged, interpolated and validated stack.
type Project struct {
	Name     string              `yaml:"name" json:"name"`
	Services map[string]*Service `yaml:"services" json:"services"`
	Networks map[string]*Network `yaml:"networks,omitempty" json:"networks,omitempty"`
	Volumes  map[string]*Volume  `yaml:"volumes,omitempty" json:"volumes,omitempty"`
	Secrets  map[string]*FileObj `yaml:"secrets,omitempty" json:"secrets,omitempty"`
	Configs  map[string]*FileObj `yaml:"configs,omitempty" json:"configs,omitempty"`
	// Extensions holds top-level x-* keys, kept verbatim.
	Extensions map[string]any `yaml:",inline" json:"-"`

	// WorkingDir is the project directory: relative paths resolve against it.
	WorkingDir string `yaml:"-" json:"-"`
	// Files are the stack files the project was loaded from, in merge order.
	Files []string `yaml:"-" json:"-"`
	// Warnings are problems that cannot change behaviour (an obsolete key, an
	// option that only matters to Swarm). The CLI prints them; they never
	// stop a command.
	Warnings []string `yaml:"-" json:"-"`
}

// ServiceNames returns the names of all services, sorted.
func (p *Project) ServiceNames() []string { return sortedKeys(p.Services) }

// Service is one service of the stack: the template for its containers.
type Service struct {
	// Name is the key of the service in the services map.
	Name string `yaml:"-" json:"-"`

	Profiles      []string             `yaml:"profiles,omitempty" json:"profiles,omitempty"`
	Image         string               `yaml:"image,omitempty" json:"image,omitempty"`
	Build         *Build               `yaml:"build,omitempty" json:"build,omitempty"`
	PullPolicy    string               `yaml:"pull_policy,omitempty" json:"pull_policy,omitempty"`
	Command       Command              `yaml:"command,omitempty" json:"command,omitzero"`
	Entrypoint    Command              `yaml:"entrypoint,omitempty" json:"entrypoint,omitzero"`
	Environment   map[string]*string   `yaml:"environment,omitempty" json:"environment,omitempty"`
	EnvFiles      []EnvFile            `yaml:"env_file,omitempty" json:"env_file,omitempty"`
	WorkingDir    string               `yaml:"working_dir,omitempty" json:"working_dir,omitempty"`
	User          string               `yaml:"user,omitempty" json:"user,omitempty"`
	Hostname      string               `yaml:"hostname,omitempty" json:"hostname,omitempty"`
	Domainname    string               `yaml:"domainname,omitempty" json:"domainname,omitempty"`
	ContainerName string               `yaml:"container_name,omitempty" json:"container_name,omitempty"`
	Labels        map[string]string    `yaml:"labels,omitempty" json:"labels,omitempty"`
	DependsOn     map[string]DependsOn `yaml:"depends_on,omitempty" json:"depends_on,omitempty"`
	Links         []string             `yaml:"links,omitempty" json:"links,omitempty"`
	Healthcheck   *Healthcheck         `yaml:"healthcheck,omitempty" json:"healthcheck,omitempty"`
	// Develop holds the watch rules of `stack watch` (compose's develop:).
	Develop *Develop `yaml:"develop,omitempty" json:"develop,omitempty"`
	Restart string   `yaml:"restart,omitempty" json:"restart,omitempty"`

	Ports       []Port                     `yaml:"ports,omitempty" json:"ports,omitempty"`
	Expose      []string                   `yaml:"expose,omitempty" json:"expose,omitempty"`
	Networks    map[string]*ServiceNetwork `yaml:"networks,omitempty" json:"networks,omitempty"`
	NetworkMode string                     `yaml:"network_mode,omitempty" json:"network_mode,omitempty"`
	ExtraHosts  []string                   `yaml:"extra_hosts,omitempty" json:"extra_hosts,omitempty"`
	DNS         []string                   `yaml:"dns,omitempty" json:"dns,omitempty"`
	DNSSearch   []string                   `yaml:"dns_search,omitempty" json:"dns_search,omitempty"`
	DNSOpt      []string                   `yaml:"dns_opt,omitempty" json:"dns_opt,omitempty"`

	Volumes     []ServiceVolume `yaml:"volumes,omitempty" json:"volumes,omitempty"`
	VolumesFrom []string        `yaml:"volumes_from,omitempty" json:"volumes_from,omitempty"`
	Tmpfs       []string        `yaml:"tmpfs,omitempty" json:"tmpfs,omitempty"`
	Secrets     []FileRef       `yaml:"secrets,omitempty" json:"secrets,omitempty"`
	Configs     []FileRef       `yaml:"configs,omitempty" json:"configs,omitempty"`

	StopSignal      string    `yaml:"stop_signal,omitempty" json:"stop_signal,omitempty"`
	StopGracePeriod *Duration `yaml:"stop_grace_period,omitempty" json:"stop_grace_period,omitempty"`
	Init            *bool     `yaml:"init,omitempty" json:"init,omitempty"`
	// Attach false keeps a foreground up from showing the service's
	// output unless --attach names it.
	Attach     *bool    `yaml:"attach,omitempty" json:"attach,omitempty"`
	Tty        bool     `yaml:"tty,omitempty" json:"tty,omitempty"`
	StdinOpen  bool     `yaml:"stdin_open,omitempty" json:"stdin_open,omitempty"`
	ReadOnly   bool     `yaml:"read_only,omitempty" json:"read_only,omitempty"`
	Privileged bool     `yaml:"privileged,omitempty" json:"privileged,omitempty"`
	CapAdd     []string `yaml:"cap_add,omitempty" json:"cap_add,omitempty"`
	CapDrop    []string `yaml:"cap_drop,omitempty" json:"cap_drop,omitempty"`
	// SecurityOpt entries are checked by ParseSecurityOpt; a seccomp
	// profile's path is absolute.
	SecurityOpt []string `yaml:"security_opt,omitempty" json:"security_opt,omitempty"`
	// GroupAdd are supplementary groups, names or numbers.
	GroupAdd []string          `yaml:"group_add,omitempty" json:"group_add,omitempty"`
	Sysctls  map[string]string `yaml:"sysctls,omitempty" json:"sysctls,omitempty"`
	Ulimits  map[string]Ulimit `yaml:"ulimits,omitempty" json:"ulimits,omitempty"`

	ShmSize        ByteSize `yaml:"shm_size,omitempty" json:"shm_size,omitempty"`
	MemLimit       ByteSize `yaml:"mem_limit,omitempty" json:"mem_limit,omitempty"`
	MemReservation ByteSize `yaml:"mem_reservation,omitempty" json:"mem_reservation,omitempty"`
	// MemswapLimit is memory plus swap; -1 means unlimited swap.
	MemswapLimit ByteSize `yaml:"memswap_limit,omitempty" json:"memswap_limit,omitempty"`
	CPUs         float64  `yaml:"cpus,omitempty" json:"cpus,omitempty"`
	CPUShares    int64    `yaml:"cpu_shares,omitempty" json:"cpu_shares,omitempty"`
	CPUQuota     int64    `yaml:"cpu_quota,omitempty" json:"cpu_quota,omitempty"`
	CPUPeriod    int64    `yaml:"cpu_period,omitempty" json:"cpu_period,omitempty"`
	CPUSet       string   `yaml:"cpuset,omitempty" json:"cpuset,omitempty"`
	PidsLimit    int64    `yaml:"pids_limit,omitempty" json:"pids_limit,omitempty"`

	// Logging is the service's log driver and rotation (max-size,
	// max-file); nil for the daemon's default.
	Logging *Logging `yaml:"logging,omitempty" json:"logging,omitempty"`

	Deploy *Deploy `yaml:"deploy,omitempty" json:"deploy,omitempty"`
	Scale  *int    `yaml:"scale,omitempty" json:"scale,omitempty"`

	// Extensions holds the service's x-* keys, kept verbatim.
	Extensions map[string]any `yaml:",inline" json:"-"`
}

// Replicas is the number of containers the service runs: scale, else
// deploy.replicas, else 1.
func (s *Service) Replicas() int {
	if s.Scale != nil {
		return *s.Scale
	}
	if s.Deploy != nil && s.Deploy.Replicas != nil {
		return *s.Deploy.Replicas
	}
	return 1
}

// BuildPull is when a build of s pulls its FROM images, as compose has
// it: "always" with build.pull or pull_policy: always, "never" with
// pull_policy: never, else "missing" (when the store lacks them).
func (s *Service) BuildPull() string {
	switch {
	case s.Build != nil && s.Build.Pull || s.PullPolicy == "always":
		return "always"
	case s.PullPolicy == "never":
		return "never"
	}
	return "missing"
}

// Logging is a service's logging: key. Options holds only max-size and
// max-file, the options stack applies.
type Logging struct {
	Driver  string            `yaml:"driver,omitempty" json:"driver,omitempty"`
	Options map[string]string `yaml:"options,omitempty" json:"options,omitempty"`
}

// Command is a command line in exec form. A nil Command means "not set"
// (use the image's); an empty non-nil one means "explicitly empty"
// (entrypoint: [] or command: ""), which discards the image's. The
// difference survives YAML and JSON: IsZero, which yaml.v3's omitempty and
// encoding/json's omitzero consult, is true only for nil, and MarshalJSON
// writes an empty one as [] rather than null, so a project sent to the
// daemon means what the file said.
type Command []string

// IsZero reports whether c is unset (nil), not merely empty.
func (c Command) IsZero() bool { return c == nil }

// MarshalJSON writes nil as null and an empty command as [].
func (c Command) MarshalJSON() ([]byte, error) {
	if c == nil {
		return []byte("null"), nil
	}
	return json.Marshal([]string(c))
}

// MarshalYAML writes an empty command as [] (a nil one is omitted).
func (c Command) MarshalYAML() (any, error) {
	if c == nil {
		return nil, nil
	}
	return []string(c), nil
}

// EnvFile is one env_file entry.
type EnvFile struct {
	Path     string `yaml:"path" json:"path"`
	Required bool   `yaml:"required" json:"required"`
}

// Build says how to build the service's image.
type Build struct {
	Context          string             `yaml:"context" json:"context"`
	Dockerfile       string             `yaml:"dockerfile,omitempty" json:"dockerfile,omitempty"`
	DockerfileInline string             `yaml:"dockerfile_inline,omitempty" json:"dockerfile_inline,omitempty"`
	Args             map[string]*string `yaml:"args,omitempty" json:"args,omitempty"`
	Target           string             `yaml:"target,omitempty" json:"target,omitempty"`
	Labels           map[string]string  `yaml:"labels,omitempty" json:"labels,omitempty"`
	Network          string             `yaml:"network,omitempty" json:"network,omitempty"`
	NoCache          bool               `yaml:"no_cache,omitempty" json:"no_cache,omitempty"`
	Pull             bool               `yaml:"pull,omitempty" json:"pull,omitempty"`
	Tags             []string           `yaml:"tags,omitempty" json:"tags,omitempty"`
	ShmSize          ByteSize           `yaml:"shm_size,omitempty" json:"shm_size,omitempty"`
	ExtraHosts       []string           `yaml:"extra_hosts,omitempty" json:"extra_hosts,omitempty"`
}

// DependsOn is one entry of a service's depends_on.
type DependsOn struct {
	Condition string `yaml:"condition" json:"condition"`
	Restart   bool   `yaml:"restart,omitempty" json:"restart,omitempty"`
	Required  bool   `yaml:"required" json:"required"`
}

// The depends_on conditions.
const (
	ConditionStarted               = "service_started"
	ConditionHealthy               = "service_healthy"
	ConditionCompletedSuccessfully = "service_completed_successfully"
)

// Healthcheck is a service's health probe. Test is in the canonical form:
// ["CMD", args...], ["CMD-SHELL", script] or ["NONE"].
type Healthcheck struct {
	Test          []string  `yaml:"test,omitempty" json:"test,omitempty"`
	Interval      *Duration `yaml:"interval,omitempty" json:"interval,omitempty"`
	Timeout       *Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
	Retries       *uint64   `yaml:"retries,omitempty" json:"retries,omitempty"`
	StartPeriod   *Duration `yaml:"start_period,omitempty" json:"start_period,omitempty"`
	StartInterval *Duration `yaml:"start_interval,omitempty" json:"start_interval,omitempty"`
	Disable       bool      `yaml:"disable,omitempty" json:"disable,omitempty"`
}

// Port is one published or exposed port in long syntax. A short-syntax
// range is expanded into one Port per container port.
type Port struct {
	Name   string `yaml:"name,omitempty" json:"name,omitempty"`
	Mode   string `yaml:"mode,omitempty" json:"mode,omitempty"`
	HostIP string `yaml:"host_ip,omitempty" json:"host_ip,omitempty"`
	Target uint32 `yaml:"target" json:"target"`
	// Published is the host port, or "" for an ephemeral one. It may be a
	// range ("8000-8010") in long syntax, meaning any free port of it.
	Published   string `yaml:"published,omitempty" json:"published,omitempty"`
	Protocol    string `yaml:"protocol" json:"protocol"`
	AppProtocol string `yaml:"app_protocol,omitempty" json:"app_protocol,omitempty"`
}

// ServiceNetwork is a service's attachment to one network.
type ServiceNetwork struct {
	Aliases     []string `yaml:"aliases,omitempty" json:"aliases,omitempty"`
	IPv4Address string   `yaml:"ipv4_address,omitempty" json:"ipv4_address,omitempty"`
	Priority    int      `yaml:"priority,omitempty" json:"priority,omitempty"`
}

// The volume mount types.
const (
	VolumeTypeBind   = "bind"
	VolumeTypeVolume = "volume"
	VolumeTypeTmpfs  = "tmpfs"
)

// ServiceVolume is one entry of a service's volumes, in long syntax.
// Source is absolute for binds, a key of Project.Volumes for named volumes,
// and empty for anonymous volumes and tmpfs.
type ServiceVolume struct {
	Type     string         `yaml:"type" json:"type"`
	Source   string         `yaml:"source,omitempty" json:"source,omitempty"`
	Target   string         `yaml:"target" json:"target"`
	ReadOnly bool           `yaml:"read_only,omitempty" json:"read_only,omitempty"`
	Bind     *BindOptions   `yaml:"bind,omitempty" json:"bind,omitempty"`
	Volume   *VolumeOptions `yaml:"volume,omitempty" json:"volume,omitempty"`
	Tmpfs    *TmpfsOptions  `yaml:"tmpfs,omitempty" json:"tmpfs,omitempty"`
}

// BindOptions are the options of a bind mount.
type BindOptions struct {
	Propagation    string `yaml:"propagation,omitempty" json:"propagation,omitempty"`
	CreateHostPath bool   `yaml:"create_host_path,omitempty" json:"create_host_path,omitempty"`
	// SELinux is "z" (a label the containers share) or "Z" (a label of
	// this container's own), applied to the source where SELinux is
	// enabled.
	SELinux string `yaml:"selinux,omitempty" json:"selinux,omitempty"`
}

// VolumeOptions are the options of a named or anonymous volume mount.
type VolumeOptions struct {
	NoCopy  bool   `yaml:"nocopy,omitempty" json:"nocopy,omitempty"`
	Subpath string `yaml:"subpath,omitempty" json:"subpath,omitempty"`
}

// TmpfsOptions are the options of a tmpfs mount.
type TmpfsOptions struct {
	Size ByteSize `yaml:"size,omitempty" json:"size,omitempty"`
	Mode FileMode `yaml:"mode,omitempty" json:"mode,omitempty"`
}

// FileRef is a service's use of a top-level secret or config.
type FileRef struct {
	Source string    `yaml:"source" json:"source"`
	Target string    `yaml:"target,omitempty" json:"target,omitempty"`
	UID    string    `yaml:"uid,omitempty" json:"uid,omitempty"`
	GID    string    `yaml:"gid,omitempty" json:"gid,omitempty"`
	Mode   *FileMode `yaml:"mode,omitempty" json:"mode,omitempty"`
}

// FileMode is a permission mode; it prints in octal ("0440").
type FileMode uint32

// MarshalYAML prints the mode in octal.
func (m FileMode) MarshalYAML() (any, error) { return fmt.Sprintf("0%o", uint32(m)), nil }

// Ulimit is one resource limit. Single is set when the file gave one number
// for both soft and hard.
type Ulimit struct {
	Single int64 `yaml:"single,omitempty" json:"single,omitempty"`
	Soft   int64 `yaml:"soft,omitempty" json:"soft,omitempty"`
	Hard   int64 `yaml:"hard,omitempty" json:"hard,omitempty"`
}

// Deploy holds the deploy keys that apply to a single host.
type Deploy struct {
	Replicas      *int              `yaml:"replicas,omitempty" json:"replicas,omitempty"`
	Resources     Resources         `yaml:"resources,omitempty" json:"resources,omitempty"`
	RestartPolicy *RestartPolicy    `yaml:"restart_policy,omitempty" json:"restart_policy,omitempty"`
	Labels        map[string]string `yaml:"labels,omitempty" json:"labels,omitempty"`
}

// Resources are deploy.resources.
type Resources struct {
	Limits       *Resource `yaml:"limits,omitempty" json:"limits,omitempty"`
	Reservations *Resource `yaml:"reservations,omitempty" json:"reservations,omitempty"`
}

// Resource is a set of resource figures.
type Resource struct {
	CPUs   float64  `yaml:"cpus,omitempty" json:"cpus,omitempty"`
	Memory ByteSize `yaml:"memory,omitempty" json:"memory,omitempty"`
	Pids   int64    `yaml:"pids,omitempty" json:"pids,omitempty"`
}

// RestartPolicy is deploy.restart_policy.
type RestartPolicy struct {
	Condition   string    `yaml:"condition,omitempty" json:"condition,omitempty"`
	Delay       *Duration `yaml:"delay,omitempty" json:"delay,omitempty"`
	MaxAttempts *uint64   `yaml:"max_attempts,omitempty" json:"max_attempts,omitempty"`
	Window      *Duration `yaml:"window,omitempty" json:"window,omitempty"`
}

// Network is a top-level network.
type Network struct {
	// Name is the name of the network on the host: "<project>_<key>" unless
	// the file sets name: or the network is external.
	Name     string            `yaml:"name" json:"name"`
	Driver   string            `yaml:"driver,omitempty" json:"driver,omitempty"`
	External bool              `yaml:"external,omitempty" json:"external,omitempty"`
	Internal bool              `yaml:"internal,omitempty" json:"internal,omitempty"`
	IPAM     *IPAM             `yaml:"ipam,omitempty" json:"ipam,omitempty"`
	Labels   map[string]string `yaml:"labels,omitempty" json:"labels,omitempty"`
}

// IPAM is a network's address configuration.
type IPAM struct {
	Driver string       `yaml:"driver,omitempty" json:"driver,omitempty"`
	Config []IPAMConfig `yaml:"config,omitempty" json:"config,omitempty"`
}

// IPAMConfig is one subnet of a network.
type IPAMConfig struct {
	Subnet  string `yaml:"subnet,omitempty" json:"subnet,omitempty"`
	Gateway string `yaml:"gateway,omitempty" json:"gateway,omitempty"`
	IPRange string `yaml:"ip_range,omitempty" json:"ip_range,omitempty"`
}

// Volume is a top-level named volume.
type Volume struct {
	// Name is the name of the volume on the host: "<project>_<key>" unless
	// the file sets name: or the volume is external.
	Name     string            `yaml:"name" json:"name"`
	Driver   string            `yaml:"driver,omitempty" json:"driver,omitempty"`
	External bool              `yaml:"external,omitempty" json:"external,omitempty"`
	Labels   map[string]string `yaml:"labels,omitempty" json:"labels,omitempty"`
}

// FileObj is a top-level secret or config: the content of a file (File,
// absolute), of a variable of the shell or .env (Environment), or, for
// configs, inline (Content). External ones live in a Docker Swarm and are
// refused.
type FileObj struct {
	Name        string `yaml:"name,omitempty" json:"name,omitempty"`
	File        string `yaml:"file,omitempty" json:"file,omitempty"`
	Environment string `yaml:"environment,omitempty" json:"environment,omitempty"`
	Content     string `yaml:"content,omitempty" json:"content,omitempty"`
	// Value is the value of Environment when the stack was loaded, nil
	// when the variable was not set. It travels to the daemon in the
	// project's JSON, and is never printed in YAML; [Project.Redacted]
	// takes it out of a project that is shown.
	Value *string `yaml:"-" json:"value,omitempty"`
}

// Redacted returns a copy of p without the values of environment-sourced
// secrets and configs, for printing: `stack config --format json` shows
// where a secret comes from, never what it is (compose's SecretConfig
// marshals without its content too).
func (p *Project) Redacted() *Project {
	out := *p
	redact := func(m map[string]*FileObj) map[string]*FileObj {
		if m == nil {
			return nil
		}
		c := make(map[string]*FileObj, len(m))
		for k, v := range m {
			if v != nil {
				cp := *v
				cp.Value = nil
				v = &cp
			}
			c[k] = v
		}
		return c
	}
	out.Secrets, out.Configs = redact(p.Secrets), redact(p.Configs)
	return &out
}

// Develop is a service's develop: section.
type Develop struct {
	Watch []WatchRule `yaml:"watch,omitempty" json:"watch,omitempty"`
}

// The actions of a watch rule.
const (
	WatchSync        = "sync"
	WatchRebuild     = "rebuild"
	WatchRestart     = "restart"
	WatchSyncRestart = "sync+restart"
	WatchSyncExec    = "sync+exec"
)

// WatchRule is one rule of develop.watch: what to do when a file under
// Path changes. Path is absolute.
type WatchRule struct {
	Path        string    `yaml:"path" json:"path"`
	Action      string    `yaml:"action" json:"action"`
	Target      string    `yaml:"target,omitempty" json:"target,omitempty"`
	Ignore      []string  `yaml:"ignore,omitempty" json:"ignore,omitempty"`
	Include     []string  `yaml:"include,omitempty" json:"include,omitempty"`
	InitialSync bool      `yaml:"initial_sync,omitempty" json:"initial_sync,omitempty"`
	Exec        WatchExec `yaml:"exec,omitempty" json:"exec,omitzero"`
}

// WatchExec is the command of a sync+exec rule.
type WatchExec struct {
	Command     Command            `yaml:"command,omitempty" json:"command,omitempty"`
	User        string             `yaml:"user,omitempty" json:"user,omitempty"`
	WorkingDir  string             `yaml:"working_dir,omitempty" json:"working_dir,omitempty"`
	Environment map[string]*string `yaml:"environment,omitempty" json:"environment,omitempty"`
}
