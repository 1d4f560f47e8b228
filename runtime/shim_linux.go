//go:build !stackinit

package runtime

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/stack-dev/stack/internal/linux"
)

// shimRequest is one request on the shim's control socket; each
// connection carries one request and one [shimReply].
type shimRequest struct {
	Op     string `json:"op"` // "start", "kill", "wait", "resize" or "attach"
	Signal int    `json:"signal,omitempty"`
	// All sends Signal to every process in the container's cgroup.
	All bool `json:"all,omitempty"`
	// Width and Height are the terminal size for "resize".
	Width  uint16 `json:"width,omitempty"`
	Height uint16 `json:"height,omitempty"`
}

type shimReply struct {
	Error string `json:"error,omitempty"`
	// Exited marks an Error caused by the container having exited.
	Exited bool   `json:"exited,omitempty"`
	State  *State `json:"state,omitempty"` // for "wait": the final state
	// Trace has the shim's moments since the last reply (trace.go).
	Trace []tracePoint `json:"trace,omitempty"`
}

// shim is what a shim process keeps of one of its containers: it is the
// parent of the container's init, the writer of its log and state.
type shim struct {
	dir    string
	b      bundle
	cg     cgroup
	cmd    *exec.Cmd
	waited <-chan unix.WaitStatus // the init's exit, once it has exited
	sync   *syncConn
	logs   sync.WaitGroup
	mu     sync.Mutex // guards state
	state  State
	exited chan struct{} // closed once state holds the exit
	// retired is closed when the Manager has removed the container (see
	// supervisor): until then a shim that could not record the exit
	// keeps answering for it.
	retired chan struct{}
	init    *initExe // the group's init binary (nil: the shim's own)
	tty     *console // nil unless spec.Process.Terminal
	trace   trace    // when the bundle asks (Options.Trace)
	exitAt  int64    // when the init's exit was seen, for the trace
}

// create starts the container's init and waits until it is ready to exec.
func (s *shim) create() (ln net.Listener, retErr error) {
	spec := s.b.Spec
	defer func() {
		if retErr != nil {
			if s.cmd != nil && s.cmd.Process != nil {
				s.cmd.Process.Kill()
				if s.waited != nil {
					<-s.waited
					s.cmd.Process.Release()
				} else {
					s.cmd.Wait()
				}
			}
			if s.cg != nil {
				killCgroup(s.cg, time.Second, nil)
				s.cg.Delete()
			}
		}
	}()
	// The init is born in its cgroup: cloned into it on v2, cloned from
	// a thread that entered it on v1 (see enterCgroupThread).
	s.trace.on = s.b.Trace
	cg, err := createCgroup(s.b.Cgroup, spec.Linux.Resources)
	if err != nil {
		return nil, err
	}
	s.cg = cg
	s.trace.mark("shim: cgroup")
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("socketpair", err)
	}
	parent, child := os.NewFile(uintptr(fds[0]), "sync"), os.NewFile(uintptr(fds[1]), "sync-child")
	// Closed as soon as the init has its copy (below), so that an init
	// killed before it is ready reads as EOF here, not as a wait forever.
	defer child.Close()
	log, err := openLogFile(s.b.Log)
	if err != nil {
		return nil, err
	}
	terminal := spec.Process.Terminal
	var outputs, readEnds [2]*os.File
	if !terminal {
		if outputs, readEnds, err = createOutputs(s.dir); err != nil {
			return nil, err
		}
		if err := chownStdio(spec, outputs[:]); err != nil {
			return nil, err
		}
	}
	flags, joins, err := namespaceFlags(spec.Linux.Namespaces, s.b.NetNS)
	if err != nil {
		return nil, err
	}
	// The clone's thread may be in a devices cgroup that denies
	// /dev/null, which exec.Cmd would open there for unset stdio.
	devNull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	defer devNull.Close()
	s.cmd = &exec.Cmd{
		Path:       "/proc/self/exe",
		Args:       []string{"stack-init", "init"},
		Env:        []string{envRole + "=" + roleContainer, envInitPipe + "=3", envProto + "=" + protocol},
		ExtraFiles: []*os.File{child},
		Dir:        "/",
		SysProcAttr: &syscall.SysProcAttr{
			Cloneflags: flags,
			Setsid:     true,
		},
	}
	if s.trace.on {
		s.cmd.Env = append(s.cmd.Env, envTrace+"=1")
	}
	if s.b.Cgroup.V2 {
		// Clone straight into the cgroup (clone3 CLONE_INTO_CGROUP): no
		// migration afterwards, so no cgroup_threadgroup_rwsem writer
		// and its RCU grace period.
		dir, err := linux.Open(filepath.Join(s.b.Cgroup.Root, s.b.Cgroup.Path), unix.O_DIRECTORY|unix.O_RDONLY, 0)
		if err != nil {
			return nil, err
		}
		defer dir.Close()
		s.cmd.SysProcAttr.UseCgroupFD = true
		s.cmd.SysProcAttr.CgroupFD = int(dir.Fd())
	}
	cfg := &initConfig{
		Spec: spec, Rootfs: s.b.Rootfs, Init: s.b.Init,
		CgroupNS: hasNamespace(spec.Linux.Namespaces, specs.CgroupNamespace),
		CgroupV2: s.b.Cgroup.V2,
		Seccomp:  s.b.Seccomp,
	}
	if !cfg.CgroupV2 {
		if cfg.CgroupV1, err = hostCgroupV1(); err != nil {
			return nil, fmt.Errorf("list the host's cgroup hierarchies: %w", err)
		}
	}
	if hasUserNS(spec) {
		trees, err := usernsClone(&s.b, cfg, s.cmd.SysProcAttr, &s.cmd.ExtraFiles)
		if err != nil {
			return nil, err
		}
		defer func() {
			for _, f := range trees {
				f.Close()
			}
		}()
	}
	if ie := s.init; ie != nil && (!hasUserNS(spec) || ie.forAll) {
		// Last of the inherited files, so that its number is known; the
		// init closes it first thing.
		s.cmd.ExtraFiles = append(s.cmd.ExtraFiles, ie.f)
		fd := strconv.Itoa(2 + len(s.cmd.ExtraFiles))
		s.cmd.Path = "/proc/self/fd/" + fd
		s.cmd.Env = append(s.cmd.Env, envInitExe+"="+fd)
	}
	s.cmd.Stdin, s.cmd.Stdout, s.cmd.Stderr = devNull, devNull, devNull
	if !terminal {
		s.cmd.Stdout, s.cmd.Stderr = outputs[0], outputs[1]
	}
	err = startInNamespaces(s.cmd, enterCgroupThread(cg), joins)
	child.Close()
	if !terminal {
		outputs[0].Close()
		outputs[1].Close()
	}
	if err != nil {
		if s.init != nil && s.cmd.Path != "/proc/self/exe" {
			return nil, fmt.Errorf("start init from %s: %w", s.init.path, err)
		}
		return nil, fmt.Errorf("start init: %w", err)
	}
	s.trace.mark("shim: clone and exec of the init")
	if s.waited, err = waitChild(s.cmd.Process.Pid); err != nil {
		return nil, err
	}
	sink := &logSink{w: log, now: time.Now}
	if !terminal {
		for i, r := range readEnds {
			s.logs.Add(1)
			go func() {
				defer s.logs.Done()
				defer r.Close()
				if err := followPipe(r, &lineWriter{stream: outputStreams[i].name, sink: sink}); err != nil {
					fmt.Fprintf(os.Stderr, "log the container's %s: %v\n", outputStreams[i].name, err)
				}
			}()
		}
	}
	pid := s.cmd.Process.Pid
	s.sync = newSyncConn(parent)
	if err := s.sync.send(syncMsg{Type: msgConfig, Config: cfg}); err != nil {
		return nil, fmt.Errorf("send config to init: %w", err)
	}
	if terminal {
		master, err := recvFile(parent, "console")
		if err != nil {
			// The init failed before allocating the terminal; its
			// error message follows (the byte we took was its "{").
			s.sync.unread([]byte("{"))
			if _, rerr := s.sync.expect(msgReady); rerr != nil && rerr != io.EOF {
				err = rerr
			}
			return nil, fmt.Errorf("prepare container: %w", err)
		}
		s.tty = newConsole(master)
		s.logs.Add(1)
		go func() {
			defer s.logs.Done()
			s.tty.copyOut(sink)
		}()
	}
	ready, err := s.sync.expect(msgReady)
	if err == nil {
		s.trace.points = append(s.trace.points, ready.Trace...)
		s.trace.mark("shim: ready")
	}
	if err != nil {
		if err == io.EOF {
			err = errors.New("init exited before it was ready")
		}
		return nil, fmt.Errorf("prepare container: %w", err)
	}
	s.state = State{
		ID: s.b.ID, Status: Created, Pid: pid,
		ShimPid: os.Getpid(), ShimStart: shimStart(),
		Rootfs: s.b.Rootfs, CgroupPath: s.b.Cgroup.Path, CreatedAt: time.Now().UTC(),
	}
	if err := s.saveState(); err != nil {
		return nil, err
	}
	return listenUnix(s.dir, shimSock)
}

// shimStart is this process's start time, the second half of its
// identity in State.
var shimStart = sync.OnceValue(func() uint64 { return procStartTime(os.Getpid()) })

// nsJoin is a namespace to join by path before cloning the init.
type nsJoin struct {
	path string
	flag int
}

// cloneFlag returns the clone(2) flag of a namespace type.
func cloneFlag(t specs.LinuxNamespaceType) (int, bool) {
	switch t {
	case specs.MountNamespace:
		return unix.CLONE_NEWNS, true
	case specs.PIDNamespace:
		return unix.CLONE_NEWPID, true
	case specs.UTSNamespace:
		return unix.CLONE_NEWUTS, true
	case specs.IPCNamespace:
		return unix.CLONE_NEWIPC, true
	case specs.NetworkNamespace:
		return unix.CLONE_NEWNET, true
	case specs.CgroupNamespace:
		return unix.CLONE_NEWCGROUP, true
	case specs.UserNamespace:
		return unix.CLONE_NEWUSER, true
	}
	return 0, false
}

// namespaceFlags turns the spec's namespaces into clone flags (new ones)
// and joins (given by path; netns overrides the network entry). The cgroup
// namespace is left out of the clone flags: the init unshares it once it
// is in its cgroup.
func namespaceFlags(ns []specs.LinuxNamespace, netns string) (uintptr, []nsJoin, error) {
	var flags uintptr
	var joins []nsJoin
	for _, n := range ns {
		f, ok := cloneFlag(n.Type)
		if !ok {
			return 0, nil, fmt.Errorf("namespace %q: not supported", n.Type)
		}
		path := n.Path
		if n.Type == specs.NetworkNamespace && netns != "" {
			path = netns
		}
		switch {
		case path != "":
			joins = append(joins, nsJoin{path, f})
		case n.Type != specs.CgroupNamespace && n.Type != specs.UserNamespace:
			// (a user namespace: see usernsClone)
			flags |= uintptr(f)
		}
	}
	return flags, joins, nil
}

// startInNamespaces starts cmd from a thread that has run enter (when not
// nil) and joined joins, so the child is born in them. setns(2) and
// enter change only the calling thread; the thread is never unlocked, so
// the Go runtime ends it with its goroutine instead of reusing a thread in
// foreign namespaces or cgroups.
func startInNamespaces(cmd *exec.Cmd, enter func() error, joins []nsJoin) error {
	if enter == nil && len(joins) == 0 {
		return cmd.Start()
	}
	errc := make(chan error, 1)
	go func() {
		goruntime.LockOSThread()
		// Before the joins: a joined mount namespace has other paths.
		if enter != nil {
			if err := enter(); err != nil {
				errc <- err
				return
			}
		}
		for _, j := range joins {
			if j.flag == unix.CLONE_NEWNS {
				// setns(CLONE_NEWNS) refuses a thread sharing its fs_struct
				// (root, cwd) with others, which every Go thread does.
				if err := linux.Unshare(unix.CLONE_FS); err != nil {
					errc <- err
					return
				}
			}
			if err := linux.SetnsPath(j.path, j.flag); err != nil {
				errc <- err
				return
			}
		}
		errc <- cmd.Start()
	}()
	return <-errc
}

// listenUnix listens on dir/name. The path goes through /proc/self/fd so
// that a long state root never overflows sun_path (108 bytes).
func listenUnix(dir, name string) (net.Listener, error) {
	d, err := linux.Open(dir, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	os.Remove(filepath.Join(dir, name))
	ln, err := net.Listen("unix", fmt.Sprintf("/proc/self/fd/%d/%s", d.Fd(), name))
	if err != nil {
		return nil, err
	}
	// Close would unlink the path it was given, through a descriptor
	// number closed above and maybe reused for another directory since:
	// callers remove the socket themselves.
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	return ln, nil
}

func dialUnix(dir, name string) (net.Conn, error) {
	d, err := linux.Open(dir, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	return net.Dial("unix", fmt.Sprintf("/proc/self/fd/%d/%s", d.Fd(), name))
}

func (s *shim) saveState() error {
	return writeJSON(filepath.Join(s.dir, stateFile), s.state)
}

// serve answers requests until the container has exited and every waiter
// has its answer.
func (s *shim) serve(ln net.Listener) {
	var conns sync.WaitGroup
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go func() {
				defer conns.Done()
				defer c.Close()
				s.handle(c)
			}()
		}
	}()
	var ws unix.WaitStatus
	abandoned := false
	select {
	case ws = <-s.waited:
	case <-s.retired:
		// Removed while it runs: the Manager, which kills a container's
		// processes before it removes it, did so as we were still
		// creating it (a daemon that died during its up left it
		// "creating", and the next one cleaned it up). Nobody will start
		// or wait for it: end it, and take its cgroup.
		abandoned = true
		s.cmd.Process.Signal(unix.SIGKILL) // in its cgroup or not
		killCgroup(s.cg, 2*time.Second, nil)
		ws = <-s.waited
	}
	code := exitCode(ws)
	s.exitAt = time.Now().UnixNano()
	s.cmd.Process.Release()
	// The pipes' writers are gone when the last process of the
	// container is; one that escaped the PID namespace must not hold us
	// forever.
	done := make(chan struct{})
	go func() { s.logs.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
	}
	s.mu.Lock()
	s.state.Status = Stopped
	s.state.ExitCode = code
	s.state.OOMKilled = s.cg.OOMKills() > 0
	s.state.FinishedAt = time.Now().UTC()
	var saveErr error
	if !abandoned {
		saveErr = s.saveState()
	}
	s.mu.Unlock()
	close(s.exited) // waiters get the final state from memory
	if s.tty != nil {
		s.tty.closeAll()
	}
	if abandoned {
		if err := s.cg.Delete(); err != nil {
			fmt.Fprintf(os.Stderr, "container %s: removed while it was created: delete its cgroup: %v\n", s.b.ID, err)
		}
	}
	if saveErr != nil && s.retired != nil {
		// The exit is not on disk (a full one): answer from memory
		// until the Manager, which has read it, removes the container.
		fmt.Fprintf(os.Stderr, "container %s: record its exit: %v; it is kept in memory until the container is removed\n", s.b.ID, saveErr)
		<-s.retired
	}
	ln.Close()
	os.Remove(filepath.Join(s.dir, shimSock))
	// Let the waiters read their answer, but do not hang on a client.
	served := make(chan struct{})
	go func() { conns.Wait(); close(served) }()
	select {
	case <-served:
	case <-time.After(5 * time.Second):
	}
}

func (s *shim) handle(c net.Conn) {
	var req shimRequest
	dec := json.NewDecoder(c)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if err := dec.Decode(&req); err != nil {
		return
	}
	c.SetReadDeadline(time.Time{})
	var reply shimReply
	if req.Op == "attach" {
		if s.tty == nil {
			reply.Error = errNoTerminal.Error()
		}
		b, _ := json.Marshal(reply)
		c.Write(append(b, '\n'))
		if s.tty != nil {
			// The request's newline is not terminal input.
			rest, _ := io.ReadAll(dec.Buffered())
			s.tty.attach(c, bytes.NewReader(bytes.TrimPrefix(rest, []byte("\n"))))
		}
		return
	}
	if err := s.do(req, &reply); err != nil {
		reply.Error = err.Error()
	}
	b, _ := json.Marshal(reply)
	c.Write(append(b, '\n'))
}

func (s *shim) do(req shimRequest, reply *shimReply) error {
	switch req.Op {
	case "start":
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.state.Status != Created {
			return fmt.Errorf("container is %s, not created", s.state.Status)
		}
		if err := s.sync.send(syncMsg{Type: msgRun}); err != nil {
			return err
		}
		// EOF: the socket closed on exec, the process runs.
		m, err := s.sync.recv()
		if err != io.EOF {
			switch {
			case err == nil && m.Type == msgError:
				err = m.err()
			case err == nil:
				err = fmt.Errorf("unexpected message %q from init", m.Type)
			}
			s.state.Error = err.Error()
			return fmt.Errorf("exec process: %w", err)
		}
		s.sync.f.Close()
		s.trace.mark("shim: exec of the process")
		reply.Trace = s.trace.take()
		s.state.Status = Running
		s.state.StartedAt = time.Now().UTC()
		return s.saveState()
	case "kill":
		sig := unix.Signal(req.Signal)
		select {
		case <-s.exited:
			reply.Exited = true
			return errors.New("container has exited")
		default:
		}
		if req.All {
			pids, err := s.cg.Procs()
			if err != nil {
				return err
			}
			for _, p := range pids {
				unix.Kill(p, sig)
			}
			return nil
		}
		if err := unix.Kill(s.state.Pid, sig); err != nil && err != unix.ESRCH {
			return err
		}
		return nil
	case "resize":
		if s.tty == nil {
			return errNoTerminal
		}
		return s.tty.resize(req.Width, req.Height)
	case "wait":
		<-s.exited
		s.mu.Lock()
		st := s.state
		s.mu.Unlock()
		reply.State = &st
		if s.trace.on && s.exitAt != 0 {
			reply.Trace = []tracePoint{{"shim: exit seen", s.exitAt}}
		}
		return nil
	}
	return fmt.Errorf("unknown op %q", req.Op)
}

// usernsClone sets up the clone of a user-namespaced init: the maps, root
// of the namespace, and the mount trees the init needs (see above), which
// are appended to cmd.ExtraFiles and named in cfg. The caller closes the
// returned files once the child has started.
func usernsClone(b *bundle, cfg *initConfig, attr *syscall.SysProcAttr, extra *[]*os.File) (files []*os.File, retErr error) {
	spec := b.Spec
	uids, luids := idMaps(spec.Linux.UIDMappings)
	gids, lgids := idMaps(spec.Linux.GIDMappings)
	attr.Cloneflags |= unix.CLONE_NEWUSER
	attr.UidMappings, attr.GidMappings = uids, gids
	attr.GidMappingsEnableSetgroups = true
	attr.Credential = &syscall.Credential{Uid: 0, Gid: 0}
	defer func() {
		if retErr != nil {
			for _, f := range files {
				f.Close()
			}
			files = nil
		}
	}()
	add := func(f *os.File) int {
		files = append(files, f)
		*extra = append(*extra, f)
		return 2 + len(*extra) // ExtraFiles start at 3
	}
	root, err := openTree(b.Rootfs, true)
	if err != nil {
		return nil, fmt.Errorf("open root file system: %w", err)
	}
	cfg.UserNS = true
	cfg.RootfsFD = add(root)
	ns, err := linux.NewUserNS(luids, lgids)
	if err != nil {
		return nil, err
	}
	defer ns.Close()
	cfg.MountFDs = map[int]int{}
	for i, m := range spec.Mounts {
		flags, propagation, _ := parseMountOptions(m.Options)
		if m.Type != "bind" && flags&unix.MS_BIND == 0 {
			continue
		}
		f, err := idmappedTree(m.Source, ns, flags, propagation)
		if err != nil {
			return nil, fmt.Errorf("mount %s: %w", m.Destination, err)
		}
		cfg.MountFDs[i] = add(f)
	}
	return files, nil
}
