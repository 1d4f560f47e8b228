package main

import (
	"errors"
	"net"

	"github.com/stack-dev/stack/daemon"
)

// listen opens a listener on every -H for the daemon. A tcp:// one
// serves mutual TLS with the files of --tlscacert, --tlscert and
// --tlskey, which must all be given: the daemon does not fall back to
// the client's default certificates, nor to plain TCP.
func (g *globalOptions) listen() (l net.Listener, retErr error) {
	var ls []net.Listener
	defer func() {
		if retErr != nil {
			for _, l := range ls {
				l.Close()
			}
		}
	}()
	tf := daemon.TLSFiles{CA: g.tls.caCert, Cert: g.tls.cert, Key: g.tls.key}
	seen := map[string]bool{}
	for _, h := range g.hosts {
		if seen[h] {
			continue
		}
		seen[h] = true
		l, err := daemon.Listen(h, tf)
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
	}
	if len(ls) == 0 {
		return nil, errors.New("no -H to listen on")
	}
	return daemon.MultiListener(ls...), nil
}
