package daemon

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/stack-dev/stack/api"
	"github.com/stack-dev/stack/internal/errdefs"
	"github.com/stack-dev/stack/runtime"
)

// Attach follows a project for a foreground up: the output of the
// req.Logs services and the exits of the req.Watch services (one-offs
// aside), each exit after the container's last line, until every watched
// container has exited and will not be restarted by its policy. That is
// when compose's foreground up returns. Output written before req.Since is
// left out. It ends early when ctx does.
func (d *Daemon) Attach(ctx context.Context, project string, req api.AttachRequest, emit func(api.AttachEvent) error) error {
	_, rt, err := d.engines()
	if err != nil {
		return err
	}
	logs := func(r *record) bool {
		return !req.NoLogs && (len(req.Logs) == 0 || slices.Contains(req.Logs, r.Service))
	}
	watched := func(r *record) bool {
		return !r.OneOff && (len(req.Watch) == 0 || slices.Contains(req.Watch, r.Service))
	}
	cursors := map[string]*logCursor{}
	reported := map[string]int{}    // container ID -> the run whose exit was sent
	restarting := map[string]bool{} // container ID -> its last exit restarts it
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		done := true
		for _, r := range d.store.list(project) {
			if r.OneOff || r.State != "" || !logs(r) && !watched(r) {
				continue
			}
			// The state first, the log second: an exit seen here comes
			// after every line the container wrote.
			st, err := rt.State(r.ID)
			exited, code := false, r.ExitCode
			switch {
			case errors.Is(err, errdefs.ErrNotFound):
				exited = r.Run > 0
			case err != nil:
				return err
			case st.Status == runtime.Stopped || st.Status == runtime.Unknown:
				exited, code = true, st.ExitCode
			}
			if logs(r) && r.Log.Path != "" {
				cur := cursors[r.ID]
				if cur == nil {
					cur = &logCursor{}
					cursors[r.ID] = cur
				}
				if err := cur.readNew(logFiles(r.Log), func(e runtime.LogEntry) error {
					if e.Time.Before(req.Since) {
						return nil
					}
					l := logLine(r, e)
					return emit(api.AttachEvent{Log: &l})
				}); err != nil {
					return err
				}
			}
			if !watched(r) {
				continue
			}
			if exited && reported[r.ID] != r.Run {
				reported[r.ID] = r.Run
				restarting[r.ID] = !r.StoppedByUser && shouldRestart(r.Restart, code, r.RestartCount)
				if err := emit(api.AttachEvent{Exit: &api.Exit{Container: r.Name, Service: r.Service, ExitCode: code, Restarting: restarting[r.ID]}}); err != nil {
					return err
				}
			}
			if !exited || restarting[r.ID] && !r.StoppedByUser {
				done = false
			}
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}
