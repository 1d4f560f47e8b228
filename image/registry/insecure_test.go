package registry_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/stack-dev/stack/image/registry"
)

// toServer is a transport that dials srv whatever address a request
// names, so a registry "at" a private address or a public-looking name is
// served by the in-process one on loopback, over plain HTTP only.
func toServer(srv *server) http.RoundTripper {
	return &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, srv.host)
	}}
}

// TestPlainHTTPOnlyWhereAllowed: a registry that answers only plain HTTP
// is used over it when it is on loopback or listed as insecure, and
// refused with a way out otherwise (go-containerregistry alone would fall
// back to HTTP for any RFC 1918 address).
func TestPlainHTTPOnlyWhereAllowed(t *testing.T) {
	ctx := context.Background()
	srv := newServer(t, "", "")
	if err := remote.Write(srv.ref(t, "test/img:1"), randomImage(t, 1<<10, 1)); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		registry string
		insecure []string
		refused  bool
	}{
		{"loopback", srv.host, nil, false},
		{"private address", "10.9.8.7:5000", nil, true},
		{"private address listed", "10.9.8.7:5000", []string{"10.9.8.7:5000"}, false},
		{"private address in a listed CIDR", "10.9.8.7:5000", []string{"10.9.0.0/16"}, false},
		{"listed by host only", "10.9.8.7:5000", []string{"10.9.8.7"}, false},
		{"another private address", "10.9.8.8:5000", []string{"10.9.8.7:5000"}, true},
		{"name listed", "registry.example.test:5000", []string{"registry.example.test:5000"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			opts := registry.Options{Keychain: anonymous, Insecure: tc.insecure}
			if tc.registry != srv.host {
				opts.Transport = toServer(srv)
			}
			_, err := registry.Pull(ctx, newStore(t), tc.registry+"/test/img:1", opts)
			switch {
			case tc.refused && !errors.Is(err, registry.ErrPlainHTTP):
				t.Errorf("pull = %v, want plain HTTP refused", err)
			case tc.refused && !strings.Contains(err.Error(), "--insecure-registry "+tc.registry):
				t.Errorf("the error does not say how to allow it: %v", err)
			case !tc.refused && err != nil:
				t.Errorf("pull: %v", err)
			}
		})
	}
}

// TestTLSFailureSaysHowToAllowIt: a registry name that is not private
// gets no plain-HTTP attempt at all, and the TLS error names the option.
func TestTLSFailureSaysHowToAllowIt(t *testing.T) {
	srv := newServer(t, "", "")
	_, err := registry.Pull(context.Background(), newStore(t), "registry.example.test:5000/test/img:1",
		registry.Options{Keychain: anonymous, Transport: toServer(srv)})
	if err == nil || !strings.Contains(err.Error(), "--insecure-registry registry.example.test:5000") {
		t.Errorf("pull = %v, want the TLS failure with the way to allow it", err)
	}
	if _, err := name.ParseReference("registry.example.test:5000/test/img:1"); err != nil {
		t.Fatal(err)
	}
}
