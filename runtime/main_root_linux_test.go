package runtime_test

import (
	"fmt"
	"os"
	"strings"
	"testing"

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
	before := hostSuperOptions()
	code := m.Run()
	if os.Getenv("STACK_TEST_ROOT") == "1" && code == 0 {
		leaks := suiteLeaks()
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
	os.Exit(code)
}
