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
)

const twoEnginesStack = `services:
  web:
    image: busybox
    command: [httpd, -f, -p, "80", -h, /var/www]
  client:
    image: busybox
    command: [sleep, "3600"]
`

// TestRootTwoEngines: two engines (state roots of their own) run a
// project of the same name at once, each on bridges and rules of its own;
// each one's down leaves the other serving.
func TestRootTwoEngines(t *testing.T) {
	a, b := newEnv(t), newEnv(t)
	for i, e := range []*env{a, b} {
		// Each engine's default rules table, and a cgroup parent of its
		// own; the daemon started by newEnv goes, the next command
		// starts one with these.
		e.stopDaemon()
		var vars []string
		for _, v := range e.vars {
			switch {
			case strings.HasPrefix(v, "STACK_NFT_TABLE="):
			case strings.HasPrefix(v, "STACK_CGROUP_PARENT="):
				vars = append(vars, v+"-"+string(rune('a'+i)))
			default:
				vars = append(vars, v)
			}
		}
		e.vars = vars
		e.writeStack(twoEnginesStack)
		e.mustRun("up", "-d")
	}
	if a.project != b.project {
		t.Fatalf("projects %s and %s", a.project, b.project)
	}
	instA, instB := engineInstance(a.root), engineInstance(b.root)
	if instA == "" || instA == instB {
		t.Fatalf("instances %q and %q", instA, instB)
	}
	serving := func(e *env) bool {
		code, out, _ := e.run("exec", "-T", "client", "sh", "-c", "for i in $(seq 50); do wget -qO- http://web/ && exit 0; sleep 0.1; done; exit 1")
		return code == 0 && strings.Contains(out, "hello from busybox")
	}
	for _, e := range []*env{a, b} {
		if !serving(e) {
			t.Fatalf("engine of %s does not serve", e.root)
		}
	}
	linksA, linksB := engineLinks(instA), engineLinks(instB)
	if len(linksA) == 0 || len(linksB) == 0 {
		t.Fatalf("links: %v and %v", linksA, linksB)
	}
	a.mustRun("down")
	if left := engineLinks(instA); len(left) > 0 {
		t.Errorf("the first engine's down left %v", left)
	}
	if got := engineLinks(instB); strings.Join(got, " ") != strings.Join(linksB, " ") {
		t.Errorf("the first engine's down changed the second's links: %v, was %v", got, linksB)
	}
	if !serving(b) {
		t.Error("the second engine stopped serving when the first went down")
	}
	a.mustRun("up", "-d")
	b.mustRun("down")
	if !serving(a) {
		t.Error("the first engine stopped serving when the second went down")
	}
	a.mustRun("down")
	out, _ := exec.Command("/usr/sbin/nft", "list", "tables").Output()
	for _, inst := range []string{instA, instB} {
		if strings.Contains(string(out), "stack_"+inst) {
			// The tables go with the daemons; their rules must be gone.
			rules, _ := exec.Command("/usr/sbin/nft", "list", "table", "ip", "stack_"+inst).Output()
			if strings.Contains(string(rules), "dnat") || strings.Contains(string(rules), a.project) {
				t.Errorf("rules left in stack_%s:\n%s", inst, rules)
			}
		}
	}
}

// TestRootDNSWithoutDaemon: with the daemon killed, containers still
// resolve each other's names (the resolver is a process of its own).
func TestRootDNSWithoutDaemon(t *testing.T) {
	e := newEnv(t)
	out := filepath.Join(e.dir, "out")
	if err := os.Mkdir(out, 0o777); err != nil {
		t.Fatal(err)
	}
	e.writeStack(`services:
  web:
    image: busybox
    command: [sleep, "3600"]
  client:
    image: busybox
    volumes: ["` + out + `:/out"]
    command: [sh, -c, "i=0; while true; do i=$((i+1)); nslookup web > /out/$$i.tmp 2>&1 && mv /out/$$i.tmp /out/ok-$$i || mv /out/$$i.tmp /out/fail-$$i; sleep 0.1; done"]
`)
	e.mustRun("up", "-d")
	waitFile := func(prefix string) string {
		for i := 0; i < 100; i++ {
			ents, _ := os.ReadDir(out)
			for _, ent := range ents {
				if strings.HasPrefix(ent.Name(), prefix) {
					return ent.Name()
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("no %s* file in %s", prefix, out)
		return ""
	}
	waitFile("ok-")
	pid := e.daemonPid()
	if pid == 0 {
		t.Fatal("no daemon pid")
	}
	syscall.Kill(pid, syscall.SIGKILL)
	for i := 0; i < 100 && processRuns(pid); i++ {
		time.Sleep(10 * time.Millisecond)
	}
	// Only answers given after the daemon died count.
	ents, _ := os.ReadDir(out)
	for _, ent := range ents {
		os.Remove(filepath.Join(out, ent.Name()))
	}
	got := waitFile("ok-")
	data, _ := os.ReadFile(filepath.Join(out, got))
	if !strings.Contains(string(data), "Name:") {
		t.Errorf("the answer while the daemon is down:\n%s", data)
	}
	if ents, _ := os.ReadDir(out); len(ents) > 0 {
		for _, ent := range ents {
			if strings.HasPrefix(ent.Name(), "fail-") {
				data, _ := os.ReadFile(filepath.Join(out, ent.Name()))
				t.Errorf("a lookup failed while the daemon was down:\n%s", data)
				break
			}
		}
	}
	if processRuns(pid) {
		t.Fatal("the daemon runs: the test is void")
	}
}

// processRuns reports whether pid is a process that has not ended (a
// zombie has).
func processRuns(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && len(s) > i+2 && s[i+2] != 'Z' && s[i+2] != 'X'
}
