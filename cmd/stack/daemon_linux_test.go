package main

import (
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/stack-dev/stack/internal/testutil"
)

// testEngine points the CLI at a daemon of the test's own (socket and state
// root in a temporary directory) and stops that daemon at the end.
func testEngine(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	t.Setenv("STACK_HOST", "unix://"+filepath.Join(dir, "stack.sock"))
	t.Setenv("STACK_STATE_ROOT", root)
	t.Cleanup(func() {
		data, err := os.ReadFile(filepath.Join(root, "daemon.pid"))
		if err != nil {
			return
		}
		pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
		if pid > 0 {
			syscall.Kill(pid, syscall.SIGTERM)
			for i := 0; i < 200 && syscall.Kill(pid, 0) == nil; i++ {
				time.Sleep(10 * time.Millisecond)
			}
		}
	})
}

// TestDaemonStartsOnDemand: the first command starts the daemon and says so
// once; the next one finds it running.
func TestDaemonStartsOnDemand(t *testing.T) {
	testEngine(t)
	rootfs := testutil.BusyboxRootfs(t)
	code, out, errOut := runCLI(t, t.TempDir(), "image", "import", "--rootfs", rootfs, "example/busybox:1", "-c", `CMD ["sh"]`)
	if code != 0 || !strings.HasPrefix(out, "imported example/busybox:1 ") || !strings.Contains(errOut, "started the daemon") {
		t.Fatalf("import: code %d, stdout %q, stderr %q", code, out, errOut)
	}
	code, out, errOut = runCLI(t, t.TempDir(), "image", "ls")
	if code != 0 || errOut != "" || !strings.Contains(out, "example/busybox   1 ") {
		t.Fatalf("ls: code %d, stdout %q, stderr %q", code, out, errOut)
	}
	code, out, _ = runCLI(t, t.TempDir(), "image", "history", "example/busybox:1")
	if code != 0 || !strings.Contains(out, "stack image import --rootfs") {
		t.Errorf("history: code %d, stdout %q", code, out)
	}
	code, _, errOut = runCLI(t, t.TempDir(), "image", "rm", "nosuch")
	if code != 1 || errOut != "stack: remove image nosuch: image \"nosuch\": not found\n" {
		t.Errorf("rm of a missing image: code %d, stderr %q", code, errOut)
	}
	code, out, _ = runCLI(t, t.TempDir(), "image", "rm", "example/busybox:1")
	if code != 0 || !strings.Contains(out, "Untagged: ") {
		t.Errorf("rm: code %d, stdout %q", code, out)
	}
}

func TestDaemonUnreachable(t *testing.T) {
	t.Setenv("STACK_HOST", "tcp://127.0.0.1:1")
	code, _, errOut := runCLI(t, t.TempDir(), "image", "ls")
	if code != 2 || !strings.Contains(errOut, "tcp needs TLS") {
		t.Errorf("code %d, stderr %q", code, errOut)
	}
}

// TestDaemonInsecureRegistryFlags: the daemon's --insecure-registry flags
// and its configuration file's insecure-registries and log-opts all reach
// the daemon's configuration, the file's registries first.
func TestDaemonInsecureRegistryFlags(t *testing.T) {
	if newDaemonCommand(&globalOptions{}).Flags().Lookup("insecure-registry") == nil {
		t.Fatal("stack daemon has no --insecure-registry flag")
	}
	file := filepath.Join(t.TempDir(), "daemon.json")
	os.WriteFile(file, []byte(`{"insecure-registries": ["10.0.0.0/8"], "log-opts": {"max-size": "1m", "max-file": "2"}}`), 0o644)
	o := &daemonOptions{}
	fs := pflag.NewFlagSet("daemon", pflag.ContinueOnError)
	o.addFlags(fs)
	if err := fs.Parse([]string{"--insecure-registry", "r.local:5000", "--insecure-registry=192.168.1.9:443", "--config-file", file}); err != nil {
		t.Fatal(err)
	}
	cfg, err := o.config(&globalOptions{stateRoot: "/state", stderr: io.Discard}, fs.Changed("config-file"))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"10.0.0.0/8", "r.local:5000", "192.168.1.9:443"}; !slices.Equal(cfg.InsecureRegistries, want) {
		t.Errorf("InsecureRegistries = %q, want %q", cfg.InsecureRegistries, want)
	}
	if cfg.LogMaxSize != 1<<20 || cfg.LogMaxFiles != 2 || cfg.StateRoot != "/state" {
		t.Errorf("config = %+v", cfg)
	}
	// A configuration file named by the flag must exist.
	o.configFile = filepath.Join(t.TempDir(), "missing.json")
	if _, err := o.config(&globalOptions{stderr: io.Discard}, true); err == nil {
		t.Error("a missing --config-file: no error")
	}
}
