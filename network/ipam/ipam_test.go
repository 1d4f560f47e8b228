package ipam_test

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stack-dev/stack/internal/errdefs"
	"github.com/stack-dev/stack/network/ipam"
)

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }
func ip(s string) netip.Addr    { return netip.MustParseAddr(s) }

func newAlloc(t *testing.T, opts ipam.Options) *ipam.Allocator {
	t.Helper()
	a, err := ipam.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestAddNetwork(t *testing.T) {
	tests := []struct {
		name        string
		existing    map[string]ipam.Config // added first, in sorted order
		cfg         ipam.Config
		avoid       []string
		wantSubnet  string
		wantGateway string
		wantErr     error
	}{
		{name: "first of pool", wantSubnet: "10.89.0.0/24", wantGateway: "10.89.0.1"},
		{name: "skips host route", avoid: []string{"10.89.0.0/24", "10.89.1.128/25"}, wantSubnet: "10.89.2.0/24", wantGateway: "10.89.2.1"},
		{name: "skips wider host route", avoid: []string{"10.89.0.0/23"}, wantSubnet: "10.89.2.0/24", wantGateway: "10.89.2.1"},
		{name: "host address inside", avoid: []string{"10.89.0.7/32"}, wantSubnet: "10.89.1.0/24", wantGateway: "10.89.1.1"},
		{name: "skips our networks", existing: map[string]ipam.Config{"a": {}, "b": {Subnet: pfx("10.89.1.0/24")}}, wantSubnet: "10.89.2.0/24", wantGateway: "10.89.2.1"},
		{name: "configured subnet", cfg: ipam.Config{Subnet: pfx("172.30.5.0/24")}, wantSubnet: "172.30.5.0/24", wantGateway: "172.30.5.1"},
		{name: "configured subnet ignores avoid", cfg: ipam.Config{Subnet: pfx("192.0.2.0/24"), Gateway: ip("192.0.2.254")}, avoid: []string{"192.0.2.0/24"}, wantSubnet: "192.0.2.0/24", wantGateway: "192.0.2.254"},
		{name: "configured subnet overlaps ours", existing: map[string]ipam.Config{"a": {Subnet: pfx("172.30.0.0/16")}}, cfg: ipam.Config{Subnet: pfx("172.30.5.0/24")}, wantErr: errdefs.ErrAlreadyExists},
		{name: "host bits set", cfg: ipam.Config{Subnet: pfx("172.30.5.1/24")}, wantErr: errdefs.ErrInvalidArgument},
		{name: "gateway outside", cfg: ipam.Config{Subnet: pfx("172.30.5.0/24"), Gateway: ip("172.30.6.1")}, wantErr: errdefs.ErrInvalidArgument},
		{name: "gateway is broadcast", cfg: ipam.Config{Subnet: pfx("172.30.5.0/24"), Gateway: ip("172.30.5.255")}, wantErr: errdefs.ErrInvalidArgument},
		{name: "ip_range outside", cfg: ipam.Config{Subnet: pfx("172.30.5.0/24"), IPRange: pfx("172.30.6.0/25")}, wantErr: errdefs.ErrInvalidArgument},
		{name: "gateway without subnet", cfg: ipam.Config{Gateway: ip("10.1.1.1")}, wantErr: errdefs.ErrInvalidArgument},
		{name: "ipv6", cfg: ipam.Config{Subnet: pfx("fd00::/64")}, wantErr: errdefs.ErrNotImplemented},
		{name: "pool exhausted", avoid: []string{"10.89.0.0/16"}, wantErr: errdefs.ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAlloc(t, ipam.Options{})
			for _, name := range []string{"a", "b"} {
				if cfg, ok := tt.existing[name]; ok {
					if _, err := a.AddNetwork(name, cfg, nil); err != nil {
						t.Fatal(err)
					}
				}
			}
			var avoid []netip.Prefix
			for _, s := range tt.avoid {
				avoid = append(avoid, pfx(s))
			}
			n, err := a.AddNetwork("n", tt.cfg, avoid)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				if _, ok := a.Network("n"); ok {
					t.Fatal("network recorded after an error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if n.Subnet.String() != tt.wantSubnet || n.Gateway.String() != tt.wantGateway {
				t.Fatalf("got %s gw %s, want %s gw %s", n.Subnet, n.Gateway, tt.wantSubnet, tt.wantGateway)
			}
		})
	}
}

func TestAddNetworkIdempotent(t *testing.T) {
	a := newAlloc(t, ipam.Options{})
	n1, err := a.AddNetwork("n", ipam.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	n2, err := a.AddNetwork("n", ipam.Config{}, []netip.Prefix{n1.Subnet})
	if err != nil || n2.Subnet != n1.Subnet {
		t.Fatalf("second AddNetwork = %v, %v; want %v", n2.Subnet, err, n1.Subnet)
	}
	if _, err := a.AddNetwork("n", ipam.Config{Subnet: pfx("172.31.0.0/24")}, nil); !errors.Is(err, errdefs.ErrFailedPrecondition) {
		t.Fatalf("contradicting AddNetwork err = %v", err)
	}
}

func TestAllocate(t *testing.T) {
	a := newAlloc(t, ipam.Options{})
	if _, err := a.AddNetwork("n", ipam.Config{Subnet: pfx("10.1.0.0/29")}, nil); err != nil {
		t.Fatal(err)
	}
	// /29: .1 gateway, .2-.6 usable, .7 broadcast.
	steps := []struct {
		owner, want, got string
		err              error
	}{
		{owner: "c1", got: "10.1.0.2"},
		{owner: "c2", got: "10.1.0.3"},
		{owner: "c1", got: "10.1.0.2"},                                   // idempotent
		{owner: "c3", want: "10.1.0.3", err: errdefs.ErrAlreadyExists},   // taken
		{owner: "c3", want: "10.1.0.1", err: errdefs.ErrAlreadyExists},   // gateway
		{owner: "c3", want: "10.1.0.7", err: errdefs.ErrInvalidArgument}, // broadcast
		{owner: "c3", want: "10.1.1.2", err: errdefs.ErrInvalidArgument}, // outside
		{owner: "c3", want: "10.1.0.6", got: "10.1.0.6"},
		{owner: "c4", got: "10.1.0.4"},
		{owner: "c5", got: "10.1.0.5"},
		{owner: "c6", err: errdefs.ErrUnavailable},
		{owner: "c1", want: "10.1.0.5", err: errdefs.ErrFailedPrecondition}, // holds another
		{owner: "", err: errdefs.ErrInvalidArgument},
	}
	for i, s := range steps {
		var want netip.Addr
		if s.want != "" {
			want = ip(s.want)
		}
		got, err := a.Allocate("n", s.owner, want)
		if s.err != nil {
			if !errors.Is(err, s.err) {
				t.Fatalf("step %d (%s want %q): err = %v, want %v", i, s.owner, s.want, err, s.err)
			}
			continue
		}
		if err != nil || got.String() != s.got {
			t.Fatalf("step %d (%s want %q): %v, %v; want %s", i, s.owner, s.want, got, err, s.got)
		}
	}
	if _, err := a.Allocate("missing", "c1", netip.Addr{}); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("unknown network: err = %v", err)
	}
}

func TestReleaseDoesNotReuseAtOnce(t *testing.T) {
	a := newAlloc(t, ipam.Options{})
	if _, err := a.AddNetwork("n", ipam.Config{Subnet: pfx("10.1.0.0/24")}, nil); err != nil {
		t.Fatal(err)
	}
	first, _ := a.Allocate("n", "c1", netip.Addr{})
	if err := a.Release("n", "c1"); err != nil {
		t.Fatal(err)
	}
	if err := a.Release("n", "c1"); err != nil {
		t.Fatalf("second release: %v", err)
	}
	second, _ := a.Allocate("n", "c2", netip.Addr{})
	if second == first {
		t.Fatalf("released %s handed out again at once", first)
	}
	// Released addresses are free for static requests.
	if got, err := a.Allocate("n", "c3", first); err != nil || got != first {
		t.Fatalf("static request of released address: %v, %v", got, err)
	}
}

func TestIPRange(t *testing.T) {
	a := newAlloc(t, ipam.Options{})
	if _, err := a.AddNetwork("n", ipam.Config{Subnet: pfx("10.2.0.0/24"), IPRange: pfx("10.2.0.128/30")}, nil); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range []string{"a", "b", "c", "d"} {
		addr, err := a.Allocate("n", o, netip.Addr{})
		if err != nil {
			t.Fatalf("%s: %v", o, err)
		}
		got = append(got, addr.String())
	}
	want := []string{"10.2.0.128", "10.2.0.129", "10.2.0.130", "10.2.0.131"}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	if _, err := a.Allocate("n", "e", netip.Addr{}); !errors.Is(err, errdefs.ErrUnavailable) {
		t.Fatalf("range exhausted: err = %v", err)
	}
	// A static address outside the range but inside the subnet is fine.
	if _, err := a.Allocate("n", "e", ip("10.2.0.10")); err != nil {
		t.Fatal(err)
	}
}

func TestRemoveNetwork(t *testing.T) {
	a := newAlloc(t, ipam.Options{})
	n, _ := a.AddNetwork("n", ipam.Config{}, nil)
	if _, err := a.Allocate("n", "c", netip.Addr{}); err != nil {
		t.Fatal(err)
	}
	if err := a.RemoveNetwork("n"); !errors.Is(err, errdefs.ErrFailedPrecondition) {
		t.Fatalf("remove with addresses: %v", err)
	}
	a.Release("n", "c")
	if err := a.RemoveNetwork("n"); err != nil {
		t.Fatal(err)
	}
	if err := a.RemoveNetwork("n"); err != nil {
		t.Fatalf("remove twice: %v", err)
	}
	// The subnet is free again.
	m, _ := a.AddNetwork("m", ipam.Config{}, nil)
	if m.Subnet != n.Subnet {
		t.Fatalf("subnet after remove = %s, want %s", m.Subnet, n.Subnet)
	}
}

// TestPersistence: the subnets are written and read back; the addresses
// are not written (their holders keep them) and come back with Restore,
// after which allocation goes on past them.
func TestPersistence(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "ipam.json")
	a := newAlloc(t, ipam.Options{Path: path})
	n, err := a.AddNetwork("web", ipam.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	c1, _ := a.Allocate("web", "c1", netip.Addr{})
	c2, _ := a.Allocate("web", "c2", netip.Addr{})
	a.Release("web", "c1")
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Errorf("allocating and releasing rewrote the state file:\n%s\nthen\n%s", before, after)
	}

	b := newAlloc(t, ipam.Options{Path: path})
	got, ok := b.Network("web")
	if !ok || got.Subnet != n.Subnet || got.Gateway != n.Gateway {
		t.Fatalf("reloaded network = %+v, %v", got, ok)
	}
	if len(got.Addrs) != 0 {
		t.Fatalf("reloaded addresses %v: they are their holders' to restore", got.Addrs)
	}
	if err := b.Restore("web", "c2", c2); err != nil {
		t.Fatal(err)
	}
	if err := b.Restore("web", "c9", c2); !errors.Is(err, errdefs.ErrAlreadyExists) {
		t.Errorf("restoring c2's address for another owner: %v", err)
	}
	if err := b.Restore("web", "c2", c1); !errors.Is(err, errdefs.ErrFailedPrecondition) {
		t.Errorf("restoring a second address for c2: %v", err)
	}
	got, _ = b.Network("web")
	if have, ok := got.Lookup("c2"); !ok || have != c2 {
		t.Fatalf("restored c2 = %v, %v; want %v", have, ok, c2)
	}
	// Allocation goes on after the highest restored address.
	c3, _ := b.Allocate("web", "c3", netip.Addr{})
	if c3 == c1 || c3 == c2 {
		t.Fatalf("c3 got %s after restart; c1 had %s, c2 has %s", c3, c1, c2)
	}
	if err := b.RemoveNetwork("web"); !errors.Is(err, errdefs.ErrFailedPrecondition) {
		t.Errorf("removing a network with restored addresses: %v", err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("state dir holds %d entries, want only the state file", len(entries))
	}
}

// TestReadsVersion1: a state file of the version that kept addresses is
// read for its subnets.
func TestReadsVersion1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ipam.json")
	os.WriteFile(path, []byte(`{"version":1,"networks":{"web":{"name":"web","subnet":"10.89.3.0/24","gateway":"10.89.3.1","addrs":{"10.89.3.2":"c1"},"last":"10.89.3.2"}}}`), 0o600)
	a, err := ipam.New(ipam.Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	n, ok := a.Network("web")
	if !ok || n.Subnet.String() != "10.89.3.0/24" || len(n.Addrs) != 0 {
		t.Fatalf("network = %+v, %v", n, ok)
	}
}

func TestCorruptState(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ipam.json")
	os.WriteFile(path, []byte("{"), 0o600)
	if _, err := ipam.New(ipam.Options{Path: path}); !errors.Is(err, errdefs.ErrFailedPrecondition) {
		t.Fatalf("corrupt state: err = %v", err)
	}
	os.WriteFile(path, []byte(`{"version":99}`), 0o600)
	if _, err := ipam.New(ipam.Options{Path: path}); !errors.Is(err, errdefs.ErrFailedPrecondition) {
		t.Fatalf("future version: err = %v", err)
	}
}

func TestBadOptions(t *testing.T) {
	for _, o := range []ipam.Options{
		{Pool: pfx("10.0.0.1/16")},
		{Pool: pfx("10.0.0.0/16"), SubnetBits: 8},
		{Pool: pfx("fd00::/48")},
	} {
		if _, err := ipam.New(o); !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("%+v: err = %v", o, err)
		}
	}
}

func TestConcurrentAllocateNeverShares(t *testing.T) {
	a := newAlloc(t, ipam.Options{Path: filepath.Join(t.TempDir(), "ipam.json")})
	if _, err := a.AddNetwork("n", ipam.Config{Subnet: pfx("10.3.0.0/26")}, nil); err != nil {
		t.Fatal(err)
	}
	const owners = 61 // .2-.62 usable
	var wg sync.WaitGroup
	got := make([]netip.Addr, owners)
	for i := range owners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			addr, err := a.Allocate("n", string(rune('A'+i)), netip.Addr{})
			if err != nil {
				t.Error(err)
			}
			got[i] = addr
		}()
	}
	wg.Wait()
	seen := map[netip.Addr]bool{}
	for _, addr := range got {
		if seen[addr] {
			t.Fatalf("address %s handed out twice", addr)
		}
		seen[addr] = true
	}
}

func FuzzAllocate(f *testing.F) {
	f.Add(uint8(28), []byte{0, 1, 2, 0, 3})
	f.Fuzz(func(t *testing.T, bits uint8, ops []byte) {
		if bits < 16 || bits > 30 {
			return
		}
		a := newAlloc(t, ipam.Options{})
		n, err := a.AddNetwork("n", ipam.Config{Subnet: netip.PrefixFrom(ip("10.4.0.0"), int(bits)).Masked()}, nil)
		if err != nil {
			t.Fatal(err)
		}
		held := map[string]netip.Addr{}
		for i, op := range ops {
			owner := string(rune('a' + op%8))
			if op&0x80 != 0 {
				a.Release("n", owner)
				delete(held, owner)
				continue
			}
			addr, err := a.Allocate("n", owner, netip.Addr{})
			if errors.Is(err, errdefs.ErrUnavailable) {
				continue
			}
			if err != nil {
				t.Fatalf("op %d: %v", i, err)
			}
			if addr == n.Gateway || !n.Subnet.Contains(addr) {
				t.Fatalf("bad address %s", addr)
			}
			for o, h := range held {
				if h == addr && o != owner {
					t.Fatalf("%s shared by %s and %s", addr, o, owner)
				}
			}
			held[owner] = addr
		}
	})
}
