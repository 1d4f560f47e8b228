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
// N². A query reads what it needs under the read lock, once.
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
		n = t.local(n)
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
		n = t.local(n)
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

// local is a record's name as the table keys it: lowercase, without the
// trailing dot or our domain.
func (t *Table) local(name string) string {
	n, _ := t.strip(strings.ToLower(strings.TrimSuffix(name, ".")))
	return n
}

// strip strips our domain from a lowercase name without a trailing dot,
// and reports whether it was there.
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

// answer is what the table holds for one question: read under one lock,
// so that a query sees the records before or after a change, never half
// of one.
type answer struct {
	// served: the client is on the listener's network; the rest is set
	// only then.
	served    bool
	upstreams []string // the client's own dns: servers, if it has them
	// A reverse name (…in-addr.arpa): the record of its address if the
	// client may see it, and whether the address is in one of our subnets.
	reverse bool
	ptr     *Record
	ours    bool
	// Any other name: the addresses the client may see, sorted, and
	// whether the name was under our domain.
	addrs    []netip.Addr
	inDomain bool
}

// answer reads what a question for name (lowercase, without the trailing
// dot) from client to the listener of network needs.
func (t *Table) answer(network string, client netip.Addr, name string) answer {
	t.mu.RLock()
	defer t.mu.RUnlock()
	sub, ok := t.subnets[network]
	if !ok || !sub.Contains(client) {
		return answer{}
	}
	a := answer{served: true}
	networks := []string{network}
	if r, ok := t.addrs[client.Unmap()]; ok {
		a.upstreams = r.Upstreams
		for _, n := range t.networksOf[r.Container] {
			if !slices.Contains(networks, n) {
				networks = append(networks, n)
			}
		}
	}
	if addr, ok := reverseName(name); ok {
		a.reverse = true
		if r, ok := t.addrs[addr]; ok && slices.Contains(networks, r.Network) {
			a.ptr = r
		}
		for _, p := range t.subnets {
			a.ours = a.ours || p.Contains(addr)
		}
		return a
	}
	var local string
	local, a.inDomain = t.strip(name)
	for _, n := range networks {
		a.addrs = append(a.addrs, t.names[n][local]...)
	}
	if len(networks) > 1 {
		slices.SortFunc(a.addrs, netip.Addr.Compare)
		a.addrs = slices.Compact(a.addrs)
	}
	return a
}
