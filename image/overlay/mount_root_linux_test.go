package overlay

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/stack-dev/stack/internal/testutil"
)

// TestRootIsMounted: statx's answer agrees with the mount table's for a
// mount point, a directory inside it, a plain directory and a missing
// path.
func TestRootIsMounted(t *testing.T) {
	testutil.RequiresRoot(t)
	dir := t.TempDir()
	mnt := filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", mnt, "tmpfs", 0, ""); err != nil {
		t.Fatal(err)
	}
	defer unix.Unmount(mnt, unix.MNT_DETACH)
	if err := os.Mkdir(filepath.Join(mnt, "sub"), 0o700); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]bool{mnt: true, filepath.Join(mnt, "sub"): false, dir: false, filepath.Join(dir, "missing"): false} {
		got, err := isMounted(path)
		if err != nil || got != want {
			t.Errorf("isMounted(%s) = %v, %v; want %v", path, got, err, want)
		}
		if byTable, err := isMountedByTable(path); err != nil || byTable != want {
			t.Errorf("isMountedByTable(%s) = %v, %v; want %v", path, byTable, err, want)
		}
	}
}
