package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stack-dev/stack/api"
	"github.com/stack-dev/stack/spec"
)

// TestBuildServicesParallel builds four services against a fake daemon
// with a limit of two: two builds run at once, never three.
func TestBuildServicesParallel(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "d.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	active, most := 0, 0
	started := make(chan string, 4)
	release := make(chan struct{})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req api.BuildRequest
		json.NewDecoder(r.Body).Decode(&req)
		mu.Lock()
		active++
		most = max(most, active)
		mu.Unlock()
		started <- req.Tags[0]
		<-release
		mu.Lock()
		active--
		mu.Unlock()
		json.NewEncoder(w).Encode(api.BuildEvent{Image: &api.ImageSummary{ID: "sha256:0123456789abcdef", RepoTags: req.Tags}, Steps: 1})
	})}
	go srv.Serve(l)
	defer srv.Close()
	c, err := api.NewClient("unix://"+sock, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := &spec.Project{Name: "demo", Services: map[string]*spec.Service{}}
	names := []string{"a", "b", "c", "d"}
	for _, n := range names {
		p.Services[n] = &spec.Service{Name: n, Build: &spec.Build{Context: "/tmp"}}
	}
	g := &globalOptions{parallel: 2}
	var out strings.Builder
	done := make(chan error, 1)
	go func() {
		done <- g.buildServices(context.Background(), c, p, names, buildOptions{}, &plainProgress{w: &out})
	}()
	// Two builds start before any ends: they run in parallel.
	<-started
	<-started
	for range names {
		release <- struct{}{}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if most != 2 {
		t.Errorf("%d builds ran at once, want 2 (--parallel 2)", most)
	}
	if n := strings.Count(out.String(), "Built"); n != 4 {
		t.Errorf("%d builds reported, want 4:\n%s", n, out.String())
	}
}
