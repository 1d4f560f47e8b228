package dns_test

import (
	"context"
	"fmt"
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
	// The client asks from loopback, and a resolver answers the clients
	// of its own network only.
	tb.AddNetwork("a", netip.MustParsePrefix("127.0.0.0/8"))
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

// BenchmarkTableUpDown adds the records of an up of n services on one
// network (each with its service and container names), then removes them,
// as an up and a down do; ns/op is for the whole stack, so a cost per
// change that does not grow with the table shows as ns/op growing like n.
func BenchmarkTableUpDown(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			recs := make([]dns.Record, n)
			for i := range recs {
				id := fmt.Sprintf("c%d", i)
				recs[i] = dns.Record{Network: "a", Container: id, Addr: netip.AddrFrom4([4]byte{10, 89, byte(i >> 8), byte(i)}), Names: []string{fmt.Sprintf("s%d", i), id}}
			}
			tb := dns.NewTable("")
			tb.AddNetwork("a", netip.MustParsePrefix("10.89.0.0/16"))
			b.ReportAllocs()
			for b.Loop() {
				for _, r := range recs {
					tb.Add(r)
				}
				for _, r := range recs {
					tb.Remove(r.Container)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/service")
		})
	}
}
