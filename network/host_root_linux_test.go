package network

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stack-dev/stack/internal/testutil"
)

// TestRootPublishRealHost publishes ports in the machine's own namespace
// and fetches them with curl at 127.0.0.1 and at the host's address, the
// way a user does. Everything stays on the machine: locally generated
// packets are DNATed in the output hook to a bridge of ours. It skips
// unless net.ipv4.ip_forward is 1 already, so the suite never changes the
// host's forwarding, and uses a table and names of its own.
func TestRootPublishRealHost(t *testing.T) {
	testutil.RequiresRoot(t)
	if b, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward"); strings.TrimSpace(string(b)) != "1" {
		t.Skip("net.ipv4.ip_forward is 0 on this host; not changing it from a test")
	}
	ctx := context.Background()
	hostIP := hostAddress(t)
	table := "stacktest" + strings.ReplaceAll(uniq(t, 12), "-", "")
	m := newTestManager(t, "", func(o *Options) { o.Table = table; o.DNSPort = -1 })
	nw := uniq(t, 24)
	_, err := m.CreateNetwork(ctx, NetworkConfig{Name: nw})
	must(t, err)
	t.Cleanup(func() { m.RemoveNetwork(ctx, nw) })
	id := uniq(t, 20)
	web, err := m.Setup(ctx, AttachConfig{
		ContainerID: id,
		Networks:    []EndpointConfig{{Network: nw}},
		Ports:       []PortMapping{{ContainerPort: 80}, {HostIP: netip.MustParseAddr("127.0.0.1"), ContainerPort: 80}},
	})
	must(t, err)
	t.Cleanup(func() { m.Teardown(ctx, id) })
	httpd(t, web.NetNSPath, 80, "hello from the real host")
	all, local := web.Ports[0].HostPort, web.Ports[1].HostPort
	for _, url := range []string{
		fmt.Sprintf("http://127.0.0.1:%d/", all),
		fmt.Sprintf("http://%s:%d/", hostIP, all),
		fmt.Sprintf("http://127.0.0.1:%d/", local),
	} {
		out, err := curl(url)
		if err != nil || !strings.Contains(out, "hello from the real host") {
			t.Errorf("curl %s: %v %s", url, err, out)
		}
	}
	if out, err := curl(fmt.Sprintf("http://%s:%d/", hostIP, local)); err == nil {
		t.Errorf("port bound to 127.0.0.1 served at %s: %s", hostIP, out)
	}
	must(t, m.Teardown(ctx, id))
	must(t, m.RemoveNetwork(ctx, nw))
	assertClean(t, m)
	assertNoTable(t, "/proc/self/ns/net", table)
}

func curl(url string) (string, error) {
	out, err := exec.Command("curl", "-sS", "--max-time", "3", url).CombinedOutput()
	return string(out), err
}

// hostAddress returns the address of the default-route interface of the
// machine (192.0.2.2 on the test machine).
func hostAddress(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("ip", "-4", "-o", "route", "get", "192.0.2.1").Output()
	if err != nil {
		t.Skipf("no route: %v", err)
	}
	f := strings.Fields(string(out))
	for i := range f {
		if f[i] == "src" && i+1 < len(f) {
			return f[i+1]
		}
	}
	t.Skipf("no source address in %q", out)
	return ""
}
