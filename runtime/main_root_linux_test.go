package runtime_test

import (
	"os"
	"testing"

	"github.com/stack-dev/stack/runtime"
)

func TestMain(m *testing.M) {
	if runtime.IsInit() {
		runtime.Init()
	}
	os.Exit(m.Run())
}
