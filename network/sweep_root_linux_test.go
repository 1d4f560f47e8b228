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
	br, err := m1.nl.LinkByName(BridgeName(keep))
	must(t, err)
	must(t, m1.nl.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: vethName("ghost", keep), MasterIndex: br.Attrs().Index}, PeerName: "ghost-peer"}))
	l, err := m1.nl.LinkByName(vethName("ghost", keep))
	must(t, err)
	must(t, m1.nl.LinkSetAlias(l, vethAliasPrefix+"ghost "+keep))
	must(t, m1.rules.AddPorts("ghost", []nat.Port{{Protocol: "tcp", HostPort: 9000, ContainerIP: alive.Endpoints[0].IP.Addr(), ContainerPort: 80, Bridge: BridgeName(keep)}}))
	must(t, m1.Close()) // the crash: resolvers gone, everything else stays

	m2 := newTestManager(t, host, opts)
	must(t, m2.Sweep(ctx, Live{Networks: []string{keep}, Containers: []string{"alive"}, Exclusive: true}))
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
		if isOurs(l) {
			ours = append(ours, l.Attrs().Name)
		}
	}
	want := []string{BridgeName(keep), vethName("alive", keep)}
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

	// Everything is gone once nothing is live.
	must(t, m2.Sweep(ctx, Live{Exclusive: true}))
	assertClean(t, m2)
	assertNoTable(t, host, DefaultTable)
}
