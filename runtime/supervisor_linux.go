//go:build !stackinit

package runtime

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

func init() { roles[roleShim] = supervisorMain }

// A shim process serves every container of one group (a project, for the
// daemon): it is their parent, the writer of their logs and states, and
// the server of each one's control socket. One process for many
// containers is what makes a running container cheap: a Go process costs
// about 1 MiB of its own memory and 2 ms to start, a container served by
// a running one a few goroutines and file descriptors.
//
// The Manager starts the group's shim when it has none, with its
// directory <StateRoot>/.shims/<group>:
//
//	shim.sock   the group's socket: "create" a container, "retire" one
//	shim.log    the shim's own stderr
//
// and sends it "create" with a container's state directory. The shim
// answers at once that it took the request, then with the init's pid or
// why there is none, and from then on serves the container's own
// shim.sock (start, kill, wait, resize, attach) as a shim of its own
// would. When it serves no container any more it moves its directory
// away, removes it and exits; a Manager that finds the socket gone (or
// closed before the shim took its request) starts a new one.
//
// Containers still outlive the daemon (the shim is in a session of its
// own), a dead shim is still noticed (State.ShimPid is the shim's: its
// containers become Unknown and are recovered, their output kept in the
// pipes the Manager holds), but a shim's death now takes every container
// of its group with it, as a pod's shim does in containerd.

const shimsDir = ".shims" // under the state root; not a valid container id

// groupRequest is one request on a group's socket.
type groupRequest struct {
	Op  string `json:"op"`  // "create" or "retire"
	Dir string `json:"dir"` // the container's state directory
	// ExitIfIdle, on "retire", has a shim that serves nothing exit: the
	// Manager sets it when it has no create on its way to the group, so
	// a shim started by a daemon killed before its first request goes
	// with the next daemon's cleanup, and one just started for a create
	// stays.
	ExitIfIdle bool `json:"exitIfIdle,omitempty"`
}

// groupReply answers a groupRequest. "create" is answered twice: first
// {"taken":true}, so that a client can tell a shim that closed before
// taking the request (safe to ask another) from one that died while
// creating; then with Pid or Error.
type groupReply struct {
	Taken bool   `json:"taken,omitempty"`
	Pid   int    `json:"pid,omitempty"` // the container's init
	Error string `json:"error,omitempty"`
	Class string `json:"class,omitempty"` // Error's class (see syncMsg)
	// Exiting says the shim serves no container any more and exits;
	// Shim is its pid.
	Exiting bool `json:"exiting,omitempty"`
	Shim    int  `json:"shim,omitempty"`
	// Trace has the shim's and the init's moments of the creation.
	Trace []tracePoint `json:"trace,omitempty"`
}

// supervisor is the shim process's state.
type supervisor struct {
	dir  string // <StateRoot>/.shims/<group>
	root string // <StateRoot>: container directories are its children
	ln   net.Listener

	// init is the binary every init of the group is exec'd from (nil:
	// this one's own).
	init *initExe

	mu      sync.Mutex
	live    map[string]*served // by container directory
	closing bool
	done    chan struct{} // closed once closing is set
}

// supervisorMain runs the shim: it listens on the group's socket, says so
// on the ready pipe, and serves until it has no container left.
func supervisorMain() error {
	// Resident for as long as its containers run: keep the heap small.
	// No soft memory limit: its live heap grows with the containers it
	// serves, and a fixed limit made it collect ever more often as it
	// neared it, every collection scanning every container's goroutines
	// (with 16 MiB, each container of a 100-service up cost the shim a
	// fifth more CPU than one of a 10-service up; without, the same).
	debug.SetGCPercent(25)
	// Nothing but SIGKILL should end a shim early: it has no terminal,
	// and a hangup or interrupt aimed at the daemon's process group must
	// not orphan its containers.
	signal.Ignore(unix.SIGHUP, unix.SIGINT, unix.SIGPIPE)
	ready, err := inheritedFile(envInitPipe)
	if err != nil {
		return err
	}
	unix.CloseOnExec(int(ready.Fd()))
	dir := os.Getenv(envStateDir)
	report := func(v any) {
		b, _ := json.Marshal(v)
		ready.Write(append(b, '\n'))
		ready.Close()
	}
	init, err := openInitExe(os.Getenv(envInitBinary))
	if err != nil {
		report(map[string]string{"error": err.Error()})
		return err
	}
	ln, err := listenUnix(dir, shimSock)
	if err != nil {
		report(map[string]string{"error": err.Error()})
		return err
	}
	sv := &supervisor{
		dir: dir, root: filepath.Dir(filepath.Dir(dir)), ln: ln, init: init,
		live: map[string]*served{}, done: make(chan struct{}),
	}
	report(map[string]int{"pid": os.Getpid()})
	// A Manager that started us and died before its request came in
	// leaves us with nothing to serve.
	time.AfterFunc(10*time.Second, sv.exitIfIdle)
	var handlers sync.WaitGroup
	for {
		c, err := ln.Accept()
		if err != nil {
			break
		}
		handlers.Add(1)
		go func() {
			defer handlers.Done()
			defer c.Close()
			sv.handle(c)
		}()
	}
	<-sv.done
	// Let the last replies ("retire") go out, without hanging on a client.
	finished := make(chan struct{})
	go func() { handlers.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(5 * time.Second):
	}
	return nil
}

func (sv *supervisor) handle(c net.Conn) {
	var req groupRequest
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if err := json.NewDecoder(c).Decode(&req); err != nil {
		return
	}
	c.SetReadDeadline(time.Time{})
	reply := func(r groupReply) {
		b, _ := json.Marshal(r)
		c.Write(append(b, '\n'))
	}
	if filepath.Dir(req.Dir) != sv.root || validateID(filepath.Base(req.Dir)) != nil {
		reply(groupReply{Error: fmt.Sprintf("%q is not a container directory of %s", req.Dir, sv.root)})
		return
	}
	switch req.Op {
	case "create":
		sd, ok := sv.take(req.Dir)
		if !ok {
			return // closing: the client asks a new shim
		}
		reply(groupReply{Taken: true})
		taken := time.Now().UnixNano()
		pid, trace, err := sv.create(req.Dir, sd, taken)
		if err != nil {
			sv.mu.Lock()
			exiting := sv.closing
			sv.mu.Unlock()
			reply(groupReply{Error: err.Error(), Class: errorMsg(err).Class, Exiting: exiting, Shim: os.Getpid()})
			return
		}
		reply(groupReply{Pid: pid, Trace: trace})
	case "retire":
		sv.mu.Lock()
		sd := sv.live[req.Dir]
		sv.mu.Unlock()
		if sd != nil {
			// The Manager removes a container once its processes are
			// gone; what is left to us is recording its exit.
			sd.retireOnce.Do(func() { close(sd.retired) })
			select {
			case <-sd.done:
			case <-time.After(5 * time.Second):
			}
		}
		// A shim exits when its last container is served (a new one,
		// whose first request is on its way, has served none), and when
		// it serves none and the Manager has no request on its way.
		sv.mu.Lock()
		exiting := sv.closing
		if req.ExitIfIdle {
			exiting = sv.exitLocked()
		}
		sv.mu.Unlock()
		reply(groupReply{Exiting: exiting, Shim: os.Getpid()})
	default:
		reply(groupReply{Error: fmt.Sprintf("unknown op %q", req.Op)})
	}
}

// served is a container the shim serves.
type served struct {
	done       chan struct{} // closed when served to the end
	retired    chan struct{} // closed by "retire"
	retireOnce sync.Once
}

// take counts a container in, unless the shim is closing.
func (sv *supervisor) take(dir string) (*served, bool) {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	if sv.closing {
		return nil, false
	}
	if _, ok := sv.live[dir]; ok {
		return nil, false
	}
	sd := &served{done: make(chan struct{}), retired: make(chan struct{})}
	sv.live[dir] = sd
	return sd, true
}

// create creates the container in dir and serves it from another
// goroutine until it has exited.
func (sv *supervisor) create(dir string, sd *served, taken int64) (int, []tracePoint, error) {
	s := &shim{dir: dir, exited: make(chan struct{}), retired: sd.retired, init: sv.init}
	finish := func() {
		sv.mu.Lock()
		delete(sv.live, dir)
		close(sd.done)
		sv.exitLocked()
		sv.mu.Unlock()
	}
	if err := readJSON(filepath.Join(dir, bundleFile), &s.b); err != nil {
		finish()
		return 0, nil, err
	}
	if s.b.Trace {
		s.trace.points = []tracePoint{{"shim: request taken", taken}}
	}
	ln, err := s.create()
	if err != nil {
		finish()
		return 0, nil, err
	}
	trace := s.trace.take()
	go func() {
		defer finish()
		s.serve(ln)
	}()
	return s.state.Pid, trace, nil
}

// exitIfIdle ends the shim if it serves nothing.
func (sv *supervisor) exitIfIdle() {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	sv.exitLocked()
}

// exitLocked starts the shim's exit when it serves no container, and
// reports whether it is exiting. Its directory is renamed out of the
// group's path first, in one step: a Manager that finds the path gone
// starts a new shim in a fresh directory, which nothing of this one
// touches afterwards.
func (sv *supervisor) exitLocked() bool {
	if sv.closing {
		return true
	}
	if len(sv.live) > 0 {
		return false
	}
	sv.closing = true
	gone := filepath.Join(filepath.Dir(sv.dir), fmt.Sprintf(".exited-%d", os.Getpid()))
	if err := os.Rename(sv.dir, gone); err != nil {
		fmt.Fprintf(os.Stderr, "stack shim %d: exiting: %v\n", os.Getpid(), err)
	} else {
		os.Remove(filepath.Join(gone, shimSock))
		if fi, err := os.Stat(filepath.Join(gone, shimLog)); err == nil && fi.Size() == 0 {
			os.Remove(filepath.Join(gone, shimLog))
		}
		// Kept when the log is not empty: it says what went wrong.
		os.Remove(gone)
	}
	sv.ln.Close()
	close(sv.done)
	return true
}

// waitChild returns a channel that receives the wait status of child pid
// once it has exited, and reaps it. It waits on a pidfd in the Go
// runtime's poller, so a shim serving many containers does not hold a
// thread blocked in wait(2) for each.
func waitChild(pid int) (<-chan unix.WaitStatus, error) {
	fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK)
	if err != nil {
		return nil, os.NewSyscallError("pidfd_open", err)
	}
	f := os.NewFile(uintptr(fd), "pidfd")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	ch := make(chan unix.WaitStatus, 1)
	go func() {
		defer f.Close()
		var ws unix.WaitStatus
		rc.Read(func(uintptr) bool {
			for {
				got, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil)
				switch {
				case err == unix.EINTR:
					continue
				case err == nil && got == 0:
					return false // not yet: wait for the pidfd to be readable
				case err != nil:
					// Not our child any more (ECHILD): nothing to report.
					ws = unix.WaitStatus(255 << 8)
				}
				return true
			}
		})
		ch <- ws
	}()
	return ch, nil
}

// initExe is the init binary a shim opened when it started: every init it
// starts is exec'd from this descriptor (/proc/self/fd/N), as it was from
// /proc/self/exe before there was one. So all of them are the file that
// was there when the shim started, of the Manager's build, even once an
// upgrade has replaced it on disk; and a container's root in a user
// namespace reaches it without searching the directories above it.
type initExe struct {
	f    *os.File
	path string
	// forAll says whether others may execute it, as the root of a
	// container with a user namespace of its own is.
	forAll bool
}

func openInitExe(path string) (*initExe, error) {
	if path == "" {
		return nil, nil
	}
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open the init binary: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open the init binary: %w", err)
	}
	return &initExe{f: f, path: path, forAll: fi.Mode().Perm()&0o001 != 0}, nil
}
