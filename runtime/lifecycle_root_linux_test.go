package runtime_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/stack-dev/stack/internal/errdefs"
	"github.com/stack-dev/stack/internal/testutil"
	"github.com/stack-dev/stack/runtime"
)

// startContainer creates and starts a container that the test stops; it
// is deleted (forcibly) at cleanup.
func startContainer(t *testing.T, m *runtime.Manager, spec *specs.Spec, mut ...func(*runtime.Config)) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	id := containerID(t)
	cfg := runtime.Config{Spec: spec, Rootfs: testutil.BusyboxRootfs(t)}
	for _, f := range mut {
		f(&cfg)
	}
	if err := m.Create(ctx, id, cfg); err != nil {
		t.Fatalf("Create: %v", err)
	}
	t.Cleanup(func() {
		if err := m.Delete(context.Background(), id, true); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
			t.Errorf("Delete: %v", err)
		}
	})
	if err := m.Start(ctx, id); err != nil {
		t.Fatalf("Start: %v", err)
	}
	return id
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// waitLog polls the container's log until it contains s.
func waitLog(t *testing.T, m *runtime.Manager, id, s string) {
	t.Helper()
	for i := 0; i < 500; i++ {
		if strings.Contains(readLog(t, m, id), s) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("log never contained %q: %q", s, readLog(t, m, id))
}

func TestRootKillExitCode(t *testing.T) {
	testutil.RequiresRoot(t)
	t.Parallel()
	m := newManager(t)
	id := startContainer(t, m, sh("echo up; sleep 100"))
	waitLog(t, m, id, "up")
	if err := m.Kill(ctxT(t), id, unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	st, err := m.Wait(ctxT(t), id)
	if err != nil {
		t.Fatal(err)
	}
	if st.ExitCode != 137 || st.OOMKilled {
		t.Errorf("state = %+v, want exit 137, not OOM", st)
	}
	if err := m.Kill(ctxT(t), id, unix.SIGKILL); !errors.Is(err, errdefs.ErrFailedPrecondition) {
		t.Errorf("Kill after exit = %v, want ErrFailedPrecondition", err)
	}
}

func TestRootCreateErrors(t *testing.T) {
	testutil.RequiresRoot(t)
	t.Parallel()
	m := newManager(t)
	rootfs := testutil.BusyboxRootfs(t)
	err := m.Create(ctxT(t), "missing-exe", runtime.Config{Spec: runtime.DefaultSpec("nosuchcommand"), Rootfs: rootfs})
	if err == nil || !strings.Contains(err.Error(), `exec "nosuchcommand": executable file not found`) {
		t.Errorf("Create with a missing executable = %v", err)
	}
	if _, err := m.State("missing-exe"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("failed Create left state behind: %v", err)
	}
	spec := sh("true")
	spec.Mounts = append(spec.Mounts, specs.Mount{Destination: "/data", Type: "bind", Source: "/nonexistent/dir", Options: []string{"rbind"}})
	if err := m.Create(ctxT(t), "bad-mount", runtime.Config{Spec: spec, Rootfs: rootfs}); err == nil || !strings.Contains(err.Error(), "mount /data") {
		t.Errorf("Create with a bad mount = %v", err)
	}
	if err := m.Create(ctxT(t), "../escape", runtime.Config{Spec: sh("true"), Rootfs: rootfs}); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("Create with a bad id = %v", err)
	}
	if err := m.Start(ctxT(t), "never-created"); err == nil {
		t.Error("Start of a missing container succeeded")
	}
}

func TestRootBindMounts(t *testing.T) {
	testutil.RequiresRoot(t)
	t.Parallel()
	m := newManager(t)
	host := t.TempDir()
	if err := os.WriteFile(host+"/hosts", []byte("10.0.0.2 db\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	spec := sh("cat /etc/hosts; echo rw > /data/rw/f && cat /data/rw/f; touch /data/ro/f 2>/dev/null || echo ro denied")
	spec.Mounts = append(spec.Mounts,
		specs.Mount{Destination: "/etc/hosts", Type: "bind", Source: host + "/hosts", Options: []string{"rbind", "ro"}},
		specs.Mount{Destination: "/data/rw", Type: "bind", Source: host, Options: []string{"rbind", "rw"}},
		specs.Mount{Destination: "/data/ro", Type: "bind", Source: host, Options: []string{"rbind", "ro"}},
	)
	_, out := run(t, m, spec)
	if out != "10.0.0.2 db\nrw\nro denied\n" {
		t.Errorf("output = %q", out)
	}
	if b, _ := os.ReadFile(host + "/f"); string(b) != "rw\n" {
		t.Errorf("write through rw bind = %q", b)
	}
}

func TestRootStopGrace(t *testing.T) {
	testutil.RequiresRoot(t)
	t.Parallel()
	t.Run("handled", func(t *testing.T) {
		t.Parallel()
		m := newManager(t)
		id := startContainer(t, m, sh("trap 'echo got term; exit 0' TERM; echo up; while :; do sleep 0.05; done"))
		waitLog(t, m, id, "up")
		start := time.Now()
		st, err := m.Stop(ctxT(t), id, unix.SIGTERM, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if st.ExitCode != 0 || time.Since(start) > 5*time.Second {
			t.Errorf("stop took %v, state %+v", time.Since(start), st)
		}
		if !strings.Contains(readLog(t, m, id), "got term") {
			t.Errorf("log = %q", readLog(t, m, id))
		}
	})
	t.Run("ignored", func(t *testing.T) {
		t.Parallel()
		m := newManager(t)
		// PID 1 without a handler ignores SIGTERM: only SIGKILL ends it.
		id := startContainer(t, m, sh("echo up; sleep 100"))
		waitLog(t, m, id, "up")
		start := time.Now()
		st, err := m.Stop(ctxT(t), id, unix.SIGTERM, 500*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); st.ExitCode != 137 || d < 500*time.Millisecond || d > 5*time.Second {
			t.Errorf("stop took %v, state %+v; want 137 after the grace period", d, st)
		}
	})
}

func TestRootInit(t *testing.T) {
	testutil.RequiresRoot(t)
	t.Parallel()
	withInit := func(c *runtime.Config) { c.Init = true }
	t.Run("reaps zombies", func(t *testing.T) {
		t.Parallel()
		m := newManager(t)
		// The inner sh exits at once, orphaning sleep to PID 1.
		st, out := run(t, m, sh("sh -c 'sleep 0.1 &'; sleep 0.6; ps -o stat,args | grep -c '^Z'; cat /proc/1/cmdline | tr '\\0' ' '; exit 5"), withInit)
		if st.ExitCode != 5 {
			t.Errorf("exit code = %d, want 5", st.ExitCode)
		}
		if !strings.HasPrefix(out, "0\nstack-init init ") {
			t.Errorf("output = %q, want no zombie and stack-init as PID 1", out)
		}
	})
	t.Run("forwards signals", func(t *testing.T) {
		t.Parallel()
		m := newManager(t)
		id := startContainer(t, m, sh("trap 'exit 7' TERM; echo up; while :; do sleep 0.05; done"), withInit)
		waitLog(t, m, id, "up")
		st, err := m.Stop(ctxT(t), id, unix.SIGTERM, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if st.ExitCode != 7 {
			t.Errorf("exit code = %d, want 7", st.ExitCode)
		}
	})
	t.Run("signal exit status", func(t *testing.T) {
		t.Parallel()
		m := newManager(t)
		id := startContainer(t, m, runtime.DefaultSpec("sleep", "100"), withInit)
		time.Sleep(100 * time.Millisecond)
		st, err := m.Stop(ctxT(t), id, unix.SIGTERM, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if st.ExitCode != 143 {
			t.Errorf("exit code = %d, want 143", st.ExitCode)
		}
	})
}

func TestRootPauseResumeStats(t *testing.T) {
	testutil.RequiresRoot(t)
	t.Parallel()
	m := newManager(t)
	id := startContainer(t, m, sh("echo up; while :; do :; done"))
	waitLog(t, m, id, "up")
	if err := m.Pause(id); err != nil {
		t.Fatal(err)
	}
	if st, _ := m.State(id); st.Status != runtime.Paused {
		t.Errorf("status after Pause = %s", st.Status)
	}
	s1, err := m.Stats(id)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	s2, _ := m.Stats(id)
	if d := s2.CPUUsage - s1.CPUUsage; d > 20*time.Millisecond {
		t.Errorf("a paused container used %v of CPU", d)
	}
	if s2.Pids != 1 || s2.MemoryUsage == 0 {
		t.Errorf("stats = %+v", s2)
	}
	if err := m.Resume(id); err != nil {
		t.Fatal(err)
	}
	if st, _ := m.State(id); st.Status != runtime.Running {
		t.Errorf("status after Resume = %s", st.Status)
	}
	// It spins again: its CPU time grows (how fast depends on the load
	// beside it, so no rate is asserted).
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		s3, _ := m.Stats(id)
		if s3.CPUUsage-s2.CPUUsage >= 50*time.Millisecond {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("after Resume, its CPU time grew by %v only", s3.CPUUsage-s2.CPUUsage)
			break
		}
	}
	// A paused container stops: thawed, then signalled and killed.
	if err := m.Pause(id); err != nil {
		t.Fatal(err)
	}
	st, err := m.Stop(ctxT(t), id, unix.SIGTERM, 100*time.Millisecond)
	if err != nil || st.Status != runtime.Stopped || st.ExitCode != 137 {
		t.Errorf("Stop of a paused container = %+v, %v; want stopped, 137", st, err)
	}
	// Once it is removed there is nothing to pause or measure.
	if err := m.Delete(ctxT(t), id, false); err != nil {
		t.Fatal(err)
	}
	if err := m.Pause(id); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("Pause of a removed container = %v, want ErrNotFound", err)
	}
	if _, err := m.Stats(id); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("Stats of a removed container = %v, want ErrNotFound", err)
	}
}

// TestRootOutlivesManager creates a container from a child process that
// then exits, and adopts the container with a new Manager.
func TestRootOutlivesManager(t *testing.T) {
	testutil.RequiresRoot(t)
	t.Parallel()
	root := t.TempDir()
	parent := "stack-test-" + containerID(t)
	t.Cleanup(func() { checkLeaks(t, root, parent) })
	rootfs := testutil.BusyboxRootfs(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+strings.Join([]string{root, parent, rootfs}, ","))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("helper: %v: %s", err, out)
	}
	m, err := runtime.New(runtime.Options{StateRoot: root, CgroupParent: parent})
	if err != nil {
		t.Fatal(err)
	}
	const id = "adopted"
	t.Cleanup(func() { m.Delete(context.Background(), id, true) })
	st, err := m.State(id)
	if err != nil || st.Status != runtime.Running {
		t.Fatalf("adopted state = %+v, %v", st, err)
	}
	waitLog(t, m, id, "gone\n")
	if err := m.Kill(ctxT(t), id, unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if st, err := m.Wait(ctxT(t), id); err != nil || st.ExitCode != 137 {
		t.Errorf("Wait = %+v, %v", st, err)
	}
	if out := readLog(t, m, id); out != "started by a manager that is gone\n" {
		t.Errorf("log = %q", out)
	}
	if err := m.Delete(ctxT(t), id, false); err != nil {
		t.Fatal(err)
	}
}

const helperEnv = "STACK_RUNTIME_TEST_HELPER"

// createAndLeave runs in the helper process of TestRootOutlivesManager.
func createAndLeave(arg string) error {
	f := strings.Split(arg, ",")
	m, err := runtime.New(runtime.Options{StateRoot: f[0], CgroupParent: f[1]})
	if err != nil {
		return err
	}
	ctx := context.Background()
	if err := m.Create(ctx, "adopted", runtime.Config{Spec: sh("echo started by a manager that is gone; sleep 100"), Rootfs: f[2]}); err != nil {
		return err
	}
	if err := m.Start(ctx, "adopted"); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	return nil
}

func TestRootDeleteCreated(t *testing.T) {
	testutil.RequiresRoot(t)
	t.Parallel()
	m := newManager(t)
	id := containerID(t)
	if err := m.Create(ctxT(t), id, runtime.Config{Spec: sh("echo never"), Rootfs: testutil.BusyboxRootfs(t)}); err != nil {
		t.Fatal(err)
	}
	if st, _ := m.State(id); st.Status != runtime.Created {
		t.Errorf("status = %s, want created", st.Status)
	}
	if err := m.Delete(ctxT(t), id, false); err != nil {
		t.Fatal(err)
	}
	if _, err := m.State(id); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("State after Delete = %v", err)
	}
}
