package runtime

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/stack-dev/stack/internal/errdefs"
	"github.com/stack-dev/stack/internal/linux"
	"github.com/stack-dev/stack/runtime/seccomp"
)

// rlimitResource maps a spec's rlimit name to its resource number.
func rlimitResource(name string) (int, bool) {
	switch name {
	case "RLIMIT_AS":
		return unix.RLIMIT_AS, true
	case "RLIMIT_CORE":
		return unix.RLIMIT_CORE, true
	case "RLIMIT_CPU":
		return unix.RLIMIT_CPU, true
	case "RLIMIT_DATA":
		return unix.RLIMIT_DATA, true
	case "RLIMIT_FSIZE":
		return unix.RLIMIT_FSIZE, true
	case "RLIMIT_LOCKS":
		return unix.RLIMIT_LOCKS, true
	case "RLIMIT_MEMLOCK":
		return unix.RLIMIT_MEMLOCK, true
	case "RLIMIT_MSGQUEUE":
		return unix.RLIMIT_MSGQUEUE, true
	case "RLIMIT_NICE":
		return unix.RLIMIT_NICE, true
	case "RLIMIT_NOFILE":
		return unix.RLIMIT_NOFILE, true
	case "RLIMIT_NPROC":
		return unix.RLIMIT_NPROC, true
	case "RLIMIT_RSS":
		return unix.RLIMIT_RSS, true
	case "RLIMIT_RTPRIO":
		return unix.RLIMIT_RTPRIO, true
	case "RLIMIT_RTTIME":
		return unix.RLIMIT_RTTIME, true
	case "RLIMIT_SIGPENDING":
		return unix.RLIMIT_SIGPENDING, true
	case "RLIMIT_STACK":
		return unix.RLIMIT_STACK, true
	}
	return 0, false
}

// lookPath finds file in the PATH of env, in the current root, as execvp(3)
// would in the container.
func lookPath(file string, env []string) (string, error) {
	if strings.Contains(file, "/") {
		if err := checkExecutable(file); err != nil {
			return "", fmt.Errorf("exec %q: %w", file, err)
		}
		return file, nil
	}
	path := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "PATH="); ok {
			path = v
		}
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, file)
		if checkExecutable(p) == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("exec %q: %w: %w", file, exec.ErrNotFound, errdefs.ErrNotFound)
}

func checkExecutable(p string) error {
	st, err := os.Stat(p)
	if err != nil {
		return err
	}
	if st.IsDir() || st.Mode()&0o111 == 0 {
		return fs.ErrPermission
	}
	return nil
}

// writeSysctls writes spec.Linux.Sysctl through /proc/sys, in sorted order.
func writeSysctls(sysctl map[string]string) error {
	for _, k := range sortedKeys(sysctl) {
		p := "/proc/sys/" + strings.ReplaceAll(k, ".", "/")
		if err := os.WriteFile(p, []byte(sysctl[k]), 0o644); err != nil {
			return fmt.Errorf("sysctl %s: %w", k, err)
		}
	}
	return nil
}

// setRlimits applies exactly the rlimits the spec lists; nothing else is
// touched (raising a hard limit needs CAP_SYS_RESOURCE, which the caller
// may lack).
func setRlimits(rl []specs.POSIXRlimit) error {
	for _, r := range rl {
		res, ok := rlimitResource(r.Type)
		if !ok {
			return fmt.Errorf("rlimit %q: %w", r.Type, errdefs.ErrInvalidArgument)
		}
		if err := unix.Setrlimit(res, &unix.Rlimit{Cur: r.Soft, Max: r.Hard}); err != nil {
			return fmt.Errorf("setrlimit %s: %w", r.Type, err)
		}
	}
	return nil
}

// lastCap reads the highest capability the kernel knows.
func lastCap() (int, error) {
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

// finalizeProcess turns the calling thread into the container's process and
// execs it. It returns only on failure.
func finalizeProcess(p *specs.Process, filter *seccomp.Program, argv0 string, argv, env []string) error {
	if err := applyProcess(p, filter); err != nil {
		return err
	}
	return linux.Exec(argv0, argv, env)
}

// applyProcess gives the calling thread the process's settings: rlimits,
// oom_score_adj, cwd, user and groups, capabilities, no_new_privs, and
// the seccomp filter (nil for none). The
// capability calls (capset(2), PR_CAPBSET_DROP, ambient) act on the
// calling thread only, which is why Init holds its thread from the start
// and execs (or forks) from it: execve(2) keeps only the calling thread,
// and a child copies the credentials of the thread that cloned it.
// (setuid(2) and setgroups(2) go through package syscall, which applies
// them to every thread.)
//
// The filter goes last, so that as few calls as possible run under it,
// except without no_new_privs: loading it then needs CAP_SYS_ADMIN, so it
// goes before the capabilities are dropped, and the profile must allow
// the calls that drop them (Docker's does). runc does the same.
func applyProcess(p *specs.Process, filter *seccomp.Program) error {
	if filter != nil && !p.NoNewPrivileges {
		if err := filter.Load(); err != nil {
			return err
		}
	}
	if err := setRlimits(p.Rlimits); err != nil {
		return err
	}
	if p.OOMScoreAdj != nil {
		if err := os.WriteFile("/proc/self/oom_score_adj", []byte(strconv.Itoa(*p.OOMScoreAdj)), 0o644); err != nil {
			return fmt.Errorf("set oom_score_adj: %w", err)
		}
	}
	cwd := p.Cwd
	if cwd == "" {
		cwd = "/"
	}
	// As root first (the user may not be able to search the path yet);
	// retried as the user below, as runc does.
	cwdErr := unix.Chdir(cwd)
	caps := p.Capabilities
	if caps == nil {
		caps = &specs.LinuxCapabilities{}
	}
	last, err := lastCap()
	if err != nil {
		return err
	}
	bounding, err := capMask(caps.Bounding, last)
	if err != nil {
		return err
	}
	for c := 0; c <= last; c++ {
		if bounding&(1<<uint(c)) != 0 {
			continue
		}
		if err := linux.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil {
			return fmt.Errorf("drop bounding capability %d: %w", c, err)
		}
	}
	// Keep the permitted set across setuid, then set the sets explicitly.
	if err := linux.Prctl(unix.PR_SET_KEEPCAPS, 1, 0, 0, 0); err != nil {
		return err
	}
	u := p.User
	groups := make([]int, len(u.AdditionalGids))
	for i, g := range u.AdditionalGids {
		groups[i] = int(g)
	}
	if err := unix.Setgroups(groups); err != nil {
		return fmt.Errorf("setgroups: %w", err)
	}
	if err := unix.Setresgid(int(u.GID), int(u.GID), int(u.GID)); err != nil {
		return fmt.Errorf("setgid %d: %w", u.GID, err)
	}
	if err := unix.Setresuid(int(u.UID), int(u.UID), int(u.UID)); err != nil {
		return fmt.Errorf("setuid %d: %w", u.UID, err)
	}
	if err := linux.Prctl(unix.PR_SET_KEEPCAPS, 0, 0, 0, 0); err != nil {
		return err
	}
	if cwdErr != nil {
		if err := unix.Chdir(cwd); err != nil {
			return &os.PathError{Op: "chdir", Path: cwd, Err: err}
		}
	}
	var sets [4]uint64
	for i, names := range [][]string{caps.Effective, caps.Permitted, caps.Inheritable, caps.Ambient} {
		if sets[i], err = capMask(names, last); err != nil {
			return err
		}
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	for i := range data {
		shift := uint(32 * i)
		data[i] = unix.CapUserData{
			Effective:   uint32(sets[0] >> shift),
			Permitted:   uint32(sets[1] >> shift),
			Inheritable: uint32(sets[2] >> shift),
		}
	}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capset: %w", err)
	}
	for c := 0; c <= last; c++ {
		if sets[3]&(1<<uint(c)) == 0 {
			continue
		}
		if err := linux.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, uintptr(c), 0, 0); err != nil {
			return fmt.Errorf("raise ambient capability %d: %w", c, err)
		}
	}
	if p.NoNewPrivileges {
		if err := linux.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return err
		}
		if filter != nil {
			return filter.Load()
		}
	}
	return nil
}

// processEnv returns env with HOME added when missing, as Docker does.
func processEnv(env []string, home string) []string {
	for _, e := range env {
		if strings.HasPrefix(e, "HOME=") {
			return env
		}
	}
	return append(env, "HOME="+home)
}

// homeOf finds the home directory of uid in the current root's
// /etc/passwd, "/" when there is none.
func homeOf(uid uint32) string {
	u, err := ResolveUser("/", strconv.FormatUint(uint64(uid), 10))
	if err != nil {
		return "/"
	}
	return u.Home
}

var errNoArgs = errors.New("process has no args")
