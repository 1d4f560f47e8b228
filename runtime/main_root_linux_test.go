package runtime_test

import (
	"fmt"
	"os"
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
	os.Exit(m.Run())
}
