package network

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/stack-dev/stack/internal/linux"
	"github.com/stack-dev/stack/network/dns"
)

// The embedded resolvers run in a process of their own, not in the
// daemon: containers keep resolving each other's names (and the world's)
// while the daemon is down or restarting. The manager describes what to
// serve in files under <state root>/dns, and the resolver follows them
// (inotify, through fsnotify), as aardvark-dns follows podman's:
//
//	dns/config.json              port, domain, upstreams
//	dns/networks/<network>.json  a network to serve: subnet, gateway, internal
//	dns/containers/<id>.json     a container's records, one per network
//	dns/bound/<network>          written by the resolver: "ok", or why it could not listen
//	dns/pid                      the resolver's pid and start time
//
// One change is one file written (temporary file, rename) or removed, so
// the resolver applies it at once and alone, whatever the number of
// containers. A resolver that finds the files there when it starts (after
// a crash, or at boot) serves them all. The manager starts it with the
// first network and stops it with the last; a restarted daemon finds it
// by its pid file and keeps it.
const (
	resolverDir    = "dns"
	resolverNets   = "networks"
	resolverCtrs   = "containers"
	resolverBound  = "bound"
	resolverConfig = "config.json"
	resolverPid    = "pid"

	envResolver = "_STACK_RESOLVER" // the resolver's state directory
)

// resolverConfigFile is dns/config.json.
type resolverConfigFile struct {
	Port      int      `json:"port"`
	Domain    string   `json:"domain,omitempty"`
	Upstreams []string `json:"upstreams,omitempty"`
}

// resolverNetwork is a dns/networks file.
type resolverNetwork struct {
	Subnet   netip.Prefix `json:"subnet"`
	Gateway  netip.Addr   `json:"gateway"`
	Internal bool         `json:"internal,omitempty"`
}

// IsResolver reports whether this process was started as a network's
// resolver; ResolverMain then runs it. main calls it before anything
// else, as it does runtime.IsInit.
func IsResolver() bool {
	return len(os.Args) > 1 && os.Args[1] == "resolve" && os.Getenv(envResolver) != ""
}

func (m *Manager) resolverPath(parts ...string) string {
	return filepath.Join(append([]string{m.root, resolverDir}, parts...)...)
}

// writeResolverFile writes v as JSON at one of the resolver's paths,
// atomically.
func (m *Manager) writeResolverFile(v any, parts ...string) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	path := m.resolverPath(parts...)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return writeFile(path, b)
}

// serveNetwork asks the resolver to serve network ns, starting it when it
// does not run, and waits until it listens (or says why it cannot).
func (m *Manager) serveNetwork(ns *networkState) error {
	if m.dnsPort <= 0 {
		return nil
	}
	name := ns.Config.Name
	bound := m.resolverPath(resolverBound, name)
	os.Remove(bound)
	if err := m.writeResolverFile(resolverNetwork{Subnet: ns.Config.Subnet, Gateway: ns.Config.Gateway, Internal: ns.Config.Internal}, resolverNets, name+".json"); err != nil {
		return fmt.Errorf("start resolver: %w", err)
	}
	if err := m.ensureResolver(); err != nil {
		return err
	}
	addr := netip.AddrPortFrom(ns.Config.Gateway, uint16(m.dnsPort))
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, err := os.ReadFile(bound)
		if err == nil {
			if s := strings.TrimSpace(string(b)); s != "ok" {
				return fmt.Errorf("start resolver on %s: %s", addr, s)
			}
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("start resolver on %s: no answer from the resolver in 5s (see %s)", addr, m.resolverPath("resolver.log"))
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// unserveNetwork stops serving network name, and stops the resolver when
// no network is left.
func (m *Manager) unserveNetwork(name string) error {
	err := os.Remove(m.resolverPath(resolverNets, name+".json"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	os.Remove(m.resolverPath(resolverBound, name))
	if len(m.st.Networks) == 0 || len(m.st.Networks) == 1 && m.st.Networks[name] != nil {
		m.stopResolver()
	}
	return nil
}

// publishRecords writes the records of container id for the resolver;
// no records removes them.
func (m *Manager) publishRecords(id string, recs []dns.Record) error {
	if m.dnsPort <= 0 {
		return nil
	}
	if len(recs) == 0 {
		err := os.Remove(m.resolverPath(resolverCtrs, id+".json"))
		if errors.Is(err, os.ErrNotExist) {
			err = nil
		}
		return err
	}
	return m.writeResolverFile(recs, resolverCtrs, id+".json")
}

// resolverPid returns the pid of the running resolver, 0 if none runs.
func (m *Manager) resolverPid() int {
	b, err := os.ReadFile(m.resolverPath(resolverPid))
	if err != nil {
		return 0
	}
	var pid int
	var start uint64
	if _, err := fmt.Sscan(string(b), &pid, &start); err != nil || start == 0 || linux.ProcStartTime(pid) != start {
		return 0
	}
	return pid
}

// ensureResolver starts the resolver unless it runs, in the manager's host
// namespace (where it listens on the gateways and forwards from), in a
// session of its own so that it outlives the daemon.
func (m *Manager) ensureResolver() error {
	if m.resolverPid() > 0 {
		return nil
	}
	if err := m.writeResolverFile(resolverConfigFile{Port: m.dnsPort, Domain: m.records.Domain(), Upstreams: m.upstreams}, resolverConfig); err != nil {
		return fmt.Errorf("start resolver: %w", err)
	}
	for _, d := range []string{resolverNets, resolverCtrs, resolverBound} {
		if err := os.MkdirAll(m.resolverPath(d), 0o700); err != nil {
			return fmt.Errorf("start resolver: %w", err)
		}
	}
	logf, err := os.OpenFile(m.resolverPath("resolver.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("start resolver: %w", err)
	}
	defer logf.Close()
	cmd := &exec.Cmd{
		Path:        "/proc/self/exe",
		Args:        []string{"stack-resolver", "resolve"},
		Env:         []string{envResolver + "=" + m.resolverPath()},
		Stdout:      logf,
		Stderr:      logf,
		Dir:         "/",
		SysProcAttr: &syscall.SysProcAttr{Setsid: true},
	}
	errc := make(chan error, 1)
	go func() {
		// The resolver is born in the host namespace: fork from a thread
		// that is in it, never unlocked afterwards.
		goruntime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			errc <- err
			return
		}
		defer orig.Close()
		if !orig.Equal(m.hostNS) {
			if err := netns.Set(m.hostNS); err != nil {
				errc <- err
				return
			}
		} else {
			defer goruntime.UnlockOSThread()
		}
		errc <- cmd.Start()
	}()
	if err := <-errc; err != nil {
		return fmt.Errorf("start resolver: %w", err)
	}
	go cmd.Wait() // reap it if it ends while we live
	deadline := time.Now().Add(5 * time.Second)
	for m.resolverPid() != cmd.Process.Pid {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			return fmt.Errorf("start resolver: it did not start in 5s (see %s)", m.resolverPath("resolver.log"))
		}
		time.Sleep(time.Millisecond)
	}
	return nil
}

// stopResolver ends the resolver, if one runs.
func (m *Manager) stopResolver() {
	pid := m.resolverPid()
	if pid == 0 {
		return
	}
	unix.Kill(pid, unix.SIGTERM)
	for i := 0; i < 500 && m.resolverPid() == pid; i++ {
		time.Sleep(2 * time.Millisecond)
	}
	if m.resolverPid() == pid {
		unix.Kill(pid, unix.SIGKILL)
	}
	os.Remove(m.resolverPath(resolverPid))
}

// ResolverMain runs the resolver (see the comment at the top of this
// file). It never returns.
func ResolverMain() {
	if err := resolve(os.Getenv(envResolver)); err != nil {
		fmt.Fprintf(os.Stderr, "stack resolver: %v\n", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// resolver is the state of the resolver process.
type resolver struct {
	dir     string
	cfg     resolverConfigFile
	table   *dns.Table
	servers map[string]*dns.Server
	nets    map[string]resolverNetwork
}

func resolve(dir string) error {
	signal.Ignore(unix.SIGHUP, unix.SIGINT, unix.SIGPIPE)
	term := make(chan os.Signal, 1)
	signal.Notify(term, unix.SIGTERM)
	var cfg resolverConfigFile
	b, err := os.ReadFile(filepath.Join(dir, resolverConfig))
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		return fmt.Errorf("%s: %w", resolverConfig, err)
	}
	r := &resolver{dir: dir, cfg: cfg, table: dns.NewTable(cfg.Domain), servers: map[string]*dns.Server{}, nets: map[string]resolverNetwork{}}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	defer w.Close()
	for _, d := range []string{resolverNets, resolverCtrs} {
		if err := w.Add(filepath.Join(dir, d)); err != nil {
			return err
		}
	}
	// Containers first, so a network's names are there when it listens.
	for _, d := range []string{resolverCtrs, resolverNets} {
		ents, _ := os.ReadDir(filepath.Join(dir, d))
		for _, e := range ents {
			r.apply(filepath.Join(dir, d, e.Name()))
		}
	}
	start := linux.ProcStartTime(os.Getpid())
	if err := writeFile(filepath.Join(dir, resolverPid), []byte(fmt.Sprintf("%d %d\n", os.Getpid(), start))); err != nil {
		return err
	}
	for {
		select {
		case <-term:
			for name := range r.servers {
				r.unbind(name)
			}
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if ev.Has(fsnotify.Remove) && filepath.Dir(ev.Name) == dir {
				// Its state is gone (the state root removed under
				// it): there is nothing left to serve, nor anyone to
				// stop it.
				fmt.Fprintf(os.Stderr, "stack resolver: %s removed: exiting\n", ev.Name)
				for name := range r.servers {
					r.unbind(name)
				}
				return nil
			}
			r.apply(ev.Name)
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			fmt.Fprintf(os.Stderr, "stack resolver: watch: %v\n", err)
		}
	}
}

// apply brings the resolver in line with the file at path: there, or
// removed.
func (r *resolver) apply(path string) {
	base := filepath.Base(path)
	name, ok := strings.CutSuffix(base, ".json")
	if !ok || strings.HasPrefix(base, ".") {
		return // a temporary file
	}
	b, err := os.ReadFile(path)
	gone := errors.Is(err, os.ErrNotExist)
	if err != nil && !gone {
		fmt.Fprintf(os.Stderr, "stack resolver: %v\n", err)
		return
	}
	switch filepath.Base(filepath.Dir(path)) {
	case resolverCtrs:
		r.table.Remove(name)
		if gone {
			return
		}
		var recs []dns.Record
		if err := json.Unmarshal(b, &recs); err != nil {
			fmt.Fprintf(os.Stderr, "stack resolver: %s: %v\n", path, err)
			return
		}
		for _, rec := range recs {
			if err := r.table.Add(rec); err != nil {
				fmt.Fprintf(os.Stderr, "stack resolver: %s: %v\n", path, err)
			}
		}
	case resolverNets:
		if gone {
			r.unbind(name)
			r.table.RemoveNetwork(name)
			delete(r.nets, name)
			return
		}
		var n resolverNetwork
		if err := json.Unmarshal(b, &n); err != nil {
			fmt.Fprintf(os.Stderr, "stack resolver: %s: %v\n", path, err)
			return
		}
		if old, ok := r.nets[name]; ok && old == n && r.servers[name] != nil {
			r.ack(name, nil)
			return
		}
		r.unbind(name)
		r.nets[name] = n
		r.table.AddNetwork(name, n.Subnet)
		r.ack(name, r.bind(name, n))
	}
}

// bind listens for network name on its gateway.
func (r *resolver) bind(name string, n resolverNetwork) error {
	addr := netip.AddrPortFrom(n.Gateway, uint16(r.cfg.Port)).String()
	pc, err := net.ListenPacket("udp4", addr)
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp4", addr)
	if err != nil {
		pc.Close()
		return err
	}
	var ups []string
	if !n.Internal {
		ups = r.cfg.Upstreams
	}
	srv, err := dns.Serve(pc, l, dns.Chain(r.table, name, &dns.Forward{Upstreams: ups}))
	if err != nil {
		return err
	}
	r.servers[name] = srv
	return nil
}

func (r *resolver) unbind(name string) {
	if srv := r.servers[name]; srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		srv.Shutdown(ctx)
		cancel()
		delete(r.servers, name)
	}
}

// ack tells the manager whether network name is served.
func (r *resolver) ack(name string, err error) {
	msg := "ok\n"
	if err != nil {
		msg = err.Error() + "\n"
	}
	if werr := writeFile(filepath.Join(r.dir, resolverBound, name), []byte(msg)); werr != nil {
		fmt.Fprintf(os.Stderr, "stack resolver: %v\n", werr)
	}
}
