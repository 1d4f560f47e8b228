package registry

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"golang.org/x/sys/unix"

	"github.com/stack-dev/stack/image"
	"github.com/stack-dev/stack/internal/errdefs"
)

var (
	// ErrUnauthorized is wrapped by errors of a registry that refused the
	// credentials, or asked for some and got none.
	ErrUnauthorized = errors.New("registry: unauthorized")
	// ErrNoRegistry is wrapped by errors of a registry that could not be
	// reached at all (no route, no DNS, connection refused).
	ErrNoRegistry = errors.New("registry: unreachable")
)

// OfflineHint says how to get an image on a machine that reaches no
// registry; errors wrapping [ErrNoRegistry] end with it.
const OfflineHint = "build a base image locally with `stack image bootstrap busybox` or " +
	"`stack image bootstrap debian:bookworm`, or load an archive with `stack image import FILE`"

// classify turns an error of go-containerregistry about ref into one that
// wraps an errdefs class and says what to do.
func classify(ref string, err error) error {
	if err == nil {
		return nil
	}
	var terr *transport.Error
	if errors.As(err, &terr) {
		switch {
		case terr.StatusCode == http.StatusUnauthorized || terr.StatusCode == http.StatusForbidden ||
			hasCode(terr, transport.UnauthorizedErrorCode, transport.DeniedErrorCode):
			return fmt.Errorf("%s: %v: log in with `docker login` (credentials are read from ~/.docker/config.json): %w: %w",
				ref, err, ErrUnauthorized, errdefs.ErrFailedPrecondition)
		case terr.StatusCode == http.StatusNotFound ||
			hasCode(terr, transport.ManifestUnknownErrorCode, transport.NameUnknownErrorCode, transport.BlobUnknownErrorCode):
			return fmt.Errorf("%s: not found in the registry (check the name and tag): %w", ref, errdefs.ErrNotFound)
		case terr.StatusCode == http.StatusTooManyRequests || terr.StatusCode >= 500:
			return fmt.Errorf("%s: %w: try again later: %w", ref, err, errdefs.ErrUnavailable)
		}
		return fmt.Errorf("%s: %w", ref, err)
	}
	if errors.Is(err, ErrPlainHTTP) {
		return fmt.Errorf("%s: %w", ref, err)
	}
	if tlsFailure(err) {
		host := ref
		if r, perr := image.ParseReference(ref); perr == nil {
			host = r.Domain
		}
		return fmt.Errorf("%s: %w: the registry's TLS does not verify: if you trust it, start the daemon with --insecure-registry %s (or list it under insecure-registries in /etc/stack/daemon.json): %w",
			ref, err, host, errdefs.ErrFailedPrecondition)
	}
	if unreachable(err) {
		return fmt.Errorf("%s: %w: no registry is reachable: %s: %w: %w", ref, err, OfflineHint, ErrNoRegistry, errdefs.ErrUnavailable)
	}
	return fmt.Errorf("%s: %w", ref, err)
}

// tlsFailure reports whether err is a failed TLS handshake or certificate
// check: a registry with a self-signed certificate, or one that speaks
// plain HTTP on its TLS port.
func tlsFailure(err error) bool {
	var (
		header   tls.RecordHeaderError
		verify   *tls.CertificateVerificationError
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
	)
	if errors.As(err, &header) || errors.As(err, &verify) || errors.As(err, &unknown) || errors.As(err, &hostname) || errors.As(err, &invalid) {
		return true
	}
	// net/http turns the RecordHeaderError of a plain-HTTP answer into
	// an untyped error with this text (net/http/transport.go).
	return strings.Contains(err.Error(), "server gave HTTP response to HTTPS client")
}

func hasCode(e *transport.Error, codes ...transport.ErrorCode) bool {
	for _, d := range e.Errors {
		for _, c := range codes {
			if d.Code == c {
				return true
			}
		}
	}
	return false
}

// unreachable reports whether err means no connection could be made:
// the host does not resolve, has no route, or refuses.
func unreachable(err error) bool {
	var dnsErr *net.DNSError
	var opErr *net.OpError
	var urlErr *url.Error
	switch {
	case errors.As(err, &dnsErr):
		return true
	case errors.Is(err, unix.ECONNREFUSED), errors.Is(err, unix.ENETUNREACH),
		errors.Is(err, unix.EHOSTUNREACH), errors.Is(err, unix.ETIMEDOUT):
		return true
	case errors.As(err, &opErr) && opErr.Op == "dial":
		return true
	case errors.As(err, &urlErr) && urlErr.Timeout():
		return true
	}
	return false
}
