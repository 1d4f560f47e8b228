package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/stack-dev/stack/api"
	"github.com/stack-dev/stack/runtime"
)

// LogsOptions select what Logs streams.
type LogsOptions struct {
	Services []string  // optional: all
	Tail     int       // lines per container from the end; <0 all
	Since    time.Time // optional
	Follow   bool      // keep streaming, across restarts and recreations
}

// Logs streams the output of a project's containers: the lines already
// logged, merged by time, and with Follow every new line until ctx ends,
// following a service across its container's restarts and recreations.
func (d *Daemon) Logs(ctx context.Context, project string, o LogsOptions, emit func(api.LogLine) error) error {
	want := func(service string) bool {
		if len(o.Services) == 0 {
			return true
		}
		for _, s := range o.Services {
			if s == service {
				return true
			}
		}
		return false
	}
	recs, err := d.records(project)
	if err != nil {
		return err
	}
	var lines []api.LogLine
	offsets := map[string]*logCursor{}
	for _, r := range recs {
		if !want(r.Service) {
			continue
		}
		cur := &logCursor{}
		offsets[r.ID] = cur
		got, err := d.readLogs(r, cur)
		if err != nil {
			return err
		}
		if !o.Since.IsZero() {
			got = filterSince(got, o.Since)
		}
		if o.Tail >= 0 && len(got) > o.Tail {
			got = got[len(got)-o.Tail:]
		}
		lines = append(lines, got...)
	}
	sort.SliceStable(lines, func(i, j int) bool { return lines[i].Time.Before(lines[j].Time) })
	for _, l := range lines {
		if err := emit(l); err != nil {
			return err
		}
	}
	if !o.Follow {
		return nil
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		recs, err := d.records(project)
		if err != nil {
			return err
		}
		for _, r := range recs {
			if !want(r.Service) {
				continue
			}
			cur := offsets[r.ID]
			if cur == nil {
				cur = &logCursor{}
				offsets[r.ID] = cur
			}
			got, err := d.readLogs(r, cur)
			if err != nil {
				return err
			}
			for _, l := range got {
				if err := emit(l); err != nil {
					return err
				}
			}
		}
	}
}

// logCursor remembers how far a container's two logs have been read: its
// log of finished runs, and the current run's runtime log (which starts
// over when the container restarts).
type logCursor struct {
	kept    int64
	current int64
	run     time.Time // creation of the run the current offset is in
}

// readLogs returns the lines of r after cur, advancing it.
func (d *Daemon) readLogs(r *record, cur *logCursor) ([]api.LogLine, error) {
	_, rt, err := d.engines()
	if err != nil {
		return nil, err
	}
	var out []api.LogLine
	conv := func(e runtime.LogEntry) error {
		out = append(out, api.LogLine{Time: e.Time, Container: r.Name, Service: r.Service, Stream: e.Stream, Line: e.Log})
		return nil
	}
	n, err := readLogFrom(d.logPath(r.ID), cur.kept, conv)
	if err != nil {
		return nil, err
	}
	if n > 0 {
		// A run was retired into the kept log: the current log is new.
		cur.kept += n
		cur.current = 0
	}
	st, err := rt.State(r.ID)
	if err != nil {
		return out, nil
	}
	if !st.CreatedAt.Equal(cur.run) {
		cur.run, cur.current = st.CreatedAt, 0
	}
	path, err := rt.LogPath(r.ID)
	if err != nil {
		return out, nil
	}
	n, err = readLogFrom(path, cur.current, conv)
	if err != nil {
		return nil, err
	}
	cur.current += n
	return out, nil
}

// readLogFrom decodes the complete entries of a log from offset on and
// returns how many bytes it consumed. A missing log has no entries.
func readLogFrom(path string, offset int64, fn func(runtime.LogEntry) error) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return 0, nil
		}
		return 0, err
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return 0, err
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return 0, err
	}
	// Only whole lines: the writer may be mid-entry.
	end := strings.LastIndexByte(string(data), '\n') + 1
	if end <= 0 {
		return 0, nil
	}
	if err := runtime.DecodeLogs(strings.NewReader(string(data[:end])), fn); err != nil {
		return 0, fmt.Errorf("read log %s: %w", path, err)
	}
	return int64(end), nil
}

func filterSince(lines []api.LogLine, since time.Time) []api.LogLine {
	out := lines[:0]
	for _, l := range lines {
		if !l.Time.Before(since) {
			out = append(out, l)
		}
	}
	return out
}

// logTail returns the last n lines of a container's output, formatted to
// end an error message.
func (d *Daemon) logTail(r *record, n int) string {
	lines, err := d.readLogs(r, &logCursor{})
	if err != nil || len(lines) == 0 {
		return ""
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	var b strings.Builder
	b.WriteString("; last output:")
	for _, l := range lines {
		b.WriteString("\n    " + strings.TrimRight(l.Line, "\n"))
	}
	return b.String()
}
