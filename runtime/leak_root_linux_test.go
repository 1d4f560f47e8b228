package runtime_test

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// checkLeaks fails t if a mount under root, a cgroup under parent or a
// shim of ours survives the test.
func checkLeaks(t *testing.T, root, parent string) {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && strings.HasPrefix(fields[4], root) {
			t.Errorf("leaked mount: %s", fields[4])
		}
	}
	dirs, _ := filepath.Glob("/sys/fs/cgroup/*/" + parent + "/*")
	more, _ := filepath.Glob("/sys/fs/cgroup/" + parent + "/*")
	for _, d := range append(dirs, more...) {
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			t.Errorf("leaked cgroup: %s", d)
		}
	}
	// The removal that took the last container took the parent too.
	parents, _ := filepath.Glob("/sys/fs/cgroup/*/" + parent)
	if p := "/sys/fs/cgroup/" + parent; dirExists(p) {
		parents = append(parents, p)
	}
	for _, d := range parents {
		t.Errorf("leaked cgroup parent: %s", d)
		os.Remove(d)
	}
	for _, pid := range processesWithEnv("_STACK_STATEDIR=" + root) {
		t.Errorf("leaked shim: /proc/%d", pid)
	}
	// Every shim's directory goes with the shim.
	shims, _ := filepath.Glob(filepath.Join(root, ".shims", "*"))
	for _, d := range shims {
		log, _ := os.ReadFile(filepath.Join(d, "shim.log"))
		var names []string
		entries, _ := os.ReadDir(d)
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("leaked shim directory: %s holding %q (log: %q)", d, names, log)
	}
	// Parent cgroups of the test: remove them (they are ours, and empty).
	for _, d := range append(globDirs("/sys/fs/cgroup/*/"+parent), globDirs("/sys/fs/cgroup/"+parent)...) {
		os.Remove(d)
	}
}

func globDirs(pattern string) []string {
	m, _ := filepath.Glob(pattern)
	return m
}

// suiteLeaks lists what the whole suite left behind: cgroups under any
// of the test parents, shims and container inits, and mounts under the
// suite's temporary directory tmp.
func suiteLeaks(tmp string) []string {
	var out []string
	for _, pat := range []string{"/sys/fs/cgroup/*/stack-test-*", "/sys/fs/cgroup/stack-test-*", "/sys/fs/cgroup/*/stack-bench-*", "/sys/fs/cgroup/stack-bench-*"} {
		out = append(out, globDirs(pat)...)
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	self := os.Args[0]
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		args := strings.Split(string(b), "\x00")
		if len(args) > 1 && args[1] == "init" && strings.HasPrefix(args[0], "stack-") {
			if exe, _ := os.Readlink(filepath.Join(filepath.Dir(p), "exe")); exe == self {
				out = append(out, "process "+filepath.Dir(p)+" "+args[0])
			}
		}
	}
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(mounts), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && strings.HasPrefix(f[4], tmp+"/") {
			out = append(out, "mount "+f[4])
		}
	}
	return out
}

func dirExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// processesWithEnv returns the processes whose environment contains s.
func processesWithEnv(s string) []int {
	var pids []int
	procs, _ := filepath.Glob("/proc/[0-9]*/environ")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil || !strings.Contains(string(b), s) {
			continue
		}
		if pid, err := strconv.Atoi(filepath.Base(filepath.Dir(p))); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}
