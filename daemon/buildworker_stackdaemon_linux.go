//go:build stackdaemon

package daemon

import (
	"fmt"
	"os"
)

// builderLinked: stack-daemon leaves the builder and buildkit's parser
// out (about 1 MiB less resident); its builds run from the stack binary.
const builderLinked = false

func buildWorkerMain() {
	fmt.Fprintln(os.Stderr, "stack-daemon holds no builder: build workers run from the stack binary")
	os.Exit(1)
}
