package daemon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/stack-dev/stack/api"
	"github.com/stack-dev/stack/image"
	"github.com/stack-dev/stack/internal/errdefs"
	"github.com/stack-dev/stack/internal/ident"
	"github.com/stack-dev/stack/network"
	"github.com/stack-dev/stack/runtime"
	"github.com/stack-dev/stack/spec"
)

// healthConfig is a container's health check, the service's over the
// image's, with Docker's defaults filled in.
type healthConfig struct {
	Test          []string      `json:"test"`
	Interval      time.Duration `json:"interval"`
	Timeout       time.Duration `json:"timeout"`
	StartPeriod   time.Duration `json:"start_period"`
	StartInterval time.Duration `json:"start_interval"`
	Retries       int           `json:"retries"`
}

// healthcheckOf merges a service's healthcheck over its image's; nil when
// there is none or it is disabled.
func healthcheckOf(svc *spec.Service, img image.Config) *healthConfig {
	h := &healthConfig{Interval: 30 * time.Second, Timeout: 30 * time.Second, StartInterval: 5 * time.Second, Retries: 3}
	if ih := img.Healthcheck; ih != nil {
		h.Test = ih.Test
		if ih.Interval > 0 {
			h.Interval = ih.Interval
		}
		if ih.Timeout > 0 {
			h.Timeout = ih.Timeout
		}
		if ih.StartPeriod > 0 {
			h.StartPeriod = ih.StartPeriod
		}
		if ih.StartInterval > 0 {
			h.StartInterval = ih.StartInterval
		}
		if ih.Retries > 0 {
			h.Retries = ih.Retries
		}
	}
	if sh := svc.Healthcheck; sh != nil {
		if sh.Disable {
			return nil
		}
		if len(sh.Test) > 0 {
			h.Test = sh.Test
		}
		set := func(dst *time.Duration, src *spec.Duration) {
			if src != nil && *src > 0 {
				*dst = time.Duration(*src)
			}
		}
		set(&h.Interval, sh.Interval)
		set(&h.Timeout, sh.Timeout)
		set(&h.StartPeriod, sh.StartPeriod)
		set(&h.StartInterval, sh.StartInterval)
		if sh.Retries != nil {
			h.Retries = int(*sh.Retries)
		}
	}
	if len(h.Test) == 0 || h.Test[0] == "NONE" {
		return nil
	}
	return h
}

// supervisor is the goroutines watching one running container: its exit
// (restart policy) and its health.
type supervisor struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// supervise starts watching the container of r, replacing any earlier
// watch. It is called from the watch itself when it restarts the
// container, so it does not wait for the old watch to end.
func (d *Daemon) supervise(r *record) {
	ctx, cancel := context.WithCancel(d.baseCtx)
	s := &supervisor{cancel: cancel}
	// The goroutines are counted before s is published: an unsupervise
	// that finds it at once waits for them.
	s.wg.Add(1)
	if r.Healthcheck != nil {
		s.wg.Add(1)
	}
	d.supMu.Lock()
	if old := d.supervisors[r.ID]; old != nil {
		old.cancel()
	}
	d.supervisors[r.ID] = s
	d.supMu.Unlock()
	go func() {
		defer s.wg.Done()
		d.watchExit(ctx, r.Project, r.Name, r.ID)
	}()
	if r.Healthcheck != nil {
		go func() {
			defer s.wg.Done()
			d.watchHealth(ctx, r.Project, r.Name, r.ID, r.Run, *r.Healthcheck)
		}()
	}
}

// unsupervise stops watching a container and waits until the watch has
// ended, so a deliberate stop is not taken for a crash.
func (d *Daemon) unsupervise(id string) {
	d.supMu.Lock()
	s := d.supervisors[id]
	delete(d.supervisors, id)
	d.supMu.Unlock()
	if s != nil {
		s.cancel()
		s.wg.Wait()
	}
}

// watchExit waits for the container to exit (a container whose shim died
// is recovered by the runtime and exits too), records the exit, reports
// it, and applies its restart policy with a growing back-off
// (nextRestartDelay). A restart that fails (a
// full disk, a missing image) is tried again, with the same back-off.
func (d *Daemon) watchExit(ctx context.Context, project, name, id string) {
	_, rt, err := d.engines()
	if err != nil {
		return
	}
	st, err := rt.Wait(ctx, id)
	for tries := 0; err != nil && ctx.Err() == nil && errors.Is(err, errdefs.ErrUnavailable); tries++ {
		// Its shim neither answers nor is gone yet: look again, rather
		// than leave the container unwatched.
		if tries == 0 {
			d.log.Warn("wait for a container", "container", name, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
		st, err = rt.Wait(ctx, id)
	}
	if err != nil || ctx.Err() != nil {
		return
	}
	r, err := d.store.update(project, name, true, func(c *record) error {
		if c.ID != id {
			return errStale
		}
		c.ExitCode, c.Finished = st.ExitCode, st.FinishedAt
		c.RestartDelay = nextRestartDelay(c.RestartDelay, st.FinishedAt.Sub(st.StartedAt))
		return nil
	})
	if r == nil {
		return // another container by now
	}
	if err != nil {
		// A full disk: the exit stands in memory, is reported, and the
		// policy applies all the same.
		d.log.Warn("record an exit", "container", name, "err", err)
	}
	msg := "exit code " + strconv.Itoa(st.ExitCode)
	if st.OOMKilled {
		msg += " (out of memory)"
	}
	if st.Error != "" {
		msg += " (" + st.Error + ")"
	}
	die := containerEvent(r, api.ActionDie, msg)
	die.ExitCode = &st.ExitCode
	d.events.publish(die)
	if r.AutoRemove {
		// Not from this goroutine: the removal waits for the container's
		// watches to end, this one among them.
		go func() {
			if err := d.removeRecordContainer(d.baseCtx, r, RemoveOptions{Volumes: true}); err != nil {
				d.log.Warn("remove a container at its exit", "container", name, "err", err)
			}
		}()
		return
	}
	if r.StoppedByUser || !shouldRestart(r.Restart, st.ExitCode, r.RestartCount) {
		return
	}
	delay := r.RestartDelay
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		if d.restart(ctx, project, name, id, msg) {
			return
		}
		delay = min(2*delay, time.Minute)
	}
}

// nextRestartDelay is Docker's restart back-off: 100ms after a run of
// 10s or more (or the first time), else twice the last delay, at most a
// minute.
func nextRestartDelay(last, ran time.Duration) time.Duration {
	if last == 0 || ran >= 10*time.Second {
		return 100 * time.Millisecond
	}
	return min(2*last, time.Minute)
}

// restart starts the container again for its restart policy, and reports
// whether the watch is done: restarted (a new watch took over), or no
// longer wanted.
func (d *Daemon) restart(ctx context.Context, project, name, id, why string) bool {
	unlock, err := d.lockProjectContext(ctx, project)
	if err != nil {
		return true
	}
	defer unlock()
	r, err := d.findRecord(project, name)
	if err != nil || r.ID != id || r.StoppedByUser || r.State != "" || ctx.Err() != nil {
		return true
	}
	// The run this watch saw end may still be "running" on disk: the
	// shim keeps an exit it could not write (a full disk) in memory, and
	// startRecord, reading the disk, would take the container for one
	// that runs and start nothing. The watch is the current one (a start
	// since would have cancelled it), so that run has ended: delete it.
	if _, rt, err := d.engines(); err == nil {
		if st, err := rt.State(id); err == nil && (st.Status == runtime.Running || st.Status == runtime.Paused) {
			if err := rt.Delete(ctx, id, true); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
				d.log.Warn("delete an ended run", "container", name, "err", err)
			}
		}
	}
	r.RestartCount++
	if err := d.startRecord(context.WithoutCancel(ctx), r); err != nil {
		d.log.Warn("restart failed", "container", name, "err", err)
		d.events.publish(containerEvent(r, api.ActionRestartFailed, err.Error()))
		return ctx.Err() != nil
	}
	d.events.publish(containerEvent(r, api.ActionRestart, fmt.Sprintf("restart %d after %s", r.RestartCount, why)))
	return true
}

// shouldRestart applies a restart policy to an exit.
func shouldRestart(policy string, exitCode, restarts int) bool {
	switch {
	case policy == "always" || policy == "unless-stopped":
		return true
	case policy == "on-failure":
		return exitCode != 0
	case strings.HasPrefix(policy, "on-failure:"):
		max, _ := strconv.Atoi(strings.TrimPrefix(policy, "on-failure:"))
		return exitCode != 0 && (max == 0 || restarts < max)
	}
	return false
}

// watchHealth runs the container's health check until ctx ends: every
// StartInterval during the start period and until the first success, so a
// healthy service is reported at once, then every Interval.
func (d *Daemon) watchHealth(ctx context.Context, project, name, id string, run int, h healthConfig) {
	started := time.Now()
	status, failures := "starting", 0
	for {
		wait := h.Interval
		if status == "starting" {
			wait = min(h.StartInterval, h.Interval)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		code, out := d.probe(ctx, id, h)
		if ctx.Err() != nil {
			return
		}
		next := status
		switch {
		case code == 0:
			next, failures = "healthy", 0
		case status == "starting" && time.Since(started) < h.StartPeriod:
			// Failures during the start period do not count.
		default:
			failures++
			if failures >= h.Retries {
				next = "unhealthy"
			}
		}
		if next == status && code == 0 {
			continue
		}
		changed := false
		r, err := d.store.update(project, name, false, func(c *record) error {
			if c.ID != id || c.Run != run {
				return errStale // a watch of a run that has ended
			}
			changed = c.Health != next
			c.Health, c.HealthOutput = next, out
			return nil
		})
		if errors.Is(err, errStale) || errors.Is(err, errdefs.ErrNotFound) {
			return
		}
		if err != nil {
			d.log.Warn("save health", "container", name, "err", err)
			continue
		}
		status = next
		if changed {
			d.events.publish(containerEvent(r, next, strings.TrimSpace(out)))
		}
	}
}

// probe runs the health check command once in the container and returns
// its exit code and output (the first 4 KiB, as Docker keeps).
func (d *Daemon) probe(ctx context.Context, id string, h healthConfig) (int, string) {
	_, rt, err := d.engines()
	if err != nil {
		return -1, err.Error()
	}
	r, err := d.recordByID(id)
	if err != nil || r.Spec == nil {
		return -1, "container gone"
	}
	var args []string
	switch h.Test[0] {
	case "CMD":
		args = h.Test[1:]
	case "CMD-SHELL":
		args = []string{"/bin/sh", "-c", strings.Join(h.Test[1:], " ")}
	default:
		args = h.Test
	}
	proc := *r.Spec.Process
	proc.Args, proc.Terminal = args, false
	var out limitedBuffer
	out.max = 4096
	pctx, cancel := context.WithTimeout(ctx, h.Timeout)
	defer cancel()
	p, err := rt.Exec(pctx, id, runtime.ExecConfig{Process: &proc, Stdout: &out, Stderr: &out})
	if err != nil {
		return -1, err.Error()
	}
	done := make(chan struct{})
	go func() {
		select {
		case <-pctx.Done():
			p.Signal(unix.SIGKILL)
		case <-done:
		}
	}()
	code, err := p.Wait()
	close(done)
	if pctx.Err() == context.DeadlineExceeded {
		return -1, fmt.Sprintf("health check timed out after %s", h.Timeout)
	}
	if err != nil {
		return -1, err.Error()
	}
	return code, out.String()
}

// limitedBuffer keeps the first max bytes written to it.
type limitedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.max - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

func (b *limitedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// adopt takes over the containers found on disk when the daemon starts:
// it finishes the creations and removals a crash cut short (removing what
// they made), watches running containers again, and applies the restart
// policy of those that exited while no daemon ran (a container whose
// shim died is recovered by the watch's wait). Then whatever exists on
// disk and in the runtime without a record goes: see sweepOrphans.
func (d *Daemon) adopt(ctx context.Context) {
	_, rt, err := d.engines()
	if err != nil {
		d.log.Warn("cannot adopt containers", "err", err)
		return
	}
	for _, r := range d.store.list("") {
		if r.State != "" {
			if err := d.removeContainer(ctx, r); err != nil {
				d.log.Warn("finish a teardown a crash interrupted", "container", r.Name, "err", err)
			}
			continue
		}
		st, err := rt.State(r.ID)
		switch {
		case errors.Is(err, errdefs.ErrNotFound):
			// Between a finished run's deletion and the next run's
			// creation: a restart due.
			if !r.StoppedByUser && shouldRestart(r.Restart, r.ExitCode, r.RestartCount) {
				go d.restart(d.baseCtx, r.Project, r.Name, r.ID, "a restart cut short")
			}
		case err != nil:
		case st.Status == runtime.Running || st.Status == runtime.Paused:
			d.supervise(r)
		case st.Status == runtime.Stopped && r.AutoRemove:
			// Exited while we were away: removed as it would have been.
			if err := d.removeContainer(ctx, r); err != nil {
				d.log.Warn("remove a container that exited", "container", r.Name, "err", err)
			}
		case st.Status == runtime.Stopped || st.Status == runtime.Unknown:
			if !r.StoppedByUser && shouldRestart(r.Restart, st.ExitCode, r.RestartCount) || st.Status == runtime.Unknown {
				// Exited (or lost its shim) while we were away: the
				// watch sees the exit at once.
				d.supervise(r)
			}
		}
	}
	d.sweepOrphans(ctx, true)
}

// sweepOrphans removes what no record owns: runtime containers (a crash
// between their creation and their record), container storage, /etc
// files and logs. Every one of them is named after a container ID. A
// build step's container has no record either: it is swept only when
// atStart, when no build can be running.
func (d *Daemon) sweepOrphans(ctx context.Context, atStart bool) {
	storage, rt, err := d.engines()
	if err != nil {
		return
	}
	owned := map[string]bool{}
	for _, r := range d.store.list("") {
		owned[r.ID] = true
	}
	if states, err := rt.List(); err == nil {
		for _, st := range states {
			if !owned[st.ID] && (atStart || !strings.HasPrefix(st.ID, buildStepPrefix)) {
				d.log.Info("removing a container no record owns", "id", st.ID)
				if err := rt.Delete(ctx, st.ID, true); err != nil {
					d.log.Warn("remove an orphan container", "id", st.ID, "err", err)
				}
			}
		}
	}
	for _, dir := range []string{rootfsDir, etcDir} {
		ents, _ := os.ReadDir(filepath.Join(d.cfg.StateRoot, dir))
		for _, e := range ents {
			if owned[e.Name()] || ident.Name("container id", e.Name()) != nil {
				continue
			}
			path := filepath.Join(d.cfg.StateRoot, dir, e.Name())
			if dir == rootfsDir {
				storage.Unmount(path)
				err = storage.Remove(path)
			} else {
				err = os.RemoveAll(path)
			}
			if err != nil {
				d.log.Warn("remove orphan storage", "path", path, "err", err)
			}
		}
	}
	if atStart {
		// The step mounts of builds whose daemon died.
		d.sweepBuildWork(storage)
		// Volumes a crash cut short while they were made.
		vols, _ := os.ReadDir(filepath.Join(d.cfg.StateRoot, volumesDir))
		for _, v := range vols {
			if strings.HasPrefix(v.Name(), ".new-") {
				os.RemoveAll(filepath.Join(d.cfg.StateRoot, volumesDir, v.Name()))
			}
		}
	}
	ents, _ := os.ReadDir(filepath.Join(d.cfg.StateRoot, logsDir))
	for _, e := range ents {
		id, _, _ := strings.Cut(e.Name(), ".")
		if !owned[id] {
			os.Remove(filepath.Join(d.cfg.StateRoot, logsDir, e.Name()))
		}
	}
}

// sweepNetworks removes what a crash left of the network (endpoints of
// containers that no longer exist, networks no container uses, and their
// rules, links and namespaces) and brings back the resolvers and rules of
// the networks that stay. Links that no state names are left alone:
// another engine with a state root of its own may share the host.
func (d *Daemon) sweepNetworks(ctx context.Context) {
	nm, err := d.networks()
	if err != nil {
		d.log.Warn("cannot sweep networks", "err", err)
		return
	}
	recs, _ := d.records("")
	// The links of this engine's instance and the rules of its table are
	// its own; links an older version made could be another engine's,
	// unless this is the default state root (see network.Live).
	live := network.Live{OwnRules: true, LegacyLinks: filepath.Clean(d.cfg.StateRoot) == DefaultStateRoot}
	for _, r := range recs {
		live.Containers = append(live.Containers, r.ID)
		for n := range r.Networks {
			if !slices.Contains(live.Networks, n) {
				live.Networks = append(live.Networks, n)
			}
		}
	}
	if err := nm.Sweep(ctx, live); err != nil {
		d.log.Warn("network sweep after start", "err", err)
	}
	// The networks that stay get their resolvers and rules back: they
	// lived in the daemon that is gone.
	for _, st := range nm.Networks() {
		cfg := network.NetworkConfig{Name: st.Name, Subnet: st.Subnet, Gateway: st.Gateway, Internal: st.Internal, Labels: st.Labels}
		if _, err := nm.CreateNetwork(ctx, cfg); err != nil {
			d.log.Warn("restore network after start", "network", st.Name, "err", err)
		}
	}
}
