package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/stack-dev/stack/image"
	"github.com/stack-dev/stack/image/overlay"
	"github.com/stack-dev/stack/internal/errdefs"
	"github.com/stack-dev/stack/network"
	"github.com/stack-dev/stack/runtime"
)

// The fakes of the engines: they change nothing of the host and record
// every operation as a line of text in one log shared by the three, so a
// test of Up or Down compares what the daemon asked for, in order, with a
// want string (as network/nat's Fake does for the rules).

// opLog is the operation log the fakes share.
type opLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *opLog) add(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
}

// take returns the lines logged since the last take.
func (l *opLog) take() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := strings.Join(l.lines, "\n")
	l.lines = nil
	return out
}

// fakeRuntime is a containerRuntime whose containers are records in
// memory: they run until stopped, killed or told to exit.
type fakeRuntime struct {
	log *opLog
	mu  sync.Mutex
	// ctrs maps a container ID to its state.
	ctrs    map[string]*fakeContainer
	nextPid int
	// failCreate makes Create fail for containers whose hostname is a key.
	failCreate map[string]error
}

type fakeContainer struct {
	cfg    runtime.Config
	st     runtime.State
	exited chan struct{} // closed when the run ends
}

func newFakeRuntime(log *opLog) *fakeRuntime {
	return &fakeRuntime{log: log, ctrs: map[string]*fakeContainer{}, nextPid: 1000, failCreate: map[string]error{}}
}

func (f *fakeRuntime) Create(ctx context.Context, id string, cfg runtime.Config) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.ctrs[id]; ok {
		return fmt.Errorf("container %s: %w", id, errdefs.ErrAlreadyExists)
	}
	f.log.add("runtime create %s %s", id, strings.Join(cfg.Spec.Process.Args, " "))
	if err := f.failCreate[cfg.Spec.Hostname]; err != nil {
		return err
	}
	f.ctrs[id] = &fakeContainer{cfg: cfg, st: runtime.State{ID: id, Status: runtime.Created, CreatedAt: time.Now()}, exited: make(chan struct{})}
	return nil
}

func (f *fakeRuntime) get(id string) (*fakeContainer, error) {
	c, ok := f.ctrs[id]
	if !ok {
		return nil, fmt.Errorf("container %s: %w", id, errdefs.ErrNotFound)
	}
	return c, nil
}

func (f *fakeRuntime) Start(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := f.get(id)
	if err != nil {
		return err
	}
	if c.st.Status != runtime.Created {
		return fmt.Errorf("start %s: %s: %w", id, c.st.Status, errdefs.ErrFailedPrecondition)
	}
	f.nextPid++
	c.st.Status, c.st.Pid, c.st.StartedAt = runtime.Running, f.nextPid, time.Now()
	f.log.add("runtime start %s", id)
	return nil
}

func (f *fakeRuntime) State(id string) (runtime.State, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := f.get(id)
	if err != nil {
		return runtime.State{}, err
	}
	return c.st, nil
}

func (f *fakeRuntime) List() ([]runtime.State, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []runtime.State
	for _, c := range f.ctrs {
		out = append(out, c.st)
	}
	return out, nil
}

func (f *fakeRuntime) Wait(ctx context.Context, id string) (runtime.State, error) {
	f.mu.Lock()
	c, err := f.get(id)
	f.mu.Unlock()
	if err != nil {
		return runtime.State{}, err
	}
	select {
	case <-c.exited:
		return f.State(id)
	case <-ctx.Done():
		return runtime.State{}, ctx.Err()
	}
}

// exitLocked ends the run of c with code.
func (f *fakeRuntime) exitLocked(c *fakeContainer, code int) {
	if c.st.Status != runtime.Running && c.st.Status != runtime.Paused {
		return
	}
	c.st.Status, c.st.ExitCode, c.st.Pid, c.st.FinishedAt = runtime.Stopped, code, 0, time.Now()
	close(c.exited)
}

// exit makes the process of container id exit by itself with code.
func (f *fakeRuntime) exit(id string, code int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c, ok := f.ctrs[id]; ok {
		f.exitLocked(c, code)
	}
}

func (f *fakeRuntime) Kill(ctx context.Context, id string, sig unix.Signal) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := f.get(id)
	if err != nil {
		return err
	}
	f.log.add("runtime kill %s %s", id, unix.SignalName(sig))
	f.exitLocked(c, 128+int(sig))
	return nil
}

func (f *fakeRuntime) Stop(ctx context.Context, id string, sig unix.Signal, grace time.Duration) (runtime.State, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := f.get(id)
	if err != nil {
		return runtime.State{}, err
	}
	if c.st.Status == runtime.Running || c.st.Status == runtime.Paused {
		f.log.add("runtime stop %s %s %s", id, unix.SignalName(sig), grace)
		f.exitLocked(c, 128+int(sig))
	}
	return c.st, nil
}

func (f *fakeRuntime) Pause(id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := f.get(id)
	if err != nil {
		return err
	}
	f.log.add("runtime pause %s", id)
	c.st.Status = runtime.Paused
	return nil
}

func (f *fakeRuntime) Resume(id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := f.get(id)
	if err != nil {
		return err
	}
	f.log.add("runtime resume %s", id)
	c.st.Status = runtime.Running
	return nil
}

func (f *fakeRuntime) Delete(ctx context.Context, id string, force bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := f.get(id)
	if err != nil {
		return err
	}
	if !force && c.st.Status == runtime.Running {
		return fmt.Errorf("delete %s: running: %w", id, errdefs.ErrFailedPrecondition)
	}
	f.log.add("runtime delete %s", id)
	f.exitLocked(c, 137)
	delete(f.ctrs, id)
	return nil
}

func (f *fakeRuntime) Exec(ctx context.Context, id string, cfg runtime.ExecConfig) (process, error) {
	st, err := f.State(id)
	if err != nil {
		return nil, err
	}
	if st.Status != runtime.Running {
		return nil, fmt.Errorf("exec in %s: %s: %w", id, st.Status, errdefs.ErrFailedPrecondition)
	}
	f.log.add("runtime exec %s %s", id, strings.Join(cfg.Process.Args, " "))
	return fakeProcess{}, nil
}

// fakeProcess is an exec'd process that exits 0 at once.
type fakeProcess struct{}

func (fakeProcess) Console() *os.File        { return nil }
func (fakeProcess) Pid() int                 { return 1 }
func (fakeProcess) Signal(unix.Signal) error { return nil }
func (fakeProcess) Wait() (int, error)       { return 0, nil }

func (f *fakeRuntime) Attach(ctx context.Context, id string) (net.Conn, error) {
	return nil, fmt.Errorf("attach to %s: %w", id, errdefs.ErrNotImplemented)
}

func (f *fakeRuntime) Resize(ctx context.Context, id string, width, height uint16) error { return nil }

func (f *fakeRuntime) Stats(id string) (runtime.Stats, error) {
	_, err := f.State(id)
	return runtime.Stats{}, err
}

func (f *fakeRuntime) Pids(id string) ([]int, error) {
	st, err := f.State(id)
	return []int{st.Pid}, err
}

// AppliedLimits reports the limits as asked: the kernel of the fake
// applies everything.
func (f *fakeRuntime) AppliedLimits(id string) (runtime.Limits, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := f.get(id)
	if err != nil {
		return runtime.Limits{}, err
	}
	var l runtime.Limits
	if r := c.cfg.Spec.Linux.Resources; r != nil {
		if r.Memory != nil && r.Memory.Limit != nil {
			l.MemoryBytes = *r.Memory.Limit
		}
		if r.Pids != nil && r.Pids.Limit != nil {
			l.PidsMax = *r.Pids.Limit
		}
		if r.CPU != nil {
			if r.CPU.Quota != nil {
				l.CPUQuota = *r.CPU.Quota
			}
			if r.CPU.Period != nil {
				l.CPUPeriod = *r.CPU.Period
			}
			l.Cpuset = r.CPU.Cpus
		}
	}
	return l, nil
}

// fakeStorage is an overlay.Driver that makes an empty directory per
// container.
type fakeStorage struct{ log *opLog }

func (fakeStorage) Name() string { return "fake" }

func (s fakeStorage) Mount(ctx context.Context, dir string, layers []string) (string, error) {
	s.log.add("storage mount %s (%d layers)", filepath.Base(dir), len(layers))
	rootfs := filepath.Join(dir, "rootfs")
	if _, err := os.Stat(rootfs); err == nil {
		return rootfs, nil
	}
	if err := os.MkdirAll(rootfs, 0o755); err != nil {
		return "", err
	}
	// The layers copied over each other, lowest first: an overlay
	// without the kernel (whiteouts left out).
	for _, l := range layers {
		if err := copyTree(l, rootfs, image.IDShift{}); err != nil && !errors.Is(err, fs.ErrExist) {
			return "", err
		}
	}
	return rootfs, nil
}

// MountIDMapped is Mount: the fakes run nothing that would see owners.
func (s fakeStorage) MountIDMapped(ctx context.Context, dir string, layers []string, _ image.IDShift) (string, error) {
	return s.Mount(ctx, dir, layers)
}

func (s fakeStorage) Unmount(dir string) error {
	if _, err := os.Stat(dir); err == nil {
		s.log.add("storage unmount %s", filepath.Base(dir))
	}
	return nil
}

func (s fakeStorage) Remove(dir string) error {
	if _, err := os.Stat(dir); err == nil {
		s.log.add("storage remove %s", filepath.Base(dir))
	}
	return os.RemoveAll(dir)
}

func (fakeStorage) Usage(dir string) (overlay.Usage, error)                 { return overlay.Usage{}, nil }
func (fakeStorage) Diff(ctx context.Context, dir string, w io.Writer) error { return nil }

// fakeNetwork is a networker that hands out addresses of 10.0.N.0/24,
// N counting the networks.
type fakeNetwork struct {
	log      *opLog
	mu       sync.Mutex
	networks map[string]network.NetworkStatus
	ctrs     map[string]network.Status
	nextNet  int
}

func newFakeNetwork(log *opLog) *fakeNetwork {
	return &fakeNetwork{log: log, networks: map[string]network.NetworkStatus{}, ctrs: map[string]network.Status{}}
}

func (n *fakeNetwork) Networks() []network.NetworkStatus {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []network.NetworkStatus
	for _, s := range n.networks {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b network.NetworkStatus) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func (n *fakeNetwork) CreateNetwork(ctx context.Context, cfg network.NetworkConfig) (network.NetworkStatus, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if s, ok := n.networks[cfg.Name]; ok {
		return s, nil
	}
	if cfg.External {
		return network.NetworkStatus{}, fmt.Errorf("external network %q: %w", cfg.Name, errdefs.ErrNotFound)
	}
	n.nextNet++
	subnet := netip.MustParsePrefix(fmt.Sprintf("10.0.%d.0/24", n.nextNet))
	s := network.NetworkStatus{Name: cfg.Name, Bridge: fmt.Sprintf("br%d", n.nextNet), Subnet: subnet,
		Gateway: subnet.Addr().Next(), Internal: cfg.Internal, Labels: cfg.Labels}
	n.networks[cfg.Name] = s
	n.log.add("network create %s", cfg.Name)
	return s, nil
}

func (n *fakeNetwork) RemoveNetwork(ctx context.Context, name string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.networks[name]; !ok {
		return nil
	}
	for id, st := range n.ctrs {
		for _, ep := range st.Endpoints {
			if ep.Network == name {
				return fmt.Errorf("remove network %q: in use by %s: %w", name, id, errdefs.ErrFailedPrecondition)
			}
		}
	}
	delete(n.networks, name)
	n.log.add("network remove %s", name)
	return nil
}

func (n *fakeNetwork) Setup(ctx context.Context, cfg network.AttachConfig) (network.Status, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.ctrs[cfg.ContainerID]; ok {
		return network.Status{}, fmt.Errorf("set up network of %q: %w", cfg.ContainerID, errdefs.ErrAlreadyExists)
	}
	st := network.Status{NetNSPath: cfg.NetNSPath}
	if st.NetNSPath == "" {
		st.NetNSPath = "/run/fake/netns/" + cfg.ContainerID
	}
	var desc []string
	for i, ep := range cfg.Networks {
		ns, ok := n.networks[ep.Network]
		if !ok {
			return network.Status{}, fmt.Errorf("network %q: %w", ep.Network, errdefs.ErrNotFound)
		}
		used := 1
		for _, other := range n.ctrs {
			for _, e := range other.Endpoints {
				if e.Network == ep.Network {
					used++
				}
			}
		}
		addr := ns.Subnet.Addr()
		for range used + 1 {
			addr = addr.Next()
		}
		st.Endpoints = append(st.Endpoints, network.Endpoint{Network: ep.Network, Interface: fmt.Sprintf("eth%d", i),
			IP: netip.PrefixFrom(addr, 24), Gateway: ns.Gateway, DNS: netip.AddrPortFrom(ns.Gateway, 53)})
		desc = append(desc, fmt.Sprintf("%s names=%s", ep.Network, strings.Join(slices.Concat(ep.DNSNames, ep.Aliases), ",")))
	}
	for _, p := range cfg.Ports {
		hostPort := p.HostPort
		if hostPort == 0 {
			hostPort = 49152 + p.ContainerPort
		}
		st.Ports = append(st.Ports, network.PortBinding{Protocol: p.Protocol, HostIP: p.HostIP, HostPort: hostPort, ContainerPort: p.ContainerPort})
		desc = append(desc, fmt.Sprintf("port %d:%d/%s", hostPort, p.ContainerPort, p.Protocol))
	}
	if cfg.NetNSPath != "" {
		desc = append(desc, "joins "+filepath.Base(cfg.NetNSPath))
	}
	n.ctrs[cfg.ContainerID] = st
	n.log.add("network setup %s %s", cfg.ContainerID, strings.Join(desc, " "))
	return st, nil
}

func (n *fakeNetwork) Status(id string) (network.Status, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	st, ok := n.ctrs[id]
	if !ok {
		return network.Status{}, fmt.Errorf("network of container %q: %w", id, errdefs.ErrNotFound)
	}
	return st, nil
}

func (n *fakeNetwork) Teardown(ctx context.Context, id string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.ctrs[id]; ok {
		n.log.add("network teardown %s", id)
		delete(n.ctrs, id)
	}
	return nil
}

func (n *fakeNetwork) Plug(ctx context.Context, id, path string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.ctrs[id]; !ok {
		return fmt.Errorf("plug %s: %w", id, errdefs.ErrNotFound)
	}
	n.log.add("network plug %s", id)
	return nil
}

func (n *fakeNetwork) Connect(ctx context.Context, id string, ep network.EndpointConfig) (network.Endpoint, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	st, ok := n.ctrs[id]
	if !ok {
		return network.Endpoint{}, fmt.Errorf("connect %q: %w", id, errdefs.ErrNotFound)
	}
	ns, ok := n.networks[ep.Network]
	if !ok {
		return network.Endpoint{}, fmt.Errorf("network %q: %w", ep.Network, errdefs.ErrNotFound)
	}
	e := network.Endpoint{Network: ep.Network, Interface: fmt.Sprintf("eth%d", len(st.Endpoints)),
		IP: netip.PrefixFrom(ns.Subnet.Addr().Next().Next(), 24), Gateway: ns.Gateway}
	st.Endpoints = append(st.Endpoints, e)
	n.ctrs[id] = st
	n.log.add("network connect %s %s names=%s", id, ep.Network, strings.Join(slices.Concat(ep.DNSNames, ep.Aliases), ","))
	return e, nil
}

func (n *fakeNetwork) Disconnect(ctx context.Context, id, name string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	st, ok := n.ctrs[id]
	if !ok {
		return fmt.Errorf("disconnect %q: %w", id, errdefs.ErrNotFound)
	}
	st.Endpoints = slices.DeleteFunc(st.Endpoints, func(e network.Endpoint) bool { return e.Network == name })
	n.ctrs[id] = st
	n.log.add("network disconnect %s %s", id, name)
	return nil
}

func (n *fakeNetwork) Sweep(ctx context.Context, live network.Live) error { return nil }
func (n *fakeNetwork) Close() error                                       { return nil }

// fakeEngines is a daemon on fakes, with a busybox-like image named
// "busybox" in its (real) image store, and its operation log. Container
// IDs count up: c1, c2, ...
type fakeEngines struct {
	d   *Daemon
	log *opLog
	rt  *fakeRuntime
	net *fakeNetwork
}

func newFakeDaemon(t *testing.T) *fakeEngines {
	t.Helper()
	log := &opLog{}
	rt, nw := newFakeRuntime(log), newFakeNetwork(log)
	d, err := newDaemon(Config{StateRoot: t.TempDir()}, &engineOpeners{
		storage: func() (overlay.Driver, error) { return fakeStorage{log}, nil },
		runtime: func() (containerRuntime, error) { return rt, nil },
		network: func() (networker, error) { return nw, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	n := 0
	d.newID = func() string {
		mu.Lock()
		defer mu.Unlock()
		n++
		return fmt.Sprintf("c%d", n)
	}
	t.Cleanup(func() { d.Close() })
	rootfs := t.TempDir()
	for _, dir := range []string{"bin", "etc", "data"} {
		if err := os.MkdirAll(filepath.Join(rootfs, dir), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\n", "etc/group": "root:x:0:\n", "data/seed": "from the image\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(rootfs, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := d.images.ImportRootfs(context.Background(), "busybox", image.RootfsOptions{
		Dir: rootfs, Config: image.Config{Cmd: []string{"sh"}},
	}); err != nil {
		t.Fatal(err)
	}
	return &fakeEngines{d: d, log: log, rt: rt, net: nw}
}
