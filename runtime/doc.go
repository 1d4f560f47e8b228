// Package runtime runs containers: it turns an OCI runtime spec and a root
// file system into processes in their own namespaces and cgroup, with no
// other container engine underneath.
//
// Owns: namespaces, mounts and pivot_root, cgroups (v1 and v2), process
// credentials and capabilities, the per-container shim, exec, the
// container lifecycle, the Init re-exec entry point, and what /proc says
// of the containers' processes and network namespaces (ps, stats).
// Must not import: network, image, spec, planner, daemon, api or
// internal/testutil.
//
// # Using it
//
// The binary that imports this package must dispatch the runtime's
// re-execs before doing anything else:
//
//	func main() {
//		if runtime.IsInit() {
//			runtime.Init() // never returns
//		}
//		...
//	}
//
// Then:
//
//	m, _ := runtime.New(runtime.Options{StateRoot: "/run/stack/runtime"})
//	spec := runtime.DefaultSpec("nginx", "-g", "daemon off;")
//	u, _ := runtime.ResolveUser(rootfs, "www-data")
//	spec.Process.User = u.Spec()
//	m.Create(ctx, "web-1", runtime.Config{Spec: spec, Rootfs: rootfs, NetNS: "/run/netns/web-1"})
//	m.Start(ctx, "web-1")
//	st, _ := m.Wait(ctx, "web-1") // st.ExitCode, st.OOMKilled
//	m.Delete(ctx, "web-1", false)
//
// The spec is the OCI runtime spec; [DefaultSpec] fills it the way Docker
// does (capabilities, mounts, masked and read-only paths, device rules) and
// helpers compute the parts a caller derives from user input:
// [TweakCapabilities] (cap_add, cap_drop, privileged) and [ResolveUser].
//
// # Processes
//
// Every container has a shim, its parent: a process of the stack-shim
// binary (Options.ShimBinary; a re-exec of the calling binary, "stack-shim
// init", when there is none, unless that binary is stack-daemon, which
// cannot be one) in a session of its own. One shim serves
// every container of a group ([Config].Group; the daemon gives each
// project one) and exits when it serves none: see supervisor_linux.go. It
// creates the cgroup, clones the init into new namespaces, writes the
// container's stdout and stderr to its log ([LogEntry], Docker's json-file
// format, at [Config].Log's path, rotated by size), waits for the exit and
// records it. So containers outlive the process that created them: a
// daemon can crash and restart, and a new [Manager] on the same state root
// finds every container through its state directory:
//
//	<StateRoot>/<id>/config.json    what Create was given (read by the shim)
//	<StateRoot>/<id>/state.json     status, pids, exit code, OOMKilled (written by the shim, or by a recovery)
//	<StateRoot>/<id>/stdout, stderr the container's output pipes (named pipes: see output_linux.go)
//	<StateRoot>/<id>/container.log  stdout and stderr, one JSON object per line, unless Config.Log names a path
//	<StateRoot>/<id>/shim.sock      the container's control socket, served by its shim: start, kill, wait
//	<StateRoot>/.shims/<group>/     the group shim's socket (create, retire) and its own stderr, shim.log
//
// The Manager keeps no state in memory, only a read end of each
// container's output pipes (so their content outlives a dead shim) and
// the pids of exec'd processes. State files are replaced atomically
// (temporary file, rename) but not fsync'ed: see writeFileAtomic for why.
// A shim whose process is gone without a final record is reported as
// [Unknown]; the shim's identity is its PID plus its start time, so a
// recycled PID is not mistaken for it.
//
// # A dead shim
//
// Wait, Stop and Delete of a container whose shim died recover it: its
// cgroup's processes are killed, what it wrote to its output pipes since
// the shim stopped reading is logged (nothing is lost: see
// output_linux.go), and its exit is recorded: 137, or the init's own
// status when it had ended and came to the caller (a child subreaper, as
// the daemon is). The restart policy of the caller then applies. A
// container with a terminal loses its terminal with its shim.
//
// Why a shim in Go and not a C monitor like conmon: it keeps one language,
// and the same code paths (logs, state, exit codes) are tested
// in-process. A shim of its own per container cost 13 MiB RSS and 4 MiB
// Pss, against conmon's 2 MiB and 0.5 MiB; one shim for a group costs a
// running container a few goroutines and descriptors: 0.06 MiB of RSS and
// Pss more per container at 50 (bench case 6). The shim runs with
// GOMAXPROCS=1 and a 25% GC target, without a memory limit (see
// supervisorMain). The price is that a shim's death takes its group's
// containers with it, as a pod's shim does in containerd; they are
// recovered as below.
//
// The container's init is a second program, the stack-init binary
// (Options.InitBinary; the shim's own when there is none, or when the
// root of a container with a user namespace of its own may not execute
// it). Each shim opens it once and execs every init from that descriptor,
// so an upgrade that replaces it on disk does not mix builds in a group.
// It is this package built with -tags stackinit, which leaves the host
// side out: the files of the Manager, the shim, the supervisor, exec,
// state, cgroups, limits and procs carry "//go:build !stackinit", and what
// they link (cgroups, eBPF, D-Bus, protobuf) never starts in a
// container's first process. The sync
// protocol between the two is drawn in sync_linux.go: the init receives
// its config as JSON on an inherited socket (named by _STACK_INITPIPE),
// sets the container up, reports ready or an error (as JSON, so a failure
// in a namespace the parent cannot see is never lost), waits for run and
// execs. Create therefore fails with the real cause (a missing executable,
// a mount that failed) and Start only releases an already prepared
// process.
//
// # Inside the container
//
// The init is cloned into new mount, PID, UTS and IPC namespaces and,
// unless Config.NetNS names one to join, a new empty network namespace;
// any namespace the spec gives a path for is joined by the shim on a
// locked thread before the clone, so the child is born in it. Once the
// shim has moved it into its cgroup, the init unshares a cgroup namespace
// rooted there. It makes every mount private, binds the rootfs onto
// itself, mounts the spec's mounts inside it (file systems, tmpfs, bind
// mounts of files or directories with ro and private propagation, and a
// per-hierarchy cgroup tree on v1 hosts), fills a tmpfs /dev with device
// nodes and the usual symlinks, pivot_roots (see pivotRoot for the
// pivot_root(".", ".") trick), sets the hostname and domain name, writes
// sysctls, then masks and read-only-binds the spec's paths and makes the
// root read-only if asked. Last, on the thread it will exec from, it
// applies rlimits (only those in the spec: the caller may lack
// CAP_SYS_RESOURCE), oom_score_adj, cwd, user and groups, the bounding,
// effective, permitted, inheritable and ambient capability sets, and
// no_new_privs.
//
// With Config.Init, the init does not exec: it stays PID 1 as a tini-like
// reaper, runs the process as its child (forked from the thread that holds
// the process's credentials), forwards every signal and exits with the
// child's status. It could not exec a fresh copy of the binary instead: a
// dynamically linked binary would need its loader inside the container.
//
// # Exit codes
//
// [State.ExitCode] is the process's exit status, or 128+signal when a
// signal killed it (137 for SIGKILL). [State.OOMKilled] is set when the
// kernel's OOM killer killed a process of the container (the oom_kill
// counter of memory.oom_control on v1, memory.events on v2), as Docker
// reports it. [Manager.Stop] sends the stop signal, waits for the grace
// period, then SIGKILLs every process in the cgroup.
//
// # Cgroups
//
// The container's cgroup is <CgroupParent>/<id> in every v1 hierarchy
// (/sys/fs/cgroup/<controller>/stack/<id>) or in the v2 tree
// (/sys/fs/cgroup/stack/<id>). The shim creates it with the container's
// limits through containerd/cgroups; everything else (pause, resume,
// stats, its processes, OOM kills, removal) reads and writes its files,
// as runc does, so that the library stays out of stack-daemon, which is
// this package built with -tags stackdaemon (cgroupfs_linux.go). Hybrid
// hosts use v1, as runc does. Resources come from spec.Linux.Resources in v1
// terms; v2Resources translates them (shares to cpu.weight, quota and
// period to cpu.max, memory+swap to memory.swap.max, -1 to "max") and the
// device rules become an eBPF program on v2. When the spec has no device
// rules, Docker's default allow-list ([DefaultDeviceRules]) applies. The
// init is born in its cgroup: on v2 it is cloned into it
// (CLONE_INTO_CGROUP); on v1 it is cloned from a locked thread of the shim
// that first moved itself there. Moving the process after the clone would
// write-lock the kernel's cgroup_threadgroup_rwsem and wait for an RCU
// grace period, 10-15 ms on a small VM; a thread moving itself does not.
// An exec'd process is still moved after its clone on v1: the thread
// would be the caller's, and the caller must never be in the container's
// cgroup.procs.
//
// Where the time goes is traced by Create and Delete (Options.Trace) and
// printed by bench case 1 (bench/RESULTS.md). With the group's shim
// running, create+start+wait+delete of /bin/true in a new network
// namespace took 20-23 ms on this project's 2-core VM (v1) in two runs,
// crun 28-29, and 16.5 against crun's 26.1 in a later one: the clone and
// exec of stack-init (~2.4-3.2 ms) and its Go start-up (~2.2-2.8; from
// stack-shim these were ~3.5 and ~3.6), the cgroup (~1.9 ms), its removal
// from every hierarchy (~1.0 ms, an rmdir each; ~3.1 through the
// library's Delete, which walks them), the config received (~1.8 ms),
// mounts, pivot_root and masks (~1.8 ms), the exec of
// the process (~1.5 ms). Without a running shim, its start adds ~7 ms.
//
// # Exec
//
// [Manager.Exec] needs no cgo. A locked thread of the caller joins the
// container's cgroup, IPC, UTS, network and PID namespaces and forks a
// re-exec ("stack-exec init"), which is born in them; that child joins the
// mount namespace itself, on its own locked thread after
// unshare(CLONE_FS) — setns(2) refuses CLONE_NEWNS to a thread sharing its
// fs_struct, as all Go threads do — and execs from that thread, which
// execve(2) keeps. runc needs a C constructor (nsexec) because it joins
// user namespaces, which require a single-threaded process; stack joins a
// container's user namespace in the forked child itself, before execveat
// (linux.ForkExecInUserNS), where only one thread exists. Threads that joined namespaces are never unlocked,
// so the Go runtime ends them instead of reusing them.
//
// # Terminals
//
// With spec.Process.Terminal, the init allocates a pseudo-terminal from
// the container's own devpts instance, makes it its controlling terminal
// and stdio, and passes the master to the shim over the sync socket
// (SCM_RIGHTS). The shim keeps the master: it logs the output (as
// "stdout") and serves [Manager.Attach] (input and live output over the
// control socket, several clients at once) and [Manager.Resize]. An exec
// with a terminal gets one the same way, from the container's devpts, and
// [Process.Console] returns its master.
//
// # Seccomp
//
// A spec with Linux.Seccomp is compiled by Create (package
// runtime/seccomp), so a bad profile fails Create in the caller's process;
// the bundle carries the program, and the init loads it on the thread it
// execs from, with SECCOMP_FILTER_FLAG_TSYNC, as the last step before
// execve(2) (before dropping capabilities when no_new_privs is off: see
// applyProcess). Exec'd processes load the container's program too.
// [seccomp.Default] gives Docker's default profile for a spec.
//
// # Not yet
//
// AppArmor/SELinux labels are ignored; checkpointing and stdin for
// containers without a terminal are not supported.
//
// One cost is the binary's: every package init it carries is paid by
// each init (and each new shim). Build stack-shim and stack-init with
// CGO_ENABLED=0, keep their imports to this package, keep package-level
// initialization cheap, and keep what an init runs out of the files
// tagged !stackinit (internal/archtest builds stack-init and checks what
// it links).
package runtime
