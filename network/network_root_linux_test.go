package network

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/stack-dev/stack/internal/errdefs"
	"github.com/stack-dev/stack/internal/testutil"
	"github.com/stack-dev/stack/network/nat"
)

// TestRootBridge attaches two containers to one network and checks their
// interfaces, that they reach each other over ICMP and TCP, and that
// teardown and removal leave nothing.
func TestRootBridge(t *testing.T) {
	testutil.RequiresRoot(t)
	t.Parallel()
	ctx := context.Background()
	host, _ := fakeHost(t)
	fake := &nat.Fake{}
	m := newTestManager(t, host, func(o *Options) { o.Rules = fake })

	net := uniq(t, 20)
	st, err := m.CreateNetwork(ctx, NetworkConfig{Name: net})
	must(t, err)
	if st.Subnet.String() != "10.89.0.0/24" || st.Gateway.String() != "10.89.0.1" || st.Bridge != BridgeName(m.instance, net) {
		t.Fatalf("network status = %+v", st)
	}
	again, err := m.CreateNetwork(ctx, NetworkConfig{Name: net})
	if err != nil || again.Subnet != st.Subnet {
		t.Fatalf("CreateNetwork again = %+v, %v", again, err)
	}

	a, err := m.Setup(ctx, AttachConfig{ContainerID: "a-" + net, Networks: []EndpointConfig{{Network: net}}})
	must(t, err)
	b, err := m.Setup(ctx, AttachConfig{ContainerID: "b-" + net, Networks: []EndpointConfig{{Network: net, IPv4Address: st.Subnet.Addr().Next().Next().Next().Next().Next()}}})
	must(t, err)
	if got := b.Endpoints[0].IP.String(); got != "10.89.0.5/24" {
		t.Fatalf("static address = %s", got)
	}
	if _, err := m.Setup(ctx, AttachConfig{ContainerID: "b-" + net, Networks: []EndpointConfig{{Network: net}}}); !errors.Is(err, errdefs.ErrAlreadyExists) {
		t.Fatalf("second Setup: %v", err)
	}
	if _, err := m.Setup(ctx, AttachConfig{ContainerID: "c-" + net, Networks: []EndpointConfig{{Network: net, IPv4Address: b.Endpoints[0].IP.Addr()}}}); !errors.Is(err, errdefs.ErrAlreadyExists) {
		t.Fatalf("Setup with a taken address: %v", err)
	}
	if _, err := os.Stat(m.root + "/netns/c-" + net); !os.IsNotExist(err) {
		t.Fatalf("failed setup left its netns: %v", err)
	}

	// Inside a: eth0 with the address, MTU of the host's eth0, lo up,
	// default route via the gateway.
	ns, err := netns.GetFromPath(a.NetNSPath)
	must(t, err)
	h, err := netlink.NewHandleAt(ns)
	must(t, err)
	eth0, err := h.LinkByName("eth0")
	must(t, err)
	if eth0.Attrs().MTU != 1400 || eth0.Attrs().HardwareAddr.String() != a.Endpoints[0].MAC.String() {
		t.Errorf("eth0 mtu %d mac %s, want 1400 %s", eth0.Attrs().MTU, eth0.Attrs().HardwareAddr, a.Endpoints[0].MAC)
	}
	routes, err := h.RouteList(nil, netlink.FAMILY_V4)
	must(t, err)
	var dflt bool
	for _, r := range routes {
		if r.Dst == nil || r.Dst.String() == "0.0.0.0/0" {
			dflt = r.Gw.String() == "10.89.0.1"
		}
	}
	if !dflt {
		t.Errorf("no default route via the gateway: %v", routes)
	}
	h.Close()
	ns.Close()

	if out, err := busybox(t, a.NetNSPath, 5*time.Second, "ping", "-c", "1", "-W", "2", b.Endpoints[0].IP.Addr().String()); err != nil {
		t.Fatalf("ping a -> b: %v\n%s", err, out)
	}
	if out, err := busybox(t, a.NetNSPath, 5*time.Second, "ping", "-c", "1", "-W", "2", "127.0.0.1"); err != nil {
		t.Fatalf("ping lo in a: %v\n%s", err, out)
	}
	httpd(t, b.NetNSPath, 80, "hello from b")
	out, err := busybox(t, a.NetNSPath, 5*time.Second, "wget", "-q", "-O", "-", "http://"+b.Endpoints[0].IP.Addr().String()+"/")
	if err != nil || !strings.Contains(out, "hello from b") {
		t.Fatalf("wget a -> b: %v\n%s", err, out)
	}

	if err := m.RemoveNetwork(ctx, net); !errors.Is(err, errdefs.ErrFailedPrecondition) {
		t.Fatalf("RemoveNetwork in use: %v", err)
	}
	must(t, m.Teardown(ctx, "a-"+net))
	must(t, m.Teardown(ctx, "a-"+net)) // idempotent
	must(t, m.Teardown(ctx, "b-"+net))
	must(t, m.RemoveNetwork(ctx, net))
	assertClean(t, m)
	if got := fake.String(); !strings.Contains(got, "remove table") {
		t.Errorf("rules:\n%s", got)
	}
}

// assertClean checks that m's host namespace holds no link of this suite
// and its state root no namespace.
func assertClean(t testing.TB, m *Manager) {
	t.Helper()
	links, err := m.nl.LinkList()
	must(t, err)
	for _, l := range links {
		// Only links named after this suite's networks: the real host
		// may hold those of other suites.
		if a := l.Attrs(); (strings.HasPrefix(a.Alias, bridgeAliasPrefix) || strings.HasPrefix(a.Alias, vethAliasPrefix)) && strings.Contains(a.Alias, "-"+testTag) {
			t.Errorf("link %s (%s) left behind", a.Name, a.Alias)
		}
	}
	entries, _ := os.ReadDir(m.root + "/netns")
	for _, e := range entries {
		t.Errorf("netns %s left behind", e.Name())
	}
	if len(m.ipam.Networks()) != 0 {
		t.Errorf("ipam still holds %v", m.ipam.Networks())
	}
}

// TestRootTwoManagers checks that a second manager on the same host (a
// second daemon, an e2e suite) takes the first one's bridge for a host
// route and picks another subnet.
func TestRootTwoManagers(t *testing.T) {
	testutil.RequiresRoot(t)
	t.Parallel()
	ctx := context.Background()
	host, _ := fakeHost(t)
	m1 := newTestManager(t, host, func(o *Options) { o.Table = "stack1" })
	m2 := newTestManager(t, host, func(o *Options) { o.Table = "stack2" })
	n1, n2 := uniq(t, 20), uniq(t, 20)
	s1, err := m1.CreateNetwork(ctx, NetworkConfig{Name: n1})
	must(t, err)
	s2, err := m2.CreateNetwork(ctx, NetworkConfig{Name: n2})
	must(t, err)
	if s1.Subnet.Overlaps(s2.Subnet) {
		t.Errorf("both managers took %s and %s", s1.Subnet, s2.Subnet)
	}
	must(t, m1.RemoveNetwork(ctx, n1))
	must(t, m2.RemoveNetwork(ctx, n2))
	assertNoTable(t, host, "stack1")
	assertNoTable(t, host, "stack2")
}

// TestRootBridgeWithoutAlias: a daemon killed between creating a bridge
// and setting its alias (the kernel takes none at creation) leaves a
// bridge of the network's own name without one; the next CreateNetwork
// adopts it, while a link of that name with another alias is refused.
func TestRootBridgeWithoutAlias(t *testing.T) {
	testutil.RequiresRoot(t)
	t.Parallel()
	ctx := context.Background()
	host, _ := fakeHost(t)
	m := newTestManager(t, host, func(o *Options) { o.Rules = &nat.Fake{} })
	net := uniq(t, 20)
	must(t, m.nl.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: BridgeName(m.instance, net)}}))
	if _, err := m.CreateNetwork(ctx, NetworkConfig{Name: net}); err != nil {
		t.Fatalf("CreateNetwork over its own bridge without an alias: %v", err)
	}
	l, err := m.nl.LinkByName(BridgeName(m.instance, net))
	must(t, err)
	if l.Attrs().Alias != m.bridgeAlias(net) {
		t.Errorf("alias %q, want %q", l.Attrs().Alias, m.bridgeAlias(net))
	}
	must(t, m.RemoveNetwork(ctx, net))

	other := uniq(t, 20) + "x"
	must(t, m.nl.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: BridgeName(m.instance, other)}}))
	l, err = m.nl.LinkByName(BridgeName(m.instance, other))
	must(t, err)
	must(t, m.nl.LinkSetAlias(l, "somebody else's"))
	defer m.nl.LinkDel(l)
	if _, err := m.CreateNetwork(ctx, NetworkConfig{Name: other}); !errors.Is(err, errdefs.ErrAlreadyExists) {
		t.Errorf("CreateNetwork over a foreign link: %v, want already exists", err)
	}
}

// TestRootConnect connects a running container to a second network and
// disconnects it again: its interface, its address, reaching a container
// that is only there, and its DNS records (aliases included) come and go.
func TestRootConnect(t *testing.T) {
	testutil.RequiresRoot(t)
	t.Parallel()
	ctx := context.Background()
	host, _ := fakeHost(t)
	m := newTestManager(t, host, func(o *Options) { o.Rules = &nat.Fake{} })
	n1, n2 := uniq(t, 20), uniq(t, 20)
	_, err := m.CreateNetwork(ctx, NetworkConfig{Name: n1})
	must(t, err)
	_, err = m.CreateNetwork(ctx, NetworkConfig{Name: n2})
	must(t, err)
	a, err := m.Setup(ctx, AttachConfig{ContainerID: "a-" + n1, Networks: []EndpointConfig{{Network: n1, DNSNames: []string{"a"}}}})
	must(t, err)
	b, err := m.Setup(ctx, AttachConfig{ContainerID: "b-" + n2, Networks: []EndpointConfig{{Network: n2, DNSNames: []string{"b"}}}})
	must(t, err)
	t.Cleanup(func() {
		m.Teardown(ctx, "a-"+n1)
		m.Teardown(ctx, "b-"+n2)
		m.RemoveNetwork(ctx, n1)
		m.RemoveNetwork(ctx, n2)
	})
	bIP := b.Endpoints[0].IP.Addr().String()
	// The fake rules do not isolate networks (the host routes between
	// them): what shows the connection is a's interface on b's subnet.
	hasLink := func(name string) bool {
		ns, err := netns.GetFromPath(a.NetNSPath)
		must(t, err)
		defer ns.Close()
		h, err := netlink.NewHandleAt(ns)
		must(t, err)
		defer h.Close()
		_, err = h.LinkByName(name)
		return err == nil
	}

	ep, err := m.Connect(ctx, "a-"+n1, EndpointConfig{Network: n2, DNSNames: []string{"a"}, Aliases: []string{"alias-a"}})
	must(t, err)
	if ep.Interface != "eth1" || ep.IP.Masked() != b.Endpoints[0].IP.Masked() || !hasLink("eth1") {
		t.Errorf("endpoint = %+v, on b's subnet %s, link there: %v", ep, b.Endpoints[0].IP.Masked(), hasLink("eth1"))
	}
	if _, err := m.Connect(ctx, "a-"+n1, EndpointConfig{Network: n2}); !errors.Is(err, errdefs.ErrAlreadyExists) {
		t.Errorf("second Connect: %v", err)
	}
	if out, err := busybox(t, a.NetNSPath, 5*time.Second, "ping", "-c", "1", "-W", "2", bIP); err != nil {
		t.Fatalf("ping a -> b after connect: %v\n%s", err, out)
	}
	st, err := m.Status("a-" + n1)
	must(t, err)
	if len(st.Endpoints) != 2 || st.Endpoints[1].Network != n2 {
		t.Errorf("status after connect: %+v", st.Endpoints)
	}
	names := func() []string {
		var out []string
		for _, r := range m.records.Records() {
			if r.Container == "a-"+n1 {
				out = append(out, r.Network+"="+strings.Join(r.Names, ","))
			}
		}
		slices.Sort(out)
		return out
	}
	want := []string{n1 + "=a", n2 + "=a,alias-a"}
	slices.Sort(want)
	if got := strings.Join(names(), " "); got != strings.Join(want, " ") {
		t.Errorf("records after connect: %s", got)
	}

	must(t, m.Disconnect(ctx, "a-"+n1, n2))
	if err := m.Disconnect(ctx, "a-"+n1, n2); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("second Disconnect: %v", err)
	}
	if got := strings.Join(names(), " "); got != n1+"=a" {
		t.Errorf("records after disconnect: %s", got)
	}
	if hasLink("eth1") {
		t.Errorf("eth1 is still in a after disconnect")
	}
	must(t, m.Teardown(ctx, "a-"+n1))
	must(t, m.Teardown(ctx, "b-"+n2))
	must(t, m.RemoveNetwork(ctx, n1))
	must(t, m.RemoveNetwork(ctx, n2))
	assertClean(t, m)
}
