package network

import (
	"context"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	"github.com/vishvananda/netns"

	"github.com/stack-dev/stack/internal/testutil"
	"github.com/stack-dev/stack/network/dns"
)

// BenchmarkRootSetup measures the network setup of one container on an
// existing network: namespace, veth, address, routes, DNS record (Setup),
// and its teardown; it reports the medians.
func BenchmarkRootSetup(b *testing.B) {
	testutil.RequiresRoot(b)
	ctx := context.Background()
	host, _ := fakeHost(b)
	m := newTestManager(b, host, nil)
	nw := uniq(b, 20)
	_, err := m.CreateNetwork(ctx, NetworkConfig{Name: nw})
	must(b, err)
	// A few containers already there, as in a stack.
	for i := 0; i < 5; i++ {
		_, err := m.Setup(ctx, AttachConfig{ContainerID: fmt.Sprintf("base%d", i), Networks: []EndpointConfig{{Network: nw, DNSNames: []string{"base"}}}})
		must(b, err)
	}
	var setup, teardown []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		id := fmt.Sprintf("c%d", i)
		t0 := time.Now()
		if _, err := m.Setup(ctx, AttachConfig{ContainerID: id, Networks: []EndpointConfig{{Network: nw, DNSNames: []string{"svc", id}}}}); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := m.Teardown(ctx, id); err != nil {
			b.Fatal(err)
		}
		setup, teardown = append(setup, t1.Sub(t0)), append(teardown, time.Since(t1))
	}
	b.StopTimer()
	b.ReportMetric(float64(median(setup).Microseconds())/1000, "setup-median-ms")
	b.ReportMetric(float64(median(teardown).Microseconds())/1000, "teardown-median-ms")
	for i := 0; i < 5; i++ {
		must(b, m.Teardown(ctx, fmt.Sprintf("base%d", i)))
	}
	must(b, m.RemoveNetwork(ctx, nw))
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// BenchmarkRootDNS measures A queries for a service name from inside a
// container to its network's resolver, and in the same run the same
// query to a plain miekg server on loopback.
func BenchmarkRootDNS(b *testing.B) {
	testutil.RequiresRoot(b)
	ctx := context.Background()
	host, _ := fakeHost(b)
	m := newTestManager(b, host, nil)
	nw := uniq(b, 20)
	_, err := m.CreateNetwork(ctx, NetworkConfig{Name: nw})
	must(b, err)
	for i := 0; i < 3; i++ {
		_, err := m.Setup(ctx, AttachConfig{ContainerID: fmt.Sprintf("web%d", i), Networks: []EndpointConfig{{Network: nw, DNSNames: []string{"web"}}}})
		must(b, err)
	}
	client, err := m.Setup(ctx, AttachConfig{ContainerID: "client", Networks: []EndpointConfig{{Network: nw}}})
	must(b, err)
	b.Cleanup(func() {
		for _, id := range []string{"web0", "web1", "web2", "client"} {
			m.Teardown(ctx, id)
		}
		m.RemoveNetwork(ctx, nw)
	})

	b.Run("embedded-from-container", func(b *testing.B) {
		benchDNS(b, client.NetNSPath, client.Endpoints[0].DNS.String())
	})
	b.Run("plain-miekg-loopback", func(b *testing.B) {
		var pc net.PacketConn
		hns, err := netns.GetFromPath(host)
		must(b, err)
		defer hns.Close()
		must(b, inNetNS(hns, func() (err error) { pc, err = listenPacket("udp4", "127.0.0.1:0"); return err }))
		plain := dns.HandlerFunc(func(ctx context.Context, w mdns.ResponseWriter, r *mdns.Msg) (int, error) {
			m := new(mdns.Msg)
			m.SetReply(r)
			m.Answer = []mdns.RR{&mdns.A{Hdr: mdns.RR_Header{Name: r.Question[0].Name, Rrtype: mdns.TypeA, Class: mdns.ClassINET}, A: []byte{10, 89, 0, 2}}}
			return 0, w.WriteMsg(m)
		})
		srv, err := dns.Serve(pc, nil, plain)
		must(b, err)
		defer srv.Shutdown(ctx)
		benchDNS(b, host, pc.LocalAddr().String())
	})
}

func listenPacket(network, addr string) (net.PacketConn, error) {
	return net.ListenPacket(network, addr)
}

// benchDNS sends b.N queries for "web." from 4 clients whose sockets are
// in nsPath, and reports p50, p99 and queries per second.
func benchDNS(b *testing.B, nsPath, addr string) {
	ns, err := netns.GetFromPath(nsPath)
	must(b, err)
	defer ns.Close()
	const clients = 4
	conns := make([]*mdns.Conn, clients)
	for i := range conns {
		must(b, inNetNS(ns, func() error {
			c, err := net.Dial("udp4", addr)
			conns[i] = &mdns.Conn{Conn: c}
			return err
		}))
		defer conns[i].Close()
	}
	lat := make([][]time.Duration, clients)
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := new(mdns.Msg)
			req.SetQuestion("web.", mdns.TypeA)
			for i := c; i < b.N; i += clients {
				t0 := time.Now()
				conns[c].SetDeadline(t0.Add(2 * time.Second))
				if err := conns[c].WriteMsg(req); err != nil {
					b.Error(err)
					return
				}
				resp, err := conns[c].ReadMsg()
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

// BenchmarkRootThroughput measures TCP throughput, in one run: loopback in
// the host (the physical limit), container to container over the bridge,
// and host to a published port (127.0.0.1, kernel DNAT); it reports each
// in MB/s and the last two as a ratio of loopback.
func BenchmarkRootThroughput(b *testing.B) {
	testutil.RequiresRoot(b)
	ctx := context.Background()
	host, _ := fakeHost(b)
	m := newTestManager(b, host, nil)
	nw := uniq(b, 20)
	_, err := m.CreateNetwork(ctx, NetworkConfig{Name: nw})
	must(b, err)
	srv, err := m.Setup(ctx, AttachConfig{ContainerID: "srv", Networks: []EndpointConfig{{Network: nw}}, Ports: []PortMapping{{HostPort: 18080, ContainerPort: 5001}}})
	must(b, err)
	cli, err := m.Setup(ctx, AttachConfig{ContainerID: "cli", Networks: []EndpointConfig{{Network: nw}}})
	must(b, err)
	b.Cleanup(func() {
		m.Teardown(ctx, "srv")
		m.Teardown(ctx, "cli")
		m.RemoveNetwork(ctx, nw)
	})
	const size = 1 << 30
	b.SetBytes(3 * size)
	var loop, bridge, published float64
	for i := 0; i < b.N; i++ {
		loop = throughput(b, host, host, "127.0.0.1:5001", "127.0.0.1:5001", size)
		bridge = throughput(b, srv.NetNSPath, cli.NetNSPath, ":5001", srv.Endpoints[0].IP.Addr().String()+":5001", size)
		published = throughput(b, srv.NetNSPath, host, ":5001", "127.0.0.1:18080", size)
	}
	b.ReportMetric(loop, "loopback-MB/s")
	b.ReportMetric(bridge, "bridge-MB/s")
	b.ReportMetric(published, "published-MB/s")
	b.ReportMetric(bridge/loop, "bridge/loopback")
	b.ReportMetric(published/loop, "published/loopback")
}

// throughput sends size bytes over TCP from a socket in fromNS to a
// listener on listen in srvNS, and returns MB/s.
func throughput(b *testing.B, srvNS, fromNS, listen, dial string, size int64) float64 {
	b.Helper()
	sns, err := netns.GetFromPath(srvNS)
	must(b, err)
	defer sns.Close()
	cns, err := netns.GetFromPath(fromNS)
	must(b, err)
	defer cns.Close()
	var l net.Listener
	must(b, inNetNS(sns, func() (err error) { l, err = net.Listen("tcp4", listen); return err }))
	defer l.Close()
	done := make(chan int64, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			done <- 0
			return
		}
		n, _ := io.Copy(io.Discard, c)
		c.Close()
		done <- n
	}()
	var c net.Conn
	must(b, inNetNS(cns, func() (err error) { c, err = net.Dial("tcp4", dial); return err }))
	buf := make([]byte, 128<<10)
	start := time.Now()
	for sent := int64(0); sent < size; sent += int64(len(buf)) {
		if _, err := c.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	c.Close()
	if n := <-done; n < size {
		b.Fatalf("received %d of %d bytes", n, size)
	}
	return float64(size) / time.Since(start).Seconds() / 1e6
}
