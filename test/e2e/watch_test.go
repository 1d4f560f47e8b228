package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stack-dev/stack/api"
)

// TestRootWatch runs `stack watch` on a service with a develop.watch sync
// rule: a file written on the host shows up in the container, a changed
// one changes there, a removed one goes, and files the rule ignores stay
// out. Ctrl-C ends the watch with the containers still running.
func TestRootWatch(t *testing.T) {
	e := newEnv(t)
	site := filepath.Join(e.dir, "site")
	os.MkdirAll(site, 0o755)
	os.WriteFile(filepath.Join(site, "index.html"), []byte("v1\n"), 0o644)
	e.writeStack(`services:
  web:
    image: busybox
    command: [sh, -c, 'mkdir -p /www && exec sleep 3600']
    init: true
    develop:
      watch:
        - path: ./site
          target: /www
          action: sync
          initial_sync: true
          ignore: [secret.txt]
`)
	cmd := exec.Command(stackBin, "watch")
	cmd.Env, cmd.Dir = e.vars, e.dir
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGINT)
		cmd.Wait()
	}()
	waitFor := func(what, script string) {
		t.Helper()
		var got string
		for i := 0; i < 100; i++ {
			if _, o, _ := e.run("exec", "-T", "web", "sh", "-c", script); strings.TrimSpace(o) == "yes" {
				return
			} else {
				got = o
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("%s: %q\nwatch said:\n%s", what, got, out.String())
	}
	waitFor("initial sync", `grep -q v1 /www/index.html 2>/dev/null && echo yes`)
	for i := 0; i < 50 && !strings.Contains(out.String(), "Watch enabled"); i++ {
		time.Sleep(100 * time.Millisecond)
	}
	os.WriteFile(filepath.Join(site, "new.html"), []byte("new\n"), 0o644)
	os.WriteFile(filepath.Join(site, "secret.txt"), []byte("no\n"), 0o644)
	waitFor("a new file", `grep -q new /www/new.html 2>/dev/null && echo yes`)
	os.WriteFile(filepath.Join(site, "index.html"), []byte("v2\n"), 0o644)
	waitFor("a changed file", `grep -q v2 /www/index.html && echo yes`)
	os.Remove(filepath.Join(site, "new.html"))
	waitFor("a removed file", `test ! -e /www/new.html && echo yes`)
	if _, o, _ := e.run("exec", "-T", "web", "ls", "/www"); strings.Contains(o, "secret.txt") {
		t.Errorf("an ignored file was synced: %s", o)
	}
	if !strings.Contains(out.String(), `Syncing service "web"`) {
		t.Errorf("watch did not say what it synced:\n%s", out.String())
	}
	cmd.Process.Signal(syscall.SIGINT)
	if err := cmd.Wait(); err != nil {
		t.Errorf("watch after Ctrl-C: %v\n%s", err, out.String())
	}
	if ps := e.ps(); ps["web"].State != "running" {
		t.Errorf("web after the watch: %+v", ps["web"])
	}
}

// TestRootRunPublish: run -p publishes the one-off's port on the host,
// run --service-ports publishes the service's, and a plain run none.
func TestRootRunPublish(t *testing.T) {
	e := newEnv(t)
	e.writeStack("services:\n  web:\n    image: busybox\n    command: [httpd, -f, -p, '80', -h, /etc]\n    ports: ['127.0.0.1:18473:80']\n")
	e.mustRun("run", "-d", "-p", "127.0.0.1:18474:80", "web")
	if got := httpGet(t, "http://127.0.0.1:18474/hostname"); strings.TrimSpace(got) == "" {
		t.Errorf("run -p: empty answer")
	}
	e.mustRun("run", "-d", "--service-ports", "web")
	if got := httpGet(t, "http://127.0.0.1:18473/hostname"); strings.TrimSpace(got) == "" {
		t.Errorf("run --service-ports: empty answer")
	}
}

// TestRootWatchRebuild: a rebuild rule builds the service's image again
// and recreates its container when a file of its context changes; the
// image the rebuild replaced goes with --prune (compose's default) and
// stays with --prune=false.
func TestRootWatchRebuild(t *testing.T) {
	e := newEnv(t)
	e.writeFile("app/Dockerfile", "FROM busybox\nCOPY v.txt /v.txt\nCMD [\"sh\", \"-c\", \"exec sleep 3600\"]\n", 0o644)
	e.writeFile("app/v.txt", "v0\n", 0o644)
	e.writeStack("services:\n  app:\n    build: ./app\n    init: true\n    develop:\n      watch:\n        - path: ./app\n          action: rebuild\n")
	appImage := func() (id string, all map[string]bool) {
		all = map[string]bool{}
		var imgs []api.ImageSummary
		e.apiDo("GET", "/images", &imgs)
		for _, img := range imgs {
			all[img.ID] = true
			for _, tag := range img.RepoTags {
				if strings.Contains(tag, e.project+"-app") {
					id = img.ID
				}
			}
		}
		return id, all
	}
	// The second watch finds app running (--no-up) and hides the build's
	// output (--quiet).
	for i, c := range []struct {
		flag  string
		kept  bool
		extra []string
	}{{"--prune", false, nil}, {"--prune=false", true, []string{"--no-up", "--quiet"}}} {
		cmd := exec.Command(stackBin, append([]string{"watch", c.flag}, c.extra...)...)
		cmd.Env, cmd.Dir = e.vars, e.dir
		var out syncBuffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		for j := 0; j < 300 && !strings.Contains(out.String(), "Watch enabled"); j++ {
			time.Sleep(100 * time.Millisecond)
		}
		old, _ := appImage()
		if old == "" {
			cmd.Process.Signal(syscall.SIGINT)
			cmd.Wait()
			t.Fatalf("watch %s: no image for app:\n%s", c.flag, out.String())
		}
		want := fmt.Sprintf("v%d", i+1)
		e.writeFile("app/v.txt", want+"\n", 0o644)
		var got string
		for j := 0; j < 600 && got != want; j++ {
			_, got, _ = e.run("exec", "-T", "app", "cat", "/v.txt")
			got = strings.TrimSpace(got)
			time.Sleep(100 * time.Millisecond)
		}
		cmd.Process.Signal(syscall.SIGINT)
		cmd.Wait()
		if got != want {
			t.Fatalf("watch %s: the container has %q after the rebuild, want %q:\n%s", c.flag, got, want, out.String())
		}
		now, all := appImage()
		if now == old {
			t.Fatalf("watch %s: the rebuild kept image %s", c.flag, old)
		}
		if all[old] != c.kept {
			t.Errorf("watch %s: the replaced image %s there: %v, want %v", c.flag, old, all[old], c.kept)
		}
		if quiet, built := c.extra != nil, strings.Contains(out.String(), "COPY v.txt"); quiet == built {
			t.Errorf("watch %s %v: build output shown %v:\n%s", c.flag, c.extra, built, out.String())
		}
	}
}
