package image_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stack-dev/stack/image"
	"github.com/stack-dev/stack/internal/testutil"
)

// bootstrapCache is where TestRootBootstrapDebian keeps its debootstrapped
// tarball across runs: the first run downloads a minbase Debian from the
// mirror (about a minute or two), a rerun only imports the cached tarball
// (seconds). Delete the directory to test a fresh bootstrap.
const bootstrapCache = "/var/cache/stack-test/bootstrap"

// TestRootBootstrapDebian makes debian:bookworm with mmdebstrap and checks
// that the image has apt and a shell, then bootstraps again from the
// cache. It needs root, mmdebstrap and the Debian mirror of the host's apt
// sources.
func TestRootBootstrapDebian(t *testing.T) {
	testutil.RequiresRoot(t)
	if _, err := os.Stat("/usr/bin/mmdebstrap"); err != nil {
		t.Skip("mmdebstrap is not installed (apt-get install -y mmdebstrap)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	s, err := image.NewStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	opts := image.BootstrapOptions{CacheDir: bootstrapCache, Log: func(l string) { t.Log(l) }}
	start := time.Now()
	img, err := image.Bootstrap(ctx, s, "debian:bookworm", opts)
	if err != nil {
		t.Fatal(err)
	}
	first := time.Since(start)
	start = time.Now()
	again, err := image.Bootstrap(ctx, s, "debian:bookworm", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("bootstrap debian:bookworm: %v (this run's first), %v from the cache", first, time.Since(start))
	if again.ID != img.ID {
		t.Errorf("bootstrap from the same cached tarball gave %s, then %s", img.ID, again.ID)
	}
	rfs, err := s.Rootfs(ctx, "debian:bookworm")
	if err != nil {
		t.Fatal(err)
	}
	if len(rfs.Layers) != 1 {
		t.Fatalf("%d layers, want 1", len(rfs.Layers))
	}
	for _, f := range []string{"usr/bin/apt-get", "bin/bash", "etc/debian_version", "etc/apt/sources.list"} {
		if _, err := os.Lstat(filepath.Join(rfs.Layers[0], f)); err != nil {
			t.Errorf("image lacks /%s: %v", f, err)
		}
	}
	if entries, _ := os.ReadDir(filepath.Join(rfs.Layers[0], "dev")); len(entries) != 0 {
		t.Errorf("/dev has %d entries, want none", len(entries))
	}
}
