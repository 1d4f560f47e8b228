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
	code := m.Run()
	if os.Getenv("STACK_TEST_ROOT") == "1" && code == 0 {
		if leaks := suiteLeaks(); len(leaks) > 0 {
			fmt.Fprintf(os.Stderr, "leaked after the suite:\n\t%s\n", strings.Join(leaks, "\n\t"))
			code = 1
		}
	}
	os.Exit(code)
}
