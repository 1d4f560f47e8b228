package registry_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/stack-dev/stack/image"
	"github.com/stack-dev/stack/image/registry"
	"github.com/stack-dev/stack/internal/testutil"
)

// TestRootSaveLoadsInPodman saves a bootstrapped busybox image and checks
// that podman loads and runs it: the archive is the standard docker-save
// format, not one only stack reads. It skips when podman is missing or
// cannot run containers on this machine at all (checked with an image
// podman imported itself).
func TestRootSaveLoadsInPodman(t *testing.T) {
	testutil.RequiresRoot(t)
	if _, err := exec.LookPath("podman"); err != nil {
		t.Skip("podman is not installed (apt-get install -y podman)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	podman := func(stdin string, args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, "podman", args...)
		if stdin != "" {
			f, err := os.Open(stdin)
			if err != nil {
				return "", err
			}
			defer f.Close()
			cmd.Stdin = f
		}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := podman("", "info"); err != nil {
		t.Skipf("podman does not work here: %v: %s", err, out)
	}
	store := newStore(t)
	if _, err := image.Bootstrap(ctx, store, "busybox", image.BootstrapOptions{}); err != nil {
		t.Skipf("no static busybox to make a test image from: %v", err)
	}
	name := fmt.Sprintf("localhost/stack-save-test-%d:latest", os.Getpid())
	if err := store.Tag(ctx, "busybox", name); err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(t.TempDir(), "save.tar")
	f, err := os.Create(archive)
	if err != nil {
		t.Fatal(err)
	}
	if err := registry.Save(ctx, store, f, name); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { podman("", "rmi", "--force", name) })
	out, err := podman(archive, "load")
	if err != nil {
		t.Fatalf("podman load: %v: %s", err, out)
	}
	t.Logf("podman load: %s", strings.TrimSpace(out))
	// Without CAP_SYS_RESOURCE podman's default ulimits cannot be set;
	// ask for the limits this process already has.
	run := []string{"run", "--rm", "--network", "none"}
	for _, l := range []struct {
		name     string
		res, max int
	}{{"nofile", unix.RLIMIT_NOFILE, 1048576}, {"nproc", unix.RLIMIT_NPROC, 32768}} {
		var rl unix.Rlimit
		if err := unix.Getrlimit(l.res, &rl); err == nil {
			n := min(rl.Max, uint64(l.max))
			run = append(run, "--ulimit", fmt.Sprintf("%s=%d:%d", l.name, n, n))
		}
	}
	out, err = podman("", append(run, name, "true")...)
	if err == nil {
		out, err = podman("", append(run, name, "cat", "/var/www/index.html")...)
		if err != nil || out != "hello from busybox\n" {
			t.Errorf("podman run cat: %v: %q", err, out)
		}
		return
	}
	// Tell a podman that runs nothing from an image it cannot run.
	rfs, rerr := store.Rootfs(ctx, name)
	if rerr != nil {
		t.Fatalf("podman run: %v: %s (and rootfs for the probe: %v)", err, out, rerr)
	}
	probe := fmt.Sprintf("localhost/stack-save-probe-%d:latest", os.Getpid())
	t.Cleanup(func() { podman("", "rmi", "--force", probe) })
	layer := filepath.Join(t.TempDir(), "layer.tar")
	if perr := exec.CommandContext(ctx, "tar", "-C", rfs.Layers[0], "-cf", layer, ".").Run(); perr != nil {
		t.Fatal(perr)
	}
	if pout, perr := podman(layer, "import", "-", probe); perr != nil {
		t.Skipf("podman cannot import either (%v: %s); podman run of the saved image: %v: %s", perr, pout, err, out)
	}
	if pout, perr := podman("", append(run, probe, "true")...); perr != nil {
		t.Skipf("podman cannot run containers on this machine at all (%v: %s)", perr, pout)
	}
	t.Fatalf("podman runs its own import of the same files but not the saved image: %v: %s", err, out)
}
