package main

import (
	"fmt"
	"os"
	"os/exec"
	goruntime "runtime"
	"strings"
	"syscall"
)

// machine describes where the numbers come from.
func (b *bench) machine() []string {
	var u syscall.Utsname
	syscall.Uname(&u)
	cg := "v1"
	var st syscall.Statfs_t
	if syscall.Statfs("/sys/fs/cgroup", &st) == nil && st.Type == 0x63677270 { // CGROUP2_SUPER_MAGIC
		cg = "v2"
	} else if _, err := os.Stat("/sys/fs/cgroup/unified/cgroup.controllers"); err == nil {
		cg = "v1 hybrid (v1 controllers, v2 tree at /sys/fs/cgroup/unified)"
	}
	commit := strings.TrimSpace(output(b.repo, "git", "rev-parse", "--short", "HEAD"))
	if strings.TrimSpace(output(b.repo, "git", "status", "--porcelain", "--untracked-files=no")) != "" {
		commit += " (with uncommitted changes in the checkout)"
	}
	var vers []string
	for _, p := range []string{"crun", "runc", "podman", "podman-compose", "conmon"} {
		if v := strings.TrimSpace(output("", "dpkg-query", "-W", "-f=${Version}", p)); v != "" {
			vers = append(vers, p+" "+v)
		}
	}
	return []string{
		fmt.Sprintf("machine: %d cores, kernel %s, cgroup %s", goruntime.NumCPU(), charsToString(u.Release[:]), cg),
		"commit: " + commit + ", " + goruntime.Version(),
		"peers: " + strings.Join(vers, ", "),
	}
}

func output(dir, name string, args ...string) string {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, _ := cmd.Output()
	return string(out)
}

func charsToString(c []int8) string {
	var s strings.Builder
	for _, x := range c {
		if x == 0 {
			break
		}
		s.WriteByte(byte(x))
	}
	return s.String()
}
