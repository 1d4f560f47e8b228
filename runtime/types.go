package runtime

import (
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/stack-dev/stack/internal/errdefs"
	"github.com/stack-dev/stack/internal/ident"
)

// Options configure a [Manager].
type Options struct {
	// StateRoot is the directory holding one directory per container. Required.
	StateRoot string
	// CgroupParent is the cgroup, relative to each hierarchy's root, under
	// which containers get their own cgroup named after their id. Optional;
	// "stack" when empty.
	CgroupParent string
	// Logger receives debug records about shims. Optional.
	Logger *slog.Logger
	// ShimBinary is the program run as the containers' shims, their
	// inits and exec'd processes' first step: one whose main calls
	// [IsInit] and [Init] first (cmd/stack-shim, small so that it starts
	// fast). Optional: the calling binary, /proc/self/exe.
	ShimBinary string
	// InitBinary is the program run as the containers' inits and exec'd
	// processes' first step: cmd/stack-init, this package's container
	// side alone (built with -tags stackinit), which starts faster.
	// Optional: ShimBinary. Each shim opens it when it starts and execs
	// every init from that descriptor. A container with a user namespace
	// of its own gets ShimBinary's init unless others may execute it.
	InitBinary string
	// Trace, when set, is told when each phase of a container's
	// creation, start, wait and removal ends, in the Manager, the shim and
	// the init (for benchmarks: see bench/). Optional.
	Trace func(id, phase string, at time.Time)

	// cgroupV2Root, when set, drives a cgroup2 hierarchy mounted there
	// whatever the host's mode; tests use it to run the v2 code on a
	// hybrid host's /sys/fs/cgroup/unified.
	cgroupV2Root string
}

// Config describes one container.
type Config struct {
	// Spec is the OCI runtime spec. Required. Spec.Root.Path is ignored in
	// favour of Rootfs; Spec.Root.Readonly is honoured.
	Spec *specs.Spec
	// Rootfs is the absolute path of the container's root file system,
	// already assembled (an overlay mount, for example). Required.
	Rootfs string
	// NetNS is the path of a network namespace to join (a bind mount under
	// /run/netns, for example). Optional: when empty and Spec.Linux lists a
	// network namespace without a path, the container gets a new, empty
	// one.
	NetNS string
	// Init runs a minimal PID 1 that forwards signals to the process and
	// reaps zombies, like Docker's init: true (tini).
	Init bool
	// Log is where the shim writes the container's output and how it
	// rotates it. Optional: container.log in the container's state
	// directory, never rotated.
	Log LogConfig
	// Group names the shim process that serves the container: containers
	// of one group share one (a project's, for example), so each costs
	// the shim a few goroutines rather than a process, and a shim's death
	// takes the whole group. Optional: a shim of its own. A valid
	// container id.
	Group string
}

// Status is the lifecycle state of a container.
type Status int

// The states a container moves through: Created by [Manager.Create],
// Running after [Manager.Start] (Paused while frozen), Stopped once its
// init has exited. Unknown means the shim is gone without recording an exit.
const (
	Unknown Status = iota
	Created
	Running
	Paused
	Stopped
)

func (s Status) String() string {
	switch s {
	case Created:
		return "created"
	case Running:
		return "running"
	case Paused:
		return "paused"
	case Stopped:
		return "stopped"
	}
	return "unknown"
}

// MarshalText encodes s as its name.
func (s Status) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText decodes a name written by MarshalText.
func (s *Status) UnmarshalText(b []byte) error {
	for _, v := range []Status{Unknown, Created, Running, Paused, Stopped} {
		if v.String() == string(b) {
			*s = v
			return nil
		}
	}
	return fmt.Errorf("status %q: %w", b, errdefs.ErrInvalidArgument)
}

// State is what a container's shim records on disk, plus the live status.
type State struct {
	ID      string `json:"id"`
	Status  Status `json:"status"`
	Pid     int    `json:"pid,omitempty"`     // host PID of the container's init
	ShimPid int    `json:"shimPid,omitempty"` // host PID of the shim
	// ShimStart is the shim's start time in clock ticks since boot
	// (proc(5) stat field 22), so a reused PID is not taken for the shim.
	ShimStart  uint64    `json:"shimStart,omitempty"`
	ExitCode   int       `json:"exitCode"` // 128+signal when killed by one
	OOMKilled  bool      `json:"oomKilled,omitempty"`
	Error      string    `json:"error,omitempty"` // why the container could not run
	Rootfs     string    `json:"rootfs"`
	CgroupPath string    `json:"cgroupPath"`
	CreatedAt  time.Time `json:"createdAt"`
	StartedAt  time.Time `json:"startedAt,omitzero"`
	FinishedAt time.Time `json:"finishedAt,omitzero"`
}

// Stats are a container's resource usage, read from its cgroup.
type Stats struct {
	CPUUsage    time.Duration // total CPU time consumed
	MemoryUsage uint64        // bytes
	MemoryLimit uint64        // bytes; the host's memory when unlimited
	Pids        uint64
	PidsLimit   uint64 // 0 when unlimited
}

// ExecConfig describes a process to run in a running container.
type ExecConfig struct {
	// Process gives args, env, cwd, user, capabilities and no_new_privs, as
	// for the container's own process. Required.
	Process *specs.Process
	// Stdin, Stdout and Stderr are connected to the process; nil means
	// /dev/null. Optional.
	Stdin          io.Reader
	Stdout, Stderr io.Writer
}

// validateID checks that id is safe as a path component and a cgroup
// name.
func validateID(id string) error { return ident.Name("container id", id) }
