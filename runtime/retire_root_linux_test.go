package runtime_test

import (
	"context"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/stack-dev/stack/internal/testutil"
	"github.com/stack-dev/stack/runtime"
)

// TestRootRetiredWhileCreated tells a created container's shim that the
// Manager removed the container, with its init still there, as happens
// when a cleanup (after a daemon died during an up) found no process yet
// because the shim was still creating it: the shim ends the init, takes
// the container's cgroup, and exits, having nothing else to serve.
func TestRootRetiredWhileCreated(t *testing.T) {
	testutil.RequiresRoot(t)
	t.Parallel()
	m := newManager(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	id := containerID(t)
	if err := m.Create(ctx, id, runtime.Config{Spec: sh("sleep 60"), Rootfs: testutil.BusyboxRootfs(t)}); err != nil {
		t.Fatal(err)
	}
	st, err := m.State(id)
	if err != nil {
		t.Fatal(err)
	}
	if err := runtime.Retire(m, id); err != nil {
		t.Fatal(err)
	}
	for _, p := range []struct {
		what string
		pid  int
	}{{"init", st.Pid}, {"shim", st.ShimPid}} {
		deadline := time.Now().Add(10 * time.Second)
		for processRuns(p.pid) {
			if time.Now().After(deadline) {
				t.Errorf("the %s (%d) of a retired container still runs", p.what, p.pid)
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	// The leak check (newManager) sees that its cgroup went with it.
	if err := m.Delete(ctx, id, true); err != nil {
		t.Errorf("delete: %v", err)
	}
}

// TestRootIdleShimExitsOnRetire starts a group's shim and sends it no
// container, as a daemon killed between the two does; the next daemon's
// removal of that container reaches the shim as a retire of a container
// it does not serve, and the shim, serving nothing, exits then rather
// than at its idle timer.
func TestRootIdleShimExitsOnRetire(t *testing.T) {
	testutil.RequiresRoot(t)
	t.Parallel()
	m := newManager(t)
	group := containerID(t)
	if err := runtime.StartGroupShim(m, group); err != nil {
		t.Fatal(err)
	}
	shims := processesWithEnv("/.shims/" + group)
	if len(shims) != 1 {
		t.Fatalf("shims of the group: %v, want one", shims)
	}
	runtime.RetireInGroup(m, group, group+"-gone")
	if processRuns(shims[0]) {
		t.Errorf("the idle shim %d still runs after a retire", shims[0])
		unix.Kill(shims[0], unix.SIGKILL)
	}
}
