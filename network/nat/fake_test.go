package nat_test

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/stack-dev/stack/network/nat"
)

func TestFake(t *testing.T) {
	var f nat.Fake
	f.AddNetwork(nat.Network{Name: "web", Bridge: "stk-1", Subnet: netip.MustParsePrefix("10.89.0.0/24")})
	f.AddNetwork(nat.Network{Name: "db", Bridge: "stk-2", Subnet: netip.MustParsePrefix("10.89.1.0/24"), Internal: true})
	f.AddPorts("c1", []nat.Port{{Protocol: "tcp", HostPort: 8080, ContainerIP: netip.MustParseAddr("10.89.0.2"), ContainerPort: 80, Bridge: "stk-1"}})
	f.RemovePorts("c1")
	f.RemovePorts("c1")
	inv, _ := f.Inventory()
	if !slices.Equal(inv.Networks, []string{"db", "web"}) || len(inv.PortOwners) != 0 {
		t.Errorf("inventory = %+v", inv)
	}
	f.RemoveNetwork("web")
	f.RemoveNetwork("db")
	want := `add network web bridge=stk-1 subnet=10.89.0.0/24 masquerade
add network db bridge=stk-2 subnet=10.89.1.0/24 internal
add port c1 tcp 0.0.0.0:8080 -> 10.89.0.2:80 via stk-1
remove ports c1
remove network web
remove network db
remove table
`
	if got := f.String(); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}
