package runtime_test

import (
	"context"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/stack-dev/stack/internal/testutil"
	"github.com/stack-dev/stack/runtime"
)

var nonID = regexp.MustCompile(`[^a-zA-Z0-9_.-]+`)

// containerID derives a unique container id from the test name.
func containerID(t testing.TB) string {
	id := strings.ToLower(nonID.ReplaceAllString(t.Name(), "-"))
	if len(id) > 100 {
		id = id[len(id)-100:]
	}
	return strings.Trim(id, "-.")
}

// newManager returns a Manager with its own state root and cgroup parent,
// and registers a leak check; opts may change its other options.
func newManager(t *testing.T, opts ...func(*runtime.Options)) *runtime.Manager {
	t.Helper()
	root := t.TempDir()
	parent := "stack-test-" + containerID(t)
	o := runtime.Options{StateRoot: root, CgroupParent: parent}
	for _, f := range opts {
		f(&o)
	}
	m, err := runtime.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { checkLeaks(t, root, parent) })
	return m
}

// run creates, starts and waits for a container, returns its final state
// and its log, and deletes it.
func run(t *testing.T, m *runtime.Manager, spec *specs.Spec, mut ...func(*runtime.Config)) (runtime.State, string) {
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
	t.Cleanup(func() { m.Delete(context.Background(), id, true) })
	if err := m.Start(ctx, id); err != nil {
		t.Fatalf("Start: %v", err)
	}
	st, err := m.Wait(ctx, id)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	logs := readLog(t, m, id)
	if err := m.Delete(ctx, id, false); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	return st, logs
}

// readLog returns the container's log as the text it wrote.
func readLog(t *testing.T, m *runtime.Manager, id string) string {
	t.Helper()
	p, err := m.LogPath(id)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var b strings.Builder
	if err := runtime.DecodeLogs(f, func(e runtime.LogEntry) error { b.WriteString(e.Log); return nil }); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func sh(script string) *specs.Spec {
	return runtime.DefaultSpec("/bin/sh", "-c", script)
}

func TestRootRunExitCode(t *testing.T) {
	testutil.RequiresRoot(t)
	t.Parallel()
	m := newManager(t)
	st, logs := run(t, m, sh("echo hello; echo oops >&2; exit 3"))
	if st.ExitCode != 3 || st.Status != runtime.Stopped {
		t.Errorf("state = %+v, want stopped with exit code 3", st)
	}
	if logs != "hello\noops\n" && logs != "oops\nhello\n" {
		t.Errorf("logs = %q", logs)
	}
}
