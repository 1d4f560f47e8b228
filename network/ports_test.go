package network

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/stack-dev/stack/internal/errdefs"
)

func TestExpandPorts(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	tests := []struct {
		name    string
		in      []PortMapping
		want    string
		wantErr error
	}{
		{name: "8080:80", in: []PortMapping{{HostPort: 8080, ContainerPort: 80}}, want: "0.0.0.0:8080->80/tcp"},
		{name: "127.0.0.1:8080:80/udp", in: []PortMapping{{HostIP: lo, HostPort: 8080, ContainerPort: 80, Protocol: "udp"}}, want: "127.0.0.1:8080->80/udp"},
		{name: "0.0.0.0 is every address", in: []PortMapping{{HostIP: netip.IPv4Unspecified(), HostPort: 1, ContainerPort: 2}}, want: "0.0.0.0:1->2/tcp"},
		{name: "container port only", in: []PortMapping{{ContainerPort: 80}}, want: "0.0.0.0:(ephemeral)->80/tcp"},
		{name: "container range only", in: []PortMapping{{ContainerPort: 80, ContainerPortEnd: 81}}, want: "0.0.0.0:(ephemeral)->80/tcp 0.0.0.0:(ephemeral)->81/tcp"},
		{name: "8080-8081:80-81", in: []PortMapping{{HostPort: 8080, HostPortEnd: 8081, ContainerPort: 80, ContainerPortEnd: 81}}, want: "0.0.0.0:8080->80/tcp 0.0.0.0:8081->81/tcp"},
		{name: "8080-8085:80", in: []PortMapping{{HostPort: 8080, HostPortEnd: 8085, ContainerPort: 80}}, want: "0.0.0.0:8080-8085->80/tcp"},
		{name: "sizes differ", in: []PortMapping{{HostPort: 8080, HostPortEnd: 8082, ContainerPort: 80, ContainerPortEnd: 81}}, wantErr: errdefs.ErrInvalidArgument},
		{name: "no container port", in: []PortMapping{{HostPort: 8080}}, wantErr: errdefs.ErrInvalidArgument},
		{name: "reversed range", in: []PortMapping{{HostPort: 8080, HostPortEnd: 8070, ContainerPort: 80}}, wantErr: errdefs.ErrInvalidArgument},
		{name: "sctp", in: []PortMapping{{HostPort: 1, ContainerPort: 1, Protocol: "sctp"}}, wantErr: errdefs.ErrNotImplemented},
		{name: "ipv6 host", in: []PortMapping{{HostIP: netip.IPv6Loopback(), HostPort: 1, ContainerPort: 1}}, wantErr: errdefs.ErrNotImplemented},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := expandPorts(tt.in)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var s []string
			for _, r := range got {
				s = append(s, r.String())
			}
			if strings.Join(s, " ") != tt.want {
				t.Fatalf("got %q, want %q", strings.Join(s, " "), tt.want)
			}
		})
	}
}

func TestPortKeyConflicts(t *testing.T) {
	lo, other := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("192.0.2.2")
	any := netip.Addr{}
	tests := []struct {
		a, b portKey
		want bool
	}{
		{portKey{"tcp", any, 80}, portKey{"tcp", any, 80}, true},
		{portKey{"tcp", any, 80}, portKey{"tcp", lo, 80}, true},
		{portKey{"tcp", lo, 80}, portKey{"tcp", other, 80}, false},
		{portKey{"tcp", lo, 80}, portKey{"udp", lo, 80}, false},
		{portKey{"tcp", lo, 80}, portKey{"tcp", lo, 81}, false},
	}
	for _, tt := range tests {
		if got := tt.a.conflicts(tt.b); got != tt.want || tt.b.conflicts(tt.a) != tt.want {
			t.Errorf("%v conflicts %v = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestNames(t *testing.T) {
	for _, name := range []string{"a", "myproject_default", strings.Repeat("x", 200)} {
		if b := BridgeName("0a1b2c3d", name); len(b) > 15 || !strings.HasPrefix(b, BridgePrefix) || b != BridgeName("0a1b2c3d", name) {
			t.Errorf("BridgeName(%q) = %q", name, b)
		}
		if v := vethName("0a1b2c3d", "c1", name); len(v) > 15 || !strings.HasPrefix(v, VethPrefix) {
			t.Errorf("vethName = %q", v)
		}
	}
	if vethName("i", "c1", "a") == vethName("i", "c1", "b") || vethName("i", "c1", "a") == vethName("i", "c2", "a") {
		t.Error("veth names collide")
	}
	// Two engines, one network name: two bridges.
	if BridgeName("0a1b2c3d", "app_default") == BridgeName("4e5f6a7b", "app_default") || vethName("0a1b2c3d", "c", "n") == vethName("4e5f6a7b", "c", "n") {
		t.Error("two instances share a link name")
	}
	if got := macFor(netip.MustParseAddr("10.89.0.2")).String(); got != "02:5a:0a:59:00:02" {
		t.Errorf("macFor = %s", got)
	}
}

func TestValidateID(t *testing.T) {
	for id, ok := range map[string]bool{"abc": true, "a_b.c-1": true, "": false, ".x": false, "-x": false, "a/b": false, "a b": false, "../x": false, strings.Repeat("a", 129): false} {
		if err := validateID("container", id); (err == nil) != ok {
			t.Errorf("validateID(%q) = %v", id, err)
		}
	}
}

func TestPortBindingString(t *testing.T) {
	b := PortBinding{Protocol: "tcp", HostPort: 8080, ContainerPort: 80}
	if got := fmt.Sprint(b); got != "80/tcp -> 0.0.0.0:8080" {
		t.Errorf("got %q", got)
	}
}
