package runtime

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"strconv"

	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/stack-dev/stack/internal/errdefs"
	"github.com/stack-dev/stack/runtime/seccomp"
)

// The processes of one container and how they talk:
//
//	manager (daemon)          shim (own session)              container init (re-exec, then the user's program)
//	----------------          ------------------              -------------------------------------------------
//	Create: spawn shim  ----> read config.json
//	  with ready pipe         create cgroup
//	  (_STACK_INITPIPE)       clone init in new namespaces --> [blocked reading its sync socket]
//	                          write init pid to cgroup.procs
//	                          msgConfig ---------------------> unshare cgroup ns, mounts, pivot_root,
//	                                                          masked paths, hostname, sysctls,
//	                                                          look up the executable
//	                          <------------------------------- msgReady   (or msgError: Create fails)
//	                          write state.json (created)
//	                          listen on shim.sock
//	<-- {"pid":N} on the ready pipe, which then closes
//
//	Start: connect shim.sock
//	  {"op":"start"}  ------> msgRun ------------------------> rlimits, user, capabilities,
//	                                                          no_new_privs, execve(2)
//	                          <------------------------------- EOF (the socket is O_CLOEXEC: exec
//	                                                          succeeded) or msgError (exec failed)
//	                          write state.json (running)
//	<-- {} or {"error":...}
//
//	                          wait4(init) ... exit status, oom_kill count
//	                          write state.json (stopped), answer pending waits, exit
//
// Every message is one JSON object per line. An error raised inside the
// container before execve is sent back as msgError carrying the message, so
// a failure in a namespace the parent cannot see is never lost; if the
// socket closes before msgReady the child died without saying why (its
// stderr is the container log).
//
// Exec uses the same pair of messages between the manager and the exec'd
// child: msgConfig (the process only) and EOF-or-msgError.

// Environment variables naming the role of a re-exec and its inherited fd.
const (
	envRole     = "_STACK_INIT"     // shim, container or exec
	envInitPipe = "_STACK_INITPIPE" // fd number of the sync socket or pipe
	envStateDir = "_STACK_STATEDIR" // shim only: its group's directory
	envProto    = "_STACK_PROTO"    // the protocol the starter speaks
	envTrace    = "_STACK_TRACE"    // container init only: mark the phases (trace.go)
	envMntNS    = "_STACK_MNTNS"    // exec only: fd of the container's mount namespace
	// shim only: the init binary (Options.InitBinary), which it opens
	// once and execs every init of from that descriptor.
	envInitBinary = "_STACK_INITBIN"
	// container init only: the descriptor it was exec'd from, to close.
	envInitExe = "_STACK_INITEXE"
)

// protocol versions the messages between the Manager, the shim and the
// inits. The shim and the init may be other binaries than the daemon
// (stack-shim and stack-init beside stack): one from another build refuses
// to run rather than misunderstand, as long as every change to the
// messages bumps it.
const protocol = "3"

const (
	roleShim      = "shim"
	roleContainer = "container"
	roleExec      = "exec"
)

type msgType string

const (
	msgConfig msgType = "config"
	msgReady  msgType = "ready"
	msgRun    msgType = "run"
	msgError  msgType = "error"
)

// initConfig is what the shim sends the container init, and the manager an
// exec'd process.
type initConfig struct {
	Spec   *specs.Spec `json:"spec"`
	Rootfs string      `json:"rootfs,omitempty"` // empty for exec
	Init   bool        `json:"init,omitempty"`
	// CgroupNS tells the child to unshare a cgroup namespace once the
	// parent has placed it in its cgroup.
	CgroupNS bool `json:"cgroupNS,omitempty"`
	// CgroupV2 selects how a "cgroup" mount is done.
	CgroupV2 bool `json:"cgroupV2,omitempty"`
	// Seccomp is the filter the process runs under, nil for none.
	Seccomp *seccomp.Program `json:"seccomp,omitempty"`
	// UserNS says the init is in a user namespace of its own (see
	// userns_linux.go): RootfsFD is the descriptor of its root file
	// system's tree, MountFDs those of its bind mounts' idmapped trees by
	// index in Spec.Mounts; sysctls and the read-only /proc/sys wait for
	// msgRun.
	UserNS   bool        `json:"userNS,omitempty"`
	RootfsFD int         `json:"rootfsFD,omitempty"`
	MountFDs map[int]int `json:"mountFDs,omitempty"`

	// CgroupV1 are the host's v1 hierarchies, for a "cgroup" mount on a
	// v1 host.
	CgroupV1 []cgroupHierarchy `json:"cgroupV1,omitempty"`
}

type syncMsg struct {
	Type   msgType     `json:"type"`
	Config *initConfig `json:"config,omitempty"`
	Error  string      `json:"error,omitempty"`
	// Class is the class of Error (syncClasses), so that a missing
	// executable is still errdefs.ErrNotFound on the other side.
	Class string `json:"class,omitempty"`
	// Trace has the init's moments, with msgReady (see trace.go).
	Trace []tracePoint `json:"trace,omitempty"`
}

// syncClasses are the error classes a msgError carries.
var syncClasses = []struct {
	name string
	err  error
}{
	{"command_not_found", exec.ErrNotFound}, {"not_found", errdefs.ErrNotFound}, {"not_found", fs.ErrNotExist}, {"permission", fs.ErrPermission},
	{"invalid_argument", errdefs.ErrInvalidArgument},
}

// errorMsg is the msgError of err, with its class.
func errorMsg(err error) syncMsg {
	m := syncMsg{Type: msgError, Error: err.Error()}
	for _, c := range syncClasses {
		if errors.Is(err, c.err) {
			m.Class = c.name
			break
		}
	}
	return m
}

// err rebuilds the error of a msgError, of the class it names.
func (m syncMsg) err() error {
	for _, c := range syncClasses {
		if c.name == m.Class {
			if c.err == exec.ErrNotFound {
				return &classError{msg: m.Error, class: []error{exec.ErrNotFound, errdefs.ErrNotFound}}
			}
			return &classError{msg: m.Error, class: []error{c.err}}
		}
	}
	return errors.New(m.Error)
}

// classError is an error that crossed the sync pipe.
type classError struct {
	msg   string
	class []error
}

func (e *classError) Error() string   { return e.msg }
func (e *classError) Unwrap() []error { return e.class }

// errReported is a child's error already sent to its parent.
var errReported = errors.New("reported to the parent")

// syncConn frames syncMsgs over a pipe or socket.
type syncConn struct {
	f   *os.File
	dec *json.Decoder
}

func newSyncConn(f *os.File) *syncConn { return &syncConn{f: f, dec: json.NewDecoder(f)} }

func (c *syncConn) send(m syncMsg) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	_, err = c.f.Write(append(b, '\n'))
	return err
}

// unread puts b, read from the socket by other means, back in front of
// the messages still to decode.
func (c *syncConn) unread(b []byte) {
	c.dec = json.NewDecoder(io.MultiReader(bytes.NewReader(b), c.f))
}

// recv reads the next message; io.EOF means the peer closed (or exec'd).
func (c *syncConn) recv() (syncMsg, error) {
	var m syncMsg
	err := c.dec.Decode(&m)
	if errors.Is(err, io.ErrUnexpectedEOF) {
		err = io.EOF
	}
	return m, err
}

// expect reads one message and checks its type, turning msgError into an
// error.
func (c *syncConn) expect(want msgType) (syncMsg, error) {
	m, err := c.recv()
	if err != nil {
		return m, err
	}
	if m.Type == msgError {
		return m, m.err()
	}
	if m.Type != want {
		return m, fmt.Errorf("sync: got message %q, want %q", m.Type, want)
	}
	return m, nil
}

// inheritedFile returns the file whose fd number is in the environment
// variable name.
func inheritedFile(name string) (*os.File, error) {
	fd, err := strconv.Atoi(os.Getenv(name))
	if err != nil || fd < 3 {
		return nil, fmt.Errorf("%s=%q: not an inherited fd", name, os.Getenv(name))
	}
	return os.NewFile(uintptr(fd), name), nil
}
