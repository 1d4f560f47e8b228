// Command stack-shim is the engine's process beside each group of
// containers: their shim (parent, log writer, control socket). Without
// stack-init beside it, it is also each container's init and the first
// step of an exec'd process. The daemon starts it; it is not meant to be
// run by hand.
//
// It is a binary of its own, next to stack, because it starts once per
// container (as the init) and per exec: it links only the runtime, so it
// starts in a fraction of the time the whole stack binary takes, and a
// running shim is small. Without it beside stack, the daemon runs these
// roles from its own binary, slower.
package main

import (
	"fmt"
	"os"

	"github.com/stack-dev/stack/runtime"
)

func main() {
	if runtime.IsInit() {
		runtime.Init() // never returns
	}
	fmt.Fprintln(os.Stderr, "stack-shim: started by the stack daemon, not by hand")
	os.Exit(2)
}
