package dns

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"github.com/stack-dev/stack/internal/errdefs"
)

// DefaultDomain is the domain our names live in when none is configured:
// "web" and "web.stack.internal" are the same name. ".internal" is reserved
// for private use by ICANN, so it never clashes with a real domain.
const DefaultDomain = "stack.internal"

// Record is a container's entry on one network.
type Record struct {
	Network   string     // required
	Container string     // required: the container ID
	Addr      netip.Addr // required: its address on Network
	Names     []string   // the names it answers to; may be empty
	// Upstreams replaces the table's upstreams for queries from Addr
	// (a service's dns: option). Optional.
	Upstreams []string
}

// Table is the set of records of all our networks. Create it with
// [NewTable]. It is safe for concurrent use.
//
// A change updates the indexes queries read in place, under the write
// lock, at a cost that depends on the container's own records (and the
// replicas sharing its names), not on the table's size: an up of N
// services makes N changes, and a table rebuilt on each would make that
// N². A query takes the read lock for each lookup it makes, so each sees
// a change whole.
type Table struct {
	domain string // lowercase, no dots at either end; may be empty

	mu      sync.RWMutex
	records map[recordKey]*Record
	subnets map[string]netip.Prefix
	// names maps network -> lowercase name (domain stripped) -> addresses,
	// sorted.
	names map[string]map[string][]netip.Addr
	// addrs maps an address to the record that owns it.
	addrs map[netip.Addr]*Record
	// networksOf maps a container to its networks, sorted.
	networksOf map[string][]string
}

type recordKey struct{ network, container string }

// NewTable returns an empty table for domain ([DefaultDomain] when empty;
// "." for none).
func NewTable(domain string) *Table {
	if domain == "" {
		domain = DefaultDomain
	}
	return &Table{
		domain:     strings.ToLower(strings.Trim(domain, ".")),
		records:    map[recordKey]*Record{},
		subnets:    map[string]netip.Prefix{},
		names:      map[string]map[string][]netip.Addr{},
		addrs:      map[netip.Addr]*Record{},
		networksOf: map[string][]string{},
	}
}

// Domain returns the table's domain, without dots at either end.
func (t *Table) Domain() string { return t.domain }

// AddNetwork declares the subnet of network, which makes the reverse names
// of the subnet ours: a PTR question for an unknown address in it gets
// NXDOMAIN instead of being forwarded.
func (t *Table) AddNetwork(network string, subnet netip.Prefix) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.subnets[network] = subnet
}

// RemoveNetwork forgets network's subnet and all records on it.
func (t *Table) RemoveNetwork(network string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.subnets, network)
	for k, r := range t.records {
		if k.network == network {
			t.unindex(r)
		}
	}
}

// Add adds or replaces the record of r.Container on r.Network. The change
// is visible to the next query.
func (t *Table) Add(r Record) error {
	if r.Network == "" || r.Container == "" || !r.Addr.IsValid() {
		return fmt.Errorf("dns: record %+v: network, container and address are required: %w", r, errdefs.ErrInvalidArgument)
	}
	for _, n := range r.Names {
		if n == "" || strings.ContainsAny(n, " \t\n") {
			return fmt.Errorf("dns: record of %s: name %q: %w", r.Container, n, errdefs.ErrInvalidArgument)
		}
	}
	r.Names = slices.Clone(r.Names)
	r.Upstreams = slices.Clone(r.Upstreams)
	t.mu.Lock()
	defer t.mu.Unlock()
	if old, ok := t.records[recordKey{r.Network, r.Container}]; ok {
		t.unindex(old)
	}
	// An address is one container's: a record of another container that
	// still holds it on this network is stale (its removal was missed, and
	// the address given out again), and goes.
	if o := t.addrs[r.Addr]; o != nil && o.Network == r.Network {
		t.unindex(o)
	}
	t.index(&r)
	return nil
}

// Remove removes the records of container on every network.
func (t *Table) Remove(container string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, n := range slices.Clone(t.networksOf[container]) {
		t.unindex(t.records[recordKey{n, container}])
	}
}

// Records returns the records, sorted by network and container.
func (t *Table) Records() []Record {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make([]Record, 0, len(t.records))
	for _, r := range t.records {
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b Record) int {
		return cmp.Or(cmp.Compare(a.Network, b.Network), cmp.Compare(a.Container, b.Container))
	})
	return out
}

// index adds r to the table; the caller holds t.mu. r is never changed
// afterwards, so a query may keep it after the lock: every other answer
// is copied out under the lock.
func (t *Table) index(r *Record) {
	t.records[recordKey{r.Network, r.Container}] = r
	t.addrs[r.Addr] = r
	t.networksOf[r.Container] = insertSorted(t.networksOf[r.Container], r.Network, cmp.Compare[string])
	byName := t.names[r.Network]
	if byName == nil {
		byName = map[string][]netip.Addr{}
		t.names[r.Network] = byName
	}
	for _, n := range r.Names {
		n = t.local(strings.ToLower(strings.TrimSuffix(n, ".")))
		byName[n] = insertSorted(byName[n], r.Addr, netip.Addr.Compare)
	}
}

// unindex takes r out of the table; the caller holds t.mu. An address
// has one record per network (Add sees to it), so r's address leaves each
// of its names.
func (t *Table) unindex(r *Record) {
	delete(t.records, recordKey{r.Network, r.Container})
	if t.addrs[r.Addr] == r {
		delete(t.addrs, r.Addr)
	}
	if nets := removeSorted(t.networksOf[r.Container], r.Network, cmp.Compare[string]); len(nets) > 0 {
		t.networksOf[r.Container] = nets
	} else {
		delete(t.networksOf, r.Container)
	}
	byName := t.names[r.Network]
	for _, n := range r.Names {
		n = t.local(strings.ToLower(strings.TrimSuffix(n, ".")))
		if addrs := removeSorted(byName[n], r.Addr, netip.Addr.Compare); len(addrs) > 0 {
			byName[n] = addrs
		} else {
			delete(byName, n)
		}
	}
	if len(byName) == 0 {
		delete(t.names, r.Network)
	}
}

// insertSorted returns s with v in its sorted place, once.
func insertSorted[T any](s []T, v T, compare func(a, b T) int) []T {
	if i, found := slices.BinarySearchFunc(s, v, compare); !found {
		return slices.Insert(s, i, v)
	}
	return s
}

// removeSorted returns s without v.
func removeSorted[T any](s []T, v T, compare func(a, b T) int) []T {
	if i, found := slices.BinarySearchFunc(s, v, compare); found {
		return slices.Delete(s, i, i+1)
	}
	return s
}

// local strips our domain from a lowercase name without a trailing dot,
// and reports whether it was there.
func (t *Table) local(name string) string {
	n, _ := t.strip(name)
	return n
}

func (t *Table) strip(name string) (string, bool) {
	if t.domain == "" {
		return name, false
	}
	if name == t.domain {
		return "", true
	}
	if n, ok := strings.CutSuffix(name, "."+t.domain); ok {
		return n, true
	}
	return name, false
}

// view is what one client may see: the networks of a query.
type view struct {
	t        *Table
	networks []string
	client   *Record // the record owning the client's address, if any
	subnet   netip.Prefix
	served   bool // the listener's network has a subnet (subnet is set)
}

// view returns the view of a client at addr asking the listener of network.
func (t *Table) view(network string, client netip.Addr) view {
	t.mu.RLock()
	defer t.mu.RUnlock()
	v := view{t: t, networks: []string{network}}
	v.subnet, v.served = t.subnets[network]
	if r, ok := t.addrs[client.Unmap()]; ok {
		v.client = r
		for _, n := range t.networksOf[r.Container] {
			if !slices.Contains(v.networks, n) {
				v.networks = append(v.networks, n)
			}
		}
	}
	return v
}

// lookup returns the addresses of name (lowercase, domain stripped) that
// v can see, sorted and without duplicates.
func (v view) lookup(name string) []netip.Addr {
	v.t.mu.RLock()
	defer v.t.mu.RUnlock()
	var out []netip.Addr
	for _, n := range v.networks {
		out = append(out, v.t.names[n][name]...)
	}
	if len(v.networks) > 1 {
		slices.SortFunc(out, netip.Addr.Compare)
		out = slices.Compact(out)
	}
	return out
}

// reverse returns the record of addr if v can see it.
func (v view) reverse(addr netip.Addr) (*Record, bool) {
	v.t.mu.RLock()
	defer v.t.mu.RUnlock()
	r, ok := v.t.addrs[addr]
	if !ok || !slices.Contains(v.networks, r.Network) {
		return nil, false
	}
	return r, true
}

// ours reports whether addr is in one of our subnets.
func (v view) ours(addr netip.Addr) bool {
	v.t.mu.RLock()
	defer v.t.mu.RUnlock()
	for _, p := range v.t.subnets {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}
