package daemon

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
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
	clock := readClock()
	users := map[string]string{}
	out := []api.ContainerTop{}
	for _, r := range recs {
		pids, err := rt.Pids(r.ID)
		if err != nil {
			return nil, fmt.Errorf("top %s: %w", r.Name, err)
		}
		t := api.ContainerTop{Name: r.Name, Service: r.Service, Titles: topTitles, Processes: [][]string{}}
		for _, pid := range pids {
			p, err := readProc(pid)
			if err != nil {
				continue // exited since the cgroup was read
			}
			t.Processes = append(t.Processes, p.row(clock, users))
		}
		out = append(out, t)
	}
	return out, nil
}

// procInfo is what ps -ef shows of a process, as /proc has it.
type procInfo struct {
	PID, PPID int
	UID       string // effective
	TTY       int    // tty_nr: the controlling terminal's device number
	CPUTicks  uint64 // utime + stime
	Start     uint64 // clock ticks after boot
	Comm      string
	Cmdline   []string
}

// clockTicks is USER_HZ, the unit of the times in /proc/PID/stat: 100 on
// every architecture Linux runs on (proc(5), sysconf(_SC_CLK_TCK)).
const clockTicks = 100

func readProc(pid int) (procInfo, error) {
	dir := "/proc/" + strconv.Itoa(pid)
	stat, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return procInfo{}, err
	}
	p, err := parseProcStat(string(stat))
	if err != nil {
		return procInfo{}, fmt.Errorf("%s/stat: %w", dir, err)
	}
	status, err := os.ReadFile(dir + "/status")
	if err != nil {
		return procInfo{}, err
	}
	p.UID = statusUID(string(status))
	cmdline, _ := os.ReadFile(dir + "/cmdline")
	if c := strings.TrimRight(string(cmdline), "\x00"); c != "" {
		p.Cmdline = strings.Split(c, "\x00")
	}
	return p, nil
}

// parseProcStat reads /proc/PID/stat (proc(5)). The command name is in
// parentheses and may itself hold spaces and parentheses, so the fields
// are counted from the last ')'.
func parseProcStat(s string) (procInfo, error) {
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return procInfo{}, fmt.Errorf("malformed stat %q: %w", s, errdefs.ErrInvalidArgument)
	}
	var p procInfo
	var err error
	if p.PID, err = strconv.Atoi(strings.TrimSpace(s[:open])); err != nil {
		return procInfo{}, fmt.Errorf("malformed stat %q: %w", s, errdefs.ErrInvalidArgument)
	}
	p.Comm = s[open+1 : end]
	// After the name: state(3) ppid(4) pgrp session tty_nr(7) tpgid flags
	// minflt cminflt majflt cmajflt utime(14) stime(15) cutime cstime
	// priority nice num_threads itrealvalue starttime(22).
	f := strings.Fields(s[end+1:])
	if len(f) < 20 {
		return procInfo{}, fmt.Errorf("malformed stat %q: %w", s, errdefs.ErrInvalidArgument)
	}
	num := func(i int) uint64 { n, _ := strconv.ParseUint(f[i], 10, 64); return n }
	p.PPID = int(num(1))
	tty, _ := strconv.ParseInt(f[4], 10, 64)
	p.TTY = int(tty)
	p.CPUTicks = num(11) + num(12)
	p.Start = num(19)
	return p, nil
}

// statusUID returns the effective UID of a /proc/PID/status.
func statusUID(s string) string {
	for _, line := range strings.Split(s, "\n") {
		if rest, ok := strings.CutPrefix(line, "Uid:"); ok {
			if f := strings.Fields(rest); len(f) >= 2 {
				return f[1]
			}
		}
	}
	return "?"
}

// clock is what turns clock ticks after boot into times.
type clock struct {
	boot   time.Time // from /proc/stat btime
	uptime float64   // seconds, from /proc/uptime
	now    time.Time
}

func readClock() clock {
	c := clock{now: time.Now()}
	if data, err := os.ReadFile("/proc/stat"); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "btime "); ok {
				secs, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				c.boot = time.Unix(secs, 0)
			}
		}
	}
	if data, err := os.ReadFile("/proc/uptime"); err == nil {
		if f := strings.Fields(string(data)); len(f) > 0 {
			c.uptime, _ = strconv.ParseFloat(f[0], 64)
		}
	}
	return c
}

// row renders p as ps -ef does. users caches the names of UIDs, looked
// up on the host as ps does.
func (p procInfo) row(c clock, users map[string]string) []string {
	name, ok := users[p.UID]
	if !ok {
		name = p.UID
		if u, err := user.LookupId(p.UID); err == nil {
			name = u.Username
		}
		users[p.UID] = name
	}
	cpu := 0
	if elapsed := c.uptime - float64(p.Start)/clockTicks; elapsed > 0 {
		cpu = int(float64(p.CPUTicks) / clockTicks / elapsed * 100)
	}
	start := c.boot.Add(time.Duration(p.Start) * time.Second / clockTicks)
	cmd := "[" + p.Comm + "]"
	if len(p.Cmdline) > 0 {
		cmd = strings.Join(p.Cmdline, " ")
	}
	return []string{name, strconv.Itoa(p.PID), strconv.Itoa(p.PPID), strconv.Itoa(cpu),
		formatSTime(start, c.now), formatTTY(p.TTY), formatCPUTime(p.CPUTicks / clockTicks), cmd}
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
			if data, err := os.ReadFile("/proc/" + strconv.Itoa(st.Pid) + "/net/dev"); err == nil {
				cs.NetRx, cs.NetTx = parseNetDev(string(data))
			}
		}
		out = append(out, cs)
	}
	return out, nil
}

// parseNetDev sums the bytes received and sent of a /proc/PID/net/dev
// (the process's network namespace), loopback left out.
func parseNetDev(s string) (rx, tx uint64) {
	for _, line := range strings.Split(s, "\n") {
		name, rest, ok := strings.Cut(line, ":")
		if !ok || strings.TrimSpace(name) == "lo" {
			continue
		}
		f := strings.Fields(rest)
		if len(f) < 9 {
			continue
		}
		r, err1 := strconv.ParseUint(f[0], 10, 64)
		t, err2 := strconv.ParseUint(f[8], 10, 64)
		if err1 == nil && err2 == nil {
			rx, tx = rx+r, tx+t
		}
	}
	return rx, tx
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

// volumeUsers maps each volume to the containers that mount it, stopped
// ones included, as their records say.
func (d *Daemon) volumeUsers() (map[string][]string, error) {
	recs, err := d.records("")
	if err != nil {
		return nil, err
	}
	root := filepath.Join(d.cfg.StateRoot, volumesDir) + "/"
	users := map[string][]string{}
	for _, r := range recs {
		if r.Spec == nil {
			continue
		}
		for _, m := range r.Spec.Mounts {
			rest, ok := strings.CutPrefix(m.Source, root)
			if !ok {
				continue
			}
			name, _, _ := strings.Cut(rest, "/")
			if !slices.Contains(users[name], r.Name) {
				users[name] = append(users[name], r.Name)
			}
		}
	}
	return users, nil
}

// Volumes lists the volumes under the state root, sorted by name.
func (d *Daemon) Volumes(ctx context.Context) ([]api.Volume, error) {
	dirs, err := filepath.Glob(filepath.Join(d.cfg.StateRoot, volumesDir, "*"))
	if err != nil {
		return nil, err
	}
	users, err := d.volumeUsers()
	if err != nil {
		return nil, fmt.Errorf("list volumes: %w", err)
	}
	out := []api.Volume{}
	for _, dir := range dirs {
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() || strings.HasPrefix(filepath.Base(dir), ".") {
			continue
		}
		out = append(out, volumeInfo(dir, users))
	}
	return out, nil
}

// RemoveVolume removes a volume and its data. It refuses a volume that a
// container, running or stopped, mounts.
func (d *Daemon) RemoveVolume(ctx context.Context, name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") {
		return fmt.Errorf("volume name %q: %w", name, errdefs.ErrInvalidArgument)
	}
	dir := d.volumeDir(name)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("volume %q: no such volume (see `stack volume ls`): %w", name, errdefs.ErrNotFound)
	}
	unlock, err := d.lockVolumeProject(dir)
	if err != nil {
		return err
	}
	defer unlock()
	users, err := d.volumeUsers()
	if err != nil {
		return fmt.Errorf("remove volume %s: %w", name, err)
	}
	if u := users[name]; len(u) > 0 {
		return fmt.Errorf("volume %q is in use by container %s: remove the container first (`stack down`): %w",
			name, strings.Join(u, ", "), errdefs.ErrFailedPrecondition)
	}
	meta := readVolumeMeta(dir)
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove volume %s: %w", name, err)
	}
	d.events.publish(api.Event{Type: api.TypeVolume, Volume: name, Labels: meta.Labels, Action: api.ActionVolumeRemove, Message: name})
	return nil
}

// lockVolumeProject takes the lock of the project that created the volume
// at dir, so that no `up` of it starts using the volume while it goes.
func (d *Daemon) lockVolumeProject(dir string) (func(), error) {
	owner, _ := os.ReadFile(filepath.Join(dir, "project"))
	project := strings.TrimSpace(string(owner))
	if project == "" || strings.ContainsAny(project, "/\x00") {
		return func() {}, nil
	}
	return d.lockProject(project)
}

// ListNetworks lists the networks the daemon manages.
func (d *Daemon) ListNetworks(ctx context.Context) ([]api.Network, error) {
	nm, err := d.networks()
	if err != nil {
		return nil, err
	}
	out := []api.Network{}
	for _, n := range nm.Networks() {
		out = append(out, api.Network{Name: n.Name, Driver: "bridge", Bridge: n.Bridge, Subnet: n.Subnet.String(),
			Gateway: n.Gateway.String(), Internal: n.Internal, Project: n.Labels[projectLabel]})
	}
	return out, nil
}

// Prune removes what nothing uses, as docker system prune does: networks
// no container is on, dangling images (all unused ones with All), and
// anonymous volumes no container mounts (named ones too with All). It
// goes on after a failure and reports every error with what it removed.
func (d *Daemon) Prune(ctx context.Context, req api.PruneRequest) (api.PruneReport, error) {
	rep := api.PruneReport{Images: []string{}, Networks: []string{}, Volumes: []string{}}
	var errs []error
	recs, err := d.records("")
	if err != nil {
		return rep, fmt.Errorf("prune: %w", err)
	}
	if req.Networks {
		errs = append(errs, d.pruneNetworks(ctx, recs, &rep))
	}
	if req.Volumes {
		errs = append(errs, d.pruneVolumes(ctx, req.All, &rep))
	}
	if req.Images {
		errs = append(errs, d.pruneImages(ctx, req.All, &rep))
	}
	return rep, errors.Join(errs...)
}

func (d *Daemon) pruneNetworks(ctx context.Context, recs []*record, rep *api.PruneReport) error {
	nm, err := d.networks()
	if err != nil {
		return err
	}
	var errs []error
	for _, n := range nm.Networks() {
		if slices.ContainsFunc(recs, func(r *record) bool { _, ok := r.Networks[n.Name]; return ok }) {
			continue
		}
		unlock := func() {}
		if p := n.Labels[projectLabel]; p != "" {
			if unlock, err = d.lockProject(p); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		err := nm.RemoveNetwork(ctx, n.Name)
		unlock()
		switch {
		case errors.Is(err, errdefs.ErrFailedPrecondition):
			// a container joined it meanwhile
		case err != nil:
			errs = append(errs, err)
		default:
			rep.Networks = append(rep.Networks, n.Name)
		}
	}
	return errors.Join(errs...)
}

func (d *Daemon) pruneVolumes(ctx context.Context, all bool, rep *api.PruneReport) error {
	vols, err := d.Volumes(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, v := range vols {
		if len(v.UsedBy) > 0 || !v.Anonymous && !all {
			continue
		}
		size := diskUsage(d.volumeDir(v.Name))
		if err := d.RemoveVolume(ctx, v.Name); err != nil {
			if !errors.Is(err, errdefs.ErrFailedPrecondition) {
				errs = append(errs, err)
			}
			continue
		}
		rep.Volumes = append(rep.Volumes, v.Name)
		rep.SpaceReclaimed += size
	}
	return errors.Join(errs...)
}

func (d *Daemon) pruneImages(ctx context.Context, all bool, rep *api.PruneReport) error {
	imgs, err := d.images.List(ctx)
	if err != nil {
		return fmt.Errorf("list images: %w", err)
	}
	var errs []error
	for _, img := range imgs {
		if len(img.Names) > 0 && !all || d.imageInUse(img.ID) {
			continue
		}
		if _, err := d.RemoveImage(ctx, img.ID.String(), true); err != nil {
			if !errors.Is(err, errdefs.ErrFailedPrecondition) && !errors.Is(err, errdefs.ErrNotFound) {
				errs = append(errs, err)
			}
			continue
		}
		name := img.ID.String()
		if tags := img.RepoTags(); len(tags) > 0 {
			name = strings.Join(tags, ", ")
		}
		rep.Images = append(rep.Images, name)
		rep.SpaceReclaimed += img.Size
	}
	return errors.Join(errs...)
}

// diskUsage returns the bytes the files under dir take on disk.
func diskUsage(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if info, err := e.Info(); err == nil {
			if st, ok := info.Sys().(*unix.Stat_t); ok {
				n += st.Blocks * 512
			}
		}
		return nil
	})
	return n
}
