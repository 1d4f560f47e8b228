package runtime_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/stack-dev/stack/internal/testutil"
	"github.com/stack-dev/stack/runtime"
)

// buildInit builds cmd/stack-init as make build does (-tags stackinit)
// into a directory open to others, as /usr/local/bin is, and returns its
// path.
func buildInit(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("/tmp", "stack-init-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "stack-init")
	cmd := exec.Command("go", "build", "-tags", "stackinit", "-o", bin, "../cmd/stack-init")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build stack-init: %v\n%s", err, out)
	}
	return bin
}

func newManagerWithInit(t *testing.T, initBinary string) *runtime.Manager {
	t.Helper()
	return newManager(t, func(o *runtime.Options) { o.InitBinary = initBinary })
}

// TestRootInitBinary runs containers whose init is the stack-init binary
// (the shim is this test binary): with init: true it stays PID 1, so the
// host sees which program it is, in the host's user namespace and in one
// of the container's own; an exec'd process starts from it too. An init
// binary that is not there fails New; one nobody may execute fails Create,
// naming it, and leaves the group's shim and its other containers running;
// one replaced on disk leaves the group's shim exec'ing the one it opened.
func TestRootInitBinary(t *testing.T) {
	testutil.RequiresRoot(t)
	t.Parallel()
	bin := buildInit(t)
	withInit := func(c *runtime.Config) { c.Init = true }
	for _, userns := range []bool{false, true} {
		t.Run(fmt.Sprintf("userns=%v", userns), func(t *testing.T) {
			t.Parallel()
			m := newManagerWithInit(t, bin)
			spec := sh("echo up; exec sleep 100")
			rootfs := func(*runtime.Config) {}
			if userns {
				spec = withUserNS(spec, usernsBase)
				shifted := shiftedRootfs(t, usernsBase)
				rootfs = func(c *runtime.Config) { c.Rootfs = shifted }
			}
			id := startContainer(t, m, spec, withInit, rootfs)
			waitLog(t, m, id, "up")
			st, err := m.State(id)
			if err != nil {
				t.Fatal(err)
			}
			if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", st.Pid)); err != nil || exe != bin {
				t.Errorf("the container's PID 1 runs %q (%v), want %s", exe, err, bin)
			}
			p := runtime.DefaultSpec("sh", "-c", "echo exec $(id -u)").Process
			var out bytes.Buffer
			proc, err := m.Exec(ctxT(t), id, runtime.ExecConfig{Process: p, Stdout: &out})
			if err != nil {
				t.Fatal(err)
			}
			if code, err := proc.Wait(); err != nil || code != 0 {
				t.Fatalf("exec: code %d, %v", code, err)
			}
			if got := strings.TrimSpace(out.String()); got != "exec 0" {
				t.Errorf("exec printed %q, want %q", got, "exec 0")
			}
			if _, err := m.Stop(ctxT(t), id, unix.SIGKILL, time.Second); err != nil {
				t.Fatal(err)
			}
		})
	}
	t.Run("missing", func(t *testing.T) {
		t.Parallel()
		missing := filepath.Join(filepath.Dir(bin), "no-such-init")
		_, err := runtime.New(runtime.Options{StateRoot: t.TempDir(), InitBinary: missing})
		if err == nil || !strings.Contains(err.Error(), missing) {
			t.Errorf("New with a missing init binary: %v, want an error naming %s", err, missing)
		}
	})
	t.Run("not executable", func(t *testing.T) {
		t.Parallel()
		data, err := os.ReadFile(bin)
		if err != nil {
			t.Fatal(err)
		}
		plain := filepath.Join(filepath.Dir(bin), "stack-init-0644")
		if err := os.WriteFile(plain, data, 0o644); err != nil {
			t.Fatal(err)
		}
		m := newManagerWithInit(t, plain)
		// A container of the group that runs: with a user namespace of
		// its own, whose root may not execute the init binary, it gets
		// the shim's own init.
		keeper := withUserNS(sh("echo up; exec sleep 100"), usernsBase)
		shifted := shiftedRootfs(t, usernsBase)
		const group = "plain-init"
		kid := startContainer(t, m, keeper, func(c *runtime.Config) { c.Rootfs, c.Group = shifted, group })
		waitLog(t, m, kid, "up")
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		id := containerID(t) + "-2" // the keeper has containerID(t)
		err = m.Create(ctx, id, runtime.Config{Spec: sh("true"), Rootfs: testutil.BusyboxRootfs(t), Group: group})
		if err == nil {
			m.Delete(context.Background(), id, true)
			t.Fatal("Create with an init binary nobody may execute succeeded")
		}
		if !strings.Contains(err.Error(), plain) || !strings.Contains(err.Error(), "permission denied") {
			t.Errorf("error %q does not name %s and its permission", err, plain)
		}
		// The failed clone's cleanup must not have killed the group's
		// shim, and with it the keeper.
		if st, err := m.State(kid); err != nil || st.Status != runtime.Running {
			t.Errorf("the group's other container after the failed create: %+v, %v", st, err)
		}
		if _, err := m.Stop(ctxT(t), kid, unix.SIGKILL, time.Second); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("replaced", func(t *testing.T) {
		t.Parallel()
		data, err := os.ReadFile(bin)
		if err != nil {
			t.Fatal(err)
		}
		own := filepath.Join(filepath.Dir(bin), "stack-init-replaced")
		if err := os.WriteFile(own, data, 0o755); err != nil {
			t.Fatal(err)
		}
		m := newManagerWithInit(t, own)
		const group = "replaced-init"
		inGroup := func(c *runtime.Config) { c.Group = group }
		kid := startContainer(t, m, sh("echo up; exec sleep 100"), inGroup)
		waitLog(t, m, kid, "up")
		// An upgrade replaces the binary: the group's shim goes on
		// exec'ing the one it started with.
		tmp := own + ".new"
		if err := os.WriteFile(tmp, []byte("#!/bin/false\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, own); err != nil {
			t.Fatal(err)
		}
		t.Run("after", func(t *testing.T) { // a container id of its own
			st, out := run(t, m, sh("echo second"), inGroup)
			if st.ExitCode != 0 || !strings.Contains(out, "second") {
				t.Errorf("a container of the group after the replacement: exit %d, %q", st.ExitCode, out)
			}
		})
		if _, err := m.Stop(ctxT(t), kid, unix.SIGKILL, time.Second); err != nil {
			t.Fatal(err)
		}
	})
}
