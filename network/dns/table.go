package dns

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

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
// [NewTable]. It is safe for concurrent use; readers never block.
type Table struct {
	domain string // lowercase, no dots at either end; may be empty

	mu       sync.Mutex // serialises writers
	records  map[recordKey]Record
	subnets  map[string]netip.Prefix
	snapshot atomic.Pointer[snapshot]
}

type recordKey struct{ network, container string }

// snapshot is an immutable view of the table.
type snapshot struct {
	// names maps network -> lowercase name -> addresses, sorted.
	names map[string]map[string][]netip.Addr
	// addrs maps an address to the record that owns it.
	addrs map[netip.Addr]*Record
	// networksOf maps a container to its networks.
	networksOf map[string][]string
	subnets    []netip.Prefix
	// subnetOf maps a network to its subnet.
	subnetOf map[string]netip.Prefix
}

// NewTable returns an empty table for domain ([DefaultDomain] when empty;
// "." for none).
func NewTable(domain string) *Table {
	if domain == "" {
		domain = DefaultDomain
	}
	t := &Table{
		domain:  strings.ToLower(strings.Trim(domain, ".")),
		records: map[recordKey]Record{},
		subnets: map[string]netip.Prefix{},
	}
	t.snapshot.Store(&snapshot{})
	return t
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
	t.publish()
}

// RemoveNetwork forgets network's subnet and all records on it.
func (t *Table) RemoveNetwork(network string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.subnets, network)
	for k := range t.records {
		if k.network == network {
			delete(t.records, k)
		}
	}
	t.publish()
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
	t.records[recordKey{r.Network, r.Container}] = r
	t.publish()
	return nil
}

// Remove removes the records of container on every network.
func (t *Table) Remove(container string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k := range t.records {
		if k.container == container {
			delete(t.records, k)
		}
	}
	t.publish()
}

// Records returns the records, sorted by network and container.
func (t *Table) Records() []Record {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]Record, 0, len(t.records))
	for _, r := range t.records {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b Record) int {
		return cmp.Or(cmp.Compare(a.Network, b.Network), cmp.Compare(a.Container, b.Container))
	})
	return out
}

// publish builds a new snapshot from the records; the caller holds t.mu.
func (t *Table) publish() {
	s := &snapshot{
		names:      map[string]map[string][]netip.Addr{},
		addrs:      map[netip.Addr]*Record{},
		networksOf: map[string][]string{},
		subnetOf:   map[string]netip.Prefix{},
	}
	for n, p := range t.subnets {
		s.subnets = append(s.subnets, p)
		s.subnetOf[n] = p
	}
	for _, r := range t.records {
		r := r
		s.addrs[r.Addr] = &r
		s.networksOf[r.Container] = append(s.networksOf[r.Container], r.Network)
		byName := s.names[r.Network]
		if byName == nil {
			byName = map[string][]netip.Addr{}
			s.names[r.Network] = byName
		}
		for _, n := range r.Names {
			n = t.local(strings.ToLower(strings.TrimSuffix(n, ".")))
			if !slices.Contains(byName[n], r.Addr) {
				byName[n] = append(byName[n], r.Addr)
			}
		}
	}
	for _, byName := range s.names {
		for _, addrs := range byName {
			slices.SortFunc(addrs, netip.Addr.Compare)
		}
	}
	for _, nets := range s.networksOf {
		slices.Sort(nets)
	}
	t.snapshot.Store(s)
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
	s        *snapshot
	networks []string
	client   *Record // the record owning the client's address, if any
}

// view returns the view of a client at addr asking the listener of network.
func (t *Table) view(network string, client netip.Addr) view {
	s := t.snapshot.Load()
	v := view{s: s, networks: []string{network}}
	if r, ok := s.addrs[client.Unmap()]; ok {
		v.client = r
		for _, n := range s.networksOf[r.Container] {
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
	var out []netip.Addr
	for _, n := range v.networks {
		out = append(out, v.s.names[n][name]...)
	}
	if len(v.networks) > 1 {
		slices.SortFunc(out, netip.Addr.Compare)
		out = slices.Compact(out)
	}
	return out
}

// reverse returns the record of addr if v can see it.
func (v view) reverse(addr netip.Addr) (*Record, bool) {
	r, ok := v.s.addrs[addr]
	if !ok || !slices.Contains(v.networks, r.Network) {
		return nil, false
	}
	return r, true
}

// ours reports whether addr is in one of our subnets.
func (v view) ours(addr netip.Addr) bool {
	return slices.ContainsFunc(v.s.subnets, func(p netip.Prefix) bool { return p.Contains(addr) })
}
