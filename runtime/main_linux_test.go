package runtime_test

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/stack-dev/stack/runtime"
)

func TestMain(m *testing.M) {
	if runtime.IsInit() {
		runtime.Init()
	}
	if arg := os.Getenv(helperEnv); arg != "" {
		if err := createAndLeave(arg); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	// Every t.TempDir of this suite lands under one directory, so the
	// final check sees our mounts only, not those of other packages'
	// tests running on the same machine.
	suiteTmp, err := os.MkdirTemp("", "stack-runtime-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv("TMPDIR", suiteTmp)
	// As the daemon is: a container whose shim dies comes to us.
	unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
	before := hostSuperOptions()
	code := m.Run()
	if os.Getenv("STACK_TEST_ROOT") == "1" && code == 0 {
		leaks := suiteLeaks(suiteTmp)
		after := hostSuperOptions()
		for mp, o := range before {
			if after[mp] != o {
				leaks = append(leaks, fmt.Sprintf("host mount %s changed: %q, was %q", mp, after[mp], o))
			}
		}
		if len(leaks) > 0 {
			fmt.Fprintf(os.Stderr, "leaked after the suite:\n\t%s\n", strings.Join(leaks, "\n\t"))
			code = 1
		}
	}
	if err := os.RemoveAll(suiteTmp); err != nil && code == 0 {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	os.Exit(code)
}
