package daemon

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/stack-dev/stack/api"
	"github.com/stack-dev/stack/internal/errdefs"
	"github.com/stack-dev/stack/internal/ident"
	"github.com/stack-dev/stack/runtime"
)

// Lifecycle stops, starts, restarts, kills, pauses or unpauses the
// containers of a project's services (all when req.Services is empty).
// One-off containers (stack run) are not the service's: only kill reaches
// them, as in compose. A start or restart that carries the project goes
// in dependency order with conditions (startProject, restartProject).
func (d *Daemon) Lifecycle(ctx context.Context, project, op string, req api.StopRequest, emit func(api.Event)) error {
	switch {
	case op == "start" && len(req.Project) > 0:
		return d.startProject(ctx, project, req, emit)
	case op == "restart" && len(req.Project) > 0:
		return d.restartProject(ctx, project, req, emit)
	}
	switch op {
	case "stop", "start", "restart", "kill", "pause", "unpause":
	default:
		return fmt.Errorf("unknown operation %q: %w", op, errdefs.ErrInvalidArgument)
	}
	_, rt, err := d.engines()
	if err != nil {
		return err
	}
	unlock, err := d.lockProject(project)
	if err != nil {
		return err
	}
	defer unlock()
	recs, err := d.records(project)
	if err != nil {
		return err
	}
	known := map[string]bool{}
	for _, r := range recs {
		known[r.Service] = true
	}
	for _, s := range req.Services {
		if !known[s] {
			return fmt.Errorf("service %s has no container in project %s (services: %s): %w", ident.Quote(s), project, strings.Join(sortedKeys(known), ", "), errdefs.ErrNotFound)
		}
	}
	want := map[string]bool{}
	for _, s := range req.Services {
		want[s] = true
	}
	var picked []*record
	for _, r := range recs {
		if len(want) > 0 && !want[r.Service] || r.OneOff && op != "kill" {
			continue
		}
		if op == "kill" && !req.RemoveOrphans && len(req.StackServices) > 0 && !slices.Contains(req.StackServices, r.Service) {
			continue // an orphan: compose kills those only with --remove-orphans
		}
		if op == "kill" {
			// compose kills the running containers only.
			if st, err := rt.State(r.ID); err != nil || st.Status != runtime.Running && st.Status != runtime.Paused {
				continue
			}
		}
		picked = append(picked, r)
	}
	sig := unix.SIGKILL
	if op == "kill" && req.Signal != "" {
		if sig = unix.SignalNum(normalizeSignal(req.Signal)); sig == 0 {
			return fmt.Errorf("unknown signal %s: %w", ident.Quote(req.Signal), errdefs.ErrInvalidArgument)
		}
	}
	one := func(r *record) error {
		if word := progressWords[op]; word != "" {
			emit(api.Event{Project: project, Service: r.Service, Container: r.Name, Action: word})
		}
		var err error
		switch op {
		case "stop":
			err = d.stopContainer(ctx, r, req.Timeout, true)
		case "start":
			err = d.startRecord(ctx, r)
		case "restart":
			if err = d.stopContainer(ctx, r, req.Timeout, false); err == nil {
				err = d.startRecord(ctx, r)
			}
		case "kill":
			if err = rt.Kill(ctx, r.ID, sig); err == nil && sig == unix.SIGKILL {
				waitNotRunning(ctx, rt, r.ID, killWait)
			}
		case "pause":
			err = rt.Pause(r.ID)
		case "unpause":
			err = rt.Resume(r.ID)
		}
		if err != nil {
			return fmt.Errorf("%s %s: %w", op, r.Name, err)
		}
		ev := containerEvent(r, op, "")
		d.events.publish(ev)
		emit(ev)
		return nil
	}
	// Wave by wave, the containers of a wave in parallel: stop takes the
	// dependents down before what they depend on, as compose's stop
	// (InReverseDependencyOrder); start and restart bring dependencies
	// back first. A container that ignores SIGTERM costs its grace
	// period once per wave, not once per container.
	var waves [][]*record
	switch op {
	case "stop":
		waves = stopWaves(picked)
	case "start", "restart":
		waves = stopWaves(picked)
		slices.Reverse(waves)
	default:
		waves = [][]*record{picked}
	}
	var errs []error
	for _, wave := range waves {
		waveErrs := make([]error, len(wave))
		var wg sync.WaitGroup
		for i, r := range wave {
			wg.Add(1)
			go func() {
				defer wg.Done()
				waveErrs[i] = one(r)
			}()
		}
		wg.Wait()
		errs = append(errs, waveErrs...)
	}
	return errors.Join(errs...)
}

// progressWords are the events sent before an operation that takes time,
// so that the CLI shows "Stopping" with a timer while a container uses its
// grace period.
var progressWords = map[string]string{api.ActionStop: api.ActionStopping, api.ActionRestart: api.ActionRestarting, api.ActionStart: api.ActionStarting}

// healthDetail is a failed health check's output as the end of a
// message: ": <output>", or nothing when it printed nothing.
func healthDetail(output string) string {
	if out := strings.TrimSpace(output); out != "" {
		return ": " + out
	}
	return ""
}

// killWait bounds how long kill waits for a container it sent SIGKILL to
// be gone, as docker's kill does (moby daemon/kill.go), so that a start
// right after finds it stopped rather than still dying.
const killWait = 10 * time.Second

// waitNotRunning polls id's state until it is neither running nor paused,
// ctx ends or limit passes. A restart policy may bring the container back
// at once; the poll is short enough to see it stopped in between, and it
// gives up after limit anyway.
func waitNotRunning(ctx context.Context, rt runtimeLifecycle, id string, limit time.Duration) {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if st, err := rt.State(id); err != nil || st.Status != runtime.Running && st.Status != runtime.Paused {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}
