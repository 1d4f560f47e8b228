package dockerapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"

	"github.com/stack-dev/stack/api"
	"github.com/stack-dev/stack/daemon"
	"github.com/stack-dev/stack/internal/errdefs"
	"github.com/stack-dev/stack/spec"
)

// fakeBackend answers the few calls a test makes; any other call panics
// on the nil Backend it embeds.
type fakeBackend struct {
	Backend
	created []daemon.ContainerCreate
}

func (f *fakeBackend) Info(ctx context.Context) (api.Info, error) {
	return api.Info{KernelVersion: "6.1.0-test", StateRoot: "/var/lib/stack"}, nil
}

func (f *fakeBackend) CreateContainer(ctx context.Context, req daemon.ContainerCreate) (string, error) {
	f.created = append(f.created, req)
	return strings.Repeat("ab", 32), nil
}

func (f *fakeBackend) InspectContainer(ctx context.Context, ref string) (daemon.ContainerInfo, error) {
	if ref == "x" {
		return daemon.ContainerInfo{ID: strings.Repeat("cd", 32), Name: "x", State: "running"}, nil
	}
	return daemon.ContainerInfo{}, errdefs.ErrNotFound
}

func (f *fakeBackend) InspectNetwork(ctx context.Context, ref string) (daemon.NetworkInfo, error) {
	if ref == "appnet" {
		return daemon.NetworkInfo{Name: "appnet"}, nil
	}
	return daemon.NetworkInfo{}, errdefs.ErrNotFound
}

func request(t *testing.T, h http.Handler, method, path, body string) *httptest.ResponseRecorder {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, r)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

// TestVersionNegotiation: /_ping and /version say what a client
// negotiates from, a version prefix within [MinAPIVersion, APIVersion]
// is served, one outside is a 400 that says the range.
func TestVersionNegotiation(t *testing.T) {
	h := Handler(&fakeBackend{}, Options{Version: "1.2.3"})
	w := request(t, h, "GET", "/_ping", "")
	if w.Code != 200 || w.Body.String() != "OK" || w.Header().Get("Api-Version") != APIVersion || w.Header().Get("Builder-Version") != "1" {
		t.Errorf("/_ping: %d %q %v", w.Code, w.Body.String(), w.Header())
	}
	if w := request(t, h, "HEAD", "/_ping", ""); w.Code != 200 || w.Body.Len() != 0 {
		t.Errorf("HEAD /_ping: %d %q", w.Code, w.Body.String())
	}
	tests := []struct {
		path   string
		status int
		want   string
	}{
		{"/version", 200, `"ApiVersion":"1.56"`},
		{"/v1.41/version", 200, `"MinAPIVersion":"1.24"`},
		{"/v1.24/version", 200, `"Version":"1.2.3"`},
		{"/v1.12/version", 400, "client version 1.12 is too old. Minimum supported API version is 1.24"},
		{"/v1.99/version", 400, "client version 1.99 is too new. Maximum supported API version is 1.56"},
		{"/v1.41/swarm", 404, "has no route GET /swarm"},
	}
	for _, tt := range tests {
		w := request(t, h, "GET", tt.path, "")
		if w.Code != tt.status || !strings.Contains(w.Body.String(), tt.want) {
			t.Errorf("GET %s: %d %s, want %d and %q", tt.path, w.Code, w.Body.String(), tt.status, tt.want)
		}
	}
}

// TestCreateRefusesUnsupported: a create that sets what stack does not do
// is a 400 naming each field, and reaches no container.
func TestCreateRefusesUnsupported(t *testing.T) {
	b := &fakeBackend{}
	h := Handler(b, Options{})
	body := `{"Image":"busybox","HostConfig":{"BlkioWeight":10,"CgroupParent":"mine","Memory":1048576,"OomKillDisable":false,"MemorySwappiness":-1}}`
	w := request(t, h, "POST", "/v1.50/containers/create", body)
	var e struct{ Message string }
	json.Unmarshal(w.Body.Bytes(), &e)
	if w.Code != 400 || !strings.Contains(e.Message, "HostConfig.CgroupParent, HostConfig.BlkioWeight: not supported by stack") {
		t.Errorf("create with unsupported fields: %d %q", w.Code, e.Message)
	}
	if len(b.created) != 0 {
		t.Errorf("the backend was asked to create %+v", b.created)
	}
	// What the docker CLI sends for docker run busybox: defaults only.
	cli := `{"Image":"busybox","Cmd":["true"],"AttachStdout":true,"AttachStderr":true,"Env":[],"Labels":{},"Volumes":{},
	"HostConfig":{"Binds":null,"ContainerIDFile":"","LogConfig":{"Type":"","Config":{}},"NetworkMode":"default","PortBindings":{},
	"RestartPolicy":{"Name":"no","MaximumRetryCount":0},"AutoRemove":true,"VolumeDriver":"","VolumesFrom":null,"ConsoleSize":[24,80],
	"CapAdd":null,"CapDrop":null,"CgroupnsMode":"","Dns":[],"DnsOptions":[],"DnsSearch":[],"ExtraHosts":null,"GroupAdd":null,
	"IpcMode":"","Cgroup":"","Links":null,"OomScoreAdj":0,"PidMode":"","Privileged":false,"PublishAllPorts":false,
	"ReadonlyRootfs":false,"SecurityOpt":null,"UTSMode":"","UsernsMode":"","ShmSize":0,"Isolation":"","CpuShares":0,"Memory":0,
	"NanoCpus":0,"CgroupParent":"","BlkioWeight":0,"BlkioWeightDevice":[],"BlkioDeviceReadBps":[],"BlkioDeviceWriteBps":[],
	"BlkioDeviceReadIOps":[],"BlkioDeviceWriteIOps":[],"CpuPeriod":0,"CpuQuota":0,"CpuRealtimePeriod":0,"CpuRealtimeRuntime":0,
	"CpusetCpus":"","CpusetMems":"","Devices":[],"DeviceCgroupRules":null,"DeviceRequests":null,"MemoryReservation":0,
	"MemorySwap":0,"MemorySwappiness":null,"OomKillDisable":null,"PidsLimit":null,"Ulimits":[],"CpuCount":0,"CpuPercent":0,
	"IOMaximumIOps":0,"IOMaximumBandwidth":0,"MaskedPaths":null,"ReadonlyPaths":null},
	"NetworkingConfig":{"EndpointsConfig":{"default":{"IPAMConfig":null,"Links":null,"Aliases":null,"MacAddress":"","DriverOpts":null,
	"GwPriority":0,"NetworkID":"","EndpointID":"","Gateway":"","IPAddress":"","IPPrefixLen":0,"IPv6Gateway":"","GlobalIPv6Address":"",
	"GlobalIPv6PrefixLen":0,"DNSNames":null}}}}`
	w = request(t, h, "POST", "/v1.50/containers/create?name=job", cli)
	if w.Code != 201 || len(b.created) != 1 {
		t.Fatalf("the docker CLI's create: %d %s", w.Code, w.Body.String())
	}
	got := b.created[0]
	if got.Name != "job" || !got.AutoRemove || got.Service.Image != "busybox" || !slices.Equal(got.Service.Command, spec.Command{"true"}) {
		t.Errorf("translated: %+v %+v", got, got.Service)
	}
	if _, ok := got.Service.Networks[daemon.DefaultNetwork]; !ok || len(got.Service.Networks) != 1 {
		t.Errorf("networks: %v, want the default network alone", got.Service.Networks)
	}
}

func TestTranslateCreate(t *testing.T) {
	resolve := func(ref string) (string, error) {
		switch ref {
		case "appnet", "bridge", "backend":
			return ref, nil
		}
		return "", errdefs.ErrNotFound
	}
	tests := []struct {
		name, body string
		check      func(t *testing.T, c daemon.ContainerCreate)
		err        string // a part of the error, or "" for none
	}{
		{name: "binds, mounts and anonymous volumes",
			body: `{"Image":"busybox","Volumes":{"/cache":{}},"HostConfig":{"Binds":["/srv/www:/www:ro","data:/data:nocopy"],
			"Mounts":[{"Type":"tmpfs","Target":"/run/x","TmpfsOptions":{"SizeBytes":1048576}},{"Type":"volume","Source":"logs","Target":"/logs","VolumeOptions":{"Labels":{"a":"b"}}}]}}`,
			check: func(t *testing.T, c daemon.ContainerCreate) {
				var got []string
				for _, v := range c.Service.Volumes {
					got = append(got, v.Type+":"+v.Source+":"+v.Target+map[bool]string{true: ":ro", false: ""}[v.ReadOnly])
				}
				want := "bind:/srv/www:/www:ro volume:data:/data tmpfs::/run/x volume:logs:/logs volume::/cache"
				if strings.Join(got, " ") != want || !c.Service.Volumes[1].Volume.NoCopy || c.VolumeLabels["logs"]["a"] != "b" {
					t.Errorf("volumes: %s, want %s", strings.Join(got, " "), want)
				}
			}},
		{name: "ports, restart, resources and the rest",
			body: `{"Image":"busybox","Env":["A=1","B=x=y","C"],"ExposedPorts":{"9000/tcp":{}},"StopTimeout":3,"User":"nobody",
			"Healthcheck":{"Test":["CMD","true"],"Interval":1000000000,"Retries":2},
			"HostConfig":{"PortBindings":{"80/tcp":[{"HostIp":"127.0.0.1","HostPort":"8080"}],"53/udp":[{"HostPort":""}]},
			"RestartPolicy":{"Name":"on-failure","MaximumRetryCount":3},"Memory":67108864,"NanoCpus":500000000,"PidsLimit":100,
			"CapAdd":["NET_ADMIN"],"ExtraHosts":["db:10.0.0.2"],"Tmpfs":{"/tmp":"size=1m"},"Init":true,
			"Ulimits":[{"Name":"nofile","Soft":1024,"Hard":2048}],"LogConfig":{"Type":"json-file","Config":{"max-size":"1m"}}}}`,
			check: func(t *testing.T, c daemon.ContainerCreate) {
				s := c.Service
				if *s.Environment["A"] != "1" || *s.Environment["B"] != "x=y" || s.Environment["C"] != nil {
					t.Errorf("environment: %v", s.Environment)
				}
				var ports []string
				for _, p := range s.Ports {
					ports = append(ports, p.HostIP+":"+p.Published+":"+p.Protocol)
				}
				if strings.Join(ports, " ") != ":"+":udp 127.0.0.1:8080:tcp" && strings.Join(ports, " ") != "::udp 127.0.0.1:8080:tcp" {
					t.Errorf("ports: %q", ports)
				}
				if s.Restart != "on-failure:3" || s.MemLimit != 64<<20 || s.CPUs != 0.5 || s.PidsLimit != 100 || time.Duration(*s.StopGracePeriod) != 3*time.Second {
					t.Errorf("restart %q mem %d cpus %v pids %d stop %v", s.Restart, s.MemLimit, s.CPUs, s.PidsLimit, *s.StopGracePeriod)
				}
				if s.Healthcheck == nil || *s.Healthcheck.Retries != 2 || s.Ulimits["nofile"].Hard != 2048 || s.Logging.Options["max-size"] != "1m" {
					t.Errorf("healthcheck %+v ulimits %v logging %+v", s.Healthcheck, s.Ulimits, s.Logging)
				}
				if !slices.Equal(s.Expose, []string{"9000/tcp"}) || s.User != "nobody" || !*s.Init || s.Tmpfs[0] != "/tmp:size=1m" {
					t.Errorf("expose %v user %q tmpfs %v", s.Expose, s.User, s.Tmpfs)
				}
			}},
		{name: "a network with aliases, a second one",
			body: `{"Image":"busybox","HostConfig":{"NetworkMode":"appnet"},"NetworkingConfig":{"EndpointsConfig":{"appnet":{"Aliases":["web"]},"backend":{"IPAMConfig":{"IPv4Address":"10.5.0.9"}}}}}`,
			check: func(t *testing.T, c daemon.ContainerCreate) {
				n := c.Service.Networks
				if len(n) != 2 || !slices.Equal(n["appnet"].Aliases, []string{"web"}) || n["backend"].IPv4Address != "10.5.0.9" || n["appnet"].Priority <= n["backend"].Priority {
					t.Errorf("networks: appnet %+v backend %+v", n["appnet"], n["backend"])
				}
			}},
		{name: "network none", body: `{"Image":"busybox","HostConfig":{"NetworkMode":"none"}}`,
			check: func(t *testing.T, c daemon.ContainerCreate) {
				if c.Service.NetworkMode != "none" || len(c.Service.Networks) != 0 {
					t.Errorf("network mode %q networks %v", c.Service.NetworkMode, c.Service.Networks)
				}
			}},
		{name: "another container's network", body: `{"Image":"busybox","HostConfig":{"NetworkMode":"container:db"}}`,
			check: func(t *testing.T, c daemon.ContainerCreate) {
				if c.Service.NetworkMode != "container:db" {
					t.Errorf("network mode %q", c.Service.NetworkMode)
				}
			}},
		{name: "host network", body: `{"Image":"busybox","HostConfig":{"NetworkMode":"host"}}`, err: "HostConfig.NetworkMode host: not supported"},
		{name: "unknown network", body: `{"Image":"busybox","HostConfig":{"NetworkMode":"nope"}}`, err: "HostConfig.NetworkMode"},
		{name: "no image", body: `{"Cmd":["true"]}`, err: "Config.Image: an image is required"},
		{name: "links", body: `{"Image":"busybox","HostConfig":{"Links":["db:db"]}}`, err: "HostConfig.Links"},
		{name: "devices", body: `{"Image":"busybox","HostConfig":{"Devices":[{"PathOnHost":"/dev/fuse"}]}}`, err: "HostConfig.Devices[0].PathOnHost"},
		{name: "a mac address", body: `{"Image":"busybox","NetworkingConfig":{"EndpointsConfig":{"appnet":{"MacAddress":"02:42:ac:11:00:02"}}}}`, err: "NetworkingConfig.EndpointsConfig[appnet].MacAddress"},
		{name: "a bad bind", body: `{"Image":"busybox","HostConfig":{"Binds":["relative/path:/x"]}}`, err: "neither an absolute path nor a volume name"},
		{name: "auto remove with a restart policy", body: `{"Image":"busybox","HostConfig":{"AutoRemove":true,"RestartPolicy":{"Name":"always"}}}`, err: "cannot be combined"},
		{name: "another log driver", body: `{"Image":"busybox","HostConfig":{"LogConfig":{"Type":"syslog"}}}`, err: "stack logs json-file only"},
		{name: "sctp", body: `{"Image":"busybox","HostConfig":{"PortBindings":{"80/sctp":[{}]}}}`, err: "stack publishes tcp and udp"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var req container.CreateRequest
			if err := json.Unmarshal([]byte(tt.body), &req); err != nil {
				t.Fatal(err)
			}
			c, err := translateCreate("", req, resolve)
			switch {
			case tt.err == "" && err != nil:
				t.Fatalf("translate: %v", err)
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Fatalf("translate: %v, want an error with %q", err, tt.err)
			case tt.err != "" && !errors.Is(err, errdefs.ErrInvalidArgument) && !errors.Is(err, errdefs.ErrNotImplemented) && !errors.Is(err, errdefs.ErrNotFound):
				t.Fatalf("translate: %v: want a client error's class", err)
			case tt.check != nil:
				tt.check(t, c)
			}
		})
	}
}

func TestParseFilters(t *testing.T) {
	f, err := parseFilters(`{"label":{"a=b":true,"c":true,"off":false},"status":["running","exited"]}`)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(f["label"], []string{"a=b", "c"}) || !slices.Equal(f["status"], []string{"exited", "running"}) {
		t.Errorf("parsed %v", f)
	}
	if err := f.check("label", "status"); err != nil {
		t.Errorf("check: %v", err)
	}
	if err := f.check("label"); err == nil || !strings.Contains(err.Error(), `invalid filter "status"`) {
		t.Errorf("check of an unknown key: %v", err)
	}
	if !f.labels("label", map[string]string{"a": "b", "c": ""}) || f.labels("label", map[string]string{"a": "x", "c": ""}) {
		t.Error("label filters")
	}
	if !f.is("status", "running") || f.is("status", "paused") || !f.is("health", "anything") {
		t.Error("value filters")
	}
	for _, bad := range []string{`{"label":"a"}`, `[1]`, `{"label":{"a":"yes"}}`} {
		if _, err := parseFilters(bad); !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("parseFilters(%s): %v", bad, err)
		}
	}
}

// TestEventsOut maps the daemon's events to docker's.
func TestEventsOut(t *testing.T) {
	code := 3
	tests := []struct {
		ev   api.Event
		want string // "Type Action ID attr=value", "" for no docker event
	}{
		{api.Event{Type: api.TypeContainer, ID: "c1", Container: "web", Image: "busybox", Action: api.ActionRemove}, "container destroy c1 name=web"},
		{api.Event{Type: api.TypeContainer, ID: "c1", Container: "web", Action: api.ActionDie, ExitCode: &code}, "container die c1 exitCode=3"},
		{api.Event{Type: api.TypeContainer, ID: "c1", Container: "web", Action: api.ActionHealthy}, "container health_status: healthy c1 name=web"},
		{api.Event{Type: api.TypeContainer, Container: "web", Action: api.ActionStart}, ""},
		{api.Event{Type: api.TypeContainer, ID: "c1", Action: api.ActionWarning}, ""},
		{api.Event{Type: api.TypeNetwork, Network: "appnet", ID: "n1", Action: api.ActionNetworkConnect, Container: "web"}, "network connect n1 container=web"},
		{api.Event{Type: api.TypeVolume, Volume: "data", Action: api.ActionVolumeRemove}, "volume destroy data driver=local"},
		{api.Event{Type: api.TypeImage, Image: "app:1", Action: api.ActionImageTag}, "image tag app:1 name=app:1"},
		// A pull is one docker event, when it ends.
		{api.Event{Type: api.TypeImage, Image: "busybox:1", Action: api.ActionPulling}, ""},
		{api.Event{Type: api.TypeImage, Image: "busybox:1", Action: api.ActionPull}, "image pull busybox:1 name=busybox:1"},
	}
	for _, tt := range tests {
		m, ok := eventsOut(tt.ev)
		if !ok {
			if tt.want != "" {
				t.Errorf("%+v: no docker event, want %q", tt.ev, tt.want)
			}
			continue
		}
		f := strings.Fields(tt.want)
		if tt.want == "" || string(m.Type) != f[0] || !strings.HasPrefix(tt.want, string(m.Type)+" "+string(m.Action)+" "+m.Actor.ID) {
			t.Errorf("%+v: %s %s %s, want %q", tt.ev, m.Type, m.Action, m.Actor.ID, tt.want)
			continue
		}
		k, v, _ := strings.Cut(f[len(f)-1], "=")
		if m.Actor.Attributes[k] != v {
			t.Errorf("%+v: attributes %v, want %s=%s", tt.ev, m.Actor.Attributes, k, v)
		}
		if m.Type == events.ContainerEventType && !matchEvent(filters{"type": {"container"}, "container": {"web"}}, m) {
			t.Errorf("%+v does not match a filter on its container", tt.ev)
		}
	}
}

// TestRefusalsAre400: every request that asks for what stack does not do
// is a 400 whose message names the field or parameter, whichever route
// it comes by.
func TestRefusalsAre400(t *testing.T) {
	h := Handler(&fakeBackend{}, Options{})
	for _, c := range []struct {
		name, method, path, body, field string
	}{
		{"host network", "POST", "/v1.50/containers/create", `{"Image":"busybox","HostConfig":{"NetworkMode":"host"}}`, "NetworkMode host"},
		{"devices", "POST", "/v1.50/containers/create", `{"Image":"busybox","HostConfig":{"Devices":[{"PathOnHost":"/dev/null","PathInContainer":"/dev/null","CgroupPermissions":"rwm"}]}}`, "HostConfig.Devices"},
		{"links", "POST", "/v1.50/containers/create", `{"Image":"busybox","HostConfig":{"Links":["db:db"]}}`, "HostConfig.Links"},
		{"log driver", "POST", "/v1.50/containers/create", `{"Image":"busybox","HostConfig":{"LogConfig":{"Type":"syslog"}}}`, "HostConfig.LogConfig.Type"},
		{"sctp port", "POST", "/v1.50/containers/create", `{"Image":"busybox","HostConfig":{"PortBindings":{"80/sctp":[{"HostPort":"8080"}]}}}`, "HostConfig.PortBindings[80/sctp]"},
		{"platform", "POST", "/v1.50/containers/create?platform=windows/amd64", `{"Image":"busybox"}`, "platform"},
		{"build parameter", "POST", "/v1.50/build?squash=1", ``, "squash"},
		{"buildkit", "POST", "/v1.50/build?version=2", ``, "BuildKit"},
		{"network driver", "POST", "/v1.50/networks/create", `{"Name":"n","Driver":"overlay"}`, "Driver"},
		{"network ipv6", "POST", "/v1.50/networks/create", `{"Name":"n","EnableIPv6":true}`, "EnableIPv6"},
		{"volume driver", "POST", "/v1.50/volumes/create", `{"Name":"v","Driver":"nfs"}`, "Driver"},
		{"logs details", "GET", "/v1.50/containers/x/logs?stdout=1&details=1", ``, "details"},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := request(t, h, c.method, c.path, c.body)
			var e struct{ Message string }
			json.Unmarshal(w.Body.Bytes(), &e)
			if w.Code != 400 || !strings.Contains(e.Message, c.field) {
				t.Errorf("%s %s: %d %q, want 400 naming %s", c.method, c.path, w.Code, e.Message, c.field)
			}
		})
	}
}
