package daemon

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"maps"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/stack-dev/stack/api"
	"github.com/stack-dev/stack/image"
	"github.com/stack-dev/stack/internal/errdefs"
	"github.com/stack-dev/stack/internal/ident"
	"github.com/stack-dev/stack/network"
	"github.com/stack-dev/stack/runtime"
	"github.com/stack-dev/stack/spec"
)

// The container service: one container at a time, by ID or name, as the
// Docker Engine API asks for them. A container made here is an engine
// container like any other (same runtime, cgroups, seccomp profile,
// networks and DNS); one with compose's project label belongs to that
// project and shows in its ps, one without belongs to no project.

// standaloneProject is the project key of the containers that belong to
// no project. No project can be named so (ident.Project refuses a leading
// underscore), and it is never listed as a project.
const standaloneProject = "_"

// DefaultNetwork is the network a container created through the Docker
// API joins when it names none, as docker's default bridge. It is made
// when a container first joins it, and removed when the daemon stops if
// no container is on it then.
const DefaultNetwork = "bridge"

// defaultNetworkLabel marks the default network as the engine's own.
const defaultNetworkLabel = "stack.default-network"

// The labels compose puts on its containers, which stack puts on its own
// too: a Docker API client sees stack's containers as compose's, and a
// container with them made through the Docker API joins its project.
const (
	LabelProject         = "com.docker.compose.project"
	LabelService         = "com.docker.compose.service"
	LabelContainerNumber = "com.docker.compose.container-number"
	LabelOneOff          = "com.docker.compose.oneoff"
)

// ContainerCreate asks for one container outside a stack file's up, as
// the Docker API's create does. The container is created, not started.
type ContainerCreate struct {
	// Name is the container's name, unique in the engine. Optional: a
	// generated one ("brave_turing").
	Name string
	// Service is the container's configuration, as a service of a stack
	// file gives it; Service.Image is required and must be here (create
	// does not pull). Its Networks are keyed by network name; each one
	// must exist, except DefaultNetwork. Its named volumes are created
	// when missing; a volume with no source is an anonymous volume,
	// made for the container.
	Service *spec.Service
	// Labels are the container's. LabelProject (a valid project name)
	// puts it in that project, with LabelService, LabelContainerNumber
	// and LabelOneOff ("True") saying as what.
	Labels map[string]string
	// OpenStdin keeps the terminal's input open for attach; it needs
	// Service.Tty (stack gives stdin to containers with a terminal only).
	OpenStdin bool
	// AutoRemove removes the container once it exits.
	AutoRemove bool
	// PublishAll publishes every port the image and the service expose
	// on a free host port (docker run -P).
	PublishAll bool
	// VolumeLabels are the labels of the volumes the create makes.
	VolumeLabels map[string]map[string]string
}

// ContainerInfo is what the engine knows of one container, for ps and
// inspect: its record and its runtime state.
type ContainerInfo struct {
	ID, Name         string
	Project, Service string // Project is "" for a container of no project
	Number           int
	OneOff           bool
	Image, ImageID   string
	Labels           map[string]string
	Created          time.Time
	// Spec is the container's OCI runtime spec: its process (args, env,
	// cwd, user, terminal), hostname, mounts and resources. Read only.
	Spec *specs.Spec
	// Entrypoint and Cmd are the two halves of Spec.Process.Args; User is
	// the user as asked.
	Entrypoint, Cmd []string
	User            string
	ExposedPorts    []string
	OpenStdin       bool
	AutoRemove      bool
	Restart         string // the restart policy, as compose writes it
	StopSignal      string
	StopTimeout     time.Duration
	NetworkMode     string
	// State is "created", "running", "paused", "restarting", "removing"
	// or "exited".
	State                 string
	Pid, ExitCode         int
	OOMKilled             bool
	Error                 string
	StartedAt, FinishedAt time.Time
	Health, HealthOutput  string
	RestartCount          int
	Healthcheck           *HealthcheckInfo
	Networks              []EndpointInfo
	Ports                 []api.Port
	Mounts                []MountInfo
	LogPath               string
	// NetNSPath is the container's network namespace.
	NetNSPath string
}

// HealthcheckInfo is a container's health check, the service's over the
// image's.
type HealthcheckInfo struct {
	Test                                          []string
	Interval, Timeout, StartPeriod, StartInterval time.Duration
	Retries                                       int
}

// EndpointInfo is a container's membership of one network.
type EndpointInfo struct {
	Network, NetworkID string
	IP                 string // "10.1.2.3"
	PrefixLen          int
	Gateway, MAC       string
	Aliases, DNSNames  []string
}

// MountInfo is one of the container's mounts that its configuration
// asked for (not /proc, /dev and the like).
type MountInfo struct {
	Type        string // "bind", "volume" or "tmpfs"
	Name        string // a volume's
	Source      string
	Destination string
	ReadOnly    bool
	Propagation string
}

// WaitCondition says what WaitContainer waits for.
type WaitCondition string

// The wait conditions, docker's.
const (
	// WaitNotRunning returns at once when the container does not run,
	// else at its exit.
	WaitNotRunning WaitCondition = "not-running"
	// WaitNextExit waits for the next exit, even of a container that
	// does not run yet.
	WaitNextExit WaitCondition = "next-exit"
	// WaitRemoved waits until the container is removed.
	WaitRemoved WaitCondition = "removed"
)

// WaitResult is how a container ended.
type WaitResult struct {
	ExitCode int
	Error    string
}

// RemoveOptions control RemoveContainer.
type RemoveOptions struct {
	// Force stops (kills) a running container first.
	Force bool
	// Volumes removes the container's anonymous volumes with it.
	Volumes bool
}

// findContainer returns the record of a container by ID, name or unique
// ID prefix (docker's order), in any project.
func (d *Daemon) findContainer(ref string) (*record, error) {
	ref = strings.TrimPrefix(ref, "/")
	if ref == "" {
		return nil, fmt.Errorf("no container named: %w", errdefs.ErrInvalidArgument)
	}
	recs := d.store.list("")
	for _, r := range recs {
		if r.ID == ref {
			return r, nil
		}
	}
	for _, r := range recs {
		if r.Name == ref {
			return r, nil
		}
	}
	var found *record
	for _, r := range recs {
		if strings.HasPrefix(r.ID, ref) {
			if found != nil {
				return nil, fmt.Errorf("container %s: several containers have IDs that start so: give more of the ID: %w", ident.Quote(ref), errdefs.ErrInvalidArgument)
			}
			found = r
		}
	}
	if found == nil {
		return nil, fmt.Errorf("no such container: %s: %w", ident.Quote(ref), errdefs.ErrNotFound)
	}
	return found, nil
}

// containerProject is the project of a container created with labels.
func containerProject(labels map[string]string) string {
	if p := labels[LabelProject]; p != "" && ident.Project(p) == nil {
		return p
	}
	return standaloneProject
}

// CreateContainer creates the container req asks for and returns its
// ID. Nothing of it is left behind when it fails.
func (d *Daemon) CreateContainer(ctx context.Context, req ContainerCreate) (_ string, err error) {
	if req.Service == nil || req.Service.Image == "" {
		return "", fmt.Errorf("create container: an image is required: %w", errdefs.ErrInvalidArgument)
	}
	if req.OpenStdin && !req.Service.Tty {
		return "", fmt.Errorf("create container: stdin is open only with a terminal in stack (use -it, or no -i): %w", errdefs.ErrNotImplemented)
	}
	svc := *req.Service
	project := containerProject(req.Labels)
	name := req.Name
	if name != "" {
		name = strings.TrimPrefix(name, "/")
		if err := ident.Name("container name", name); err != nil {
			return "", err
		}
	}
	// Names are unique across the engine, as in docker.
	d.nameMu.Lock()
	defer d.nameMu.Unlock()
	if name == "" {
		name = d.generateName()
	} else if other, err := d.findContainer(name); err == nil && other.Name == name {
		return "", fmt.Errorf("the container name %q is already in use by container %s: remove or rename that container: %w", "/"+name, other.ID, errdefs.ErrAlreadyExists)
	}
	if svc.Name == "" || project != standaloneProject && req.Labels[LabelService] != "" {
		svc.Name = req.Labels[LabelService]
	}
	if svc.Name == "" || ident.Service(svc.Name) != nil {
		svc.Name = name
	}
	unlock, err := d.lockProject(project)
	if err != nil {
		return "", err
	}
	defer unlock()
	if err := d.finishTeardowns(ctx, project); err != nil {
		return "", err
	}
	img, err := d.images.Get(ctx, svc.Image)
	if err != nil {
		if errors.Is(err, errdefs.ErrNotFound) {
			return "", fmt.Errorf("no such image: %s: pull or build it first: %w", svc.Image, err)
		}
		return "", err
	}
	if req.PublishAll {
		published := map[string]bool{}
		for _, pt := range svc.Ports {
			published[fmt.Sprintf("%d/%s", pt.Target, pt.Protocol)] = true
		}
		svc.Ports = slices.Clone(svc.Ports)
		for _, e := range exposedPorts(&svc, imgConfig(ctx, d, svc.Image)) {
			port, proto, _ := strings.Cut(e, "/")
			n, err := strconv.Atoi(port)
			if err != nil || published[e] || proto != "tcp" && proto != "udp" {
				continue
			}
			svc.Ports = append(svc.Ports, spec.Port{Target: uint32(n), Protocol: proto})
		}
	}
	p := &spec.Project{Name: project, Services: map[string]*spec.Service{svc.Name: &svc}, Networks: map[string]*spec.Network{}, Volumes: map[string]*spec.Volume{}}
	quiet := func(api.Event) {}
	for key := range svc.Networks {
		p.Networks[key] = &spec.Network{Name: key}
		if err := d.ensureDockerNetwork(ctx, key); err != nil {
			return "", err
		}
	}
	// Named volumes are made when missing; anonymous ones (no source,
	// and the image's VOLUME) by createContainer, named as docker names
	// them (64 hex digits).
	for _, v := range svc.Volumes {
		if v.Type != spec.VolumeTypeVolume || v.Source == "" {
			continue
		}
		p.Volumes[v.Source] = &spec.Volume{Name: v.Source}
		if err = d.ensureVolume(p.Volumes[v.Source], project, volumeMeta{Labels: req.VolumeLabels[v.Source]}, quiet); err != nil {
			return "", err
		}
	}
	number, _ := strconv.Atoi(req.Labels[LabelContainerNumber])
	r := &record{
		ID: d.newID(), Name: name, Project: project, Service: svc.Name, Number: number,
		OneOff: req.Labels[LabelOneOff] == "True", Image: svc.Image, ImageID: img.ID.String(), Created: time.Now().UTC(),
		Restart: svc.Restart, StopSignal: svc.StopSignal, Labels: maps.Clone(req.Labels), OpenStdin: req.OpenStdin,
		AutoRemove: req.AutoRemove, State: stateCreating,
	}
	if svc.StopGracePeriod != nil {
		r.StopGrace = time.Duration(*svc.StopGracePeriod)
	}
	if err = d.store.put(r, false); err != nil {
		return "", err
	}
	if err = d.createContainer(ctx, p, r, &svc, nil); err != nil {
		d.removeContainer(context.WithoutCancel(ctx), r)
		return "", err
	}
	r.State = ""
	if err = d.saveRecord(r); err != nil {
		d.removeContainer(context.WithoutCancel(ctx), r)
		return "", err
	}
	d.events.publish(containerEvent(r, api.ActionCreate, ""))
	return r.ID, nil
}

// ensureDockerNetwork checks that network name exists, making it when it
// is DefaultNetwork.
func (d *Daemon) ensureDockerNetwork(ctx context.Context, name string) error {
	nm, err := d.networks()
	if err != nil {
		return err
	}
	for _, n := range nm.Networks() {
		if n.Name == name {
			return nil
		}
	}
	if name != DefaultNetwork {
		return fmt.Errorf("network %s not found: create it first (docker network create): %w", ident.Quote(name), errdefs.ErrNotFound)
	}
	st, err := nm.CreateNetwork(ctx, network.NetworkConfig{Name: name, Labels: map[string]string{defaultNetworkLabel: "true"}})
	if err != nil {
		return fmt.Errorf("create the default network: %w", err)
	}
	d.events.publish(networkEvent(st.Name, st.Labels, api.ActionNetworkCreate, name))
	return nil
}

// removeDefaultNetwork removes the default network if no container is
// on it.
func (d *Daemon) removeDefaultNetwork(ctx context.Context) {
	nm, err := d.networks()
	if err != nil {
		return
	}
	for _, r := range d.store.list("") {
		if _, ok := r.Networks[DefaultNetwork]; ok {
			return
		}
	}
	for _, n := range nm.Networks() {
		if n.Name == DefaultNetwork && n.Labels[defaultNetworkLabel] == "true" {
			if err := nm.RemoveNetwork(ctx, n.Name); err == nil {
				d.events.publish(networkEvent(n.Name, n.Labels, api.ActionNetworkRemove, n.Name))
			}
		}
	}
}

// Names of containers that are given none, docker's style.
var (
	nameAdjectives = []string{"brave", "calm", "eager", "fond", "gentle", "happy", "jolly", "keen", "lucid", "merry",
		"nifty", "proud", "quirky", "sharp", "sleepy", "tender", "vivid", "wise", "zen", "bold"}
	nameNouns = []string{"babbage", "curie", "darwin", "einstein", "fermi", "galileo", "hopper", "kepler", "lovelace", "meitner",
		"newton", "noether", "pasteur", "ritchie", "shannon", "thompson", "turing", "volta", "wozniak", "yalow"}
)

// generateName returns a name no container has. The caller holds nameMu.
func (d *Daemon) generateName() string {
	pick := func(l []string) string {
		n, _ := rand.Int(rand.Reader, big.NewInt(int64(len(l))))
		return l[n.Int64()]
	}
	for i := 0; ; i++ {
		name := pick(nameAdjectives) + "_" + pick(nameNouns)
		if i > 10 {
			name += "_" + strconv.Itoa(i)
		}
		if _, err := d.findContainer(name); err != nil {
			return name
		}
	}
}

// StartContainer starts a created or stopped container; one that runs is
// left as it is.
func (d *Daemon) StartContainer(ctx context.Context, ref string) error {
	r, err := d.findContainer(ref)
	if err != nil {
		return err
	}
	unlock, err := d.lockProject(r.Project)
	if err != nil {
		return err
	}
	defer unlock()
	if r, err = d.findContainer(r.ID); err != nil {
		return err
	}
	if r.State != "" {
		return fmt.Errorf("container %s is %s: %w", r.Name, r.State, errdefs.ErrFailedPrecondition)
	}
	if err := d.startRecord(ctx, r); err != nil {
		return err
	}
	d.events.publish(containerEvent(r, api.ActionStart, ""))
	return nil
}

// StopContainer stops a container with its stop signal, killing it after
// timeout (nil: the container's own, else 10s). It stays stopped
// whatever its restart policy; one made with AutoRemove is removed.
func (d *Daemon) StopContainer(ctx context.Context, ref string, timeout *time.Duration) error {
	r, err := d.findContainer(ref)
	if err != nil {
		return err
	}
	grace := time.Duration(0)
	if timeout != nil {
		grace = max(*timeout, time.Nanosecond)
	}
	return d.stopRecord(ctx, r, grace)
}

// stopRecord stops the container of r for a user and reports its death.
func (d *Daemon) stopRecord(ctx context.Context, r *record, grace time.Duration) error {
	_, rt, err := d.engines()
	if err != nil {
		return err
	}
	st, _ := rt.State(r.ID)
	running := st.Status == runtime.Running || st.Status == runtime.Paused
	if err := d.stopContainer(ctx, r, grace, true); err != nil {
		return err
	}
	if running {
		d.recordExit(r)
		d.events.publish(containerEvent(r, api.ActionStop, ""))
	}
	if r.AutoRemove {
		return d.removeRecordContainer(ctx, r, RemoveOptions{Volumes: true})
	}
	return nil
}

// recordExit keeps the exit of a container that was stopped (no watch saw
// it) in its record and reports it.
func (d *Daemon) recordExit(r *record) {
	_, rt, err := d.engines()
	if err != nil {
		return
	}
	st, err := rt.State(r.ID)
	if err != nil || st.Status != runtime.Stopped {
		return
	}
	d.store.update(r.Project, r.Name, true, func(c *record) error {
		if c.ID != r.ID {
			return errStale
		}
		c.ExitCode, c.Finished = st.ExitCode, st.FinishedAt
		return nil
	})
	die := containerEvent(r, api.ActionDie, "exit code "+strconv.Itoa(st.ExitCode))
	die.ExitCode = &st.ExitCode
	d.events.publish(die)
}

// KillContainer sends signal (a name or number; "" is SIGKILL) to the
// container's process. The restart policy applies to the death that
// follows, as in docker.
func (d *Daemon) KillContainer(ctx context.Context, ref, signal string) error {
	r, err := d.findContainer(ref)
	if err != nil {
		return err
	}
	sig, err := parseSignal(signal)
	if err != nil {
		return err
	}
	_, rt, err := d.engines()
	if err != nil {
		return err
	}
	if st, err := rt.State(r.ID); err != nil || st.Status != runtime.Running && st.Status != runtime.Paused {
		return fmt.Errorf("container %s is not running: %w", r.Name, errdefs.ErrFailedPrecondition)
	}
	if err := rt.Kill(ctx, r.ID, sig); err != nil {
		return fmt.Errorf("kill %s: %w", r.Name, err)
	}
	ev := containerEvent(r, api.ActionKill, unix.SignalName(sig))
	d.events.publish(ev)
	return nil
}

// parseSignal reads a signal as docker takes it: "SIGTERM", "TERM",
// "term" or "15"; "" is SIGKILL.
func parseSignal(s string) (unix.Signal, error) {
	if s == "" {
		return unix.SIGKILL, nil
	}
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > 64 {
			return 0, fmt.Errorf("signal %s: want 1 to 64: %w", ident.Quote(s), errdefs.ErrInvalidArgument)
		}
		return unix.Signal(n), nil
	}
	sig := unix.SignalNum(normalizeSignal(s))
	if sig == 0 {
		return 0, fmt.Errorf("unknown signal %s: %w", ident.Quote(s), errdefs.ErrInvalidArgument)
	}
	return sig, nil
}

// RestartContainer stops a container (as StopContainer) and starts it
// again.
func (d *Daemon) RestartContainer(ctx context.Context, ref string, timeout *time.Duration) error {
	r, err := d.findContainer(ref)
	if err != nil {
		return err
	}
	grace := time.Duration(0)
	if timeout != nil {
		grace = max(*timeout, time.Nanosecond)
	}
	if err := d.stopContainer(ctx, r, grace, false); err != nil {
		return err
	}
	d.recordExit(r)
	if r, err = d.findContainer(r.ID); err != nil {
		return err
	}
	if err := d.startRecord(ctx, r); err != nil {
		return err
	}
	d.events.publish(containerEvent(r, api.ActionRestart, ""))
	return nil
}

// PauseContainer freezes the container's processes; UnpauseContainer
// thaws them.
func (d *Daemon) PauseContainer(ctx context.Context, ref string) error {
	return d.freeze(ref, true)
}

// UnpauseContainer thaws a paused container.
func (d *Daemon) UnpauseContainer(ctx context.Context, ref string) error {
	return d.freeze(ref, false)
}

func (d *Daemon) freeze(ref string, pause bool) error {
	r, err := d.findContainer(ref)
	if err != nil {
		return err
	}
	_, rt, err := d.engines()
	if err != nil {
		return err
	}
	st, err := rt.State(r.ID)
	switch {
	case err != nil || st.Status != runtime.Running && st.Status != runtime.Paused:
		return fmt.Errorf("container %s is not running: %w", r.Name, errdefs.ErrFailedPrecondition)
	case pause && st.Status == runtime.Paused:
		return fmt.Errorf("container %s is already paused: %w", r.Name, errdefs.ErrFailedPrecondition)
	case !pause && st.Status != runtime.Paused:
		return fmt.Errorf("container %s is not paused: %w", r.Name, errdefs.ErrFailedPrecondition)
	}
	action := api.ActionUnpause
	if pause {
		action, err = api.ActionPause, rt.Pause(r.ID)
	} else {
		err = rt.Resume(r.ID)
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", action, r.Name, err)
	}
	d.events.publish(containerEvent(r, action, ""))
	return nil
}

// RemoveContainer removes a container that does not run (or, with Force,
// kills it first) with everything it has: storage, network, log, and
// with Volumes its anonymous volumes.
func (d *Daemon) RemoveContainer(ctx context.Context, ref string, o RemoveOptions) error {
	r, err := d.findContainer(ref)
	if err != nil {
		return err
	}
	_, rt, err := d.engines()
	if err != nil {
		return err
	}
	if st, err := rt.State(r.ID); err == nil && (st.Status == runtime.Running || st.Status == runtime.Paused) {
		if !o.Force {
			return fmt.Errorf("container %s is running: stop it first, or force the removal: %w", r.Name, errdefs.ErrFailedPrecondition)
		}
		d.unsupervise(r.ID)
		if err := rt.Kill(ctx, r.ID, unix.SIGKILL); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
			return fmt.Errorf("kill %s: %w", r.Name, err)
		}
		if _, err := rt.Wait(ctx, r.ID); err == nil {
			d.recordExit(r)
		}
	}
	return d.removeRecordContainer(ctx, r, o)
}

// removeRecordContainer removes the container of r under its project's
// lock and reports it.
func (d *Daemon) removeRecordContainer(ctx context.Context, r *record, o RemoveOptions) error {
	unlock, err := d.lockProject(r.Project)
	if err != nil {
		return err
	}
	defer unlock()
	d.waitAttached(r.ID, 5*time.Second)
	d.forgetExecs(r.ID)
	if err := d.removeContainer(ctx, r); err != nil {
		return err
	}
	d.events.publish(containerEvent(r, api.ActionRemove, ""))
	if o.Volumes {
		if err := d.removeAnonymousVolumes(r); err != nil {
			d.log.Warn("remove the anonymous volumes", "container", r.Name, "err", err)
		}
	}
	return nil
}

// WatchContainer starts watching a container for cond and returns a
// function that waits until it holds. The watch is in place when
// WatchContainer returns, so a start that follows cannot be missed.
func (d *Daemon) WatchContainer(ref string, cond WaitCondition) (func(ctx context.Context) (WaitResult, error), error) {
	r, err := d.findContainer(ref)
	if err != nil {
		return nil, err
	}
	switch cond {
	case "":
		cond = WaitNotRunning
	case WaitNotRunning, WaitNextExit, WaitRemoved:
	default:
		return nil, fmt.Errorf("wait condition %s: want not-running, next-exit or removed: %w", ident.Quote(string(cond)), errdefs.ErrInvalidArgument)
	}
	ch, cancel := d.events.subscribe("")
	_, rt, err := d.engines()
	if err != nil {
		cancel()
		return nil, err
	}
	if cond == WaitNotRunning {
		if st, err := rt.State(r.ID); err != nil || st.Status != runtime.Running && st.Status != runtime.Paused && st.Status != runtime.Created {
			cancel()
			code := r.ExitCode
			if err == nil {
				code = st.ExitCode
			}
			return func(context.Context) (WaitResult, error) { return WaitResult{ExitCode: code}, nil }, nil
		}
	}
	id := r.ID
	return func(ctx context.Context) (WaitResult, error) {
		defer cancel()
		var res WaitResult
		for {
			select {
			case <-ctx.Done():
				return res, ctx.Err()
			case ev := <-ch:
				if ev.ID != id {
					continue
				}
				switch ev.Action {
				case api.ActionDie:
					if ev.ExitCode != nil {
						res.ExitCode = *ev.ExitCode
					}
					if cond != WaitRemoved {
						return res, nil
					}
				case api.ActionRemove:
					if cond == WaitRemoved {
						return res, nil
					}
					return res, fmt.Errorf("container %s was removed: %w", r.Name, errdefs.ErrNotFound)
				}
			}
		}
	}, nil
}

// ListContainers lists every container of the engine, in every project.
func (d *Daemon) ListContainers(ctx context.Context) ([]ContainerInfo, error) {
	_, rt, err := d.engines()
	if err != nil {
		return nil, err
	}
	recs := d.store.list("")
	out := make([]ContainerInfo, 0, len(recs))
	for _, r := range recs {
		out = append(out, d.containerInfo(rt, r, false))
	}
	return out, nil
}

// InspectContainer describes one container.
func (d *Daemon) InspectContainer(ctx context.Context, ref string) (ContainerInfo, error) {
	r, err := d.findContainer(ref)
	if err != nil {
		return ContainerInfo{}, err
	}
	_, rt, err := d.engines()
	if err != nil {
		return ContainerInfo{}, err
	}
	return d.containerInfo(rt, r, true), nil
}

// containerInfo is r with its runtime state; detail adds what costs a
// look at the network manager (MACs, gateways).
func (d *Daemon) containerInfo(rt containerRuntime, r *record, detail bool) ContainerInfo {
	c := ContainerInfo{
		ID: r.ID, Name: r.Name, Project: r.Project, Service: r.Service, Number: r.Number, OneOff: r.OneOff,
		Image: r.Image, ImageID: r.ImageID, Labels: r.Labels, Created: r.Created, Spec: r.Spec,
		Entrypoint: r.Entrypoint, Cmd: r.Cmd, User: r.User, ExposedPorts: r.ExposedPorts, OpenStdin: r.OpenStdin,
		AutoRemove: r.AutoRemove, Restart: r.Restart, StopSignal: r.StopSignal, StopTimeout: r.StopGrace,
		NetworkMode: r.NetworkMode, Health: r.Health, HealthOutput: r.HealthOutput, RestartCount: r.RestartCount,
		LogPath: r.Log.Path, NetNSPath: r.NetNS, ExitCode: r.ExitCode, FinishedAt: r.Finished,
	}
	if c.Project == standaloneProject {
		c.Project = ""
	}
	if c.StopTimeout == 0 {
		c.StopTimeout = defaultStopGrace
	}
	if h := r.Healthcheck; h != nil {
		c.Healthcheck = &HealthcheckInfo{Test: h.Test, Interval: h.Interval, Timeout: h.Timeout, StartPeriod: h.StartPeriod, StartInterval: h.StartInterval, Retries: h.Retries}
	}
	for _, p := range r.Ports {
		c.Ports = append(c.Ports, api.Port(p))
	}
	st, err := rt.State(r.ID)
	switch {
	case r.State == stateCreating:
		c.State = "created"
	case r.State == stateRemoving:
		c.State = "removing"
	case err != nil:
		c.State = "exited"
		if r.Run == 0 {
			c.State = "created"
		}
	case st.Status == runtime.Stopped || st.Status == runtime.Unknown:
		c.State, c.ExitCode, c.OOMKilled, c.Error = "exited", st.ExitCode, st.OOMKilled, st.Error
		c.StartedAt, c.FinishedAt = st.StartedAt, st.FinishedAt
	default:
		c.State, c.Pid, c.StartedAt = st.Status.String(), st.Pid, st.StartedAt
	}
	if c.State == "exited" && d.restartDue(r, c.ExitCode) {
		c.State = "restarting"
	}
	var status network.Status
	if detail {
		if nm, err := d.networks(); err == nil {
			status, _ = nm.Status(r.ID)
		}
	}
	for _, n := range sortedKeys(r.Networks) {
		ep := EndpointInfo{Network: n, NetworkID: networkID(n), IP: r.Networks[n], Aliases: r.Aliases[n],
			DNSNames: uniqueNames(append(r.dnsNames(), r.Aliases[n]...)...)}
		for _, e := range status.Endpoints {
			if e.Network == n {
				ep.PrefixLen, ep.Gateway, ep.MAC = e.IP.Bits(), e.Gateway.String(), e.MAC.String()
			}
		}
		c.Networks = append(c.Networks, ep)
	}
	c.Mounts = d.mountsOf(r)
	return c
}

// restartDue reports whether a container that exited with code is about
// to be started again by its restart policy.
func (d *Daemon) restartDue(r *record, code int) bool {
	if r.StoppedByUser || r.Run == 0 {
		return false
	}
	d.supMu.Lock()
	_, watched := d.supervisors[r.ID]
	d.supMu.Unlock()
	return watched && shouldRestart(r.Restart, code, r.RestartCount)
}

// mountsOf lists the mounts of r that its configuration asked for: binds,
// volumes and tmpfs, not the runtime's own (/proc, /dev, ...) nor the
// /etc files the daemon writes.
func (d *Daemon) mountsOf(r *record) []MountInfo {
	if r.Spec == nil {
		return nil
	}
	defaults := map[string]bool{}
	for _, m := range runtime.DefaultSpec("true").Mounts {
		defaults[m.Destination] = true
	}
	volRoot := d.volumeDir("") + "/"
	etcRoot := d.etcDir("") + "/"
	var out []MountInfo
	for _, m := range r.Spec.Mounts {
		if defaults[m.Destination] && m.Type != "bind" || strings.HasPrefix(m.Source, etcRoot) {
			continue // the runtime's own, and the /etc files
		}
		mi := MountInfo{Type: m.Type, Source: m.Source, Destination: m.Destination, ReadOnly: slices.Contains(m.Options, "ro")}
		if m.Type == "bind" {
			for _, o := range m.Options {
				if strings.HasSuffix(o, "private") || strings.HasSuffix(o, "shared") || strings.HasSuffix(o, "slave") {
					mi.Propagation = o
				}
			}
		}
		if rest, ok := strings.CutPrefix(m.Source, volRoot); ok {
			mi.Type, mi.Name = "volume", strings.Split(rest, "/")[0]
		}
		out = append(out, mi)
	}
	return out
}

// ResizeContainer sets the size of a container's terminal.
func (d *Daemon) ResizeContainer(ctx context.Context, ref string, width, height uint16) error {
	r, err := d.findContainer(ref)
	if err != nil {
		return err
	}
	if r.Spec == nil || r.Spec.Process == nil || !r.Spec.Process.Terminal {
		return fmt.Errorf("container %s has no terminal: %w", r.Name, errdefs.ErrFailedPrecondition)
	}
	_, rt, err := d.engines()
	if err != nil {
		return err
	}
	return rt.Resize(ctx, r.ID, width, height)
}

// PruneContainers removes every container that does not run and belongs
// to no project, or whose labels match keep (nil: all of them). It
// returns the IDs it removed.
func (d *Daemon) PruneContainers(ctx context.Context, match func(ContainerInfo) bool) ([]string, error) {
	cs, err := d.ListContainers(ctx)
	if err != nil {
		return nil, err
	}
	var removed []string
	var errs []error
	for _, c := range cs {
		if c.State != "exited" && c.State != "created" || match != nil && !match(c) {
			continue
		}
		if err := d.RemoveContainer(ctx, c.ID, RemoveOptions{}); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, c.ID)
	}
	return removed, errors.Join(errs...)
}

// attachments counts the clients attached to each container, so that a
// container removed at its exit (AutoRemove) waits until they have read
// all it wrote.
type attachments struct {
	mu sync.Mutex
	n  map[string]*sync.WaitGroup
}

func (a *attachments) add(id string) func() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.n == nil {
		a.n = map[string]*sync.WaitGroup{}
	}
	wg := a.n[id]
	if wg == nil {
		wg = &sync.WaitGroup{}
		a.n[id] = wg
	}
	wg.Add(1)
	return wg.Done
}

// waitAttached waits, at most limit, until no client is attached to the
// container id.
func (d *Daemon) waitAttached(id string, limit time.Duration) {
	d.attached.mu.Lock()
	wg := d.attached.n[id]
	delete(d.attached.n, id)
	d.attached.mu.Unlock()
	if wg == nil {
		return
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(limit):
	}
}

// ContainerSize is the bytes a container has written to its root
// filesystem (docker's SizeRw).
func (d *Daemon) ContainerSize(ctx context.Context, ref string) (int64, error) {
	r, err := d.findContainer(ref)
	if err != nil {
		return 0, err
	}
	storage, _, err := d.engines()
	if err != nil {
		return 0, err
	}
	u, err := storage.Usage(d.rootfsPath(r.ID))
	if err != nil {
		return 0, err
	}
	return u.Size, nil
}

// SubscribeEvents returns the events of the engine at or after since
// that it still keeps (the last 1024; none for a zero since), then a
// channel of every event from now on, every project's and container's,
// and a function that ends the subscription. A subscriber that does not
// keep up loses events.
func (d *Daemon) SubscribeEvents(since time.Time) ([]api.Event, <-chan api.Event, func()) {
	if since.IsZero() {
		since = time.Now().Add(time.Hour)
	}
	return d.events.subscribeSince(since)
}

// composeLabels are the labels of a container of project's service svc:
// the service's, and compose's, which Docker API clients read.
func composeLabels(project string, svc *spec.Service, number int, oneOff bool) map[string]string {
	l := maps.Clone(svc.Labels)
	if l == nil {
		l = map[string]string{}
	}
	l[LabelProject], l[LabelService], l[LabelContainerNumber] = project, svc.Name, strconv.Itoa(number)
	l[LabelOneOff] = "False"
	if oneOff {
		l[LabelOneOff] = "True"
	}
	return l
}

// imgConfig is the runtime configuration of image ref, zero when it
// cannot be read.
func imgConfig(ctx context.Context, d *Daemon, ref string) image.Config {
	in, err := d.images.Inspect(ctx, ref)
	if err != nil {
		return image.Config{}
	}
	return in.Config
}
