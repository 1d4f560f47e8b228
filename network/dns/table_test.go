package dns

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// rebuilt is the table's indexes computed afresh from its records: what
// the changes made in place must equal after every change.
func (t *Table) rebuilt() (names map[string]map[string][]netip.Addr, addrs map[netip.Addr]*Record, networksOf map[string][]string) {
	names, addrs, networksOf = map[string]map[string][]netip.Addr{}, map[netip.Addr]*Record{}, map[string][]string{}
	for _, r := range t.records {
		addrs[r.Addr] = r
		networksOf[r.Container] = append(networksOf[r.Container], r.Network)
		if names[r.Network] == nil {
			names[r.Network] = map[string][]netip.Addr{}
		}
		for _, n := range r.Names {
			n = t.local(n)
			if !slices.Contains(names[r.Network][n], r.Addr) {
				names[r.Network][n] = append(names[r.Network][n], r.Addr)
			}
		}
	}
	for _, byName := range names {
		for _, a := range byName {
			slices.SortFunc(a, netip.Addr.Compare)
		}
	}
	for _, n := range networksOf {
		slices.Sort(n)
	}
	return names, addrs, networksOf
}

// TestTableIndexesMatchRebuild makes seeded random changes (adds, replaces
// with other names and addresses, addresses given again, removals of
// containers and of networks) and checks after each that the indexes are
// what a rebuild from the records gives, and that no two records on a
// network share an address.
func TestTableIndexesMatchRebuild(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	tb := NewTable("")
	networks := []string{"front", "back", "db"}
	for i, n := range networks {
		tb.AddNetwork(n, netip.MustParsePrefix(fmt.Sprintf("10.89.%d.0/24", i)))
	}
	// Addresses come from a pool smaller than the containers, so some are
	// given to a container while another's record still holds them, as
	// after a missed removal.
	addr := func(network int) netip.Addr {
		return netip.AddrFrom4([4]byte{10, 89, byte(network), byte(2 + rng.IntN(8))})
	}
	pool := []string{"web", "WEB.stack.internal.", "api", "db", "cache", "alias.example.org"}
	for step := range 2000 {
		c := rng.IntN(12)
		container := fmt.Sprintf("c%d", c)
		switch op := rng.IntN(10); {
		case op < 7:
			ni := rng.IntN(len(networks))
			var names []string
			for range rng.IntN(4) {
				names = append(names, pool[rng.IntN(len(pool))])
			}
			names = append(names, container)
			if err := tb.Add(Record{Network: networks[ni], Container: container, Addr: addr(ni), Names: names}); err != nil {
				t.Fatal(err)
			}
		case op < 9:
			tb.Remove(container)
		default:
			ni := rng.IntN(len(networks))
			tb.RemoveNetwork(networks[ni])
			tb.AddNetwork(networks[ni], netip.MustParsePrefix(fmt.Sprintf("10.89.%d.0/24", ni)))
		}
		seen := map[netip.Addr]string{}
		for k, r := range tb.records {
			if o, ok := seen[r.Addr]; ok && strings.HasPrefix(o, k.network+"/") {
				t.Fatalf("step %d: %s and %s/%s share %s", step, o, k.network, k.container, r.Addr)
			}
			seen[r.Addr] = k.network + "/" + k.container
		}
		names, addrs, networksOf := tb.rebuilt()
		if !maps.EqualFunc(tb.names, names, func(a, b map[string][]netip.Addr) bool { return maps.EqualFunc(a, b, slices.Equal) }) {
			t.Fatalf("step %d: names\n%v\nrebuilt\n%v", step, tb.names, names)
		}
		if !maps.Equal(tb.addrs, addrs) {
			t.Fatalf("step %d: addrs\n%v\nrebuilt\n%v", step, tb.addrs, addrs)
		}
		if !maps.EqualFunc(tb.networksOf, networksOf, slices.Equal) {
			t.Fatalf("step %d: networks\n%v\nrebuilt\n%v", step, tb.networksOf, networksOf)
		}
	}
}

// TestTableAddressGivenAgain: a record whose address another container's
// stale record still holds replaces that record, and the stale record's
// later removal takes nothing from the new one.
func TestTableAddressGivenAgain(t *testing.T) {
	tb := NewTable("")
	tb.AddNetwork("a", netip.MustParsePrefix("10.89.0.0/24"))
	x := netip.MustParseAddr("10.89.0.2")
	tb.Add(Record{Network: "a", Container: "old", Addr: x, Names: []string{"svc", "old"}})
	tb.Add(Record{Network: "a", Container: "new", Addr: x, Names: []string{"svc", "new"}})
	tb.Remove("old")
	client := netip.MustParseAddr("10.89.0.9")
	if got := tb.answer("a", client, "svc").addrs; !slices.Equal(got, []netip.Addr{x}) {
		t.Errorf("svc: %v, want %v", got, x)
	}
	if got := tb.answer("a", client, "old").addrs; len(got) != 0 {
		t.Errorf("old: %v, want nothing", got)
	}
	if r := tb.answer("a", client, "2.0.89.10.in-addr.arpa").ptr; r == nil || r.Container != "new" {
		t.Errorf("reverse of %s: %+v", x, r)
	}
}
