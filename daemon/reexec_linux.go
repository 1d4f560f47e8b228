package daemon

import (
	"github.com/stack-dev/stack/network"
	"github.com/stack-dev/stack/runtime"
)

// Reexec runs the re-exec roles of the engine's parts (a container's shim,
// its init, an exec'd process, the networks' resolver, a build): when the stack
// binary was started as one of them, it never returns. main calls it
// before anything else.
func Reexec() {
	if runtime.IsInit() {
		runtime.Init()
	}
	if network.IsResolver() {
		network.ResolverMain()
	}
	if isBuildWorker() {
		buildWorkerMain()
	}
}
