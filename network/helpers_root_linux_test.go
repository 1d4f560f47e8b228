package network

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/stack-dev/stack/internal/testutil"
)

// testTag is in every name uniq makes, so the suite's leak check can tell
// our links from those of other suites running at the same time.
const testTag = "q7"

// uniq returns a name derived from t.Name() and a random suffix, at most
// max characters.
func uniq(t testing.TB, max int) string {
	var b [3]byte
	rand.Read(b[:])
	suffix := testTag + hex.EncodeToString(b[:])
	base := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		if r >= 'A' && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return -1
	}, strings.TrimPrefix(t.Name(), "TestRoot"))
	if len(base) > max-len(suffix)-1 {
		base = base[:max-len(suffix)-1]
	}
	return base + "-" + suffix
}

// fakeHost makes a network namespace standing for the host: lo, and an
// "eth0" with 192.0.2.2/24, MTU 1400 and the default route via 192.0.2.1,
// like the real machine's. eth0 is a veth whose other end is in a second
// namespace, "outside", with 192.0.2.1/24 and no route back to our
// subnets: a container reaches it only through masquerade. Nothing sent
// there leaves the two namespaces.
func fakeHost(t testing.TB) (host, outside string) {
	t.Helper()
	dir := t.TempDir()
	host, outside = filepath.Join(dir, "host"), filepath.Join(dir, "outside")
	for _, p := range []string{host, outside} {
		if err := createNetNS(p); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := removeNetNS(p); err != nil {
				t.Error(err)
			}
		})
	}
	hns, err := netns.GetFromPath(host)
	must(t, err)
	defer hns.Close()
	ons, err := netns.GetFromPath(outside)
	must(t, err)
	defer ons.Close()
	h, err := netlink.NewHandleAt(hns)
	must(t, err)
	defer h.Close()
	o, err := netlink.NewHandleAt(ons)
	must(t, err)
	defer o.Close()
	must(t, linkUp(h, "lo"))
	must(t, linkUp(o, "lo"))
	must(t, h.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "eth0", MTU: 1400}, PeerName: "eth0", PeerNamespace: netlink.NsFd(int(ons)), PeerMTU: 1400}))
	for _, side := range []struct {
		h    *netlink.Handle
		addr string
	}{{h, "192.0.2.2/24"}, {o, "192.0.2.1/24"}} {
		l, err := side.h.LinkByName("eth0")
		must(t, err)
		a, _ := netlink.ParseAddr(side.addr)
		must(t, side.h.AddrAdd(l, a))
		must(t, side.h.LinkSetUp(l))
	}
	eth0, err := h.LinkByName("eth0")
	must(t, err)
	must(t, h.RouteAdd(&netlink.Route{Gw: net.ParseIP("192.0.2.1"), LinkIndex: eth0.Attrs().Index}))
	return host, outside
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// newTestManager returns a Manager whose host is a fresh fake host
// namespace, closed at cleanup.
func newTestManager(t testing.TB, host string, mod func(*Options)) *Manager {
	t.Helper()
	opts := Options{StateRoot: filepath.Join(t.TempDir(), "state"), HostNetNS: host}
	if mod != nil {
		mod(&opts)
	}
	m, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// startIn starts a command in the network namespace at nsPath: the child
// of fork(2) inherits the namespace of the forking thread, so the thread
// joins the namespace, starts the command and goes back.
func startIn(nsPath string, cmd *exec.Cmd) error {
	ns, err := netns.GetFromPath(nsPath)
	if err != nil {
		return err
	}
	defer ns.Close()
	return inNetNS(ns, cmd.Start)
}

// busybox runs busybox applet args in nsPath and returns its combined
// output.
func busybox(t testing.TB, nsPath string, timeout time.Duration, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, testutil.BusyboxPath(t), args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := startIn(nsPath, cmd); err != nil {
		return "", err
	}
	err := cmd.Wait()
	return out.String(), err
}

// runIn runs a host command (curl) in nsPath.
func runIn(t testing.TB, nsPath string, timeout time.Duration, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := startIn(nsPath, cmd); err != nil {
		return "", err
	}
	err := cmd.Wait()
	return out.String(), err
}

// httpd serves a file saying body on port in nsPath until the test ends.
func httpd(t testing.TB, nsPath string, port int, body string) {
	t.Helper()
	dir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dir, "index.html"), []byte(body), 0o644))
	cmd := exec.Command(testutil.BusyboxPath(t), "httpd", "-f", "-p", fmt.Sprint(port), "-h", dir)
	must(t, startIn(nsPath, cmd))
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	waitListening(t, nsPath, port)
}

// waitListening waits until something listens on TCP port in nsPath.
func waitListening(t testing.TB, nsPath string, port int) {
	t.Helper()
	ns, err := netns.GetFromPath(nsPath)
	must(t, err)
	defer ns.Close()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		var ok bool
		inNetNS(ns, func() error {
			c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 200*time.Millisecond)
			if err == nil {
				c.Close()
				ok = true
			}
			return nil
		})
		if ok {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("nothing listens on port %d in %s", port, nsPath)
}
