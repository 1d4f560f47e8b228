package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stack-dev/stack/api"
	"github.com/stack-dev/stack/internal/errdefs"
	"github.com/stack-dev/stack/spec"
)

// TestContainerService drives the service layer as the Docker API does
// (docker network create, run -d --network, network connect --alias,
// stop, rm, network rm) on the fake engines: the operations it asks for
// and the typed events it publishes, each naming its network or
// container in its own field.
func TestContainerService(t *testing.T) {
	f := newFakeDaemon(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	past, evs, unsubscribe := f.d.SubscribeEvents(time.Now())
	defer unsubscribe()
	if len(past) != 0 {
		t.Fatalf("events before anything happened: %v", past)
	}

	if _, err := f.d.CreateNetwork(ctx, NetworkCreate{Name: "appnet", Labels: map[string]string{"purpose": "test"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.d.CreateNetwork(ctx, NetworkCreate{Name: "appnet"}); !errors.Is(err, errdefs.ErrAlreadyExists) {
		t.Errorf("create the network again: %v, want already exists", err)
	}
	if _, err := f.d.CreateNetwork(ctx, NetworkCreate{Name: "backnet", Internal: true}); err != nil {
		t.Fatal(err)
	}
	svc := &spec.Service{Name: "srv", Image: "busybox", Command: []string{"httpd", "-f"},
		Networks: map[string]*spec.ServiceNetwork{"appnet": {}}}
	id, err := f.d.CreateContainer(ctx, ContainerCreate{Name: "srv", Service: svc, Labels: map[string]string{"tier": "front"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.d.CreateContainer(ctx, ContainerCreate{Name: "srv", Service: svc}); !errors.Is(err, errdefs.ErrAlreadyExists) {
		t.Errorf("a second container named srv: %v, want already exists", err)
	}
	if err := f.d.StartContainer(ctx, "srv"); err != nil {
		t.Fatal(err)
	}
	if err := f.d.ConnectNetwork(ctx, "backnet", id[:2], EndpointRequest{Aliases: []string{"front"}}); err != nil {
		t.Fatal(err)
	}
	info, err := f.d.InspectContainer(ctx, "srv")
	if err != nil {
		t.Fatal(err)
	}
	if info.State != "running" || info.Labels["tier"] != "front" || info.Project != "" {
		t.Errorf("inspect: state %q labels %v project %q", info.State, info.Labels, info.Project)
	}
	if err := f.d.RemoveNetwork(ctx, "backnet"); !errors.Is(err, errdefs.ErrFailedPrecondition) {
		t.Errorf("remove a network in use: %v, want failed precondition", err)
	}
	if err := f.d.DisconnectNetwork(ctx, "backnet", "srv"); err != nil {
		t.Fatal(err)
	}
	if err := f.d.RemoveContainer(ctx, "srv", RemoveOptions{}); !errors.Is(err, errdefs.ErrFailedPrecondition) {
		t.Errorf("rm of a running container: %v, want failed precondition", err)
	}
	grace := time.Second
	if err := f.d.StopContainer(ctx, "srv", &grace); err != nil {
		t.Fatal(err)
	}
	if err := f.d.RemoveContainer(ctx, "srv", RemoveOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.d.InspectContainer(ctx, "srv"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("inspect after rm: %v, want not found", err)
	}
	for _, n := range []string{"backnet", "appnet"} {
		if err := f.d.RemoveNetwork(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	check(t, "operations", f.log.take(), `
network create appnet
network create backnet
storage mount c1 (1 layers)
network setup c1 appnet names=srv,c1
runtime create c1 httpd -f
runtime start c1
network connect c1 backnet names=srv,c1,front
network disconnect c1 backnet
runtime stop c1 SIGTERM 1s
runtime delete c1
network teardown c1
storage unmount c1
storage remove c1
network remove backnet
network remove appnet`)

	var got []string
	for len(got) < 11 {
		select {
		case e := <-evs:
			what := e.Container
			switch e.Type {
			case api.TypeNetwork:
				what = e.Network
			case api.TypeVolume:
				what = e.Volume
			}
			got = append(got, e.Type+":"+e.Action+":"+what)
		case <-time.After(2 * time.Second):
			t.Fatalf("events so far: %s", strings.Join(got, " "))
		}
	}
	check(t, "events", strings.Join(got, "\n"), `
network:network-create:appnet
network:network-create:backnet
container:create:srv
container:start:srv
network:network-connect:backnet
network:network-disconnect:backnet
container:die:srv
container:stop:srv
container:remove:srv
network:network-remove:backnet
network:network-remove:appnet`)
}

// TestStreamErrorFraming: an up that fails after its stream began ends
// the stream with one StreamError line, which api.Client returns as the
// error with its class; the events before it are events, and none of
// them carries the error or its class.
func TestStreamErrorFraming(t *testing.T) {
	f := newFakeDaemon(t)
	f.rt.failCreate["c2"] = fmt.Errorf("no more cgroups: %w", errdefs.ErrUnavailable)
	sock := filepath.Join(t.TempDir(), "stack.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: f.d.Handler()}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	c, err := api.NewClient("unix://"+sock, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := loadStack(t, upTestStack)
	body, err := spec.RenderJSON(p)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var lines []string
	err = c.Stream(ctx, "POST", "/projects/demo/up", api.UpRequest{Project: body}, func(raw json.RawMessage) error {
		var ev api.Event
		if err := json.Unmarshal(raw, &ev); err != nil {
			return err
		}
		if strings.Contains(string(raw), "unavailable") || strings.Contains(string(raw), "cgroups") {
			t.Errorf("an event carries the error: %s", raw)
		}
		if w := eventWord(ev); w != "" {
			lines = append(lines, w)
		}
		return nil
	})
	if !errors.Is(err, errdefs.ErrUnavailable) || !strings.Contains(err.Error(), "no more cgroups") {
		t.Fatalf("Stream: %v, want the runtime's error of class unavailable", err)
	}
	check(t, "events before the error", strings.Join(lines, " "), "volume-create network-create demo-db-1:create demo-db-1:start")
	f.rt.failCreate = map[string]error{}
	f.down(t, "demo", api.DownRequest{Volumes: true})
}
