package dns_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/stack-dev/stack/network/dns"
)

// recorder is a ResponseWriter that keeps the reply, for driving handlers
// without sockets (CoreDNS's dnstest.Recorder).
type recorder struct {
	remote net.Addr
	msg    *mdns.Msg
}

func newRecorder(client string) *recorder {
	return &recorder{remote: &net.UDPAddr{IP: net.ParseIP(client), Port: 40000}}
}

func (r *recorder) LocalAddr() net.Addr        { return &net.UDPAddr{IP: net.IPv4(10, 89, 0, 1), Port: 53} }
func (r *recorder) RemoteAddr() net.Addr       { return r.remote }
func (r *recorder) WriteMsg(m *mdns.Msg) error { r.msg = m; return nil }
func (r *recorder) Write(b []byte) (int, error) {
	r.msg = new(mdns.Msg)
	return len(b), r.msg.Unpack(b)
}
func (r *recorder) Close() error        { return nil }
func (r *recorder) TsigStatus() error   { return nil }
func (r *recorder) TsigTimersOnly(bool) {}
func (r *recorder) Hijack()             {}

// upstreamMark is the address the fake "next" handler answers with, so a
// case can tell a forwarded question from one we answered.
const upstreamMark = "203.0.113.99"

func forwarded() dns.Handler {
	return dns.HandlerFunc(func(ctx context.Context, w mdns.ResponseWriter, r *mdns.Msg) (int, error) {
		m := new(mdns.Msg)
		m.SetReply(r)
		m.Answer = []mdns.RR{&mdns.A{Hdr: mdns.RR_Header{Name: r.Question[0].Name, Rrtype: mdns.TypeA, Class: mdns.ClassINET}, A: net.ParseIP(upstreamMark)}}
		return mdns.RcodeSuccess, w.WriteMsg(m)
	})
}

// testTable: network a (10.89.0.0/24) with two replicas of web, db and m;
// network b (10.89.1.0/24) with other and m.
func testTable(t testing.TB) *dns.Table {
	t.Helper()
	tb := dns.NewTable("")
	tb.AddNetwork("a", netip.MustParsePrefix("10.89.0.0/24"))
	tb.AddNetwork("b", netip.MustParsePrefix("10.89.1.0/24"))
	for _, r := range []dns.Record{
		{Network: "a", Container: "web1", Addr: netip.MustParseAddr("10.89.0.2"), Names: []string{"proj-web-1", "web", "alias1"}},
		{Network: "a", Container: "web2", Addr: netip.MustParseAddr("10.89.0.3"), Names: []string{"proj-web-2", "web"}},
		{Network: "a", Container: "db", Addr: netip.MustParseAddr("10.89.0.4"), Names: []string{"db", "db.example.org"}},
		{Network: "a", Container: "m", Addr: netip.MustParseAddr("10.89.0.9"), Names: []string{"m"}},
		{Network: "b", Container: "m", Addr: netip.MustParseAddr("10.89.1.9"), Names: []string{"m"}},
		{Network: "b", Container: "other", Addr: netip.MustParseAddr("10.89.1.2"), Names: []string{"other"}},
	} {
		if err := tb.Add(r); err != nil {
			t.Fatal(err)
		}
	}
	return tb
}

func TestRecords(t *testing.T) {
	tests := []struct {
		name    string
		client  string // source address of the query
		network string // network of the listener
		qname   string
		qtype   uint16
		rcode   int
		answer  []string // A or PTR data, in any order
	}{
		{name: "service replicas", client: "10.89.0.4", network: "a", qname: "web.", qtype: mdns.TypeA, answer: []string{"10.89.0.2", "10.89.0.3"}},
		{name: "in our domain", client: "10.89.0.4", network: "a", qname: "web.stack.internal.", qtype: mdns.TypeA, answer: []string{"10.89.0.2", "10.89.0.3"}},
		{name: "case insensitive", client: "10.89.0.4", network: "a", qname: "WeB.", qtype: mdns.TypeA, answer: []string{"10.89.0.2", "10.89.0.3"}},
		{name: "container name", client: "10.89.0.4", network: "a", qname: "proj-web-2.", qtype: mdns.TypeA, answer: []string{"10.89.0.3"}},
		{name: "alias", client: "10.89.0.4", network: "a", qname: "alias1.", qtype: mdns.TypeA, answer: []string{"10.89.0.2"}},
		{name: "dotted name of ours", client: "10.89.0.2", network: "a", qname: "db.example.org.", qtype: mdns.TypeA, answer: []string{"10.89.0.4"}},
		{name: "ANY", client: "10.89.0.4", network: "a", qname: "db.", qtype: mdns.TypeANY, answer: []string{"10.89.0.4"}},
		{name: "AAAA of ours is empty", client: "10.89.0.4", network: "a", qname: "web.", qtype: mdns.TypeAAAA},
		{name: "MX of ours is empty", client: "10.89.0.4", network: "a", qname: "web.stack.internal.", qtype: mdns.TypeMX},
		{name: "other network is invisible", client: "10.89.0.4", network: "a", qname: "other.", qtype: mdns.TypeA, rcode: mdns.RcodeNameError},
		{name: "and the other way", client: "10.89.1.2", network: "b", qname: "web.", qtype: mdns.TypeA, rcode: mdns.RcodeNameError},
		{name: "multi-homed client sees both", client: "10.89.0.9", network: "a", qname: "other.", qtype: mdns.TypeA, answer: []string{"10.89.1.2"}},
		{name: "multi-homed name per network", client: "10.89.1.2", network: "b", qname: "m.", qtype: mdns.TypeA, answer: []string{"10.89.1.9"}},
		{name: "a client off the network is refused", client: "192.0.2.7", network: "a", qname: "db.", qtype: mdns.TypeA, rcode: mdns.RcodeRefused},
		{name: "so is another network's, names and forwarding alike", client: "10.89.1.2", network: "a", qname: "example.com.", qtype: mdns.TypeA, rcode: mdns.RcodeRefused},
		{name: "and its reverse lookups", client: "10.89.1.2", network: "a", qname: "4.0.89.10.in-addr.arpa.", qtype: mdns.TypePTR, rcode: mdns.RcodeRefused},
		{name: "the gateway is on the network", client: "10.89.0.1", network: "a", qname: "db.", qtype: mdns.TypeA, answer: []string{"10.89.0.4"}},
		{name: "unknown single label", client: "10.89.0.4", network: "a", qname: "nosuch.", qtype: mdns.TypeA, rcode: mdns.RcodeNameError},
		{name: "unknown in our domain", client: "10.89.0.4", network: "a", qname: "nosuch.stack.internal.", qtype: mdns.TypeA, rcode: mdns.RcodeNameError},
		{name: "outside name is forwarded", client: "10.89.0.4", network: "a", qname: "example.com.", qtype: mdns.TypeA, answer: []string{upstreamMark}},
		{name: "PTR of ours", client: "10.89.0.4", network: "a", qname: "3.0.89.10.in-addr.arpa.", qtype: mdns.TypePTR, answer: []string{"proj-web-2.stack.internal.", "web.stack.internal."}},
		{name: "PTR of a dotted name", client: "10.89.0.2", network: "a", qname: "4.0.89.10.in-addr.arpa.", qtype: mdns.TypePTR, answer: []string{"db.stack.internal.", "db.example.org."}},
		{name: "PTR unknown in our subnet", client: "10.89.0.4", network: "a", qname: "99.0.89.10.in-addr.arpa.", qtype: mdns.TypePTR, rcode: mdns.RcodeNameError},
		{name: "PTR of the other network", client: "10.89.0.4", network: "a", qname: "2.1.89.10.in-addr.arpa.", qtype: mdns.TypePTR, rcode: mdns.RcodeNameError},
		{name: "PTR outside is forwarded", client: "10.89.0.4", network: "a", qname: "1.2.0.192.in-addr.arpa.", qtype: mdns.TypePTR, answer: []string{upstreamMark}},
	}
	tb := testTable(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &dns.Records{Table: tb, Network: tt.network, Next: forwarded()}
			req := new(mdns.Msg)
			req.SetQuestion(tt.qname, tt.qtype)
			w := newRecorder(tt.client)
			rcode, err := h.ServeDNS(context.Background(), w, req)
			if err != nil {
				t.Fatal(err)
			}
			if tt.rcode == mdns.RcodeRefused {
				// A refusal is written by the server; nothing else is.
				if rcode != tt.rcode || w.msg != nil {
					t.Fatalf("rcode = %d (msg %v), want a bare refusal", rcode, w.msg)
				}
				return
			}
			if rcode != tt.rcode || w.msg == nil || w.msg.Rcode != tt.rcode {
				t.Fatalf("rcode = %d (msg %v), want %d", rcode, w.msg, tt.rcode)
			}
			if w.msg.Id != req.Id {
				t.Errorf("reply id %d, want %d", w.msg.Id, req.Id)
			}
			got := answers(w.msg)
			slices.Sort(got)
			want := slices.Clone(tt.answer)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Fatalf("answer = %v, want %v", got, want)
			}
		})
	}
}

func answers(m *mdns.Msg) []string {
	var out []string
	for _, rr := range m.Answer {
		switch rr := rr.(type) {
		case *mdns.A:
			out = append(out, rr.A.String())
		case *mdns.PTR:
			out = append(out, rr.Ptr)
		default:
			out = append(out, rr.String())
		}
	}
	return out
}

func query(t testing.TB, h dns.Handler, client, qname string) []string {
	t.Helper()
	req := new(mdns.Msg)
	req.SetQuestion(qname, mdns.TypeA)
	w := newRecorder(client)
	if _, err := h.ServeDNS(context.Background(), w, req); err != nil {
		t.Fatal(err)
	}
	if w.msg == nil {
		t.Fatal("no reply")
	}
	return answers(w.msg)
}

func TestRecordsRotate(t *testing.T) {
	tb := testTable(t)
	h := &dns.Records{Table: tb, Network: "a"}
	first := map[string]bool{}
	for i := 0; i < 4; i++ {
		first[query(t, h, "10.89.0.4", "web.")[0]] = true
	}
	if len(first) != 2 {
		t.Fatalf("first answers over 4 queries: %v, want both replicas", first)
	}
}

func TestTableChangesAtOnce(t *testing.T) {
	tb := testTable(t)
	h := &dns.Records{Table: tb, Network: "a"}
	tb.Remove("web2")
	if got := query(t, h, "10.89.0.4", "web."); !slices.Equal(got, []string{"10.89.0.2"}) {
		t.Fatalf("after remove: %v", got)
	}
	tb.Add(dns.Record{Network: "a", Container: "web3", Addr: netip.MustParseAddr("10.89.0.7"), Names: []string{"web"}})
	if got := query(t, h, "10.89.0.4", "web."); len(got) != 2 {
		t.Fatalf("after add: %v", got)
	}
	tb.RemoveNetwork("a")
	req := new(mdns.Msg)
	req.SetQuestion("web.", mdns.TypeA)
	w := newRecorder("10.89.0.4")
	// The network is gone: its listener (about to close) answers nothing.
	if rcode, _ := h.ServeDNS(context.Background(), w, req); rcode != mdns.RcodeRefused || w.msg != nil {
		t.Fatalf("after network removal: rcode %d, %v", rcode, w.msg)
	}
	if err := tb.Add(dns.Record{Network: "a"}); err == nil {
		t.Fatal("incomplete record accepted")
	}
}

// TestTableConcurrent reads while writing; run with -race.
func TestTableConcurrent(t *testing.T) {
	tb := testTable(t)
	h := &dns.Records{Table: tb, Network: "a"}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			tb.Add(dns.Record{Network: "a", Container: "x", Addr: netip.MustParseAddr("10.89.0.50"), Names: []string{"web"}})
			tb.Remove("x")
		}
	}()
	for i := 0; i < 2000; i++ {
		if got := query(t, h, "10.89.0.4", "web."); len(got) < 2 || len(got) > 3 {
			t.Fatalf("query %d: %v", i, got)
		}
	}
	close(stop)
	wg.Wait()
}

// upstream starts a plain miekg server on a loopback address that answers
// every A question with addr, and returns its address.
func upstream(t testing.TB, ip, addr string) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	h := dns.HandlerFunc(func(ctx context.Context, w mdns.ResponseWriter, r *mdns.Msg) (int, error) {
		m := new(mdns.Msg)
		m.SetReply(r)
		m.Answer = []mdns.RR{&mdns.A{Hdr: mdns.RR_Header{Name: r.Question[0].Name, Rrtype: mdns.TypeA, Class: mdns.ClassINET, Ttl: 60}, A: net.ParseIP(addr)}}
		return 0, w.WriteMsg(m)
	})
	srv, err := dns.Serve(pc, l, h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	return pc.LocalAddr().String()
}

func TestForward(t *testing.T) {
	up1 := upstream(t, "127.0.0.1", "198.51.100.1")
	up2 := upstream(t, "127.0.0.1", "198.51.100.2")
	// A dead upstream first: a closed port answers ICMP unreachable,
	// so the forwarder moves on at once.
	dead := func() string {
		pc, _ := net.ListenPacket("udp", "127.0.0.1:0")
		defer pc.Close()
		return pc.LocalAddr().String()
	}()
	tb := testTable(t)
	tb.Add(dns.Record{Network: "a", Container: "own", Addr: netip.MustParseAddr("10.89.0.20"), Names: []string{"own"}, Upstreams: []string{up2}})
	h := dns.Chain(tb, "a", &dns.Forward{Upstreams: []string{dead, up1}})

	if got := query(t, h, "10.89.0.4", "example.com."); !slices.Equal(got, []string{"198.51.100.1"}) {
		t.Fatalf("forwarded: %v", got)
	}
	if got := query(t, h, "10.89.0.20", "example.com."); !slices.Equal(got, []string{"198.51.100.2"}) {
		t.Fatalf("forwarded with the container's own dns: %v", got)
	}
	// Our names never reach the upstream.
	if got := query(t, h, "10.89.0.4", "web."); len(got) != 2 {
		t.Fatalf("ours: %v", got)
	}

	none := dns.Chain(tb, "a", &dns.Forward{})
	req := new(mdns.Msg)
	req.SetQuestion("example.com.", mdns.TypeA)
	rcode, err := none.ServeDNS(context.Background(), newRecorder("10.89.0.4"), req)
	if rcode != mdns.RcodeServerFailure || err == nil {
		t.Fatalf("no upstream: rcode %d err %v", rcode, err)
	}
}

// TestServer runs the chain on loopback sockets end to end, over UDP and
// TCP, with a plain upstream on another loopback address.
func TestServer(t *testing.T) {
	up := upstream(t, "127.0.0.2", "198.51.100.1")
	// The network is 127.0.0.0/16 here: queries come from loopback.
	tb := dns.NewTable("")
	tb.AddNetwork("a", netip.MustParsePrefix("127.0.0.0/16"))
	for i, addr := range []string{"10.89.0.2", "10.89.0.3"} {
		tb.Add(dns.Record{Network: "a", Container: fmt.Sprintf("web%d", i), Addr: netip.MustParseAddr(addr), Names: []string{"web"}})
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", pc.LocalAddr().String())
	if err != nil {
		pc.Close()
		t.Skipf("tcp port of %s taken: %v", pc.LocalAddr(), err)
	}
	srv, err := dns.Serve(pc, l, dns.Chain(tb, "a", &dns.Forward{Upstreams: []string{up}}))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	addr := pc.LocalAddr().String()
	for _, proto := range []string{"udp", "tcp"} {
		for _, tc := range []struct {
			from  string // the client's address
			qname string
			rcode int
			want  string
		}{
			{"127.0.0.1", "web.", mdns.RcodeSuccess, "10.89.0.2 10.89.0.3"},
			{"127.0.0.1", "other.", mdns.RcodeNameError, ""},
			{"127.0.0.1", "example.com.", mdns.RcodeSuccess, "198.51.100.1"},
			{"127.1.0.5", "web.", mdns.RcodeRefused, ""},
			{"127.1.0.5", "example.com.", mdns.RcodeRefused, ""},
		} {
			c := &mdns.Client{Net: proto, Timeout: 2 * time.Second, Dialer: &net.Dialer{Timeout: 2 * time.Second}}
			if proto == "udp" {
				c.Dialer.LocalAddr = &net.UDPAddr{IP: net.ParseIP(tc.from)}
			} else {
				c.Dialer.LocalAddr = &net.TCPAddr{IP: net.ParseIP(tc.from)}
			}
			req := new(mdns.Msg)
			req.SetQuestion(tc.qname, mdns.TypeA)
			resp, _, err := c.Exchange(req, addr)
			if err != nil {
				t.Fatalf("%s %s: %v", proto, tc.qname, err)
			}
			got := answers(resp)
			slices.Sort(got)
			if resp.Rcode != tc.rcode || strings.Join(got, " ") != tc.want {
				t.Fatalf("%s %s from %s: rcode %d %v, want %d %q", proto, tc.qname, tc.from, resp.Rcode, got, tc.rcode, tc.want)
			}
		}
	}
}
