package runtime_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stack-dev/stack/internal/testutil"
	"github.com/stack-dev/stack/runtime"
)

// createInGroup creates and starts container id in group and deletes it
// when the test ends.
func createInGroup(t *testing.T, m *runtime.Manager, id, group, script string) {
	t.Helper()
	cfg := runtime.Config{Spec: sh(script), Rootfs: testutil.BusyboxRootfs(t), Group: group}
	if err := m.Create(ctxT(t), id, cfg); err != nil {
		t.Fatalf("Create %s: %v", id, err)
	}
	t.Cleanup(func() { m.Delete(context.Background(), id, true) })
	if err := m.Start(ctxT(t), id); err != nil {
		t.Fatalf("Start %s: %v", id, err)
	}
}

// TestRootGroupSharesOneShim: the containers of a group have one shim
// process, which serves each one's own control socket and log, and exits
// with the group's last container, taking its directory with it.
func TestRootGroupSharesOneShim(t *testing.T) {
	testutil.RequiresRoot(t)
	t.Parallel()
	root := t.TempDir()
	parent := "stack-test-" + containerID(t)
	m, err := runtime.New(runtime.Options{StateRoot: root, CgroupParent: parent})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { checkLeaks(t, root, parent) })
	ids := []string{"g1", "g2", "g3"}
	for _, id := range ids {
		createInGroup(t, m, id, "proj", "trap 'exit 7' TERM; echo hello; while :; do sleep 0.05; done")
	}
	var shim int
	for _, id := range ids {
		st, err := m.State(id)
		if err != nil || st.Status != runtime.Running {
			t.Fatalf("%s: %+v, %v", id, st, err)
		}
		if shim == 0 {
			shim = st.ShimPid
		} else if st.ShimPid != shim {
			t.Errorf("%s has shim %d, the others %d", id, st.ShimPid, shim)
		}
	}
	if _, err := os.Stat(filepath.Join(root, ".shims", "proj", "shim.sock")); err != nil {
		t.Errorf("the group's socket: %v", err)
	}
	for i, id := range ids {
		st, err := m.Stop(ctxT(t), id, 0, time.Second)
		if err != nil || st.ExitCode != 7 {
			t.Errorf("stop %s: %+v, %v", id, st, err)
		}
		if err := m.Delete(ctxT(t), id, false); err != nil {
			t.Fatal(err)
		}
		if last := i == len(ids)-1; processRuns(shim) == last {
			t.Errorf("after deleting %d of %d containers, shim running: %v", i+1, len(ids), !last)
		}
	}
	if _, err := os.Stat(filepath.Join(root, ".shims", "proj")); !os.IsNotExist(err) {
		t.Errorf("the group's directory after its last container: %v", err)
	}
}

// TestRootGroupShimDeath: a group's shim killed takes its containers
// with it, each recovered with its output, and the next container of the
// group gets a new shim.
func TestRootGroupShimDeath(t *testing.T) {
	testutil.RequiresRoot(t)
	t.Parallel()
	m := newManager(t)
	createInGroup(t, m, "d1", "proj", "echo one; sleep 30")
	createInGroup(t, m, "d2", "proj", "echo two; sleep 30")
	waitLog(t, m, "d1", "one\n")
	waitLog(t, m, "d2", "two\n")
	killShim(t, m, "d1")
	for id, want := range map[string]string{"d1": "one\n", "d2": "two\n"} {
		st, err := m.Wait(ctxT(t), id)
		if err != nil || st.ExitCode != 137 {
			t.Errorf("%s after its shim died: %+v, %v; want killed (137)", id, st, err)
		}
		if got := readLog(t, m, id); got != want {
			t.Errorf("%s log %q, want %q", id, got, want)
		}
	}
	createInGroup(t, m, "d3", "proj", "echo three")
	if st, err := m.Wait(ctxT(t), "d3"); err != nil || st.ExitCode != 0 {
		t.Errorf("d3 after a new shim: %+v, %v", st, err)
	}
	for _, id := range []string{"d1", "d2", "d3"} {
		if err := m.Delete(ctxT(t), id, false); err != nil {
			t.Error(err)
		}
	}
}

// TestRootGroupChurn creates and deletes containers of one group from
// two goroutines, so that shims exit as new containers come: every
// container runs to its exit code, whichever shim takes it.
func TestRootGroupChurn(t *testing.T) {
	testutil.RequiresRoot(t)
	t.Parallel()
	m := newManager(t)
	rootfs := testutil.BusyboxRootfs(t)
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 15 {
				id := fmt.Sprintf("churn-%d-%d", w, i)
				ctx := context.Background()
				if err := m.Create(ctx, id, runtime.Config{Spec: sh(fmt.Sprintf("exit %d", i)), Rootfs: rootfs, Group: "proj"}); err != nil {
					t.Errorf("create %s: %v", id, err)
					return
				}
				if err := m.Start(ctx, id); err != nil {
					t.Errorf("start %s: %v", id, err)
				}
				if st, err := m.Wait(ctx, id); err != nil || st.ExitCode != i {
					t.Errorf("%s: %+v, %v; want exit %d", id, st, err, i)
				}
				if err := m.Delete(ctx, id, false); err != nil {
					t.Errorf("delete %s: %v", id, err)
				}
			}
		}()
	}
	wg.Wait()
}
