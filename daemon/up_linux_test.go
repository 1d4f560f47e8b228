package daemon

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stack-dev/stack/api"
	"github.com/stack-dev/stack/spec"
)

// These tests drive Up and Down on fake engines (fake_linux_test.go):
// no root, no kernel, and the operations they asked for compared as
// text. The project: db with a named volume, web depending on db and
// publishing a port, in one stack file.

const upTestStack = `
name: demo
services:
  db:
    image: busybox
    command: ["sleep", "3600"]
    volumes: ["data:/data"]
  web:
    image: busybox
    command: ["httpd", "-f"]
    depends_on: [db]
    ports: ["8080:80"]
volumes:
  data: {}
`

// loadStack loads a stack file from its text.
func loadStack(t *testing.T, text string) *spec.Project {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "stack.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := spec.Load(spec.LoadOptions{Files: []string{path}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// up runs Up and returns the events' actions as "service:action" words.
func (f *fakeEngines) up(t *testing.T, p *spec.Project, req api.UpRequest) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var evs []string
	err := f.d.Up(ctx, p, req, func(e api.Event) {
		if w := eventWord(e); w != "" {
			evs = append(evs, w)
		}
	})
	return strings.Join(evs, " "), err
}

func (f *fakeEngines) down(t *testing.T, project string, req api.DownRequest) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var evs []string
	if err := f.d.Down(ctx, project, req, func(e api.Event) {
		if w := eventWord(e); w != "" {
			evs = append(evs, w)
		}
	}); err != nil {
		t.Fatalf("down: %v", err)
	}
	return strings.Join(evs, " ")
}

// eventWord is an event as "container:action"; "" for the steps in
// progress (creating, starting, ...), which only time a display.
func eventWord(e api.Event) string {
	switch e.Action {
	case api.ActionCreating, api.ActionStarting, api.ActionStopping, api.ActionRemoving:
		return ""
	}
	who := e.Container
	if who == "" {
		who = e.Service
	}
	if who == "" {
		return e.Action
	}
	return who + ":" + e.Action
}

func check(t *testing.T, what, got, want string) {
	t.Helper()
	if got != strings.TrimSpace(want) {
		t.Errorf("%s:\n%s\nwant:\n%s", what, got, strings.TrimSpace(want))
	}
}

func TestUpDown(t *testing.T) {
	f := newFakeDaemon(t)
	p := loadStack(t, upTestStack)
	evs, err := f.up(t, p, api.UpRequest{})
	if err != nil {
		t.Fatal(err)
	}
	check(t, "up events", evs, "volume-create network-create demo-db-1:create demo-db-1:start demo-web-1:create demo-web-1:start")
	// The network and the volume first, then db before web, each
	// container's storage, network and runtime container in that order.
	check(t, "up operations", f.log.take(), `
network create demo_default
storage mount c1 (1 layers)
network setup c1 demo_default names=db,demo-db-1,c1
runtime create c1 sleep 3600
runtime start c1
storage mount c2 (1 layers)
network setup c2 demo_default names=web,demo-web-1,c2 port 8080:80/tcp
runtime create c2 httpd -f
runtime start c2`)
	// The named volume was filled from the image's content at its target.
	seed, err := os.ReadFile(filepath.Join(f.d.volumeDir("demo_data"), "_data", "seed"))
	if err != nil || string(seed) != "from the image\n" {
		t.Errorf("volume content: %q, %v", seed, err)
	}
	cs, err := f.d.Containers(context.Background(), "demo")
	if err != nil {
		t.Fatal(err)
	}
	var states []string
	for _, c := range cs {
		states = append(states, c.Name+"="+c.State)
	}
	check(t, "ps", strings.Join(states, " "), "demo-db-1=running demo-web-1=running")

	// Down: web before db (it depends on db), then the network; the
	// volume stays without -v.
	evs = f.down(t, "demo", api.DownRequest{})
	check(t, "down events", evs, "demo-web-1:stop demo-web-1:remove demo-db-1:stop demo-db-1:remove network-remove")
	check(t, "down operations", f.log.take(), `
runtime stop c2 SIGTERM 10s
runtime delete c2
network teardown c2
storage unmount c2
storage remove c2
runtime stop c1 SIGTERM 10s
runtime delete c1
network teardown c1
storage unmount c1
storage remove c1
network remove demo_default`)
	if _, err := os.Stat(f.d.volumeDir("demo_data")); err != nil {
		t.Errorf("down without -v removed the volume: %v", err)
	}
	if recs, _ := f.d.records("demo"); len(recs) != 0 {
		t.Errorf("records left after down: %v", recs)
	}
	if evs := f.down(t, "demo", api.DownRequest{Volumes: true}); evs != "volume-remove" {
		t.Errorf("down -v events: %s", evs)
	}
	if _, err := os.Stat(f.d.volumeDir("demo_data")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("down -v kept the volume: %v", err)
	}
}

// TestUpReconcile: a second up changes nothing; a changed service is
// recreated alone; scale adds and removes replicas; a service gone from
// the file is an orphan until --remove-orphans.
func TestUpReconcile(t *testing.T) {
	f := newFakeDaemon(t)
	p := loadStack(t, upTestStack)
	if _, err := f.up(t, p, api.UpRequest{}); err != nil {
		t.Fatal(err)
	}
	f.log.take()

	evs, err := f.up(t, p, api.UpRequest{})
	if err != nil {
		t.Fatal(err)
	}
	check(t, "second up events", evs, "")
	check(t, "second up operations", f.log.take(), "")

	changed := loadStack(t, strings.Replace(upTestStack, `["httpd", "-f"]`, `["httpd", "-f", "-v"]`, 1))
	evs, err = f.up(t, changed, api.UpRequest{})
	if err != nil {
		t.Fatal(err)
	}
	check(t, "recreate events", evs, "demo-web-1:stop demo-web-1:remove demo-web-1:create demo-web-1:start")
	check(t, "recreate operations", f.log.take(), `
runtime stop c2 SIGTERM 10s
runtime delete c2
network teardown c2
storage unmount c2
storage remove c2
storage mount c3 (1 layers)
network setup c3 demo_default names=web,demo-web-1,c3 port 8080:80/tcp
runtime create c3 httpd -f -v
runtime start c3`)

	// Two replicas cannot share host port 8080: scale a service without one.
	scaled := loadStack(t, strings.Replace(upTestStack, `ports: ["8080:80"]`, `ports: ["80"]`, 1))
	if _, err := f.up(t, scaled, api.UpRequest{}); err != nil {
		t.Fatal(err)
	}
	f.log.take()
	evs, err = f.up(t, scaled, api.UpRequest{Scale: map[string]int{"web": 2}})
	if err != nil {
		t.Fatal(err)
	}
	check(t, "scale up events", evs, "demo-web-2:create demo-web-2:start")
	check(t, "scale up operations", f.log.take(), `
storage mount c5 (1 layers)
network setup c5 demo_default names=web,demo-web-2,c5 port 49232:80/tcp
runtime create c5 httpd -f
runtime start c5`)
	evs, err = f.up(t, scaled, api.UpRequest{Scale: map[string]int{"web": 1}})
	if err != nil {
		t.Fatal(err)
	}
	check(t, "scale down events", evs, "demo-web-2:stop demo-web-2:remove")
	f.log.take()

	dbOnly := loadStack(t, `
name: demo
services:
  db:
    image: busybox
    command: ["sleep", "3600"]
    volumes: ["data:/data"]
volumes:
  data: {}
`)
	evs, err = f.up(t, dbOnly, api.UpRequest{})
	if err != nil {
		t.Fatal(err)
	}
	check(t, "orphan events", evs, "warning")
	check(t, "orphan operations", f.log.take(), "")
	evs, err = f.up(t, dbOnly, api.UpRequest{RemoveOrphans: true})
	if err != nil {
		t.Fatal(err)
	}
	check(t, "remove orphans events", evs, "demo-web-1:stop demo-web-1:remove")
	f.down(t, "demo", api.DownRequest{Volumes: true})
}

// TestUpFailureLeavesNothing: a container whose creation fails in the
// runtime takes its storage and network with it, and its record; the
// services before it stay.
func TestUpFailureLeavesNothing(t *testing.T) {
	f := newFakeDaemon(t)
	f.rt.failCreate["c2"] = errors.New("no more memory")
	p := loadStack(t, upTestStack)
	_, err := f.up(t, p, api.UpRequest{})
	if err == nil || !strings.Contains(err.Error(), "no more memory") {
		t.Fatalf("up: %v, want the runtime's error", err)
	}
	check(t, "failed up operations", f.log.take(), `
network create demo_default
storage mount c1 (1 layers)
network setup c1 demo_default names=db,demo-db-1,c1
runtime create c1 sleep 3600
runtime start c1
storage mount c2 (1 layers)
network setup c2 demo_default names=web,demo-web-1,c2 port 8080:80/tcp
runtime create c2 httpd -f
network teardown c2
storage unmount c2
storage remove c2`)
	recs, _ := f.d.records("demo")
	if len(recs) != 1 || recs[0].Name != "demo-db-1" {
		t.Errorf("records after a failed up: %v, want demo-db-1 only", recs)
	}
	delete(f.rt.failCreate, "c2")
	evs, err := f.up(t, p, api.UpRequest{})
	if err != nil {
		t.Fatal(err)
	}
	check(t, "retried up events", evs, "demo-web-1:create demo-web-1:start")
	f.down(t, "demo", api.DownRequest{Volumes: true})
}

// TestRestartPolicy: a container that exits by itself is started again
// when its policy says so, as a new run of the same container.
func TestRestartPolicy(t *testing.T) {
	f := newFakeDaemon(t)
	p := loadStack(t, `
name: demo
services:
  job:
    image: busybox
    command: ["false"]
    restart: on-failure
`)
	if _, err := f.up(t, p, api.UpRequest{}); err != nil {
		t.Fatal(err)
	}
	f.log.take()
	f.rt.exit("c1", 1)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if st, err := f.rt.State("c1"); err == nil && st.Pid != 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	check(t, "restart operations", f.log.take(), `
runtime delete c1
runtime create c1 false
runtime start c1`)
	cs, _ := f.d.Containers(context.Background(), "demo")
	if len(cs) != 1 || cs[0].RestartCount != 1 || cs[0].State != "running" {
		t.Errorf("after the restart: %+v", cs)
	}
	f.down(t, "demo", api.DownRequest{})
}
