package e2e

import (
	"strings"
	"testing"
)

// TestRootStopOrder: stop takes dependents down before what they depend
// on, as compose's stop; start brings them back the other way round.
func TestRootStopOrder(t *testing.T) {
	e := newEnv(t)
	e.writeStack("services:\n  db:\n    image: busybox\n    command: [sleep, '3600']\n  app:\n    image: busybox\n    command: [sleep, '3600']\n    depends_on: [db]\n")
	e.mustRun("up", "-d")
	out := e.mustProgress("stop", "-t", "1")
	app, db := strings.Index(out, e.project+"-app-1  Stopped"), strings.Index(out, e.project+"-db-1  Stopping")
	if app < 0 || db < 0 || app > db {
		t.Errorf("stop: want app stopped before db stops:\n%s", out)
	}
	out = e.mustProgress("restart", "-t", "1")
	db, app = strings.Index(out, e.project+"-db-1  Restarted"), strings.Index(out, e.project+"-app-1  Restarting")
	if app < 0 || db < 0 || db > app {
		t.Errorf("restart: want db back before app restarts:\n%s", out)
	}
}

// TestRootRestartDependents: restart takes along the services that depend
// on the restarted one with restart: true, after it, as compose's restart;
// --no-deps restarts the named service alone, and a plain depends_on does
// not restart.
func TestRootRestartDependents(t *testing.T) {
	e := newEnv(t)
	e.writeStack(`services:
  db:
    image: busybox
    command: [sh, -c, 'rm -f /tmp/ok; sleep 0.5; touch /tmp/ok; exec sleep 3600']
    healthcheck: {test: [CMD, test, -f, /tmp/ok], interval: 200ms, retries: 100}
  api:
    image: busybox
    command: [sleep, "3600"]
    stop_signal: SIGKILL
    depends_on:
      db: {condition: service_healthy, restart: true}
  worker:
    image: busybox
    command: [sleep, "3600"]
    stop_signal: SIGKILL
    depends_on: [db]
`)
	e.mustRun("up", "-d", "--wait")
	started := func() map[string]string {
		out := map[string]string{}
		for _, c := range e.psAll() {
			out[c.Service] = c.Started.String()
		}
		return out
	}
	before := started()
	out := e.mustProgress("restart", "-t", "1", "db")
	after := started()
	if after["db"] == before["db"] || after["api"] == before["api"] || after["worker"] != before["worker"] {
		t.Errorf("restart db: started %v, was %v; want db and api restarted, worker not", after, before)
	}
	db, healthy, api := strings.Index(out, e.project+"-db-1  Restarted"), strings.Index(out, e.project+"-db-1  Healthy"), strings.Index(out, e.project+"-api-1  Restarting")
	if db < 0 || api < 0 || api < db || healthy > api {
		t.Errorf("restart db: want db restarted (and healthy) before api restarts:\n%s", out)
	}
	before = after
	e.mustRun("restart", "-t", "1", "--no-deps", "db")
	if after := started(); after["db"] == before["db"] || after["api"] != before["api"] {
		t.Errorf("restart --no-deps db: started %v, was %v; want db alone restarted", after, before)
	}
	if code, _, errOut := e.run("restart", "dbb"); code != 2 || !strings.Contains(errOut, "no such service: dbb") {
		t.Errorf("restart dbb: exit %d: %s", code, errOut)
	}
}

// TestRootKillThenStart: kill (SIGKILL) returns once the container is
// gone, as docker's kill, so a start right after starts it again rather
// than finding it still dying.
func TestRootKillThenStart(t *testing.T) {
	e := newEnv(t)
	e.writeStack("services:\n  app:\n    image: busybox\n    command: [sleep, '3600']\n")
	e.mustRun("up", "-d")
	for i := 0; i < 5; i++ {
		e.mustRun("kill", "app")
		if out := e.mustProgress("start", "app"); !strings.Contains(out, e.project+"-app-1  Started") {
			t.Fatalf("start right after kill (round %d) did not start app:\n%s", i, out)
		}
		if st := e.ps()["app"].State; st != "running" {
			t.Fatalf("after kill and start (round %d): %s", i, st)
		}
	}
}
