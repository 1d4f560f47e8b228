package nat

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"

	"github.com/stack-dev/stack/internal/errdefs"
)

// NFTablesConfig configures [NewNFTables].
type NFTablesConfig struct {
	// Table is the name of our table, in the ip family. Required.
	Table string
	// NetNS is an open file descriptor of the network namespace to work
	// in. Optional: 0 is the namespace of the calling thread.
	NetNS int
}

// NFTables is the nftables implementation of [Rules]. It keeps no state of
// its own: everything it knows it reads back from the kernel, where each
// rule carries a comment naming its network ("stack net=NAME") or the owner
// of its port ("stack port=OWNER").
//
// The table (shown as nft(8) would list it, for a network "web" on bridge
// stk-0a1b2c3d4e with 10.89.0.0/24, and one port):
//
//	table ip stack {
//	  chain prerouting { type nat hook prerouting priority dstnat
//	    fib daddr type local jump ports }
//	  chain output { type nat hook output priority dstnat
//	    fib daddr type local jump ports }
//	  chain ports {
//	    tcp dport 8080 dnat to 10.89.0.2:80 comment "stack port=c1"
//	    ip daddr 127.0.0.1 udp dport 5353 dnat to 10.89.0.2:53 comment "stack port=c1" }
//	  chain postrouting { type nat hook postrouting priority srcnat
//	    ip saddr 10.89.0.0/24 oifname != "stk-0a1b2c3d4e" masquerade comment "stack net=web"
//	    oifname "stk-0a1b2c3d4e" ct status dnat fib saddr type local masquerade comment "stack net=web"
//	    oifname "stk-0a1b2c3d4e" ip saddr 10.89.0.0/24 ct status dnat masquerade comment "stack net=web" }
//	  chain forward { type filter hook forward priority filter
//	    ct status dnat accept
//	    iifname "stk-0a1b2c3d4e" oifname != "stk-0a1b2c3d4e" oifname "stk-*" drop comment "stack net=web" }
//	}
//
// The second postrouting rule gives connections from the host itself to a
// published port (curl 127.0.0.1:8080) the gateway as their source, so the
// container's reply comes back through the host and is un-NATed; the third
// does the same for a container reaching a published port of its own
// network through the host (hairpin). An internal network gets, instead of
// all that, two forward rules at the head of the forward chain dropping
// everything that would enter or leave its bridge, published ports
// included.
//
// The table is removed with the last network. Accept verdicts here do not
// override a drop in another table (nft(8): a packet must be accepted by
// every base chain on a hook), so a host firewall that drops forwarded
// packets still has to allow our bridges.
type NFTables struct {
	mu    sync.Mutex
	conn  *nftables.Conn
	table *nftables.Table
}

var _ Rules = (*NFTables)(nil)

// Chain names.
const (
	chainPrerouting  = "prerouting"
	chainOutput      = "output"
	chainPorts       = "ports"
	chainPostrouting = "postrouting"
	chainForward     = "forward"
)

const (
	tagNet  = "stack net="
	tagPort = "stack port="
	// bridgePrefix is the name prefix of our bridges; isolation drops
	// forwarding from one of them to any other.
	bridgePrefix = "stk-"
)

// NewNFTables returns Rules that keep their rules in table cfg.Table.
func NewNFTables(cfg NFTablesConfig) (*NFTables, error) {
	if cfg.Table == "" {
		return nil, fmt.Errorf("nat: table name is required: %w", errdefs.ErrInvalidArgument)
	}
	opts := []nftables.ConnOption{nftables.AsLasting()}
	if cfg.NetNS != 0 {
		opts = append(opts, nftables.WithNetNSFd(cfg.NetNS))
	}
	conn, err := nftables.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("nat: open nftables: %w", err)
	}
	return &NFTables{conn: conn, table: &nftables.Table{Name: cfg.Table, Family: nftables.TableFamilyIPv4}}, nil
}

// Close releases the netlink connection. It leaves the rules in place.
func (n *NFTables) Close() error { return n.conn.CloseLasting() }

func (n *NFTables) chain(name string) *nftables.Chain {
	return &nftables.Chain{Name: name, Table: n.table}
}

// exists reports whether our table is there.
func (n *NFTables) exists() (bool, error) {
	_, err := n.conn.ListTableOfFamily(n.table.Name, n.table.Family)
	if err == nil {
		return true, nil
	}
	if errors.Is(err, unix.ENOENT) {
		return false, nil
	}
	return false, fmt.Errorf("nat: list table %s: %w", n.table.Name, err)
}

// ensure queues the creation of the table, its chains and its fixed rules
// when the table is not there, and reports whether it did.
func (n *NFTables) ensure() (bool, error) {
	ok, err := n.exists()
	if err != nil || ok {
		return false, err
	}
	c := n.conn
	c.AddTable(n.table)
	accept := nftables.ChainPolicyAccept
	pre := c.AddChain(&nftables.Chain{Name: chainPrerouting, Table: n.table, Type: nftables.ChainTypeNAT, Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityNATDest})
	out := c.AddChain(&nftables.Chain{Name: chainOutput, Table: n.table, Type: nftables.ChainTypeNAT, Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityNATDest})
	c.AddChain(&nftables.Chain{Name: chainPorts, Table: n.table})
	c.AddChain(&nftables.Chain{Name: chainPostrouting, Table: n.table, Type: nftables.ChainTypeNAT, Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityNATSource})
	fwd := c.AddChain(&nftables.Chain{Name: chainForward, Table: n.table, Type: nftables.ChainTypeFilter, Hooknum: nftables.ChainHookForward, Priority: nftables.ChainPriorityFilter, Policy: &accept})
	for _, ch := range []*nftables.Chain{pre, out} {
		c.AddRule(&nftables.Rule{Table: n.table, Chain: ch, Exprs: concat(
			fibLocal(true),
			[]expr.Any{&expr.Verdict{Kind: expr.VerdictJump, Chain: chainPorts}},
		)})
	}
	c.AddRule(&nftables.Rule{Table: n.table, Chain: fwd, Exprs: concat(ctDNAT(), accepted())})
	return true, nil
}

// AddNetwork implements [Rules].
func (n *NFTables) AddNetwork(nw Network) error {
	if nw.Name == "" || nw.Bridge == "" || !nw.Subnet.Addr().Is4() {
		return fmt.Errorf("nat: network %+v: %w", nw, errdefs.ErrInvalidArgument)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if created, err := n.ensure(); err != nil {
		return err
	} else if !created {
		if err := n.delTagged(tagNet+nw.Name, chainPostrouting, chainForward); err != nil {
			return err
		}
	}
	c := n.conn
	tag := comment(tagNet + nw.Name)
	post, fwd := n.chain(chainPostrouting), n.chain(chainForward)
	if nw.Internal {
		// Inserted at the head, before "ct status dnat accept": an
		// internal network does not reach published ports either.
		c.InsertRule(&nftables.Rule{Table: n.table, Chain: fwd, UserData: tag, Exprs: concat(ifname(unix.NFT_META_IIFNAME, expr.CmpOpEq, nw.Bridge), ifname(unix.NFT_META_OIFNAME, expr.CmpOpNeq, nw.Bridge), dropped())})
		c.InsertRule(&nftables.Rule{Table: n.table, Chain: fwd, UserData: tag, Exprs: concat(ifname(unix.NFT_META_OIFNAME, expr.CmpOpEq, nw.Bridge), ifname(unix.NFT_META_IIFNAME, expr.CmpOpNeq, nw.Bridge), dropped())})
	} else {
		c.AddRule(&nftables.Rule{Table: n.table, Chain: post, UserData: tag, Exprs: concat(saddrIn(nw.Subnet), ifname(unix.NFT_META_OIFNAME, expr.CmpOpNeq, nw.Bridge), masq())})
		c.AddRule(&nftables.Rule{Table: n.table, Chain: post, UserData: tag, Exprs: concat(ifname(unix.NFT_META_OIFNAME, expr.CmpOpEq, nw.Bridge), ctDNAT(), fibLocal(false), masq())})
		c.AddRule(&nftables.Rule{Table: n.table, Chain: post, UserData: tag, Exprs: concat(ifname(unix.NFT_META_OIFNAME, expr.CmpOpEq, nw.Bridge), saddrIn(nw.Subnet), ctDNAT(), masq())})
		c.AddRule(&nftables.Rule{Table: n.table, Chain: fwd, UserData: tag, Exprs: concat(
			ifname(unix.NFT_META_IIFNAME, expr.CmpOpEq, nw.Bridge),
			ifname(unix.NFT_META_OIFNAME, expr.CmpOpNeq, nw.Bridge),
			ifnamePrefix(unix.NFT_META_OIFNAME, bridgePrefix),
			dropped(),
		)})
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nat: add network %q: %w", nw.Name, err)
	}
	return nil
}

// RemoveNetwork implements [Rules].
func (n *NFTables) RemoveNetwork(name string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	ok, err := n.exists()
	if err != nil || !ok {
		return err
	}
	if err := n.delTagged(tagNet+name, chainPostrouting, chainForward); err != nil {
		return err
	}
	if err := n.conn.Flush(); err != nil {
		return fmt.Errorf("nat: remove network %q: %w", name, err)
	}
	return n.dropIfEmpty()
}

// dropIfEmpty removes the table when no network and no port is left.
func (n *NFTables) dropIfEmpty() error {
	inv, err := n.inventory()
	if err != nil {
		return err
	}
	if len(inv.Networks) > 0 || len(inv.PortOwners) > 0 {
		return nil
	}
	n.conn.DelTable(n.table)
	if err := n.conn.Flush(); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("nat: remove table %s: %w", n.table.Name, err)
	}
	return nil
}

// AddPorts implements [Rules].
func (n *NFTables) AddPorts(owner string, ports []Port) error {
	for _, p := range ports {
		if (p.Protocol != "tcp" && p.Protocol != "udp") || p.HostPort == 0 || p.ContainerPort == 0 || !p.ContainerIP.Is4() || (p.HostIP.IsValid() && !p.HostIP.Is4()) {
			return fmt.Errorf("nat: port %s: %w", p, errdefs.ErrInvalidArgument)
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if created, err := n.ensure(); err != nil {
		return err
	} else if !created {
		if err := n.delTagged(tagPort+owner, chainPorts); err != nil {
			return err
		}
	}
	tag := comment(tagPort + owner)
	for _, p := range ports {
		n.conn.AddRule(&nftables.Rule{Table: n.table, Chain: n.chain(chainPorts), UserData: tag, Exprs: dnat(p)})
	}
	if err := n.conn.Flush(); err != nil {
		return fmt.Errorf("nat: add ports of %q: %w", owner, err)
	}
	return nil
}

// RemovePorts implements [Rules].
func (n *NFTables) RemovePorts(owner string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	ok, err := n.exists()
	if err != nil || !ok {
		return err
	}
	if err := n.delTagged(tagPort+owner, chainPorts); err != nil {
		return err
	}
	if err := n.conn.Flush(); err != nil {
		return fmt.Errorf("nat: remove ports of %q: %w", owner, err)
	}
	return n.dropIfEmpty()
}

// Inventory implements [Rules].
func (n *NFTables) Inventory() (Inventory, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	ok, err := n.exists()
	if err != nil || !ok {
		return Inventory{}, err
	}
	return n.inventory()
}

func (n *NFTables) inventory() (Inventory, error) {
	nets, ports := map[string]bool{}, map[string]bool{}
	for _, ch := range []string{chainForward, chainPostrouting, chainPorts} {
		rules, err := n.conn.GetRules(n.table, n.chain(ch))
		if err != nil {
			return Inventory{}, fmt.Errorf("nat: list chain %s: %w", ch, err)
		}
		for _, r := range rules {
			c, _ := userdata.GetString(r.UserData, userdata.TypeComment)
			if name, ok := strings.CutPrefix(c, tagNet); ok {
				nets[name] = true
			} else if owner, ok := strings.CutPrefix(c, tagPort); ok {
				ports[owner] = true
			}
		}
	}
	return Inventory{Networks: slices.Sorted(maps.Keys(nets)), PortOwners: slices.Sorted(maps.Keys(ports))}, nil
}

// delTagged queues the deletion of the rules of chains commented tag.
func (n *NFTables) delTagged(tag string, chains ...string) error {
	for _, ch := range chains {
		rules, err := n.conn.GetRules(n.table, n.chain(ch))
		if err != nil {
			return fmt.Errorf("nat: list chain %s: %w", ch, err)
		}
		for _, r := range rules {
			if c, _ := userdata.GetString(r.UserData, userdata.TypeComment); c == tag {
				if err := n.conn.DelRule(r); err != nil {
					return fmt.Errorf("nat: delete rule %d of %s: %w", r.Handle, ch, err)
				}
			}
		}
	}
	return nil
}

func comment(s string) []byte { return userdata.AppendString(nil, userdata.TypeComment, s) }

func concat(parts ...[]expr.Any) []expr.Any { return slices.Concat(parts...) }

func accepted() []expr.Any { return []expr.Any{&expr.Verdict{Kind: expr.VerdictAccept}} }
func dropped() []expr.Any  { return []expr.Any{&expr.Verdict{Kind: expr.VerdictDrop}} }
func masq() []expr.Any     { return []expr.Any{&expr.Masq{}} }

// ifname matches the whole interface name: the kernel compares the
// IFNAMSIZ bytes of the name, NUL padded.
func ifname(key expr.MetaKey, op expr.CmpOp, name string) []expr.Any {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, name)
	return []expr.Any{&expr.Meta{Key: key, Register: 1}, &expr.Cmp{Op: op, Register: 1, Data: b}}
}

// ifnamePrefix matches names starting with prefix, as nft's "stk-*": a
// comparison of only the prefix's bytes.
func ifnamePrefix(key expr.MetaKey, prefix string) []expr.Any {
	return []expr.Any{&expr.Meta{Key: key, Register: 1}, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte(prefix)}}
}

// saddrIn matches "ip saddr p".
func saddrIn(p netip.Prefix) []expr.Any {
	mask := make([]byte, 4)
	copy(mask, netipMask(p.Bits()))
	a := p.Masked().Addr().As4()
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: mask, Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: a[:]},
	}
}

func netipMask(bits int) []byte {
	var m [4]byte
	for i := 0; i < bits; i++ {
		m[i/8] |= 0x80 >> (i % 8)
	}
	return m[:]
}

// ipsDstNAT is IPS_DST_NAT of linux/netfilter/nf_conntrack_common.h.
const ipsDstNAT = 1 << 5

// ctDNAT matches "ct status dnat". The status is a host-endian u32.
func ctDNAT() []expr.Any {
	return []expr.Any{
		&expr.Ct{Register: 1, Key: expr.CtKeySTATUS},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: binaryutil.NativeEndian.PutUint32(ipsDstNAT), Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: make([]byte, 4)},
	}
}

// fibLocal matches "fib daddr type local" (or saddr): an address of the
// host, 127.0.0.1 and the gateways included.
func fibLocal(daddr bool) []expr.Any {
	return []expr.Any{
		&expr.Fib{Register: 1, FlagDADDR: daddr, FlagSADDR: !daddr, ResultADDRTYPE: true},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(unix.RTN_LOCAL)},
	}
}

// dnat is "[ip daddr H] meta l4proto P th dport HP dnat to C:CP".
func dnat(p Port) []expr.Any {
	var out []expr.Any
	if p.HostIP.IsValid() && !p.HostIP.IsUnspecified() {
		h := p.HostIP.As4()
		out = append(out,
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: h[:]})
	}
	proto := byte(unix.IPPROTO_TCP)
	if p.Protocol == "udp" {
		proto = unix.IPPROTO_UDP
	}
	c := p.ContainerIP.As4()
	return append(out,
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(p.HostPort)},
		&expr.Immediate{Register: 1, Data: c[:]},
		&expr.Immediate{Register: 2, Data: binaryutil.BigEndian.PutUint16(p.ContainerPort)},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegProtoMin: 2, Specified: true},
	)
}
