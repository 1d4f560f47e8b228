package dns_test

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/stack-dev/stack/network/dns"
)

// BenchmarkQuery measures the latency (p50, p99) and throughput of A
// queries for a service name over UDP on loopback: against the embedded
// resolver (record table and chain) and, in the same run, against a plain
// miekg server answering a fixed record, the floor of what a resolver
// on this stack can do.
func BenchmarkQuery(b *testing.B) {
	tb := dns.NewTable("")
	tb.AddNetwork("a", netip.MustParsePrefix("10.89.0.0/24"))
	for i, id := range []string{"web1", "web2", "web3"} {
		tb.Add(dns.Record{Network: "a", Container: id, Addr: netip.AddrFrom4([4]byte{10, 89, 0, byte(2 + i)}), Names: []string{"web", id}})
	}
	plain := mdns.HandlerFunc(func(w mdns.ResponseWriter, r *mdns.Msg) {
		m := new(mdns.Msg)
		m.SetReply(r)
		m.Answer = []mdns.RR{&mdns.A{Hdr: mdns.RR_Header{Name: r.Question[0].Name, Rrtype: mdns.TypeA, Class: mdns.ClassINET}, A: net.IPv4(10, 89, 0, 2)}}
		w.WriteMsg(m)
	})
	for _, tc := range []struct {
		name  string
		serve func(pc net.PacketConn) func()
	}{
		{"embedded", func(pc net.PacketConn) func() {
			srv, err := dns.Serve(pc, nil, dns.Chain(tb, "a", &dns.Forward{}))
			if err != nil {
				b.Fatal(err)
			}
			return func() { srv.Shutdown(context.Background()) }
		}},
		{"plain-miekg", func(pc net.PacketConn) func() {
			started := make(chan struct{})
			srv := &mdns.Server{PacketConn: pc, Handler: plain, NotifyStartedFunc: func() { close(started) }}
			go srv.ActivateAndServe()
			<-started
			return func() { srv.Shutdown() }
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			pc, err := net.ListenPacket("udp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			stop := tc.serve(pc)
			defer stop()
			benchQueries(b, pc.LocalAddr().String(), "web.")
		})
	}
}

// benchQueries sends b.N queries from 4 concurrent clients and reports
// latency percentiles and queries per second.
func benchQueries(b *testing.B, addr, name string) {
	const clients = 4
	lat := make([][]time.Duration, clients)
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := mdns.Dial("udp", addr)
			if err != nil {
				b.Error(err)
				return
			}
			defer conn.Close()
			req := new(mdns.Msg)
			req.SetQuestion(name, mdns.TypeA)
			for i := c; i < b.N; i += clients {
				t0 := time.Now()
				conn.SetDeadline(t0.Add(2 * time.Second))
				if err := conn.WriteMsg(req); err != nil {
					b.Error(err)
					return
				}
				resp, err := conn.ReadMsg()
				if err != nil || len(resp.Answer) == 0 {
					b.Errorf("query: %v %v", resp, err)
					return
				}
				lat[c] = append(lat[c], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	all := slices.Concat(lat...)
	if len(all) == 0 {
		return
	}
	slices.Sort(all)
	b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-us")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-us")
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "qps")
}
