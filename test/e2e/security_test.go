package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/stack-dev/stack/internal/testutil"
)

const securityStack = `services:
  probe:
    image: busybox
    command: [sleep, "3600"]
    volumes: ["SYSPROBE:/sysprobe:ro"]
  unconfined:
    image: busybox
    command: [sleep, "3600"]
    volumes: ["SYSPROBE:/sysprobe:ro"]
    security_opt: ["seccomp=unconfined"]
  nnp:
    image: busybox
    command: [sleep, "3600"]
    security_opt: ["no-new-privileges:true"]
  nnpoff:
    image: busybox
    command: [sleep, "3600"]
    security_opt: ["no-new-privileges:false"]
  custom:
    image: busybox
    command: [sleep, "3600"]
    volumes: ["SYSPROBE:/sysprobe:ro"]
    security_opt: ["seccomp=./deny-mkdir.json", "label=disable", "apparmor=unconfined"]
  app:
    image: busybox
    user: app
    group_add: [nogroup, "4000"]
    command: [sleep, "3600"]
    volumes: ["SYSPROBE:/sysprobe:ro"]
`

// TestRootSecurityDefaults: every container runs under Docker's seccomp
// profile unless its service opts out; security_opt's options act on the
// real container, for its own process and for exec'd ones; groups and
// ping are as Docker sets them. no-new-privileges:false is as unset.
func TestRootSecurityDefaults(t *testing.T) {
	e := newEnv(t)
	e.writeStack(strings.ReplaceAll(securityStack, "SYSPROBE", testutil.SysProbe(t)))
	if err := os.WriteFile(filepath.Join(e.dir, "deny-mkdir.json"), []byte(`{"defaultAction": "SCMP_ACT_ALLOW",
  "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	e.mustRun("up", "-d")
	status := func(service, pid string) string {
		return e.mustRun("exec", "-T", service, "sh", "-c", "grep -E '^(Seccomp|NoNewPrivs|Groups):' /proc/"+pid+"/status | tr -s '\\t ' ' '")
	}
	if got, want := status("probe", "1"), "Groups: 0 \nNoNewPrivs: 0\nSeccomp: 2\n"; got != want {
		t.Errorf("the container's process:\n%s\nwant:\n%s", got, want)
	}
	if got, want := status("probe", "self"), "Groups: 0 \nNoNewPrivs: 0\nSeccomp: 2\n"; got != want {
		t.Errorf("an exec'd process:\n%s\nwant:\n%s", got, want)
	}
	filtered := "add_key: EPERM\nkeyctl: EPERM\nuserfaultfd: EPERM\nbpf: EPERM\nperf_event_open: EPERM\nunshare: EPERM\n"
	if got := e.mustRun("exec", "-T", "probe", "/sysprobe", "add_key", "keyctl", "userfaultfd", "bpf", "perf_event_open", "unshare"); got != filtered {
		t.Errorf("under the default profile:\n%s\nwant:\n%s", got, filtered)
	}
	if code, out, _ := e.run("exec", "-T", "probe", "unshare", "-U", "-r", "true"); code == 0 {
		t.Errorf("unshare -U succeeded under the default profile: %s", out)
	}
	if got := status("unconfined", "1"); !strings.Contains(got, "Seccomp: 0\n") {
		t.Errorf("seccomp=unconfined:\n%s", got)
	}
	if got := e.mustRun("exec", "-T", "unconfined", "/sysprobe", "add_key", "keyctl", "userfaultfd"); got != "add_key: ok\nkeyctl: ok\nuserfaultfd: ok\n" {
		t.Errorf("seccomp=unconfined:\n%s", got)
	}
	e.mustRun("exec", "-T", "unconfined", "unshare", "-U", "-r", "true")
	if got := status("nnp", "1"); got != "Groups: 0 \nNoNewPrivs: 1\nSeccomp: 2\n" {
		t.Errorf("no-new-privileges:\n%s", got)
	}
	if got := status("nnpoff", "1"); got != "Groups: 0 \nNoNewPrivs: 0\nSeccomp: 2\n" {
		t.Errorf("no-new-privileges:false:\n%s", got)
	}
	if got := e.mustRun("exec", "-T", "custom", "sh", "-c", "mkdir /tmp/d 2>&1; /sysprobe mkdir add_key"); got != "mkdir: can't create directory '/tmp/d': Operation not permitted\nmkdir: EPERM\nadd_key: ok\n" {
		t.Errorf("a profile that denies mkdir:\n%s", got)
	}
	// The image's app user is in group extra (1001); group_add adds
	// nogroup (65534) and 4000. No CAP_NET_RAW is needed for ping sockets.
	if got := status("app", "1"); !strings.HasPrefix(got, "Groups: 1000 1001 4000 65534 \n") {
		t.Errorf("user app with group_add:\n%s", got)
	}
	if got := e.mustRun("exec", "-T", "app", "sh", "-c", "cat /proc/sys/net/ipv4/ping_group_range /proc/sys/net/ipv4/ip_unprivileged_port_start; /sysprobe ping; grep CapEff /proc/self/status"); got != "0\t2147483647\n0\nping: ok\nCapEff:\t0000000000000000\n" {
		t.Errorf("ping and low ports as an unprivileged user:\n%s", got)
	}
	info := e.mustRun("info")
	if !strings.Contains(info, "Security Options:\n  seccomp\n   Profile: builtin\n  cgroupns\n") {
		t.Errorf("info does not list the security options:\n%s", info)
	}
}

// TestRootStateRootClosedToOtherUsers: a host user who is not root cannot
// list or read a container's files or a volume's, nor run a setuid binary
// a container left in its writable layer, even knowing their paths from
// the world-readable mountinfo. An older, open state root is closed when
// the daemon starts.
func TestRootStateRootClosedToOtherUsers(t *testing.T) {
	e := newEnv(t)
	e.writeStack(`services:
  box:
    image: busybox
    command: [sh, -c, "echo hunter2 > /secret && cp /bin/busybox /suid && chmod 4755 /suid && echo v > /data/in-volume && echo ready && exec sleep 3600"]
    volumes: ["data:/data"]
volumes:
  data: {}
`)
	// A state root from an older version: open to all.
	os.Chmod(e.root, 0o711)
	os.MkdirAll(filepath.Join(e.root, "volumes"), 0o755)
	os.Chmod(filepath.Join(e.root, "volumes"), 0o755)
	e.stopDaemon()
	e.mustRun("up", "-d")
	waitLogs(e, "box", "ready")
	for _, dir := range []string{e.root, filepath.Join(e.root, "volumes")} {
		if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("%s: mode %v, want 0700 (%v)", dir, fi.Mode().Perm(), err)
		}
	}
	var merged, upper string
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(mounts), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 || !strings.HasPrefix(f[4], e.root) || !strings.Contains(line, " - overlay ") {
			continue
		}
		merged = f[4]
		for _, opt := range strings.Split(line[strings.LastIndex(line, " ")+1:], ",") {
			if v, ok := strings.CutPrefix(opt, "upperdir="); ok {
				upper = v
			}
		}
	}
	if merged == "" || upper == "" {
		t.Fatalf("no overlay mount of the container under %s", e.root)
	}
	volume := filepath.Join(e.root, "volumes", e.project+"_data", "_data")
	// As root, everything is there: the checks below can fail.
	for _, p := range []string{merged + "/secret", upper + "/secret", volume + "/in-volume"} {
		if _, err := os.ReadFile(p); err != nil {
			t.Fatalf("as root: %v", err)
		}
	}
	uid, gid := unprivilegedUser(t, "stk"+e.tag)
	as := func(name string, args ...string) (string, error) {
		cmd := exec.Command(name, args...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid, NoSetGroups: true}}
		cmd.Dir = "/"
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	for _, c := range [][]string{
		{"/bin/ls", e.root},
		{"/bin/ls", merged},
		{"/bin/cat", merged + "/secret"},
		{"/bin/cat", upper + "/secret"},
		{"/bin/ls", volume},
		{"/bin/cat", volume + "/in-volume"},
		{upper + "/suid", "id", "-u"},
		{merged + "/suid", "id", "-u"},
	} {
		if out, err := as(c[0], c[1:]...); err == nil {
			t.Errorf("uid %d ran %v: %s", uid, c, out)
		}
	}
}

// unprivilegedUser creates a host user for the test and removes it after.
func unprivilegedUser(t *testing.T, name string) (uint32, uint32) {
	t.Helper()
	if out, err := exec.Command("useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name).CombinedOutput(); err != nil {
		t.Fatalf("useradd: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("userdel", name).Run() })
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return uint32(uid), uint32(gid)
}

// TestRootTraversalRefused sends names that are paths, globs or huge to
// every endpoint that takes one, straight to the daemon's socket, and a
// stack file with such names to the CLI: each is a 400 (exit 2 for the
// CLI) that names the field, and nothing is created or read outside the
// state root.
func TestRootTraversalRefused(t *testing.T) {
	e := newEnv(t)
	// Something outside the state root for the requests to find.
	outside := filepath.Join(e.dir, "x")
	os.MkdirAll(outside, 0o755)
	os.WriteFile(filepath.Join(outside, "evil.json"), []byte(`{"id":"0000","name":"evil","project":"x"}`), 0o644)
	os.MkdirAll(filepath.Join(e.dir, "victim"), 0o755)
	before := treeOf(t, e.dir, e.root)

	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", filepath.Join(e.dir, "stack.sock"))
	}}}
	do := func(method, path, body string) (int, string) {
		req, err := http.NewRequest(method, "http://stack"+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.URL.RawPath, _, _ = strings.Cut(path, "?") // keep %2F as sent
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return resp.StatusCode, string(b)
	}
	bad := []string{"..%2F..%2Fx", "..%2F..%2F..%2Fx-lock", "%2A", "a%2Fb", "..", strings.Repeat("a", 300)}
	type route struct{ method, path, body string }
	var routes []route
	for _, name := range bad {
		for _, r := range []route{
			{"GET", "/v1/projects/%s/containers", ""},
			{"POST", "/v1/projects/%s/up", `{"project":{"name":"ok","services":{}}}`},
			{"POST", "/v1/projects/%s/down", `{}`},
			{"POST", "/v1/projects/%s/stop", `{}`},
			{"POST", "/v1/projects/%s/start", `{}`},
			{"POST", "/v1/projects/%s/restart", `{}`},
			{"POST", "/v1/projects/%s/kill", `{}`},
			{"POST", "/v1/projects/%s/pause", `{}`},
			{"POST", "/v1/projects/%s/unpause", `{}`},
			{"GET", "/v1/projects/%s/logs", ""},
			{"GET", "/v1/projects/%s/top", ""},
			{"GET", "/v1/projects/%s/stats", ""},
			{"GET", "/v1/projects/%s/port?port=80", ""},
			{"POST", "/v1/projects/%s/exec", `{}`},
			{"POST", "/v1/projects/%s/run", `{}`},
			{"POST", "/v1/projects/%s/commit", `{}`},
			{"POST", "/v1/projects/%s/rm", `{}`},
			{"POST", "/v1/projects/%s/wait", `{}`},
			{"POST", "/v1/projects/%s/attach", `{}`},
			{"GET", "/v1/projects/%s/archive?service=a&path=/etc", ""},
			{"PUT", "/v1/projects/%s/archive?service=a&path=/tmp", ""},
			{"DELETE", "/v1/volumes/%s", ""},
			{"GET", "/v1/events?project=%s", ""},
		} {
			routes = append(routes, route{r.method, fmt.Sprintf(r.path, name), r.body})
		}
	}
	// Image references with path components: refused, not cleaned and
	// redirected to another image's route (DELETE x/../busybox would
	// remove busybox).
	for _, ref := range []string{"..", "x/../busybox", "x/..%2Fbusybox", "..%2F..%2Fx", "x/./busybox", "x//busybox"} {
		routes = append(routes,
			route{"DELETE", "/v1/images/" + ref, ""},
			route{"GET", "/v1/images/inspect/" + ref, ""},
			route{"GET", "/v1/images/history/" + ref, ""},
		)
	}
	// Good paths, bad bodies.
	routes = append(routes,
		route{"POST", "/v1/projects/ok/up", `{"project":{"name":"../../x","services":{}}}`},
		route{"POST", "/v1/projects/ok/up", `{"project":{"name":"ok","services":{"a/b":{"image":"busybox"}}}}`},
		route{"POST", "/v1/projects/ok/up", `{"project":{"name":"ok","services":{"a":{"image":"busybox","container_name":"x/../../../../cnvictim"}}}}`},
		route{"POST", "/v1/projects/ok/up", `{"project":{"name":"ok","services":{"a":{"image":"busybox","volumes":[{"type":"volume","source":"d","target":"/d"}]}},"volumes":{"d":{"name":"../../victim"}}}}`},
		route{"POST", "/v1/projects/ok/run", `{"project":{"name":"ok","services":{"a":{"image":"busybox"}}},"service":"a","name":"../x","detach":true}`},
		route{"POST", "/v1/projects/ok/down", `{"volumez":true}`},
		route{"POST", "/v1/projects/ok/down", `{"remove_images":"` + strings.Repeat("A", 1<<20) + `"}`},
	)
	for _, r := range routes {
		code, body := do(r.method, r.path, r.body)
		var e struct{ Class, Message string }
		json.Unmarshal([]byte(body), &e)
		if code != http.StatusBadRequest || e.Class != "invalid_argument" {
			t.Errorf("%s %.80s: %d %.200s, want 400 invalid_argument", r.method, r.path, code, body)
		}
		if len(body) > 600 {
			t.Errorf("%s %.80s: the error is %d bytes", r.method, r.path, len(body))
		}
	}
	// A body larger than the limit is refused without reading it all.
	huge := `{"project":{"name":"ok","services":{},"x":"` + strings.Repeat("A", 20<<20) + `"}}`
	if code, body := do("POST", "/v1/projects/ok/up", huge); code != http.StatusBadRequest || !strings.Contains(body, "larger than 8 MiB") {
		t.Errorf("20 MiB body: %d %.200s", code, body)
	}
	if after := treeOf(t, e.dir, e.root); after != before {
		t.Errorf("something changed outside the state root:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	// Where the project lock of ../../../x-lock would be: above e.dir,
	// which treeOf does not see.
	if lock := filepath.Join(e.root, "locks", "../../../x-lock.lock"); !strings.HasPrefix(lock, e.dir+"/") {
		if _, err := os.Stat(lock); err == nil {
			os.Remove(lock)
			t.Errorf("a lock file was created outside the state root: %s", lock)
		}
	} else {
		t.Fatalf("the lock of ../../../x-lock would be at %s, inside %s: the case tests nothing", lock, e.dir)
	}
	if out := e.mustRun("image", "ls"); !strings.Contains(out, "busybox") {
		t.Errorf("busybox is gone after the requests:\n%s", out)
	}

	// The same names in a stack file: the CLI refuses them with file:line
	// before anything reaches the daemon.
	e.writeStack(`services:
  a:
    image: busybox
    container_name: "x/../../../../cnvictim"
    volumes: ["d:/d"]
volumes:
  d:
    name: "../../victim"
`)
	code, _, stderr := e.run("up", "-d")
	if code != 2 || !strings.Contains(stderr, "stack.yaml:4:21: services.a.container_name") || !strings.Contains(stderr, "stack.yaml:8:11: volumes.d.name") {
		t.Errorf("up of a stack file with path names: exit %d\n%s", code, stderr)
	}
	if after := treeOf(t, e.dir, e.root); after != before {
		t.Errorf("something changed outside the state root:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// treeOf lists the files under dir but skip (the state root), and the
// stack file, which the test rewrites.
func treeOf(t *testing.T, dir, skip string) string {
	var b strings.Builder
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || p == skip || strings.HasPrefix(p, skip+"/") {
			if fi != nil && fi.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if filepath.Base(p) != "stack.yaml" {
			fmt.Fprintf(&b, "%s %v\n", strings.TrimPrefix(p, dir), fi.Mode())
		}
		return nil
	})
	return b.String()
}

// TestRootDNSStaysInItsProject: a container of another project that asks
// this project's resolver, on its gateway, gets no name and no forwarding.
func TestRootDNSStaysInItsProject(t *testing.T) {
	e := newEnv(t)
	e.writeStack(`services:
  web:
    image: busybox
    command: [sleep, "3600"]
`)
	e.mustRun("up", "-d")
	other := e.project + "x"
	os.WriteFile(filepath.Join(e.dir, "other.yaml"), []byte("services:\n  spy:\n    image: busybox\n    command: [sleep, \"3600\"]\n"), 0o644)
	e.mustRun("-f", "other.yaml", "-p", other, "up", "-d")
	t.Cleanup(func() { e.run("-f", "other.yaml", "-p", other, "down", "-t", "0") })
	conf := e.mustRun("exec", "-T", "web", "cat", "/etc/resolv.conf")
	var gw string
	for _, l := range strings.Split(conf, "\n") {
		if v, ok := strings.CutPrefix(l, "nameserver "); ok {
			gw = strings.TrimSpace(v)
		}
	}
	if gw == "" {
		t.Fatalf("no nameserver in resolv.conf:\n%s", conf)
	}
	if out := e.mustRun("exec", "-T", "web", "nslookup", "web", gw); !strings.Contains(out, "Name:") {
		t.Errorf("the project's own container cannot resolve through %s:\n%s", gw, out)
	}
	code, out, errOut := e.run("-f", "other.yaml", "-p", other, "exec", "-T", "spy", "nslookup", "web", gw)
	if code == 0 || strings.Contains(out, "Name:") {
		t.Errorf("another project's container resolved web through %s: exit %d\n%s%s", gw, code, out, errOut)
	}
}
