package ipam

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/stack-dev/stack/internal/errdefs"
)

// DefaultPool is the pool subnets are carved from when [Options.Pool] is not
// set. 10.89.0.0/16 is outside Docker's (172.17.0.0/16 and up, 192.168.0.0/16)
// and the usual home and cloud ranges, and every subnet picked from it is
// still checked against the host's routes.
func DefaultPool() netip.Prefix { return netip.MustParsePrefix("10.89.0.0/16") }

// DefaultSubnetBits is the prefix length of the subnets carved from the pool.
const DefaultSubnetBits = 24

// stateVersion is written in the state file; a file of another version is
// refused rather than misread. Version 1 also held the addresses.
const stateVersion = 2

// Options configures an [Allocator].
type Options struct {
	// Path is the state file. Optional: empty keeps the state in memory
	// only (tests).
	Path string
	// Pool is the prefix subnets are carved from. Optional: [DefaultPool].
	Pool netip.Prefix
	// SubnetBits is the prefix length of carved subnets. Optional:
	// [DefaultSubnetBits].
	SubnetBits int
}

// Config is what a network asks for. Zero fields are chosen by the
// allocator.
type Config struct {
	Subnet  netip.Prefix // optional
	Gateway netip.Addr   // optional; must be in Subnet
	IPRange netip.Prefix // optional; must be in Subnet
}

// Network is a network's allocation: its subnet and gateway and the
// addresses handed out on it.
//
// Only the subnets are written to the state file (when a network is added
// or removed). The addresses are not: whoever asks for them records who
// holds which with the rest of what it keeps of a container, and gives
// them back with [Allocator.Restore] when it starts. So handing out or
// freeing an address writes nothing, and costs the same with a thousand
// containers as with one.
type Network struct {
	Name    string       `json:"name"`
	Subnet  netip.Prefix `json:"subnet"`
	Gateway netip.Addr   `json:"gateway"`
	IPRange netip.Prefix `json:"ip_range"`
	// Addrs maps each allocated address to its owner (a container ID).
	Addrs map[netip.Addr]string `json:"-"`
	// Last is the address handed out last; the next dynamic allocation
	// starts after it.
	Last netip.Addr `json:"-"`
	// owners maps each owner to its address: Addrs the other way round.
	owners map[string]netip.Addr
}

func (n *Network) clone() Network {
	c := *n
	c.Addrs = maps.Clone(n.Addrs)
	if c.Addrs == nil {
		c.Addrs = map[netip.Addr]string{}
	}
	c.owners = nil
	return c
}

// Lookup returns the address owner holds on n.
func (n *Network) Lookup(owner string) (netip.Addr, bool) {
	if n.owners != nil {
		a, ok := n.owners[owner]
		return a, ok
	}
	for a, o := range n.Addrs {
		if o == owner {
			return a, true
		}
	}
	return netip.Addr{}, false
}

// hold records that owner holds a.
func (n *Network) hold(a netip.Addr, owner string) {
	if n.owners == nil {
		n.owners = map[string]netip.Addr{}
	}
	n.Addrs[a], n.owners[owner] = owner, a
}

// free forgets owner's address a.
func (n *Network) free(a netip.Addr, owner string) {
	delete(n.Addrs, a)
	delete(n.owners, owner)
}

type state struct {
	Version  int                 `json:"version"`
	Networks map[string]*Network `json:"networks"`
}

// Allocator hands out subnets and addresses. Create it with [New].
type Allocator struct {
	path string
	pool netip.Prefix
	bits int

	mu       sync.Mutex
	networks map[string]*Network
}

// New returns an Allocator with the state read from opts.Path, if the file
// exists.
func New(opts Options) (*Allocator, error) {
	a := &Allocator{path: opts.Path, pool: opts.Pool, bits: opts.SubnetBits, networks: map[string]*Network{}}
	if !a.pool.IsValid() {
		a.pool = DefaultPool()
	}
	if a.bits == 0 {
		a.bits = DefaultSubnetBits
	}
	if !a.pool.Addr().Is4() || a.pool.Masked() != a.pool || a.bits < a.pool.Bits() || a.bits > 30 {
		return nil, fmt.Errorf("ipam: pool %s with /%d subnets: %w", a.pool, a.bits, errdefs.ErrInvalidArgument)
	}
	if a.path == "" {
		return a, nil
	}
	b, err := os.ReadFile(a.path)
	if errors.Is(err, os.ErrNotExist) {
		return a, nil
	}
	if err != nil {
		return nil, fmt.Errorf("ipam: read state: %w", err)
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("ipam: parse state %s: %w: %w", a.path, err, errdefs.ErrFailedPrecondition)
	}
	if st.Version != stateVersion && st.Version != 1 {
		return nil, fmt.Errorf("ipam: state %s has version %d, want %d: %w", a.path, st.Version, stateVersion, errdefs.ErrFailedPrecondition)
	}
	for name, n := range st.Networks {
		n.Name = name
		n.Addrs = map[netip.Addr]string{}
		a.networks[name] = n
	}
	return a, nil
}

// AddNetwork allocates a subnet for network name, honouring cfg, and
// returns the allocation. Avoid lists prefixes the subnet must not overlap
// when the allocator picks it (the host's routes and addresses; default
// routes must be left out by the caller). AddNetwork is idempotent: for a
// name it already knows it returns the existing allocation, provided cfg
// does not contradict it.
func (a *Allocator) AddNetwork(name string, cfg Config, avoid []netip.Prefix) (Network, error) {
	if name == "" {
		return Network{}, fmt.Errorf("ipam: network name is empty: %w", errdefs.ErrInvalidArgument)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if n, ok := a.networks[name]; ok {
		if err := consistent(n, cfg); err != nil {
			return Network{}, fmt.Errorf("ipam: network %q: %w", name, err)
		}
		return n.clone(), nil
	}
	n, err := a.plan(name, cfg, avoid)
	if err != nil {
		return Network{}, fmt.Errorf("ipam: network %q: %w", name, err)
	}
	a.networks[name] = n
	if err := a.save(); err != nil {
		delete(a.networks, name)
		return Network{}, err
	}
	return n.clone(), nil
}

// consistent reports whether cfg, asked again for an existing network,
// agrees with its allocation.
func consistent(n *Network, cfg Config) error {
	if cfg.Subnet.IsValid() && cfg.Subnet != n.Subnet {
		return fmt.Errorf("subnet %s asked, %s allocated: %w", cfg.Subnet, n.Subnet, errdefs.ErrFailedPrecondition)
	}
	if cfg.Gateway.IsValid() && cfg.Gateway != n.Gateway {
		return fmt.Errorf("gateway %s asked, %s allocated: %w", cfg.Gateway, n.Gateway, errdefs.ErrFailedPrecondition)
	}
	if cfg.IPRange.IsValid() && cfg.IPRange != n.IPRange {
		return fmt.Errorf("ip_range %s asked, %s allocated: %w", cfg.IPRange, n.IPRange, errdefs.ErrFailedPrecondition)
	}
	return nil
}

func (a *Allocator) plan(name string, cfg Config, avoid []netip.Prefix) (*Network, error) {
	n := &Network{Name: name, Subnet: cfg.Subnet, Gateway: cfg.Gateway, IPRange: cfg.IPRange, Addrs: map[netip.Addr]string{}}
	if n.Subnet.IsValid() {
		if !n.Subnet.Addr().Is4() {
			return nil, fmt.Errorf("subnet %s: only IPv4 is supported: %w", n.Subnet, errdefs.ErrNotImplemented)
		}
		if n.Subnet.Masked() != n.Subnet {
			return nil, fmt.Errorf("subnet %s has host bits set (did you mean %s?): %w", n.Subnet, n.Subnet.Masked(), errdefs.ErrInvalidArgument)
		}
		if n.Subnet.Bits() > 30 {
			return nil, fmt.Errorf("subnet %s is too small, at most /30: %w", n.Subnet, errdefs.ErrInvalidArgument)
		}
		if other := a.overlapping(n.Subnet); other != nil {
			return nil, fmt.Errorf("subnet %s overlaps %s of network %q: %w", n.Subnet, other.Subnet, other.Name, errdefs.ErrAlreadyExists)
		}
	} else {
		if cfg.Gateway.IsValid() || cfg.IPRange.IsValid() {
			return nil, fmt.Errorf("gateway or ip_range without subnet: %w", errdefs.ErrInvalidArgument)
		}
		s, err := a.pick(avoid)
		if err != nil {
			return nil, err
		}
		n.Subnet = s
	}
	first, last := hostRange(n.Subnet)
	if n.Gateway.IsValid() {
		if !n.Subnet.Contains(n.Gateway) || n.Gateway.Less(first) || last.Less(n.Gateway) {
			return nil, fmt.Errorf("gateway %s is not a host address of %s: %w", n.Gateway, n.Subnet, errdefs.ErrInvalidArgument)
		}
	} else {
		n.Gateway = first
	}
	if n.IPRange.IsValid() {
		if n.IPRange.Masked() != n.IPRange || !n.Subnet.Contains(n.IPRange.Addr()) || n.IPRange.Bits() < n.Subnet.Bits() {
			return nil, fmt.Errorf("ip_range %s is not a prefix inside %s: %w", n.IPRange, n.Subnet, errdefs.ErrInvalidArgument)
		}
	}
	return n, nil
}

// overlapping returns a network of ours whose subnet overlaps p.
func (a *Allocator) overlapping(p netip.Prefix) *Network {
	for _, name := range slices.Sorted(maps.Keys(a.networks)) {
		if n := a.networks[name]; n.Subnet.Overlaps(p) {
			return n
		}
	}
	return nil
}

// pick returns the first subnet of the pool that overlaps neither a network
// of ours nor a prefix of avoid.
func (a *Allocator) pick(avoid []netip.Prefix) (netip.Prefix, error) {
	step := uint32(1) << (32 - a.bits)
	count := uint32(1) << (a.bits - a.pool.Bits())
	base := u32(a.pool.Addr())
	for i := uint32(0); i < count; i++ {
		p := netip.PrefixFrom(addr(base+i*step), a.bits)
		if a.overlapping(p) != nil || slices.ContainsFunc(avoid, p.Overlaps) {
			continue
		}
		return p, nil
	}
	return netip.Prefix{}, fmt.Errorf("no free /%d left in pool %s: %w", a.bits, a.pool, errdefs.ErrUnavailable)
}

// RemoveNetwork forgets network name. It fails with
// [errdefs.ErrFailedPrecondition] while addresses are still allocated on
// it, and succeeds for a name it does not know.
func (a *Allocator) RemoveNetwork(name string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	n, ok := a.networks[name]
	if !ok {
		return nil
	}
	if len(n.Addrs) > 0 {
		return fmt.Errorf("ipam: network %q still has %d addresses allocated: %w", name, len(n.Addrs), errdefs.ErrFailedPrecondition)
	}
	delete(a.networks, name)
	if err := a.save(); err != nil {
		a.networks[name] = n
		return err
	}
	return nil
}

// Network returns a copy of the allocation of network name.
func (a *Allocator) Network(name string) (Network, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	n, ok := a.networks[name]
	if !ok {
		return Network{}, false
	}
	return n.clone(), true
}

// Networks returns copies of all allocations, sorted by name.
func (a *Allocator) Networks() []Network {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]Network, 0, len(a.networks))
	for _, name := range slices.Sorted(maps.Keys(a.networks)) {
		out = append(out, a.networks[name].clone())
	}
	return out
}

// Allocate gives owner an address on network: want when it is valid, else
// the next free one. It is idempotent: an owner that already holds an
// address gets it again (and a conflicting want is an error).
func (a *Allocator) Allocate(network, owner string, want netip.Addr) (netip.Addr, error) {
	if owner == "" {
		return netip.Addr{}, fmt.Errorf("ipam: owner is empty: %w", errdefs.ErrInvalidArgument)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	n, ok := a.networks[network]
	if !ok {
		return netip.Addr{}, fmt.Errorf("ipam: network %q: %w", network, errdefs.ErrNotFound)
	}
	if have, ok := n.Lookup(owner); ok {
		if want.IsValid() && want != have {
			return netip.Addr{}, fmt.Errorf("ipam: network %q: %s holds %s, asked for %s: %w", network, owner, have, want, errdefs.ErrFailedPrecondition)
		}
		return have, nil
	}
	got, err := n.next(want)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("ipam: network %q: %w", network, err)
	}
	n.hold(got, owner)
	if !want.IsValid() {
		n.Last = got
	}
	return got, nil
}

// Restore gives owner back the address it held, as the caller recorded
// it, when the allocator starts: see [Network]. It fails when another
// owner holds the address, or owner holds another.
func (a *Allocator) Restore(network, owner string, addr netip.Addr) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	n, ok := a.networks[network]
	if !ok {
		return fmt.Errorf("ipam: network %q: %w", network, errdefs.ErrNotFound)
	}
	if have, ok := n.Lookup(owner); ok {
		if have != addr {
			return fmt.Errorf("ipam: network %q: %s holds %s, restoring %s: %w", network, owner, have, addr, errdefs.ErrFailedPrecondition)
		}
		return nil
	}
	if o := n.Addrs[addr]; o != "" {
		return fmt.Errorf("ipam: network %q: address %s is %s's, restoring it for %s: %w", network, addr, o, owner, errdefs.ErrAlreadyExists)
	}
	n.hold(addr, owner)
	if !n.Last.IsValid() || n.Last.Less(addr) {
		n.Last = addr
	}
	return nil
}

// next returns want if it is free and usable, or the next free dynamic
// address.
func (n *Network) next(want netip.Addr) (netip.Addr, error) {
	first, last := hostRange(n.Subnet)
	if want.IsValid() {
		switch {
		case !want.Is4() || !n.Subnet.Contains(want) || want.Less(first) || last.Less(want):
			return netip.Addr{}, fmt.Errorf("address %s is not a host address of %s: %w", want, n.Subnet, errdefs.ErrInvalidArgument)
		case want == n.Gateway:
			return netip.Addr{}, fmt.Errorf("address %s is the gateway: %w", want, errdefs.ErrAlreadyExists)
		case n.Addrs[want] != "":
			return netip.Addr{}, fmt.Errorf("address %s is taken by %s: %w", want, n.Addrs[want], errdefs.ErrAlreadyExists)
		}
		return want, nil
	}
	if n.IPRange.IsValid() {
		rf, rl := n.IPRange.Masked().Addr(), broadcast(n.IPRange)
		if first.Less(rf) {
			first = rf
		}
		if rl.Less(last) {
			last = rl
		}
	}
	lo, hi := u32(first), u32(last)
	start := lo
	if n.Last.IsValid() {
		if l := u32(n.Last); l >= lo && l < hi {
			start = l + 1
		}
	}
	size := hi - lo + 1
	for i := uint32(0); i < size; i++ {
		c := addr(lo + (start-lo+i)%size)
		if c != n.Gateway && n.Addrs[c] == "" {
			return c, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("no free address left in %s: %w", netip.PrefixFrom(first, n.Subnet.Bits()).Masked(), errdefs.ErrUnavailable)
}

// Release frees the address owner holds on network. Releasing what is not
// held is not an error.
func (a *Allocator) Release(network, owner string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	n, ok := a.networks[network]
	if !ok {
		return nil
	}
	if have, ok := n.Lookup(owner); ok {
		n.free(have, owner)
	}
	return nil
}

// save writes the state file; the caller holds a.mu.
func (a *Allocator) save() error {
	if a.path == "" {
		return nil
	}
	b, err := json.MarshalIndent(state{Version: stateVersion, Networks: a.networks}, "", "  ")
	if err != nil {
		return fmt.Errorf("ipam: encode state: %w", err)
	}
	if err := writeFileAtomic(a.path, b); err != nil {
		return fmt.Errorf("ipam: write state: %w", err)
	}
	return nil
}

// writeFileAtomic replaces path with b so that a reader, or the file after
// a crash, sees either the old or the new content: temporary file in the
// same directory, fsync, rename(2), fsync of the directory.
func writeFileAtomic(path string, b []byte) (retErr error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer func() {
		if retErr != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err := f.Write(b); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// hostRange returns the first and last host addresses of p (excluding the
// network and broadcast addresses; a /31 or /32 is not accepted upstream).
func hostRange(p netip.Prefix) (first, last netip.Addr) {
	return addr(u32(p.Masked().Addr()) + 1), addr(u32(broadcast(p)) - 1)
}

func broadcast(p netip.Prefix) netip.Addr {
	return addr(u32(p.Masked().Addr()) | (1<<(32-p.Bits()) - 1))
}

func u32(a netip.Addr) uint32 {
	b := a.As4()
	return binary.BigEndian.Uint32(b[:])
}

func addr(v uint32) netip.Addr {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], v)
	return netip.AddrFrom4(b)
}
