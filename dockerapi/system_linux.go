package dockerapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	goruntime "runtime"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/api/types/system"
	"github.com/moby/moby/api/types/volume"

	"github.com/stack-dev/stack/api"
	"github.com/stack-dev/stack/internal/errdefs"
)

var errNoHijack = fmt.Errorf("the connection cannot be taken over: %w", errdefs.ErrNotImplemented)

func (s *server) routes() {
	s.mux.HandleFunc("GET /_ping", s.ping)
	s.mux.HandleFunc("HEAD /_ping", s.ping)
	s.handle("GET /version", s.version)
	s.handle("GET /info", s.info)
	s.raw("GET /events", s.events)
	s.handle("GET /system/df", s.diskUsage)
	s.containerRoutes()
	s.execRoutes()
	s.imageRoutes()
	s.networkRoutes()
	s.volumeRoutes()
	s.mux.HandleFunc("/", notFound)
}

// ping answers /_ping with what a client negotiates from: the API
// version, and the builder (1: the classic one, whose /build stack has).
func (s *server) ping(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Builder-Version", "1")
	h.Set("Swarm", "inactive")
	h.Set("Cache-Control", "no-cache, no-store, must-revalidate")
	h.Set("Pragma", "no-cache")
	h.Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		w.Write([]byte("OK"))
	}
}

func (s *server) version(w http.ResponseWriter, r *http.Request) (any, error) {
	info, err := s.b.Info(r.Context())
	if err != nil {
		return nil, err
	}
	return system.VersionResponse{
		Platform:      system.PlatformInfo{Name: "stack"},
		Version:       s.o.Version,
		APIVersion:    APIVersion,
		MinAPIVersion: MinAPIVersion,
		Os:            "linux",
		Arch:          goruntime.GOARCH,
		GoVersion:     goruntime.Version(),
		KernelVersion: info.KernelVersion,
		Components: []system.ComponentVersion{{Name: "Engine", Version: s.o.Version, Details: map[string]string{
			"ApiVersion": APIVersion, "MinAPIVersion": MinAPIVersion, "Os": "linux", "Arch": goruntime.GOARCH,
			"GoVersion": goruntime.Version(), "KernelVersion": info.KernelVersion,
		}}},
	}, nil
}

// engineID is a stable ID of the engine: docker info's ID.
func engineID(stateRoot string) string {
	sum := sha256.Sum256([]byte("stack engine " + stateRoot))
	return hex.EncodeToString(sum[:16])
}

func (s *server) info(w http.ResponseWriter, r *http.Request) (any, error) {
	in, err := s.b.Info(r.Context())
	if err != nil {
		return nil, err
	}
	cs, err := s.b.ListContainers(r.Context())
	if err != nil {
		return nil, err
	}
	out := system.Info{
		ID: engineID(in.StateRoot), Containers: len(cs), Images: in.Images, Driver: in.StorageDriver,
		DriverStatus: [][2]string{{"State root", in.StateRoot}},
		Plugins:      system.PluginsInfo{Volume: []string{"local"}, Network: []string{"bridge", "null"}, Log: []string{"json-file"}},
		MemoryLimit:  true, SwapLimit: true, CPUCfsPeriod: true, CPUCfsQuota: true, CPUShares: true, CPUSet: true, PidsLimit: true,
		IPv4Forwarding: true, NGoroutines: goruntime.NumGoroutine(), SystemTime: time.Now().Format(time.RFC3339Nano),
		LoggingDriver: "json-file", CgroupDriver: in.CgroupDriver, CgroupVersion: strings.Fields(in.CgroupVersion + " ")[0],
		KernelVersion: in.KernelVersion, OperatingSystem: in.OperatingSystem, OSType: "linux", Architecture: in.Architecture,
		NCPU: in.CPUs, MemTotal: in.MemTotal, DockerRootDir: in.StateRoot, ServerVersion: s.o.Version,
		Runtimes:       map[string]system.RuntimeWithStatus{"stack": {Runtime: system.Runtime{Path: "stack"}}},
		DefaultRuntime: "stack", Swarm: swarm.Info{LocalNodeState: swarm.LocalNodeStateInactive},
		SecurityOptions: in.SecurityOptions, IndexServerAddress: "https://index.docker.io/v1/",
		Labels: []string{"com.stack.engine=stack"},
	}
	out.Name, _ = os.Hostname()
	for _, c := range cs {
		switch c.State {
		case "running":
			out.ContainersRunning++
		case "paused":
			out.ContainersPaused++
		default:
			out.ContainersStopped++
		}
	}
	return out, nil
}

// eventsOut turns a daemon event into docker's, false for an event
// docker has no counterpart of.
func eventsOut(ev api.Event) (events.Message, bool) {
	m := events.Message{Scope: "local", Time: ev.Time.Unix(), TimeNano: ev.Time.UnixNano()}
	attrs := map[string]string{}
	for k, v := range ev.Labels {
		attrs[k] = v
	}
	switch ev.Type {
	case api.TypeContainer, "":
		if ev.ID == "" {
			return m, false
		}
		m.Type, m.Actor.ID = events.ContainerEventType, ev.ID
		attrs["name"], attrs["image"] = ev.Container, ev.Image
		actions := map[string]events.Action{
			api.ActionCreate: events.ActionCreate, api.ActionStart: events.ActionStart, api.ActionStop: events.ActionStop,
			api.ActionDie: events.ActionDie, api.ActionRemove: events.ActionDestroy, api.ActionKill: events.ActionKill,
			api.ActionPause: events.ActionPause, api.ActionUnpause: events.ActionUnPause, api.ActionRestart: events.ActionRestart,
			api.ActionAttach: events.ActionAttach, api.ActionExecCreate: events.ActionExecCreate,
			api.ActionExecStart: events.ActionExecStart, api.ActionExecDie: events.ActionExecDie,
			api.ActionHealthy: events.ActionHealthStatusHealthy, api.ActionUnhealthy: events.ActionHealthStatusUnhealthy,
		}
		a, ok := actions[ev.Action]
		if !ok {
			return m, false
		}
		m.Action = a
		if ev.ExitCode != nil && ev.Action != api.ActionExecDie {
			attrs["exitCode"] = strconv.Itoa(*ev.ExitCode)
		}
		if ev.Action == api.ActionKill && ev.Message != "" {
			attrs["signal"] = ev.Message
		}
	case api.TypeNetwork:
		m.Type, m.Actor.ID = events.NetworkEventType, ev.ID
		attrs["name"], attrs["type"] = ev.Network, "bridge"
		switch ev.Action {
		case api.ActionNetworkCreate:
			m.Action = events.ActionCreate
		case api.ActionNetworkRemove:
			m.Action = events.ActionDestroy
		case api.ActionNetworkConnect:
			m.Action, attrs["container"] = events.ActionConnect, ev.Container
		case api.ActionNetworkDisconnect:
			m.Action, attrs["container"] = events.ActionDisconnect, ev.Container
		default:
			return m, false
		}
	case api.TypeVolume:
		m.Type, m.Actor.ID = events.VolumeEventType, ev.Volume
		attrs["driver"] = "local"
		switch ev.Action {
		case api.ActionVolumeCreate:
			m.Action = events.ActionCreate
		case api.ActionVolumeRemove:
			m.Action = events.ActionDestroy
		default:
			return m, false
		}
	case api.TypeImage:
		m.Type, m.Actor.ID = events.ImageEventType, ev.Image
		attrs["name"] = ev.Image
		actions := map[string]events.Action{
			api.ActionImageTag: events.ActionTag, api.ActionImageUntag: events.ActionUnTag, api.ActionImageRemove: events.ActionDelete,
			api.ActionImageLoad: events.ActionLoad, api.ActionImageSave: events.ActionSave, api.ActionPush: events.ActionPush,
			api.ActionBuilt: events.ActionTag, api.ActionPull: events.ActionPull,
		}
		a, ok := actions[ev.Action]
		if !ok {
			return m, false
		}
		m.Action = a
		if ev.ID != "" && ev.Action != api.ActionImageTag {
			m.Actor.ID = ev.ID
		}
	default:
		return m, false
	}
	m.Actor.Attributes = attrs
	return m, true
}

// eventFilters are the keys /events filters on.
var eventFilters = []string{"type", "event", "container", "image", "label", "network", "volume", "scope"}

// matchEvent applies /events filters to a docker event.
func matchEvent(f filters, m events.Message) bool {
	a := m.Actor.Attributes
	action := string(m.Action)
	base, _, _ := strings.Cut(action, ":")
	return f.is("type", string(m.Type)) &&
		f.anyOf("event", func(v string) bool { return v == action || v == base }) &&
		f.anyOf("container", func(v string) bool {
			return m.Type == events.ContainerEventType && (v == a["name"] || strings.HasPrefix(m.Actor.ID, v)) ||
				m.Type == events.NetworkEventType && v == a["container"]
		}) &&
		f.anyOf("image", func(v string) bool { return a["image"] == v || m.Type == events.ImageEventType && m.Actor.ID == v }) &&
		f.anyOf("network", func(v string) bool { return m.Type == events.NetworkEventType && (a["name"] == v || m.Actor.ID == v) }) &&
		f.anyOf("volume", func(v string) bool { return m.Type == events.VolumeEventType && m.Actor.ID == v }) &&
		f.is("scope", "local") && f.labels("label", a)
}

// parseTime reads a since/until value: Unix seconds (with a fraction) or
// RFC 3339, or a duration back from now ("10m"), as the CLI sends them.
func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		return time.Now().Add(-d), nil
	}
	if secs, frac, _ := strings.Cut(s, "."); secs != "" {
		if n, err := strconv.ParseInt(secs, 10, 64); err == nil {
			ns := int64(0)
			if frac != "" {
				frac = (frac + "000000000")[:9]
				ns, _ = strconv.ParseInt(frac, 10, 64)
			}
			return time.Unix(n, ns), nil
		}
	}
	for _, layout := range []string{time.RFC3339Nano, time.RFC3339, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("time %q: want Unix seconds, RFC 3339 or a duration: %w", s, errdefs.ErrInvalidArgument)
}

// events streams docker events, from since (when the engine still holds
// them) until until or the client goes away.
func (s *server) events(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f, err := parseFilters(q.Get("filters"))
	if err != nil {
		return err
	}
	if err := f.check(eventFilters...); err != nil {
		return err
	}
	since, err := parseTime(q.Get("since"))
	if err != nil {
		return err
	}
	until, err := parseTime(q.Get("until"))
	if err != nil {
		return err
	}
	past, ch, cancel := s.b.SubscribeEvents(since)
	defer cancel()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	flush(w)
	legacy := versionBefore(r, "1.52")
	send := func(ev api.Event) error {
		m, ok := eventsOut(ev)
		if !ok || !matchEvent(f, m) {
			return nil
		}
		var out any = m
		if legacy && m.Type == events.ContainerEventType {
			// Before 1.52 a container's event carried these too
			// (docker-py and compose v1 read them).
			out = legacyEvent{Message: m, Status: string(m.Action), ID: m.Actor.ID, From: m.Actor.Attributes["image"]}
		}
		if err := writeLine(w, out); err != nil {
			return err
		}
		flush(w)
		return nil
	}
	for _, ev := range past {
		if !until.IsZero() && ev.Time.After(until) {
			return nil
		}
		if err := send(ev); err != nil {
			return nil
		}
	}
	ctx := r.Context()
	if !until.IsZero() {
		var stop context.CancelFunc
		ctx, stop = context.WithDeadline(ctx, until)
		defer stop()
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev := <-ch:
			if err := send(ev); err != nil {
				return nil
			}
		}
	}
}

// legacyEvent is a container's event before API 1.52, with the fields
// API 1.22 deprecated.
type legacyEvent struct {
	events.Message
	Status string `json:"status,omitempty"`
	ID     string `json:"id,omitempty"`
	From   string `json:"from,omitempty"`
}

// diskUsage answers /system/df: per API version, the legacy lists
// (before 1.52), the usage summaries (from 1.52), or both (1.52).
func (s *server) diskUsage(w http.ResponseWriter, r *http.Request) (any, error) {
	ctx := r.Context()
	imgs, err := s.b.ImageList(ctx)
	if err != nil {
		return nil, err
	}
	cs, err := s.b.ListContainers(ctx)
	if err != nil {
		return nil, err
	}
	vols, err := s.b.Volumes(ctx)
	if err != nil {
		return nil, err
	}
	var legacy legacyDiskUsage
	iu := &image.DiskUsage{}
	cu := &container.DiskUsage{}
	vu := &volume.DiskUsage{}
	for _, img := range imgs {
		sum := imageSummary(img)
		legacy.Images = append(legacy.Images, sum)
		legacy.LayersSize += img.Size
		iu.TotalCount++
		iu.TotalSize += img.Size
		if img.Containers > 0 {
			iu.ActiveCount++
		} else {
			iu.Reclaimable += img.Size
		}
	}
	for _, c := range cs {
		sum := containerSummary(r, c)
		if size, err := s.b.ContainerSize(ctx, c.ID); err == nil {
			sum.SizeRw = size
			cu.TotalSize += size
			if c.State != "running" && c.State != "paused" {
				cu.Reclaimable += size
			}
		}
		legacy.Containers = append(legacy.Containers, sum)
		cu.TotalCount++
		if c.State == "running" || c.State == "paused" {
			cu.ActiveCount++
		}
	}
	for _, v := range vols {
		vol := volumeOut(v)
		size := s.b.VolumeSize(v.Name)
		vol.UsageData = &volume.UsageData{Size: size, RefCount: int64(len(v.UsedBy))}
		legacy.Volumes = append(legacy.Volumes, &vol)
		vu.TotalCount++
		vu.TotalSize += size
		if len(v.UsedBy) > 0 {
			vu.ActiveCount++
		} else {
			vu.Reclaimable += size
		}
	}
	cur := system.DiskUsage{ImageUsage: iu, ContainerUsage: cu, VolumeUsage: vu}
	switch {
	case versionBefore(r, "1.52"):
		return legacy, nil
	case apiVersion(r) == "1.52" && !boolValue(r, "verbose"):
		return struct {
			legacyDiskUsage
			system.DiskUsage
		}{legacy, cur}, nil
	}
	if boolValue(r, "verbose") {
		iu.Items, cu.Items, vu.Items = legacy.Images, legacy.Containers, nil
		for _, v := range legacy.Volumes {
			vu.Items = append(vu.Items, *v)
		}
	}
	return cur, nil
}

// legacyDiskUsage is /system/df's answer before API 1.52, of docker's
// types: the images, containers and volumes, each with its size.
type legacyDiskUsage struct {
	LayersSize int64
	Images     []image.Summary
	Containers []container.Summary
	Volumes    []*volume.Volume
	BuildCache []any
}

// writeLine writes v as one line of JSON.
func writeLine(w io.Writer, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(append(data, '\n'))
	return err
}
