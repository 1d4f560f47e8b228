package nat_test

import (
	"errors"
	"net/netip"
	goruntime "runtime"
	"slices"
	"testing"

	"github.com/google/nftables"
	"github.com/vishvananda/netns"

	"github.com/stack-dev/stack/internal/errdefs"
	"github.com/stack-dev/stack/internal/testutil"
	"github.com/stack-dev/stack/network/nat"
)

// newNS returns a fresh network namespace, closed at cleanup; it goes away
// with its last reference, rules and all.
func newNS(t *testing.T) netns.NsHandle {
	t.Helper()
	goruntime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	ns, err := netns.New()
	if err != nil {
		t.Fatal(err)
	}
	if err := netns.Set(orig); err != nil {
		t.Fatal(err) // the thread stays locked and is discarded
	}
	goruntime.UnlockOSThread()
	orig.Close()
	t.Cleanup(func() { ns.Close() })
	return ns
}

func tables(t *testing.T, ns netns.NsHandle) []string {
	t.Helper()
	c, err := nftables.New(nftables.WithNetNSFd(int(ns)))
	if err != nil {
		t.Fatal(err)
	}
	ts, err := c.ListTables()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, tb := range ts {
		out = append(out, tb.Name)
	}
	return out
}

func TestRootNFTablesLifecycle(t *testing.T) {
	testutil.RequiresRoot(t)
	ns := newNS(t)
	r, err := nat.NewNFTables(nat.NFTablesConfig{Table: "stacktest", NetNS: int(ns)})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	web := nat.Network{Name: "web", Bridge: "stk-1", Subnet: netip.MustParsePrefix("10.89.0.0/24")}
	for i := 0; i < 2; i++ { // idempotent
		if err := r.AddNetwork(web); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.AddNetwork(nat.Network{Name: "db", Bridge: "stk-2", Subnet: netip.MustParsePrefix("10.89.1.0/24"), Internal: true}); err != nil {
		t.Fatal(err)
	}
	port := nat.Port{Protocol: "tcp", HostPort: 8080, ContainerIP: netip.MustParseAddr("10.89.0.2"), ContainerPort: 80, Bridge: "stk-1"}
	for i := 0; i < 2; i++ {
		if err := r.AddPorts("c1", []nat.Port{port}); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.AddPorts("c2", []nat.Port{{Protocol: "sctp", HostPort: 1, ContainerPort: 1, ContainerIP: port.ContainerIP}}); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("sctp port: %v", err)
	}
	inv, err := r.Inventory()
	if err != nil || !slices.Equal(inv.Networks, []string{"db", "web"}) || !slices.Equal(inv.PortOwners, []string{"c1"}) {
		t.Fatalf("inventory = %+v, %v", inv, err)
	}
	c, _ := nftables.New(nftables.WithNetNSFd(int(ns)))
	rules, err := c.GetRules(&nftables.Table{Name: "stacktest", Family: nftables.TableFamilyIPv4}, &nftables.Chain{Name: "postrouting"})
	if err != nil || len(rules) != 3 {
		t.Errorf("postrouting has %d rules after two AddNetwork, want 3 (%v)", len(rules), err)
	}
	if err := r.RemoveNetwork("web"); err != nil {
		t.Fatal(err)
	}
	if err := r.RemoveNetwork("db"); err != nil {
		t.Fatal(err)
	}
	// The port of c1 keeps the table.
	if !slices.Contains(tables(t, ns), "stacktest") {
		t.Fatal("table gone while a port is published")
	}
	if err := r.RemovePorts("c1"); err != nil {
		t.Fatal(err)
	}
	if got := tables(t, ns); slices.Contains(got, "stacktest") {
		t.Fatalf("table left: %v", got)
	}
	// Removing from a missing table is fine.
	if err := r.RemovePorts("c1"); err != nil {
		t.Fatal(err)
	}
	if err := r.RemoveNetwork("web"); err != nil {
		t.Fatal(err)
	}
	if inv, err := r.Inventory(); err != nil || len(inv.Networks)+len(inv.PortOwners) != 0 {
		t.Fatalf("inventory of nothing = %+v, %v", inv, err)
	}
}
