package dns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/stack-dev/stack/internal/errdefs"
)

// Handler answers a query, as a CoreDNS plugin does: it either writes a
// reply to w and returns its rcode, or writes nothing and returns a failure
// rcode (SERVFAIL, REFUSED, ...) for the server to write. A Handler must not
// modify r; one that changes a reply it got from elsewhere copies it first.
type Handler interface {
	ServeDNS(ctx context.Context, w mdns.ResponseWriter, r *mdns.Msg) (int, error)
}

// HandlerFunc adapts a function to [Handler].
type HandlerFunc func(ctx context.Context, w mdns.ResponseWriter, r *mdns.Msg) (int, error)

// ServeDNS calls f.
func (f HandlerFunc) ServeDNS(ctx context.Context, w mdns.ResponseWriter, r *mdns.Msg) (int, error) {
	return f(ctx, w, r)
}

// TTL is the TTL of our answers. Zero: records change the moment a
// container comes or goes, and a cached address of a removed replica is
// worse than one more query to a resolver on the gateway.
const TTL = 0

// Records answers for the names of our containers, scoped to what the
// client can see (see the package documentation), and passes everything
// else to Next.
type Records struct {
	Table   *Table  // required
	Network string  // required: the network of the listener
	Next    Handler // optional: without it other names get REFUSED

	rotation atomic.Uint32
}

// errorf prefixes errors with their origin, as CoreDNS's plugin.Error does.
func errorf(name, format string, args ...any) error {
	return fmt.Errorf("dns/"+name+": "+format, args...)
}

// ServeDNS implements [Handler].
func (h *Records) ServeDNS(ctx context.Context, w mdns.ResponseWriter, r *mdns.Msg) (int, error) {
	if len(r.Question) != 1 || r.Opcode != mdns.OpcodeQuery {
		return mdns.RcodeNotImplemented, nil
	}
	q := r.Question[0]
	name := strings.ToLower(strings.TrimSuffix(q.Name, "."))
	a := h.Table.answer(h.Network, clientAddr(w), name)
	// A network's resolver serves that network: a container of another
	// network (another project's) reaches the gateway's address through
	// the host, and must learn nothing of this one's names.
	if !a.served {
		return mdns.RcodeRefused, nil
	}
	if len(a.upstreams) > 0 {
		ctx = withUpstreams(ctx, a.upstreams)
	}

	if q.Qclass == mdns.ClassINET || q.Qclass == mdns.ClassANY {
		if a.reverse {
			if a.ptr != nil {
				if q.Qtype != mdns.TypePTR && q.Qtype != mdns.TypeANY {
					return h.reply(w, r, mdns.RcodeSuccess, nil)
				}
				var ans []mdns.RR
				for _, n := range a.ptr.Names {
					ans = append(ans, &mdns.PTR{Hdr: header(q.Name, mdns.TypePTR), Ptr: h.fqdn(n)})
				}
				return h.reply(w, r, mdns.RcodeSuccess, ans)
			}
			if a.ours {
				return h.reply(w, r, mdns.RcodeNameError, nil)
			}
			return h.next(ctx, w, r)
		}
		if addrs := a.addrs; len(addrs) > 0 {
			if q.Qtype != mdns.TypeA && q.Qtype != mdns.TypeANY {
				return h.reply(w, r, mdns.RcodeSuccess, nil)
			}
			ans := make([]mdns.RR, len(addrs))
			k := int(h.rotation.Add(1)-1) % len(addrs)
			for i := range addrs {
				ans[i] = &mdns.A{Hdr: header(q.Name, mdns.TypeA), A: addrs[(k+i)%len(addrs)].AsSlice()}
			}
			return h.reply(w, r, mdns.RcodeSuccess, ans)
		}
		if a.inDomain || (name != "" && !strings.Contains(name, ".")) {
			return h.reply(w, r, mdns.RcodeNameError, nil)
		}
	}
	return h.next(ctx, w, r)
}

func (h *Records) next(ctx context.Context, w mdns.ResponseWriter, r *mdns.Msg) (int, error) {
	if h.Next == nil {
		return mdns.RcodeRefused, nil
	}
	return h.Next.ServeDNS(ctx, w, r)
}

func (h *Records) fqdn(name string) string {
	// Single labels are ours and get the domain; a dotted name (an alias
	// such as db.example.org) stands as it is.
	name = strings.TrimSuffix(name, ".")
	if d := h.Table.domain; d != "" && !strings.Contains(name, ".") {
		name += "." + d
	}
	return mdns.Fqdn(name)
}

func (h *Records) reply(w mdns.ResponseWriter, r *mdns.Msg, rcode int, answer []mdns.RR) (int, error) {
	m := new(mdns.Msg)
	m.SetRcode(r, rcode)
	m.Authoritative = true
	m.RecursionAvailable = true
	m.Answer = answer
	if err := w.WriteMsg(m); err != nil {
		return mdns.RcodeServerFailure, errorf("records", "write reply: %w", err)
	}
	return rcode, nil
}

func header(name string, t uint16) mdns.RR_Header {
	return mdns.RR_Header{Name: name, Rrtype: t, Class: mdns.ClassINET, Ttl: TTL}
}

// clientAddr returns the address a query came from.
func clientAddr(w mdns.ResponseWriter) netip.Addr {
	switch a := w.RemoteAddr().(type) {
	case *net.UDPAddr:
		ip, _ := netip.AddrFromSlice(a.IP)
		return ip.Unmap()
	case *net.TCPAddr:
		ip, _ := netip.AddrFromSlice(a.IP)
		return ip.Unmap()
	}
	return netip.Addr{}
}

// reverseName parses "4.3.2.1.in-addr.arpa" (lowercase, no trailing dot).
func reverseName(name string) (netip.Addr, bool) {
	rest, ok := strings.CutSuffix(name, ".in-addr.arpa")
	if !ok {
		return netip.Addr{}, false
	}
	labels := strings.Split(rest, ".")
	if len(labels) != 4 {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(labels[3] + "." + labels[2] + "." + labels[1] + "." + labels[0])
	if err != nil {
		return netip.Addr{}, false
	}
	return a, true
}

type upstreamsKey struct{}

func withUpstreams(ctx context.Context, ups []string) context.Context {
	return context.WithValue(ctx, upstreamsKey{}, ups)
}

// DefaultForwardTimeout bounds one exchange with one upstream.
const DefaultForwardTimeout = 2 * time.Second

// Forward relays queries to upstream resolvers, in order, and writes the
// first answer it gets. A container's own upstreams (see
// [Record.Upstreams]) replace Upstreams for its queries.
type Forward struct {
	Upstreams []string      // "ip:port"; optional: without any, SERVFAIL
	Timeout   time.Duration // per upstream; optional: DefaultForwardTimeout
	// Dial opens the connection to an upstream ("udp" or "tcp").
	// Optional: a net.Dialer. A caller serving another network namespace
	// than its own passes one that makes the socket there.
	Dial func(ctx context.Context, network, address string) (net.Conn, error)
}

// ServeDNS implements [Handler].
func (f *Forward) ServeDNS(ctx context.Context, w mdns.ResponseWriter, r *mdns.Msg) (int, error) {
	ups := f.Upstreams
	if o, ok := ctx.Value(upstreamsKey{}).([]string); ok {
		ups = o
	}
	if len(ups) == 0 {
		return mdns.RcodeServerFailure, errorf("forward", "no upstream resolver: %w", errdefs.ErrUnavailable)
	}
	timeout := f.Timeout
	if timeout == 0 {
		timeout = DefaultForwardTimeout
	}
	proto := "udp"
	if _, ok := w.RemoteAddr().(*net.TCPAddr); ok {
		proto = "tcp"
	}
	var errs []error
	for _, up := range ups {
		resp, err := f.exchange(ctx, r, up, proto, timeout)
		if err == nil && resp.Truncated && proto == "udp" {
			resp, err = f.exchange(ctx, r, up, "tcp", timeout)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", up, err))
			continue
		}
		resp.Id = r.Id
		if err := w.WriteMsg(resp); err != nil {
			return mdns.RcodeServerFailure, errorf("forward", "write reply: %w", err)
		}
		return resp.Rcode, nil
	}
	return mdns.RcodeServerFailure, errorf("forward", "%q: %w", r.Question[0].Name, errors.Join(errs...))
}

func (f *Forward) exchange(ctx context.Context, r *mdns.Msg, upstream, proto string, timeout time.Duration) (*mdns.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	dial := f.Dial
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	conn, err := dial(ctx, proto, upstream)
	if err != nil {
		return nil, err
	}
	co := &mdns.Conn{Conn: conn}
	defer co.Close()
	c := &mdns.Client{Net: proto, Timeout: timeout}
	resp, _, err := c.ExchangeWithConnContext(ctx, r, co)
	return resp, err
}
