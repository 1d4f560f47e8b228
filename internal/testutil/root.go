package testutil

import (
	"os"
	"testing"
)

// RequiresRoot skips t unless STACK_TEST_ROOT=1; it fails t if the variable
// is set but the process is not root, so a misconfigured CI never passes by
// skipping.
func RequiresRoot(t testing.TB) {
	t.Helper()
	if os.Getenv("STACK_TEST_ROOT") != "1" {
		t.Skip("root test: set STACK_TEST_ROOT=1 and run as root")
	}
	if os.Geteuid() != 0 {
		t.Fatal("STACK_TEST_ROOT=1 but not running as root")
	}
}
