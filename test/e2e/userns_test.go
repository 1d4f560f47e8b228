package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const usernsStack = `services:
  a:
    image: busybox
    command: [sh, -c, "touch /bind/by-a /data/by-a && exec sleep 3600"]
    volumes: ["./shared:/bind", "data:/data"]
  b:
    image: busybox
    command: [sleep, "3600"]
  c:
    image: busybox
    command: [sleep, "3600"]
  host:
    image: busybox
    userns_mode: host
    command: [sleep, "3600"]
volumes:
  data: {}
`

// uidMap reads the first line of a process's uid_map: inside, host, size.
func uidMap(t *testing.T, pid int) [3]uint64 {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/uid_map", pid))
	if err != nil {
		t.Fatal(err)
	}
	var m [3]uint64
	for i, f := range strings.Fields(string(data))[:3] {
		m[i], _ = strconv.ParseUint(f, 10, 64)
	}
	return m
}

// usernsRanges reads the ranges the project's records hold, by service.
func (e *env) usernsRanges() map[string]uint64 {
	out := map[string]uint64{}
	for _, p := range globs(filepath.Join(e.root, "projects", e.project, "*.json")) {
		var rec struct {
			Service string `json:"service"`
			UserNS  *struct {
				UID uint64 `json:"uid"`
			} `json:"userns"`
		}
		data, _ := os.ReadFile(p)
		if json.Unmarshal(data, &rec) == nil && rec.UserNS != nil {
			out[rec.Service] = rec.UserNS.UID
		}
	}
	return out
}

// TestRootUserNSDefault: with the daemon's default, every container has
// a user namespace of its own (uid_map not the identity) with a range
// disjoint from the others', userns_mode: host opts out, the bind mount
// and the named volume show the host's owners (a file of container root
// is the host root's), and the ranges are freed by down. A daemon killed
// with SIGKILL, during an up and while idle, leaves the allocations
// consistent: the next daemon's containers still have disjoint ranges
// that match their records, and down frees them all.
func TestRootUserNSDefault(t *testing.T) {
	e := newEnv(t)
	if !usernsOn() {
		t.Skip("STACK_USERNS_REMAP=host: the daemons give no user namespaces")
	}
	e.writeStack(usernsStack)
	shared := filepath.Join(e.dir, "shared")
	os.Mkdir(shared, 0o755)
	os.WriteFile(filepath.Join(shared, "mine"), nil, 0o644)
	os.Chown(filepath.Join(shared, "mine"), 1000, 1000)

	check := func(when string) {
		t.Helper()
		ranges := e.usernsRanges()
		seen := map[uint64]string{}
		for _, svc := range []string{"a", "b", "c"} {
			_, pid, _ := e.containerState(svc)
			if pid == 0 {
				t.Fatalf("%s: %s does not run", when, svc)
			}
			m := uidMap(t, pid)
			if m[0] != 0 || m[1] == 0 || m[2] != 65536 {
				t.Errorf("%s: %s's uid_map is %v, want 0 HOST 65536 with HOST not 0", when, svc, m)
			}
			if ranges[svc] != m[1] {
				t.Errorf("%s: %s runs with host uid %d, its record says %d", when, svc, m[1], ranges[svc])
			}
			if other, ok := seen[m[1]]; ok {
				t.Errorf("%s: %s and %s share the range at %d", when, svc, other, m[1])
			}
			seen[m[1]] = svc
		}
		for a, ua := range ranges {
			for b, ub := range ranges {
				if a < b && ua < ub+65536 && ub < ua+65536 {
					t.Errorf("%s: the ranges of %s (%d) and %s (%d) overlap", when, a, ua, b, ub)
				}
			}
		}
		if _, pid, _ := e.containerState("host"); pid == 0 || uidMap(t, pid) != [3]uint64{0, 0, 4294967295} {
			t.Errorf("%s: the userns_mode: host container does not have the host's uid_map", when)
		}
		if _, ok := ranges["host"]; ok {
			t.Errorf("%s: the userns_mode: host container holds a range", when)
		}
	}

	e.mustRun("up", "-d")
	check("after up")
	if out := e.mustRun("exec", "-T", "a", "stat", "-c", "%u:%g", "/bind/mine"); strings.TrimSpace(out) != "1000:1000" {
		t.Errorf("a developer's file in the bind mount is %q inside, want 1000:1000", out)
	}
	var st syscall.Stat_t
	for _, f := range []string{filepath.Join(shared, "by-a"), filepath.Join(e.root, "volumes", e.project+"_data", "_data", "by-a")} {
		if err := syscall.Stat(f, &st); err != nil || st.Uid != 0 || st.Gid != 0 {
			t.Errorf("%s: %v, owner %d:%d, want the host's root (as without a user namespace)", f, err, st.Uid, st.Gid)
		}
	}

	// SIGKILL while idle: the next daemon adopts the containers and keeps
	// their ranges.
	syscall.Kill(e.daemonPid(), syscall.SIGKILL)
	time.Sleep(100 * time.Millisecond)
	e.mustRun("up", "-d")
	check("after a kill while idle")

	// SIGKILL during up of more containers, at a few moments: what is
	// left is finished by the next up, with disjoint ranges still.
	for i, delay := range []time.Duration{30 * time.Millisecond, 120 * time.Millisecond, 300 * time.Millisecond} {
		e.killDaemonDuring(delay, "up", "-d", "--force-recreate")
		e.mustRun("up", "-d")
		check(fmt.Sprintf("after kill %d during up", i+1))
	}

	e.mustRun("down", "-v", "-t", "0")
	if left := e.usernsRanges(); len(left) != 0 {
		t.Errorf("ranges left after down: %v", left)
	}
	// Freed: a new project's first container takes the pool's first
	// range again.
	e.mustRun("up", "-d", "b")
	var start uint64
	for _, v := range e.vars {
		if r, ok := strings.CutPrefix(v, "STACK_USERNS_RANGE="); ok {
			start, _ = strconv.ParseUint(strings.Split(r, ":")[0], 10, 64)
		}
	}
	if r := e.usernsRanges(); len(r) != 1 || r["b"] != start {
		t.Errorf("after down and up of b: ranges %v, want b's at the pool's start %d", r, start)
	}
	e.mustRun("down", "-v", "-t", "0")
	e.assertNothingLeft("userns")
}

// usernsOn reports whether the tests' daemons give containers user
// namespaces: they do (newEnv sets STACK_USERNS_REMAP=default), unless
// the tests run with STACK_USERNS_REMAP=host.
func usernsOn() bool { return os.Getenv("STACK_USERNS_REMAP") != "host" }

// pingRange is net.ipv4.ping_group_range in a container: Docker's every
// gid, or in a user namespace every gid it maps.
func pingRange() string {
	if usernsOn() {
		return "0\t65535"
	}
	return "0\t2147483647"
}
