//go:build !stackinit

package runtime

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/stack-dev/stack/internal/errdefs"
	"github.com/stack-dev/stack/internal/linux"
	"github.com/stack-dev/stack/runtime/seccomp"
)

// Files in a container's state directory.
const (
	bundleFile = "config.json"   // what Create was given, for the shim
	stateFile  = "state.json"    // written by the shim only
	defaultLog = "container.log" // the container's stdout and stderr, unless Config.Log.Path
	shimLog    = "shim.log"      // a group's shim's own stderr (in its directory)
	shimSock   = "shim.sock"     // the control socket of the container (or the group)
)

// bundle is the container's configuration as stored for its shim.
type bundle struct {
	ID     string       `json:"id"`
	Spec   *specs.Spec  `json:"spec"`
	Rootfs string       `json:"rootfs"`
	NetNS  string       `json:"netns,omitempty"`
	Init   bool         `json:"init,omitempty"`
	Cgroup cgroupConfig `json:"cgroup"`
	Log    LogConfig    `json:"log"`
	// Seccomp is Spec.Linux.Seccomp compiled (Spec keeps none): the init
	// and every exec'd process load it.
	Seccomp *seccomp.Program `json:"seccomp,omitempty"`
	// Group names the shim process serving the container (Config.Group,
	// or the id).
	Group string `json:"group,omitempty"`
	// Trace asks the shim and the init for the moments of each phase.
	Trace bool `json:"trace,omitempty"`
}

// writeFileAtomic replaces path with data: a temporary file in the same
// directory, then rename(2), so readers (a new Manager, after a daemon
// crash) see the old or the new content, never a torn one. With durable,
// the file is fsync'ed before the rename so the content also survives a
// power loss. Container state does not need that: a power loss kills every
// container and its shim, and a stale "running" record is then reported
// as Unknown (the shim is gone) and deleted like any other. On this
// machine each fsync costs about 2 ms, a quarter of a container's whole
// create-to-delete time, so state files are written without it.
func writeFileAtomic(path string, data []byte, durable bool) (retErr error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer func() {
		if retErr != nil {
			os.Remove(f.Name())
		}
	}()
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if durable {
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

func writeJSON(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return writeFileAtomic(path, b, false)
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s: %w", filepath.Base(path), errdefs.ErrNotFound)
	}
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// procStartTime returns field 22 of /proc/pid/stat, the start time in
// clock ticks since boot, or 0 when pid does not exist.
func procStartTime(pid int) uint64 { return linux.ProcStartTime(pid) }

// alive reports whether the process pid started at start still runs (a
// zombie counts as gone).
func alive(pid int, start uint64) bool {
	if pid <= 0 || start == 0 {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && len(s) > i+2 && s[i+2] == 'Z' {
		return false
	}
	return procStartTime(pid) == start
}

// waitExit waits up to timeout for the process pid started at start to
// exit, and reports whether it has. It polls a pidfd (pidfd_open(2)),
// which becomes readable when the process exits, so it wakes at once.
func waitExit(pid int, start uint64, timeout time.Duration) bool {
	if !alive(pid, start) {
		return true
	}
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return !alive(pid, start)
	}
	defer unix.Close(fd)
	// The pid could have been reused between alive and pidfd_open.
	if !alive(pid, start) {
		return true
	}
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	deadline := time.Now().Add(timeout)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return !alive(pid, start)
		}
		n, err := unix.Poll(fds, int(left.Milliseconds())+1)
		if err == nil && n > 0 {
			return true
		}
		if err != nil && err != unix.EINTR {
			return !alive(pid, start)
		}
	}
}
