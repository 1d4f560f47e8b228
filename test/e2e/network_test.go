package e2e

import (
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

const namesStack = `services:
  a:
    image: busybox
    command: [sh, -c, "httpd -p 80 -h /var/www; exec /udpecho serve :9000"]
    volumes: ["UDPECHO:/udpecho:ro"]
    networks:
      default:
        aliases: [alias-a]
  r:
    image: busybox
    command: [sleep, "3600"]
    volumes: ["UDPECHO:/udpecho:ro"]
    deploy:
      replicas: 3
  c:
    image: busybox
    command: [sleep, "3600"]
    networks: [other]
networks:
  other: {}
`

// TestRootNetworkNames checks service discovery through the CLI: TCP and
// UDP by service name, an alias, three replicas behind one name, and a
// service on another network that can neither resolve nor reach them.
func TestRootNetworkNames(t *testing.T) {
	e := newEnv(t)
	e.writeStack(strings.ReplaceAll(namesStack, "UDPECHO", udpEcho))
	e.mustRun("up", "-d")
	// up -d returns once a has started, not once it listens.
	retry := func(cmd string) string {
		return "for i in $(seq 50); do " + cmd + " && exit 0; sleep 0.1; done; exit 1"
	}
	if got := e.mustRun("exec", "-T", "--index", "1", "r", "sh", "-c", retry("wget -qO- http://a/")); got != "hello from busybox\n" {
		t.Errorf("TCP by name: %q", got)
	}
	if got := e.mustRun("exec", "-T", "--index", "1", "r", "sh", "-c", retry("/udpecho send a:9000 over-udp")); !strings.Contains(got, "over-udp") {
		t.Errorf("UDP by name: %q", got)
	}
	if got := e.mustRun("exec", "-T", "--index", "2", "r", "nslookup", "alias-a"); !strings.Contains(got, "Address") {
		t.Errorf("alias: %q", got)
	}
	out := e.mustRun("exec", "-T", "--index", "3", "r", "nslookup", "r")
	addrs := map[string]bool{}
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) == 2 && f[0] == "Address:" && !strings.HasSuffix(f[1], ".1:53") && !strings.HasSuffix(f[1], ".1") {
			addrs[f[1]] = true
		}
	}
	if len(addrs) != 3 {
		t.Errorf("replicas: want 3 addresses for r, got %v from\n%s", addrs, out)
	}
	if code, out, _ := e.run("exec", "-T", "c", "nslookup", "a"); code == 0 {
		t.Errorf("a resolves from another network:\n%s", out)
	}
	aIP := e.ps()["a"].Networks[e.project+"_default"]
	if aIP == "" {
		t.Fatalf("no address of a in ps: %+v", e.ps()["a"])
	}
	if code, out, _ := e.run("exec", "-T", "c", "wget", "-T", "1", "-qO-", "http://"+aIP+"/"); code == 0 {
		t.Errorf("a is reachable from another network at %s: %q", aIP, out)
	}
}

// TestRootNetworkCrashLeavesNothing kills the daemon and every container
// process with SIGKILL, brings the daemon back, and checks that down then
// leaves no link, rule or address of the project.
func TestRootNetworkCrashLeavesNothing(t *testing.T) {
	e := newEnv(t)
	e.writeStack("services:\n  web:\n    image: busybox\n    command: [httpd, -f, -p, '80', -h, /var/www]\n    ports: ['127.0.0.1::80']\n  b:\n    image: busybox\n    command: [sleep, '3600']\n")
	e.mustRun("up", "-d")
	ports := e.ps()["web"].Ports
	if len(ports) != 1 || ports[0].HostPort == 0 || ports[0].HostIP != "127.0.0.1" {
		t.Fatalf("ephemeral port not reported: %+v", ports)
	}
	if got := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/", ports[0].HostPort)); got != "hello from busybox\n" {
		t.Fatalf("ephemeral port: %q", got)
	}
	syscall.Kill(e.daemonPid(), syscall.SIGKILL)
	e.killContainers()
	for _, c := range e.ps() { // brings the daemon back
		if c.State == "running" {
			t.Errorf("%s still running after SIGKILL: %+v", c.Name, c)
		}
	}
	e.mustRun("down", "-t", "1")
	links, _ := exec.Command("ip", "-o", "link").Output()
	if strings.Contains(string(links), e.project) {
		t.Errorf("links of the project left after down:\n%s", links)
	}
}
