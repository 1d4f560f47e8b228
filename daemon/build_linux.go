package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/stack-dev/stack/api"
	"github.com/stack-dev/stack/internal/errdefs"
	"github.com/stack-dev/stack/network"
	"github.com/stack-dev/stack/runtime"
	"github.com/stack-dev/stack/spec"
)

// buildDir holds the builder's cache and kept layers under the state root.
const buildDir = "build"

// buildStepPrefix starts the ID of every container a build runs a RUN
// step in: the sweep of orphans leaves them to their build while the
// daemon runs.
const buildStepPrefix = "build-"

// Build builds an image from a Dockerfile, sending progress to emit. The
// builder runs as a process of its own for each build (buildworker_linux.go),
// as BuildKit runs beside dockerd: the resident daemon links neither it nor
// buildkit's Dockerfile parser, which brings protobuf with it, and what a
// build allocates leaves with its process. The daemon runs the RUN steps
// the worker asks for, as containers of its runtime, and the pulls.
func (d *Daemon) Build(ctx context.Context, req api.BuildRequest, emit func(api.BuildEvent)) (api.BuildEvent, error) {
	defer releaseMemory()
	storage, _, err := d.engines()
	if err != nil {
		return api.BuildEvent{}, err
	}
	exec := &buildExecutor{d: d}
	defer exec.close()
	final, err := d.runBuildWorker(ctx, req, storage, exec, emit)
	if err != nil {
		return api.BuildEvent{}, fmt.Errorf("build: %w", err)
	}
	return final, nil
}

// buildService builds the image of a service with build:, tagged as
// compose tags it (ref).
func (d *Daemon) buildService(ctx context.Context, p *spec.Project, svc *spec.Service, ref string, ev emitFunc) error {
	bs := svc.Build
	ctxDir := bs.Context
	if ctxDir == "" {
		ctxDir = "."
	}
	if !filepath.IsAbs(ctxDir) {
		ctxDir = filepath.Join(p.WorkingDir, ctxDir)
	}
	tags := append([]string{ref}, bs.Tags...)
	labels := bs.Labels
	req := api.BuildRequest{
		Context: ctxDir, Dockerfile: bs.Dockerfile, DockerfileInline: bs.DockerfileInline,
		Args: bs.Args, Target: bs.Target, Tags: tags, Labels: labels, NoCache: bs.NoCache,
		Pull: svc.BuildPull(),
	}
	ev(api.Event{Service: svc.Name, Type: api.TypeImage, Image: ref, Action: api.ActionBuild, Message: "building " + ref})
	start := time.Now()
	res, err := d.Build(ctx, req, func(e api.BuildEvent) {
		if e.Kind == "done" {
			msg := fmt.Sprintf("[%d/%d] %s (%.1fs)", e.Step, e.Total, e.Instruction, e.Duration.Seconds())
			if e.Cached {
				msg = fmt.Sprintf("[%d/%d] CACHED %s", e.Step, e.Total, e.Instruction)
			}
			ev(api.Event{Service: svc.Name, Type: api.TypeImage, Image: ref, Action: api.ActionBuildStep, Message: msg})
		}
	})
	if err != nil {
		return fmt.Errorf("build image %s: %w", ref, err)
	}
	ev(api.Event{Service: svc.Name, Type: api.TypeImage, Image: ref, ID: res.Image.ID, Action: api.ActionBuilt, Message: fmt.Sprintf("%s %s in %.1fs (%d of %d layer steps cached)",
		ref, res.Image.ID, time.Since(start).Seconds(), res.CachedSteps, res.Steps)})
	return nil
}

// buildExecutor runs RUN steps as containers of the daemon's runtime, on
// a network of their own with NAT to the outside (apt-get must reach its
// mirror), created at the first RUN of a build and removed with it.
type buildExecutor struct {
	d      *Daemon
	mu     sync.Mutex
	net    string
	netErr error
}

// network creates the build's network on first use.
func (e *buildExecutor) network(ctx context.Context) (networker, string, error) {
	nm, err := e.d.networks()
	if err != nil {
		return nil, "", err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.net == "" && e.netErr == nil {
		name := "stack-build-" + newContainerID()[:12]
		if _, err := nm.CreateNetwork(ctx, network.NetworkConfig{Name: name, Labels: map[string]string{"stack.build": "1"}}); err != nil {
			e.netErr = fmt.Errorf("create build network: %w", err)
		} else {
			e.net = name
		}
	}
	return nm, e.net, e.netErr
}

func (e *buildExecutor) close() {
	if e.net == "" {
		return
	}
	if nm, err := e.d.networks(); err == nil {
		if err := nm.RemoveNetwork(context.Background(), e.net); err != nil {
			e.d.log.Warn("remove build network", "network", e.net, "err", err)
		}
	}
}

// Run runs one RUN step, copies its output to out and returns its exit
// code. The files
// /etc/hosts, /etc/hostname and /etc/resolv.conf are bind-mounted for the
// step only; when the image lacks them, the empty mount points made for
// them are removed again so that they stay out of the layer.
func (e *buildExecutor) Run(ctx context.Context, rs buildStep, out io.Writer) (exitCode int, retErr error) {
	d := e.d
	_, rt, err := d.engines()
	if err != nil {
		return 0, err
	}
	nm, netName, err := e.network(ctx)
	if err != nil {
		return 0, err
	}
	id := buildStepPrefix + newContainerID()[:16]
	s := runtime.DefaultSpec(rs.Args...)
	u, err := runtime.ResolveUser(rs.Rootfs, rs.User)
	if err != nil {
		return 0, fmt.Errorf("user %q: %w", rs.User, err)
	}
	s.Process.User = u.Spec()
	s.Process.Env = rs.Env
	if !hasEnv(rs.Env, "HOME") && u.Home != "" {
		s.Process.Env = append(s.Process.Env, "HOME="+u.Home)
	}
	s.Process.Cwd = rs.WorkDir
	hostname := shortContainerID(id)
	s.Hostname = hostname

	st, err := nm.Setup(ctx, network.AttachConfig{ContainerID: id, Networks: []network.EndpointConfig{{Network: netName}}})
	if err != nil {
		return 0, fmt.Errorf("attach build step to its network: %w", err)
	}
	r := &record{ID: id}
	defer func() {
		retErr = errors.Join(retErr, d.detachNetwork(context.WithoutCancel(ctx), r))
	}()
	var mounts []specs.Mount
	{
		gw, dnsAddr := st.Endpoints[0].Gateway, st.Endpoints[0].DNS.Addr()
		addr := st.Endpoints[0].IP.Addr()
		mounts, err = d.writeEtc(r, &spec.Service{Name: "build"}, hostname, []netip.Addr{addr}, gw, dnsAddr)
		if err != nil {
			return 0, err
		}
	}
	for _, m := range mounts {
		p := filepath.Join(rs.Rootfs, m.Destination)
		if _, err := os.Lstat(p); errors.Is(err, os.ErrNotExist) {
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return 0, err
			}
			if f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644); err == nil {
				f.Close()
				defer os.Remove(p)
			}
		}
	}
	s.Mounts = append(s.Mounts, mounts...)
	// The step's output goes through a file outside the state root: a
	// step that fills the state root (dd, a big download) must still show
	// why it failed.
	logPath := filepath.Join(os.TempDir(), "stack-"+id+".log")
	defer os.Remove(logPath)
	if err := rt.Create(ctx, id, runtime.Config{Spec: s, Rootfs: rs.Rootfs, NetNS: st.NetNSPath, Log: runtime.LogConfig{Path: logPath}}); err != nil {
		return 0, fmt.Errorf("create build step container: %w", err)
	}
	defer func() {
		if err := rt.Delete(context.WithoutCancel(ctx), id, true); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
			retErr = errors.Join(retErr, err)
		}
	}()
	done := make(chan struct{})
	followed := make(chan struct{})
	go func() {
		defer close(followed)
		followLog(logPath, out, done)
	}()
	if err := rt.Start(ctx, id); err != nil {
		close(done)
		<-followed
		return 0, fmt.Errorf("start build step: %w", err)
	}
	final, err := rt.Wait(ctx, id)
	close(done)
	<-followed
	if err != nil {
		return 0, fmt.Errorf("wait for build step: %w", err)
	}
	if final.Error != "" {
		return 0, fmt.Errorf("run %s: %s: %w", strings.Join(rs.Args, " "), final.Error, errdefs.ErrFailedPrecondition)
	}
	return final.ExitCode, nil
}

func hasEnv(env []string, k string) bool {
	for _, e := range env {
		if strings.HasPrefix(e, k+"=") {
			return true
		}
	}
	return false
}

// followLog copies the log lines of a running step to w as they are
// written, until done is closed and the log is drained.
func followLog(path string, w io.Writer, done <-chan struct{}) {
	var f *os.File
	defer func() {
		if f != nil {
			f.Close()
		}
	}()
	var pending []byte
	buf := make([]byte, 64<<10)
	drain := func() {
		if f == nil {
			var err error
			if f, err = os.Open(path); err != nil {
				f = nil
				return
			}
		}
		for {
			n, _ := f.Read(buf)
			if n == 0 {
				break
			}
			pending = append(pending, buf[:n]...)
		}
		for {
			i := strings.IndexByte(string(pending), '\n')
			if i < 0 {
				break
			}
			_ = runtime.DecodeLogs(strings.NewReader(string(pending[:i+1])), func(e runtime.LogEntry) error {
				_, err := io.WriteString(w, e.Log)
				return err
			})
			pending = pending[i+1:]
		}
	}
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-done:
			drain()
			return
		case <-t.C:
			drain()
		}
	}
}

// handleBuild answers POST /build with a stream of [api.BuildEvent]s,
// the last carrying the image or the error. A client that goes away
// cancels the build.
func (d *Daemon) handleBuild(w http.ResponseWriter, r *http.Request) {
	var req api.BuildRequest
	if err := decodeJSON(r, &req); err != nil {
		api.WriteError(w, err)
		return
	}
	stream(w, func(send func(any) error) error {
		final, err := d.Build(r.Context(), req, func(e api.BuildEvent) { send(e) })
		if err != nil {
			return err
		}
		return send(final)
	})
}

// ensureBuilt builds the image of a service with build: when it is not
// here, or always when force is set (up --build). A changed image then
// recreates the service's containers, through the planner's image check.
func (d *Daemon) ensureBuilt(ctx context.Context, p *spec.Project, svc *spec.Service, ref string, force bool, emit func(api.Event)) error {
	if svc.Build == nil {
		return nil
	}
	if !force {
		if _, err := d.images.Get(ctx, ref); err == nil {
			return nil
		}
	}
	return d.buildService(ctx, p, svc, ref, projectEmitter(d.events, p.Name, emit))
}
