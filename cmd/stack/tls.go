package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/stack-dev/stack/api"
	"github.com/stack-dev/stack/internal/errdefs"
)

// tlsOptions are the --tlscacert, --tlscert and --tlskey flags, as docker
// names them.
type tlsOptions struct {
	caCert, cert, key string
}

// hostFlag is -H: repeatable for the daemon, which listens on every one,
// while the client talks to exactly one. The first -H replaces the default
// (STACK_HOST or the local socket) instead of adding to it.
type hostFlag struct {
	g   *globalOptions
	set bool
}

func (h *hostFlag) String() string { return strings.Join(h.g.hosts, ",") }
func (h *hostFlag) Type() string   { return "host" }

func (h *hostFlag) Set(s string) error {
	if !h.set {
		h.g.hosts, h.set = nil, true
	}
	h.g.hosts = append(h.g.hosts, s)
	h.g.host = s
	return nil
}

// certPath is the directory of the default client certificates:
// STACK_CERT_PATH, else ~/.stack (docker's DOCKER_CERT_PATH and ~/.docker).
func certPath() string {
	if p := os.Getenv("STACK_CERT_PATH"); p != "" {
		return p
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return filepath.Join(home, ".stack")
}

// resolve fills the files not given on the command line with ca.pem,
// cert.pem and key.pem of dir, each only when it exists.
func (o tlsOptions) resolve(dir string) tlsOptions {
	for _, f := range []struct {
		v    *string
		name string
	}{{&o.caCert, "ca.pem"}, {&o.cert, "cert.pem"}, {&o.key, "key.pem"}} {
		if *f.v != "" || dir == "" {
			continue
		}
		if p := filepath.Join(dir, f.name); fileExists(p) {
			*f.v = p
		}
	}
	return o
}

func fileExists(path string) bool {
	st, err := os.Stat(path)
	return err == nil && !st.IsDir()
}

// clientTLSConfig returns the TLS configuration for a tcp:// daemon: the
// daemon's certificate is verified against the CA file (the system roots
// when there is none) and the client certificate, when there is one, is
// presented to the daemon, which requires it. It returns nil, nil when no
// file is given or found at all.
func (o tlsOptions) clientTLSConfig() (*tls.Config, error) {
	if o.caCert == "" && o.cert == "" && o.key == "" {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if o.caCert != "" {
		data, err := os.ReadFile(o.caCert)
		if err != nil {
			return nil, fmt.Errorf("read TLS CA: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(data) {
			return nil, fmt.Errorf("TLS CA %s: no PEM certificate in it: %w", o.caCert, errdefs.ErrInvalidArgument)
		}
	}
	switch {
	case o.cert != "" && o.key != "":
		cert, err := tls.LoadX509KeyPair(o.cert, o.key)
		if err != nil {
			return nil, fmt.Errorf("load TLS client certificate %s: %w", o.cert, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	case o.cert != "" || o.key != "":
		return nil, fmt.Errorf("a TLS client certificate needs both --tlscert and --tlskey: %w", errdefs.ErrInvalidArgument)
	}
	return cfg, nil
}

// newClient returns a client of the one daemon -H names, with TLS for a
// tcp:// host. It does not contact the daemon.
func (g *globalOptions) newClient() (*api.Client, error) {
	if len(g.hosts) > 1 {
		return nil, fmt.Errorf("-H given %d times: the client talks to one daemon: %w", len(g.hosts), errdefs.ErrInvalidArgument)
	}
	if !strings.HasPrefix(g.host, "tcp://") {
		return api.NewClient(g.host, nil)
	}
	dir := certPath()
	cfg, err := g.tls.resolve(dir).clientTLSConfig()
	if err != nil {
		return nil, fmt.Errorf("daemon host %s: %w", g.host, err)
	}
	if cfg == nil {
		return nil, fmt.Errorf("daemon host %s: tcp needs TLS certificates: give --tlscacert, --tlscert and --tlskey or put ca.pem, cert.pem and key.pem in %s (STACK_CERT_PATH): %w", g.host, dir, errdefs.ErrInvalidArgument)
	}
	return api.NewClient(g.host, cfg)
}

// remoteUnreachable explains why the remote daemon of g.host did not
// answer: nothing listens there, or the TLS handshake failed and on which
// side. A daemon rejects a client certificate with an alert that reaches
// the client only on its first read (TLS 1.3), which the HTTP transport
// reports without its type, so an unexplained failure is diagnosed with a
// handshake of our own.
func (g *globalOptions) remoteUnreachable(ctx context.Context, err error) error {
	if !errors.Is(err, errdefs.ErrUnavailable) {
		return err
	}
	why := tlsFailure(err)
	if why == "" {
		if cfg, cerr := g.tls.resolve(certPath()).clientTLSConfig(); cerr == nil && cfg != nil {
			why = tlsFailure(probeTLS(ctx, strings.TrimPrefix(g.host, "tcp://"), cfg))
		}
	}
	if why == "" {
		return fmt.Errorf("remote daemon %s is unreachable: %w", g.host, err)
	}
	return &remoteError{host: g.host, why: why, err: err}
}

// remoteError is a remote daemon that did not answer, with the cause in a
// few words instead of the transport's chain, which it wraps.
type remoteError struct {
	host, why string
	err       error
}

func (e *remoteError) Error() string {
	return "remote daemon " + e.host + " is unreachable: " + e.why
}

func (e *remoteError) Unwrap() error { return e.err }

// tlsFailure names the cause of a failed connection to a remote daemon,
// or returns "" when err does not tell.
func tlsFailure(err error) string {
	var (
		verr *tls.CertificateVerificationError
		uerr x509.UnknownAuthorityError
		herr x509.HostnameError
		rerr tls.RecordHeaderError
		op   *net.OpError
	)
	switch {
	case err == nil:
		return ""
	case errors.As(err, &uerr):
		return "TLS handshake: the daemon's certificate is not signed by the CA of --tlscacert (" + uerr.Error() + ")"
	case errors.As(err, &herr):
		return "TLS handshake: the daemon's certificate is not for this host (" + herr.Error() + ")"
	case errors.As(err, &verr):
		return "TLS handshake: the daemon's certificate does not verify (" + verr.Err.Error() + ")"
	case errors.As(err, &op) && op.Op == "remote error":
		return "TLS handshake: the daemon rejected the client certificate, which must be signed by the daemon's CA (" + op.Err.Error() + ")"
	case errors.As(err, &rerr):
		return "TLS handshake: the daemon does not speak TLS"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused: no daemon listens there"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "no route to the host"
	}
	return ""
}

// probeTLS makes a TLS connection to addr and waits briefly for the
// daemon's verdict on the client certificate. It returns nil when the
// daemon accepted the connection.
func probeTLS(ctx context.Context, addr string, cfg *tls.Config) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	d := tls.Dialer{Config: cfg}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	if _, err := c.Read(make([]byte, 1)); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
		return err
	}
	return nil
}
