package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRootDownOrderAndImages takes a stack down: dependents stop before
// what they depend on, and --rmi all removes the images its services used.
func TestRootDownOrderAndImages(t *testing.T) {
	e := newEnv(t)
	e.writeStack("services:\n  db:\n    image: busybox\n    command: [sleep, '3600']\n  app:\n    image: busybox\n    command: [sleep, '3600']\n    depends_on: [db]\n    stop_signal: SIGKILL\n")
	e.mustRun("up", "-d")
	out := e.mustProgress("down", "-t", "1", "--rmi", "all")
	app, db := strings.Index(out, e.project+"-app-1  Stopped"), strings.Index(out, e.project+"-db-1  Stopped")
	if app < 0 || db < 0 || app > db {
		t.Errorf("want app stopped before db:\n%s", out)
	}
	if !strings.Contains(out, "Image busybox  Removed") {
		t.Errorf("down --rmi all did not remove busybox:\n%s", out)
	}
	if ls := e.mustRun("image", "ls"); strings.Contains(ls, "busybox") {
		t.Errorf("busybox still listed:\n%s", ls)
	}
	if code, _, errOut := e.run("down", "--rmi", "some"); code == 0 || !strings.Contains(errOut, "want local or all") {
		t.Errorf("--rmi some: exit %d, %q", code, errOut)
	}
}

// TestRootDownServices: down SERVICE... takes the service and those that
// depend on it down, dependents first, and leaves the rest running with
// the networks and volumes they use, as compose's down; one-offs go with
// their service only with --remove-orphans.
func TestRootDownServices(t *testing.T) {
	e := newEnv(t)
	e.writeStack(`services:
  db:
    image: busybox
    command: [sleep, "3600"]
    volumes: [data:/data, shared:/shared]
  php:
    image: busybox
    command: [sleep, "3600"]
    depends_on: [db]
    stop_signal: SIGKILL
  web:
    image: busybox
    command: [sleep, "3600"]
    depends_on: [php]
    stop_signal: SIGKILL
  cache:
    image: busybox
    command: [sleep, "3600"]
    volumes: [shared:/shared]
    stop_signal: SIGKILL
volumes:
  data:
  shared:
`)
	e.mustRun("up", "-d")
	oneOff := strings.TrimSpace(e.mustRun("run", "-d", "cache", "sleep", "3600"))
	states := func() map[string]string {
		out := map[string]string{}
		for _, c := range e.psAll() {
			out[c.Name] = c.State
		}
		return out
	}
	name := func(s string) string { return e.project + "-" + s + "-1" }

	out := e.mustProgress("down", "-t", "1", "php")
	web, php := strings.Index(out, name("web")+"  Removed"), strings.Index(out, name("php")+"  Stopping")
	if web < 0 || php < 0 || web > php {
		t.Errorf("down php: want web (which depends on php) removed before php stops:\n%s", out)
	}
	if !strings.Contains(out, "Network "+e.project+"_default  Resource is still in use") {
		t.Errorf("down php: no word of the network kept for the others:\n%s", out)
	}
	got := states()
	if _, ok := got[name("web")]; ok {
		t.Errorf("down php left web: %v", got)
	}
	if _, ok := got[name("php")]; ok {
		t.Errorf("down php left php: %v", got)
	}
	if got[name("db")] != "running" || got[name("cache")] != "running" || got[oneOff] != "running" {
		t.Errorf("down php touched the others: %v", got)
	}
	if look := e.execOut("cache", "ping", "-c", "1", "-W", "2", "db"); !strings.Contains(look, "1 packets received") {
		t.Errorf("the network went with php: %s", look)
	}

	vol := func(v string) bool {
		_, err := os.Stat(filepath.Join(e.root, "volumes", e.project+"_"+v))
		return err == nil
	}
	out = e.mustProgress("down", "-v", "-t", "1", "db")
	if vol("data") || !vol("shared") {
		t.Errorf("down -v db: data there %v, shared there %v; want data gone and shared, which cache uses, kept", vol("data"), vol("shared"))
	}
	if !strings.Contains(out, "Volume "+e.project+"_shared  Resource is still in use") {
		t.Errorf("down -v db: no word of the volume kept:\n%s", out)
	}

	if code, _, errOut := e.run("down", "nope"); code != 2 || !strings.Contains(errOut, "no such service: nope") {
		t.Errorf("down nope: exit %d, %s", code, errOut)
	}
	e.mustRun("down", "-t", "1", "cache")
	if got := states(); got[oneOff] != "running" {
		t.Errorf("down cache took its one-off too, without --remove-orphans: %v", got)
	}
	e.mustRun("down", "-t", "1", "--remove-orphans", "cache")
	if got := states(); len(got) != 0 {
		t.Errorf("down --remove-orphans cache left %v", got)
	}
	if nets := e.mustRun("network", "ls"); strings.Contains(nets, e.project+"_default") {
		t.Errorf("the network outlived the last container:\n%s", nets)
	}
}
