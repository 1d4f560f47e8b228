package dns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"

	mdns "github.com/miekg/dns"
)

// Server serves a [Handler] on a UDP socket and a TCP listener. Create it
// with [Serve]; it must not be reused after [Server.Shutdown].
type Server struct {
	servers []*mdns.Server
	wg      sync.WaitGroup
}

// Chain returns the handler of a network's listener: [Records] for
// network, then fwd.
func Chain(t *Table, network string, fwd *Forward) Handler {
	return &Records{Table: t, Network: network, Next: fwd}
}

// Serve starts serving h on pc and l (either may be nil) and returns once
// both are accepting queries. The server owns pc and l from then on and
// closes them on Shutdown.
func Serve(pc net.PacketConn, l net.Listener, h Handler) (*Server, error) {
	s := &Server{}
	mh := mdns.HandlerFunc(func(w mdns.ResponseWriter, r *mdns.Msg) {
		rcode, _ := h.ServeDNS(context.Background(), w, r)
		switch rcode {
		case mdns.RcodeServerFailure, mdns.RcodeRefused, mdns.RcodeFormatError, mdns.RcodeNotImplemented:
			m := new(mdns.Msg)
			m.SetRcode(r, rcode)
			w.WriteMsg(m)
		}
	})
	for _, srv := range []*mdns.Server{{PacketConn: pc, Handler: mh}, {Listener: l, Handler: mh}} {
		if srv.PacketConn == nil && srv.Listener == nil {
			continue
		}
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		done := make(chan error, 1)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			done <- srv.ActivateAndServe()
		}()
		select {
		case <-started:
			s.servers = append(s.servers, srv)
		case err := <-done:
			s.Shutdown(context.Background())
			if pc != nil {
				pc.Close()
			}
			if l != nil {
				l.Close()
			}
			return nil, fmt.Errorf("dns: serve: %w", err)
		}
	}
	return s, nil
}

// Shutdown stops the server and waits for its goroutines.
func (s *Server) Shutdown(ctx context.Context) error {
	var errs []error
	for _, srv := range s.servers {
		if err := srv.ShutdownContext(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	s.wg.Wait()
	return errors.Join(errs...)
}
