package daemon

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"sync"

	"github.com/stack-dev/stack/internal/errdefs"
)

// TLSFiles names the PEM files of a TCP listener: the CA that client
// certificates must chain to, and the daemon's own certificate and key.
type TLSFiles struct {
	CA   string // required for tcp://
	Cert string // required for tcp://
	Key  string // required for tcp://
}

// ServerTLSConfig returns the TLS configuration of a TCP listener: TLS 1.2
// at least, HTTP/1.1 only (exec and run hijack the connection), and a
// client certificate signed by the CA in f.CA required on every
// connection. There is no plain TCP: all three files are required.
func ServerTLSConfig(f TLSFiles) (*tls.Config, error) {
	if f.CA == "" || f.Cert == "" || f.Key == "" {
		return nil, fmt.Errorf("tcp needs --tlscacert, --tlscert and --tlskey (mutual TLS; plain TCP is never served): %w", errdefs.ErrInvalidArgument)
	}
	pool, err := loadCertPool(f.CA)
	if err != nil {
		return nil, err
	}
	cert, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		return nil, fmt.Errorf("load TLS certificate %s: %w", f.Cert, err)
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		NextProtos:   []string{"http/1.1"},
	}, nil
}

// loadCertPool reads the PEM certificates of a CA file into a pool.
func loadCertPool(path string) (*x509.CertPool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read TLS CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("TLS CA %s: no PEM certificate in it: %w", path, errdefs.ErrInvalidArgument)
	}
	return pool, nil
}

// Listen listens on host, unix:///path or tcp://host:port. A unix socket
// is made as [ListenUnix] makes it; a tcp address serves mutual TLS with
// the files in tf and nothing else.
func Listen(host string, tf TLSFiles) (net.Listener, error) {
	u, err := url.Parse(host)
	if err != nil {
		return nil, fmt.Errorf("daemon host %q: %w", host, errdefs.ErrInvalidArgument)
	}
	switch u.Scheme {
	case "unix":
		if u.Path == "" {
			return nil, fmt.Errorf("daemon host %q: no socket path: %w", host, errdefs.ErrInvalidArgument)
		}
		return ListenUnix(u.Path)
	case "tcp":
		if u.Host == "" || u.Port() == "" {
			return nil, fmt.Errorf("daemon host %q: want tcp://host:port: %w", host, errdefs.ErrInvalidArgument)
		}
		cfg, err := ServerTLSConfig(tf)
		if err != nil {
			return nil, fmt.Errorf("daemon host %s: %w", host, err)
		}
		l, err := net.Listen("tcp", u.Host)
		if err != nil {
			return nil, fmt.Errorf("listen on %s: %w", u.Host, err)
		}
		return tls.NewListener(l, cfg), nil
	default:
		return nil, fmt.Errorf("daemon host %q: want unix:///path or tcp://host:port: %w", host, errdefs.ErrInvalidArgument)
	}
}

// MultiListener returns a listener that accepts the connections of all of
// ls, so that one [Daemon.Serve] answers on several addresses. Closing it
// closes every one of ls. Addr is the first one's.
func MultiListener(ls ...net.Listener) net.Listener {
	if len(ls) == 1 {
		return ls[0]
	}
	m := &multiListener{ls: ls, conns: make(chan net.Conn), done: make(chan struct{})}
	for _, l := range ls {
		go m.accept(l)
	}
	return m
}

type multiListener struct {
	ls    []net.Listener
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
	err   error // the first error from Close
}

// accept feeds the connections of l to Accept until l fails or m is
// closed. A failing listener ends only its own loop: the others carry on.
func (m *multiListener) accept(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return
		}
		select {
		case m.conns <- c:
		case <-m.done:
			c.Close()
			return
		}
	}
}

func (m *multiListener) Accept() (net.Conn, error) {
	select {
	case c := <-m.conns:
		return c, nil
	case <-m.done:
		return nil, net.ErrClosed
	}
}

func (m *multiListener) Close() error {
	m.once.Do(func() {
		close(m.done)
		var errs []error
		for _, l := range m.ls {
			errs = append(errs, l.Close())
		}
		m.err = errors.Join(errs...)
	})
	return m.err
}

func (m *multiListener) Addr() net.Addr { return m.ls[0].Addr() }
