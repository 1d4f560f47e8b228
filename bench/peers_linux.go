package main

import (
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// podmanImage is the busybox rootfs imported into podman; the name is
// ours alone, so removing it at the end touches nothing of the user's.
const podmanImage = "localhost/stackbench-busybox:latest"

// busyboxRootfs assembles the rootfs every engine runs: a static busybox
// with one symlink per applet, passwd and group, and the directories a
// container expects (as internal/testutil.BusyboxRootfs does for tests).
func busyboxRootfs(root string) error {
	bb := ""
	for _, p := range []string{"/bin/busybox", "/usr/bin/busybox"} {
		if isStatic(p) {
			bb = p
			break
		}
	}
	if bb == "" {
		return errors.New("no static busybox: apt-get install busybox-static")
	}
	for _, d := range []string{"bin", "etc", "proc", "sys", "dev", "tmp", "root", "run", "var/www", "mark"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return fmt.Errorf("rootfs: %w", err)
		}
	}
	if err := os.Chmod(filepath.Join(root, "tmp"), 0o1777); err != nil {
		return fmt.Errorf("rootfs: %w", err)
	}
	data, err := os.ReadFile(bb)
	if err != nil {
		return fmt.Errorf("rootfs: %w", err)
	}
	if err := os.WriteFile(filepath.Join(root, "bin/busybox"), data, 0o755); err != nil {
		return fmt.Errorf("rootfs: %w", err)
	}
	out, err := exec.Command(bb, "--list").Output()
	if err != nil {
		return fmt.Errorf("busybox --list: %w", err)
	}
	for _, name := range strings.Fields(string(out)) {
		if name != "busybox" {
			if err := os.Symlink("busybox", filepath.Join(root, "bin", name)); err != nil && !os.IsExist(err) {
				return fmt.Errorf("rootfs: %w", err)
			}
		}
	}
	files := map[string]string{
		"etc/passwd":         "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
		"etc/group":          "root:x:0:\nnogroup:x:65534:\n",
		"var/www/index.html": "hello from busybox\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(root, name), []byte(content), 0o644); err != nil {
			return fmt.Errorf("rootfs: %w", err)
		}
	}
	return nil
}

// isStatic reports whether path is an ELF executable without a program
// interpreter, so it runs in a rootfs that has no dynamic loader.
func isStatic(path string) bool {
	f, err := elf.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return false
		}
	}
	return true
}

// peerPackages maps each command the peers need (a name in PATH or a
// path) to its Debian package. iptables is there because netavark 1.4,
// podman's network backend, programs its NAT through the iptables command
// (the nft flavour); netavark and aardvark-dns are podman's network and
// DNS helpers, which Debian's podman only recommends.
var peerPackages = [][2]string{
	{"crun", "crun"}, {"runc", "runc"}, {"podman", "podman"}, {"conmon", "conmon"},
	{"podman-compose", "podman-compose"}, {"iptables", "iptables"},
	{"/usr/lib/podman/netavark", "netavark"}, {"/usr/lib/podman/aardvark-dns", "aardvark-dns"},
	{"/usr/sbin/dockerd", "docker.io"}, {"/usr/bin/docker-compose", "docker-compose"},
}

// peerPackage maps a peer to the packages it cannot run without.
var peerNeeds = map[string][]string{
	"podman": {"podman", "conmon", "iptables", "/usr/lib/podman/netavark", "/usr/lib/podman/aardvark-dns"},
	"docker": {"/usr/sbin/dockerd", "/usr/bin/docker-compose"},
}

func haveCommand(c string) bool {
	if filepath.IsAbs(c) {
		_, err := os.Stat(c)
		return err == nil
	}
	_, err := exec.LookPath(c)
	return err == nil
}

// setupPeers installs missing peers, makes them work on this host (the
// cgroup and rlimit fix-ups below) and smoke-tests each one; whatever
// fails is recorded in peerErr and skipped by the cases.
func (b *bench) setupPeers() {
	var missing []string
	for _, p := range peerPackages {
		if !haveCommand(p[0]) {
			missing = append(missing, p[1])
		}
	}
	if len(missing) > 0 && b.o.install {
		logf("apt-get install %s", strings.Join(missing, " "))
		if err := aptInstall(missing); err != nil {
			logf("%v", err)
		}
	}
	for _, p := range peerPackages {
		if !haveCommand(p[0]) {
			b.peerErr[p[0]] = fmt.Errorf("not installed (apt-get install %s)", p[1])
		}
	}
	for peer, needs := range peerNeeds {
		for _, c := range needs {
			if err := b.peerErr[c]; err != nil && b.peerErr[peer] == nil {
				b.peerErr[peer] = fmt.Errorf("%s: %w", c, err)
			}
		}
	}
	b.fixHybridCgroups()
	for _, rt := range []string{"crun", "runc"} {
		if b.peerErr[rt] == nil {
			b.peerErr[rt] = b.smokeBundle(rt)
		}
	}
	if b.peerErr["podman"] == nil {
		b.peerErr["podman"] = b.setupPodman()
	}
	if b.peerErr["podman"] != nil {
		b.peerErr["podman-compose"] = fmt.Errorf("podman: %w", b.peerErr["podman"])
	}
	if b.peerErr["docker"] == nil {
		b.peerErr["docker"] = b.setupDocker()
	}
	for name, err := range b.peerErr {
		if err != nil {
			logf("peer %s skipped: %v", name, err)
		}
	}
}

func aptInstall(pkgs []string) error {
	env := append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	args := append([]string{"install", "-y", "-q"}, pkgs...)
	if _, err := runCmd(nil, env, "apt-get", args...); err == nil {
		return nil
	}
	if _, err := runCmd(nil, env, "apt-get", "update", "-q"); err != nil {
		return err
	}
	_, err := runCmd(nil, env, "apt-get", args...)
	return err
}

// fixHybridCgroups lets crun run on a hybrid host. crun refuses one whose
// v2 tree (/sys/fs/cgroup/unified) holds any controller ("cgroups in
// hybrid mode not supported, drop all controllers from cgroupv2"); here
// the kernel leaves hugetlb there because nothing mounts it as v1.
// Mounting each such controller as a v1 hierarchy moves it off the v2
// tree, as systemd's hybrid layout does; the mounts are undone at exit.
func (b *bench) fixHybridCgroups() {
	data, err := os.ReadFile("/sys/fs/cgroup/unified/cgroup.controllers")
	if err != nil {
		return
	}
	for _, c := range strings.Fields(string(data)) {
		mp := "/sys/fs/cgroup/" + c
		os.MkdirAll(mp, 0o755)
		if err := syscall.Mount("cgroup", mp, "cgroup", 0, c); err != nil {
			logf("cgroup: mount %s as v1: %v (crun will fail)", c, err)
			continue
		}
		logf("cgroup: moved controller %s off the v2 tree (undone at exit)", c)
		b.atExit(func() {
			rmCgroups(cgroupParent) // our cgroups in it would keep it busy
			if err := syscall.Unmount(mp, 0); err == nil {
				os.Remove(mp)
			}
		})
	}
}

// bundle writes an OCI bundle running args on the busybox rootfs, from
// the peer's own default spec (`crun spec`), made non-interactive and
// without rlimits: without CAP_SYS_RESOURCE none can be raised.
func (b *bench) bundle(rt, dir string, netns bool, args ...string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	os.Remove(filepath.Join(dir, "config.json"))
	cmd := exec.Command(rt, "spec")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s spec: %w: %s", rt, err, out)
	}
	data, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	var spec map[string]any
	if err := json.Unmarshal(data, &spec); err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	proc, _ := spec["process"].(map[string]any)
	linux, _ := spec["linux"].(map[string]any)
	if proc == nil || linux == nil {
		return fmt.Errorf("bundle: %s spec has no process or linux section", rt)
	}
	proc["terminal"] = false
	proc["args"] = args
	delete(proc, "rlimits")
	spec["root"] = map[string]any{"path": b.rootfs, "readonly": true}
	if !netns {
		nss, _ := linux["namespaces"].([]any)
		var keep []any
		for _, ns := range nss {
			if m, _ := ns.(map[string]any); m["type"] != "network" {
				keep = append(keep, ns)
			}
		}
		linux["namespaces"] = keep
	}
	data, err = json.MarshalIndent(spec, "", "\t")
	if err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	return os.WriteFile(filepath.Join(dir, "config.json"), data, 0o644)
}

// smokeBundle makes the /bin/true bundles (once) and runs one with rt.
func (b *bench) smokeBundle(rt string) error {
	for _, netns := range []bool{false, true} {
		if b.bundles[netns] == "" {
			dir := filepath.Join(b.tmp, fmt.Sprintf("bundle-netns-%v", netns))
			if err := b.bundle(rt, dir, netns, "/bin/true"); err != nil {
				return err
			}
			b.bundles[netns] = dir
		}
	}
	id := "stackbench-smoke-" + rt
	_, err := runCmd(b.ctx, nil, rt, "run", "--bundle", b.bundles[true], id)
	exec.Command(rt, "delete", "-f", id).Run()
	return err
}

// setupPodman gives podman a configuration of our own and imports the
// busybox rootfs. podman asks for nofile=1048576 and nproc=4194304 by
// default; without CAP_SYS_RESOURCE crun then fails with "setrlimit
// RLIMIT_NOFILE: Operation not permitted". CONTAINERS_CONF replaces the
// system's containers.conf for our podman processes only, so nothing is
// written under /etc; it must then name the helper directory (netavark)
// that Debian's file would have named.
func (b *bench) setupPodman() error {
	var nofile, nproc syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &nofile)
	syscall.Getrlimit(6 /* RLIMIT_NPROC */, &nproc)
	conf := fmt.Sprintf(`[containers]
default_ulimits = ["nofile=%[1]d:%[1]d", "nproc=%[2]d:%[2]d"]
[network]
network_backend = "netavark"
[engine]
helper_binaries_dir = ["/usr/lib/podman", "/usr/libexec/podman", "/usr/local/libexec/podman", "/usr/local/lib/podman"]
`, min(nofile.Max, 1048576), min(nproc.Max, 32768))
	path := filepath.Join(b.tmp, "containers.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		return fmt.Errorf("podman config: %w", err)
	}
	b.podmanEnv = append(os.Environ(), "CONTAINERS_CONF="+path, "BENCH_IMAGE="+podmanImage)
	b.atExit(dropNetavarkTables(nftTables()))
	b.atExit(b.cleanPodman)
	tar := exec.Command("tar", "-C", b.rootfs, "--exclude", "./mark", "-c", ".")
	imp := exec.CommandContext(b.ctx, "podman", "import", "-q", "--change", `CMD ["/bin/sh"]`, "-", podmanImage)
	imp.Env = b.podmanEnv
	pr, pw := io.Pipe()
	tar.Stdout, imp.Stdin = pw, pr
	if err := tar.Start(); err != nil {
		return fmt.Errorf("tar: %w", err)
	}
	go func() { pw.CloseWithError(tar.Wait()) }()
	if out, err := imp.CombinedOutput(); err != nil {
		return fmt.Errorf("podman import: %w: %s", err, lastLines(string(out), 2))
	}
	_, err := b.podman("run", "--rm", podmanImage, "true")
	return err
}

func (b *bench) podman(args ...string) (string, error) {
	return runCmd(b.ctx, b.podmanEnv, "podman", args...)
}

// cleanPodman removes every podman container, network and image whose
// name starts with "stackbench", which only this command uses.
func (b *bench) cleanPodman() {
	env := b.podmanEnv
	if out, _ := runCmd(nil, env, "podman", "ps", "-aq", "--filter", "name=^stackbench"); strings.TrimSpace(out) != "" {
		runCmd(nil, env, "podman", append([]string{"rm", "-f", "-t", "0"}, strings.Fields(out)...)...)
	}
	if out, _ := runCmd(nil, env, "podman", "network", "ls", "-q", "--filter", "name=^stackbench"); strings.TrimSpace(out) != "" {
		runCmd(nil, env, "podman", append([]string{"network", "rm", "-f"}, strings.Fields(out)...)...)
	}
	runCmd(nil, env, "podman", "rmi", "-f", podmanImage, "localhost/stackbench-build:latest")
}

// nftTables lists the host's nftables tables as "family name".
func nftTables() []string {
	out, _ := runCmd(nil, nil, "nft", "list", "tables")
	var t []string
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) == 3 && f[0] == "table" {
			t = append(t, f[1]+" "+f[2])
		}
	}
	return t
}

// dropNetavarkTables returns a clean-up that deletes the iptables-nft
// tables (ip nat, ip filter, ...) netavark created during the run. It
// leaves their base chains behind when it removes a network, so they
// outlive the run; a table that existed before, or that holds a chain of
// anyone else, is left alone.
func dropNetavarkTables(before []string) func() {
	base := map[string]bool{"INPUT": true, "OUTPUT": true, "FORWARD": true, "PREROUTING": true, "POSTROUTING": true}
	return func() {
		for _, t := range nftTables() {
			if slices.Contains(before, t) || !strings.HasPrefix(t, "ip") {
				continue
			}
			f := strings.Fields(t)
			out, err := runCmd(nil, nil, "nft", "list", "table", f[0], f[1])
			if err != nil {
				continue
			}
			ours := true
			for _, l := range strings.Split(out, "\n") {
				if c := strings.Fields(l); len(c) >= 2 && c[0] == "chain" && !base[c[1]] && !strings.HasPrefix(c[1], "NETAVARK") {
					ours = false
				}
			}
			if ours {
				runCmd(nil, nil, "nft", "delete", "table", f[0], f[1])
			}
		}
	}
}
