package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// composeV1Stack is a three-service stack for docker-compose v1: web
// publishes a port and serves what it fetches from app, app what it
// fetches from db, by service name on the project's network; db keeps
// its data in a named volume. init: true lets them stop at once (a
// shell as PID 1 ignores SIGTERM).
const composeV1Stack = `version: "3.8"
services:
  db:
    image: busybox
    command: ["sh", "-c", "echo from-the-db-volume > /data/db.txt; httpd -f -p 5432 -h /data"]
    volumes:
      - dbdata:/data
    init: true
  app:
    image: busybox
    command: ["sh", "-c", "mkdir -p /www; while true; do wget -qO /www/index.html.new http://db:5432/db.txt && mv /www/index.html.new /www/index.html; sleep 0.2; done & httpd -f -p 80 -h /www"]
    depends_on: [db]
    init: true
  web:
    image: busybox
    command: ["sh", "-c", "mkdir -p /www; while true; do wget -qO /www/index.html.new http://app/index.html && mv /www/index.html.new /www/index.html; sleep 0.2; done & httpd -f -p 8000 -h /www"]
    depends_on: [app]
    ports:
      - "127.0.0.1:%d:8000"
    init: true
volumes:
  dbdata: {}
`

// TestRootDockerComposeV1 brings Debian's docker-compose (v1, through
// docker-py) up and down through stack's Docker API: the network, the
// named volume, the dependency order, the published port and DNS by
// service name all work, the containers are the project's in stack ps,
// and down -v leaves nothing.
func TestRootDockerComposeV1(t *testing.T) {
	compose := requireTool(t, "docker-compose")
	de := newDockerEnv(t)
	port := freePort(t)
	dir := filepath.Join(de.dir, "compose")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "docker-compose.yml"), []byte(fmt.Sprintf(composeV1Stack, port)), 0o644); err != nil {
		t.Fatal(err)
	}
	project := "cv1" + de.tag
	compose1 := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(compose, append([]string{"-p", project}, args...)...)
		cmd.Env, cmd.Dir = de.vars, dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("docker-compose %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	t.Cleanup(func() {
		cmd := exec.Command(compose, "-p", project, "down", "-v")
		cmd.Env, cmd.Dir = de.vars, dir
		cmd.Run()
	})

	out := compose1("up", "-d")
	for _, want := range []string{"Creating network \"" + project + "_default\"", "Creating volume \"" + project + "_dbdata\"",
		"Creating " + project + "_db_1", "Creating " + project + "_web_1"} {
		if !strings.Contains(out, want) {
			t.Errorf("up -d output lacks %q:\n%s", want, out)
		}
	}
	// db's order before app's before web's.
	if i, j, k := strings.Index(out, "_db_1"), strings.Index(out, "_app_1"), strings.Index(out, "_web_1"); !(i < j && j < k) {
		t.Errorf("up -d did not create db, app, web in that order:\n%s", out)
	}
	var body string
	for i := 0; i < 100; i++ {
		body = httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/", port))
		if body == "from-the-db-volume\n" {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if body != "from-the-db-volume\n" {
		t.Fatalf("web did not serve db's data through app: %q", body)
	}
	ps := compose1("ps")
	for _, svc := range []string{"db", "app", "web"} {
		if !strings.Contains(ps, project+"_"+svc+"_1") {
			t.Errorf("docker-compose ps lacks %s:\n%s", svc, ps)
		}
	}
	if got := de.env.mustRun("-p", project, "ps"); strings.Count(got, project+"_") != 3 {
		t.Errorf("stack -p %s ps does not list the three containers:\n%s", project, got)
	}
	if got := de.out("volume", "ls", "-q"); !strings.Contains(got, project+"_dbdata") {
		t.Errorf("volume ls: %q", got)
	}

	out = compose1("down", "-v")
	for _, want := range []string{"Removing " + project + "_web_1", "Removing network " + project + "_default", "Removing volume " + project + "_dbdata"} {
		if !strings.Contains(out, want) {
			t.Errorf("down -v output lacks %q:\n%s", want, out)
		}
	}
	if got := de.out("ps", "-aq"); got != "" {
		t.Errorf("containers after down: %q", got)
	}
	if got := de.out("network", "ls", "--filter", "name="+project, "-q"); got != "" {
		t.Errorf("networks after down: %q", got)
	}
	if got := de.out("volume", "ls", "-q"); got != "" {
		t.Errorf("volumes after down -v: %q", got)
	}
}
