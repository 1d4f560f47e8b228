package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRootBuild: a service with build: is built by up (multi-stage), its
// image runs, history shows the steps, an unchanged `stack build` reuses
// every layer, and up --build after a source change rebuilds from the
// changed COPY on and recreates the container.
func TestRootBuild(t *testing.T) {
	e := newEnv(t)
	app := filepath.Join(e.dir, "app")
	write := func(name, content string) {
		t.Helper()
		p := filepath.Join(app, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("Dockerfile", `FROM busybox AS builder
ARG WHO
RUN mkdir /out && echo "built for $WHO" > /out/msg
FROM busybox
COPY --from=builder /out/msg /msg
COPY page.txt /page.txt
CMD ["sh", "-c", "cat /msg /page.txt; sleep 3600"]
`)
	write("page.txt", "v1\n")
	e.writeStack("services:\n  web:\n    build:\n      context: ./app\n      args:\n        WHO: e2e\n    init: true\n")
	out := e.mustProgress("up", "-d")
	if !strings.Contains(out, "Service web  Built") {
		t.Errorf("up did not report the build:\n%s", out)
	}
	image := e.project + "-web"
	hist := e.mustRun("image", "history", image)
	for _, want := range []string{"COPY page.txt /page.txt", "COPY --from=builder /out/msg /msg", "CMD"} {
		if !strings.Contains(hist, want) {
			t.Errorf("history lacks %q:\n%s", want, hist)
		}
	}
	// A build leaves its image and no intermediate ones.
	if ls := e.mustRun("image", "ls"); strings.Contains(ls, "<none>") {
		t.Errorf("image ls after a first build:\n%s", ls)
	}
	logs := waitLogs(e, "web", "v1")
	if !strings.Contains(logs, "built for e2e") {
		t.Errorf("logs: %q", logs)
	}
	before := e.ps()["web"].ID

	again := e.mustProgress("build")
	if !strings.Contains(again, "(2 of 2 layer steps cached)") && !strings.Contains(again, "(3 of 3 layer steps cached)") {
		t.Errorf("unchanged rebuild was not fully cached:\n%s", again)
	}

	write("page.txt", "v2\n")
	out = e.mustProgress("up", "-d", "--build")
	if !strings.Contains(out, "CACHED") || !strings.Contains(out, "COPY page.txt /page.txt") || !strings.Contains(out, "DONE") {
		t.Errorf("up --build after a change: want RUN cached and COPY page.txt run:\n%s", out)
	}
	waitLogs(e, "web", "v2")
	if after := e.ps()["web"].ID; after == before {
		t.Errorf("up --build kept the container of the old image")
	}
}

// waitLogs waits until the service's log contains want and returns it.
func waitLogs(e *env, service, want string) string {
	e.t.Helper()
	var logs string
	for i := 0; i < 100; i++ {
		logs = e.mustRun("logs", service)
		if strings.Contains(logs, want) {
			return logs
		}
		time.Sleep(100 * time.Millisecond)
	}
	e.t.Fatalf("logs of %s never showed %q: %q", service, want, logs)
	return ""
}
