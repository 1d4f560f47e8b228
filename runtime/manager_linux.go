//go:build !stackinit

package runtime

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/stack-dev/stack/internal/errdefs"
	"github.com/stack-dev/stack/internal/linux"
	"github.com/stack-dev/stack/runtime/seccomp"
)

// Manager creates and controls containers. It keeps no state in memory:
// everything lives in the state directory and in each container's shim,
// so a new Manager (after a daemon restart) adopts the containers an
// earlier one created. Its methods may be called concurrently, but not
// concurrently for the same container id.
type Manager struct {
	root       string
	shimBinary string
	initBinary string // Options.InitBinary, absolute; "": shimBinary
	// initForAll says whether initBinary may be exec'd by a container's
	// root in a user namespace of its own, mapped to an unprivileged uid:
	// whether others may execute it.
	initForAll   bool
	trace        func(id, phase string, at time.Time) // Options.Trace
	spawnMu      sync.Mutex                           // held while finding or starting a group's shim
	creating     map[string]int                       // by group: creates on their way to its shim; spawnMu guards it
	cgroupParent string
	cgroupV2Root string
	log          *slog.Logger
	// parentMu keeps the removal of the idle cgroup parent (write) apart
	// from creations (read), from a container's directory to its cgroup:
	// a removal sees the directory, or the creation makes the parent anew.
	parentMu sync.RWMutex
	// held keeps a read end of each container's output pipes open: see
	// output_linux.go.
	held heldOutputs
	// execs are the pids of processes Exec started, which their
	// Process.Wait collects: the reaper must leave them alone.
	execMu sync.Mutex
	execs  map[int]bool
}

// New returns a Manager keeping its state under o.StateRoot, which it
// creates if needed.
func New(o Options) (*Manager, error) {
	if o.StateRoot == "" || !filepath.IsAbs(o.StateRoot) {
		return nil, fmt.Errorf("runtime: state root %q must be an absolute path: %w", o.StateRoot, errdefs.ErrInvalidArgument)
	}
	if err := os.MkdirAll(filepath.Join(o.StateRoot, shimsDir), 0o700); err != nil {
		return nil, fmt.Errorf("runtime: create state root: %w", err)
	}
	parent := o.CgroupParent
	if parent == "" {
		parent = "stack"
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	shim := o.ShimBinary
	if shim == "" {
		shim = "/proc/self/exe"
	}
	m := &Manager{root: o.StateRoot, shimBinary: shim, trace: o.Trace, cgroupParent: path.Clean("/" + parent), cgroupV2Root: o.cgroupV2Root, log: logger, creating: map[string]int{}}
	if o.InitBinary != "" {
		abs, err := filepath.Abs(o.InitBinary)
		if err != nil {
			return nil, fmt.Errorf("runtime: init binary: %w", err)
		}
		fi, err := os.Stat(abs)
		if err != nil {
			return nil, fmt.Errorf("runtime: init binary: %w", err)
		}
		m.initBinary, m.initForAll = abs, fi.Mode().Perm()&0o001 != 0
	}
	m.collectShimLogs()
	// What removals a crash cut short left.
	left, _ := filepath.Glob(filepath.Join(o.StateRoot, removedPrefix+"*"))
	for _, d := range left {
		os.RemoveAll(d)
	}
	return m, nil
}

// removedPrefix names, under the state root, the directory of a container
// being removed: not a valid container id, so no lookup finds it.
const removedPrefix = ".removed-"

func (m *Manager) dir(id string) (string, error) {
	if err := validateID(id); err != nil {
		return "", err
	}
	return securejoin.SecureJoin(m.root, id)
}

// Log returns where the container's output goes, in the format
// [LogEntry] describes: Config.Log as Create was given it, its path filled
// in.
func (m *Manager) Log(id string) (LogConfig, error) {
	dir, err := m.dir(id)
	if err != nil {
		return LogConfig{}, err
	}
	var b bundle
	if err := readJSON(filepath.Join(dir, bundleFile), &b); err != nil {
		return LogConfig{}, fmt.Errorf("container %q: %w", id, err)
	}
	return b.Log, nil
}

// LogPath returns the path of the container's current log file.
func (m *Manager) LogPath(id string) (string, error) {
	l, err := m.Log(id)
	return l.Path, err
}

// Create prepares container id from cfg: its shim starts, makes the
// cgroup and the namespaces, mounts the rootfs, and the container waits,
// ready to exec its process, until [Manager.Start]. Errors from inside the
// container (a missing executable, a failed mount) are returned here. It
// fails with errdefs.ErrAlreadyExists if id exists.
func (m *Manager) Create(ctx context.Context, id string, cfg Config) (retErr error) {
	dir, err := m.dir(id)
	if err != nil {
		return err
	}
	if err := validateConfig(&cfg); err != nil {
		return fmt.Errorf("create container %q: %w", id, err)
	}
	spec, filter, err := compileSeccomp(cfg.Spec)
	if err != nil {
		return fmt.Errorf("create container %q: %w", id, err)
	}
	m.parentMu.RLock()
	if err := os.Mkdir(dir, 0o700); errors.Is(err, fs.ErrExist) {
		m.parentMu.RUnlock()
		return fmt.Errorf("container %q: %w", id, errdefs.ErrAlreadyExists)
	} else if err != nil {
		m.parentMu.RUnlock()
		return fmt.Errorf("create container %q: %w", id, err)
	}
	defer func() {
		if retErr != nil {
			m.cleanup(id, dir)
		}
	}()
	defer m.parentMu.RUnlock() // before the cleanup, which may take it
	b := bundle{
		ID: id, Spec: spec, Rootfs: cfg.Rootfs, NetNS: cfg.NetNS, Init: cfg.Init,
		Cgroup: m.cgroupConfig(id), Seccomp: filter, Log: cfg.Log, Group: cfg.Group,
		Trace: m.trace != nil,
	}
	if b.Group == "" {
		b.Group = id
	}
	if b.Log.Path == "" {
		b.Log.Path = filepath.Join(dir, defaultLog)
	}
	if err := writeJSON(filepath.Join(dir, bundleFile), b); err != nil {
		return fmt.Errorf("create container %q: %w", id, err)
	}
	m.mark(id, "manager: checks, seccomp, bundle")
	pid, trace, err := m.createInShim(ctx, b.Group, dir)
	m.report(id, trace)
	m.mark(id, "manager: created")
	if err != nil {
		return fmt.Errorf("create container %q: %w", id, err)
	}
	m.held.hold(id, dir)
	m.log.Debug("container created", "id", id, "pid", pid)
	return nil
}

// validateConfig checks cfg and fills the parts of the spec the runtime
// relies on.
func validateConfig(cfg *Config) error {
	s := cfg.Spec
	switch {
	case s == nil:
		return fmt.Errorf("no spec: %w", errdefs.ErrInvalidArgument)
	case s.Process == nil || len(s.Process.Args) == 0:
		return fmt.Errorf("spec has no process args: %w", errdefs.ErrInvalidArgument)
	case !filepath.IsAbs(cfg.Rootfs):
		return fmt.Errorf("rootfs %q is not absolute: %w", cfg.Rootfs, errdefs.ErrInvalidArgument)
	}
	if st, err := os.Stat(cfg.Rootfs); err != nil || !st.IsDir() {
		return fmt.Errorf("rootfs %q is not a directory: %w", cfg.Rootfs, errdefs.ErrInvalidArgument)
	}
	if cfg.Group != "" {
		if err := validateID(cfg.Group); err != nil {
			return fmt.Errorf("shim group: %w", err)
		}
	}
	if s.Linux == nil {
		s.Linux = &specs.Linux{}
	}
	if err := validateUserNS(cfg); err != nil {
		return err
	}
	if _, _, err := namespaceFlags(s.Linux.Namespaces, cfg.NetNS); err != nil {
		return fmt.Errorf("%w: %w", err, errdefs.ErrNotImplemented)
	}
	return nil
}

// compileSeccomp compiles the spec's seccomp profile, once, here: the
// init and exec'd processes only load the program. It returns the spec
// without the profile (a copy when it had one), for the bundle.
func compileSeccomp(s *specs.Spec) (*specs.Spec, *seccomp.Program, error) {
	if s.Linux.Seccomp == nil {
		return s, nil, nil
	}
	p, err := compiledPrograms.compile(s.Linux.Seccomp)
	if err != nil {
		return nil, nil, err
	}
	c, linux := *s, *s.Linux
	linux.Seccomp = nil
	c.Linux = &linux
	return &c, p, nil
}

// compiledPrograms keeps the programs of the profiles compiled last: a
// project's containers mostly share one (Docker's default for the same
// capabilities), and its encoding is hashed in a sixth of the time its
// compilation takes (70 and 400 µs for Docker's profile here).
var compiledPrograms = programCache{progs: map[[sha256.Size]byte]*seccomp.Program{}}

type programCache struct {
	mu    sync.Mutex
	progs map[[sha256.Size]byte]*seccomp.Program
}

// programCacheSize bounds the cache: profiles differ by capability set
// and by file, of which a host has a handful.
const programCacheSize = 32

func (c *programCache) compile(profile *specs.LinuxSeccomp) (*seccomp.Program, error) {
	data, err := json.Marshal(profile)
	if err != nil {
		return nil, fmt.Errorf("seccomp profile: %w", err)
	}
	key := sha256.Sum256(data)
	c.mu.Lock()
	p, ok := c.progs[key]
	c.mu.Unlock()
	if ok {
		return p, nil
	}
	if p, err = seccomp.Compile(profile, goruntime.GOARCH); err != nil {
		return nil, err
	}
	c.mu.Lock()
	if len(c.progs) >= programCacheSize {
		clear(c.progs)
	}
	c.progs[key] = p
	c.mu.Unlock()
	return p, nil
}

// createInShim has the shim of the group create the container in dir,
// starting the group's shim first when it has none, and returns the
// init's pid. A shim that closes (its last container gone) as the request
// comes leaves it untaken: the next shim gets it.
func (m *Manager) createInShim(ctx context.Context, group, dir string) (int, []tracePoint, error) {
	m.spawnMu.Lock()
	m.creating[group]++
	m.spawnMu.Unlock()
	defer func() {
		m.spawnMu.Lock()
		if m.creating[group]--; m.creating[group] == 0 {
			delete(m.creating, group)
		}
		m.spawnMu.Unlock()
	}()
	for attempt := 0; ; attempt++ {
		c, err := m.dialGroup(group)
		if err != nil {
			return 0, nil, fmt.Errorf("shim of %q: %w", group, err)
		}
		r, taken, err := askCreate(ctx, c, dir)
		c.Close()
		if taken || attempt == 3 {
			return r.Pid, r.Trace, err
		}
	}
}

// askCreate sends "create" for dir on c and reads both answers (see
// groupReply). Once taken, the request is seen through even when ctx
// ends (the caller's cleanup then removes the container), for at most a
// few seconds more.
func askCreate(ctx context.Context, c net.Conn, dir string) (r groupReply, taken bool, err error) {
	b, _ := json.Marshal(groupRequest{Op: "create", Dir: dir})
	if _, err := c.Write(append(b, '\n')); err != nil {
		return r, false, err
	}
	stop := context.AfterFunc(ctx, func() { c.SetReadDeadline(time.Now().Add(5 * time.Second)) })
	defer stop()
	dec := json.NewDecoder(c)
	if err := dec.Decode(&r); err != nil || !r.Taken {
		return r, false, fmt.Errorf("shim closed before taking the request: %v", err)
	}
	if err := dec.Decode(&r); err != nil {
		return r, true, fmt.Errorf("shim died while creating the container: %w", err)
	}
	if r.Error != "" {
		if r.Exiting {
			// It had nothing else to serve: gone before Create fails.
			waitShimExit(r.Shim)
		}
		// With its class: a missing executable stays one.
		return r, true, syncMsg{Error: r.Error, Class: r.Class}.err()
	}
	if ctx.Err() != nil {
		return r, true, ctx.Err()
	}
	return r, true, nil
}

// dialGroup connects to the shim of group, starting one if it has none.
func (m *Manager) dialGroup(group string) (net.Conn, error) {
	dir := filepath.Join(m.root, shimsDir, group)
	m.spawnMu.Lock()
	defer m.spawnMu.Unlock()
	c, err := dialUnix(dir, shimSock)
	if err == nil || !shimGone(err) {
		return c, err
	}
	if err := m.startShim(dir); err != nil {
		return nil, err
	}
	return dialUnix(dir, shimSock)
}

// startShim starts a shim process for the group whose directory is dir,
// in its own session, and waits until it listens.
func (m *Manager) startShim(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	logf, err := os.OpenFile(filepath.Join(dir, shimLog), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		w.Close()
		return err
	}
	defer logf.Close()
	cmd := &exec.Cmd{
		Path:        m.shimBinary,
		Args:        []string{"stack-shim", "init"},
		Env:         []string{envRole + "=" + roleShim, envInitPipe + "=3", envStateDir + "=" + dir, envProto + "=" + protocol, envInitBinary + "=" + m.initBinary},
		ExtraFiles:  []*os.File{w},
		Stdout:      logf,
		Stderr:      logf,
		Dir:         "/",
		SysProcAttr: &syscall.SysProcAttr{Setsid: true},
	}
	err = cmd.Start()
	w.Close()
	if err != nil {
		return fmt.Errorf("start shim: %w", err)
	}
	// Reap the shim if it exits while we live; after we die, init does.
	go cmd.Wait()
	r.SetReadDeadline(time.Now().Add(10 * time.Second))
	var msg struct {
		Pid   int    `json:"pid"`
		Error string `json:"error"`
	}
	line, err := bufio.NewReader(r).ReadBytes('\n')
	if err == nil {
		err = json.Unmarshal(line, &msg)
	}
	if err != nil {
		cmd.Process.Kill()
		out, _ := os.ReadFile(filepath.Join(dir, shimLog))
		return fmt.Errorf("shim exited without reporting: %s", strings.TrimSpace(string(out)))
	}
	if msg.Error != "" {
		return errors.New(msg.Error)
	}
	m.log.Debug("shim started", "dir", dir, "pid", msg.Pid)
	return nil
}

// retire tells the shim of group that the container in dir is gone. When
// that was the shim's last container, the shim exits, and retire waits
// for it, so that nothing of the container's runs once Delete returns;
// shim and start identify the shim when the container's state names it.
// The directory of a shim that died is removed here, unless its log says
// why it died.
func (m *Manager) retire(group, dir string, shim int, start uint64) {
	gdir := filepath.Join(m.root, shimsDir, group)
	// The request is on its way before a create can count itself in and
	// start a new shim: only the shim that is there now may exit idle.
	m.spawnMu.Lock()
	c, err := dialUnix(gdir, shimSock)
	if err == nil {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		b, _ := json.Marshal(groupRequest{Op: "retire", Dir: dir, ExitIfIdle: m.creating[group] == 0})
		if _, err = c.Write(append(b, '\n')); err != nil {
			c.Close()
		}
	}
	m.spawnMu.Unlock()
	if shimGone(err) {
		// Exited, exiting (its socket goes first), or killed.
		m.removeDeadShim(gdir, shim, start)
		return
	}
	if err != nil {
		return
	}
	defer c.Close()
	var r groupReply
	if err := json.NewDecoder(c).Decode(&r); err != nil {
		// A shim killed a moment ago still had its socket when we
		// connected (the kernel queues a connection for a listener
		// nobody accepts on), and closes it unanswered.
		if shimGone(err) {
			m.removeDeadShim(gdir, shim, start)
		}
		return
	}
	if r.Exiting {
		waitShimExit(r.Shim)
	}
	if shim > 0 && r.Shim != shim {
		// Another shim has the group's socket: the container's own
		// exited with its last container, or is exiting.
		if !waitExit(shim, start, 2*time.Second) {
			unix.Kill(shim, unix.SIGKILL)
		}
	}
	m.collectShimLogs()
}

// removeDeadShim removes the directory gdir of a group whose shim is
// gone, once the shim (when known) has exited, unless a new shim has
// taken the group meanwhile or the dead one's log says why it died.
func (m *Manager) removeDeadShim(gdir string, shim int, start uint64) {
	if shim > 0 && !waitExit(shim, start, 2*time.Second) {
		unix.Kill(shim, unix.SIGKILL)
	}
	defer m.collectShimLogs()
	m.spawnMu.Lock()
	defer m.spawnMu.Unlock()
	if c, err := dialUnix(gdir, shimSock); err == nil {
		c.Close() // a new shim, started meanwhile
		return
	}
	os.Remove(filepath.Join(gdir, shimSock))
	if fi, err := os.Stat(filepath.Join(gdir, shimLog)); err == nil && fi.Size() == 0 {
		os.Remove(filepath.Join(gdir, shimLog))
	}
	os.Remove(gdir)
}

// waitShimExit waits for a shim that said it exits, and makes sure.
func waitShimExit(pid int) {
	if pid <= 0 {
		return
	}
	if start := procStartTime(pid); !waitExit(pid, start, 2*time.Second) {
		unix.Kill(pid, unix.SIGKILL)
	}
}

// collectShimLogs passes on to the Manager's logger what exited shims
// wrote to their own logs (a full disk, a panic), and removes their
// directories, which an exiting shim keeps when its log is not empty.
func (m *Manager) collectShimLogs() {
	dirs, _ := filepath.Glob(filepath.Join(m.root, shimsDir, ".exited-*"))
	for _, d := range dirs {
		pid, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(d), ".exited-"))
		if err == nil && running(pid) {
			continue // still exiting
		}
		if data, err := os.ReadFile(filepath.Join(d, shimLog)); err == nil {
			for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
				if line != "" {
					m.log.Warn("shim said", "pid", pid, "line", line)
				}
			}
		}
		os.RemoveAll(d)
	}
}

// call sends one request to the container's shim.
func (m *Manager) call(ctx context.Context, dir string, req shimRequest) (shimReply, error) {
	var reply shimReply
	c, err := dialUnix(dir, shimSock)
	if err != nil {
		return reply, err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	defer stop()
	b, _ := json.Marshal(req)
	if _, err := c.Write(append(b, '\n')); err != nil {
		return reply, err
	}
	if err := json.NewDecoder(c).Decode(&reply); err != nil {
		if ctx.Err() != nil {
			return reply, ctx.Err()
		}
		return reply, err
	}
	if reply.Error != "" {
		if reply.Exited {
			return reply, fmt.Errorf("%s: %w", reply.Error, errdefs.ErrFailedPrecondition)
		}
		return reply, errors.New(reply.Error)
	}
	return reply, nil
}

// shimGone reports whether err means the shim no longer listens, or
// stopped listening while we talked to it: it has exited or is exiting
// (it closes its socket right after recording the exit, resetting
// connections still in the backlog).
func shimGone(err error) bool {
	var op *net.OpError
	return errors.Is(err, unix.ECONNREFUSED) || errors.Is(err, unix.ENOENT) ||
		errors.Is(err, unix.EPIPE) || errors.Is(err, unix.ECONNRESET) ||
		(errors.As(err, &op) && op.Op == "read") || errors.Is(err, io.EOF)
}

// Start runs the container's process. The container must be Created.
func (m *Manager) Start(ctx context.Context, id string) error {
	dir, err := m.dir(id)
	if err != nil {
		return err
	}
	reply, err := m.call(ctx, dir, shimRequest{Op: "start"})
	m.report(id, reply.Trace)
	m.mark(id, "manager: started")
	if err != nil {
		if shimGone(err) {
			return fmt.Errorf("start container %q: not created: %w", id, errdefs.ErrFailedPrecondition)
		}
		return fmt.Errorf("start container %q: %w", id, err)
	}
	return nil
}

// State returns the container's state. A container whose shim has died
// without recording an exit is Unknown; a running one whose cgroup is
// frozen is Paused.
func (m *Manager) State(id string) (State, error) {
	dir, err := m.dir(id)
	if err != nil {
		return State{}, err
	}
	var st State
	if err := readJSON(filepath.Join(dir, stateFile), &st); err != nil {
		if errors.Is(err, errdefs.ErrNotFound) {
			if _, serr := os.Stat(dir); serr == nil {
				// Between mkdir and the shim's first write.
				return State{ID: id, Status: Unknown}, nil
			}
			return State{}, fmt.Errorf("container %q: %w", id, errdefs.ErrNotFound)
		}
		return State{}, fmt.Errorf("container %q: %w", id, err)
	}
	if st.Status == Stopped {
		return st, nil
	}
	if !alive(st.ShimPid, st.ShimStart) {
		// The shim may have just written Stopped and exited.
		var again State
		if readJSON(filepath.Join(dir, stateFile), &again) == nil && again.Status == Stopped {
			return again, nil
		}
		st.Status = Unknown
		return st, nil
	}
	if st.Status == Running {
		// One file says it; no need to find every hierarchy's directory
		// for each State.
		if (&cgroupFiles{c: m.cgroupConfig(id)}).Frozen() {
			st.Status = Paused
		}
	}
	return st, nil
}

func (m *Manager) cgroupConfig(id string) cgroupConfig {
	if m.cgroupV2Root != "" {
		return cgroupConfig{V2: true, Root: m.cgroupV2Root, Path: path.Join(m.cgroupParent, id)}
	}
	return hostCgroupConfig(path.Join(m.cgroupParent, id))
}

// List returns the state of every container under the state root, sorted
// by id.
func (m *Manager) List() ([]State, error) {
	ents, err := os.ReadDir(m.root)
	if err != nil {
		return nil, err
	}
	var out []State
	for _, e := range ents {
		if !e.IsDir() || validateID(e.Name()) != nil {
			continue
		}
		if st, err := m.State(e.Name()); err == nil {
			out = append(out, st)
		}
	}
	return out, nil
}

// Wait blocks until the container's process has exited and returns the
// final state (ExitCode, OOMKilled).
func (m *Manager) Wait(ctx context.Context, id string) (State, error) {
	dir, err := m.dir(id)
	if err != nil {
		return State{}, err
	}
	// A Manager that did not create the container (a restarted daemon)
	// takes its share of the output pipes now.
	m.held.hold(id, dir)
	reply, err := m.call(ctx, dir, shimRequest{Op: "wait"})
	if err == nil && reply.State != nil {
		m.report(id, reply.Trace)
		m.mark(id, "manager: wait answered")
		return *reply.State, nil
	}
	if ctx.Err() != nil {
		return State{}, ctx.Err()
	}
	st, serr := m.State(id)
	if serr != nil {
		return State{}, serr
	}
	if shimGone(err) && (st.Status == Running || st.Status == Paused) {
		// A killed shim's connections close before it is dead (its
		// files go before its exit is signalled): wait for the end.
		waitExit(st.ShimPid, st.ShimStart, 5*time.Second)
		if st, serr = m.State(id); serr != nil {
			return State{}, serr
		}
	}
	switch st.Status {
	case Stopped:
		return st, nil
	case Unknown:
		// The shim died: nobody waits for the container any more.
		return m.recover(id)
	}
	return st, fmt.Errorf("wait container %q: shim is gone: %w", id, errdefs.ErrUnavailable)
}

// recover takes over a container whose shim is gone (killed, or crashed):
// it reads what the container wrote to its output pipes since nobody read
// them, kills every process of its cgroup, reads the rest, and records
// the exit: 137 when it was still running (it was killed here), its own
// status when it had ended and came to us (see collect), 255 when it
// ended elsewhere (a shim a previous daemon started). A container
// whose shim is gone cannot be watched, signalled, attached to or logged
// any more, so it is stopped rather than left running unseen; its restart
// policy brings it back.
func (m *Manager) recover(id string) (State, error) {
	dir, err := m.dir(id)
	if err != nil {
		return State{}, err
	}
	st := State{ID: id}
	if err := readJSON(filepath.Join(dir, stateFile), &st); err == nil && st.Status == Stopped {
		return st, nil
	}
	var b bundle
	if err := readJSON(filepath.Join(dir, bundleFile), &b); err != nil {
		return st, fmt.Errorf("recover container %q: %w", id, err)
	}
	var drain func(final bool)
	// The pipes' content is logged once the processes are gone (killed
	// below): before, a container printing fast would keep it busy.
	if lf, err := openLogFile(b.Log); err == nil {
		defer lf.Close()
		sink := &logSink{w: lf, now: time.Now}
		if pipes, err := openOutputs(dir); err == nil {
			defer pipes[0].Close()
			defer pipes[1].Close()
			var lws [2]*lineWriter
			for i := range lws {
				lws[i] = &lineWriter{stream: outputStreams[i].name, sink: sink}
			}
			drain = func(final bool) {
				for i, p := range pipes {
					if err := drainPipe(p, lws[i]); err != nil {
						m.log.Warn("recover: log the container's output", "id", id, "err", err)
					}
					if final {
						lws[i].flush()
					}
				}
			}
		}
	}
	if drain == nil {
		drain = func(bool) {}
	}
	st.ExitCode, st.Error = 255, "its shim died, and so did its exit status"
	if running(st.Pid) {
		st.ExitCode, st.Error = 137, "its shim died; it was killed"
	} else if code, ok := m.collect(st.Pid); ok {
		// It ended, and came to us (see collect): its own status.
		st.ExitCode, st.Error = code, "its shim died"
	}
	if cg, err := openCgroupFiles(b.Cgroup); err == nil {
		cg.Thaw()
		if err := killCgroup(cg, 2*time.Second, m.reap); err != nil {
			m.log.Warn("recover: kill container", "id", id, "err", err)
		}
		st.OOMKilled = cg.OOMKills() > 0
	}
	// Everything it wrote is in the pipes, which we hold: read it now
	// that nothing adds to it.
	drain(true)
	st.Status, st.FinishedAt = Stopped, time.Now().UTC()
	if err := writeJSON(filepath.Join(dir, stateFile), st); err != nil {
		m.log.Warn("recover: record exit", "id", id, "err", err)
	}
	os.Remove(filepath.Join(dir, shimSock))
	m.log.Info("recovered a container whose shim died", "id", id, "exit", st.ExitCode)
	return st, nil
}

// A container's processes whose shim died go to the nearest child
// subreaper: the daemon makes itself one (PR_SET_CHILD_SUBREAPER), so
// they come to it rather than to an init that may collect them late, and
// they become its zombies when they end. collect and reap take them; an
// exec'd process is left to its Process.Wait.

// collect takes pid's exit status if it is an ended child of ours.
func (m *Manager) collect(pid int) (int, bool) {
	if pid <= 0 || m.isExec(pid) {
		return 0, false
	}
	var ws unix.WaitStatus
	if got, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil); err == nil && got == pid {
		return exitCode(ws), true
	}
	return 0, false
}

func (m *Manager) reap(pid int) { m.collect(pid) }

func (m *Manager) isExec(pid int) bool {
	m.execMu.Lock()
	defer m.execMu.Unlock()
	return m.execs[pid]
}

// running reports whether pid is a process that has not ended (a zombie
// has).
func running(pid int) bool { return pid > 0 && linux.ProcStartTime(pid) != 0 }

// Kill sends sig to the container's init process.
func (m *Manager) Kill(ctx context.Context, id string, sig unix.Signal) error {
	return m.kill(ctx, id, sig, false)
}

func (m *Manager) kill(ctx context.Context, id string, sig unix.Signal, all bool) error {
	dir, err := m.dir(id)
	if err != nil {
		return err
	}
	if _, err := m.call(ctx, dir, shimRequest{Op: "kill", Signal: int(sig), All: all}); err != nil {
		if errors.Is(err, errdefs.ErrFailedPrecondition) {
			return fmt.Errorf("kill container %q: %w", id, err)
		}
		if shimGone(err) {
			return fmt.Errorf("kill container %q: not running: %w", id, errdefs.ErrFailedPrecondition)
		}
		return fmt.Errorf("kill container %q: %w", id, err)
	}
	return nil
}

// Stop sends sig (SIGTERM when 0) to the container's init, waits up to
// grace for it to exit, then kills everything in the container with
// SIGKILL. It returns the final state. Stopping a stopped container
// returns its state.
func (m *Manager) Stop(ctx context.Context, id string, sig unix.Signal, grace time.Duration) (State, error) {
	if sig == 0 {
		sig = unix.SIGTERM
	}
	st, err := m.State(id)
	if err != nil || st.Status == Stopped {
		return st, err
	}
	if st.Status == Unknown {
		return m.recover(id)
	}
	if st.Status == Paused {
		// A frozen process cannot act on its signal; SIGKILL would be
		// delivered on thaw anyway.
		if err := m.Resume(id); err != nil {
			return st, err
		}
	}
	if err := m.Kill(ctx, id, sig); err != nil && !errors.Is(err, errdefs.ErrFailedPrecondition) {
		return st, err
	}
	wctx, cancel := context.WithTimeout(ctx, grace)
	st, err = m.Wait(wctx, id)
	cancel()
	if err == nil {
		return st, nil
	}
	if ctx.Err() != nil {
		return st, ctx.Err()
	}
	if err := m.kill(ctx, id, unix.SIGKILL, true); err != nil && !errors.Is(err, errdefs.ErrFailedPrecondition) {
		return st, err
	}
	return m.Wait(ctx, id)
}

// Pause freezes every process of the container.
func (m *Manager) Pause(id string) error {
	cg, err := m.cgroupFiles(id)
	if err == nil {
		err = cg.Freeze()
	}
	if err != nil {
		return fmt.Errorf("pause container %q: %w", id, err)
	}
	return nil
}

// Resume thaws a paused container.
func (m *Manager) Resume(id string) error {
	cg, err := m.cgroupFiles(id)
	if err == nil {
		err = cg.Thaw()
	}
	if err != nil {
		return fmt.Errorf("resume container %q: %w", id, err)
	}
	return nil
}

// Stats reads the container's resource usage from its cgroup.
func (m *Manager) Stats(id string) (Stats, error) {
	cg, err := m.cgroupFiles(id)
	if err != nil {
		return Stats{}, fmt.Errorf("stats of container %q: %w", id, err)
	}
	return cg.Stats()
}

// cgroupFiles finds the container's cgroup; a container without one (not
// created yet, or removed) is errdefs.ErrNotFound.
func (m *Manager) cgroupFiles(id string) (*cgroupFiles, error) {
	if err := validateID(id); err != nil {
		return nil, err
	}
	cg, err := openCgroupFiles(m.cgroupConfig(id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %w", err, errdefs.ErrNotFound)
	}
	return cg, err
}

// Delete removes a stopped or created container: its cgroup and its state
// directory with the log. With force, a running or paused container is
// killed first. Nothing
// of the container remains afterwards: its mounts and namespaces died
// with its last process. Deleting a missing container returns
// errdefs.ErrNotFound.
func (m *Manager) Delete(ctx context.Context, id string, force bool) error {
	dir, err := m.dir(id)
	if err != nil {
		return err
	}
	st, err := m.State(id)
	if err != nil {
		return err
	}
	if st.Status == Unknown {
		// Keep what it printed since its shim died.
		m.recover(id)
	}
	if st.Status != Stopped && st.Status != Unknown {
		// A created container has never run anything: remove it as
		// Docker does, without force.
		if !force && st.Status != Created {
			return fmt.Errorf("delete container %q: it is %s: %w", id, st.Status, errdefs.ErrFailedPrecondition)
		}
		// Best effort: cleanup kills whatever is left in the cgroup and
		// waits for the shim anyway.
		if _, err := m.Stop(ctx, id, unix.SIGKILL, 0); err != nil {
			m.log.Debug("stop before delete", "id", id, "err", err)
		}
	}
	if err := m.cleanup(id, dir); err != nil {
		return fmt.Errorf("delete container %q: %w", id, err)
	}
	return nil
}

// cleanup removes what a container leaves outside its processes: the
// cgroup (after killing anything still in it) and the state directory.
func (m *Manager) cleanup(id, dir string) error {
	m.held.release(id)
	var errs []error
	var b bundle
	readJSON(filepath.Join(dir, bundleFile), &b)
	var st State
	readJSON(filepath.Join(dir, stateFile), &st)
	if cg, err := openCgroupFiles(m.cgroupConfig(id)); err == nil {
		cg.Thaw()
		if err := killCgroup(cg, 2*time.Second, m.reap); err != nil {
			errs = append(errs, err)
		}
		if err := cg.Delete(); err != nil {
			errs = append(errs, fmt.Errorf("delete cgroup: %w", err))
		}
	}
	m.mark(id, "manager: cgroup removed")
	// The directory leaves the container's path before its shim hears of
	// the removal: a create of it that the shim takes only now (sent by a
	// daemon killed since) finds no bundle, and one under way fails at
	// its next write, rather than serving a container nobody knows of.
	removed := filepath.Join(m.root, removedPrefix+id)
	if err := os.Rename(dir, removed); err != nil {
		removed = dir // gone already, or a leftover of an earlier removal in the way
	}
	if b.Group != "" {
		// Its processes are gone: the shim has only the exit to record.
		m.retire(b.Group, dir, st.ShimPid, st.ShimStart)
		m.mark(id, "manager: shim told")
	}
	if err := os.RemoveAll(removed); err != nil {
		errs = append(errs, err)
	}
	m.mark(id, "manager: state removed")
	// Whichever removal takes the last container takes the cgroup parent
	// too, be it rm's or one a restart or a recovery ran beside it.
	m.parentMu.Lock()
	if !m.hasContainers() {
		m.removeCgroupParent()
	}
	m.parentMu.Unlock()
	return errors.Join(errs...)
}

// hasContainers reports whether any container directory is left. It
// reads the directory a batch at a time and stops at the first container:
// a down of N containers asks N times, and a whole listing each time made
// that N².
func (m *Manager) hasContainers() bool {
	d, err := os.Open(m.root)
	if err != nil {
		return true
	}
	defer d.Close()
	for {
		ents, err := d.ReadDir(32)
		for _, e := range ents {
			if e.IsDir() && validateID(e.Name()) == nil {
				return true
			}
		}
		if err != nil {
			return !errors.Is(err, io.EOF)
		}
	}
}

// Attach connects to the terminal of a container created with
// spec.Process.Terminal: what is written to the returned connection is
// the terminal's input, and everything the container writes to it from
// now on can be read from it (it is also in the log). Several clients may
// attach at once. The connection ends when the container exits or the
// caller closes it.
func (m *Manager) Attach(ctx context.Context, id string) (net.Conn, error) {
	dir, err := m.dir(id)
	if err != nil {
		return nil, err
	}
	c, err := dialUnix(dir, shimSock)
	if err != nil {
		if shimGone(err) {
			return nil, fmt.Errorf("attach to %q: not running: %w", id, errdefs.ErrFailedPrecondition)
		}
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	defer stop()
	b, _ := json.Marshal(shimRequest{Op: "attach"})
	if _, err := c.Write(append(b, '\n')); err != nil {
		c.Close()
		return nil, err
	}
	// Read the reply byte by byte: what follows it is the terminal's.
	var line []byte
	one := make([]byte, 1)
	for {
		if _, err := c.Read(one); err != nil {
			c.Close()
			return nil, fmt.Errorf("attach to %q: %w", id, err)
		}
		if one[0] == '\n' {
			break
		}
		line = append(line, one[0])
	}
	var reply shimReply
	if err := json.Unmarshal(line, &reply); err != nil || reply.Error != "" {
		c.Close()
		if err == nil {
			err = fmt.Errorf("%s: %w", reply.Error, errdefs.ErrFailedPrecondition)
		}
		return nil, fmt.Errorf("attach to %q: %w", id, err)
	}
	return c, nil
}

// Resize sets the size of the container's terminal.
func (m *Manager) Resize(ctx context.Context, id string, width, height uint16) error {
	dir, err := m.dir(id)
	if err != nil {
		return err
	}
	if _, err := m.call(ctx, dir, shimRequest{Op: "resize", Width: width, Height: height}); err != nil {
		return fmt.Errorf("resize terminal of %q: %w", id, err)
	}
	return nil
}

// report passes the points to the Manager's Trace.
func (m *Manager) report(id string, points []tracePoint) {
	if m.trace == nil {
		return
	}
	for _, p := range points {
		m.trace(id, p.Phase, time.Unix(0, p.At))
	}
}

// mark reports a phase the Manager itself has just ended.
func (m *Manager) mark(id, phase string) {
	if m.trace != nil {
		m.trace(id, phase, time.Now())
	}
}

// execBinary is the program that starts a process exec'd in a container
// of spec: the init binary (opened by the Manager, as root), unless the
// container's root, in a user namespace of its own, may not execute it.
func (m *Manager) execBinary(spec *specs.Spec) string {
	if m.initBinary != "" && (!hasUserNS(spec) || m.initForAll) {
		return m.initBinary
	}
	return m.shimBinary
}
