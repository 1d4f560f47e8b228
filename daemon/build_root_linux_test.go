package daemon

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stack-dev/stack/api"
	"github.com/stack-dev/stack/internal/testutil"
	"github.com/stack-dev/stack/spec"
)

// multiStage builds a file in one stage and copies it into the next.
const multiStage = `ARG BASE=busybox:build
FROM ${BASE} AS builder
ARG GREETING=hello
WORKDIR /src
COPY greeting.txt ./
RUN echo "$GREETING $(cat greeting.txt)" > out.txt && echo built it
FROM busybox:build
ENV APP=/app
WORKDIR $APP
COPY --from=builder /src/out.txt .
COPY conf/ conf/
LABEL org.example.role=test
EXPOSE 8080
CMD ["cat", "/app/out.txt"]
`

// buildContext writes a build context with the given files.
func buildContext(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func importBusybox(t *testing.T, d *Daemon, ref string) {
	t.Helper()
	if _, err := d.ImportRootfs(context.Background(), api.RootfsImport{Source: testutil.BusyboxRootfs(t), Ref: ref}); err != nil {
		t.Fatal(err)
	}
}

// doBuild builds req and returns the final event and the steps' events.
func doBuild(t *testing.T, d *Daemon, req api.BuildRequest) (api.BuildEvent, []api.BuildEvent, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var evs []api.BuildEvent
	res, err := d.Build(ctx, req, func(e api.BuildEvent) { evs = append(evs, e) })
	return res, evs, err
}

// ranSteps lists the instructions that were not cached, in order.
func ranSteps(evs []api.BuildEvent) []string {
	var out []string
	for _, e := range evs {
		if e.Kind == "done" && !e.Cached && !strings.HasPrefix(e.Instruction, "FROM") {
			if strings.HasPrefix(e.Instruction, "RUN") || strings.HasPrefix(e.Instruction, "COPY") || strings.HasPrefix(e.Instruction, "ADD") {
				out = append(out, strings.Fields(e.Instruction)[0]+" "+strings.Fields(e.Instruction)[1])
			}
		}
	}
	return out
}

func TestRootBuildMultiStage(t *testing.T) {
	testutil.RequiresRoot(t)
	d := newTestDaemon(t)
	importBusybox(t, d, "busybox:build")
	dir := buildContext(t, map[string]string{
		"greeting.txt":  "world",
		"conf/app.conf": "port=8080\n",
		"secret.key":    "do not copy",
		".dockerignore": "secret.key\n",
		"Dockerfile":    multiStage,
	})
	req := api.BuildRequest{Context: dir, Tags: []string{"built:1"}}
	res, evs, err := doBuild(t, d, req)
	if err != nil {
		t.Fatal(err)
	}
	if res.Image == nil || res.Steps != 4 || res.CachedSteps != 0 {
		t.Fatalf("first build: %+v", res)
	}
	var sawOutput bool
	for _, e := range evs {
		if e.Kind == "output" && e.Output == "built it" {
			sawOutput = true
		}
	}
	if !sawOutput {
		t.Errorf("RUN output not streamed: %+v", evs)
	}

	// The image runs and has what the stages made.
	svc := &spec.Service{Name: "app", Image: "built:1"}
	r, st, out := run(t, d, "build-run-1", svc)
	defer d.removeContainer(context.Background(), r)
	if st.ExitCode != 0 || out != "hello world\n" {
		t.Fatalf("run built image: exit %d, output %q", st.ExitCode, out)
	}

	// History shows the steps, newest first.
	h, err := d.ImageHistory(context.Background(), "built:1")
	if err != nil {
		t.Fatal(err)
	}
	var steps []string
	for _, e := range h {
		steps = append(steps, e.CreatedBy)
	}
	all := strings.Join(steps, "\n")
	for _, want := range []string{`CMD ["cat","/app/out.txt"]`, "EXPOSE 8080/tcp", "COPY conf/ conf/", "COPY --from=builder /src/out.txt .", "WORKDIR /app", "ENV APP=/app"} {
		if !strings.Contains(all, want) {
			t.Errorf("history lacks %q:\n%s", want, all)
		}
	}
	in, err := d.images.Inspect(context.Background(), "built:1")
	if err != nil {
		t.Fatal(err)
	}
	if in.Config.WorkingDir != "/app" || in.Config.Labels["org.example.role"] != "test" {
		t.Errorf("config: %+v", in.Config)
	}

	// Nothing changed: every layer from the cache, the same image.
	res2, _, err := doBuild(t, d, req)
	if err != nil {
		t.Fatal(err)
	}
	if res2.CachedSteps != res2.Steps || res2.Image.ID != res.Image.ID {
		t.Fatalf("unchanged rebuild: %d of %d cached, image %s vs %s", res2.CachedSteps, res2.Steps, res2.Image.ID, res.Image.ID)
	}

	// Touching a file without changing it keeps the cache.
	future := time.Now().Add(time.Hour)
	os.Chtimes(filepath.Join(dir, "conf/app.conf"), future, future)
	if res3, _, err := doBuild(t, d, req); err != nil || res3.CachedSteps != res3.Steps {
		t.Fatalf("rebuild after touch: %+v, %v", res3, err)
	}
	// The ignored file is not an input.
	os.WriteFile(filepath.Join(dir, "secret.key"), []byte("changed"), 0o644)
	if res3, _, err := doBuild(t, d, req); err != nil || res3.CachedSteps != res3.Steps {
		t.Fatalf("rebuild after changing an ignored file: %+v, %v", res3, err)
	}

	// Changing one COPY source rebuilds from that step on, and no earlier.
	os.WriteFile(filepath.Join(dir, "conf/app.conf"), []byte("port=9090\n"), 0o644)
	res4, evs4, err := doBuild(t, d, req)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(ranSteps(evs4), ","); got != "COPY conf/" {
		t.Errorf("after changing conf/app.conf, ran %q, want only COPY conf/", got)
	}
	if res4.CachedSteps != 3 {
		t.Errorf("after changing conf/app.conf: %d of %d cached, want 3", res4.CachedSteps, res4.Steps)
	}

	// Changing the first stage's source reruns its COPY and RUN, and the
	// second stage from the COPY --from on.
	os.WriteFile(filepath.Join(dir, "greeting.txt"), []byte("there"), 0o644)
	_, evs5, err := doBuild(t, d, req)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(ranSteps(evs5), ","); got != "COPY greeting.txt,RUN echo,COPY --from=builder,COPY conf/" {
		t.Errorf("after changing greeting.txt, ran %q", got)
	}
}

func TestRootBuildFailingRun(t *testing.T) {
	testutil.RequiresRoot(t)
	d := newTestDaemon(t)
	importBusybox(t, d, "busybox:build")
	dir := buildContext(t, map[string]string{"Dockerfile": "FROM busybox:build\nRUN echo first line\n\nRUN echo about to fail && exit 3\n"})
	_, _, err := doBuild(t, d, api.BuildRequest{Context: dir, Tags: []string{"broken"}})
	if err == nil {
		t.Fatal("a RUN that exits 3 built")
	}
	for _, want := range []string{"Dockerfile:4", "exit code 3", "about to fail"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestRootBuildSyntaxError(t *testing.T) {
	testutil.RequiresRoot(t)
	d := newTestDaemon(t)
	dir := buildContext(t, map[string]string{"Dockerfile": "FROM scratch\nRUNN echo\n"})
	_, _, err := doBuild(t, d, api.BuildRequest{Context: dir})
	if err == nil || !strings.Contains(err.Error(), "Dockerfile:2") {
		t.Fatalf("err = %v, want one naming Dockerfile:2", err)
	}
}

// TestRootBuildWorkerGone kills the build worker with SIGKILL, or cancels
// its build, while a RUN step runs: the build fails with an error that
// says so, and neither the step's container, its mount, its network nor
// the worker's directory is left.
func TestRootBuildWorkerGone(t *testing.T) {
	testutil.RequiresRoot(t)
	for _, how := range []string{"killed", "cancelled"} {
		t.Run(how, func(t *testing.T) {
			d := newTestDaemon(t)
			importBusybox(t, d, "busybox:build")
			dir := buildContext(t, map[string]string{"Dockerfile": "FROM busybox:build\nRUN echo step started && sleep 600\n"})
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			started := make(chan struct{})
			var once sync.Once
			errc := make(chan error, 1)
			go func() {
				_, err := d.Build(ctx, api.BuildRequest{Context: dir, Tags: []string{"never"}}, func(e api.BuildEvent) {
					if strings.Contains(e.Output, "step started") {
						once.Do(func() { close(started) })
					}
				})
				errc <- err
			}()
			select {
			case <-started:
			case err := <-errc:
				t.Fatalf("build ended before its step ran: %v", err)
			}
			if how == "killed" {
				pid := buildWorkerPid(t)
				if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
			} else {
				cancel()
			}
			err := <-errc
			want := "builder exited"
			if how == "cancelled" {
				want = "context canceled"
			}
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("err = %v, want one saying %q", err, want)
			}
			_, rt, _ := d.engines()
			states, err := rt.List()
			if err != nil {
				t.Fatal(err)
			}
			for _, st := range states {
				t.Errorf("container %s left", st.ID)
			}
			nets, err := d.ListNetworks(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range nets {
				if strings.HasPrefix(n.Name, "stack-build-") {
					t.Errorf("build network %s left", n.Name)
				}
			}
			if ents, _ := os.ReadDir(filepath.Join(d.cfg.StateRoot, buildDir, buildWorkersDir)); len(ents) != 0 {
				t.Errorf("worker directories left: %v", ents)
			}
			assertNoMountsUnder(t, d.cfg.StateRoot)
			if _, err := d.images.Get(context.Background(), "never"); err == nil {
				t.Error("the image was published")
			}
		})
	}
}

// buildWorkerPid returns the pid of this process's one build worker.
func buildWorkerPid(t *testing.T) int {
	t.Helper()
	self := strconv.Itoa(os.Getpid())
	procs, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range procs {
		stat, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		if len(f) < 2 || f[1] != self {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join(filepath.Dir(p), "cmdline"))
		if strings.Contains(string(cmdline), buildWorkerArg) {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
			return pid
		}
	}
	t.Fatal("no build worker runs")
	return 0
}

// TestRootBuildWorkSweptAtStart: the step mounts a dead daemon's builds
// left, in a worker's directory or in build/work where a daemon that
// built in-process put them, are gone once the next daemon has started.
func TestRootBuildWorkSweptAtStart(t *testing.T) {
	testutil.RequiresRoot(t)
	d := newTestDaemon(t)
	importBusybox(t, d, "busybox:sweep")
	img, err := d.images.Rootfs(context.Background(), "busybox:sweep")
	if err != nil {
		t.Fatal(err)
	}
	storage, _, err := d.engines()
	if err != nil {
		t.Fatal(err)
	}
	left := []string{
		filepath.Join(d.cfg.StateRoot, buildDir, buildWorkersDir, "w1", "step-a"),
		filepath.Join(d.cfg.StateRoot, buildDir, legacyBuildWorkDir, "step-b"),
	}
	for _, dir := range left {
		if _, err := storage.Mount(context.Background(), dir, img.Layers); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { storage.Remove(dir) })
	}
	d.sweepOrphans(context.Background(), true)
	for _, dir := range left {
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: left after the start's sweep (%v)", dir, err)
		}
	}
	assertNoMountsUnder(t, d.cfg.StateRoot)
}
