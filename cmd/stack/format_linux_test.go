package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stack-dev/stack/api"
	"github.com/stack-dev/stack/internal/errdefs"
)

// TestOutputFormats prints the same rows in each of --format's forms, as
// the docker CLI and compose read them.
func TestOutputFormats(t *testing.T) {
	s := api.ContainerStats{ID: "020a7a88e3fc79ca0736", Name: "p-web-1", CPUPercent: 1.234, MemoryUsage: 328 << 10,
		MemoryLimit: 1 << 30, MemoryPercent: 0.03, NetRx: 180, NetTx: 1500, Pids: 2}
	stats := []any{newStatsRow(s, true)}
	ct := api.Container{ID: "9f86d081884c7d659a2feaa0c55ad015", Name: "p-web-1", Project: "p", Service: "web", Number: 1, Image: "nginx",
		Command: []string{"nginx", "-g", "daemon off;"}, State: "running", Health: "healthy", Created: time.Now().Add(-time.Hour),
		Started: time.Now().Add(-time.Hour), Ports: []api.Port{{HostIP: "127.0.0.1", HostPort: 8080, ContainerPort: 80, Protocol: "tcp"}}}
	ps := []any{newPSRow(ct, true)}
	for _, c := range []struct {
		name, format string
		cols         columns
		rows         []any
		want         string
	}{
		{"stats table", "", statsColumns, stats,
			"CONTAINER ID   NAME      CPU %     MEM USAGE / LIMIT   MEM %     NET I/O        BLOCK I/O   PIDS\n" +
				"020a7a88e3fc   p-web-1   1.23%     328KiB / 1GiB       0.03%     180B / 1.5kB   0B / 0B     2\n"},
		{"stats template", "{{.Name}}: {{.CPUPerc}}", statsColumns, stats, "p-web-1: 1.23%\n"},
		{"stats table template", `table {{.Name}}\t{{.PIDs}}`, statsColumns, stats, "NAME      PIDS\np-web-1   2\n"},
		{"ps template", "{{.Name}} {{.State}} {{.Health}}", psColumns, ps, "p-web-1 running healthy\n"},
		{"ps table template", `table {{.Name}}\t{{.Ports}}`, psColumns, ps, "NAME      PORTS\np-web-1   127.0.0.1:8080->80/tcp\n"},
		{"ps template of a field without a header", `table {{.Publishers}}`, psColumns, ps, "PUBLISHERS\n[{127.0.0.1 80 8080 tcp}]\n"},
		{"template functions", `{{json .Publishers}} {{upper .Service}} {{join (split .Name "-") "/"}}`, psColumns, ps,
			`[{"URL":"127.0.0.1","TargetPort":80,"PublishedPort":8080,"Protocol":"tcp"}] WEB p/web/1` + "\n"},
		{"literal text", "xyz", psColumns, ps, "xyz\n"},
		{"ls json is an array", "json", lsColumns, []any{lsRow{Name: "p", Status: "running(1)"}}, `[{"Name":"p","Status":"running(1)","ConfigFiles":""}]` + "\n"},
		{"ls json of nothing", "json", lsColumns, nil, "[]\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f, err := parseFormat(c.format)
			if err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			if err := f.write(&b, c.cols, c.rows); err != nil {
				t.Fatal(err)
			}
			if b.String() != c.want {
				t.Errorf("got:\n%q\nwant:\n%q", b.String(), c.want)
			}
		})
	}
}

// ps --format json prints one object per line with compose's keys.
func TestPsJSONKeys(t *testing.T) {
	ct := api.Container{ID: "9f86d081884c7d659a2feaa0c55ad015", Name: "p-web-1", Project: "p", Service: "web", State: "exited", ExitCode: 3}
	f, _ := parseFormat("json")
	var b bytes.Buffer
	if err := f.write(&b, psColumns, []any{newPSRow(ct, true), newPSRow(ct, true)}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("want one object per line:\n%s", b.String())
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &got); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"ID", "Name", "Names", "Image", "Command", "Project", "Service", "CreatedAt", "State", "Status", "Health", "ExitCode", "Publishers", "Labels", "LocalVolumes", "Mounts", "Networks", "Ports", "RunningFor", "Size"} {
		if _, ok := got[k]; !ok {
			t.Errorf("key %s missing from %s", k, lines[0])
		}
	}
	if got["ExitCode"] != 3.0 || got["Status"] != "Exited (3) N/A" {
		t.Errorf("ExitCode %v Status %v", got["ExitCode"], got["Status"])
	}
}

func TestBadTemplateIsAUsageError(t *testing.T) {
	_, err := parseFormat("{{.Name")
	if !errors.Is(err, errdefs.ErrInvalidArgument) || exitCode(err) != 2 {
		t.Errorf("err = %v (exit %d), want a usage error", err, exitCode(err))
	}
	f, _ := parseFormat("{{.Nope}}")
	var b bytes.Buffer
	if err := f.write(&b, psColumns, []any{newPSRow(api.Container{}, true)}); exitCode(err) != 2 {
		t.Errorf("unknown field: err = %v, want exit 2", err)
	}
}
