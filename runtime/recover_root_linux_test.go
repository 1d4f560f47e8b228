package runtime_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stack-dev/stack/internal/errdefs"
	"github.com/stack-dev/stack/internal/testutil"
	"github.com/stack-dev/stack/runtime"
)

// killShim SIGKILLs the shim of container id and waits until it is gone.
func killShim(t *testing.T, m *runtime.Manager, id string) {
	t.Helper()
	st, err := m.State(id)
	if err != nil || st.ShimPid == 0 {
		t.Fatalf("state: %+v, %v", st, err)
	}
	if err := syscall.Kill(st.ShimPid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 500; i++ {
		if st, _ := m.State(id); st.Status == runtime.Unknown {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatal("the shim did not die")
}

// TestRootShimDeathLosesNoLine: the shim dies while the container
// prints; what it printed before, and what it printed while nobody read,
// reaches the log, every line in order.
func TestRootShimDeathLosesNoLine(t *testing.T) {
	testutil.RequiresRoot(t)
	t.Parallel()
	m := newManager(t)
	id := startContainer(t, m, sh("i=1; while true; do echo line $i; i=$((i+1)); done"))
	waitLog(t, m, id, "line 100\n")
	killShim(t, m, id)
	// It goes on printing into the pipe, which nobody reads now.
	time.Sleep(300 * time.Millisecond)
	st, err := m.Wait(ctxT(t), id)
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != runtime.Stopped || st.ExitCode != 137 || st.Error == "" {
		t.Errorf("after its shim died, the wait says %+v, want stopped, killed (137), and why", st)
	}
	logs := readLog(t, m, id)
	// A batch the shim logged but had not yet taken out of the pipe when
	// it died is logged again by the recovery: lines may repeat, but none
	// may be missing.
	seen := map[int]bool{}
	last, repeats := 0, 0
	lines := strings.Split(strings.TrimSuffix(logs, "\n"), "\n")
	for i, l := range lines {
		var k int
		if _, err := fmt.Sscanf(l, "line %d", &k); err != nil || !strings.HasPrefix(l, "line ") {
			if i == len(lines)-1 {
				break // the very last line may be cut by the kill
			}
			t.Fatalf("line %q", l)
		}
		if seen[k] {
			repeats++
		}
		seen[k] = true
		last = max(last, k)
	}
	for k := 1; k <= last; k++ {
		if !seen[k] {
			t.Fatalf("line %d of %d is lost", k, last)
		}
	}
	if last < 1000 {
		t.Errorf("only %d lines logged: the lines printed while the shim was dead are missing", last)
	}
	t.Logf("%d lines, none lost, %d logged twice", last, repeats)
	if st2, err := m.Wait(ctxT(t), id); err != nil || st2.ExitCode != 137 {
		t.Errorf("second wait: %+v, %v", st2, err)
	}
}

// TestRootShimDeathAfterExit: a container that ended while its shim was
// gone is reported with its own exit status (it came to us, a child
// subreaper, as the daemon is), and its output is kept.
func TestRootShimDeathAfterExit(t *testing.T) {
	testutil.RequiresRoot(t)
	t.Parallel()
	m := newManager(t)
	id := startContainer(t, m, sh("sleep 0.2; echo bye; exit 3"))
	killShim(t, m, id)
	time.Sleep(600 * time.Millisecond)
	st, err := m.Wait(ctxT(t), id)
	if err != nil || st.Status != runtime.Stopped || st.ExitCode != 3 {
		t.Errorf("wait: %+v, %v; want stopped with its own 3", st, err)
	}
	if logs := readLog(t, m, id); logs != "bye\n" {
		t.Errorf("log = %q", logs)
	}
}

// TestRootShimDeathKillsTheContainer: a running container whose shim
// died is killed by the next wait, stop or delete, not left running
// unseen; stop and delete succeed.
func TestRootShimDeathKillsTheContainer(t *testing.T) {
	testutil.RequiresRoot(t)
	t.Parallel()
	m := newManager(t)
	for _, how := range []string{"stop", "delete"} {
		t.Run(how, func(t *testing.T) {
			id := startContainer(t, m, sh("echo up; exec sleep 1000"))
			waitLog(t, m, id, "up")
			st, _ := m.State(id)
			killShim(t, m, id)
			switch how {
			case "stop":
				got, err := m.Stop(ctxT(t), id, 0, time.Second)
				if err != nil || got.Status != runtime.Stopped || got.ExitCode != 137 {
					t.Errorf("stop of a container whose shim died: %+v, %v", got, err)
				}
				if err := m.Delete(ctxT(t), id, false); err != nil {
					t.Errorf("delete: %v", err)
				}
			case "delete":
				if err := m.Delete(ctxT(t), id, true); err != nil {
					t.Errorf("delete of a container whose shim died: %v", err)
				}
			}
			if processRuns(st.Pid) {
				t.Errorf("the container's process %d still runs", st.Pid)
			}
			if _, err := m.State(id); !errors.Is(err, errdefs.ErrNotFound) {
				t.Errorf("state after delete: %v", err)
			}
		})
	}
}

// TestRootDeleteHalfRemoved: a state directory a crash left half removed
// (state.json and the socket gone, config.json there) still deletes.
func TestRootDeleteHalfRemoved(t *testing.T) {
	testutil.RequiresRoot(t)
	t.Parallel()
	root := t.TempDir()
	parent := "stack-test-" + containerID(t)
	m, err := runtime.New(runtime.Options{StateRoot: root, CgroupParent: parent})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { checkLeaks(t, root, parent) })
	id := startContainer(t, m, sh("echo up; exec sleep 1000"))
	waitLog(t, m, id, "up")
	st, _ := m.State(id)
	killShim(t, m, id)
	os.Remove(filepath.Join(root, id, "state.json"))
	os.Remove(filepath.Join(root, id, "shim.sock"))
	if err := m.Delete(ctxT(t), id, true); err != nil {
		t.Fatalf("delete of a half-removed container: %v", err)
	}
	if processRuns(st.Pid) {
		t.Errorf("the container's process %d still runs", st.Pid)
	}
}

// processRuns reports whether pid runs (a zombie has ended).
func processRuns(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && len(s) > i+2 && s[i+2] != 'Z' && s[i+2] != 'X'
}

// TestRootLogRotation: with MaxSize and MaxFiles the shim keeps the log
// to its size, in MaxFiles files.
func TestRootLogRotation(t *testing.T) {
	testutil.RequiresRoot(t)
	t.Parallel()
	m := newManager(t)
	logPath := filepath.Join(t.TempDir(), "c.log")
	run(t, m, sh("i=0; while [ $i -lt 3000 ]; do echo line $i; i=$((i+1)); done"), func(c *runtime.Config) {
		c.Log = runtime.LogConfig{Path: logPath, MaxSize: 8 << 10, MaxFiles: 3}
	})
	files := (runtime.LogConfig{Path: logPath, MaxFiles: 3}).Files()
	if len(files) != 3 {
		t.Fatalf("files: %v, want 3", files)
	}
	if _, err := os.Stat(logPath + ".3"); err == nil {
		t.Error("a fourth file is kept")
	}
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil || fi.Size() > 8<<10 {
			t.Errorf("%s: %v bytes, want at most 8 KiB (%v)", f, fi.Size(), err)
		}
	}
	data, _ := os.ReadFile(logPath)
	if !strings.Contains(string(data), "line 2999") {
		t.Errorf("the current file lacks the last line")
	}
}
