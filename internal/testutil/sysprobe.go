package testutil

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var sysprobe struct {
	once sync.Once
	path string
	err  error
	out  []byte
}

// SysProbe returns the path of the sysprobe command (internal/testutil/
// sysprobe), built once per test binary, statically linked so that it runs
// in any container.
func SysProbe(t testing.TB) string {
	t.Helper()
	sysprobe.once.Do(func() {
		dir, err := os.MkdirTemp("", "sysprobe-")
		if err != nil {
			sysprobe.err = err
			return
		}
		sysprobe.path = filepath.Join(dir, "sysprobe")
		cmd := exec.Command("go", "build", "-o", sysprobe.path, "github.com/stack-dev/stack/internal/testutil/sysprobe")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		sysprobe.out, sysprobe.err = cmd.CombinedOutput()
	})
	if sysprobe.err != nil {
		t.Fatalf("build sysprobe: %v\n%s", sysprobe.err, sysprobe.out)
	}
	return sysprobe.path
}
