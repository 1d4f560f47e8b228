package daemon

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/stack-dev/stack/internal/linux"
)

// The state root is closed to all but root, an older open one is
// tightened, and the directories that hold one directory per container
// spread them over ext4's block groups.
func TestStateRootLayout(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, volumesDir), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(root, 0o711); err != nil {
		t.Fatal(err)
	}
	d, err := New(Config{StateRoot: root})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, dir := range []string{"", containerDir, rootfsDir, volumesDir, logsDir, projectsDir, storageDir} {
		fi, err := os.Stat(filepath.Join(root, dir))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o700 {
			t.Errorf("%s/%s: mode %v, want 0700", root, dir, fi.Mode().Perm())
		}
	}
	var fs unix.Statfs_t
	if err := unix.Statfs(root, &fs); err != nil {
		t.Fatal(err)
	}
	ext4 := fs.Type == unix.EXT4_SUPER_MAGIC
	for _, dir := range []string{containerDir, rootfsDir, volumesDir, etcDir} {
		spread, err := linux.SpreadsSubdirs(filepath.Join(root, dir))
		if err != nil {
			t.Fatal(err)
		}
		if ext4 && !spread {
			t.Errorf("%s: does not spread its subdirectories on ext4", dir)
		}
	}
}
