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
			n = t.local(strings.ToLower(strings.TrimSuffix(n, ".")))
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
// with other names, removals of containers and of networks) and checks
// after each that the indexes are what a rebuild from the records gives.
func TestTableIndexesMatchRebuild(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	tb := NewTable("")
	networks := []string{"front", "back", "db"}
	for i, n := range networks {
		tb.AddNetwork(n, netip.MustParsePrefix(fmt.Sprintf("10.89.%d.0/24", i)))
	}
	// Each container's address on a network is fixed, as IPAM makes it.
	addr := func(network, container int) netip.Addr {
		return netip.AddrFrom4([4]byte{10, 89, byte(network), byte(2 + container)})
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
			if err := tb.Add(Record{Network: networks[ni], Container: container, Addr: addr(ni, c), Names: names}); err != nil {
				t.Fatal(err)
			}
		case op < 9:
			tb.Remove(container)
		default:
			ni := rng.IntN(len(networks))
			tb.RemoveNetwork(networks[ni])
			tb.AddNetwork(networks[ni], netip.MustParsePrefix(fmt.Sprintf("10.89.%d.0/24", ni)))
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
