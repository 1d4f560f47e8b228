package network

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"
	mdns "github.com/miekg/dns"
	"github.com/vishvananda/netns"

	"github.com/stack-dev/stack/internal/errdefs"
	"github.com/stack-dev/stack/internal/testutil"
	"github.com/stack-dev/stack/network/dns"
)

// TestRootPublishAndIsolate runs the whole network of a small stack in a
// fake host: published ports from the host at 127.0.0.1 and at its
// address, host_ip, udp, an ephemeral port, hairpin from a container,
// masquerade to the outside, isolation between networks, an internal
// network, names over the embedded resolver, forwarding to an upstream
// resolver, port conflicts, and that nothing stays once it all goes.
func TestRootPublishAndIsolate(t *testing.T) {
	testutil.RequiresRoot(t)
	t.Parallel()
	ctx := context.Background()
	host, outside := fakeHost(t)
	upstreamDNS(t, outside, "192.0.2.1:53", "198.51.100.7")
	httpd(t, outside, 80, "hello from outside")
	m := newTestManager(t, host, func(o *Options) { o.Upstreams = []string{"192.0.2.1:53"} })

	front, back, priv := uniq(t, 12)+"-f", uniq(t, 12)+"-b", uniq(t, 12)+"-i"
	for _, c := range []NetworkConfig{{Name: front}, {Name: back}, {Name: priv, Internal: true}} {
		if _, err := m.CreateNetwork(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	lo := netip.MustParseAddr("127.0.0.1")
	web, err := m.Setup(ctx, AttachConfig{
		ContainerID: "web",
		Networks:    []EndpointConfig{{Network: front, DNSNames: []string{"web", "proj-web-1"}, Aliases: []string{"www"}}},
		Ports: []PortMapping{
			{HostPort: 8080, ContainerPort: 80},
			{HostIP: lo, HostPort: 8081, ContainerPort: 80},
			{ContainerPort: 80},
			{HostPort: 9999, ContainerPort: 9999, Protocol: "udp"},
		},
	})
	must(t, err)
	ephemeral := web.Ports[2].HostPort
	if ephemeral == 0 || web.Ports[0].HostPort != 8080 {
		t.Fatalf("ports = %v", web.Ports)
	}
	t.Logf("ports: %v", web.Ports)
	if _, err := exec.LookPath("nft"); err == nil && testing.Verbose() {
		out, _ := runIn(t, host, 5*time.Second, "nft", "list", "table", "ip", DefaultTable)
		t.Logf("ruleset:\n%s", out)
	}
	client, err := m.Setup(ctx, AttachConfig{ContainerID: "client", Networks: []EndpointConfig{{Network: front, DNSNames: []string{"client"}}}})
	must(t, err)
	stranger, err := m.Setup(ctx, AttachConfig{ContainerID: "stranger", Networks: []EndpointConfig{{Network: back, DNSNames: []string{"stranger"}}}})
	must(t, err)
	hermit, err := m.Setup(ctx, AttachConfig{ContainerID: "hermit", Networks: []EndpointConfig{{Network: priv, DNSNames: []string{"hermit"}}}})
	must(t, err)
	httpd(t, web.NetNSPath, 80, "hello from web")
	webIP := web.Endpoints[0].IP.Addr().String()

	get := func(ns, url string) (string, error) {
		// Not wget -T: it crashes this busybox.
		return busybox(t, ns, 3*time.Second, "wget", "-q", "-O", "-", url)
	}
	wantServed := func(who, ns, url, body string) {
		t.Helper()
		out, err := get(ns, url)
		if err != nil || !strings.Contains(out, body) {
			t.Errorf("%s: GET %s: %v %s", who, url, err, out)
		}
	}
	wantRefused := func(who, ns, url string) {
		t.Helper()
		if out, err := get(ns, url); err == nil {
			t.Errorf("%s: GET %s worked: %s", who, url, out)
		}
	}

	// From the host, with curl as a user would.
	for _, url := range []string{
		"http://127.0.0.1:8080/", "http://192.0.2.2:8080/", "http://127.0.0.1:8081/",
		fmt.Sprintf("http://127.0.0.1:%d/", ephemeral), fmt.Sprintf("http://192.0.2.2:%d/", ephemeral),
	} {
		out, err := runIn(t, host, 10*time.Second, "curl", "-sS", "--max-time", "3", url)
		if err != nil || !strings.Contains(out, "hello from web") {
			t.Errorf("host: curl %s: %v %s", url, err, out)
		}
	}
	if out, err := runIn(t, host, 10*time.Second, "curl", "-sS", "--max-time", "2", "http://192.0.2.2:8081/"); err == nil {
		t.Errorf("host_ip 127.0.0.1 ignored: 192.0.2.2:8081 served %s", out)
	}
	// From the outside, to the host's address.
	wantServed("outside", outside, "http://192.0.2.2:8080/", "hello from web")
	// From a container of the same network: directly, by name, and
	// through the host (hairpin).
	wantServed("client", client.NetNSPath, "http://"+webIP+"/", "hello from web")
	wantServed("client", client.NetNSPath, "http://192.0.2.2:8080/", "hello from web")
	wantServed("client", client.NetNSPath, "http://"+client.Endpoints[0].Gateway.String()+":8080/", "hello from web")
	// Masquerade: the outside has no route back to our subnets.
	wantServed("client", client.NetNSPath, "http://192.0.2.1/", "hello from outside")
	// Another network: not directly, not by name, but through the host.
	wantRefused("stranger", stranger.NetNSPath, "http://"+webIP+"/")
	wantServed("stranger", stranger.NetNSPath, "http://192.0.2.2:8080/", "hello from web")
	wantServed("stranger", stranger.NetNSPath, "http://192.0.2.1/", "hello from outside")
	// Internal: no way out, not even to the host's published ports.
	wantRefused("hermit", hermit.NetNSPath, "http://192.0.2.1/")
	wantRefused("hermit", hermit.NetNSPath, "http://"+webIP+"/")
	wantRefused("hermit", hermit.NetNSPath, "http://"+hermit.Endpoints[0].Gateway.String()+":8080/")

	// Names: scoped per network; outside names through the upstream.
	for _, tc := range []struct {
		who, ns, name, want string
		ok                  bool
	}{
		{"client", client.NetNSPath, "web", webIP, true},
		{"client", client.NetNSPath, "proj-web-1", webIP, true},
		{"client", client.NetNSPath, "stranger", "", false},
		{"stranger", stranger.NetNSPath, "web", "", false},
		{"stranger", stranger.NetNSPath, "example.com", "198.51.100.7", true},
		{"client", client.NetNSPath, "example.com", "198.51.100.7", true},
		{"hermit", hermit.NetNSPath, "hermit", hermit.Endpoints[0].IP.Addr().String(), true},
	} {
		out, err := busybox(t, tc.ns, 5*time.Second, "nslookup", tc.name, client.Endpoints[0].Gateway.String())
		if tc.ns != client.NetNSPath {
			out, err = busybox(t, tc.ns, 5*time.Second, "nslookup", tc.name, endpointOf(t, m, tc.ns).Gateway.String())
		}
		if got := err == nil && strings.Contains(out, tc.want); got != tc.ok {
			t.Errorf("%s: nslookup %s: %v\n%s", tc.who, tc.name, err, out)
		}
	}

	// UDP to a published port, from the host's 127.0.0.1 and from the
	// outside.
	udpEcho(t, web.NetNSPath, host, "127.0.0.1:9999")
	udpEcho(t, web.NetNSPath, outside, "192.0.2.2:9999")
	// An alias in our domain.
	if out, err := busybox(t, client.NetNSPath, 5*time.Second, "nslookup", "www."+dns.DefaultDomain, client.Endpoints[0].Gateway.String()); err != nil || !strings.Contains(out, webIP) {
		t.Errorf("nslookup alias: %v\n%s", err, out)
	}

	// Conflicts fail before anything is made, naming the port.
	_, err = m.Setup(ctx, AttachConfig{ContainerID: "late", Networks: []EndpointConfig{{Network: front}}, Ports: []PortMapping{{HostPort: 8081, ContainerPort: 80}}})
	var inUse *PortInUseError
	if !errors.As(err, &inUse) || !errors.Is(err, errdefs.ErrAlreadyExists) || !strings.Contains(err.Error(), "8081") || !strings.Contains(err.Error(), "container web") {
		t.Errorf("conflict with our port: %v", err)
	}
	hns, _ := netns.GetFromPath(host)
	var hold net.Listener
	must(t, inNetNS(hns, func() (err error) { hold, err = net.Listen("tcp4", "0.0.0.0:9090"); return err }))
	hns.Close()
	_, err = m.Setup(ctx, AttachConfig{ContainerID: "late", Networks: []EndpointConfig{{Network: front}}, Ports: []PortMapping{{HostPort: 9090, ContainerPort: 80}}})
	if !errors.As(err, &inUse) || !strings.Contains(err.Error(), "9090") || !strings.Contains(err.Error(), fmt.Sprintf("pid %d", os.Getpid())) {
		t.Errorf("conflict with a host socket: %v", err)
	}
	hold.Close()
	if _, err := os.Stat(m.root + "/netns/late"); !os.IsNotExist(err) {
		t.Errorf("failed setup left a netns")
	}

	// Records go the moment a container does.
	must(t, m.Teardown(ctx, "web"))
	if out, err := busybox(t, client.NetNSPath, 5*time.Second, "nslookup", "web", client.Endpoints[0].Gateway.String()); err == nil {
		t.Errorf("web still resolves after teardown: %s", out)
	}
	for _, id := range []string{"client", "stranger", "hermit"} {
		must(t, m.Teardown(ctx, id))
	}
	for _, n := range []string{front, back, priv} {
		must(t, m.RemoveNetwork(ctx, n))
	}
	assertClean(t, m)
	assertNoTable(t, host, DefaultTable)
}

// endpointOf returns the first endpoint of the container whose netns is
// nsPath.
func endpointOf(t testing.TB, m *Manager, nsPath string) Endpoint {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, cs := range m.st.Containers {
		if cs.NetNSPath == nsPath {
			return cs.Endpoints[0]
		}
	}
	t.Fatalf("no container in %s", nsPath)
	return Endpoint{}
}

// assertNoTable checks that the namespace at nsPath has no nftables table
// named table.
func assertNoTable(t testing.TB, nsPath, table string) {
	t.Helper()
	ns, err := netns.GetFromPath(nsPath)
	must(t, err)
	defer ns.Close()
	c, err := nftables.New(nftables.WithNetNSFd(int(ns)))
	must(t, err)
	tables, err := c.ListTables()
	must(t, err)
	for _, tb := range tables {
		if tb.Name == table {
			t.Errorf("nftables table %s left behind", table)
		}
	}
}

// upstreamDNS serves, in nsPath on addr, a resolver answering every A
// question with answer.
func upstreamDNS(t testing.TB, nsPath, addr, answer string) {
	t.Helper()
	ns, err := netns.GetFromPath(nsPath)
	must(t, err)
	defer ns.Close()
	var (
		pc net.PacketConn
		l  net.Listener
	)
	must(t, inNetNS(ns, func() (err error) {
		if pc, err = net.ListenPacket("udp4", addr); err != nil {
			return err
		}
		l, err = net.Listen("tcp4", addr)
		return err
	}))
	srv, err := dns.Serve(pc, l, dns.HandlerFunc(func(ctx context.Context, w mdns.ResponseWriter, r *mdns.Msg) (int, error) {
		m := new(mdns.Msg)
		m.SetReply(r)
		if r.Question[0].Qtype == mdns.TypeA {
			m.Answer = []mdns.RR{&mdns.A{Hdr: mdns.RR_Header{Name: r.Question[0].Name, Rrtype: mdns.TypeA, Class: mdns.ClassINET, Ttl: 60}, A: net.ParseIP(answer)}}
		}
		return 0, w.WriteMsg(m)
	}))
	must(t, err)
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
}

// udpEcho runs a UDP echo server on port in ctrNS (a socket made in that
// namespace, served from here) and checks that a datagram sent from fromNS
// to addr comes back.
func udpEcho(t testing.TB, ctrNS, fromNS, addr string) {
	t.Helper()
	cns, err := netns.GetFromPath(ctrNS)
	must(t, err)
	defer cns.Close()
	var srv net.PacketConn
	must(t, inNetNS(cns, func() (err error) { srv, err = net.ListenPacket("udp4", ":"+strings.Split(addr, ":")[1]); return err }))
	defer srv.Close()
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := srv.ReadFrom(buf)
			if err != nil {
				return
			}
			srv.WriteTo(buf[:n], from)
		}
	}()
	ns, err := netns.GetFromPath(fromNS)
	must(t, err)
	defer ns.Close()
	var c net.Conn
	must(t, inNetNS(ns, func() (err error) { c, err = net.Dial("udp4", addr); return err }))
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := c.Write([]byte("udp-hello")); err != nil {
		t.Fatalf("udp to %s: %v", addr, err)
	}
	buf := make([]byte, 100)
	n, err := c.Read(buf)
	if err != nil || string(buf[:n]) != "udp-hello" {
		t.Errorf("udp echo via %s from %s: %q, %v", addr, fromNS, buf[:n], err)
	}
}
