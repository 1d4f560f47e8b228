package daemon

import (
	"context"
	"fmt"
	"net/http"
	"os/user"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/stack-dev/stack/api"
	"github.com/stack-dev/stack/internal/errdefs"
	"github.com/stack-dev/stack/internal/ident"
	"github.com/stack-dev/stack/runtime"
)

// handleFunc is the shape of the handlers Handler's handle helper takes.
type handleFunc = func(pattern string, fn func(w http.ResponseWriter, r *http.Request) (any, error))

// inspectRoutes adds the routes of top, stats, port, volumes, networks
// and prune.
func (d *Daemon) inspectRoutes(handle handleFunc, v string) {
	handle("GET "+v+"/projects/{name}/top", func(w http.ResponseWriter, r *http.Request) (any, error) {
		return d.Top(r.Context(), r.PathValue("name"), r.URL.Query()["service"])
	})
	handle("GET "+v+"/projects/{name}/stats", func(w http.ResponseWriter, r *http.Request) (any, error) {
		window := 500 * time.Millisecond
		if s := r.URL.Query().Get("window"); s != "" {
			dur, err := time.ParseDuration(s)
			if err != nil || dur < 0 || dur > 10*time.Second {
				return nil, fmt.Errorf("window %s: want a duration up to 10s: %w", ident.Quote(s), errdefs.ErrInvalidArgument)
			}
			window = dur
		}
		return d.Stats(r.Context(), r.PathValue("name"), r.URL.Query()["service"], window)
	})
	handle("GET "+v+"/projects/{name}/port", func(w http.ResponseWriter, r *http.Request) (any, error) {
		q := r.URL.Query()
		port, err := strconv.Atoi(q.Get("port"))
		if err != nil || port <= 0 || port > 65535 {
			return nil, fmt.Errorf("port %s: want a number from 1 to 65535: %w", ident.Quote(q.Get("port")), errdefs.ErrInvalidArgument)
		}
		index := 0
		if s := q.Get("index"); s != "" {
			if index, err = strconv.Atoi(s); err != nil || index < 0 {
				return nil, fmt.Errorf("index %s: want a positive number: %w", ident.Quote(s), errdefs.ErrInvalidArgument)
			}
		}
		return d.Port(r.PathValue("name"), q.Get("service"), port, q.Get("protocol"), index)
	})
	handle("GET "+v+"/volumes", func(w http.ResponseWriter, r *http.Request) (any, error) {
		return d.Volumes(r.Context())
	})
	handle("DELETE "+v+"/volumes/{name}", func(w http.ResponseWriter, r *http.Request) (any, error) {
		return nil, d.RemoveVolume(r.Context(), r.PathValue("name"))
	})
	handle("GET "+v+"/networks", func(w http.ResponseWriter, r *http.Request) (any, error) {
		return d.ListNetworks(r.Context())
	})
	handle("POST "+v+"/prune", func(w http.ResponseWriter, r *http.Request) (any, error) {
		var req api.PruneRequest
		if err := decodeJSON(r, &req); err != nil {
			return nil, err
		}
		return d.Prune(r.Context(), req)
	})
}

// runningRecords returns the containers of project's services (every
// service's when services is empty) that run now. A service the project
// does not have is an error that lists the ones it has.
func (d *Daemon) runningRecords(project string, services []string) ([]*record, containerRuntime, error) {
	_, rt, err := d.engines()
	if err != nil {
		return nil, nil, err
	}
	recs, err := d.records(project)
	if err != nil {
		return nil, nil, err
	}
	for _, s := range services {
		if !slices.ContainsFunc(recs, func(r *record) bool { return r.Service == s }) {
			_, err := d.execTarget(project, s, 0)
			return nil, nil, err
		}
	}
	var out []*record
	for _, r := range recs {
		if len(services) > 0 && !slices.Contains(services, r.Service) {
			continue
		}
		if st, err := rt.State(r.ID); err == nil && (st.Status == runtime.Running || st.Status == runtime.Paused) {
			out = append(out, r)
		}
	}
	return out, rt, nil
}

// topTitles are the columns of `stack top`, those of ps -ef.
var topTitles = []string{"UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"}

// Top lists the processes of the running containers of project, read
// from each container's cgroup and the host's /proc.
func (d *Daemon) Top(ctx context.Context, project string, services []string) ([]api.ContainerTop, error) {
	recs, rt, err := d.runningRecords(project, services)
	if err != nil {
		return nil, err
	}
	clock := runtime.ReadClock()
	users := map[string]string{}
	out := []api.ContainerTop{}
	for _, r := range recs {
		pids, err := rt.Pids(r.ID)
		if err != nil {
			return nil, fmt.Errorf("top %s: %w", r.Name, err)
		}
		t := api.ContainerTop{Name: r.Name, Service: r.Service, Titles: topTitles, Processes: [][]string{}}
		for _, pid := range pids {
			p, err := runtime.ReadProcess(pid)
			if err != nil {
				continue // exited since the cgroup was read
			}
			t.Processes = append(t.Processes, psRow(p, clock, users))
		}
		out = append(out, t)
	}
	return out, nil
}

// psRow renders p as ps -ef does. users caches the names of UIDs, looked
// up on the host as ps does.
func psRow(p runtime.ProcessInfo, c runtime.Clock, users map[string]string) []string {
	name, ok := users[p.UID]
	if !ok {
		name = p.UID
		if u, err := user.LookupId(p.UID); err == nil {
			name = u.Username
		}
		users[p.UID] = name
	}
	cpu := 0
	if elapsed := c.Uptime - float64(p.Start)/runtime.ClockTicks; elapsed > 0 {
		cpu = int(float64(p.CPUTicks) / runtime.ClockTicks / elapsed * 100)
	}
	start := c.Boot.Add(time.Duration(p.Start) * time.Second / runtime.ClockTicks)
	cmd := "[" + p.Comm + "]"
	if len(p.Cmdline) > 0 {
		cmd = strings.Join(p.Cmdline, " ")
	}
	return []string{name, strconv.Itoa(p.PID), strconv.Itoa(p.PPID), strconv.Itoa(cpu),
		formatSTime(start, c.Now), formatTTY(p.TTY), formatCPUTime(p.CPUTicks / runtime.ClockTicks), cmd}
}

// formatSTime renders a start time as ps does: the time of day for a
// process started today, else the date, else the year.
func formatSTime(t, now time.Time) string {
	t, now = t.Local(), now.Local()
	switch {
	case t.YearDay() == now.YearDay() && t.Year() == now.Year():
		return t.Format("15:04")
	case t.Year() == now.Year():
		return t.Format("Jan02")
	}
	return t.Format("2006")
}

// formatCPUTime renders seconds of CPU time as ps does: [DD-]HH:MM:SS.
func formatCPUTime(secs uint64) string {
	days, secs := secs/86400, secs%86400
	s := fmt.Sprintf("%02d:%02d:%02d", secs/3600, secs/60%60, secs%60)
	if days > 0 {
		s = fmt.Sprintf("%d-%s", days, s)
	}
	return s
}

// formatTTY names a controlling terminal from its device number, "?"
// for none (devices.txt: major 4 for ttyN and ttySN, 136-143 for pts).
func formatTTY(nr int) string {
	if nr == 0 {
		return "?"
	}
	major, minor := unix.Major(uint64(nr)), unix.Minor(uint64(nr))
	switch {
	case major >= 136 && major <= 143:
		return fmt.Sprintf("pts/%d", minor+(major-136)*256)
	case major == 4 && minor < 64:
		return fmt.Sprintf("tty%d", minor)
	case major == 4:
		return fmt.Sprintf("ttyS%d", minor-64)
	}
	return "?"
}

// Stats samples the resource usage of the running containers of project
// twice, window apart, for their CPU share over it.
func (d *Daemon) Stats(ctx context.Context, project string, services []string, window time.Duration) ([]api.ContainerStats, error) {
	recs, rt, err := d.runningRecords(project, services)
	if err != nil {
		return nil, err
	}
	var hostMem uint64
	var si unix.Sysinfo_t
	if unix.Sysinfo(&si) == nil {
		hostMem = uint64(si.Totalram) * uint64(si.Unit)
	}
	type sample struct {
		at  time.Time
		cpu time.Duration
	}
	first := make([]sample, len(recs))
	for i, r := range recs {
		if s, err := rt.Stats(r.ID); err == nil {
			first[i] = sample{time.Now(), s.CPUUsage}
		}
	}
	if window > 0 && len(recs) > 0 {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(window):
		}
	}
	out := []api.ContainerStats{}
	for i, r := range recs {
		s, err := rt.Stats(r.ID)
		if err != nil {
			continue // stopped meanwhile
		}
		now := time.Now()
		cs := api.ContainerStats{ID: r.ID, Name: r.Name, Service: r.Service,
			MemoryUsage: s.MemoryUsage, MemoryLimit: s.MemoryLimit, Pids: s.Pids, PidsLimit: s.PidsLimit}
		if el := now.Sub(first[i].at); !first[i].at.IsZero() && el > 0 && s.CPUUsage >= first[i].cpu {
			cs.CPUPercent = float64(s.CPUUsage-first[i].cpu) / float64(el) * 100
		}
		// cgroup v1 reports no limit as a page-rounded int64 maximum.
		if hostMem > 0 && (cs.MemoryLimit == 0 || cs.MemoryLimit > hostMem) {
			cs.MemoryLimit = hostMem
		}
		if cs.MemoryLimit > 0 {
			cs.MemoryPercent = float64(cs.MemoryUsage) / float64(cs.MemoryLimit) * 100
		}
		if st, err := rt.State(r.ID); err == nil && st.Pid > 0 {
			devs, _ := runtime.NetDevices(st.Pid)
			for _, c := range devs {
				cs.NetRx, cs.NetTx = cs.NetRx+c.RxBytes, cs.NetTx+c.TxBytes
			}
		}
		out = append(out, cs)
	}
	return out, nil
}

// Port returns where a container port of a service is published on the
// host. proto is tcp when empty; index picks a replica, the first
// running one when 0.
func (d *Daemon) Port(project, service string, port int, proto string, index int) (api.Port, error) {
	if proto == "" {
		proto = "tcp"
	}
	if proto != "tcp" && proto != "udp" {
		return api.Port{}, fmt.Errorf("protocol %s: want tcp or udp: %w", ident.Quote(proto), errdefs.ErrInvalidArgument)
	}
	r, err := d.execTarget(project, service, index)
	if err != nil {
		return api.Port{}, err
	}
	var published []string
	for _, p := range r.Ports {
		if p.ContainerPort == port && p.Protocol == proto {
			out := api.Port(p)
			if out.HostIP == "" {
				out.HostIP = "0.0.0.0"
			}
			return out, nil
		}
		published = append(published, fmt.Sprintf("%d/%s", p.ContainerPort, p.Protocol))
	}
	if len(published) == 0 {
		return api.Port{}, fmt.Errorf("container %s publishes no port: %w", r.Name, errdefs.ErrNotFound)
	}
	return api.Port{}, fmt.Errorf("port %d/%s of container %s is not published (it publishes %s): %w",
		port, proto, r.Name, strings.Join(published, ", "), errdefs.ErrNotFound)
}
