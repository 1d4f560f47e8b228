package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/stack-dev/stack/image"
	"github.com/stack-dev/stack/internal/errdefs"
	"github.com/stack-dev/stack/runtime"
	"github.com/stack-dev/stack/spec"
)

// rootfsDir is where a container's storage (overlay upper and work dirs,
// mount point) lives, and logsDir its log across runs.
const (
	rootfsDir = "rootfs"
	logsDir   = "logs"
)

// defaultStopGrace is Docker's stop timeout.
const defaultStopGrace = 10 * time.Second

// createContainer assembles the container of record r: its root
// filesystem from the image's layers, its volumes and network, and its
// OCI spec, then creates it in the runtime, ready to start. command
// replaces the service's command (stack run). On error nothing of it is
// left behind.
func (d *Daemon) createContainer(ctx context.Context, p *spec.Project, r *record, svc *spec.Service, command []string) (retErr error) {
	storage, rt, err := d.engines()
	if err != nil {
		return err
	}
	img, err := d.images.Rootfs(ctx, r.Image)
	if err != nil {
		if errors.Is(err, errdefs.ErrNotFound) {
			return fmt.Errorf("image %s is not here: import it with `stack image import`: %w", r.Image, err)
		}
		return fmt.Errorf("image %s: %w", r.Image, err)
	}
	if r.ImageID == "" {
		r.ImageID = img.ID.String()
	}
	dir := d.rootfsPath(r.ID)
	if err := os.MkdirAll(filepath.Dir(dir), 0o711); err != nil {
		return fmt.Errorf("create container %s: %w", r.Name, err)
	}
	useNS, err := d.serviceUserNS(p, svc)
	if err != nil {
		return err
	}
	if useNS && r.UserNS == nil {
		// Recorded before anything of the container uses it.
		pool, err := d.usernsPool()
		if err != nil {
			return fmt.Errorf("create container %s: %w", r.Name, err)
		}
		if err := d.store.allocateUserNS(r, pool); err != nil {
			return fmt.Errorf("create container %s: %w", r.Name, err)
		}
	}
	var shift image.IDShift
	var rootfs string
	if r.UserNS != nil {
		shift = r.UserNS.shift()
		rootfs, err = storage.MountIDMapped(ctx, dir, img.Layers, shift)
	} else {
		rootfs, err = storage.Mount(ctx, dir, img.Layers)
	}
	if err != nil {
		return fmt.Errorf("create container %s: mount rootfs: %w", r.Name, err)
	}
	defer func() {
		if retErr != nil {
			retErr = errors.Join(retErr, storage.Unmount(dir), storage.Remove(dir))
		}
	}()
	if err := d.anonymousVolumes(r, anonymousTargets(svc, img.Config)); err != nil {
		return fmt.Errorf("service %q: %w", svc.Name, err)
	}
	mounts, err := d.serviceMounts(p, svc, rootfs, r, shift)
	if err != nil {
		return err
	}
	files, err := d.fileMounts(p, svc, r.ID)
	if err != nil {
		return err
	}
	mounts = append(mounts, files...)
	net, err := d.attachNetwork(ctx, p, r, svc)
	if err != nil {
		return err
	}
	defer func() {
		if retErr != nil {
			retErr = errors.Join(retErr, d.detachNetwork(context.WithoutCancel(ctx), r))
		}
	}()
	mounts = append(mounts, net.mounts...)
	s, err := buildSpec(specInput{
		Service:  svc,
		Image:    img.Config,
		Rootfs:   rootfs,
		Hostname: shortContainerID(r.ID),
		Mounts:   mounts,
		Command:  command,
	})
	if err != nil {
		return err
	}
	if r.UserNS != nil {
		withUserNS(s, r.UserNS)
	}
	if r.StopSignal == "" {
		r.StopSignal = img.Config.StopSignal
	}
	r.Spec, r.Rootfs, r.NetNS = s, rootfs, net.netns
	r.Init = svc.Init != nil && *svc.Init
	r.Entrypoint, r.Cmd = commandParts(svc, img.Config, command)
	r.User, r.ExposedPorts, r.NetworkMode = svc.User, exposedPorts(svc, img.Config), svc.NetworkMode
	r.Healthcheck = healthcheckOf(svc, img.Config)
	var logOpts map[string]string
	if svc.Logging != nil {
		logOpts = svc.Logging.Options
	}
	if r.Log, err = d.logConfig(r, logOpts); err != nil {
		return fmt.Errorf("service %q: %w: %w", svc.Name, err, errdefs.ErrInvalidArgument)
	}
	if err := os.MkdirAll(filepath.Dir(r.Log.Path), 0o700); err != nil {
		return fmt.Errorf("create container %s: %w", r.Name, err)
	}
	if err := rt.Create(ctx, r.ID, r.runtimeConfig()); err != nil {
		return fmt.Errorf("create container %s: %w", r.Name, err)
	}
	return nil
}

// runtimeConfig is what the runtime needs to create the container of r
// (again, for each run). The containers of a project share one shim
// process.
func (r *record) runtimeConfig() runtime.Config {
	group := r.Project
	if group == standaloneProject {
		// The containers of no project share one shim too, under a
		// name no project can have (projects are lowercase).
		group = "Standalone"
	}
	return runtime.Config{Spec: r.Spec, Rootfs: r.Rootfs, NetNS: r.NetNS, Init: r.Init, Log: r.Log, Group: group}
}

func (d *Daemon) rootfsPath(id string) string { return filepath.Join(d.cfg.StateRoot, rootfsDir, id) }
func (d *Daemon) logPath(id string) string    { return filepath.Join(d.cfg.StateRoot, logsDir, id+".log") }

// startRecord starts the container of r. A runtime container runs once,
// so a container that ran before is created again from its saved spec,
// on the same root filesystem: its writes survive a restart, as in
// Docker. The finished run's log is kept first.
func (d *Daemon) startRecord(ctx context.Context, r *record) error {
	_, rt, err := d.engines()
	if err != nil {
		return err
	}
	st, err := rt.State(r.ID)
	switch {
	case errors.Is(err, errdefs.ErrNotFound):
		if err := rt.Create(ctx, r.ID, r.runtimeConfig()); err != nil {
			return fmt.Errorf("start container %s: %w", r.Name, err)
		}
	case err != nil:
		return err
	case st.Status == runtime.Running || st.Status == runtime.Paused:
		return nil
	case st.Status != runtime.Created:
		// A runtime container runs once: delete the finished run (its
		// log is the container's, outside the runtime's state).
		if err := rt.Delete(ctx, r.ID, true); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
			return fmt.Errorf("delete finished run of %s: %w", r.Name, err)
		}
		if err := rt.Create(ctx, r.ID, r.runtimeConfig()); err != nil {
			return fmt.Errorf("start container %s: %w", r.Name, err)
		}
	}
	if r.UserNS != nil {
		// Its network namespace is the run's own: wire it now.
		if err := d.plugNetwork(ctx, r); err != nil {
			return fmt.Errorf("start container %s: %w", r.Name, err)
		}
	}
	if err := rt.Start(ctx, r.ID); err != nil {
		return fmt.Errorf("start container %s: %w", r.Name, err)
	}
	updated, err := d.updateRecord(r.Project, r.Name, func(c *record) error {
		if c.ID != r.ID {
			return errStale
		}
		c.StoppedByUser = false
		c.Run++
		c.Health = ""
		if c.Healthcheck != nil {
			c.Health = "starting"
		}
		// What the caller counted (a restart) goes in too.
		c.RestartCount = max(c.RestartCount, r.RestartCount)
		return nil
	})
	if updated == nil {
		return err
	}
	if err != nil {
		// It runs: a record the disk refused (full) stands in memory.
		d.log.Warn("record a start", "container", r.Name, "err", err)
	}
	*r = *updated
	d.supervise(r)
	return nil
}

// stopContainer stops a container with its stop signal, killing it after
// the grace period (the service's, or Docker's 10s, unless grace is set).
// byUser keeps it stopped whatever its restart policy.
func (d *Daemon) stopContainer(ctx context.Context, r *record, grace time.Duration, byUser bool) error {
	_, rt, err := d.engines()
	if err != nil {
		return err
	}
	d.unsupervise(r.ID)
	if byUser && !r.StoppedByUser {
		// Best effort: a container that is being removed needs no
		// record of it, and a full disk must not keep it running.
		if _, err := d.updateRecord(r.Project, r.Name, func(c *record) error { c.StoppedByUser = true; return nil }); err != nil {
			d.log.Warn("record a stop", "container", r.Name, "err", err)
		}
		r.StoppedByUser = true
	}
	if grace == 0 {
		grace = r.StopGrace
	}
	if grace == 0 {
		grace = defaultStopGrace
	}
	sig := unix.SIGTERM
	if r.StopSignal != "" {
		if s := unix.SignalNum(normalizeSignal(r.StopSignal)); s != 0 {
			sig = s
		}
	}
	if _, err := rt.Stop(ctx, r.ID, sig, grace); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
		return fmt.Errorf("stop container %s: %w", r.Name, err)
	}
	return nil
}

// normalizeSignal turns "TERM", "sigterm" or "SIGTERM" into "SIGTERM".
func normalizeSignal(s string) string {
	s = strings.ToUpper(s)
	if !strings.HasPrefix(s, "SIG") {
		s = "SIG" + s
	}
	return s
}

// removeContainer deletes a container: its processes, runtime state,
// cgroup, network, storage, /etc files and log, then its record. Every
// step is idempotent and works from the container's ID alone, so it
// finishes the removal of a container whatever a crash left of it (a dead
// shim, a half-removed state directory, a record written before anything
// existed). It writes nothing before it frees (the record's removing mark
// is best effort), so it works on a full disk. It goes on after a failed
// step and keeps the record until every step succeeded: the next down, or
// the daemon's next start, tries again.
func (d *Daemon) removeContainer(ctx context.Context, r *record) error {
	storage, rt, err := d.engines()
	if err != nil {
		return err
	}
	d.unsupervise(r.ID)
	if r.State != stateRemoving {
		r.State = stateRemoving
		if err := d.store.put(r, false); err != nil {
			d.log.Warn("mark a removal", "container", r.Name, "err", err)
		}
	}
	dir := d.rootfsPath(r.ID)
	var errs []error
	if err := rt.Delete(ctx, r.ID, true); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
		errs = append(errs, err)
	}
	errs = append(errs, d.detachNetwork(ctx, r), storage.Unmount(dir), storage.Remove(dir))
	errs = append(errs, os.RemoveAll(d.fileMountsDir(r.ID)))
	for _, f := range append(r.Log.Files(), d.logPath(r.ID)) {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("remove container %s: %w", r.Name, err)
	}
	if err := d.removeRecord(r); err != nil {
		return fmt.Errorf("remove container %s: %w", r.Name, err)
	}
	return nil
}

// serviceMounts turns the service's volumes into OCI mounts: binds,
// tmpfs, and named or anonymous volumes (r.AnonVolumes, the image's VOLUME
// paths among them), which are created on first use and filled from the
// image's content at their target (Docker's behaviour, which database
// images rely on).
func (d *Daemon) serviceMounts(p *spec.Project, svc *spec.Service, rootfs string, r *record, shift image.IDShift) ([]specs.Mount, error) {
	var mounts []specs.Mount
	volumes := slices.Clone(svc.Volumes)
	for _, t := range sortedKeys(r.AnonVolumes) {
		if !slices.ContainsFunc(volumes, func(v spec.ServiceVolume) bool { return path.Clean(v.Target) == t }) {
			volumes = append(volumes, spec.ServiceVolume{Type: spec.VolumeTypeVolume, Target: t})
		}
	}
	for _, v := range volumes {
		ro := func(opts []string) []string {
			if v.ReadOnly {
				return append(opts, "ro")
			}
			return opts
		}
		switch v.Type {
		case spec.VolumeTypeBind:
			prop := "rprivate"
			if v.Bind != nil && v.Bind.Propagation != "" {
				prop = v.Bind.Propagation
			}
			if v.Bind != nil && v.Bind.CreateHostPath {
				if _, err := os.Stat(v.Source); errors.Is(err, os.ErrNotExist) {
					if err := os.MkdirAll(v.Source, 0o755); err != nil {
						return nil, fmt.Errorf("service %q: create bind source %s: %w", svc.Name, v.Source, err)
					}
				}
			}
			if err := d.relabel(svc, r, v); err != nil {
				return nil, err
			}
			mounts = append(mounts, specs.Mount{Destination: v.Target, Type: "bind", Source: v.Source, Options: ro([]string{"rbind", prop})})
		case spec.VolumeTypeTmpfs:
			opts := []string{"nosuid", "nodev", "noexec"}
			if v.Tmpfs != nil && v.Tmpfs.Size > 0 {
				opts = append(opts, fmt.Sprintf("size=%d", v.Tmpfs.Size))
			}
			if v.Tmpfs != nil && v.Tmpfs.Mode != 0 {
				opts = append(opts, fmt.Sprintf("mode=%o", v.Tmpfs.Mode))
			}
			mounts = append(mounts, specs.Mount{Destination: v.Target, Type: "tmpfs", Source: "tmpfs", Options: ro(opts)})
		case spec.VolumeTypeVolume:
			name := r.AnonVolumes[path.Clean(v.Target)]
			if v.Source != "" {
				name = p.Volumes[v.Source].Name
			}
			data, err := d.volumeData(name, rootfs, v, shift)
			if err != nil {
				return nil, fmt.Errorf("service %q: volume %s: %w", svc.Name, name, err)
			}
			mounts = append(mounts, specs.Mount{Destination: v.Target, Type: "bind", Source: data, Options: ro([]string{"rbind", "rprivate"})})
		}
	}
	return mounts, nil
}

// shortContainerID is the hostname Docker gives a container that sets
// none: the first 12 characters of its id.
func shortContainerID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
