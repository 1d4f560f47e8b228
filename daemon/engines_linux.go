package daemon

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/stack-dev/stack/image/overlay"
	"github.com/stack-dev/stack/network"
	"github.com/stack-dev/stack/runtime"
)

// The engines below the daemon, as the daemon uses them: small interfaces
// of the consumer's, so that Up, Down and reconcile are tested without
// root against fakes that log what they are asked to do (engines_test.go),
// as network/nat's Fake does for the rules. In production they are
// [runtime.Manager], [network.Manager] and an [overlay.Driver].

// containerRuntime creates, runs and removes containers.
type containerRuntime interface {
	runtimeLifecycle
	runtimeIO
	runtimeStats
}

// runtimeLifecycle is a container's life: see [runtime.Manager].
type runtimeLifecycle interface {
	Create(ctx context.Context, id string, cfg runtime.Config) error
	Start(ctx context.Context, id string) error
	State(id string) (runtime.State, error)
	List() ([]runtime.State, error)
	Wait(ctx context.Context, id string) (runtime.State, error)
	Kill(ctx context.Context, id string, sig unix.Signal) error
	Stop(ctx context.Context, id string, sig unix.Signal, grace time.Duration) (runtime.State, error)
	Pause(id string) error
	Resume(id string) error
	Delete(ctx context.Context, id string, force bool) error
}

// runtimeIO is what goes into and out of running containers: processes
// exec'd in them and their terminals.
type runtimeIO interface {
	Exec(ctx context.Context, id string, cfg runtime.ExecConfig) (process, error)
	Attach(ctx context.Context, id string) (net.Conn, error)
	Resize(ctx context.Context, id string, width, height uint16) error
}

// runtimeStats reads a running container's cgroup.
type runtimeStats interface {
	Stats(id string) (runtime.Stats, error)
	Pids(id string) ([]int, error)
	AppliedLimits(id string) (runtime.Limits, error)
}

// process is a process exec'd in a container: see [runtime.Process].
type process interface {
	// Console is the master of the process's terminal, nil without one.
	Console() *os.File
	Pid() int
	Signal(sig unix.Signal) error
	// Wait returns the exit code; it must be called exactly once.
	Wait() (int, error)
}

// networker gives containers their networks: see [network.Manager].
type networker interface {
	Networks() []network.NetworkStatus
	CreateNetwork(ctx context.Context, cfg network.NetworkConfig) (network.NetworkStatus, error)
	RemoveNetwork(ctx context.Context, name string) error
	Setup(ctx context.Context, cfg network.AttachConfig) (network.Status, error)
	Status(id string) (network.Status, error)
	// Plug wires a namespace made after Setup (a user namespace's own)
	// to the networks Setup reserved.
	Plug(ctx context.Context, id, path string) error
	Teardown(ctx context.Context, id string) error
	Connect(ctx context.Context, id string, ep network.EndpointConfig) (network.Endpoint, error)
	Disconnect(ctx context.Context, id, network string) error
	Sweep(ctx context.Context, live network.Live) error
	Close() error
}

// engineOpeners open the engines on first use: image commands work
// without them, and tests give fakes.
type engineOpeners struct {
	storage func() (overlay.Driver, error)
	runtime func() (containerRuntime, error)
	network func() (networker, error)
}

// realEngines opens the kernel-backed engines of cfg's state root.
func (d *Daemon) realEngines() engineOpeners {
	return engineOpeners{
		storage: func() (overlay.Driver, error) {
			s, err := overlay.New(overlay.Config{Root: filepath.Join(d.cfg.StateRoot, storageDir), Logger: d.log})
			if err != nil {
				return nil, fmt.Errorf("open storage driver: %w", err)
			}
			return s, nil
		},
		runtime: func() (containerRuntime, error) {
			m, err := runtime.New(runtime.Options{
				StateRoot:    filepath.Join(d.cfg.StateRoot, containerDir),
				CgroupParent: d.cfg.CgroupParent,
				Logger:       d.log,
				ShimBinary:   d.cfg.ShimBinary,
				InitBinary:   d.cfg.InitBinary,
			})
			if err != nil {
				return nil, fmt.Errorf("open runtime: %w", err)
			}
			return managerRuntime{m}, nil
		},
		network: func() (networker, error) {
			m, err := d.openNetwork()
			if err != nil {
				return nil, err
			}
			return m, nil
		},
	}
}

// managerRuntime is a [runtime.Manager] as a containerRuntime: its Exec
// returns the concrete *runtime.Process.
type managerRuntime struct{ *runtime.Manager }

func (m managerRuntime) Exec(ctx context.Context, id string, cfg runtime.ExecConfig) (process, error) {
	p, err := m.Manager.Exec(ctx, id, cfg)
	if err != nil {
		return nil, err
	}
	return p, nil
}
