package network

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/stack-dev/stack/internal/testutil"
	"github.com/stack-dev/stack/network/nat"
)

// TestRootSweepAfterCrash stops a manager without tearing anything down,
// as a SIGKILL of the daemon would, adds the debris of a crash in the
// middle of a setup, and checks that a new manager on the same state keeps
// what is live (with its name served again) and sweeps the rest.
func TestRootSweepAfterCrash(t *testing.T) {
	testutil.RequiresRoot(t)
	t.Parallel()
	ctx := context.Background()
	host, _ := fakeHost(t)
	state := filepath.Join(t.TempDir(), "state")
	opts := func(o *Options) { o.StateRoot = state }

	m1 := newTestManager(t, host, opts)
	keep, drop := uniq(t, 12)+"-k", uniq(t, 12)+"-d"
	_, err := m1.CreateNetwork(ctx, NetworkConfig{Name: keep})
	must(t, err)
	_, err = m1.CreateNetwork(ctx, NetworkConfig{Name: drop})
	must(t, err)
	alive, err := m1.Setup(ctx, AttachConfig{ContainerID: "alive", Networks: []EndpointConfig{{Network: keep, DNSNames: []string{"alive"}}}, Ports: []PortMapping{{HostPort: 8080, ContainerPort: 80}}})
	must(t, err)
	_, err = m1.Setup(ctx, AttachConfig{ContainerID: "dead", Networks: []EndpointConfig{{Network: keep}, {Network: drop}}, Ports: []PortMapping{{HostPort: 8081, ContainerPort: 80}}})
	must(t, err)

	// Debris of a setup that crashed before writing its state: a veth,
	// a namespace mount and port rules of a container nobody knows.
	must(t, createNetNS(filepath.Join(state, netnsDir, "ghost")))
	br, err := m1.nl.LinkByName(BridgeName(m1.instance, keep))
	must(t, err)
	must(t, m1.nl.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: vethName(m1.instance, "ghost", keep), MasterIndex: br.Attrs().Index}, PeerName: "ghost-peer"}))
	l, err := m1.nl.LinkByName(vethName(m1.instance, "ghost", keep))
	must(t, err)
	must(t, m1.nl.LinkSetAlias(l, m1.vethAlias("ghost", keep)))
	must(t, m1.rules.AddPorts("ghost", []nat.Port{{Protocol: "tcp", HostPort: 9000, ContainerIP: alive.Endpoints[0].IP.Addr(), ContainerPort: 80, Bridge: BridgeName(m1.instance, keep)}}))
	must(t, m1.Close()) // the crash: resolvers gone, everything else stays

	m2 := newTestManager(t, host, opts)
	must(t, m2.Sweep(ctx, Live{Networks: []string{keep}, Containers: []string{"alive"}, OwnRules: true, LegacyLinks: true}))
	// The live network comes back with its resolver.
	_, err = m2.CreateNetwork(ctx, NetworkConfig{Name: keep})
	must(t, err)
	inv, err := m2.rules.Inventory()
	must(t, err)
	if strings.Join(inv.Networks, ",") != keep || strings.Join(inv.PortOwners, ",") != "alive" {
		t.Errorf("rules after sweep: %+v", inv)
	}
	links, err := m2.nl.LinkList()
	must(t, err)
	var ours []string
	for _, l := range links {
		if _, _, _, mine, _ := m2.linkOwner(l); mine {
			ours = append(ours, l.Attrs().Name)
		}
	}
	want := []string{BridgeName(m2.instance, keep), vethName(m2.instance, "alive", keep)}
	if len(ours) != 2 || !strings.Contains(strings.Join(ours, " "), want[0]) || !strings.Contains(strings.Join(ours, " "), want[1]) {
		t.Errorf("links after sweep = %v, want %v", ours, want)
	}
	entries, _ := os.ReadDir(filepath.Join(state, netnsDir))
	if len(entries) != 1 || entries[0].Name() != "alive" {
		t.Errorf("namespaces after sweep: %v", entries)
	}
	if out, err := busybox(t, alive.NetNSPath, 5*time.Second, "nslookup", "alive", alive.Endpoints[0].Gateway.String()); err != nil {
		t.Errorf("name of the live container after restart: %v\n%s", err, out)
	}
	if _, err := m2.Setup(ctx, AttachConfig{ContainerID: "new", Networks: []EndpointConfig{{Network: keep}}, Ports: []PortMapping{{HostPort: 8080, ContainerPort: 80}}}); err == nil {
		t.Error("port 8080 of the live container handed out again")
	}
	// Its address came back from its own state file.
	other, err := m2.Setup(ctx, AttachConfig{ContainerID: "other", Networks: []EndpointConfig{{Network: keep}}})
	must(t, err)
	if other.Endpoints[0].IP == alive.Endpoints[0].IP {
		t.Errorf("the live container's address %s handed out again", alive.Endpoints[0].IP)
	}
	if _, err := os.Stat(filepath.Join(state, containersDir, "alive.json")); err != nil {
		t.Errorf("the live container's state file: %v", err)
	}
	must(t, m2.Teardown(ctx, "other"))

	// Everything is gone once nothing is live.
	must(t, m2.Sweep(ctx, Live{OwnRules: true, LegacyLinks: true}))
	assertClean(t, m2)
	if ents, _ := os.ReadDir(filepath.Join(state, containersDir)); len(ents) != 0 {
		t.Errorf("container state files after the sweep: %v", ents)
	}
	assertNoTable(t, host, DefaultTable)
}

// TestRootTwoInstances: two managers with state roots of their own, on
// one host, run networks of the same name, each with its own bridge and
// rules table; one's sweep and removal leave the other's links alone.
func TestRootTwoInstances(t *testing.T) {
	testutil.RequiresRoot(t)
	t.Parallel()
	ctx := context.Background()
	host, _ := fakeHost(t)
	a := newTestManager(t, host, func(o *Options) { o.Table = "stacktest_a" })
	b := newTestManager(t, host, func(o *Options) { o.Table = "stacktest_b" })
	if a.Instance() == b.Instance() {
		t.Fatalf("two state roots, one instance %s", a.Instance())
	}
	name := uniq(t, 20)
	sa, err := a.CreateNetwork(ctx, NetworkConfig{Name: name})
	must(t, err)
	sb, err := b.CreateNetwork(ctx, NetworkConfig{Name: name})
	must(t, err)
	if sa.Bridge == sb.Bridge {
		t.Fatalf("both networks %s on bridge %s", name, sa.Bridge)
	}
	_, err = b.Setup(ctx, AttachConfig{ContainerID: "c", Networks: []EndpointConfig{{Network: name}}})
	must(t, err)
	// a sweeps as a restarted daemon with nothing live, then removes.
	must(t, a.Sweep(ctx, Live{OwnRules: true, LegacyLinks: true}))
	must(t, a.RemoveNetwork(ctx, name))
	for _, link := range []string{sb.Bridge, vethName(b.instance, "c", name)} {
		if _, err := b.nl.LinkByName(link); err != nil {
			t.Errorf("the other instance's %s is gone: %v", link, err)
		}
	}
	must(t, b.Teardown(ctx, "c"))
	must(t, b.RemoveNetwork(ctx, name))
	assertClean(t, a)
	assertClean(t, b)
}
