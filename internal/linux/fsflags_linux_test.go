package linux

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/stack-dev/stack/internal/testutil"
)

func TestSpreadSubdirs(t *testing.T) {
	dir := t.TempDir()
	if err := SpreadSubdirs(dir); err != nil {
		t.Fatalf("SpreadSubdirs: %v", err)
	}
	got, err := SpreadsSubdirs(dir)
	if err != nil {
		t.Fatalf("SpreadsSubdirs: %v", err)
	}
	var fs unix.Statfs_t
	if err := unix.Statfs(dir, &fs); err != nil {
		t.Fatal(err)
	}
	// ext2, ext3 and ext4 share the magic number and the flag; elsewhere
	// the call is a no-op (or, on overlayfs, the upper layer's business).
	if fs.Type == unix.EXT4_SUPER_MAGIC && !got {
		t.Errorf("flag not set on ext4")
	}
	// Setting it twice is fine.
	if err := SpreadSubdirs(dir); err != nil {
		t.Fatalf("second SpreadSubdirs: %v", err)
	}
}

func TestSpreadSubdirsNotADirectory(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := SpreadSubdirs(file); !errors.Is(err, unix.ENOTDIR) {
		t.Errorf("SpreadSubdirs(file) = %v, want ENOTDIR", err)
	}
	if err := SpreadSubdirs(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("SpreadSubdirs(missing) = %v, want not exist", err)
	}
}

// On a file system without the flag (tmpfs here) SpreadSubdirs does
// nothing and says nothing.
func TestRootSpreadSubdirsTmpfs(t *testing.T) {
	testutil.RequiresRoot(t)
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	if err := SpreadSubdirs(dir); err != nil {
		t.Fatalf("SpreadSubdirs on tmpfs: %v", err)
	}
	if spread, err := SpreadsSubdirs(dir); err != nil || spread {
		t.Errorf("SpreadsSubdirs on tmpfs = %v, %v; want false, nil", spread, err)
	}
}
