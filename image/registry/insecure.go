package registry

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/stack-dev/stack/internal/errdefs"
)

// ErrPlainHTTP is wrapped by the error of a registry that answers only
// plain HTTP when it may not: it is neither on loopback nor listed as
// insecure.
var ErrPlainHTTP = errors.New("registry: plain HTTP refused")

// insecure says which registries may be reached over plain HTTP or
// with an unverified certificate: loopback ones, and those the daemon
// lists (docker's insecure-registries: "host[:port]" or a CIDR of the
// registry's address).
type insecure struct {
	hosts    []string
	prefixes []netip.Prefix
}

func newInsecure(list []string) insecure {
	var in insecure
	for _, e := range list {
		if p, err := netip.ParsePrefix(e); err == nil {
			in.prefixes = append(in.prefixes, p.Masked())
			continue
		}
		in.hosts = append(in.hosts, strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(e, "http://"), "https://"), "/")))
	}
	return in
}

// listed reports whether registry (host[:port]) is an insecure registry
// the daemon lists.
func (in insecure) listed(registry string) bool {
	registry = strings.ToLower(registry)
	host := registry
	if h, _, err := net.SplitHostPort(registry); err == nil {
		host = h
	}
	for _, h := range in.hosts {
		if h == registry || h == host {
			return true
		}
	}
	if a, err := netip.ParseAddr(host); err == nil {
		for _, p := range in.prefixes {
			if p.Contains(a.Unmap()) {
				return true
			}
		}
	}
	return false
}

// allowed reports whether registry may be spoken to without TLS.
func (in insecure) allowed(registry string) bool {
	return loopback(registry) || in.listed(registry)
}

// loopback reports whether registry is on this machine's loopback:
// localhost or a loopback address, as docker treats it.
func loopback(registry string) bool {
	host := registry
	if h, _, err := net.SplitHostPort(registry); err == nil {
		host = h
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return err == nil && a.IsLoopback()
}

// nameOptions marks a listed registry insecure for go-containerregistry,
// so that it falls back to plain HTTP there.
func (in insecure) nameOptions(registry string) []name.Option {
	if in.listed(registry) {
		return []name.Option{name.Insecure}
	}
	return nil
}

// guard refuses plain-HTTP requests to registries not allowed them.
// go-containerregistry falls back to HTTP on its own for any RFC 1918
// address; docker does not, and neither does stack.
type guard struct {
	next http.RoundTripper
	in   insecure
}

func (g guard) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme == "http" && !g.in.allowed(req.URL.Host) {
		return nil, fmt.Errorf("%s does not answer over TLS, and plain HTTP is used only for loopback registries and those listed as insecure: "+
			"if you trust the network, start the daemon with --insecure-registry %s (or list it under insecure-registries in /etc/stack/daemon.json): %w: %w",
			req.URL.Host, req.URL.Host, ErrPlainHTTP, errdefs.ErrFailedPrecondition)
	}
	return g.next.RoundTrip(req)
}

// transport returns base (http.DefaultTransport when nil) wrapped in the
// guard; with no base, listed registries also accept a certificate that
// does not verify, as docker's insecure registries do.
func (in insecure) transport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		verified := http.DefaultTransport.(*http.Transport).Clone()
		base = verified
		if len(in.hosts)+len(in.prefixes) > 0 {
			unverified := verified.Clone()
			unverified.TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
			base = skipVerify{verified: verified, unverified: unverified, in: in}
		}
	}
	return guard{next: base, in: in}
}

// skipVerify sends requests to listed registries through a transport that
// does not verify their certificates, and the rest through verified.
type skipVerify struct {
	verified, unverified http.RoundTripper
	in                   insecure
}

func (s skipVerify) RoundTrip(req *http.Request) (*http.Response, error) {
	if s.in.listed(req.URL.Host) {
		return s.unverified.RoundTrip(req)
	}
	return s.verified.RoundTrip(req)
}
