package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stack-dev/stack/internal/testutil"
)

// freePort returns a TCP port nothing listens on at 127.0.0.1.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestRootInspect drives top, stats, port, volume, network, system prune
// and version against one running stack, then against what down leaves.
func TestRootInspect(t *testing.T) {
	e := newEnv(t)
	port := freePort(t)
	e.writeStack(fmt.Sprintf(`services:
  web:
    image: busybox
    command: [sleep, '3600']
    ports: ['127.0.0.1:%d:80']
    volumes: [data:/data, extra:/extra, /scratch]
volumes:
  data: {}
  extra: {}
`, port))
	e.mustRun("up", "-d")
	web := e.project + "-web-1"
	data, extra := e.project+"_data", e.project+"_extra"

	if out := e.mustRun("top"); !strings.Contains(out, web) || !strings.Contains(out, "sleep 3600") || !strings.Contains(out, "PPID") {
		t.Errorf("top: want %s running sleep 3600:\n%s", web, out)
	}
	if code, _, errOut := e.run("top", "nosuch"); code == 0 || !strings.Contains(errOut, "web") {
		t.Errorf("top nosuch: exit %d, want the known services named: %s", code, errOut)
	}

	out := e.mustRun("stats", "--no-stream", "--format", "json")
	// docker's keys and values.
	var st struct{ Name, MemUsage, PIDs, CPUPerc string }
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &st); err != nil {
		t.Fatalf("stats json: %v:\n%s", err, out)
	}
	if st.Name != web || !strings.Contains(st.MemUsage, " / ") || strings.HasPrefix(st.MemUsage, "0B") || st.PIDs == "0" || !strings.HasSuffix(st.CPUPerc, "%") {
		t.Errorf("stats: %+v", st)
	}

	if out := strings.TrimSpace(e.mustRun("port", "web", "80")); out != fmt.Sprintf("127.0.0.1:%d", port) {
		t.Errorf("port web 80: %q", out)
	}
	if code, _, errOut := e.run("port", "web", "81"); code == 0 || !strings.Contains(errOut, "80/tcp") {
		t.Errorf("port web 81: exit %d: %s", code, errOut)
	}

	if out := e.mustRun("network", "ls"); !strings.Contains(out, e.project+"_default") || !strings.Contains(out, "bridge") {
		t.Errorf("network ls: want %s_default:\n%s", e.project, out)
	}

	if out := e.mustRun("volume", "ls"); !strings.Contains(out, data) || !strings.Contains(out, extra) || !strings.Contains(out, "_anon_") {
		t.Errorf("volume ls: want %s, %s and an anonymous volume:\n%s", data, extra, out)
	}
	if code, _, errOut := e.run("volume", "rm", data); code == 0 || !strings.Contains(errOut, "in use by container "+web) {
		t.Errorf("volume rm of a volume in use: exit %d: %s", code, errOut)
	}

	if out := e.mustRun("version"); !strings.Contains(out, "stack version") || !strings.Contains(out, "Server:\n version: ") {
		t.Errorf("version: want client and server:\n%s", out)
	}

	// down without -v leaves the volumes, now unused; busybox imported
	// again with other content leaves the first image dangling.
	e.mustRun("down", "-t", "1")
	old := strings.TrimSpace(e.mustRun("image", "ls", "-q"))
	rootfs := testutil.BusyboxRootfs(t)
	if err := os.WriteFile(filepath.Join(rootfs, "etc", "marker"), []byte("new\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e.mustRun("image", "import", "--rootfs", rootfs, "busybox")
	out = e.mustRun("system", "prune", "--volumes", "--force")
	if !strings.Contains(out, "Deleted Images:\ndeleted: sha256:"+old) {
		t.Errorf("system prune: want the dangling image %s deleted:\n%s", old, out)
	}
	if !strings.Contains(out, "Deleted Volumes:\n"+e.project+"_web_anon_") || strings.Contains(out, data) {
		t.Errorf("system prune --volumes: want the anonymous volume only:\n%s", out)
	}
	if !strings.Contains(out, "Total reclaimed space:") {
		t.Errorf("system prune: no reclaimed space line:\n%s", out)
	}
	e.mustRun("volume", "rm", data)
	if out := e.mustRun("volume", "prune", "-a", "--force"); !strings.Contains(out, extra) {
		t.Errorf("volume prune -a: want %s removed:\n%s", extra, out)
	}
	if out := e.mustRun("volume", "ls", "-q"); strings.TrimSpace(out) != "" {
		t.Errorf("volumes left: %s", out)
	}

	// version reports a stopped daemon and does not start one.
	e.stopDaemon()
	if out := e.mustRun("version"); !strings.Contains(out, "not running") {
		t.Errorf("version without a daemon:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(e.root, "daemon.pid")); err == nil {
		t.Errorf("version started the daemon")
	}
}
