package daemon

import (
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/stack-dev/stack/internal/errdefs"
)

func TestListenRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, host string
		tf         TLSFiles
		want       string
	}{
		{"tcp without TLS", "tcp://127.0.0.1:0", TLSFiles{}, "plain TCP is never served"},
		{"tcp without a key", "tcp://127.0.0.1:0", TLSFiles{CA: "ca.pem", Cert: "cert.pem"}, "plain TCP is never served"},
		{"tcp without a port", "tcp://127.0.0.1", TLSFiles{}, "want tcp://host:port"},
		{"unknown scheme", "http://127.0.0.1:80", TLSFiles{}, "want unix:///path or tcp://host:port"},
		{"unix without a path", "unix://", TLSFiles{}, "no socket path"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := Listen(tc.host, tc.tf)
			if err == nil {
				l.Close()
			}
			if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Listen(%q) = %v, want invalid argument with %q", tc.host, err, tc.want)
			}
		})
	}
}

func TestMultiListener(t *testing.T) {
	var ls []net.Listener
	for range 2 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
	}
	m := MultiListener(ls...)
	if m.Addr() != ls[0].Addr() {
		t.Errorf("Addr = %v, want the first listener's %v", m.Addr(), ls[0].Addr())
	}
	for _, l := range ls {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		a, err := m.Accept()
		if err != nil {
			t.Fatal(err)
		}
		if a.LocalAddr().String() != l.Addr().String() {
			t.Errorf("accepted on %v, want %v", a.LocalAddr(), l.Addr())
		}
		a.Close()
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept after Close = %v, want net.ErrClosed", err)
	}
	for _, l := range ls {
		if _, err := net.Dial("tcp", l.Addr().String()); err == nil {
			t.Errorf("%v still listens after Close", l.Addr())
		}
	}
}
