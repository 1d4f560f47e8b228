package testutil

import (
	"io/fs"
	"os"
	"syscall"
	"testing"
)

// Owner returns the uid, gid and mode of path itself (a symlink's own),
// as the host sees them.
func Owner(t testing.TB, path string) (uid, gid uint32, mode fs.FileMode) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return st.Uid, st.Gid, fi.Mode()
}
